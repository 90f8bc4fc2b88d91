-- `greenlua --connect HOST:PORT` (alias -c) and `--connect /path.sock`
-- (API.md "Process model" and "Console"): a client for a running process's
-- backdoor. With piped input it prints the server's output without the
-- prompts, so scripts can drive it; on a terminal (tmux here) it has a
-- prompt and line editing. It exits 1 with a message when it cannot
-- connect, and exits cleanly when the process goes away. Target processes
-- run in the background under `timeout`, in their own process group, and
-- are stopped after use; every client runs under `timeout` too.
local green = require "green"
local C = require "spec.console_helpers"

local H = C.H

local function has(s, needle) return s:find(needle, 1, true) ~= nil end

local function have(tool)
  return os.execute("command -v " .. tool .. " >/dev/null 2>&1") == true
end

local TARGET = [[
app_name = "demo-app"
local ticks = 0
green.spawn(function() while true do ticks = ticks + 1 green.sleep(0.05) end end)
local l = assert(green.listen("127.0.0.1", 0))
green.spawn(green.backdoor.backdoor_server, l)
local ux = assert(green.listen_unix(DIR .. "/bd.sock"))
green.spawn(green.backdoor.backdoor_server, ux)
local _, port = l:getsockname()
ready({ port = port, sock = DIR .. "/bd.sock" })
green.sleep(110)   -- ended by the spec (stop) long before: a slow machine needs the room
]]

-- A target process, stopped after the test.
local function target()
  local t = C.start_target(TARGET, 120)
  C.defer(t.stop)
  return t
end

-- A free port on 127.0.0.1 (nobody listens there once this returns).
local function closed_port()
  local l = assert(green.listen("127.0.0.1", 0))
  local _, port = l:getsockname()
  l:close()
  return port
end

