-- The HTTP examples, run for real: scripts/examples/webapp.lua as a
-- subprocess (its port and backdoor socket given on its command line or in
-- WEBAPP_PORT / WEBAPP_BACKDOOR), checked route by route with curl, its
-- backdoor through a session and greenlua --connect; and every Lua example
-- of doc/api.md's HTTP sections, extracted into a script of its own (its
-- port 8080 replaced by a free one) and checked as its comments say.
-- Servers run in their own process group under `timeout`, stopped by the
-- spec; curl runs under -m 10 (os.execute blocks this process, never the
-- servers). Everything is on 127.0.0.1 or in a temp dir.
local green = require "green"
local C = require "spec.console_helpers"
local json = require "dkjson"     -- a dependency of busted: here with it

local H, q = C.H, C.q

local function has(s, needle) return s:find(needle, 1, true) ~= nil end

-- A free port on 127.0.0.1 (bound, read, closed).
local function free_port()
  local l = assert(green.listen("127.0.0.1", 0))
  local _, port = l:getsockname()
  l:close()
  return port
end

-- curl `args` (shell words, already quoted) -> { code, headers (lower-case
-- names; the last head's, after redirects or a 100 Continue), head (every
-- head, raw), body, connects (new connections the last URL needed),
-- status (curl's exit), stderr }.
local function curl(args)
  local hdr, body = C.fresh("hdr"), C.fresh("body")
  local r = H.sh(("curl -sS -m 10 -D %s -o %s -w '%%{http_code} %%{num_connects}\n' %s")
    :format(q(hdr), q(body), args))
  -- one line per URL: the last transfer's
  local code, connects = r.stdout:match("(%d+) (%d+)\n$")
  local res = {
    code = tonumber(code), connects = tonumber(connects), status = r.status,
    stderr = r.stderr, head = H.slurp(hdr), body = H.slurp(body), headers = {},
  }
  local last = res.head:match(".*(HTTP/%d[^\n]*\n.-)\r?\n\r?\n") or res.head
  for name, value in last:gmatch("\n([%w-]+):[ \t]*([^\r\n]*)") do res.headers[name:lower()] = value end
  os.remove(hdr)
  os.remove(body)
  return res
end

local function show(res)
  return ("curl exit %s, code %s\n--- head:\n%s--- body:\n%s\n--- stderr:\n%s")
    :format(tostring(res.status), tostring(res.code), res.head, res.body, res.stderr)
end

-- Connect to 127.0.0.1:port, retrying while the server starts (at most
-- `limit` seconds); true once it answers.
local function wait_listening(port, limit)
  return C.poll(function()
    local c = green.connect("127.0.0.1", port, { timeout = 1 })
    if c then c:close() return true end
    return false
  end, limit or 8, 0.02)
end

-- Send `request` on a fresh green connection to port and read the response
-- until `first` is in it; return what came so far then, and a function that
-- reads on until `last` (or the peer closes) and returns everything.
local function read_until(port, request, first)
  local c = assert(green.connect("127.0.0.1", port, { timeout = 3 }))
  c:settimeout(5)
  assert(c:send(request))
  local got = ""
  for _ = 1, 1000 do
    if has(got, first) then break end
    local data = c:recv()
    if not data then break end
    got = got .. data
  end
  local early = got
  return early, function(last)
    for _ = 1, 1000 do
      if has(got, last) then break end
      local data = c:recv()
      if not data then break end
      got = got .. data
    end
    c:close()
    return got
  end
end

------------------------------------------------------------------------------
-- scripts/examples/webapp.lua

-- Start the web app; `env` (name -> value) is put in front of the command,
-- `args` after the script. Returns { h (the background handle), port,
-- base (its URL), sock (the backdoor path) }.
local function start_webapp(args, env, sock)
  local words = {}
  for k, v in pairs(env or {}) do words[#words + 1] = k .. "=" .. q(v) .. " " end
  local cmd = ("cd %s && %sexec %s scripts/examples/webapp.lua %s"):format(
    q(H.repo), table.concat(words), q(H.bin), args or "")
  local h = C.background(cmd, 90)
  local port = C.poll(function()
    return tonumber(h.out():match("serving http://127%.0%.0%.1:(%d+)/")) or (h.done() and -1)
  end, 8, 0.02)
  if not port or port < 0 then
    h.stop()
    error(("webapp did not start (status %s)\n--- stdout:\n%s\n--- stderr:\n%s")
      :format(tostring(h.done()), h.out(), h.err()), 2)
  end
  return { h = h, port = port, base = ("http://127.0.0.1:%d"):format(port), sock = sock }
end

describe("scripts/examples/webapp.lua", function()
  local app
  setup(function()
    local dir = C.dir("w")
    app = start_webapp("0 " .. q(dir .. "/bd.sock"), nil, dir .. "/bd.sock")
  end)
  teardown(function()
    if app then app.h.stop() end
  end)
  after_each(C.run_deferred)

  it("prints how to reach the page and its backdoor", function()
    assert.is_truthy(has(app.h.out(), "serving " .. app.base .. "/"), app.h.out())
    assert.is_truthy(has(app.h.out(), "--connect " .. app.sock), app.h.out())
  end)

  it("serves the page, with a form that POSTs to /notes", function()
    local res = curl(q(app.base .. "/"))
    assert.are.equal(200, res.code, show(res))
    assert.are.equal("text/html; charset=utf-8", res.headers["content-type"], show(res))
    assert.are.equal(tostring(#res.body), res.headers["content-length"], show(res))
    assert.is_truthy(has(res.body, '<form method="post" action="/notes">'), res.body)
    assert.is_truthy(has(res.body, '<input name="message"'), res.body)
  end)

  it("takes a note from the urlencoded form, redirects to the page, and shows it escaped", function()
    local res = curl("--data-urlencode " .. q("name=Ann & Bob") .. " --data-urlencode "
      .. q("message=<b>hi</b> from curl") .. " " .. q(app.base .. "/notes"))
    assert.are.equal(303, res.code, show(res))
    assert.are.equal("/", res.headers.location, show(res))
    res = curl("-L -d 'message=second+note%21' " .. q(app.base .. "/notes"))
    assert.are.equal(200, res.code, show(res))
    assert.is_truthy(has(res.body, "<b>Ann &amp; Bob</b>: &lt;b&gt;hi&lt;/b&gt; from curl"), res.body)
    assert.is_truthy(has(res.body, "<b>anonymous</b>: second note!"), res.body)
    -- newest first
    assert.is_truthy(res.body:find("second note!", 1, true) < res.body:find("from curl", 1, true), res.body)
  end)

  it("refuses an empty message (400) and a form over 16 KiB (413)", function()
    local res = curl("-d 'name=x&message=+++' " .. q(app.base .. "/notes"))
    assert.are.equal(400, res.code, show(res))
    local big = H.file("big.form", "message=" .. ("x"):rep(20000))
    res = curl("--data-binary @" .. q(big) .. " " .. q(app.base .. "/notes"))
    assert.are.equal(413, res.code, show(res))
    -- a chunked form has no Content-Length: it is counted as it is read
    res = curl("-H 'Transfer-Encoding: chunked' --data-binary @" .. q(big) .. " " .. q(app.base .. "/notes"))
    assert.are.equal(413, res.code, show(res))
    res = curl("-H 'Transfer-Encoding: chunked' -d 'message=chunked+form' " .. q(app.base .. "/notes"))
    assert.are.equal(303, res.code, show(res))
  end)

  it("answers HEAD with the page's headers and no body", function()
    local _, rest = read_until(app.port, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "")
    local all = rest("\0")   -- to the close
    local head, body = all:match("^(.-\r\n\r\n)(.*)$")
    assert.is_string(head, all)
    assert.is_truthy(head:find("^HTTP/1.1 200 "), all)
    assert.is_truthy(head:find("\r\nContent%-Type: text/html; charset=utf%-8\r\n"), all)
    assert.are.equal("", body)
  end)

  it("streams /stream chunked, a piece at a time", function()
    local res = curl("-N " .. q(app.base .. "/stream?n=3"))
    assert.are.equal(200, res.code, show(res))
    assert.are.equal("chunked", res.headers["transfer-encoding"], show(res))
    local n = 0
    for i in res.body:gmatch("piece (%d) of 3 at [%d.]+ s\n") do
      n = n + 1
      assert.are.equal(n, tonumber(i), res.body)
    end
    assert.are.equal(3, n, res.body)
    -- the first piece arrives while the server still sleeps before the second
    local early, rest = read_until(app.port,
      "GET /stream?n=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "piece 1 of 2")
    assert.is_truthy(has(early, "piece 1 of 2"), early)
    assert.is_falsy(has(early, "piece 2 of 2"), early)
    local all = rest("\r\n0\r\n\r\n")
    assert.is_truthy(has(all, "piece 2 of 2"), all)
    assert.is_truthy(has(all, "\r\n0\r\n\r\n"), all)
  end)

  it("serves JSON at /api/status", function()
    local res = curl(q(app.base .. "/api/status"))
    assert.are.equal(200, res.code, show(res))
    assert.are.equal("application/json", res.headers["content-type"], show(res))
    local st = json.decode(res.body)
    assert.is_table(st, res.body)
    assert.is_true(st.notes >= 2, res.body)
    assert.is_true(st.threads >= 3, res.body)   -- main, server, backdoor
    assert.is_true(st.served >= 1, res.body)
    assert.is_number(st.uptime, res.body)
  end)

  it("answers 404 for another path and 405 with Allow for another method", function()
    local res = curl(q(app.base .. "/nowhere"))
    assert.are.equal(404, res.code, show(res))
    res = curl("-X DELETE " .. q(app.base .. "/notes"))
    assert.are.equal(405, res.code, show(res))
    assert.are.equal("POST", res.headers.allow, show(res))
  end)

  it("keeps the connection alive across requests", function()
    local res = curl(q(app.base .. "/api/status") .. " " .. q(app.base .. "/api/status"))
    assert.are.equal(200, res.code, show(res))
    assert.are.equal(0, res.connects, show(res))   -- the second reused the first's
  end)

  it("has a backdoor on its Unix socket, mode 0600, that sees the app", function()
    local mode = H.sh("stat -c %a " .. q(app.sock)).stdout
    assert.are.equal("600\n", mode)
    local s = assert(C.session(app.sock))
    C.defer(function() s:close() end)
    assert.is_truthy(has(s.banner, "backdoor"), s.banner)
    assert.are.equal("true\n", s:eval("#app.notes >= 2"))
    assert.are.equal("string\n", s:eval("type(app.notes[1].message)"))
    local ps = s:eval("ps()")
    assert.is_truthy(has(ps, "green thread 1 (main) ["), ps)
  end)

  it("answers greenlua --connect on that socket", function()
    local r = H.run({ "--connect", app.sock }, "print(app.served > 0)\n")
    assert.are.equal(0, r.status, H.show(r))
    assert.is_truthy(has(r.stdout, "true"), H.show(r))
  end)

  it("stops when app.stop() is called from the backdoor: exit 0, socket file removed", function()
    local r = H.run({ "--connect", app.sock }, "app.stop()\n")
    assert.are.equal(0, r.status, H.show(r))
    local out, status, err = app.h:wait(8)
    assert.are.equal(0, status, tostring(out) .. tostring(err))
    assert.is_truthy(has(out, "stopped"), out)
    assert.is_nil(io.open(app.sock, "r"))
    app = nil
  end)
end)

describe("scripts/examples/webapp.lua configured by environment", function()
  after_each(C.run_deferred)

  it("takes WEBAPP_PORT and WEBAPP_BACKDOOR, and replaces a socket file a killed run left", function()
    local dir = C.dir("we")
    local sock = dir .. "/door.sock"
    local port = free_port()
    local first = start_webapp(nil, { WEBAPP_PORT = port, WEBAPP_BACKDOOR = sock }, sock)
    C.defer(first.h.stop)
    assert.are.equal(port, first.port)
    assert.are.equal(200, curl(q(first.base .. "/")).code)
    -- killed (SIGTERM would be a graceful stop, which removes it): its
    -- socket file stays behind
    os.execute(("kill -KILL -%d 2>/dev/null"):format(first.h.pgid()))
    assert.is_truthy(C.poll(function() return not C.alive(first.h.pgid()) end, 5, 0.02))
    assert.are.equal(0, H.sh("test -S " .. q(sock)).status)
    local again = start_webapp(nil, { WEBAPP_PORT = 0, WEBAPP_BACKDOOR = sock }, sock)
    C.defer(again.h.stop)
    local s = assert(C.session(sock))
    C.defer(function() s:close() end)
    assert.are.equal("0\n", s:eval("#app.notes"))
  end)

  it("refuses a backdoor socket another live app serves", function()
    local dir = C.dir("wl")
    local sock = dir .. "/door.sock"
    local first = start_webapp("0 " .. q(sock), nil, sock)
    C.defer(first.h.stop)
    local h = C.background(("cd %s && exec %s scripts/examples/webapp.lua 0 %s")
      :format(q(H.repo), q(H.bin), q(sock)), 20)
    C.defer(h.stop)
    local _, status, err = h:wait(8)
    assert.are_not.equal(0, status)
    assert.is_truthy(has(err, "another process serves there"), err)
    local s = assert(C.session(sock))   -- the first one's backdoor still answers
    C.defer(function() s:close() end)
    assert.are.equal("true\n", s:eval("app ~= nil"))
  end)
end)

describe("scripts/demo_web.lua", function()
  it("drives the web app with green clients and its backdoor, then ends after its stay", function()
    local r = H.run({ "scripts/demo_web.lua", "0" }, nil, nil, { cwd = H.repo, timeout = 20 })
    assert.are.equal(0, r.status, H.show(r))
    local out = r.stdout
    assert.is_truthy(has(out, "their answers: 303 303 303 303 303\n"), H.show(r))
    assert.is_truthy(has(out, "> #app.notes, app.served\n5\t"), H.show(r))
    assert.is_truthy(has(out, "hello from green thread 5\n"), H.show(r))
    -- ps() shows the stream's thread sleeping in the app's iterator
    local in_app = false
    for block in out:gmatch("(green thread [^\n]*%]:\n.-)\n\n") do
      if block:find("^green thread %d+ %[blocked in ") and block:find("scripts/examples/webapp%.lua:%d+") then
        in_app = true
      end
    end
    assert.is_true(in_app, H.show(r))
    assert.is_truthy(out:find("the server made its pieces at [%d.]+, [%d.]+, [%d.]+, [%d.]+\n"), H.show(r))
    assert.is_truthy(has(out, "] done\n"), H.show(r))
    local sock = out:match("backdoor on (/%S+%.sock)")
    assert.is_string(sock, H.show(r))
    assert.are_not.equal(0, H.sh("test -e " .. q(sock)).status)   -- removed at the end
  end)
end)

------------------------------------------------------------------------------
-- doc/api.md's HTTP examples

-- The ```lua blocks of the HTTP sections, each { name = "hello.lua", code }:
-- every one starts with a comment naming its file.
local function doc_examples()
  local text = H.slurp(H.repo .. "/doc/api.md")
  local from = assert(text:find("\n## HTTP server (green.wsgi)", 1, true), "no HTTP server section")
  local client = assert(text:find("\n## HTTP client (green.http)", from, true), "no HTTP client section")
  local to = text:find("\n## ", client + 1, true) or #text
  local list = {}
  for code in text:sub(from, to):gmatch("```lua\n(.-)```") do
    list[#list + 1] = { name = code:match("^%-%- ([%w_]+%.lua):"), code = code }
  end
  return list
end

local examples = {}
for _, ex in ipairs(doc_examples()) do examples[ex.name or "?"] = ex end

-- Start doc example `name` as a server on a free port (its 8080 replaced).
local function start_example(name)
  local ex = assert(examples[name], "no example " .. name .. " in doc/api.md")
  local dir = C.dir("ex")
  local port = free_port()
  local path = dir .. "/" .. name
  H.write(path, (ex.code:gsub("8080", tostring(port))))
  local h = C.background(("cd %s && exec %s %s"):format(q(dir), q(H.bin), q(path)), 60)
  C.defer(h.stop)
  if not wait_listening(port) then
    h.stop()
    error(("%s did not start (status %s)\n--- stdout:\n%s\n--- stderr:\n%s")
      :format(name, tostring(h.done()), h.out(), h.err()), 2)
  end
  return ("http://127.0.0.1:%d"):format(port), port, dir, h
end

-- What each example's comments promise, checked.
local checks = {}

checks["hello.lua"] = function()
  local base = start_example("hello.lua")
  local res = curl(q(base .. "/"))
  assert.are.equal(200, res.code, show(res))
  assert.are.equal("Hello, World!\n", res.body)
  assert.are.equal("text/plain", res.headers["content-type"], show(res))
  assert.are.equal("14", res.headers["content-length"], show(res))
  assert.is_string(res.headers.date, show(res))
end

checks["todos.lua"] = function()
  local base = start_example("todos.lua")
  local res = curl(q(base .. "/todos"))
  assert.are.equal(200, res.code, show(res))
  assert.are.equal("application/json", res.headers["content-type"], show(res))
  assert.are.same({}, json.decode(res.body))
  res = curl("-d 'buy milk' " .. q(base .. "/todos"))
  assert.are.equal(201, res.code, show(res))
  assert.are.same({ id = 1, title = "buy milk", done = false }, json.decode(res.body))
  res = curl("--data-binary " .. q('say "hi"\\\n') .. " " .. q(base .. "/todos"))
  assert.are.equal(201, res.code, show(res))
  assert.are.same({ id = 2, title = 'say "hi"\\\n', done = false }, json.decode(res.body))
  res = curl(q(base .. "/todos/1"))
  assert.are.equal(200, res.code, show(res))
  assert.are.same({ id = 1, title = "buy milk", done = false }, json.decode(res.body))
  res = curl("-X DELETE " .. q(base .. "/todos/1"))
  assert.are.equal(204, res.code, show(res))
  assert.are.equal("", res.body)
  res = curl(q(base .. "/todos/1"))
  assert.are.equal(404, res.code, show(res))
  assert.are.same({ error = "no such todo" }, json.decode(res.body))
  res = curl(q(base .. "/todos"))
  assert.are.same({ { id = 2, title = 'say "hi"\\\n', done = false } }, json.decode(res.body))
  res = curl("-X PUT " .. q(base .. "/todos"))
  assert.are.equal(405, res.code, show(res))
  res = curl("-X POST " .. q(base .. "/todos"))
  assert.are.equal(400, res.code, show(res))
  -- max_body_size = 64 KiB
  local big = H.file("todo.big", ("t"):rep(70000))
  res = curl("--data-binary @" .. q(big) .. " " .. q(base .. "/todos"))
  assert.are.equal(413, res.code, show(res))
end

checks["countdown.lua"] = function()
  local base, port = start_example("countdown.lua")
  local res = curl("-N " .. q(base .. "/?from=2"))
  assert.are.equal(200, res.code, show(res))
  assert.are.equal("2\n1\nliftoff\n", res.body)
  assert.are.equal("chunked", res.headers["transfer-encoding"], show(res))
  -- "1" comes a second after "2": it is not there yet when "2" arrives
  local early, rest = read_until(port,
    "GET /?from=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "\r\n1\n\r\n")
  assert.is_truthy(has(early, "\r\n1\n\r\n"), early)
  assert.is_falsy(has(early, "liftoff"), early)
  local all = rest("\r\n0\r\n\r\n")
  assert.is_truthy(has(all, "liftoff\n"), all)
end

checks["upload.lua"] = function()
  local base, _, dir = start_example("upload.lua")
  local file = dir .. "/blob"
  assert(os.execute(("head -c 300000 /dev/urandom >%s"):format(q(file))))
  for _, how in ipairs { "-T", "-H 'Transfer-Encoding: chunked' -T" } do
    local res = curl(how .. " " .. q(file) .. " " .. q(base .. "/"))
    assert.are.equal(201, res.code, show(res))
    local saved = res.body:match("^saved 300000 bytes in (/%S+)\n$")
    assert.is_string(saved, show(res))
    C.defer(function() os.remove(saved) end)
    assert.are.equal(0, H.sh(("cmp %s %s"):format(q(file), q(saved))).status, how)
  end
  local res = curl(q(base .. "/"))
  assert.are.equal(405, res.code, show(res))
  assert.are.equal("PUT, POST", res.headers.allow, show(res))
end

checks["fetch.lua"] = function()
  local _, port, dir = start_example("todos.lua")
  local path = dir .. "/fetch.lua"
  H.write(path, (examples["fetch.lua"].code:gsub("8080", tostring(port))))
  local r = H.run({ path }, nil, nil, { cwd = dir })
  assert.are.equal(0, r.status, H.show(r))
  local lines = {}
  for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
  assert.are.equal(5, #lines, H.show(r))
  assert.are.equal('201 {"done":false,"id":1,"title":"water the plants"}', lines[1])
  for i, title in ipairs { "call ann", "fix the bike", "read" } do
    local todo = json.decode(lines[i + 1]:match("^201 (.*)$"))
    assert.is_table(todo, lines[i + 1])
    assert.are.equal(title, todo.title, lines[i + 1])
  end
  local code, ctype, list = lines[5]:match("^(%d+)\t([^\t]+)\t(.*)$")
  assert.are.equal("200", code, lines[5])
  assert.are.equal("application/json", ctype, lines[5])
  assert.are.equal(4, #json.decode(list), lines[5])
end

describe("doc/api.md's HTTP examples", function()
  after_each(C.run_deferred)

  it("are each named by their first line and checked here", function()
    local names, checked = {}, {}
    for _, ex in ipairs(doc_examples()) do names[#names + 1] = ex.name or "(unnamed)" end
    for name in pairs(checks) do checked[#checked + 1] = name end
    table.sort(names)
    table.sort(checked)
    assert.are.same(checked, names)
  end)

  local order = {}
  for name in pairs(checks) do order[#order + 1] = name end
  table.sort(order)
  for _, name in ipairs(order) do
    it("run: " .. name, checks[name])
  end
end)
