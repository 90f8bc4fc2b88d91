-- client.lua: greenlua's side of the HTTP client benchmark: CONNS green
-- threads, each looping keep-alive GETs of URL with green.http.request
-- (the pool is sized to keep every thread's connection), against the C
-- server (hello_server.c). WARMUP seconds not counted (connections made,
-- code warm), then SECONDS measured. Prints
--   <requests/s> <requests> <seconds> <client CPU µs per request>
-- Exits 1 if any request failed or got another answer than the hello world.
--   greenlua client.lua URL [CONNS [SECONDS [WARMUP]]]
local green = require "green"
local http = require "green.http"  -- also green.http, once init.lua has it

local url = assert(arg[1], "usage: client.lua URL [CONNS [SECONDS [WARMUP]]]")
local conns = math.tointeger(tonumber(arg[2] or 100))
local seconds = tonumber(arg[3] or 10)
local warmup = tonumber(arg[4] or 1)

-- One idle connection kept per thread, else most would reconnect.
http.pool_size = conns

local done, failed, first_error = 0, 0, nil
local stop = false
local threads = {}
for i = 1, conns do
  threads[i] = green.spawn(function()
    while not stop do
      local body, code = http.request(url)
      if body == "Hello, World!" and code == 200 then
        done = done + 1
      else
        failed = failed + 1
        first_error = first_error or tostring(code)
        return
      end
    end
  end)
end

green.sleep(warmup)
local n0, t0, c0 = done, green.now(), os.clock()
green.sleep(seconds)
local n1, t1, c1 = done, green.now(), os.clock()
stop = true
for _, t in ipairs(threads) do t:wait() end
if failed > 0 then
  io.stderr:write(("client.lua: %d requests failed (first: %s)\n"):format(failed, first_error))
  os.exit(1)
end
local n = n1 - n0
io.stdout:write(("%.1f %d %.3f %.3f\n"):format(n / (t1 - t0), n, t1 - t0, (c1 - c0) * 1e6 / n))
os.exit(0)
