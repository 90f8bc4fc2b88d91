-- green.Event and green.AsyncResult (API.md, "Event and AsyncResult").
local green = require "green"
local helpers = require "spec.helpers"
local sync = require "spec.sync_helpers"

local pack = table.pack

describe("Event", function()

  it("is reachable as green.Event and through require 'green.event'", function()
    assert.equal(green.Event, require("green.event").Event)
    local evt = green.Event()
    assert.is_false(evt:ready())
  end)

  describe("send and wait", function()
    it("wakes every waiter with every sent value, nils included", function()
      local evt = green.Event()
      local got = {}
      local gts = {}
      for i = 1, 3 do
        gts[i] = green.spawn(function() got[i] = pack(evt:wait()) end)
      end
      sync.settle()
      assert.same({}, got)
      evt:send("a", nil, 3, nil)
      assert.is_true(sync.all_dead(gts))
      for i = 1, 3 do
        assert.equal(4, got[i].n)
        assert.equal("a", got[i][1])
        assert.is_nil(got[i][2])
        assert.equal(3, got[i][3])
        assert.is_nil(got[i][4])
      end
    end)

    it("send never yields: waiters run only once the sender blocks", function()
      local evt = green.Event()
      local woke = 0
      for _ = 1, 3 do
        green.spawn(function() evt:wait(); woke = woke + 1 end)
      end
      sync.settle()
      evt:send(1)
      assert.equal(0, woke)
      assert.is_true(evt:ready())
      sync.settle()
      assert.equal(3, woke)
    end)

    it("wakes waiters in the order they started waiting", function()
      local evt = green.Event()
      local order = {}
      for i = 1, 5 do
        green.spawn(function() evt:wait(); order[#order + 1] = i end)
      end
      sync.settle()
      evt:send()
      sync.settle()
      assert.same({ 1, 2, 3, 4, 5 }, order)
    end)

    it("send with no values wakes waiters with no values", function()
      local evt = green.Event()
      local got
      local gt = green.spawn(function() got = pack(evt:wait()) end)
      sync.settle()
      evt:send()
      gt:wait()
      assert.equal(0, got.n)
    end)

    it("returns the values at once, without blocking, once sent", function()
      local evt = green.Event()
      evt:send("x", "y")
      local ran = false
      green.spawn(function() ran = true end)
      local r = pack(evt:wait())
      assert.is_false(ran)           -- wait did not switch
      assert.same({ n = 2, "x", "y" }, r)
      r = pack(evt:wait(0.5))
      assert.same({ n = 2, "x", "y" }, r)
      sync.settle()
    end)

    it("a value sent is delivered to waiters that come later, as often as they ask", function()
      local evt = green.Event()
      local t = {}
      evt:send(t)
      assert.is_true(rawequal(t, evt:wait()))
      assert.is_true(rawequal(t, evt:wait()))
      local got
      green.spawn(function() got = evt:wait() end):wait()
      assert.is_true(rawequal(t, got))
    end)

    it("a second send without reset raises an error containing 'already-triggered'", function()
      local evt = green.Event()
      evt:send(1)
      local err = helpers.error_of(function() evt:send(2) end)
      assert.is_not_nil(err)
      assert.matches("already%-triggered", tostring(err))
      assert.equal(1, evt:wait())   -- the first value stands
    end)

    it("rejects a non-Event self", function()
      local evt = green.Event()
      assert.has_error(function() evt.send({}, 1) end)
      assert.has_error(function() evt.wait("nope") end)
    end)
  end)

  describe("wait with a timeout", function()
    it("returns nothing when the timeout elapses first", function()
      local evt = green.Event()
      local dt, r = helpers.timed(evt.wait, evt, 0.03)
      assert.equal(0, r.n)
      assert.is_true(dt >= 0.03 - 0.002, "waited " .. dt)
      assert.is_true(dt < 1, "waited " .. dt)
      assert.is_false(evt:ready())
    end)

    it("returns the values if they come before the timeout", function()
      local evt = green.Event()
      green.spawn(function() green.sleep(0.01); evt:send("v", 2) end)
      local dt, r = helpers.timed(evt.wait, evt, 5)
      assert.same({ n = 2, "v", 2 }, r)
      assert.is_true(dt < 2.5, "waited " .. dt)   -- woken by the send, not at the timeout
    end)

    it("a zero timeout returns nothing at once when unsent: before a later timer", function()
      -- timers fire in deadline order, so this holds however slow the machine
      local evt = green.Event()
      local later = false
      local marker = green.spawn_after(0.5, function() later = true end)
      local r = pack(evt:wait(0))
      assert.equal(0, r.n)
      assert.is_false(later)
      marker:cancel()
    end)

    it("a waiter that timed out does not disturb the others", function()
      local evt = green.Event()
      local a = pack()
      local b
      local ga = green.spawn(function() a = pack(evt:wait(0.01)) end)
      local gb = green.spawn(function() b = pack(evt:wait()) end)
      ga:wait()
      assert.equal(0, a.n)
      evt:send("late")
      gb:wait()
      assert.same({ n = 1, "late" }, b)
    end)
  end)

  describe("send_exception", function()
    it("makes every waiter raise the error, keeping its identity", function()
      local evt = green.Event()
      local myerr = { reason = "broken" }
      local errs = {}
      local gts = {}
      for i = 1, 3 do
        gts[i] = green.spawn(function()
          local ok, err = pcall(evt.wait, evt)
          errs[i] = { ok = ok, err = err }
        end)
      end
      sync.settle()
      evt:send_exception(myerr)
      assert.is_true(sync.all_dead(gts))
      for i = 1, 3 do
        assert.is_false(errs[i].ok)
        assert.is_true(rawequal(myerr, errs[i].err))
      end
    end)

    it("later waits raise it at once, also with a timeout", function()
      local evt = green.Event()
      local myerr = setmetatable({}, { __tostring = function() return "custom" end })
      evt:send_exception(myerr)
      local ok, err = pcall(evt.wait, evt)
      assert.is_false(ok)
      assert.is_true(rawequal(myerr, err))
      ok, err = pcall(evt.wait, evt, 0.01)
      assert.is_false(ok)
      assert.is_true(rawequal(myerr, err))
    end)

    it("a string error is raised as is", function()
      local evt = green.Event()
      evt:send_exception("went wrong")
      local ok, err = pcall(evt.wait, evt)
      assert.is_false(ok)
      assert.equal("went wrong", err)
    end)

    it("send after send_exception counts as a second send", function()
      local evt = green.Event()
      evt:send_exception("first")
      local err = helpers.error_of(function() evt:send(1) end)
      assert.is_not_nil(err)
      assert.matches("already%-triggered", tostring(err))
      err = helpers.error_of(function() evt:send_exception("again") end)
      assert.matches("already%-triggered", tostring(err))
      local ok, e = pcall(evt.wait, evt)
      assert.is_false(ok)
      assert.equal("first", e)
    end)

    it("send_exception after send raises too", function()
      local evt = green.Event()
      evt:send(1)
      local err = helpers.error_of(function() evt:send_exception("x") end)
      assert.matches("already%-triggered", tostring(err))
      assert.is_true(evt:has_result())
    end)
  end)

  describe("state", function()
    it("ready, has_result, has_exception and poll follow what was sent", function()
      local evt = green.Event()
      assert.is_false(evt:ready())
      assert.is_false(evt:has_result())
      assert.is_false(evt:has_exception())
      assert.equal(0, pack(evt:poll()).n)

      evt:send(1, nil, "three")
      assert.is_true(evt:ready())
      assert.is_true(evt:has_result())
      assert.is_false(evt:has_exception())
      local r = pack(evt:poll())
      assert.equal(3, r.n)
      assert.equal(1, r[1])
      assert.is_nil(r[2])
      assert.equal("three", r[3])

      local fresh = green.Event()
      fresh:send_exception({})
      assert.is_true(fresh:ready())
      assert.is_false(fresh:has_result())
      assert.is_true(fresh:has_exception())
    end)

    it("poll never blocks", function()
      local evt = green.Event()
      local ran = false
      green.spawn(function() ran = true end)
      evt:poll()
      assert.is_false(ran)
      sync.settle()
    end)
  end)

  describe("reset", function()
    it("makes it sendable again and not ready", function()
      local evt = green.Event()
      evt:send(1)
      evt:reset()
      assert.is_false(evt:ready())
      assert.is_false(evt:has_result())
      assert.is_false(evt:has_exception())
      assert.equal(0, pack(evt:poll()).n)
      evt:send(2)
      assert.equal(2, evt:wait())
    end)

    it("after reset, wait blocks again until the next send", function()
      local evt = green.Event()
      evt:send("old")
      evt:reset()
      local got
      local gt = green.spawn(function() got = evt:wait() end)
      sync.settle()
      assert.is_nil(got)
      assert.is_false(gt:dead())
      evt:send("new")
      gt:wait()
      assert.equal("new", got)
    end)

    it("clears an exception too", function()
      local evt = green.Event()
      evt:send_exception("bad")
      evt:reset()
      assert.is_false(evt:ready())
      assert.is_false(evt:has_exception())
      evt:send("good")
      assert.equal("good", evt:wait())
    end)

    it("raises on a never-sent event", function()
      local evt = green.Event()
      assert.has_error(function() evt:reset() end)
      evt:send(1)
      evt:reset()
      assert.has_error(function() evt:reset() end)   -- unsent again
    end)

    it("waiters woken by a send get that send's values even if it is reset and re-sent before they run", function()
      local evt = green.Event()
      local got = {}
      local gts = {}
      for i = 1, 2 do
        gts[i] = green.spawn(function() got[i] = pack(evt:wait()) end)
      end
      sync.settle()
      evt:send("first", 1)
      evt:reset()
      evt:send("second", 2)
      assert.is_true(sync.all_dead(gts))
      for i = 1, 2 do
        assert.same({ n = 2, "first", 1 }, got[i])
      end
      assert.same({ n = 2, "second", 2 }, pack(evt:wait()))
    end)

    it("a waiter woken by send_exception raises it even if the event is reset and re-sent", function()
      local evt = green.Event()
      local myerr = {}
      local gt, rec = sync.track(evt.wait, evt)
      sync.settle()
      evt:send_exception(myerr)
      evt:reset()
      evt:send("fine")
      gt:wait()
      assert.is_false(rec.ok)
      assert.is_true(rawequal(myerr, rec.err))
    end)

    it("waiters arriving after the reset wait for the next send", function()
      local evt = green.Event()
      evt:send(1)
      evt:reset()
      local gt, rec = sync.track(evt.wait, evt, 0.02)
      gt:wait()
      assert.is_true(rec.ok)
      assert.equal(0, rec.values.n)
    end)
  end)
end)

describe("AsyncResult", function()

  it("is reachable as green.AsyncResult and through require 'green.event'", function()
    assert.equal(green.AsyncResult, require("green.event").AsyncResult)
  end)

  it("set wakes every getter with the values; get returns them at once afterwards", function()
    local r = green.AsyncResult()
    assert.is_false(r:ready())
    local got = {}
    local gts = {}
    for i = 1, 3 do
      gts[i] = green.spawn(function() got[i] = pack(r:get()) end)
    end
    sync.settle()
    r:set("v", nil, 3)
    assert.is_true(r:ready())
    assert.is_true(r:successful())
    assert.is_true(sync.all_dead(gts))
    for i = 1, 3 do
      assert.equal(3, got[i].n)
      assert.equal("v", got[i][1])
      assert.is_nil(got[i][2])
      assert.equal(3, got[i][3])
    end
    assert.same({ n = 3, "v", nil, 3 }, pack(r:get()))
    assert.same({ n = 3, "v", nil, 3 }, pack(r:get(0.01)))
  end)

  it("set_exception makes get raise the error with its identity", function()
    local r = green.AsyncResult()
    local myerr = { code = 7 }
    local gt, rec = sync.track(r.get, r)
    sync.settle()
    r:set_exception(myerr)
    gt:wait()
    assert.is_false(rec.ok)
    assert.is_true(rawequal(myerr, rec.err))
    assert.is_true(r:ready())
    assert.is_false(r:successful())
    local ok, err = pcall(r.get, r)
    assert.is_false(ok)
    assert.is_true(rawequal(myerr, err))
    ok, err = pcall(r.get, r, 0.01)
    assert.is_false(ok)
    assert.is_true(rawequal(myerr, err))
  end)

  it("get(timeout) raises the Timeout when it expires", function()
    local r = green.AsyncResult()
    local dt, res = helpers.timed(pcall, r.get, r, 0.03)
    assert.is_false(res[1])
    assert.is_true(green.is_timeout(res[2]), "got " .. tostring(res[2]))
    assert.is_true(dt >= 0.03 - 0.002, "waited " .. dt)
    assert.is_true(dt < 1, "waited " .. dt)
    assert.is_false(r:ready())
    -- nothing fires later from that get
    local ok = pcall(green.sleep, 0.05)
    assert.is_true(ok)
  end)

  it("get(timeout) returns the values when they come in time and leaves no Timeout behind", function()
    local r = green.AsyncResult()
    green.spawn(function() green.sleep(0.01); r:set(42) end)
    assert.equal(42, r:get(0.5))
    local ok = pcall(green.sleep, 0.6)   -- the get's Timeout is gone
    assert.is_true(ok)
  end)

  it("is not successful before it is set", function()
    local r = green.AsyncResult()
    assert.is_false(r:successful())
    assert.is_false(r:ready())
  end)

  it("setting it twice raises, in any combination", function()
    local a = green.AsyncResult()
    a:set(1)
    assert.has_error(function() a:set(2) end)
    assert.has_error(function() a:set_exception("x") end)
    assert.equal(1, a:get())

    local b = green.AsyncResult()
    b:set_exception("first")
    assert.has_error(function() b:set(2) end)
    assert.has_error(function() b:set_exception("again") end)
    local ok, err = pcall(b.get, b)
    assert.is_false(ok)
    assert.equal("first", err)
  end)
end)
