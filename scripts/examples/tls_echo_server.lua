-- A TLS echo server.
--   openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
--     -keyout /tmp/key.pem -out /tmp/cert.pem
--   build/greenlua scripts/examples/tls_echo_server.lua /tmp/cert.pem /tmp/key.pem [port]
--   then: openssl s_client -connect 127.0.0.1:8443 -quiet
local green = require "green"

local certfile, keyfile = assert(arg[1], "certificate file?"), assert(arg[2], "key file?")
local port = math.tointeger(tonumber(arg[3] or "8443"))
local server = assert(green.listen("127.0.0.1", port))
assert(green.wrap_ssl(server, { server_side = true, certfile = certfile, keyfile = keyfile }))
print(("TLS echo server on 127.0.0.1:%d"):format(select(2, server:getsockname())))

green.serve(server, function(client, ip, peer_port)
  client:settimeout(10)             -- a client that never finishes the handshake goes
  local ok, err = client:handshake()
  if not ok then
    print(("%s:%d: handshake failed: %s"):format(ip, peer_port, err))
    return
  end
  client:settimeout(300)
  for line in client:lines() do client:send(line .. "\n") end
end)
