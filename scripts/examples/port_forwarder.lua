-- A port forwarder: connections to a local port are relayed to a target.
--   build/greenlua scripts/examples/port_forwarder.lua LISTEN_PORT TARGET_HOST TARGET_PORT
--   e.g. forward 127.0.0.1:8080 to the echo server: ... 8080 127.0.0.1 8007
local green = require "green"

local listen_port = math.tointeger(tonumber(arg[1] or "8080"))
local target_host, target_port = arg[2] or "127.0.0.1", math.tointeger(tonumber(arg[3] or "8007"))
local server = assert(green.listen("127.0.0.1", listen_port))
print(("forwarding 127.0.0.1:%d -> %s:%d"):format(listen_port, target_host, target_port))

-- Copy one direction until its source ends, then half-close the other side.
local function pump(from, to)
  while true do
    local data = from:recv(65536)
    if not data or not to:send(data) then break end
  end
  to:shutdown("send")
end

green.serve(server, function(client)
  local upstream, err = green.connect(target_host, target_port, { timeout = 5 })
  if not upstream then
    client:send("forwarder: " .. err .. "\n")
    return
  end
  local back = green.spawn(pump, upstream, client)
  pump(client, upstream)
  back:wait()
  upstream:close()
end)
