-- green.Semaphore and green.BoundedSemaphore (API.md, "Semaphores").
local green = require "green"
local helpers = require "spec.helpers"
local sync = require "spec.sync_helpers"

describe("Semaphore", function()

  it("is reachable as green.Semaphore and through require 'green.semaphore'", function()
    local m = require "green.semaphore"
    assert.equal(green.Semaphore, m.Semaphore)
    assert.equal(green.BoundedSemaphore, m.BoundedSemaphore)
  end)

  describe("construction", function()
    it("defaults to one permit", function()
      local sem = green.Semaphore()
      assert.equal(1, sem:counter())
      assert.is_false(sem:locked())
      assert.is_true(sem:acquire())
      assert.is_true(sem:locked())
      assert.is_false(sem:acquire(false))
    end)

    it("takes a count, zero included", function()
      local sem = green.Semaphore(3)
      assert.equal(3, sem:counter())
      local zero = green.Semaphore(0)
      assert.equal(0, zero:counter())
      assert.is_true(zero:locked())
    end)

    it("a negative count raises", function()
      assert.has_error(function() green.Semaphore(-1) end)
      assert.has_error(function() green.BoundedSemaphore(-1) end)
      assert.has_error(function() green.Semaphore(1.5) end)
    end)
  end)

  describe("acquire and release", function()
    it("counts permits down and up", function()
      local sem = green.Semaphore(2)
      assert.is_true(sem:acquire())
      assert.equal(1, sem:counter())
      assert.is_true(sem:acquire())
      assert.equal(0, sem:counter())
      assert.is_true(sem:locked())
      sem:release()
      assert.equal(1, sem:counter())
      assert.is_false(sem:locked())
      sem:release()
      sem:release()                  -- a plain Semaphore may go above its start
      assert.equal(3, sem:counter())
    end)

    it("acquire with a permit free does not yield", function()
      local sem = green.Semaphore(1)
      local ran = false
      green.spawn(function() ran = true end)
      sem:acquire()
      sem:release()
      assert.is_false(ran)
      sync.settle()
    end)

    it("acquire(false) returns false at once when locked", function()
      local sem = green.Semaphore(0)
      local switches, r = helpers.switches(sem.acquire, sem, false)
      assert.is_false(r[1])
      assert.equal(0, switches)
      assert.equal(0, sem:counter())
      assert.equal(0, sem:balance())
    end)

    it("acquire(true, timeout) returns false after the timeout", function()
      local sem = green.Semaphore(0)
      local dt, r = helpers.timed(sem.acquire, sem, true, 0.03)
      assert.is_false(r[1])
      assert.is_true(dt >= 0.03 - 0.002, "waited " .. dt)
      assert.is_true(dt < 1, "waited " .. dt)
      assert.equal(0, sem:counter())
      assert.equal(0, sem:balance())
    end)

    it("acquire(nil, timeout) blocks like acquire(true, timeout)", function()
      local sem = green.Semaphore(0)
      local dt, r = helpers.timed(sem.acquire, sem, nil, 0.02)
      assert.is_false(r[1])
      assert.is_true(dt >= 0.02 - 0.002)
    end)

    it("a timed acquire returns true if a permit comes in time", function()
      local sem = green.Semaphore(0)
      green.spawn(function() green.sleep(0.01); sem:release() end)
      assert.is_true(sem:acquire(true, 0.5))
      assert.equal(0, sem:counter())
    end)

    it("a blocked acquire waits for a release", function()
      local sem = green.Semaphore(0)
      local gt, rec = sync.track(sem.acquire, sem)
      sync.settle()
      assert.is_false(rec.done)
      sem:release()
      gt:wait()
      assert.is_true(rec.ok)
      assert.is_true(rec.values[1])
      assert.equal(0, sem:counter())
    end)

    it("release never yields", function()
      local sem = green.Semaphore(0)
      local got = false
      green.spawn(function() sem:acquire(); got = true end)
      sync.settle()
      sem:release()
      assert.is_false(got)
      sync.settle()
      assert.is_true(got)
    end)
  end)

  describe("fairness", function()
    it("release hands the permit to the longest waiter", function()
      local sem = green.Semaphore(0)
      local order = {}
      local gts = {}
      for i = 1, 5 do
        gts[i] = green.spawn(function() sem:acquire(); order[#order + 1] = i end)
      end
      sync.settle()
      for _ = 1, 5 do
        sem:release()
        sync.settle()
      end
      assert.same({ 1, 2, 3, 4, 5 }, order)
      assert.is_true(sync.all_dead(gts))
    end)

    it("releasing several permits at once still serves waiters in arrival order", function()
      local sem = green.Semaphore(0)
      local order = {}
      for i = 1, 4 do green.spawn(function() sem:acquire(); order[#order + 1] = i end) end
      sync.settle()
      for _ = 1, 4 do sem:release() end
      sync.settle()
      assert.same({ 1, 2, 3, 4 }, order)
    end)

    it("a permit handed to a waiter cannot be taken by a non-blocking acquire", function()
      local sem = green.Semaphore(0)
      local gt, rec = sync.track(sem.acquire, sem)
      sync.settle()
      sem:release()
      assert.is_false(sem:acquire(false))
      assert.equal(0, sem:counter())
      gt:wait()
      assert.is_true(rec.values[1])
    end)

    it("with n permits, no more than n holders at once", function()
      local sem = green.Semaphore(3)
      local holding, most = 0, 0
      local gts = {}
      for i = 1, 10 do
        gts[i] = green.spawn(function()
          sem:acquire()
          holding = holding + 1
          if holding > most then most = holding end
          green.sleep(0.003)
          holding = holding - 1
          sem:release()
        end)
      end
      assert.is_true(sync.all_dead(gts, 2))
      assert.equal(3, most)
      assert.equal(3, sem:counter())
    end)
  end)

  describe("introspection", function()
    it("balance is the counter minus the waiters", function()
      local sem = green.Semaphore(2)
      assert.equal(2, sem:balance())
      sem:acquire()
      sem:acquire()
      assert.equal(0, sem:balance())
      local gts = {}
      for i = 1, 3 do gts[i] = green.spawn(function() sem:acquire() end) end
      sync.settle()
      assert.equal(0, sem:counter())
      assert.equal(-3, sem:balance())
      assert.is_true(sem:locked())
      sem:release()
      assert.equal(-2, sem:balance())
      sem:release()
      sem:release()
      assert.equal(0, sem:balance())
      assert.is_true(sync.all_dead(gts))
      sem:release()
      assert.equal(1, sem:balance())
      assert.equal(1, sem:counter())
    end)

    it("tostring names it", function()
      assert.matches("Semaphore", tostring(green.Semaphore()))
      assert.matches("BoundedSemaphore", tostring(green.BoundedSemaphore()))
    end)
  end)

  describe("BoundedSemaphore", function()
    it("raises when released past its initial count", function()
      local sem = green.BoundedSemaphore(2)
      assert.has_error(function() sem:release() end)
      assert.equal(2, sem:counter())
      sem:acquire()
      sem:release()
      assert.has_error(function() sem:release() end)
      assert.equal(2, sem:counter())
    end)

    it("defaults to one permit", function()
      local sem = green.BoundedSemaphore()
      assert.equal(1, sem:counter())
      assert.has_error(function() sem:release() end)
    end)

    it("hands a release to a waiter like a Semaphore", function()
      local sem = green.BoundedSemaphore(1)
      sem:acquire()
      local gt, rec = sync.track(sem.acquire, sem)
      sync.settle()
      sem:release()
      gt:wait()
      assert.is_true(rec.values[1])
      assert.equal(0, sem:counter())
      sem:release()
      assert.has_error(function() sem:release() end)
    end)
  end)

  describe("guard", function()
    it("holds a permit until the scope ends", function()
      local sem = green.Semaphore(1)
      do
        local g <close> = sem:guard()
        assert.is_not_nil(g)
        assert.equal(0, sem:counter())
        assert.is_true(sem:locked())
      end
      assert.equal(1, sem:counter())
    end)

    it("releases even when the scope ends by an error", function()
      local sem = green.Semaphore(1)
      local myerr = {}
      local ok, err = pcall(function()
        local g <close> = sem:guard()
        assert(g)
        assert.equal(0, sem:counter())
        error(myerr)
      end)
      assert.is_false(ok)
      assert.is_true(rawequal(myerr, err))
      assert.equal(1, sem:counter())
    end)

    it("releases when the scope is left by return or break", function()
      local sem = green.Semaphore(1)
      local function f()
        local g <close> = sem:guard()
        return sem:counter()
      end
      assert.equal(0, f())
      assert.equal(1, sem:counter())
      for _ = 1, 3 do
        local g <close> = sem:guard()
        break
      end
      assert.equal(1, sem:counter())
    end)

    it("waits for a permit, in turn", function()
      local sem = green.Semaphore(1)
      local log = {}
      local gts = {}
      for i = 1, 3 do
        gts[i] = green.spawn(function()
          local g <close> = sem:guard()
          log[#log + 1] = "in" .. i
          green.sleep(0.002)
          log[#log + 1] = "out" .. i
        end)
      end
      assert.is_true(sync.all_dead(gts))
      assert.same({ "in1", "out1", "in2", "out2", "in3", "out3" }, log)
      assert.equal(1, sem:counter())
    end)

    it("guard(timeout) returns nil when it times out, holding nothing", function()
      local sem = green.Semaphore(0)
      local dt, r = helpers.timed(function()
        local g <close> = sem:guard(0.02)
        return g
      end)
      assert.is_nil(r[1])
      assert.is_true(dt >= 0.02 - 0.002)
      assert.equal(0, sem:counter())
      assert.equal(0, sem:balance())
    end)

    it("guard(timeout) returns a guard when a permit comes in time", function()
      local sem = green.Semaphore(0)
      green.spawn(function() green.sleep(0.01); sem:release() end)
      do
        local g <close> = sem:guard(0.5)
        assert.is_not_nil(g)
        assert.equal(0, sem:counter())
      end
      assert.equal(1, sem:counter())
    end)

    it("works on a BoundedSemaphore without over-releasing", function()
      local sem = green.BoundedSemaphore(1)
      do
        local g <close> = sem:guard()
      end
      assert.equal(1, sem:counter())
      assert.has_error(function() sem:release() end)
    end)
  end)
end)
