-- Hardening of the hub and the green-thread core (issue 8): nothing a
-- script does with spawn, coroutines, error objects, kills or timers may
-- crash the host or break a documented promise.
local green = require "green"
local helpers = require "spec.helpers"
local cli = require "spec.cli_helpers"

local pack, unpack = table.pack, table.unpack

-- The test hooks (host/core/testhooks.h) live in the internal table, which
-- scripts cannot require: the debug library reaches it as an upvalue of
-- the embedded modules' loaders. Chunks for child processes start with this.
local HOOKS = [[local hooks = select(2, debug.getupvalue(package.preload["green"], 2))
]]
local hooks = load(HOOKS .. "return hooks")()

-- Run a chunk in a fresh greenlua process, from a file (so any text goes
-- through unchanged). Returns stdout, stderr, exit status.
local nchunks = 0
local function run_chunk(code)
  nchunks = nchunks + 1
  local r = cli.run({ cli.file(("chunk%d.lua"):format(nchunks), code) })
  return r.stdout, r.stderr, r.status
end

-- An array 1..n with nils at both ends (n >= 4), so lost nils show.
local function args_of(n)
  local t = { n = n }
  for i = 2, n - 1 do t[i] = i end
  return t
end

-- Check that a received pack is args_of(n).
local function same_args(n, got)
  assert.equal(n, got.n)
  assert.is_nil(got[1])
  assert.is_nil(got[n])
  for i = 2, n - 1 do
    if got[i] ~= i then error(("argument %d is %s"):format(i, tostring(got[i])), 2) end
  end
end