-- Lines of s.
local function lines(s)
  local t = {}
  for l in s:gmatch("([^\n]*)\n") do t[#t + 1] = l end
  return t
end

describe("greenlua --connect", function()
  after_each(C.run_deferred)

  -- one target for the tests that do not end it, started on first use
  local shared
  local function shared_target()
    shared = shared or C.start_target(TARGET, 120)
    return shared
  end
  teardown(function()
    if shared then shared.stop() end
    H.cleanup()
  end)

  describe("with piped input", function()
    it("prints the results, not the prompts, and exits 0 at end of input", function()
      local t = shared_target()
      local r = H.run({ "--connect", "127.0.0.1:" .. t.info.port },
        "green.stats().threads\nprint('hi')\n1 + 1, 'two'\n")
      assert.are.equal(0, r.status, H.show(r))
      local ls = lines(r.stdout)
      assert.is_truthy(has(ls[1], "greenlua"), H.show(r))     -- the banner
      assert.is_truthy(has(ls[1], tostring(t.pid)), H.show(r))
      assert.is_truthy(math.tointeger(tonumber(ls[2])), H.show(r))
      assert.is_true(tonumber(ls[2]) >= 4, H.show(r))
      assert.are.equal("hi", ls[3], H.show(r))
      assert.are.equal("2\ttwo", ls[4], H.show(r))
      assert.are.equal(4, #ls, H.show(r))
      assert.is_falsy(has(r.stdout, "> "), "a prompt was printed\n" .. H.show(r))
      assert.are.equal("", r.stderr, H.show(r))
    end)

    it("runs multi-line chunks and reads the process's globals", function()
      local t = shared_target()
      local r = H.run({ "--connect", "127.0.0.1:" .. t.info.port },
        "for i = 1, 3 do\nprint(i * 10)\nend\napp_name\n")
      assert.are.equal(0, r.status, H.show(r))
      local ls = lines(r.stdout)
      assert.are.same({ "10", "20", "30", "demo-app" }, { ls[2], ls[3], ls[4], ls[5] }, H.show(r))
      assert.is_falsy(has(r.stdout, ">> "), H.show(r))
    end)

    it("shows errors and goes on", function()
      local t = shared_target()
      local r = H.run({ "--connect", "127.0.0.1:" .. t.info.port }, "error('bad')\nprint('after')\n")
      assert.are.equal(0, r.status, H.show(r))
      assert.is_truthy(has(r.stdout, "stdin:1: bad"), H.show(r))
      assert.is_truthy(has(r.stdout, "\nafter\n"), H.show(r))
    end)

    it("waits for a slow last statement before it exits", function()
      local t = shared_target()
      local r = H.run({ "--connect", "127.0.0.1:" .. t.info.port }, "green.sleep(0.5) print('late')\n")
      assert.are.equal(0, r.status, H.show(r))
      assert.is_truthy(has(r.stdout, "\nlate\n"), H.show(r))
      assert.is_true(r.secs >= 0.45, H.show(r))
    end)

    it("exits 0 when the session ends with exit()", function()
      local t = shared_target()
      local r = H.run({ "--connect", "127.0.0.1:" .. t.info.port }, "print('one')\nexit()\nprint('two')\n")
      assert.are.equal(0, r.status, H.show(r))
      assert.is_truthy(has(r.stdout, "\none\n"), H.show(r))
      assert.is_falsy(has(r.stdout, "two"), H.show(r))
      assert.is_true(r.secs < 3, H.show(r))
    end)

    it("-c is an alias", function()
      local t = shared_target()
      local r = H.run({ "-c", "127.0.0.1:" .. t.info.port }, "print('via ' .. '-c')\n")
      assert.are.equal(0, r.status, H.show(r))
      assert.is_truthy(has(r.stdout, "\nvia -c\n"), H.show(r))
    end)

    it("connects to a Unix socket path", function()
      local t = shared_target()
      local r = H.run({ "--connect", t.info.sock }, "app_name\n")
      assert.are.equal(0, r.status, H.show(r))
      assert.is_truthy(has(r.stdout, "greenlua"), H.show(r))
      assert.is_truthy(has(r.stdout, "\ndemo-app\n"), H.show(r))
    end)

    it("a closed port: an error on stderr, status 1", function()
      local r = H.run({ "--connect", "127.0.0.1:" .. closed_port() }, "1\n")
      assert.are.equal(1, r.status, H.show(r))
      assert.is_truthy(r.stderr:find("connect"), H.show(r))
      assert.are.equal("", r.stdout, H.show(r))
      assert.is_true(r.secs < 3, H.show(r))
    end)

    it("a missing Unix socket: an error on stderr, status 1", function()
      local r = H.run({ "--connect", H.tmp .. "/no-such.sock" }, "1\n")
      assert.are.equal(1, r.status, H.show(r))
      assert.is_truthy(r.stderr:find("connect"), H.show(r))
    end)

    it("exits 0, promptly, when the process goes away while input is still open", function()
      local t = target()
      local rc = C.fresh("client-rc")
      -- input stays open for 30 s, far longer than the client may take to
      -- notice (8 s); the client's own status goes to rc
      local h = C.background(("(printf '1\\n'; exec sleep 30) | { %s --connect 127.0.0.1:%d; echo $? >%s; }")
        :format(C.q(C.bin), t.info.port, C.q(rc)), 40)
      C.defer(h.stop)
      assert.is_truthy(C.poll(function() return has(h.out(), "\n1\n") end, 5), "no result: " .. h.out() .. h.err())
      local t0 = green.now()
      t.kill("KILL")
      local ended = C.poll(function() return H.slurp(rc) ~= "" end, 8, 0.02)
      local took = green.now() - t0
      assert.is_truthy(ended, ("the client still runs %.1f s after the process went away\n--- stdout:\n%s")
        :format(took, h.out()))
      assert.are.equal("0", (H.slurp(rc):gsub("%s+", "")), h.err())
    end)
  end)

  describe("on a terminal", function()
    local it_tmux = (have("tmux") and have("bash")) and it
      or function(name) pending(name .. " (needs tmux and bash)") end

    local function client(port)
      local home = C.dir("home")
      local tm = C.tmux(("%s --connect 127.0.0.1:%d"):format(C.q(C.bin), port), home)
      C.defer(function() tm:kill() end)
      return tm
    end

    it_tmux("shows the banner and a prompt, runs lines, recalls them with Up, leaves on Ctrl-D", function()
      local t = shared_target()
      local tm = client(t.info.port)
      assert.is_true(tm:wait_prompt(), tm:show())
      assert.is_truthy(has(tm:screen(), "greenlua"), tm:show())
      tm:line("print('from ' .. 'tmux')")
      assert.is_true(tm:wait_lines("from tmux"), tm:show())
      -- line editing with history: Up recalls the line just sent
      assert.is_true(tm:wait_prompt(), tm:show())
      tm:keys("Up")
      assert.is_true(tm:wait_for(function() return tm:last_line() == "> print('from ' .. 'tmux')" end),
        "Up did not recall the line\n" .. tm:show())
      tm:keys("Enter")
      assert.is_true(tm:wait_lines("from tmux", 2), tm:show())
      tm:line("for i = 1, 2 do")
      assert.is_true(tm:wait_prompt(">> "), tm:show())
      tm:line("print(i + 100) end")
      assert.is_true(tm:wait_lines("102"), tm:show())
      assert.is_true(tm:wait_prompt(), tm:show())
      tm:keys("C-d")
      assert.is_truthy(C.poll(function() return tm:dead() ~= nil end, 3), "still running after Ctrl-D\n" .. tm:show())
      assert.are.equal(0, tm:dead(), tm:show())
    end)

    it_tmux("exits 0, promptly, when the process goes away while it waits at the prompt", function()
      local t = target()
      local tm = client(t.info.port)
      assert.is_true(tm:wait_prompt(), tm:show())
      tm:line("1 + 1")
      assert.is_true(tm:wait_lines("2"), tm:show())
      assert.is_true(tm:wait_prompt(), tm:show())
      t.kill("KILL")
      local ended = C.poll(function() return tm:dead() ~= nil end, 3)
      assert.is_truthy(ended, "the client is still running after the process went away\n" .. tm:show())
      assert.are.equal(0, tm:dead(), tm:show())
    end)
  end)
end)
