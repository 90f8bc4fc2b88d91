-- The backdoor (API.md "Console: REPL and backdoor"): a REPL served inside a
-- running process, one green thread per session. A target greenlua process
-- (started in the background under `timeout`, its own process group, killed
-- in teardown) serves backdoors on 127.0.0.1 and on a Unix socket next to
-- some application state; this spec is the client, with green sockets (and
-- with nc and socat). The address checks and the Unix socket's mode and peer
-- check run in this process. Everything is on 127.0.0.1 or a temp dir.
local green = require "green"
local helpers = require "spec.helpers"
local C = require "spec.console_helpers"

local H = C.H

local function has(s, needle) return s:find(needle, 1, true) ~= nil end

local function have(tool)
  return os.execute("command -v " .. tool .. " >/dev/null 2>&1") == true
end

local function it_with(tool, name, fn)
  if have(tool) then it(name, fn) else pending(name .. " (no " .. tool .. ")") end
end

-- The target: a counter thread and a couple of globals (application state),
-- and four backdoors: the default one (port), one whose env is a table that
-- reads through to _G (env_port; the table is also the global bd_env), one
-- whose env is a bare empty table (bare_port; also the global bare_env), and
-- one on a Unix socket (sock). A session can end the process with
-- quit:send().
local TARGET = [[
counter = 0
app_name = "demo-app"
quit = green.Event()
bd_env = setmetatable({ env_tag = "from-env" }, { __index = _G })
bare_env = {}
local function count_forever()
  while true do
    counter = counter + 1
    green.sleep(0.05)
  end
end
green.spawn(count_forever)
local function serve(env)
  local l = assert(green.listen("127.0.0.1", 0))
  green.spawn(green.backdoor.backdoor_server, l, env)
  local _, port = l:getsockname()
  return port
end
local port, env_port, bare_port = serve(nil), serve(bd_env), serve(bare_env)
local ux = assert(green.listen_unix(DIR .. "/bd.sock"))
green.spawn(green.backdoor.backdoor_server, ux)
print("target up")
ready({ port = port, env_port = env_port, bare_port = bare_port, sock = DIR .. "/bd.sock" })
quit:wait(110)   -- the spec ends it (quit or stop) long before
print("target done")
]]

-- The line of the target script where the counter thread waits (for ps()).
local COUNTER_SLEEP_LINE do
  local n = 0
  for l in (C.PRELUDE .. TARGET):gmatch("([^\n]*)\n") do
    n = n + 1
    if l:find("green.sleep(0.05)", 1, true) then COUNTER_SLEEP_LINE = n break end
  end
end

