-- Green threads: spawn, sleep, kill, wait, link, introspection (API.md,
-- "Green threads").
local green = require "green"
local helpers = require "spec.helpers"

local pack, unpack = table.pack, table.unpack

describe("green threads", function()

  describe("spawn", function()
    it("does not yield: the new thread runs only once the caller blocks", function()
      local ran = false
      local gt = green.spawn(function() ran = true end)
      assert.is_false(ran)
      assert.is_false(gt:dead())
      green.sleep(0)
      assert.is_true(ran)
      assert.is_true(gt:dead())
    end)

    it("starts threads in spawn order", function()
      local order = {}
      local gts = {}
      for i = 1, 8 do
        gts[i] = green.spawn(function() order[#order + 1] = i end)
      end
      gts[8]:wait()
      assert.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, order)
    end)

    it("passes every argument, nils included", function()
      local got
      local gt = green.spawn(function(...) got = pack(...) end, 1, nil, "three", nil)
      gt:wait()
      assert.equal(4, got.n)
      assert.equal(1, got[1])
      assert.is_nil(got[2])
      assert.equal("three", got[3])
      assert.is_nil(got[4])
    end)

    it("accepts a callable table", function()
      local seen
      local callable = setmetatable({}, { __call = function(self, x) seen = x end })
      green.spawn(callable, 7):wait()
      assert.equal(7, seen)
    end)

    it("returns a GreenThread handle", function()
      local gt = green.spawn(function() end)
      assert.equal("userdata", type(gt))
      assert.matches("GreenThread", tostring(gt))
      assert.equal("function", type(gt.wait))
      assert.equal("function", type(gt.kill))
      gt:wait()
    end)

    it("rejects a non-function", function()
      assert.has_error(function() green.spawn(42) end)
      assert.has_error(function() green.spawn_n(nil) end)
      assert.has_error(function() green.spawn_after(0.01, "nope") end)
    end)
  end)

  describe("spawn_n", function()
    it("returns nothing and runs fn with its arguments", function()
      local got
      local r = pack(green.spawn_n(function(a, b) got = { a, b } end, "x", "y"))
      assert.equal(0, r.n)
      assert.is_nil(got)              -- did not yield either
      green.sleep(0)
      assert.same({ "x", "y" }, got)
    end)

    it("reports an uncaught error to stderr and the process goes on", function()
      local out, err, rc = helpers.run_chunk([[
        local green = require "green"
        green.spawn_n(function() error("spawn_n went wrong") end)
        green.sleep(0.02)
        print("still here")
      ]])
      assert.equal(0, rc)
      assert.matches("still here", out)
      assert.matches("spawn_n went wrong", err)
    end)
  end)

  describe("spawn_after", function()
    it("starts fn after the delay, not before", function()
      local t0 = green.now()
      local started_at, args
      local gt = green.spawn_after(0.2, function(...)
        started_at = green.now()
        args = pack(...)
        return "done"
      end, "a", "b")
      green.sleep(0.02)            -- due first: it wakes before the thread starts
      assert.is_nil(started_at)
      assert.is_false(gt:dead())
      assert.equal("done", gt:wait())
      assert.is_true(started_at - t0 >= 0.2 - 0.002)
      assert.equal(2, args.n)
      assert.equal("a", args[1])
      assert.equal("b", args[2])
    end)

    it("with a zero or negative delay still runs the thread later, never inline", function()
      local ran = 0
      local a = green.spawn_after(0, function() ran = ran + 1 end)
      local b = green.spawn_after(-1, function() ran = ran + 1 end)
      assert.equal(0, ran)
      a:wait()
      b:wait()
      assert.equal(2, ran)
    end)
  end)

  describe("sleep", function()
    it("sleep() and sleep(0) let other ready threads run", function()
      local n = 0
      green.spawn(function() n = n + 1 end)
      green.sleep()
      assert.equal(1, n)
      green.spawn(function() n = n + 1 end)
      green.sleep(0)
      assert.equal(2, n)
    end)

    it("interleaves threads that keep yielding with sleep(0)", function()
      local log = {}
      local function worker(name)
        for i = 1, 3 do
          log[#log + 1] = name .. i
          green.sleep(0)
        end
      end
      local a = green.spawn(worker, "a")
      local b = green.spawn(worker, "b")
      a:wait()
      b:wait()
      assert.same({ "a1", "b1", "a2", "b2", "a3", "b3" }, log)
    end)

    it("suspends for at least the given time and lets others run meanwhile", function()
      local ticks = 0
      local ticker = green.spawn(function()
        for _ = 1, 100 do
          ticks = ticks + 1
          green.sleep(0.002)
        end
      end)
      finally(function() ticker:kill() end)
      local dt = helpers.timed(green.sleep, 0.05)
      assert.is_true(dt >= 0.05 - 0.002, "slept only " .. dt)
      assert.is_true(dt < 0.5, "slept " .. dt)
      assert.is_true(ticks >= 2, "ticker ran " .. ticks .. " times")
    end)

    it("returns nothing", function()
      assert.equal(0, select("#", green.sleep(0)))
      assert.equal(0, select("#", green.sleep(0.001)))
    end)
  end)

  describe("getcurrent", function()
    it("returns a GreenThread in the main chunk too, the same each time", function()
      local me = green.getcurrent()
      assert.is_not_nil(me)
      assert.matches("GreenThread", tostring(me))
      assert.equal(me, green.getcurrent())
      green.sleep(0)
      assert.equal(me, green.getcurrent())
      assert.is_false(me:dead())
    end)

    it("inside a spawned thread returns that thread's handle", function()
      local inner
      local gt = green.spawn(function()
        green.sleep(0)
        inner = green.getcurrent()
      end)
      gt:wait()
      assert.is_true(rawequal(gt, inner))
      assert.is_false(rawequal(gt, green.getcurrent()))
    end)
  end)

  describe("wait", function()
    it("returns every value fn returned, nils included", function()
      local gt = green.spawn(function()
        green.sleep(0.005)
        return 1, nil, "three", nil
      end)
      local r = pack(gt:wait())
      assert.equal(4, r.n)
      assert.same({ 1, nil, "three", nil }, { unpack(r, 1, 4) })
    end)

    it("returns nothing for a fn that returned nothing", function()
      local gt = green.spawn(function() end)
      assert.equal(0, select("#", gt:wait()))
    end)

    it("can be called again, and by several waiters, with the same results", function()
      local t = {}
      local gt = green.spawn(function() green.sleep(0.01) return t, 2 end)
      local seen = {}
      local waiters = {}
      for i = 1, 3 do
        waiters[i] = green.spawn(function() seen[i] = pack(gt:wait()) end)
      end
      local a, b = gt:wait()
      assert.is_true(rawequal(a, t))
      assert.equal(2, b)
      for i = 1, 3 do
        waiters[i]:wait()
        assert.is_true(rawequal(seen[i][1], t))
        assert.equal(2, seen[i][2])
      end
      local again = pack(gt:wait())
      assert.is_true(rawequal(again[1], t))
    end)

    it("re-raises the same error value: a table keeps its identity", function()
      local e = setmetatable({ code = 42 }, { __tostring = function() return "custom error" end })
      local gt = green.spawn(function()
        green.sleep(0.005)
        error(e)
      end)
      local ok, err = pcall(gt.wait, gt)
      assert.is_false(ok)
      assert.is_true(rawequal(e, err))
      -- and again, for a second wait on the dead thread
      ok, err = pcall(gt.wait, gt)
      assert.is_false(ok)
      assert.is_true(rawequal(e, err))
    end)

    it("re-raises a string error with its message", function()
      local gt = green.spawn(function() error("plain failure") end)
      local ok, err = pcall(gt.wait, gt)
      assert.is_false(ok)
      assert.matches("plain failure", err)
    end)

    it("after a kill re-raises GreenThreadExit", function()
      local gt = green.spawn(green.sleep, 10)
      green.sleep(0)
      gt:kill()
      local ok, err = pcall(gt.wait, gt)
      assert.is_false(ok)
      assert.is_true(rawequal(green.GreenThreadExit, err))
    end)

    it("after a kill with a custom error re-raises that error", function()
      local myerr = { "stop it" }
      local gt = green.spawn(green.sleep, 10)
      green.sleep(0)
      green.kill(gt, myerr)
      local ok, err = pcall(gt.wait, gt)
      assert.is_false(ok)
      assert.is_true(rawequal(myerr, err))
    end)

    it("a thread cannot wait for itself", function()
      local err
      green.spawn(function()
        err = helpers.error_of(function() return green.getcurrent():wait() end)
      end):wait()
      assert.is_not_nil(err)
    end)
  end)

  describe("kill", function()
    it("a thread that has not started never runs", function()
      local ran = false
      local gt = green.spawn(function() ran = true end)
      gt:kill()
      assert.is_true(gt:dead())
      green.sleep(0.01)
      assert.is_false(ran)
      local ok, err = pcall(gt.wait, gt)
      assert.is_false(ok)
      assert.is_true(rawequal(green.GreenThreadExit, err))
    end)

    it("of an unstarted thread releases its waiters and runs its links", function()
      local linked, waited, ran = false, nil, false
      local gt = green.spawn_after(0.5, function() ran = true end)
      gt:link(function(g) linked = rawequal(g, gt) end)
      local waiter = green.spawn(function() waited = pack(pcall(gt.wait, gt)) end)
      green.sleep(0)            -- the waiter is now blocked in gt:wait()
      assert.is_nil(waited)
      gt:kill()
      waiter:wait()
      assert.is_false(ran)
      assert.is_true(linked)
      assert.is_false(waited[1])
      assert.is_true(rawequal(green.GreenThreadExit, waited[2]))
    end)

    it("yields once: when kill returns, the target has handled the error", function()
      local log = {}
      local gt = green.spawn(function()
        local ok, err = pcall(green.sleep, 10)
        log[#log + 1] = { ok = ok, err = err }
        log[#log + 1] = "cleanup"
      end)
      green.sleep(0)
      assert.same({}, log)
      gt:kill()
      assert.equal(2, #log)
      assert.is_false(log[1].ok)
      assert.is_true(rawequal(green.GreenThreadExit, log[1].err))
      assert.equal("cleanup", log[2])
      assert.is_true(gt:dead())
    end)

    it("a target that catches the kill goes on living", function()
      local steps = {}
      local gt = green.spawn(function()
        pcall(green.sleep, 10)
        steps[#steps + 1] = "caught"
        green.sleep(0.01)
        steps[#steps + 1] = "finished"
        return "survived"
      end)
      green.sleep(0)
      gt:kill()
      assert.same({ "caught" }, steps)
      assert.is_false(gt:dead())
      assert.equal("survived", gt:wait())
      assert.same({ "caught", "finished" }, steps)
    end)

    it("green.kill(gt, err) is gt:kill(err)", function()
      local caught
      local gt = green.spawn(function()
        local _, e = pcall(green.sleep, 10)
        caught = e
      end)
      green.sleep(0)
      green.kill(gt, "by function")
      assert.equal("by function", caught)
    end)

    it("a thread killed while waiting on another leaves that wait cleanly", function()
      local slow = green.spawn(function() green.sleep(0.03) return "slow" end)
      local waiter = green.spawn(function() return slow:wait() end)
      local waiter2 = green.spawn(function() return slow:wait() end)
      green.sleep(0)
      waiter:kill()
      assert.is_true(waiter:dead())
      assert.equal("slow", waiter2:wait())
      assert.equal("slow", slow:wait())
    end)

    it("killing the current thread raises at once", function()
      local after, err1, err2 = false
      local gt = green.spawn(function()
        err1 = helpers.error_of(function()
          green.getcurrent():kill()
          after = true
        end)
        err2 = helpers.error_of(green.kill, green.getcurrent(), "self-inflicted")
        return "alive"
      end)
      assert.equal("alive", gt:wait())
      assert.is_false(after)
      assert.is_true(rawequal(green.GreenThreadExit, err1))
      assert.equal("self-inflicted", err2)
    end)

    it("killing a dead thread does nothing", function()
      local gt = green.spawn(function() return "result" end)
      assert.equal("result", gt:wait())
      gt:kill()
      gt:kill("whatever")
      green.kill(gt)
      assert.is_true(gt:dead())
      assert.equal("result", gt:wait())
    end)

    it("an uncaught GreenThreadExit ends a thread silently", function()
      local out, err, rc = helpers.run_chunk([[
        local green = require "green"
        local gt = green.spawn(green.sleep, 10)
        green.sleep(0)
        gt:kill()
        green.spawn(function() green.getcurrent():kill() end)
        green.sleep(0.01)
      ]])
      assert.equal(0, rc)
      assert.equal("", out)
      assert.equal("", err)
    end)

    it("an uncaught kill with a custom error is reported like any error", function()
      local _, err, rc = helpers.run_chunk([[
        local green = require "green"
        local gt = green.spawn(green.sleep, 10)
        green.sleep(0)
        gt:kill("custom kill reason")
      ]])
      assert.equal(0, rc)
      assert.matches("custom kill reason", err)
    end)

    it("a thread killed while sleeping leaves no timer behind", function()
      local base = green.stats().timers
      local gt = green.spawn(green.sleep, 10)
      green.sleep(0)
      assert.equal(base + 1, green.stats().timers)
      gt:kill()
      assert.equal(base, green.stats().timers)
    end)

    it("closes the to-be-closed variables of a killed thread", function()
      local closed, closed_with = false
      local gt = green.spawn(function()
        local guard <close> = setmetatable({}, {
          __close = function(_, e) closed, closed_with = true, e end,
        })
        green.sleep(10)
      end)
      green.sleep(0)
      assert.is_false(closed)
      gt:kill()
      assert.is_true(closed)
      assert.is_true(rawequal(green.GreenThreadExit, closed_with))
    end)

    it("closes the to-be-closed variables of a thread that raised", function()
      local closed = false
      local gt = green.spawn(function()
        local guard <close> = setmetatable({}, { __close = function() closed = true end })
        green.sleep(0)
        error({})
      end)
      pcall(gt.wait, gt)
      assert.is_true(closed)
    end)
  end)

  describe("link", function()
    it("calls the links in link order, with gt and the extra arguments", function()
      local calls = {}
      local gt = green.spawn(function() green.sleep(0.005) return "r" end)
      gt:link(function(g, ...) calls[#calls + 1] = { "first", g, pack(...) } end, 1, nil, 3)
      gt:link(function(g) calls[#calls + 1] = { "second", g } end)
      gt:link(function(g, x) calls[#calls + 1] = { "third", g, x } end, "x")
      gt:wait()
      green.sleep(0)
      assert.equal(3, #calls)
      assert.equal("first", calls[1][1])
      assert.equal("second", calls[2][1])
      assert.equal("third", calls[3][1])
      for i = 1, 3 do assert.is_true(rawequal(gt, calls[i][2])) end
      assert.equal(3, calls[1][3].n)
      assert.same({ 1, nil, 3 }, { unpack(calls[1][3], 1, 3) })
      assert.equal("x", calls[3][3])
    end)

    it("runs the links in the dying thread, once it has ended", function()
      local current, dead_inside, result
      local gt = green.spawn(function() green.sleep(0.005) return "value" end)
      gt:link(function(g)
        current = green.getcurrent()
        dead_inside = g:dead()
        result = g:wait()          -- the eventlet idiom: fetch the result in the link
      end)
      gt:wait()
      green.sleep(0)
      assert.is_true(rawequal(gt, current))
      assert.is_true(dead_inside)
      assert.equal("value", result)
    end)

    it("runs the links right after the function ends, before a waiter resumes", function()
      local log = {}
      local gt = green.spawn(function() green.sleep(0.005) log[#log + 1] = "body" end)
      gt:link(function() log[#log + 1] = "link" end)
      gt:wait()
      log[#log + 1] = "waiter"
      assert.same({ "body", "link", "waiter" }, log)
    end)

    it("runs the links when the thread raises or is killed", function()
      local e = {}
      local seen = {}
      local failing = green.spawn(function() green.sleep(0) error(e) end)
      failing:link(function(g)
        local ok, err = pcall(g.wait, g)
        seen.failing = { ok, err }
      end)
      local killed = green.spawn(green.sleep, 10)
      killed:link(function(g)
        local ok, err = pcall(g.wait, g)
        seen.killed = { ok, err }
      end)
      green.sleep(0)
      killed:kill()
      pcall(failing.wait, failing)
      green.sleep(0)
      assert.is_false(seen.failing[1])
      assert.is_true(rawequal(e, seen.failing[2]))
      assert.is_false(seen.killed[1])
      assert.is_true(rawequal(green.GreenThreadExit, seen.killed[2]))
    end)

    it("linking a thread that already ended calls fn at once", function()
      local gt = green.spawn(function() return 1 end)
      gt:wait()
      green.sleep(0)
      local got
      gt:link(function(g, a, b) got = { g, a, b } end, "a", "b")
      assert.is_not_nil(got)
      assert.is_true(rawequal(gt, got[1]))
      assert.equal("a", got[2])
      assert.equal("b", got[3])
    end)

    it("a link that raises does not stop the next one", function()
      local second = false
      local gt = green.spawn(function() end)
      gt:link(function() error("link failure") end)
      gt:link(function() second = true end)
      gt:wait()
      green.sleep(0)
      assert.is_true(second)
    end)

    it("unlink removes a link and says whether it was there", function()
      local called = {}
      local function f() called[#called + 1] = "f" end
      local function g() called[#called + 1] = "g" end
      local gt = green.spawn(function() green.sleep(0.005) end)
      gt:link(f)
      gt:link(g)
      assert.is_true(gt:unlink(f))
      assert.is_false(gt:unlink(f))
      assert.is_false(gt:unlink(function() end))
      gt:wait()
      green.sleep(0)
      assert.same({ "g" }, called)
    end)

    it("unlink on a thread with no links returns false", function()
      local gt = green.spawn(function() end)
      assert.is_false(gt:unlink(print))
      gt:wait()
      assert.is_false(gt:unlink(print))
    end)
  end)

  describe("cancel", function()
    it("kills a spawn_after thread that has not started: it never runs", function()
      local ran = false
      local gt = green.spawn_after(0.02, function() ran = true end)
      gt:cancel()
      assert.is_true(gt:dead())
      green.sleep(0.05)
      assert.is_false(ran)
      local ok, err = pcall(gt.wait, gt)
      assert.is_false(ok)
      assert.is_true(rawequal(green.GreenThreadExit, err))
    end)

    it("uses the given error", function()
      local gt = green.spawn_after(0.02, function() end)
      gt:cancel("cancelled!")
      local ok, err = pcall(gt.wait, gt)
      assert.is_false(ok)
      assert.equal("cancelled!", err)
    end)

    it("leaves no timer behind", function()
      local base = green.stats().timers
      local gt = green.spawn_after(5, function() end)
      assert.equal(base + 1, green.stats().timers)
      gt:cancel()
      assert.equal(base, green.stats().timers)
    end)

    it("does nothing to a thread that has started", function()
      local gt = green.spawn(function()
        green.sleep(0.02)
        return "completed"
      end)
      green.sleep(0)
      gt:cancel()
      assert.is_false(gt:dead())
      assert.equal("completed", gt:wait())
    end)

    it("does nothing to a dead thread", function()
      local gt = green.spawn(function() return 5 end)
      gt:wait()
      gt:cancel()
      assert.equal(5, gt:wait())
    end)
  end)

  describe("dead", function()
    it("is false until the thread ends in any way", function()
      local normal = green.spawn(function() green.sleep(0.01) end)
      local failing = green.spawn(function() green.sleep(0.01) error("x") end)
      local killed = green.spawn(function() green.sleep(10) end)
      assert.is_false(normal:dead())
      green.sleep(0)
      assert.is_false(normal:dead())
      assert.is_false(failing:dead())
      assert.is_false(killed:dead())
      killed:kill()
      normal:wait()
      pcall(failing.wait, failing)
      assert.is_true(normal:dead())
      assert.is_true(failing:dead())
      assert.is_true(killed:dead())
    end)
  end)

  describe("identity and introspection", function()
    it("gt.id is a unique integer", function()
      local ids = { [green.getcurrent().id] = true }
      assert.equal("integer", math.type(green.getcurrent().id))
      local gts = {}
      for i = 1, 20 do
        gts[i] = green.spawn(function() end)
        local id = gts[i].id
        assert.equal("integer", math.type(id))
        assert.is_nil(ids[id])
        ids[id] = true
      end
      gts[20]:wait()
      assert.equal(gts[1].id, gts[1].id)      -- stable after death
    end)

    it("tostring names the id and the state", function()
      local gt = green.spawn(function() green.sleep(10) end)
      local fresh = tostring(gt)
      green.sleep(0)
      local sleeping = tostring(gt)
      gt:kill()
      local dead = tostring(gt)
      for _, s in ipairs({ fresh, sleeping, dead }) do
        assert.truthy(s:find(tostring(gt.id), 1, true), s)
      end
      assert.truthy(dead:find("dead", 1, true), dead)
      assert.are_not.equal(sleeping, dead)
      local mine = tostring(green.getcurrent())
      assert.truthy(mine:find(tostring(green.getcurrent().id), 1, true), mine)
    end)

    it("gt:traceback() shows where a sleeping thread waits", function()
      local line
      local gt = green.spawn(function()
        line = debug.getinfo(1, "l").currentline; green.sleep(10)
      end)
      finally(function() gt:kill() end)
      green.sleep(0)
      local tb = gt:traceback()
      assert.equal("string", type(tb))
      assert.truthy(tb:find("greenthread_spec.lua:" .. line, 1, true), tb)
      assert.truthy(tb:find("sleep", 1, true), tb)
    end)

    it("threads() includes the main thread and the caller, not dead ones", function()
      local main = green.getcurrent()
      local function has(list, gt)
        for _, x in ipairs(list) do if rawequal(x, gt) then return true end end
        return false
      end
      local sleeper = green.spawn(green.sleep, 10)
      finally(function() sleeper:kill() end)
      local finished = green.spawn(function() end)
      local seen_inside
      local caller = green.spawn(function()
        local list = green.threads()
        seen_inside = { main = has(list, main), me = has(list, green.getcurrent()) }
      end)
      caller:wait()
      assert.is_true(finished:dead())
      local list = green.threads()
      assert.is_true(has(list, main))
      assert.is_true(has(list, sleeper))
      assert.is_false(has(list, finished))
      assert.is_false(has(list, caller))
      assert.is_true(seen_inside.main)
      assert.is_true(seen_inside.me)
    end)

    it("stats() has threads, runnable, timers, switches and uptime", function()
      local s = green.stats()
      for _, k in ipairs({ "threads", "runnable", "timers", "switches" }) do
        assert.equal("number", type(s[k]), k)
        assert.is_true(s[k] >= 0, k)
      end
      assert.is_true(s.threads >= 1)
      assert.equal("number", type(s.uptime))
      assert.is_true(s.uptime > 0)

      local gts = {}
      for i = 1, 3 do gts[i] = green.spawn(green.sleep, 10) end
      finally(function() helpers.killall(gts) end)
      local s2 = green.stats()
      assert.equal(s.threads + 3, s2.threads)
      assert.is_true(s2.runnable >= 3)
      green.sleep(0.01)
      local s3 = green.stats()
      assert.equal(s.timers + 3, s3.timers)
      assert.is_true(s3.switches > s.switches)
      assert.is_true(s3.uptime >= s.uptime + 0.009)
      helpers.killall(gts)
      assert.equal(s.threads, green.stats().threads)
    end)

    it("now() is a monotonic float clock that follows sleeps", function()
      local prev = green.now()
      assert.equal("float", math.type(prev))
      for _ = 1, 200 do
        local t = green.now()
        assert.is_true(t >= prev)
        prev = t
      end
      local t0 = green.now()
      green.sleep(0.03)
      local dt = green.now() - t0
      assert.is_true(dt >= 0.03 - 0.002 and dt < 0.5, "dt " .. dt)
    end)
  end)

  describe("ordering", function()
    it("timers with equal deadlines fire in arming order", function()
      local order = {}
      local gts = {}
      for i = 1, 10 do
        gts[i] = green.spawn(function()
          green.sleep(0.02)
          order[#order + 1] = i
        end)
      end
      for i = 1, 10 do gts[i]:wait() end
      assert.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, order)
    end)

    it("spawn_after threads with equal delays start in spawn order", function()
      local order = {}
      local gts = {}
      for i = 1, 6 do
        gts[i] = green.spawn_after(0.01, function() order[#order + 1] = i end)
      end
      for i = 1, 6 do gts[i]:wait() end
      assert.same({ 1, 2, 3, 4, 5, 6 }, order)
    end)
  end)

  describe("errors", function()
    it("an error in a spawned thread ends only that thread", function()
      local gt = green.spawn(function() error("only me") end)
      local other = green.spawn(function() green.sleep(0.01) return "fine" end)
      green.sleep(0.005)
      assert.is_true(gt:dead())
      assert.equal("fine", other:wait())
    end)

    it("is printed to stderr with a traceback and the process exits 0", function()
      local out, err, rc = helpers.run_chunk([[
        local green = require "green"
        local function deep_failure() error("spawned thread blew up") end
        green.spawn(deep_failure)
        green.sleep(0.02)
        print("main survived")
      ]])
      assert.equal(0, rc)
      assert.matches("main survived", out)
      assert.matches("spawned thread blew up", err)
      assert.matches("traceback", err)
    end)
  end)
end)

describe("spawn_n queued without a thread until it starts", function()
  it("keeps FIFO order with spawn, arguments and callable tables, and counts as runnable", function()
    local order = {}
    green.spawn_n(function() order[#order + 1] = "a" end)
    green.spawn(function() order[#order + 1] = "b" end)
    green.spawn_n(function(x, y) order[#order + 1] = x .. y end, "c", "d")
    green.spawn_n(setmetatable({}, { __call = function(_, z) order[#order + 1] = z end }), "e")
    green.spawn_n(function(...) order[#order + 1] = select("#", ...) end, nil, nil)
    green.spawn_n(function() order[#order + 1] = "f" end)
    assert.equal(6, green.stats().runnable)
    local before = green.stats().threads
    green.sleep(0)
    assert.same({ "a", "b", "cd", "e", 2, "f" }, order)
    assert.equal(0, green.stats().runnable)
    assert.equal(before - 6, green.stats().threads)
  end)

  it("a pending spawn_n thread has its own GreenThread once it runs", function()
    local seen
    green.spawn_n(function() seen = green.getcurrent() end)
    green.sleep(0)
    assert.is_truthy(seen)
    assert.is_true(seen ~= green.getcurrent())
    assert.is_true(seen:dead())
  end)
end)
