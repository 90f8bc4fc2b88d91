-- A small web app served by green.wsgi.server: a guestbook page with a form
-- (POST, urlencoded), a streamed response, a JSON status API, and a backdoor
-- on a Unix socket to look inside the running server.
--   build/greenlua scripts/examples/webapp.lua [port] [backdoor_socket]
--   (or WEBAPP_PORT=8080 WEBAPP_BACKDOOR=/tmp/app.sock build/greenlua scripts/examples/webapp.lua)
--   then open http://127.0.0.1:8080/ in a browser, or:
--         curl -N http://127.0.0.1:8080/stream          (lines arrive one by one)
--         curl -d 'name=ann&message=hi' http://127.0.0.1:8080/notes
--   and:  build/greenlua --connect /tmp/greenlua-webapp-$USER.sock  (app, ps(), app.stop())
-- Port 0 picks a free port; the line printed at start says which.
-- Loaded by scripts/demo_web.lua too: it returns the app and starts nothing then.
local green = require "green"

app = {                    -- global, so a backdoor session can read it
  notes = {},              -- the guestbook, oldest first: { name =, message =, at = }
  served = 0,              -- responses completed (counted by a posthook)
  started = green.now(),
  max_notes = 100,
}

local MAX_FORM = 16 * 1024 -- bytes of form body we accept

------------------------------------------------------------------------------
-- Small tools: HTML escaping, urlencoded forms, JSON out.

local function html_escape(s)
  return (tostring(s):gsub("[&<>\"']", {
    ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;",
  }))
end

