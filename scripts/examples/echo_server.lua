-- An echo server: every line a client sends comes back.
--   build/greenlua scripts/examples/echo_server.lua [port]
--   then: nc 127.0.0.1 8007   (or: socat - TCP:127.0.0.1:8007)
local green = require "green"

local port = math.tointeger(tonumber(arg[1] or "8007"))
local server = assert(green.listen("127.0.0.1", port))
print(("echo server on 127.0.0.1:%d"):format(select(2, server:getsockname())))

green.serve(server, function(client, ip, peer_port)
  print(("%s:%d connected"):format(ip, peer_port))
  client:settimeout(300)            -- an idle client goes after five minutes
  for line in client:lines() do
    client:send(line .. "\n")
  end
  print(("%s:%d left"):format(ip, peer_port))
end)
