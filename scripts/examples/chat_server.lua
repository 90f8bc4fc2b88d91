-- A chat server: what one client says, every other client hears.
--   build/greenlua scripts/examples/chat_server.lua [port]
--   then, in several terminals: nc 127.0.0.1 8008
local green = require "green"

local port = math.tointeger(tonumber(arg[1] or "8008"))
local server = assert(green.listen("127.0.0.1", port))
print(("chat server on 127.0.0.1:%d"):format(select(2, server:getsockname())))

local members = {}   -- client socket -> its outgoing queue

-- Each member has its own writer thread and queue, so one slow reader
-- never holds up the others: broadcast only puts into queues.
local function broadcast(from, text)
  for sock, outbox in pairs(members) do
    if sock ~= from then outbox:put(text) end
  end
end

green.serve(server, function(client, ip, peer_port)
  local name = ("%s:%d"):format(ip, peer_port)
  local outbox = green.Queue(100)
  members[client] = outbox
  local writer = green.spawn(function()
    while true do
      if not client:send(outbox:get()) then return end
    end
  end)
  local bye <close> = setmetatable({}, { __close = function()
    members[client] = nil
    green.kill(writer)
    broadcast(client, name .. " left\n")
  end })
  local count = 0
  for _ in pairs(members) do count = count + 1 end
  client:send(("welcome %s, %d here\n"):format(name, count))
  broadcast(client, name .. " joined\n")
  for line in client:lines() do
    broadcast(client, ("%s: %s\n"):format(name, line))
  end
end)
