-- The demo: a live server with a backdoor, driven for a moment, then left
-- running so you can look inside it.
--   make run   (or: build/greenlua scripts/demo.lua [seconds to stay up])
local green = require "green"

local stay = tonumber(arg[1] or os.getenv("DEMO_SECONDS") or "60")
local start = green.now()
local function say(fmt, ...)
  print(("[%5.2fs] " .. fmt):format(green.now() - start, ...))
end

-- 1. The server: a word counter, a janitor thread and a backdoor.
local app = assert(loadfile("scripts/examples/backdoor_server.lua"))("module")
local app_port, door_port = app.start(0, 0)
say("word counter on 127.0.0.1:%d, backdoor on 127.0.0.1:%d", app_port, door_port)

-- 2. Five clients at once, each on its own green thread.
local function client(n)
  local sock = assert(green.connect("127.0.0.1", app_port))
  sock:receive()                                  -- the greeting
  for i = 1, 3 do
    sock:send(("client %d says %s\n"):format(n, ("word "):rep(i)))
    sock:receive()
    green.sleep(0.01 * n)                         -- they interleave
  end
  return sock                                     -- stays connected
end
local pile = green.GreenPile(5)
for n = 1, 5 do pile:spawn(client, n) end
local open = {}
for _, sock in pile:results() do open[#open + 1] = sock end
say("5 clients sent their words concurrently: %d counted", app.words)

-- 3. An operator's session through the backdoor, as --connect sees it:
-- framed (green.connect), so a prompt is never confused with output.
require("green.connect").session("127.0.0.1:" .. door_port, {
  "app.words",
  "green.stats().threads",
  "for who, n in pairs(app.clients) do print(who, n) end",
  "ps()",
})

-- 4. Left running: look inside yourself.
say("the server stays up for %d seconds (Ctrl-C ends it). In another terminal:", stay)
say("  build/greenlua --connect 127.0.0.1:%d", door_port)
say("  nc 127.0.0.1 %d     (type some words)", app_port)
green.sleep(stay)
for _, sock in ipairs(open) do sock:close() end
say("done")
