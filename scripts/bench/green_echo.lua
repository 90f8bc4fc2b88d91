-- The greenlua echo server of the network benchmarks (the C baseline is
-- echo_server.c). Listens on 127.0.0.1, prints its port as the first line
-- of output, then serves until killed.
--   greenlua green_echo.lua [PORT]                 plain TCP
--   greenlua green_echo.lua tls CERT KEY [PORT]    over TLS (green.wrap_ssl)
-- PORT 0 (the default): any free port.
-- Each handler echoes whatever arrives: recv(65536) returns as soon as any
-- bytes are there, send writes them back.
local green = require "green"

local tls = arg[1] == "tls"
local certfile, keyfile, port
if tls then
  certfile, keyfile, port = arg[2], arg[3], arg[4]
  assert(certfile and keyfile, "usage: green_echo.lua tls CERT KEY [PORT]")
else
  port = arg[1]
end

local srv = assert(green.listen("127.0.0.1", math.tointeger(tonumber(port or 0)), { backlog = 4096 }))
local _, bound = srv:getsockname()

local function echo(c)
  while true do
    local d = c:recv(65536)
    if not d then break end
    c:send(d)
  end
end

if tls then
  -- ---------------------------------------------------------------- TLS
  -- Enabled once green.wrap_ssl exists (run.sh checks the same thing with
  -- `greenlua -e` and skips the TLS rows, with a note, until then).
  if not green.wrap_ssl then
    io.stderr:write("green_echo.lua: green.wrap_ssl does not exist yet: no TLS server\n")
    os.exit(3)
  end
  -- wrap_ssl wraps the listener in place (spec/tls_spec.lua); take what it
  -- returns in case that is a new socket.
  local wrapped = assert(green.wrap_ssl(srv, { server_side = true, certfile = certfile, keyfile = keyfile }))
  if type(wrapped) == "userdata" then srv = wrapped end
end

io.stdout:write(bound, "\n")
io.stdout:flush()
green.serve(srv, echo, 100000)
