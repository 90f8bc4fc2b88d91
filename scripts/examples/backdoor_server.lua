-- A live server with a backdoor: a word-counting TCP service, a janitor
-- thread, and a REPL inside the process for the operator.
--   build/greenlua scripts/examples/backdoor_server.lua [app_port] [backdoor_port]
--   then: nc 127.0.0.1 7001                       (type words)
--   and:  build/greenlua --connect 127.0.0.1:7002 (look inside: app, ps())
-- Loaded by scripts/demo.lua too: it returns the app and starts nothing then.
local green = require "green"

app = {                    -- global, so a backdoor session can read it
  clients = {},            -- "ip:port" -> words counted on that connection
  words = 0,               -- words counted since start
  started = green.now(),
}

local function count_words(client, ip, port)
  local who = ("%s:%d"):format(ip, port)
  app.clients[who] = 0
  local bye <close> = setmetatable({}, { __close = function() app.clients[who] = nil end })
  client:settimeout(600)
  client:send("send me words; I count them\n")
  for line in client:lines() do
    local n = select(2, line:gsub("%S+", ""))
    app.clients[who] = app.clients[who] + n
    app.words = app.words + n
    client:send(("%d words so far\n"):format(app.clients[who]))
  end
end

-- start(app_port, backdoor_port) -> the two ports actually bound
function app.start(app_port, backdoor_port)
  local service = assert(green.listen("127.0.0.1", app_port or 0))
  local door = assert(green.listen("127.0.0.1", backdoor_port or 0))
  green.spawn(green.serve, service, count_words)
  green.spawn(green.backdoor.backdoor_server, door)
  app.janitor = green.spawn(function()   -- some background life to look at
    while true do
      green.sleep(1)
      app.uptime = green.now() - app.started
    end
  end)
  return select(2, service:getsockname()), select(2, door:getsockname())
end

if ... ~= "module" then
  local app_port, door_port = app.start(math.tointeger(tonumber(arg[1] or "7001")),
                                        math.tointeger(tonumber(arg[2] or "7002")))
  print(("word counter on 127.0.0.1:%d, backdoor on 127.0.0.1:%d"):format(app_port, door_port))
  print(("look inside: build/greenlua --connect 127.0.0.1:%d"):format(door_port))
  green.sleep(math.huge)
end
return app