describe("hardening: core", function()
  after_each(helpers.run_deferred)
  teardown(cli.cleanup)

  describe("spawn with many arguments", function()
    for _, n in ipairs({ 9, 60, 200, 250, 100000 }) do
      it("spawn passes " .. n .. " arguments", function()
        local a = args_of(n)
        local got = pack(green.spawn(function(...) return pack(...) end, unpack(a, 1, n)):wait())
        same_args(n, got[1])
      end)

      it("spawn_n passes " .. n .. " arguments", function()
        local a, got = args_of(n), nil
        green.spawn_n(function(...) got = pack(...) end, unpack(a, 1, n))
        green.sleep(0)
        same_args(n, got)
      end)

      it("spawn_after passes " .. n .. " arguments", function()
        local a = args_of(n)
        local gt = green.spawn_after(0, function(...) return pack(...) end, unpack(a, 1, n))
        same_args(n, gt:wait())
      end)
    end

    it("a thread can return as many values as it was given", function()
      local a = args_of(250)
      local got = pack(green.spawn(function(...) return ... end, unpack(a, 1, 250)):wait())
      same_args(250, got)
    end)
  end)

  describe("another green thread's coroutine", function()
    -- A thread that hands out its own coroutine, then sleeps; it ends
    -- normally once woken, and says so.
    local function holder()
      local state = {}
      state.gt = green.spawn(function()
        state.co = coroutine.running()
        green.sleep(0.05)
        state.done = true
        return "finished"
      end)
      green.sleep(0)
      return state
    end

    it("coroutine.resume raises and leaves both threads intact", function()
      local h = holder()
      local err = helpers.error_of(coroutine.resume, h.co, "bogus")
      assert.matches("cannot resume a green thread's coroutine", err)
      assert.equal("finished", h.gt:wait())
      assert.is_true(h.done)
    end)

    it("coroutine.resume from another green thread raises there", function()
      local h = holder()
      local got = green.spawn(function() return helpers.error_of(coroutine.resume, h.co) end):wait()
      assert.matches("cannot resume a green thread's coroutine", got)
      assert.equal("finished", h.gt:wait())
    end)

    it("coroutine.close raises and the thread still ends normally", function()
      local h = holder()
      local err = helpers.error_of(coroutine.close, h.co)
      assert.matches("cannot close a green thread's coroutine", err)
      assert.equal("finished", h.gt:wait())
    end)

    it("a script's coroutine blocked in the hub is its thread's until it wakes", function()
      local gen, co
      local gt = green.spawn(function()
        co = coroutine.create(function() green.sleep(0.05) coroutine.yield("a") return "b" end)
        local r1 = pack(coroutine.resume(co))
        local r2 = pack(coroutine.resume(co))
        return r1, r2
      end)
      local gt2 = green.spawn(function()
        gen = coroutine.wrap(function() green.sleep(0.05) return "w" end)
        return gen()
      end)
      green.sleep(0)
      assert.matches("cannot resume a green thread's coroutine", helpers.error_of(coroutine.resume, co))
      assert.matches("cannot close a green thread's coroutine", helpers.error_of(coroutine.close, co))
      assert.matches("cannot resume a green thread's coroutine", helpers.error_of(gen))
      local r1, r2 = gt:wait()
      assert.same({ true, "a", n = 2 }, r1)
      assert.same({ true, "b", n = 2 }, r2)
      assert.equal("w", gt2:wait())
      -- once it is not blocked, it is a plain coroutine again
      local plain = coroutine.create(function() green.sleep(0) coroutine.yield(1) return 2 end)
      assert.same({ true, 1, n = 2 }, pack(coroutine.resume(plain)))
      assert.same({ true, 2, n = 2 }, green.spawn(function() return pack(coroutine.resume(plain)) end):wait())
    end)

    it("coroutine.resume(nil) reads as stock Lua's message", function()
      local r = cli.run_lua({ "-e", "coroutine.resume(nil)" })
      local g = cli.run({ "-e", "coroutine.resume(nil)" })
      local stock = r.stderr:match("lua5.4: ([^\n]*)")
      assert.is_truthy(stock, r.stderr)
      assert.equal("greenlua: " .. stock, g.stderr:match("^[^\n]*"))
      local err = helpers.error_of(coroutine.resume, nil)
      assert.not_matches("boot", err)
      assert.not_matches("co_resume", err)
      assert.matches("bad argument #1 to '[%w.]*resume' %(thread expected, got nil%)", err)
      assert.matches("bad argument #1 to 'close'", helpers.error_of(function() coroutine.close(nil) end))
      assert.matches("bad argument #1 to 'wrap'", helpers.error_of(function() coroutine.wrap(nil) end))
    end)
  end)

  describe("error objects whose __tostring misbehaves", function()
    local kinds = {
      raises = [[function() error("tostring raised") end]],
      yields = [[function() coroutine.yield("x") end]],
      blocks = [[function() require("green").sleep(1) end]],
      ["returns a table"] = [[function() return {} end]],
    }
    for name, fn in pairs(kinds) do
      it("one that " .. name .. ", thrown in a spawned thread, is reported and the process goes on", function()
        local out, err, rc = run_chunk(([[
          local green = require "green"
          local obj = setmetatable({}, { __tostring = %s })
          local gt = green.spawn(function() error(obj) end)
          local ok, e = pcall(gt.wait, gt)
          print("after", ok, rawequal(e, obj))
          green.spawn_n(function() error(obj) end)
          green.sleep(0.01)
          print("still here")
        ]]):format(fn))
        assert.equal(0, rc, err)
        assert.equal("after\tfalse\ttrue\nstill here\n", out)
        local _, count = err:gsub("green thread %d+: %(error object is a table value%)", "")
        assert.equal(2, count, err)
      end)

      it("one that " .. name .. ", thrown in main, ends the process with status 1 and a report", function()
        local out, err, rc = run_chunk(([[
          print("before")
          error(setmetatable({}, { __tostring = %s }))
        ]]):format(fn))
        assert.equal(1, rc, err)
        assert.equal("before\n", out)
        assert.matches("^greenlua: %(error object is a table value%)", err)
      end)
    end

    it("one that raises in a link is reported and the next link still runs", function()
      local out, err, rc = run_chunk([[
        local green = require "green"
        local obj = setmetatable({}, { __tostring = function() error("no") end })
        local gt = green.spawn(function() end)
        gt:link(function() error(obj) end)
        gt:link(function() print("second link") end)
        gt:wait()
        green.sleep(0.01)
        print("done")
      ]])
      assert.equal(0, rc, err)
      assert.equal("second link\ndone\n", out)
      assert.matches("link of GreenThread %d+ %(dead%): %(error object is a table value%)", err)
    end)
  end)

  describe("running out of memory in the hub", function()
    -- Each case turns allocation failure on where the hub (not the script)
    -- must allocate next, then off again once the script runs.
    local function run(body)
      local out, err, rc = run_chunk(HOOKS .. [[
        local green = require "green"
        local fail, pcall, sort, kill = hooks.fail_allocations, pcall, table.sort, green.kill
      ]] .. body .. [[
        print("main goes on")
      ]])
      assert.equal(0, rc, err)
      return out, err
    end

    it("a thread the hub has no memory to start ends with the error", function()
      local out, err = run([[
        local gt = green.spawn(function() print("ran") end)
        fail(true)
        green.sleep(0)
        fail(false)
        print(pcall(gt.wait, gt))
      ]])
      assert.equal("false\tnot enough memory\nmain goes on\n", out)
      assert.matches("green thread %d+: not enough memory", err)
    end)

    it("a spawn_n the hub has no memory to start is reported and dropped", function()
      local out, err = run([[
        green.spawn_n(function() print("ran") end)
        fail(true)
        green.sleep(0)
        fail(false)
        green.sleep(0)
      ]])
      assert.equal("main goes on\n", out)
      assert.matches("green thread %d+: not enough memory", err)
    end)

    it("results the hub has no memory to keep end the thread with the error", function()
      local out = run([[
        local gt = green.spawn(function() fail(true) return 1, 2 end)
        local ok, e = pcall(gt.wait, gt)
        fail(false)
        print(ok, e)
      ]])
      assert.equal("false\tnot enough memory\nmain goes on\n", out)
    end)

    it("kill needs no memory: a thread handed a value, and one not started", function()
      local out = run([[
        local q = green.Queue()
        local got, ran
        local x = green.spawn(function() got = q:get() end)
        green.sleep(0)
        local y = green.spawn(function() ran = true end)
        q:put("item")                        -- x is handed it, and has not run
        local pair = { 1, 2 }
        -- inside a sort comparator kill does not yield: nothing runs before fail(false)
        local function less(a, b) kill(x) kill(y) return a < b end
        fail(true)
        local ok = pcall(sort, pair, less)
        fail(false)
        print("killed", ok)
        local okx, ex = pcall(x.wait, x)
        local oky, ey = pcall(y.wait, y)
        print(okx, ex == green.GreenThreadExit, got, q:qsize())
        print(oky, ey == green.GreenThreadExit, ran)
      ]])
      assert.equal("killed\ttrue\nfalse\ttrue\tnil\t1\nfalse\ttrue\tnil\nmain goes on\n", out)
    end)
  end)

  describe("coroutine.yield outside a script's coroutine", function()
    it("pcall(coroutine.yield, v) in a green thread returns false and the thread goes on", function()
      local gt = green.spawn(function()
        local r = pack(pcall(coroutine.yield, "v"))
        return r, "went on"
      end)
      local r, after = gt:wait()
      assert.same({ false, "attempt to yield from outside a coroutine", n = 2 }, r)
      assert.equal("went on", after)
    end)

    it("in main, it is caught by pcall as in plain lua", function()
      local code = 'print(pcall(coroutine.yield, 1)) print("after")'
      local g, l = cli.run({ "-e", code }), cli.run_lua({ "-e", code })
      assert.equal(0, g.status, g.stderr)
      assert.equal(l.stdout, g.stdout)
    end)

    it("a green thread's body reads as a main chunk; a script's coroutine as a coroutine", function()
      local gt = green.spawn(function()
        local inside
        local co = coroutine.wrap(function()
          inside = pack(coroutine.isyieldable(), select(2, coroutine.running()))
          coroutine.yield()
        end)
        co()
        return pack(coroutine.isyieldable(), select(2, coroutine.running())), inside
      end)
      local body, inside = gt:wait()
      assert.same({ false, true, n = 2 }, body)
      assert.same({ true, false, n = 2 }, inside)
    end)

    it("a script's coroutine still yields to its resumer", function()
      local gt = green.spawn(function()
        local co = coroutine.create(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
        local _, x = coroutine.resume(co, 1)
        local _, y = coroutine.resume(co, 10)
        return x, y
      end)
      assert.same({ 2, 20 }, { gt:wait() })
    end)
  end)

  describe("timers", function()

    it("a stress of blocked LifoQueue puts under Timeouts loses no timer", function()
      math.randomseed(8)
      -- a far timer, as a program with a long sleeper has: nothing due may
      -- wait for it
      local far = green.spawn(green.sleep, 1e6)
      helpers.defer(function() far:kill() end)
      local rounds, per_round = 12, 150
      local ended, stuck = 0, 0
      for _ = 1, rounds do
        local queues = {}
        for i = 1, 5 do
          queues[i] = green.LifoQueue(1)
          queues[i]:put(0)                       -- full: every put blocks
        end
        local threads = {}
        for i = 1, per_round do
          local q = queues[math.random(#queues)]
          local limit = math.random() * 0.03
          local put_timeout = math.random() < 0.5 and math.random() * 0.03 or nil
          threads[i] = green.spawn(function()
            local t <close> = green.Timeout(limit)
            return pcall(q.put, q, i, true, put_timeout)
          end)
          local r = math.random()
          if r < 0.1 then                        -- let some get in, now and then
            green.spawn(function() q:get(true, 0.01) end)
          elseif r < 0.15 then
            green.sleep(0)
          end
        end
        -- kill a few while they wait, some before they even started
        for i = 1, per_round, 17 do threads[i]:kill() end
        assert.is_true(hooks.check_timers())
        -- every one ends by its own deadline: 0.03 s, and then some
        local deadline = green.now() + 5
        for _, gt in ipairs(threads) do
          while not gt:dead() and green.now() < deadline do green.sleep(0.005) end
          if gt:dead() then ended = ended + 1 else stuck = stuck + 1 end
        end
        assert.is_true(hooks.check_timers())
        helpers.killall(threads)
      end
      assert.equal(0, stuck)
      assert.equal(rounds * per_round, ended)
      green.sleep(0.02)                          -- the getters' timeouts
      assert.is_true(hooks.check_timers())
    end)

    it("sleep, spawn_after and Timeout take huge and infinite delays; NaN raises", function()
      local far = {}
      for _, v in ipairs({ 1e300, math.huge, 2^63, 1e19 }) do
        far[#far + 1] = green.spawn(green.sleep, v)
        far[#far + 1] = green.spawn_after(v, error, "must not run")
        far[#far + 1] = green.spawn(function() local t <close> = green.Timeout(v) green.sleep(v) end)
      end
      helpers.defer(function() helpers.killall(far) end)
      green.sleep(0)
      -- the far timers are armed first; a short one still fires in time
      local t0 = green.now()
      green.sleep(0.02)
      assert.is_true(green.now() - t0 < 1)
      for _, gt in ipairs(far) do assert.is_false(gt:dead()) end
      assert.is_true(hooks.check_timers())
      assert.matches("bad argument #1 to 'sleep' %(number expected, got NaN%)", helpers.error_of(green.sleep, 0 / 0))
      assert.matches("bad argument #1 to 'spawn_after' %(number expected, got NaN%)",
        helpers.error_of(green.spawn_after, 0 / 0, print))
      local q = green.Queue()
      assert.matches("NaN", helpers.error_of(q.get, q, true, 0 / 0))
      -- negative and -inf are 0
      green.sleep(-1)
      green.sleep(-math.huge)
      assert.equal("done", green.spawn_after(-math.huge, function() return "done" end):wait())
    end)

    it("a timer already due as the hub goes to wait fires, whatever else is armed", function()
      -- uv_run(UV_RUN_ONCE) runs due timers and then polls for the next
      -- event: the far sleeper's, in 1e6 s. Each of these used to hang there.
      local r = cli.run({ "-e", [[
        local green = require "green"
        green.spawn(green.sleep, 1e6)
        green.sleep(0)
        for i = 1, 20 do
          assert(green.spawn_after(0, function() return i end):wait() == i)
          local q = green.Queue()
          local ok, err = pcall(function()
            local t <close> = green.Timeout(0)
            return q:get()
          end)
          assert(not ok and green.is_timeout(err))
          green.sleep(0.001)
        end
        print("all fired")
        os.exit(0)
      ]] }, nil, nil, { timeout = 20 })
      assert.equal(0, r.status, cli.show(r))
      assert.equal("all fired\n", r.stdout)
    end)
  end)

  describe("recycled coroutines", function()
    it("no two green threads see the same coroutine.running()", function()
      local seen, n, dup = {}, 0, 0
      for _ = 1, 50 do
        green.spawn(function()
          local co = coroutine.running()
          if seen[co] then dup = dup + 1 end
          seen[co] = true
          n = n + 1
        end):wait()
      end
      assert.equal(50, n)
      assert.equal(0, dup)
    end)

    it("a thread that asked for its coroutine does not lend it to the next", function()
      local first
      green.spawn(function() first = coroutine.running() end):wait()
      for _ = 1, 10 do
        local mine = green.spawn(function() return coroutine.running() end):wait()
        assert.is_false(rawequal(first, mine))
      end
      assert.equal("dead", coroutine.status(first))
    end)

    it("a debug hook left by one thread is not carried into the next", function()
      local hits = 0
      green.spawn(function()
        debug.sethook(function() hits = hits + 1 end, "", 1)
      end):wait()
      local before = hits
      local hook, after
      for _ = 1, 5 do
        green.spawn(function()
          hook = debug.gethook()
          for _ = 1, 100 do end
        end):wait()
        assert.is_nil(hook)
      end
      after = hits
      assert.equal(before, after)
    end)

    it("a linked thread keeps its results when no pooled coroutine is free for its links", function()
      local t = {}
      for i = 1, 300 do t[i] = green.spawn(green.sleep, 0.01) end
      for i = 1, 300 do t[i]:wait() end            -- the pool fills
      local s = {}
      for i = 1, 300 do s[i] = green.spawn(green.sleep, 10) end
      helpers.defer(function() helpers.killall(s) end)
      green.sleep(0)                               -- and is all in use
      local gt = green.spawn(function() return 42, "x" end)
      gt:link(function() end)
      assert.same({ 42, "x" }, { gt:wait() })
    end)
  end)

  describe("errors the hub injects into a thread blocked in its own coroutine", function()
    it("kill goes through coroutine.resume: the thread dies, the coroutine is closed", function()
      local closed, returned, co = false, nil, nil
      local gt = green.spawn(function()
        co = coroutine.create(function()
          local _ <close> = setmetatable({}, { __close = function() closed = true end })
          green.sleep(10)
        end)
        returned = pack(coroutine.resume(co))
        return "went on"
      end)
      green.sleep(0)
      gt:kill()
      assert.is_true(gt:dead())
      assert.is_nil(returned)
      assert.is_true(closed)
      assert.equal("dead", coroutine.status(co))
      local ok, err = pcall(gt.wait, gt)
      assert.is_false(ok)
      assert.is_true(rawequal(green.GreenThreadExit, err))
    end)

    it("kill goes through a coroutine.wrap generator, and nested coroutines", function()
      local gt = green.spawn(function()
        local outer = coroutine.wrap(function()
          local inner = coroutine.create(function() green.sleep(10) end)
          coroutine.resume(inner)
          return "outer went on"
        end)
        outer()
        return "went on"
      end)
      green.sleep(0)
      gt:kill("stop")
      local ok, err = pcall(gt.wait, gt)
      assert.is_false(ok)
      assert.equal("stop", err)                 -- a string error: no position added
    end)

    it("with_timeout raises its Timeout out of a coroutine that sleeps", function()
      local co = coroutine.create(function() green.sleep(10) return "late" end)
      local ok, err = pcall(green.with_timeout, 0.01, coroutine.resume, co)
      assert.is_false(ok)
      assert.is_true(green.is_timeout(err))
      assert.equal("dead", coroutine.status(co))
    end)

    it("a thread handed an item inside a coroutine, then killed, gives it back and dies", function()
      local q = green.Queue()
      local got
      local gt = green.spawn(function()
        local co = coroutine.wrap(function() got = q:get() end)
        co()
        return "went on"
      end)
      green.sleep(0)
      q:put("item")                             -- handed over; gt has not run
      gt:kill()
      assert.is_nil(got)
      assert.equal(1, q:qsize())
      assert.is_false((pcall(gt.wait, gt)))
    end)

    it("a coroutine that catches the kill itself goes on, as code in the thread would", function()
      local gt = green.spawn(function()
        local co = coroutine.create(function()
          local ok, err = pcall(green.sleep, 10)
          return ok, rawequal(err, green.GreenThreadExit)
        end)
        return coroutine.resume(co)
      end)
      green.sleep(0)
      gt:kill()
      assert.same({ true, false, true }, { gt:wait() })
    end)

    it("an ordinary error in the coroutine is still returned by resume", function()
      local gt = green.spawn(function()
        local co = coroutine.create(function() green.sleep(0) error("own", 0) end)
        return coroutine.resume(co)
      end)
      assert.same({ false, "own" }, { gt:wait() })
    end)
  end)

  describe("Ctrl-C", function()
    -- Run 'code' in a child greenlua, send it one SIGINT once it has created
    -- the file 'ready' names, and return { text = stdout..stderr, status }.
    local function interrupt(code)
      local ready = cli.path("ready")
      local out = cli.path("out")
      local script = cli.file("sigint" .. nchunks .. ".lua", ("local READY = %q\n"):format(ready) .. code)
      nchunks = nchunks + 1
      local cmd = ("cd %s && { %s %s >%s 2>&1 & pid=$!; "
        .. "for i in $(seq 1 200); do [ -e %s ] && break; sleep 0.05; done; "
        .. "kill -INT $pid; wait $pid; echo \"status $?\" >>%s; }")
        :format(cli.quote(cli.tmp), cli.quote(cli.bin), cli.quote(script), cli.quote(out),
                cli.quote(ready), cli.quote(out))
      os.execute("timeout 20 sh -c " .. cli.quote(cmd))
      local text = cli.slurp(out)
      local status = tonumber(text:match("status (%d+)\n$"))
      return (text:gsub("status %d+\n$", "")), status
    end

    it("interrupts the busy thread that was running, once: main goes on", function()
      local text, status = interrupt([[
        local green = require "green"
        local gt = green.spawn(function()
          io.open(READY, "w"):close()
          local x = 0
          while true do x = x + 1 end
        end)
        local ok, err = pcall(gt.wait, gt)
        print("main:", ok, err)
        green.sleep(0.2)                 -- a second delivery would land here
        print("main: done")
      ]])
      assert.equal(0, status, text)
      assert.matches("green thread %d+: interrupted!", text)
      assert.matches("main:\tfalse\tinterrupted!\n", text)
      assert.matches("main: done\n", text)
      local _, n = text:gsub("interrupted!", "")
      assert.equal(2, n, text)           -- the thread's report and main's print
    end)

    it("with every thread blocked, main gets it, once", function()
      local text, status = interrupt([[
        local green = require "green"
        local other = green.spawn(green.sleep, 10)
        io.open(READY, "w"):close()
        local ok, err = pcall(green.sleep, 10)
        print("main:", ok, err)
        green.sleep(0.2)
        print("other dead:", other:dead())
        other:kill()
      ]])
      assert.equal(0, status, text)
      assert.equal("main:\tfalse\tinterrupted!\nother dead:\tfalse\n", text)
    end)
  end)

  describe("misuse errors", function()
    local gt = nil
    before_each(function() gt = green.spawn(function() end) end)

    -- name: the function the message must name; fn, args: the call
    local cases = {
      { "spawn", function() return green.spawn, 42 end },
      { "spawn_n", function() return green.spawn_n end },
      { "spawn_after", function() return green.spawn_after, "x", print end },
      { "spawn_after", function() return green.spawn_after, 1.0, 42 end },
      { "sleep", function() return green.sleep, {} end },
      { "kill", function() return green.kill, 42 end },
      { "wait", function() return gt.wait, 42 end },
      { "kill", function() return gt.kill, io.stdout end },
      { "cancel", function() return gt.cancel end },
      { "dead", function() return gt.dead, "x" end },
      { "traceback", function() return gt.traceback, {} end },
      { "link", function() return gt.link, 42, print end },
      { "link", function() return gt.link, gt, 42 end },
      { "unlink", function() return gt.unlink, coroutine.create(print), print end },
      { "with_timeout", function() return green.with_timeout, "x", print end },
      { "with_timeout", function() return green.with_timeout, 1, 42 end },
    }
    for i, case in ipairs(cases) do
      it(("name the function the user called: %s (case %d)"):format(case[1], i), function()
        local call = pack(case[2]())
        -- through pcall, where Lua's own lookup would find "green.core.*"
        local ok, err = pcall(unpack(call, 1, call.n))
        assert.is_false(ok)
        assert.matches("bad argument #%d to '" .. case[1] .. "'", err)
        assert.not_matches("green%.core", err)
        assert.not_matches("lib/green", err)
        -- and called directly from here
        local direct = helpers.error_of(function() return call[1](unpack(call, 2, call.n)) end)
        assert.matches("bad argument #%d to '" .. case[1] .. "'", direct)
        assert.not_matches("lib/green", direct)
      end)
    end

    it("integral floats are integers, and numeric strings are numbers, as in Lua", function()
      local late = green.spawn_after(1.0, error, "must not run")
      late:kill()
      green.sleep(0.0)
      assert.equal("ok", green.with_timeout("1", function() return "ok" end))
      local code = 'os.exit(3.0)'
      assert.equal(3, cli.run({ "-e", code }).status)
      local r = cli.run({ "-e", "os.exit(2.5)" })
      assert.equal(1, r.status)
      assert.matches("bad argument #1 to 'exit' %(number has no integer representation%)", r.stderr)
    end)
  end)

  describe("green.core internals", function()
    it("are not in require 'green.core'", function()
      local core = require "green.core"
      for _, name in ipairs({ "set_link_runner", "finished", "extra", "on_exit", "cannot_block",
                              "GreenThread", "PASS", "THROW", "fail_allocations", "check_timers" }) do
        assert.is_nil(core[name], name)
      end
      assert.is_nil(require("green").extra)
    end)

    it("still serve the Lua half: links, pools spawning inline, Local", function()
      local linked
      local gt = green.spawn(function() return "r" end)
      gt:link(function(g, x) linked = x end, "arg")
      assert.equal("r", gt:wait())
      green.sleep(0)
      assert.equal("arg", linked)
      local pool = green.GreenPool(1)
      local inner = pool:spawn(function()
        return pool:spawn(function() return "inline" end):wait()   -- the pool is full: runs inline
      end)
      assert.equal("inline", inner:wait())
      local loc = green.Local()
      green.spawn(function() loc.x = 1 end):wait()
      assert.is_nil(loc.x)
    end)

    it("loading an embedded module again hands out only the module", function()
      local m = package.preload["green.semaphore"]("green.semaphore")
      assert.equal("function", type(m.Semaphore))
      assert.is_nil(m.finished)
    end)
  end)

  describe("every C function of the core, with bad arguments", function()
    it("returns or raises, never crashes (spec/hardening_core_fuzz.lua in a child)", function()
      local r = cli.run({ cli.repo .. "/spec/hardening_core_fuzz.lua" }, nil, nil, { timeout = 150 })
      assert.equal(0, r.status, cli.show(r))
      assert.matches("calls %d+\ndone\n$", r.stdout)
      assert.not_matches("Sanitizer", r.stderr)
      assert.not_matches("runtime error", r.stderr)
    end)

    it("green.Local's metamethods check theirs", function()
      local loc = green.Local()
      local mt = getmetatable(loc)
      assert.matches("bad argument #1 to '__index' %(green.Local expected, got userdata%)",
        helpers.error_of(mt.__index, io.stdout, "x"))
      assert.matches("bad argument #1 to '__newindex'", helpers.error_of(mt.__newindex, nil, "x", 1))
      assert.matches("bad argument #2 to '__newindex'", helpers.error_of(mt.__newindex, loc, nil, 1))
      assert.matches("bad argument #2 to '__newindex'", helpers.error_of(function() loc[0 / 0] = 1 end))
      loc.x = 1
      assert.equal(1, loc.x)
    end)

    it("metamethods fetched from the metatable check their argument", function()
      local gt = green.spawn(function() end)
      local mt = debug.getmetatable(gt)
      assert.matches("bad argument #1 to '__tostring' %(GreenThread expected, got FILE%*%)",
        helpers.error_of(mt.__tostring, io.stdout))
      assert.matches("bad argument #1 to '__index' %(GreenThread expected, got no value%)",
        helpers.error_of(mt.__index))
      assert.equal(gt.id, mt.__index(gt, "id"))
      assert.is_nil(mt.__index(gt, 1))
      gt:wait()
    end)
  end)

  describe("thread memory", function()
    it("a dead thread's handle takes at most 128 bytes", function()
      local n = 20000
      local all = {}
      -- once first, so the hub's own tables have grown already
      for i = 1, n do all[i] = green.spawn(function() end) end
      for i = 1, n do all[i]:wait() end
      all = {}
      for i = 1, n do all[i] = false end
      collectgarbage()
      collectgarbage("stop")
      local before = collectgarbage("count")
      for i = 1, n do all[i] = green.spawn(function() end) end
      for i = 1, n do all[i]:wait() end
      local table_kb = 0                      -- 'all' was sized before
      collectgarbage("restart")
      collectgarbage()
      local per = (collectgarbage("count") - before - table_kb) * 1024 / n
      assert.is_true(per <= 128, ("%.0f bytes per dead thread"):format(per))
    end)

    it("a spawn_n thread gets a handle only when asked, the same one each time", function()
      local a, b, ids
      green.spawn_n(function()
        a = green.getcurrent()
        b = green.getcurrent()
        local t <close> = green.Timeout(10)
        ids = a.id
      end)
      green.sleep(0)
      assert.is_true(rawequal(a, b))
      assert.equal(a.id, ids)
      assert.is_true(a:dead())
    end)

    it("threads() lists threads waiting to start and spawn_n threads that run", function()
      local gts = {}
      for i = 1, 40 do gts[i] = green.spawn(green.sleep, 0.05) end   -- past 32: pending
      green.spawn_n(green.sleep, 0.05)
      local listed = {}
      for _, gt in ipairs(green.threads()) do listed[gt] = true end
      helpers.defer(function() helpers.killall(gts) end)
      for i = 1, 40 do assert.is_true(listed[gts[i]], "thread " .. i) end
      green.sleep(0)
      assert.equal(green.stats().threads, #green.threads())
    end)

    it("a thread killed while waiting for its turn never runs; its links and joiners see it", function()
      local fill = {}
      for i = 1, 40 do fill[i] = green.spawn(function() end) end
      local ran, linked = false, nil
      local late = green.spawn(function() ran = true end)
      local linked_one = green.spawn(function() ran = true end)
      linked_one:link(function(gt) linked = gt end)
      local waiter = green.spawn(function() return pcall(late.wait, late) end)
      late:kill("gone")
      linked_one:kill()
      assert.is_true(late:dead())
      assert.same({ false, "gone" }, { waiter:wait() })
      green.sleep(0)
      assert.is_false(ran)
      assert.is_true(rawequal(linked, linked_one))
      for _, gt in ipairs(fill) do gt:wait() end
    end)

    it("FIFO order holds across threads that wait for their turn and those that do not", function()
      local order = {}
      local last
      for i = 1, 100 do
        if i % 3 == 0 then green.spawn_n(function() order[#order + 1] = i end)
        else last = green.spawn(function() order[#order + 1] = i end) end
      end
      last:wait()
      green.sleep(0)
      for i = 1, 100 do assert.equal(i, order[i]) end
    end)
  end)
end)
