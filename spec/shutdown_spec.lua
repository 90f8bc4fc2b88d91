-- The graceful stop (API.md, "Serving in production"): SIGTERM and
-- green.shutdown(timeout). Real processes, real signals (kill(1) through
-- Process:kill), real clients (curl, python3's http.client) on 127.0.0.1.
-- Wherever it can, a spec orders events instead of timing them: handlers
-- are held by an Event the spec releases (SIGUSR1), and what a test waits
-- for is a line the server prints. Every wait is bounded.
local green = require "green"
local helpers = require "spec.helpers"
local process = require "green.process"

local defer = helpers.defer

-- What every server script starts with: say() prints and flushes; a USR1
-- releases the held handlers (hold()).
local PRELUDE = [[
local green = require "green"
local process = require "green.process"
local function say(...) print(...) io.stdout:flush() end
local release = green.Event()
green.signal("USR1", function() release:send() end)
local function hold() release:wait() end
local function listen()
  local sock = assert(green.listen("127.0.0.1", 0))
  say("port", select(2, sock:getsockname()))
  return sock
end
]]

-- Start a greenlua running PRELUDE .. body. Returns an object: port (once
-- the script printed "port N"), line(pattern) waits for a stdout line
-- matching it, kill(sig), finish(limit) -> code, signal, stdout, stderr.
local function start(body, args)
  local dir, rm = helpers.tmpdir()
  defer(rm)
  helpers.write(dir .. "/server.lua", PRELUDE .. body)
  local cmd = { helpers.greenlua(), dir .. "/server.lua" }
  for _, a in ipairs(args or {}) do cmd[#cmd + 1] = a end
  local p = assert(process.spawn(cmd, { stdout = "pipe", stderr = "pipe" }))
  local s = { p = p, lines = {}, err = {}, ended = false }
  defer(function()
    if not s.ended then p:kill("KILL"); p:wait(5) end
  end)
  s.out_reader = green.spawn(function()
    for l in p.stdout:lines() do s.lines[#s.lines + 1] = l end
  end)
  s.err_reader = green.spawn(function()
    s.err[1] = p.stderr:receive("*a")
  end)
  function s.stdout() return table.concat(s.lines, "\n") .. (s.lines[1] and "\n" or "") end
  function s.stderr() return table.concat(s.err) end
  function s.line(pattern, limit)
    local found
    helpers.wait_until(function()
      for _, l in ipairs(s.lines) do
        if l:match(pattern) then found = l; return true end
      end
      return s.ended
    end, limit or 10)
    return found
  end
  function s.count(pattern)
    local n = 0
    for _, l in ipairs(s.lines) do if l:match(pattern) then n = n + 1 end end
    return n
  end
  function s.kill(sig) return p:kill(sig) end
  function s.finish(limit)
    local code, sig = p:wait(limit or 15)
    if code == nil and sig == "timeout" then return nil, "timeout", s.stdout(), s.stderr() end
    s.ended = true
    s.out_reader:wait()
    s.err_reader:wait()
    return code, sig, s.stdout(), s.stderr()
  end
  local port = s.line("^port\t%d+$")
  assert(port, "the server did not start: " .. s.stderr())
  s.port = tonumber(port:match("%d+"))
  return s
end

-- A curl GET in its own green thread: :wait() -> "body code" (curl's
-- %{http_code}: 000 when no response came).
local function curl(port, path)
  return green.spawn(function()
    local r = assert(process.run({ "curl", "-s", "-m", "20", "-w", " %{http_code}",
      "http://127.0.0.1:" .. port .. (path or "/") }, { timeout = 25 }))
    return r.stdout
  end)
end

-- Is a connection to port refused now (the listener closed)?
local function refused(port)
  local c, err = green.connect("127.0.0.1", port, { timeout = 5 })
  if c then c:close() return false end
  return err
end

describe("graceful stop (SIGTERM, green.shutdown)", function()
  after_each(helpers.run_deferred)

  it("SIGTERM with five 0.5 s requests in flight: all finish, new ones are refused, exit 0", function()
    local s = start([[
      local sock = listen()
      green.wsgi.server(sock, function()
        say("started")
        green.sleep(0.5)
        return 200, {}, "done"
      end, { log = false })
      say("after the server call")
    ]])
    local clients = {}
    for i = 1, 5 do clients[i] = curl(s.port) end
    assert.is_true(helpers.wait_until(function() return s.count("^started$") == 5 end, 10), s.stderr())
    s.kill("TERM")
    -- the listener closes at once (no hooks), well before the handlers end
    assert.is_true(helpers.wait_until(function() return refused(s.port) end, 10))
    for i = 1, 5 do assert.equal("done 200", clients[i]:wait()) end
    local code, _, out, err = s.finish()
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.truthy(out:find("after the server call", 1, true), out)
  end)

  it("refuses new connections while the requests in flight are still held, then serves them", function()
    local s = start([[
      green.shutdown_timeout = 60
      local sock = listen()
      green.wsgi.server(sock, function()
        say("started")
        hold()
        return 200, {}, "released"
      end, { log = false })
      say("drained")
    ]])
    local clients = {}
    for i = 1, 5 do clients[i] = curl(s.port) end
    assert.is_true(helpers.wait_until(function() return s.count("^started$") == 5 end, 10), s.stderr())
    s.kill("TERM")
    assert.is_true(helpers.wait_until(function() return refused(s.port) end, 10))
    assert.equal(5, s.count("^started$"))    -- nothing new reached the app
    for i = 1, 5 do assert.is_false(clients[i]:dead()) end
    s.kill("USR1")
    for i = 1, 5 do assert.equal("released 200", clients[i]:wait()) end
    local code, _, out, err = s.finish()
    assert.equal(0, code, err)
    assert.equal("port\t" .. s.port .. "\n" .. ("started\n"):rep(5) .. "drained\n", out)
  end)

  it("closes idle keep-alive connections at once (python3 http.client sees the close)", function()
    local s = start([[
      green.shutdown_timeout = 60
      local sock = listen()
      green.wsgi.server(sock, function() return 200, {}, "hi" end, { log = false })
      say("drained")
    ]])
    -- one request on a keep-alive connection, then idle until the server closes it
    local py = [[
import http.client, sys, select
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
c.request("GET", "/")
r = c.getresponse()
print(r.status, r.read().decode(), r.getheader("Connection"), flush=True)
select.select([c.sock], [], [], 20)
print("eof" if c.sock.recv(1) == b"" else "data", flush=True)
]]
    local py = assert(process.spawn({ "/usr/bin/python3", "-c", py, tostring(s.port) }, { stdout = "pipe" }))
    defer(function() py:kill("KILL") py:wait(5) end)
    py.stdout:settimeout(20)
    assert.equal("200 hi None", py.stdout:receive("*l"))   -- the connection is idle now
    s.kill("TERM")
    assert.equal("eof", py.stdout:receive("*l"))
    assert.equal(0, py:wait(10))
    local code, _, out, err = s.finish(10)
    assert.equal(0, code, err)
    assert.truthy(out:find("drained", 1, true))
  end)

  it("a 10 s handler with a 1 s timeout is killed with ShutdownTimeout, named on stderr, its <close> runs, exit 1", function()
    local s = start([[
      green.shutdown_timeout = 1
      local sock = listen()
      green.wsgi.server(sock, function()
        pcall(function() green.getcurrent().name = "slow handler" end)
        local guard <close> = setmetatable({}, { __close = function(_, e)
          say("closed", tostring(e), e == green.ShutdownTimeout)
        end })
        say("started")
        green.sleep(10)
        say("not reached")
        return 200, {}, "late"
      end, { log = false })
      say("server returned")
    ]])
    local client = curl(s.port)
    assert.truthy(s.line("^started$"), s.stderr())
    local t0 = green.now()
    s.kill("TERM")
    local code, _, out, err = s.finish(8)
    assert.equal(1, code, err)
    assert.is_true(green.now() - t0 < 8)
    assert.equal("port\t" .. s.port .. "\nstarted\nclosed\tShutdownTimeout\ttrue\nserver returned\n", out)
    assert.truthy(err:find("1 green thread did not finish within 1 s", 1, true), err)
    assert.truthy(err:find("green thread %d+"), err)
    assert.truthy(err:find("server.lua:%d+"), err)   -- its traceback
    if pcall(function() green.spawn(function() end).name = "x" end) then   -- gt.name exists
      assert.truthy(err:find('"slow handler"', 1, true), err)
      assert.truthy(err:find("sleep", 1, true), err)
    end
    assert.equal(" 000", client:wait())   -- no response: the connection was closed
  end)

  it("on_shutdown hooks run first, in order, each in its own thread, while the servers still serve", function()
    local s = start([[
      local sock = listen()
      local port = select(2, sock:getsockname())
      local threads = {}
      green.on_shutdown(function()
        threads[1] = green.getcurrent()
        say("hook 1", green.exiting())
        -- the server still answers while the hooks run
        local c = assert(green.connect("127.0.0.1", port))
        c:send("GET / HTTP/1.0\r\n\r\n")
        say("hook 1 got", (c:receive("*a")):match("still serving"))
        c:close()
      end)
      green.on_shutdown(function()
        threads[2] = green.getcurrent()
        say("hook 2", threads[1]:dead(), threads[1] ~= threads[2])
        error("a failing hook is reported; the next still runs")
      end)
      green.on_shutdown(setmetatable({}, { __call = function() say("hook 3 (callable table)") end }))
      say("exiting before", green.exiting())
      green.spawn(function() hold() green.shutdown() end)
      green.wsgi.server(sock, function() return 200, {}, "still serving" end, { log = false })
      say("server returned")
    ]])
    assert.truthy(s.line("^exiting before"))
    s.kill("USR1")
    local code, _, out, err = s.finish()
    assert.equal(0, code, err)
    assert.equal("port\t" .. s.port .. "\nexiting before\tfalse\nhook 1\ttrue\nhook 1 got\tstill serving\n"
      .. "hook 2\ttrue\ttrue\nhook 3 (callable table)\nserver returned\n", out)
    assert.truthy(err:find("on_shutdown hook: .*a failing hook is reported"), err)
  end)

  it("a hook that overruns the timeout is killed and listed; the servers then stop at once", function()
    local s = start([[
      local sock = listen()
      green.on_shutdown(function()
        local g <close> = setmetatable({}, { __close = function() say("hook closed") end })
        say("hook")
        green.sleep(30)
      end)
      green.on_shutdown(function() say("second hook") end)
      green.spawn(function() hold() green.shutdown(0.5) end)
      green.wsgi.server(sock, function() return 200, {}, "x" end, { log = false })
      say("server returned")
    ]])
    s.kill("USR1")
    local code, _, out, err = s.finish(10)
    assert.equal(1, code, err)
    assert.equal("port\t" .. s.port .. "\nhook\nhook closed\nserver returned\n", out)
    assert.truthy(err:find("hook #2 not run", 1, true), err)
    assert.truthy(err:find("did not finish within 0.5 s", 1, true), err)
  end)

  for _, second in ipairs({ "TERM", "INT" }) do
    it("a second signal (" .. second .. ") skips the wait: the rest are killed at once, exit 1", function()
      local s = start([[
        green.shutdown_timeout = 60
        local sock = listen()
        green.on_shutdown(function() say("stopping") end)
        green.wsgi.server(sock, function()
          local g <close> = setmetatable({}, { __close = function() say("handler closed") end })
          say("started")
          green.sleep(60)
        end, { log = false })
        say("server returned")
      ]])
      local client = curl(s.port)
      assert.truthy(s.line("^started$"))
      s.kill("TERM")
      assert.truthy(s.line("^stopping$"))
      s.kill(second)
      local code, _, out, err = s.finish(15)
      assert.equal(1, code, err)
      assert.equal("port\t" .. s.port .. "\nstarted\nstopping\nhandler closed\nserver returned\n", out)
      assert.truthy(err:find("cut short by a second signal", 1, true), err)
      assert.equal(" 000", client:wait())
    end)
  end

  it("with no server, SIGTERM runs the hooks and exits 0; other threads run on until then", function()
    local s = start([[
      green.on_shutdown(function() say("hook") end)
      green.spawn(function() while true do green.sleep(0.01) end end)   -- not waited for
      say("port\t0")
      while true do green.sleep(1) end
    ]])
    s.kill("TERM")
    local code, _, out, err = s.finish()
    assert.equal(0, code, err)
    assert.equal("port\t0\nhook\n", out)
  end)

  it("the main chunk ending during a stop does not end the process: it exits when the stop completes", function()
    local s = start([[
      local sock = listen()
      local started = green.Event()
      green.spawn(green.wsgi.server, sock, function()
        started:send()
        hold()
        say("handler done")
        return 200, {}, "finished"
      end, { log = false })
      started:wait()
      say("shutdown", green.shutdown(), green.shutdown(), green.exiting())
      say("main chunk ends")
    ]])
    local client = curl(s.port)
    assert.truthy(s.line("^main chunk ends$"))
    s.kill("USR1")
    assert.equal("finished 200", client:wait())
    local code, _, out, err = s.finish()
    assert.equal(0, code, err)
    assert.equal("port\t" .. s.port .. "\nshutdown\ttrue\tfalse\ttrue\nmain chunk ends\nhandler done\n", out)
  end)

  it("green.serve stops accepting and returns once its handlers end", function()
    local s = start([[
      local sock = listen()
      green.serve(sock, function(c)
        if not c:receive("*l") then return end   -- a probe of the spec's
        say("handler")
        hold()
        c:send("bye\n")
      end)
      say("serve returned")
    ]])
    local c = assert(green.connect("127.0.0.1", s.port))
    defer(function() c:close() end)
    c:send("hi\n")
    assert.truthy(s.line("^handler$"))
    s.kill("TERM")
    assert.is_true(helpers.wait_until(function() return refused(s.port) end, 10))
    assert.equal(1, s.count("^handler$"))
    assert.is_nil(s.line("^serve returned$", 0.3) and "returned early" or nil)
    s.kill("USR1")
    assert.equal("bye", c:receive("*l"))
    local code, _, out, err = s.finish()
    assert.equal(0, code, err)
    assert.equal("port\t" .. s.port .. "\nhandler\nserve returned\n", out)
  end)

  it("backdoor_server: a session at its prompt is closed, one in a statement finishes it first", function()
    local s = start([[
      local sock = listen()
      _G.release = release
      green.backdoor.backdoor_server(sock)
      say("backdoor returned")
    ]])
    local idle = assert(green.connect("127.0.0.1", s.port))
    local busy = assert(green.connect("127.0.0.1", s.port))
    defer(function() idle:close() busy:close() end)
    idle:settimeout(10)
    busy:settimeout(10)
    assert.truthy(idle:receive("*l"):find("backdoor", 1, true))   -- banner
    assert.truthy(busy:receive("*l"):find("backdoor", 1, true))
    assert.equal("> ", idle:receive(2))
    assert.equal("> ", busy:receive(2))
    busy:send("print('busy') release:wait() print('statement done', green.exiting())\n")
    assert.equal("busy", busy:receive("*l"))
    s.kill("TERM")
    assert.equal("", idle:receive("*a"))   -- the server closed it
    s.kill("USR1")
    assert.equal("statement done\ttrue", busy:receive("*l"))
    local rest = busy:receive("*a")
    assert.equal("", rest)   -- no new prompt: the session ended
    local code, _, out, err = s.finish()
    assert.equal(0, code, err)
    assert.equal("port\t" .. s.port .. "\nbackdoor returned\n", out)
  end)

  it("a server called once the stop has begun returns at once, its listener closed", function()
    local s = start([[
      green.shutdown_timeout = 60
      local sock = listen()
      green.on_shutdown(function()
        local late = assert(green.listen("127.0.0.1", 0))
        green.spawn(green.serve, late, function() end)
        green.sleep(0)   -- FIFO: the serve above has started (and registered) now
      end)
      green.wsgi.server(sock, function() return 200, {}, "x" end, { log = false })
      say("server returned")
    ]])
    s.kill("TERM")
    -- exit 0 well within the 60 s: the late server was stopped and returned
    -- (the stop waits for every server call to return)
    local code, _, out, err = s.finish(15)
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.truthy(out:find("server returned", 1, true), out)
  end)

  it("green.wait_signal('TERM') takes the signal instead of the graceful stop", function()
    local s = start([[
      green.on_shutdown(function() say("stop") end)
      say("port\t0")
      green.spawn(say, "ready")   -- runs once main blocks in wait_signal
      say("got", green.wait_signal("TERM", 20), green.exiting())
    ]])
    assert.truthy(s.line("^ready$"))
    s.kill("TERM")
    local code, _, out, err = s.finish()
    assert.equal(0, code, err)
    assert.equal("port\t0\nready\ngot\tTERM\tfalse\n", out)
  end)

  it("a first SIGINT keeps its meaning: 'interrupted!' raised in main", function()
    local s = start([[
      local sock = listen()
      green.wsgi.server(sock, function() return 200, {}, "x" end, { log = false })
    ]])
    s.kill("INT")
    local code, _, _, err = s.finish()
    assert.equal(1, code)
    assert.truthy(err:find("interrupted!", 1, true), err)
  end)

  it("green.shutdown, on_shutdown, shutdown_timeout, ShutdownTimeout: values and misuse", function()
    assert.equal("ShutdownTimeout", tostring(green.ShutdownTimeout))
    assert.equal(10, green.shutdown_timeout)
    assert.is_false(green.exiting())
    assert.truthy(helpers.error_of(green.shutdown, "x"):find("bad argument #1 to 'shutdown' (number expected, got string)", 1, true))
    assert.truthy(helpers.error_of(green.shutdown, -1):find("bad argument #1 to 'shutdown' (non-negative number expected)", 1, true))
    assert.truthy(helpers.error_of(green.shutdown, 0 / 0):find("got NaN", 1, true))
    assert.truthy(helpers.error_of(green.on_shutdown, 3):find("bad argument #1 to 'on_shutdown' (function expected, got number)", 1, true))
    assert.is_false(green.exiting())   -- misuse started nothing
  end)
end)
