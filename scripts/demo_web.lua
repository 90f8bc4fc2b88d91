-- The web demo: the guestbook web app (scripts/examples/webapp.lua) with its
-- backdoor, driven for a moment by green HTTP clients in this same process,
-- then left running so you can use it and look inside it.
--   build/greenlua scripts/demo_web.lua [seconds to stay up]   (or DEMO_SECONDS=...)
local green = require "green"

local stay = tonumber(arg[1] or os.getenv("DEMO_SECONDS") or "60")
local start = green.now()
local function say(fmt, ...)
  print(("[%5.2fs] " .. fmt):format(green.now() - start, ...))
end

-- 1. The server: the web app and its backdoor (on a Unix socket of this
-- run). The access log stays quiet until the scripted part is over.
local quiet = true
local log = { write = function(_, line) if not quiet then io.write("  log: ", line) end end }
local app = assert(loadfile("scripts/examples/webapp.lua"))("module")
local sock_path = os.tmpname()   -- a fresh name; the socket takes its place
os.remove(sock_path)
sock_path = sock_path .. ".sock"
local port = app.start(0, sock_path, { log = log })
local base = ("http://127.0.0.1:%d"):format(port)
say("web app on %s/, backdoor on %s", base, sock_path)

-- 2. A streamed response (four pieces, half a second apart) read in its
-- own green thread, while five clients sign the guestbook at once, each on
-- its own green thread: the stream's sleeps hold up nobody.
local http = require "green.http"
local reader = green.spawn(function()
  local body = assert(http.request(base .. "/stream?n=4"))
  say("the stream ended; the server made its pieces at %s",
    table.concat({ body:match("at ([%d.]+) s.-at ([%d.]+) s.-at ([%d.]+) s.-at ([%d.]+) s") }, ", "))
end)
green.sleep(0.1)   -- the stream has begun
local pile = green.GreenPile(5)
for n = 1, 5 do
  pile:spawn(http.request, {
    url = base .. "/notes",
    body = ("name=client+%d&message=hello+from+green+thread+%d"):format(n, n),
    headers = { ["content-type"] = "application/x-www-form-urlencoded" },
    redirect = false,   -- show the form's own answer, 303 See Other
  })
end
local codes = {}
for _, ok, code in pile:results() do codes[#codes + 1] = tostring(ok and code) end
say("5 clients signed at once, the stream still going; their answers: %s", table.concat(codes, " "))
local body = assert(http.request(base .. "/api/status"))
say("GET /api/status: %s", (body:gsub("\n$", "")))

-- 3. An operator's session through the backdoor, as --connect sees it,
-- while the stream is still going.
require("green.connect").session(sock_path, {
  "#app.notes, app.served",
  "app.notes[#app.notes].message",
  "green.stats().threads",
  "ps()",
})
reader:wait()

-- 4. Left running: use it, and look inside it.
quiet = false
say("the server stays up for %d seconds (Ctrl-C ends it). Try:", stay)
say("  a browser on %s/", base)
say("  curl -N %s/stream", base)
say("  curl -d 'name=me&message=hi' %s/notes", base)
say("  build/greenlua --connect %s    (app, ps(), app.stop())", sock_path)
local _ <close> = setmetatable({}, { __close = app.stop })
local deadline = green.now() + stay
while app.listener and green.now() < deadline do   -- app.stop() ends it early
  green.sleep(math.min(0.2, deadline - green.now()))
end
say("done")