describe("a backdoor in a running process", function()
  local target
  setup(function()
    target = C.start_target(TARGET, 120)
  end)
  teardown(function()
    if target then target.stop() end
  end)
  after_each(C.run_deferred)

  -- A session on the default backdoor (or `where`), closed after the test.
  local function session(where)
    local s, err = C.session(where or target.info.port)
    assert(s, err)
    C.defer(function() s:close() end)
    return s
  end

  it("greets with a banner naming greenlua, its version and the process's pid", function()
    local s = session()
    assert.is_truthy(has(s.banner, "greenlua"), s.banner)
    assert.is_truthy(has(s.banner, green.VERSION), s.banner)
    assert.is_truthy(s.banner:find("%f[%d]" .. target.pid .. "%f[%D]"), s.banner .. " pid " .. target.pid)
  end)

  it("prints expression results, several values tab-separated", function()
    local s = session()
    assert.are.equal("2\n", s:eval("1 + 1"))
    assert.are.equal("a\tnil\t3\n", s:eval("'a', nil, 3"))
    assert.are.equal("", s:eval("local z = 1"))
  end)

  it("continues a multi-line chunk with '>> '", function()
    local s = session()
    local out, p = s:eval("for i = 1, 3 do")
    assert.are.equal("", out)
    assert.are.equal(">> ", p)
    out, p = s:eval("print(i * 10) end")
    assert.are.equal("10\n20\n30\n", out)
    assert.are.equal("> ", p)
    assert.are.equal(">> ", select(2, s:eval("function f(a)")))
    assert.are.equal(">> ", select(2, s:eval("return a * 2")))
    assert.are.equal("> ", select(2, s:eval("end")))
    assert.are.equal("42\n", s:eval("f(21)"))
  end)

  it("sends an error with a traceback to the session, which goes on", function()
    local s = session()
    local out = s:eval("error('bad thing')")
    assert.is_truthy(has(out, "stdin:1: bad thing"), out)
    assert.is_truthy(has(out, "stack traceback"), out)
    out = s:eval("x = = 1")
    assert.is_truthy(has(out, "unexpected symbol"), out)
    assert.are.equal("ok\n", s:eval("print('ok')"))
  end)

  it("writes print to the session's connection only, not the process's stdout", function()
    local s = session()
    assert.are.equal("only-here\t1\n", s:eval("print('only-' .. 'here', 1)"))
    -- a thread spawned in the session prints to the session too
    s:eval("green.spawn(function() green.sleep(0.05) print('spawned-' .. 'print') end)")
    local out = s:eval("green.sleep(0.3)")
    assert.are.equal("spawned-print\n", out)
    local stdout = target.out()
    assert.is_truthy(has(stdout, "target up"), stdout)
    assert.is_falsy(has(stdout, "only-here"), stdout)
    assert.is_falsy(has(stdout, "spawned-print"), stdout)
  end)

  it("reads the process's globals, live", function()
    local s = session()
    assert.are.equal("demo-app\n", s:eval("app_name"))
    local a = tonumber((s:eval("counter")))
    -- the counter's 0.05 s timer is due before this 0.2 s sleep ends
    local b = tonumber((s:eval("green.sleep(0.2) return counter")))
    assert.is_truthy(a and b and b > a, tostring(a) .. " " .. tostring(b))
  end)

  it("keeps a session's assignments in that session", function()
    local a, b = session(), session()
    assert.are.equal("", a:eval("x = 1"))
    assert.are.equal("1\n", a:eval("x"))
    assert.are.equal("nil\n", b:eval("x"))
    assert.are.equal("nil\n", b:eval("rawget(_G, 'x')"))   -- _G itself is untouched
    -- shadowing a global of the process is private too
    assert.are.equal("", a:eval("app_name = 'changed'"))
    assert.are.equal("changed\n", a:eval("app_name"))
    assert.are.equal("demo-app\n", b:eval("app_name"))
    assert.are.equal("demo-app\n", b:eval("_G.app_name"))
  end)

  it("with an env table, reads through it and assigns into it", function()
    local e1 = session(target.info.env_port)
    assert.are.equal("from-env\n", e1:eval("env_tag"))
    assert.are.equal("demo-app\n", e1:eval("app_name"))      -- env reads through to _G
    assert.are.equal("", e1:eval("y = 7"))
    -- another session on the same env sees it; the process's env table has it
    local e2 = session(target.info.env_port)
    assert.are.equal("7\n", e2:eval("y"))
    local d = session()
    assert.are.equal("7\n", d:eval("bd_env.y"))
    assert.are.equal("nil\n", d:eval("rawget(_G, 'y')"))
    assert.are.equal("nil\n", d:eval("y"))
  end)

  it("has print and exit even when env is a bare table; assignments land in env", function()
    local s = session(target.info.bare_port)
    assert.are.equal("2\n", s:eval("1 + 1"))
    assert.are.equal("p\n", s:eval("print('p')"))
    assert.are.equal("", s:eval("z = 3"))
    local d = session()
    assert.are.equal("3\n", d:eval("bare_env.z"))
    s:send("exit()")
    local rest, how = s:read_to_close()
    assert.are.equal("closed", how, rest)
  end)

  it("a slow statement in one session does not delay another", function()
    -- A blocks until B releases it: B is served while A's statement waits
    local a, b = session(), session()
    assert(a:send("rawset(_G, 'gate_a', green.Event()) gate_a:wait() print('A done')"))
    assert.is_truthy(C.poll(function() return b:eval("gate_a ~= nil") == "true\n" end, 5),
      "A's statement did not start")
    assert.are.equal("released\n", b:eval("gate_a:send() print('released')"))
    assert.are.equal("A done\n", a:read_prompt(5))
  end)

  it("serves 8 sessions at once, each with its own globals", function()
    local ss = {}
    for i = 1, 8 do
      ss[i] = session()
      assert.are.equal("", ss[i]:eval("id = " .. i))
    end
    -- all at once, each in its own green thread: each statement counts
    -- itself in, then waits (at most 5 s) until all 8 are in. Sessions run
    -- one after another would see fewer than 8.
    local gts = {}
    for i = 1, 8 do
      gts[i] = green.spawn(function()
        return ss[i]:eval("rawset(_G, 'in8', (rawget(_G, 'in8') or 0) + 1) "
          .. "for _ = 1, 500 do if in8 >= 8 then break end green.sleep(0.01) end return id, in8", 10)
      end)
    end
    for i = 1, 8 do
      assert.are.equal(i .. "\t8\n", gts[i]:wait())
    end
  end)

  it("exit() ends the session: the connection closes, later lines do not run", function()
    local s = session()
    assert(s.sock:send("exit()\nprint('after exit')\n"))
    local rest, how = s:read_to_close()
    assert.are.equal("closed", how, rest)
    assert.are.equal("", rest)
  end)

  it("end of input ends the session", function()
    local s = session()
    assert.are.equal("2\n", s:eval("1 + 1"))
    s.sock:shutdown("send")
    local rest, how = s:read_to_close()
    assert.are.equal("closed", how, rest)
  end)

  it("an ended session leaves no green thread behind", function()
    -- by thread id, not by count: sessions of earlier tests may still be
    -- closing, which only takes threads away
    local m = session()
    local function ids()
      local set = {}
      for id in (m:eval("for _, t in ipairs(green.threads()) do print(t.id) end") or ""):gmatch("%d+") do
        set[id] = true
      end
      return set
    end
    local before = ids()
    local s = session()
    local new = {}
    assert.is_true(C.poll(function()
      for id in pairs(ids()) do if not before[id] then new[id] = true end end
      return next(new) ~= nil
    end, 5), "no thread for the session")
    s:send("exit()")
    s:read_to_close()
    local left
    assert.is_true(C.poll(function()
      local now = ids()
      left = nil
      for id in pairs(new) do if now[id] then left = id end end
      return left == nil
    end, 5), "thread " .. tostring(left) .. " of the ended session is still there")
  end)

  it("help() lists what is there: threads, stats, ps", function()
    local s = session()
    local out = s:eval("help()")
    assert.is_truthy(has(out, "green.threads()"), out)
    assert.is_truthy(has(out, "green.stats()"), out)
    assert.is_truthy(has(out, "ps()"), out)
  end)

  it("green.threads() and green.stats() work in a session", function()
    local s = session()
    local n = tonumber((s:eval("green.stats().threads")))
    -- main, the counter, four servers, this session
    assert.is_truthy(n and n >= 7, tostring(n))
    assert.are.equal("true\n", s:eval("#green.threads() == green.stats().threads"))
    assert.are.equal("true\n", s:eval("green.stats().uptime > 0"))
  end)

  it("ps() prints the dump: a header per thread with its state, then where it waits", function()
    local s = session()
    local out = s:eval("ps() print(#green.threads())")
    local n = tonumber(out:match("(%d+)\n$"))
    assert.is_truthy(n and n >= 7, out)
    local headers, running, waiting = 0, 0, 0
    for l in out:gmatch("([^\n]*)\n") do
      local state = l:match("^green thread %d+[^%[]*%[(%a+).*%]:$")
      if state then
        headers = headers + 1
        if state == "running" then running = running + 1 end
        -- blocked, or woken and not run yet (the counter when its timer has
        -- just fired on a loaded machine)
        if state == "blocked" or state == "ready" then waiting = waiting + 1 end
      end
    end
    assert.are.equal(n, headers, out)
    assert.are.equal(1, running, out)              -- the session's own thread
    assert.is_true(waiting >= n - 1, out)
    assert.is_truthy(out:find("green thread 1 (main) [blocked in Event:wait, ", 1, true), out)
    assert.is_truthy(out:find("target.lua:" .. COUNTER_SLEEP_LINE .. ":", 1, true),
      "no line shows where the counter thread waits\n" .. out)
  end)

  it("serves a session on the Unix socket, whose file is mode 600", function()
    local s = session(target.info.sock)
    assert.is_truthy(has(s.banner, "greenlua"), s.banner)
    assert.are.equal("demo-app\n", s:eval("app_name"))
    local p = io.popen("stat -c %a " .. C.q(target.info.sock))
    local mode = p:read("l")
    p:close()
    assert.are.equal("600", mode)
  end)

  it_with("nc", "nc gets expression results (printf | nc -N)", function()
    local r = H.sh(("printf '1+1\\nprint(\"via \" .. \"nc\")\\nexit()\\n' | timeout 5 nc -N 127.0.0.1 %d")
      :format(target.info.port))
    assert.are.equal(0, r.status, H.show(r))
    assert.is_truthy(has(r.stdout, "> 2\n"), H.show(r))
    assert.is_truthy(has(r.stdout, "> via nc\n"), H.show(r))
  end)

  it_with("socat", "socat gets expression results over TCP and over the Unix socket", function()
    local r = H.sh(("printf '1+1\\n' | timeout 5 socat - TCP:127.0.0.1:%d"):format(target.info.port))
    assert.are.equal(0, r.status, H.show(r))
    assert.is_truthy(has(r.stdout, "> 2\n"), H.show(r))
    r = H.sh(("printf 'app_name\\n' | timeout 5 socat - UNIX-CONNECT:%s"):format(C.q(target.info.sock)))
    assert.are.equal(0, r.status, H.show(r))
    assert.is_truthy(has(r.stdout, "> demo-app\n"), H.show(r))
  end)

  it("the process keeps running, then ends normally with nothing on stderr", function()
    local s = session()
    s:send("quit:send()")
    s:read_to_close(3)
    local out, status, err = target.handle:wait(5)
    assert.are.equal(0, status, tostring(out) .. tostring(err))
    assert.is_truthy(has(out, "target done"), out)
    assert.are.equal("", err)
  end)
end)