local function url_decode(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- "a=1&b=x+y" -> { a = "1", b = "x y" } (the first of a repeated name wins)
local function parse_form(s)
  local t = {}
  for pair in s:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    k = url_decode(k)
    if t[k] == nil then t[k] = url_decode(v) end
  end
  return t
end

-- The request body, at most `limit` bytes, read from env.input in pieces (a
-- chunked upload has no CONTENT_LENGTH). Returns the body, or nil and the
-- status to answer: 413 when it is too large, 400 when it was cut short.
local function read_body(env, limit)
  if tonumber(env.CONTENT_LENGTH or "0") > limit then return nil, 413 end
  local parts, size = {}, 0
  while true do
    local piece, err = env.input:read(4096)
    if err then return nil, 400 end
    if not piece then break end
    size = size + #piece
    if size > limit then return nil, 413 end
    parts[#parts + 1] = piece
  end
  return table.concat(parts)
end

-- A tiny JSON encoder: tables with keys 1..n are arrays, other tables
-- objects (keys in sorted order); numbers, strings, booleans, nil as null.
local function json(v)
  local t = type(v)
  if t == "table" then
    local out = {}
    if v[1] ~= nil or next(v) == nil then
      for i = 1, #v do out[i] = json(v[i]) end
      return "[" .. table.concat(out, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end   -- string keys
    table.sort(keys)
    for i, k in ipairs(keys) do out[i] = json(k) .. ":" .. json(v[k]) end
    return "{" .. table.concat(out, ",") .. "}"
  elseif t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c) return ("\\u%04x"):format(c:byte()) end) .. '"'
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    return math.type(v) == "integer" and tostring(v) or ("%.14g"):format(v)
  elseif t == "boolean" then
    return tostring(v)
  end
  return "null"
end

------------------------------------------------------------------------------
-- Pages

local PAGE = [[<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>greenlua guestbook</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}
li{margin:.3em 0}small{color:#777}</style></head><body>
<h1>greenlua guestbook</h1>
<form method="post" action="/notes">
<p><input name="name" placeholder="your name" maxlength="40">
<input name="message" placeholder="a message" maxlength="200" size="40" required>
<button>Sign</button></p>
</form>
<ul>
%s</ul>
<p><a href="/stream">/stream</a> (a response sent in pieces) &middot;
<a href="/api/status">/api/status</a> (JSON) &middot;
served %d responses, up %.0f s, %d green threads.</p>
</body></html>
]]

local function home()
  local items = {}
  for i = #app.notes, 1, -1 do   -- newest first
    local n = app.notes[i]
    items[#items + 1] = ("<li><b>%s</b>: %s <small>%s</small></li>\n")
      :format(html_escape(n.name), html_escape(n.message), os.date("!%H:%M:%S", n.at))
  end
  if #items == 0 then items[1] = "<li><i>nobody yet: sign first</i></li>\n" end
  local body = PAGE:format(table.concat(items), app.served, green.now() - app.started,
    green.stats().threads)
  return 200, { ["Content-Type"] = "text/html; charset=utf-8" }, body
end

local function error_page(status, text)
  return status, { ["Content-Type"] = "text/plain; charset=utf-8" }, text .. "\n"
end

-- POST /notes: a form; then redirect to the page (POST/redirect/GET).
local function add_note(env)
  local body, status = read_body(env, MAX_FORM)
  if not body then return error_page(status, status == 413 and "form too large" or "bad request") end
  local form = parse_form(body)
  local message = (form.message or ""):gsub("^%s+", ""):gsub("%s+$", "")
  if message == "" then return error_page(400, "the message is empty") end
  local name = (form.name or ""):gsub("^%s+", ""):gsub("%s+$", "")
  app.notes[#app.notes + 1] = {
    name = name ~= "" and name:sub(1, 40) or "anonymous",
    message = message:sub(1, 200),
    at = os.time(),
  }
  if #app.notes > app.max_notes then table.remove(app.notes, 1) end
  return 303, { Location = "/", ["Content-Type"] = "text/plain" }, "signed; see /\n"
end

-- GET /stream?n=5: n lines, half a second apart, each sent as it is made.
-- The body is an iterator: it sleeps in this connection's green thread only,
-- every other request goes on being served meanwhile.
local function stream(env)
  env.minimum_chunk_size = 1   -- each piece goes out as it is made, not joined into 4 KiB
  local n = math.tointeger(tonumber(env.QUERY_STRING:match("n=(%d+)") or "5")) or 5
  n = math.max(1, math.min(n, 100))
  local i, t0 = 0, green.now()
  local function next_piece()
    if i >= n then return nil end
    if i > 0 then green.sleep(0.5) end
    i = i + 1
    return ("piece %d of %d at %.1f s\n"):format(i, n, green.now() - t0)
  end
  return 200, { ["Content-Type"] = "text/plain; charset=utf-8" }, next_piece
end

local function status()
  local s = green.stats()
  return 200, { ["Content-Type"] = "application/json" }, json {
    uptime = math.floor((green.now() - app.started) * 1000) / 1000,
    served = app.served,
    notes = #app.notes,
    threads = s.threads,
    switches = s.switches,
    memory_kb = s.memory_kb,
  } .. "\n"
end

-- path -> { method -> handler }
local routes = {
  ["/"] = { GET = home },
  ["/notes"] = { POST = add_note },
  ["/stream"] = { GET = stream },
  ["/api/status"] = { GET = status },
}

-- The WSAPI application: app.handle(env) -> status, headers, body.
function app.handle(env)
  env.posthooks[#env.posthooks + 1] = function() app.served = app.served + 1 end
  local route = routes[env.PATH_INFO]
  if not route then return error_page(404, "no such page: " .. env.PATH_INFO) end
  local method = env.REQUEST_METHOD == "HEAD" and "GET" or env.REQUEST_METHOD
  local handler = route[method]
  if not handler then
    local allowed = {}
    for m in pairs(route) do allowed[#allowed + 1] = m end
    table.sort(allowed)
    local status_, headers, body = error_page(405, "method not allowed")
    headers.Allow = table.concat(allowed, ", ")
    return status_, headers, body
  end
  return handler(env)
end

------------------------------------------------------------------------------
-- Starting and stopping

-- An absolute path (backdoor_server checks Unix socket peers only for paths).
local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local pwd = os.getenv("PWD") or "."
  return pwd .. "/" .. path
end

-- start(port, backdoor_path, opts) -> the port bound, the backdoor's path.
-- Spawns the server and the backdoor; opts go to green.wsgi.server.
function app.start(port, backdoor_path, opts)
  local listener = assert(green.listen("127.0.0.1", port or 0))
  backdoor_path = absolute(backdoor_path)
  -- A socket file left by a run that died is removed; one that answers is
  -- another app's, and left alone.
  local probe = green.connect_unix(backdoor_path, { timeout = 1 })
  if probe then
    probe:close()
    error(backdoor_path .. ": another process serves there", 0)
  end
  os.remove(backdoor_path)
  local door = assert(green.listen_unix(backdoor_path, { mode = tonumber("600", 8) }))
  app.listener, app.door, app.door_path = listener, door, backdoor_path
  app.server = green.spawn(green.wsgi.server, listener, app.handle, opts)
  green.spawn(green.backdoor.backdoor_server, door)
  return select(2, listener:getsockname()), backdoor_path
end

-- stop(): close the listener (the server returns once the requests in
-- flight are done) and the backdoor; remove the socket file.
function app.stop()
  if not app.listener then return end
  app.listener:close()
  app.door:close()
  os.remove(app.door_path)
  app.listener = nil
end

if ... ~= "module" then
  io.stdout:setvbuf("line")
  local user = os.getenv("USER") or "user"
  local port = math.tointeger(tonumber(arg[1] or os.getenv("WEBAPP_PORT") or "8080"))
  local door_path = arg[2] or os.getenv("WEBAPP_BACKDOOR")
    or ("/tmp/greenlua-webapp-%s.sock"):format(user)
  local bound, path = app.start(port, door_path)
  -- However the script ends (Ctrl-C raises in this thread), the socket
  -- file goes with it.
  local _ <close> = setmetatable({}, { __close = app.stop })
  print(("serving http://127.0.0.1:%d/"):format(bound))
  print(("backdoor: build/greenlua --connect %s"):format(path))
  app.server:wait()   -- until app.stop() (from the backdoor, say)
  print("stopped")
end
return app
