-- green.Timeout and with_timeout (API.md, "Timeout").
local green = require "green"
local helpers = require "spec.helpers"

local pack = table.pack

describe("Timeout", function()

  describe("firing", function()
    it("is started at once and raises the Timeout itself at the suspension point", function()
      local t = green.Timeout(0.03)
      assert.is_true(t:pending())
      local reached = false
      local dt, r = helpers.timed(pcall, function()
        green.sleep(5)
        reached = true
      end)
      assert.is_false(r[1])
      assert.is_true(rawequal(t, r[2]))
      assert.is_false(reached)
      assert.is_true(dt >= 0.03 - 0.002 and dt < 1, "fired after " .. dt)
      assert.is_false(t:pending())
    end)

    it("counts from its creation, not from the wait", function()
      local t = green.Timeout(0.4)
      finally(function() t:cancel() end)
      green.sleep(0.2)                         -- does not fire yet (0.2 s to spare)
      -- due 0.1 s after the Timeout counted from its creation, and before
      -- one counted from the wait below: timers fire in deadline order
      local later = false
      local marker = green.spawn_after(0.3, function() later = true end)
      finally(function() marker:cancel() end)
      local ok, err = pcall(green.sleep, 5)
      assert.is_false(ok)
      assert.is_true(rawequal(t, err))
      assert.is_false(later, "the Timeout fired after a timer due later than its own deadline")
    end)

    it("raises a custom error instead, when given one", function()
      local e = { reason = "too slow" }
      local t = green.Timeout(0.01, e)
      local ok, err = pcall(green.sleep, 0.2)
      assert.is_false(ok)
      assert.is_true(rawequal(e, err))
      assert.is_false(green.is_timeout(err))
      assert.is_false(t:pending())

      green.Timeout(0.01, "string reason")
      ok, err = pcall(green.sleep, 0.2)
      assert.is_false(ok)
      assert.equal("string reason", err)
    end)

    it("is raised only in the thread that created it", function()
      local inside
      local gt = green.spawn(function()
        local t = green.Timeout(0.02)
        local ok, err = pcall(green.sleep, 0.2)
        inside = { ok = ok, mine = rawequal(t, err) }
      end)
      local dt = helpers.timed(green.sleep, 0.06)   -- main is not interrupted
      assert.is_true(dt >= 0.06 - 0.002)
      gt:wait()
      assert.is_false(inside.ok)
      assert.is_true(inside.mine)
    end)

    it("a Timeout created in main leaves other threads' waits alone", function()
      local other_done = false
      local gt = green.spawn(function() green.sleep(0.05) other_done = true end)
      local t = green.Timeout(0.01)
      local ok, err = pcall(green.sleep, 0.2)
      assert.is_false(ok)
      assert.is_true(rawequal(t, err))
      gt:wait()
      assert.is_true(other_done)
    end)

    it("takes a sleeping thread out of its sleep: no timer is left behind", function()
      local base = green.stats().timers
      green.Timeout(0.01)
      assert.equal(base + 1, green.stats().timers)
      local ok = pcall(green.sleep, 5)
      assert.is_false(ok)
      assert.equal(base, green.stats().timers)
    end)

    it("still fires when nobody holds it", function()
      green.Timeout(0.02)
      collectgarbage()
      collectgarbage()
      local ok, err = pcall(green.sleep, 0.2)
      assert.is_false(ok)
      assert.is_true(green.is_timeout(err))
    end)

    it("reaches a busy thread at its next suspension, sleep(0) included", function()
      local t = green.Timeout(0.01)
      finally(function() t:cancel() end)
      -- busy well past the deadline: the hub reads a coarse clock
      local deadline = green.now() + 0.12
      local spins = 0
      while green.now() < deadline and spins < 1e8 do spins = spins + 1 end  -- busy, no yield
      -- it expired while we were running: nothing was raised so far
      local ok, err = pcall(green.sleep, 0)
      assert.is_false(ok, "sleep(0) after expiry returned normally")
      assert.is_true(rawequal(t, err))
    end)

    it("reaches a busy thread at its next blocking wait, promptly", function()
      local t = green.Timeout(0.01)
      finally(function() t:cancel() end)
      local deadline = green.now() + 0.12
      local spins = 0
      while green.now() < deadline and spins < 1e8 do spins = spins + 1 end
      local dt, r = helpers.timed(pcall, green.sleep, 5)
      assert.is_false(r[1])
      assert.is_true(rawequal(t, r[2]))
      assert.is_true(dt < 1, "took " .. dt)     -- not at the end of the sleep
    end)

    it("whose thread has ended fires harmlessly", function()
      local gt = green.spawn(function()
        green.Timeout(0.01)
        return "left early"
      end)
      assert.equal("left early", gt:wait())
      green.sleep(0.03)
      assert.is_true(gt:dead())
      local other = green.spawn(function() green.sleep(0.01) return "ok" end)
      assert.equal("ok", other:wait())
    end)

    it("interrupting gt:wait() leaves the waited thread consistent", function()
      local slow = green.spawn(function()
        green.sleep(0.08)
        return "slow result"
      end)
      local t = green.Timeout(0.02)
      local ok, err = pcall(slow.wait, slow)
      assert.is_false(ok)
      assert.is_true(rawequal(t, err))
      assert.is_false(slow:dead())

      -- another joiner still gets the result
      local other
      local joiner = green.spawn(function() other = slow:wait() end)
      -- and the timed-out thread is no longer a joiner: this sleep lasts its
      -- full length even though `slow` ends in the middle of it
      local dt = helpers.timed(green.sleep, 0.12)
      assert.is_true(dt >= 0.12 - 0.002, "sleep cut short after " .. dt)
      assert.is_true(slow:dead())
      joiner:wait()
      assert.equal("slow result", other)
      assert.equal("slow result", slow:wait())
    end)
  end)

  describe("is_timeout", function()
    it("tells a Timeout from other values, and one Timeout from another", function()
      local a = green.Timeout(0.01)
      local b = green.Timeout(1)
      finally(function() b:cancel() end)
      local _, err = pcall(green.sleep, 0.2)
      assert.is_true(green.is_timeout(err))
      assert.is_true(green.is_timeout(err, a))
      assert.is_false(green.is_timeout(err, b))
      assert.is_true(green.is_timeout(b))
      assert.is_false(green.is_timeout("Timeout: 1 second"))
      assert.is_false(green.is_timeout({}))
      assert.is_false(green.is_timeout(nil))
      assert.is_false(green.is_timeout(green.GreenThreadExit))
      assert.is_false(green.is_timeout({}, a))
    end)
  end)

  describe("control", function()
    it("seconds = nil never fires and is never pending", function()
      local t = green.Timeout(nil)
      assert.is_false(t:pending())
      local t2 = green.Timeout()
      assert.is_false(t2:pending())
      green.sleep(0.03)
      t:start()
      assert.is_false(t:pending())
      green.sleep(0.02)
      assert.is_false(t:pending())
    end)

    it("cancel() disarms it: it never fires", function()
      local t = green.Timeout(0.02)
      assert.is_true(t:pending())
      t:cancel()
      assert.is_false(t:pending())
      green.sleep(0.05)
      t:cancel()                  -- twice is fine
      assert.is_false(t:pending())
    end)

    it("pending() is true while armed, false once fired", function()
      local t = green.Timeout(0.01)
      assert.is_true(t:pending())
      pcall(green.sleep, 0.2)
      assert.is_false(t:pending())
    end)

    it("start() re-arms a fired or cancelled Timeout", function()
      local t = green.Timeout(0.01)
      pcall(green.sleep, 0.2)
      t:start()
      assert.is_true(t:pending())
      local ok, err = pcall(green.sleep, 0.2)
      assert.is_false(ok)
      assert.is_true(rawequal(t, err))

      t:cancel()
      t:start()
      assert.is_true(t:pending())
      ok, err = pcall(green.sleep, 0.2)
      assert.is_false(ok)
      assert.is_true(rawequal(t, err))
    end)

    it("start() on a pending Timeout counts again from now", function()
      local t = green.Timeout(0.35)
      finally(function() t:cancel() end)
      green.sleep(0.2)             -- 0.15 s to spare
      t:start()
      -- 0.4 s since creation, past the first deadline; 0.2 since start. A
      -- Timeout still armed for the first deadline fires in this sleep (it
      -- is due first), and the sleep raises it.
      green.sleep(0.2)
      assert.is_true(t:pending())
      local dt, r = helpers.timed(pcall, green.sleep, 5)
      assert.is_false(r[1])
      assert.is_true(rawequal(t, r[2]))
      assert.is_true(dt < 1, "fired after " .. dt)
    end)

    it("<close> cancels it on scope exit", function()
      do
        local t <close> = green.Timeout(0.02)
        assert.is_true(t:pending())
      end
      green.sleep(0.05)            -- would have fired here
      local escaped
      local ok = pcall(function()
        local t <close> = green.Timeout(0.02)
        escaped = t
        error("leaving by error")
      end)
      assert.is_false(ok)
      assert.is_false(escaped:pending())
      green.sleep(0.05)
    end)

    it("tostring reads like 'Timeout: 2 seconds'", function()
      local t = green.Timeout(2)
      finally(function() t:cancel() end)
      assert.matches("^Timeout: 2 seconds", tostring(t))
      local h = green.Timeout(0.5)
      h:cancel()
      assert.matches("^Timeout: 0%.5 seconds", tostring(h))
    end)
  end)

  describe("with_timeout", function()
    it("returns fn's results, nils included, and passes its arguments", function()
      local r = pack(green.with_timeout(0.5, function(a, b)
        green.sleep(0.005)
        return a, nil, b
      end, "x", "y"))
      assert.equal(3, r.n)
      assert.equal("x", r[1])
      assert.is_nil(r[2])
      assert.equal("y", r[3])
    end)

    it("raises the Timeout when fn takes too long", function()
      local reached = false
      local dt, r = helpers.timed(pcall, green.with_timeout, 0.02, function()
        green.sleep(5)
        reached = true
      end)
      assert.is_false(r[1])
      assert.is_true(green.is_timeout(r[2]))
      assert.is_false(reached)
      assert.is_true(dt < 1, "took " .. dt)
    end)

    it("leaves nothing armed once fn returned or raised", function()
      local base = green.stats().timers
      green.with_timeout(0.02, function() return 1 end)
      assert.equal(base, green.stats().timers)
      local e = {}
      local ok, err = pcall(green.with_timeout, 0.02, function() error(e) end)
      assert.is_false(ok)
      assert.is_true(rawequal(e, err))
      assert.equal(base, green.stats().timers)
      green.sleep(0.05)            -- nothing fires late
    end)
  end)

  describe("nesting", function()
    it("an inner Timeout expiring is told apart from the pending outer one", function()
      local outer = green.Timeout(0.5)
      finally(function() outer:cancel() end)
      local inner = green.Timeout(0.02)
      local ok, err = pcall(green.sleep, 0.2)
      assert.is_false(ok)
      assert.is_true(green.is_timeout(err, inner))
      assert.is_false(green.is_timeout(err, outer))
      assert.is_true(outer:pending())
    end)

    it("the outer one firing while the inner is pending raises the outer one", function()
      local outer = green.Timeout(0.02)
      local inner = green.Timeout(0.5)
      finally(function() inner:cancel() end)
      local ok, err = pcall(green.sleep, 0.2)
      assert.is_false(ok)
      assert.is_true(green.is_timeout(err, outer))
      assert.is_false(green.is_timeout(err, inner))
      assert.is_true(inner:pending())          -- it did not fire in the outer one's place
    end)

    it("an inner scope that catches its own timeout does not swallow the outer one", function()
      local caught_inner = false
      local ok, err = pcall(green.with_timeout, 0.06, function()
        local inner = green.Timeout(0.02)
        local ok2, err2 = pcall(green.sleep, 0.2)
        if not ok2 and green.is_timeout(err2, inner) then caught_inner = true end
        green.sleep(0.2)                         -- now the outer one fires
        return "not reached"
      end)
      assert.is_true(caught_inner)
      assert.is_false(ok)
      assert.is_true(green.is_timeout(err))
    end)

    it("nested with_timeout: the outer expiry is the outer Timeout", function()
      local outer_t
      local ok, err = pcall(function()
        local t <close> = green.Timeout(0.02)
        outer_t = t
        return green.with_timeout(0.5, green.sleep, 0.2)
      end)
      assert.is_false(ok)
      assert.is_true(green.is_timeout(err, outer_t))
      green.sleep(0.01)
    end)
  end)
end)
