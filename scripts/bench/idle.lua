-- The server side of "N concurrent idle connections": a green server whose
-- every handler is parked in c:recv() (nothing ever arrives). Prints its
-- port as the first line; once N handlers are parked, waits 0.3 s, prints
--   <bytes per connection> <bytes in all>
-- (VmRSS now minus VmRSS just before serving, divided by N) and exits.
--   greenlua idle.lua N [PORT]
-- The clients: echo_client -m idle -c N (another process).
local green = require "green"

local N = math.tointeger(tonumber(arg[1] or 10000))
local port = math.tointeger(tonumber(arg[2] or 0))

local function rss()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmRSS:%s*(%d+)%s*kB")
    if kb then return tonumber(kb) * 1024 end
  end
  error("no VmRSS in /proc/self/status")
end

local srv = assert(green.listen("127.0.0.1", port, { backlog = 4096 }))
local _, bound = srv:getsockname()
io.stdout:write(bound, "\n")
io.stdout:flush()

local parked = 0
local all_parked = green.Event()
local before = rss()
green.spawn(green.serve, srv, function(c)
  parked = parked + 1
  if parked == N then all_parked:send() end
  local d = c:recv()  -- parks here: the client sends nothing
  while d do d = c:recv() end
end, N + 1000)

all_parked:wait()
green.sleep(0.3)  -- the last handlers reach recv; nothing else runs
local grown = rss() - before
io.stdout:write(("%.1f %d\n"):format(grown / N, grown))
io.stdout:flush()
os.exit(0)