describe("backdoor_server, in this process", function()
  after_each(C.run_deferred)
  teardown(H.cleanup)

  for _, host in ipairs({ "0.0.0.0", "*" }) do
    it(("refuses a listener on %q unless allow_remote"):format(host), function()
      local l = assert(green.listen(host, 0))
      C.defer(function() l:close() end)
      local err = helpers.error_of(green.backdoor.backdoor_server, l)
      assert.is_truthy(err, "no error")
      assert.is_truthy(has(tostring(err), "allow_remote"), tostring(err))
    end)
  end

  it("serves a non-loopback listener with allow_remote = true; closing it ends the server", function()
    local l = assert(green.listen("0.0.0.0", 0))
    C.defer(function() l:close() end)
    local _, port = l:getsockname()
    local gt = green.spawn(green.backdoor.backdoor_server, l, nil, { allow_remote = true })
    C.defer(function() if not gt:dead() then gt:kill() end end)
    local s = assert(C.session(port))
    C.defer(function() s:close() end)
    assert.are.equal("2\n", s:eval("1 + 1"))
    s:close()
    l:close()
    assert.is_true(C.poll(function() return gt:dead() end, 2), "the server did not end")
    assert.is_true((pcall(gt.wait, gt)))
  end)

  it("serves 127.0.0.1 without allow_remote; the session runs in this process", function()
    local l = assert(green.listen("127.0.0.1", 0))
    C.defer(function() l:close() end)
    local _, port = l:getsockname()
    local gt = green.spawn(green.backdoor.backdoor_server, l)
    C.defer(function() if not gt:dead() then gt:kill() end end)
    local s = assert(C.session(port))
    C.defer(function() s:close() end)
    -- busted runs this file in an environment of its own: the real _G is package.loaded._G
    local G = package.loaded._G
    G.in_process_marker = "here"
    C.defer(function() G.in_process_marker = nil end)
    assert.are.equal("here\n", s:eval("in_process_marker"))
    assert.are.equal("", s:eval("in_process_marker = 'session'"))
    assert.are.equal("here", G.in_process_marker)
  end)

  it("makes a Unix socket file mode 600 and serves a same-uid client", function()
    local path = C.dir("ux") .. "/bd.sock"
    local l = assert(green.listen_unix(path, { mode = tonumber("666", 8) }))
    C.defer(function() l:close() end)
    local function mode()
      local p = io.popen("stat -c %a " .. C.q(path))
      local m = p:read("l")
      p:close()
      return m
    end
    assert.are.equal("666", mode())
    local gt = green.spawn(green.backdoor.backdoor_server, l)
    C.defer(function() if not gt:dead() then gt:kill() end end)
    assert.is_true(C.poll(function() return mode() == "600" end, 2), "mode " .. tostring(mode()))
    local s = assert(C.session(path))
    C.defer(function() s:close() end)
    assert.is_truthy(has(s.banner, "greenlua"), s.banner)
    assert.are.equal("2\n", s:eval("1 + 1"))
  end)

  local root = io.popen("id -u"):read("l") == "0"
  local other_uid_ok = root and have("setpriv") and have("socat")
  local it_other = other_uid_ok and it or function(name) pending(name .. " (needs root, setpriv, socat)") end

  it_other("refuses a peer with another user id on a Unix socket", function()
    -- a directory anyone may enter, and the socket opened up again after
    -- backdoor_server made it 600: only the peer check is left
    local p = io.popen("mktemp -d")
    local dir = p:read("l")
    p:close()
    assert(dir and dir:match("^/tmp/"))
    C.defer(function() os.execute("rm -rf " .. C.q(dir)) end)
    os.execute("chmod 755 " .. C.q(dir))
    local path = dir .. "/bd.sock"
    local l = assert(green.listen_unix(path))
    C.defer(function() l:close() end)
    local gt = green.spawn(green.backdoor.backdoor_server, l)
    C.defer(function() if not gt:dead() then gt:kill() end end)
    local function mode()
      local p = io.popen("stat -c %a " .. C.q(path))
      local m = p:read("l")
      p:close()
      return m
    end
    assert.is_true(C.poll(function() return mode() == "600" end, 2), "mode " .. tostring(mode()))
    os.execute("chmod 666 " .. C.q(path))
    local G = package.loaded._G
    G.ran_as_other = nil
    -- the input comes once socat has shown the server's answer (an early
    -- write may fail on the closed connection and end socat)
    local seen = C.fresh("socat-out")
    local h = C.background(("(i=0; while [ ! -s %s ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; "
      .. "printf '_G.ran_as_other = true\\nprint(\"ran\")\\n') | "
      .. "setpriv --reuid=65534 --regid=65534 --clear-groups socat - UNIX-CONNECT:%s | tee %s")
      :format(C.q(seen), C.q(path), C.q(seen)), 10)
    C.defer(h.stop)
    local out, status, err = h:wait(11)
    assert.is_truthy(status, "the client did not end")
    assert.is_truthy(has(out, "only the user"), tostring(out) .. tostring(err))
    assert.is_falsy(has(out, "backdoor, pid"), out)
    assert.is_nil(G.ran_as_other)
  end)
end)
