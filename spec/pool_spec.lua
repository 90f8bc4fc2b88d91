-- green.GreenPool and green.GreenPile (API.md, "Pools").
local green = require "green"
local helpers = require "spec.helpers"
local sync = require "spec.sync_helpers"

local pack = table.pack

-- A job function that counts how many run at once: { now, most, started }.
local function meter()
  local m = { now = 0, most = 0, started = 0, finished = 0 }
  function m.job(seconds, ...)
    m.started = m.started + 1
    m.now = m.now + 1
    if m.now > m.most then m.most = m.now end
    green.sleep(seconds or 0.005)
    m.now = m.now - 1
    m.finished = m.finished + 1
    return ...
  end
  return m
end

describe("GreenPool", function()

  it("is reachable as green.GreenPool and through require 'green.pool'", function()
    local m = require "green.pool"
    assert.equal(green.GreenPool, m.GreenPool)
    assert.equal(green.GreenPile, m.GreenPile)
  end)

  describe("spawn", function()
    it("returns a GreenThread whose wait gives the results", function()
      local pool = green.GreenPool(2)
      local gt = pool:spawn(function(a, b) return a + b, "two" end, 1, 2)
      assert.matches("GreenThread", tostring(gt))
      assert.same({ n = 2, 3, "two" }, pack(gt:wait()))
    end)

    it("never runs more than size at once; spawn waits for a free slot", function()
      local pool = green.GreenPool(3)
      local m = meter()
      local gts = {}
      for i = 1, 12 do gts[i] = pool:spawn(m.job, 0.004) end
      -- by the time the last spawn returned, the first jobs had to finish
      assert.is_true(m.finished >= 12 - 3)
      pool:waitall()
      assert.equal(12, m.finished)
      assert.equal(3, m.most)
      assert.is_true(sync.all_dead(gts))
    end)

    it("spawn blocks the caller while the pool is full", function()
      local pool = green.GreenPool(1)
      local gate = green.Event()
      pool:spawn(gate.wait, gate)
      local spawned = false
      local spawner = green.spawn(function() pool:spawn(function() end); spawned = true end)
      green.sleep(0.02)
      assert.is_false(spawned)
      assert.equal(1, pool:waiting())
      gate:send()
      spawner:wait()
      assert.is_true(spawned)
      pool:waitall()
    end)

    it("spawners waiting for a slot get it in arrival order", function()
      local pool = green.GreenPool(1)
      local gate = green.Event()
      pool:spawn(gate.wait, gate)
      local order = {}
      local spawners = {}
      for i = 1, 4 do
        spawners[i] = green.spawn(function()
          pool:spawn(function() order[#order + 1] = i end)
        end)
      end
      sync.settle()
      assert.equal(4, pool:waiting())
      gate:send()
      assert.is_true(sync.all_dead(spawners))
      pool:waitall()
      assert.same({ 1, 2, 3, 4 }, order)
    end)

    it("the default size is 1000", function()
      local pool = green.GreenPool()
      assert.equal(1000, pool:free())
      assert.equal(0, pool:running())
      -- the members wait on a gate, so none can end while the 1001st spawn
      -- is checked, however slow the machine
      local gate = green.Event()
      local now, most = 0, 0
      local function member()
        now = now + 1
        if now > most then most = now end
        gate:wait()
        now = now - 1
      end
      for _ = 1, 1000 do pool:spawn(member) end
      assert.equal(1000, pool:running())
      assert.equal(0, pool:free())
      local _, rec = sync.track(function() pool:spawn(function() end) end)
      sync.settle(2)
      assert.is_false(rec.done)         -- the 1001st waits
      assert.equal(1, pool:waiting())
      gate:send()
      pool:waitall()
      assert.is_true(helpers.wait_until(function() return rec.done end))
      pool:waitall()
      assert.equal(1000, most)
    end)

    it("rejects a bad size and a non-function", function()
      assert.has_error(function() green.GreenPool(-1) end)
      assert.has_error(function() green.GreenPool(1.5) end)
      local pool = green.GreenPool(2)
      assert.has_error(function() pool:spawn(42) end)
      assert.has_error(function() pool:spawn_n(nil) end)
      assert.equal(2, pool:free())
      assert.equal(0, pool:running())
    end)

    it("a job that raises frees its slot", function()
      local pool = green.GreenPool(1)
      local myerr = {}
      local gt = pool:spawn(function() error(myerr) end)
      local ok, err = pcall(gt.wait, gt)
      assert.is_false(ok)
      assert.is_true(rawequal(myerr, err))
      assert.equal(1, pool:free())
      assert.equal(0, pool:running())
      assert.equal("fine", pool:spawn(function() return "fine" end):wait())
    end)

    it("a killed member frees its slot, even one killed before it started", function()
      local pool = green.GreenPool(1)
      local gt = pool:spawn(green.sleep, 1)
      gt:kill()
      assert.equal(1, pool:free())
      local never = pool:spawn(function() error("must not run") end)
      never:kill()
      assert.is_true(never:dead())
      assert.equal(1, pool:free())
      assert.equal(0, pool:running())
      pool:waitall()
    end)

    it("a member spawning into its own full pool runs inline and does not deadlock", function()
      local pool = green.GreenPool(1)
      local inner_ran = false
      local outer = pool:spawn(function()
        local gt = pool:spawn(function(x) inner_ran = true; return x * 2 end, 21)
        assert(inner_ran, "ran inline")
        return gt:wait()
      end)
      assert.equal(42, outer:wait())
      assert.is_true(inner_ran)
      assert.equal(1, pool:free())
      pool:waitall()
    end)

    it("a member spawning into its own pool with a free slot spawns normally", function()
      local pool = green.GreenPool(2)
      local gate = green.Event()
      local inner
      local outer = pool:spawn(function()
        inner = pool:spawn(function() gate:wait(); return "inner" end)
        return "outer"
      end)
      assert.equal("outer", outer:wait())
      assert.is_false(inner:dead())
      gate:send()
      assert.equal("inner", inner:wait())
      pool:waitall()
    end)
  end)

  describe("spawn_n", function()
    it("runs fn with its arguments, returns nothing, and respects the size", function()
      local pool = green.GreenPool(2)
      local m = meter()
      local got = {}
      for i = 1, 6 do
        local r = pack(pool:spawn_n(function(x) m.job(0.003); got[#got + 1] = x end, i))
        assert.equal(0, r.n)
      end
      pool:waitall()
      table.sort(got)
      assert.same({ 1, 2, 3, 4, 5, 6 }, got)
      assert.equal(2, m.most)
    end)
  end)

  describe("waitall", function()
    it("waits for every member and returns at once when idle", function()
      local pool = green.GreenPool(5)
      assert.equal(0, (helpers.switches(pool.waitall, pool)))
      local done = 0
      for i = 1, 5 do pool:spawn(function() green.sleep(0.002 * i); done = done + 1 end) end
      pool:waitall()
      assert.equal(5, done)
      assert.equal(0, pool:running())
    end)

    it("several threads may wait for the pool at once", function()
      local pool = green.GreenPool(2)
      local gate = green.Event()
      pool:spawn(gate.wait, gate)
      local waited = 0
      local gts = {}
      for i = 1, 3 do gts[i] = green.spawn(function() pool:waitall(); waited = waited + 1 end) end
      sync.settle()
      assert.equal(0, waited)
      gate:send()
      assert.is_true(sync.all_dead(gts))
      assert.equal(3, waited)
    end)
  end)

  describe("introspection", function()
    it("running, free and waiting follow the members and spawners", function()
      local pool = green.GreenPool(2)
      local gate = green.Event()
      assert.equal(0, pool:running())
      assert.equal(2, pool:free())
      assert.equal(0, pool:waiting())
      pool:spawn(gate.wait, gate)
      assert.equal(1, pool:running())
      assert.equal(1, pool:free())
      pool:spawn(gate.wait, gate)
      assert.equal(2, pool:running())
      assert.equal(0, pool:free())
      local spawners = {}
      for i = 1, 2 do spawners[i] = green.spawn(function() pool:spawn(function() end) end) end
      sync.settle()
      assert.equal(2, pool:waiting())
      assert.equal(0, pool:free())
      gate:send()
      assert.is_true(sync.all_dead(spawners))
      pool:waitall()
      assert.equal(0, pool:running())
      assert.equal(2, pool:free())
      assert.equal(0, pool:waiting())
      assert.matches("GreenPool", tostring(pool))
    end)
  end)

  describe("resize", function()
    it("growing lets waiting spawners proceed at once", function()
      local pool = green.GreenPool(1)
      local gate = green.Event()
      pool:spawn(gate.wait, gate)
      local spawned = {}
      local spawners = {}
      for i = 1, 3 do
        spawners[i] = green.spawn(function() pool:spawn(gate.wait, gate); spawned[#spawned + 1] = i end)
      end
      sync.settle()
      assert.equal(3, pool:waiting())
      pool:resize(3)
      sync.settle()
      assert.same({ 1, 2 }, spawned)
      assert.equal(3, pool:running())
      assert.equal(1, pool:waiting())
      pool:resize(4)
      sync.settle()
      assert.same({ 1, 2, 3 }, spawned)
      gate:send()
      pool:waitall()
      assert.equal(4, pool:free())
    end)

    it("shrinking never interrupts members, and no more than the new size run afterwards", function()
      local pool = green.GreenPool(4)
      local gate = green.Event()
      local running, most_after = 0, 0
      local function job(wait_gate)
        running = running + 1
        if wait_gate then gate:wait() else green.sleep(0.003) end
        running = running - 1
      end
      for _ = 1, 4 do pool:spawn(job, true) end
      sync.settle()
      assert.equal(4, running)
      pool:resize(2)
      assert.equal(4, pool:running())
      assert.equal(0, pool:free())
      local spawner = green.spawn(function()
        for _ = 1, 8 do
          pool:spawn(function()
            if running + 1 > most_after then most_after = running + 1 end
            job(false)
          end)
        end
      end)
      sync.settle()
      assert.equal(0, most_after)      -- still 4 members: nothing new starts
      gate:send()
      spawner:wait()
      pool:waitall()
      assert.is_true(most_after >= 1)
      assert.is_true(most_after <= 2, "ran " .. most_after .. " at once")
      assert.equal(2, pool:free())
    end)

    it("shrinking with free slots takes them away", function()
      local pool = green.GreenPool(5)
      pool:resize(2)
      assert.equal(2, pool:free())
      local m = meter()
      for _ = 1, 6 do pool:spawn(m.job, 0.003) end
      pool:waitall()
      assert.equal(2, m.most)
    end)

    it("shrinking then growing again restores the slots", function()
      local pool = green.GreenPool(3)
      local gate = green.Event()
      for _ = 1, 3 do pool:spawn(gate.wait, gate) end
      pool:resize(1)
      pool:resize(3)
      gate:send()
      pool:waitall()
      assert.equal(3, pool:free())
      local m = meter()
      for _ = 1, 6 do pool:spawn(m.job, 0.003) end
      pool:waitall()
      assert.equal(3, m.most)
    end)
  end)

  describe("imap", function()
    it("gives i and the results in input order", function()
      local pool = green.GreenPool(4)
      local seen = {}
      for i, v, sq in pool:imap(function(x) return x, x * x end, { 1, 2, 3, 4, 5 }) do
        seen[#seen + 1] = { i, v, sq }
      end
      assert.same({ { 1, 1, 1 }, { 2, 2, 4 }, { 3, 3, 9 }, { 4, 4, 16 }, { 5, 5, 25 } }, seen)
      pool:waitall()
    end)

    it("results that arrive out of order still come in input order", function()
      local pool = green.GreenPool(10)
      local finish_order = {}
      local out = {}
      local input = { 5, 4, 3, 2, 1 }
      for i, v in pool:imap(function(x)
        green.sleep(0.004 * x)
        finish_order[#finish_order + 1] = x
        return x * 10
      end, input) do
        out[#out + 1] = { i, v }
      end
      assert.same({ 1, 2, 3, 4, 5 }, finish_order)
      assert.same({ { 1, 50 }, { 2, 40 }, { 3, 30 }, { 4, 20 }, { 5, 10 } }, out)
    end)

    it("runs at most size calls at once", function()
      local pool = green.GreenPool(2)
      local m = meter()
      local input = {}
      for i = 1, 8 do input[i] = i end
      local count = 0
      for _, v in pool:imap(function(x) return m.job(0.003, x) end, input) do
        count = count + 1
        assert.equal(count, v)
      end
      assert.equal(8, count)
      assert.equal(2, m.most)
    end)

    it("a nil result is safe: the index goes on", function()
      local pool = green.GreenPool(3)
      local out = {}
      for i, v in pool:imap(function(x) if x % 2 == 0 then return nil end return x end, { 1, 2, 3, 4, 5 }) do
        out[i] = v == nil and "nil" or v
      end
      assert.same({ 1, "nil", 3, "nil", 5 }, out)
    end)

    it("zips several arrays, stopping at the shortest", function()
      local pool = green.GreenPool(3)
      local out = {}
      for i, v in pool:imap(function(a, b) return a .. b end, { "a", "b", "c", "d" }, { 1, 2, 3 }) do
        out[i] = v
      end
      assert.same({ "a1", "b2", "c3" }, out)
      out = {}
      for i, v in pool:imap(function(a, b, c) return a + b + c end, { 1, 2 }, { 10, 20, 30 }, { 100, 200, 300 }) do
        out[i] = v
      end
      assert.same({ 111, 222 }, out)
    end)

    it("an empty array runs nothing", function()
      local pool = green.GreenPool(3)
      local ran = 0
      for _ in pool:imap(function() ran = ran + 1 end, {}) do ran = ran + 100 end
      assert.equal(0, ran)
      for _ in pool:imap(function() ran = ran + 1 end, { 1, 2 }, {}) do ran = ran + 100 end
      assert.equal(0, ran)
    end)

    it("an error in fn is raised when its result is reached; earlier results are delivered", function()
      local pool = green.GreenPool(4)
      local myerr = { bad = 3 }
      local got = {}
      local ok, err = pcall(function()
        for i, v in pool:imap(function(x)
          if x == 3 then error(myerr) end
          green.sleep(0.002 * x)
          return x
        end, { 1, 2, 3, 4, 5 }) do
          got[#got + 1] = { i, v }
        end
      end)
      assert.is_false(ok)
      assert.is_true(rawequal(myerr, err))
      assert.same({ { 1, 1 }, { 2, 2 } }, got)
      pool:waitall()
      assert.equal(4, pool:free())
    end)

    it("breaking out early does not hang and no more jobs start after a moment", function()
      local pool = green.GreenPool(2)
      local started = 0
      local input = {}
      for i = 1, 200 do input[i] = i end
      local got = 0
      local dt = helpers.timed(function()
        for _, v in pool:imap(function(x) started = started + 1; green.sleep(0.002); return x end, input) do
          got = got + 1
          if v == 3 then break end
        end
      end)
      assert.equal(3, got)
      assert.is_true(dt < 0.5)
      green.sleep(0.03)
      local settled = started
      green.sleep(0.06)
      assert.equal(settled, started)
      assert.is_true(started < 20, "started " .. started)
      pool:waitall()
      assert.equal(2, pool:free())
      assert.equal(0, pool:waiting())
    end)

    it("killing the thread looping over imap stops the jobs too", function()
      local pool = green.GreenPool(2)
      local started = 0
      local input = {}
      for i = 1, 200 do input[i] = i end
      local consumer = green.spawn(function()
        for _ in pool:imap(function(x) started = started + 1; green.sleep(0.002); return x end, input) do end
      end)
      green.sleep(0.01)
      consumer:kill()
      assert.is_true(consumer:dead())
      green.sleep(0.03)
      local settled = started
      green.sleep(0.05)
      assert.equal(settled, started)
      assert.is_true(started < 50, "started " .. started)
      pool:waitall()
      assert.equal(2, pool:free())
    end)

    it("the pool stays usable after an imap was left early", function()
      local pool = green.GreenPool(1)
      for _ in pool:imap(function(x) return x end, { 1, 2, 3, 4 }) do break end
      local out = {}
      for i, v in pool:imap(function(x) return -x end, { 1, 2 }) do out[i] = v end
      assert.same({ -1, -2 }, out)
    end)

    it("rejects a non-function and non-table arguments", function()
      local pool = green.GreenPool(1)
      assert.has_error(function() pool:imap(42, { 1 }) end)
      assert.has_error(function() pool:imap(print, 42) end)
      assert.has_error(function() pool:starmap(print, "x") end)
    end)
  end)

  describe("starmap", function()
    it("unpacks each argument list, results in order", function()
      local pool = green.GreenPool(3)
      local out = {}
      for i, v in pool:starmap(function(a, b) green.sleep(0.002 * (4 - a)); return a * b end,
                               { { 1, 2 }, { 3, 4 }, { 5, 6 } }) do
        out[#out + 1] = { i, v }
      end
      assert.same({ { 1, 2 }, { 2, 12 }, { 3, 30 } }, out)
    end)

    it("passes nils in a packed argument list", function()
      local pool = green.GreenPool(2)
      local seen
      for _, n in pool:starmap(function(...) seen = pack(...); return seen.n end,
                               { table.pack(1, nil, 3, nil) }) do
        assert.equal(4, n)
      end
      assert.equal(4, seen.n)
      assert.equal(3, seen[3])
    end)
  end)
end)

describe("GreenPile", function()

  it("gives results in spawn order, whatever order they finish in", function()
    local pile = green.GreenPile(10)
    for i = 1, 5 do
      pile:spawn(function(x) green.sleep(0.003 * (6 - x)); return x, x * 2 end, i)
    end
    local out = {}
    for i, a, b in pile:results() do out[#out + 1] = { i, a, b } end
    assert.same({ { 1, 1, 2 }, { 2, 2, 4 }, { 3, 3, 6 }, { 4, 4, 8 }, { 5, 5, 10 } }, out)
  end)

  it("next gives the next job's results and raises when nothing is pending", function()
    local pile = green.GreenPile()
    pile:spawn(function() return "one" end)
    pile:spawn(function() return "two", 2 end)
    assert.equal("one", pile:next())
    assert.same({ n = 2, "two", 2 }, pack(pile:next()))
    assert.has_error(function() pile:next() end)
    local fresh = green.GreenPile()
    assert.has_error(function() fresh:next() end)
  end)

  it("next re-raises the job's error with its identity, and goes on", function()
    local pile = green.GreenPile(2)
    local myerr = {}
    pile:spawn(function() error(myerr) end)
    pile:spawn(function() return "after" end)
    local ok, err = pcall(pile.next, pile)
    assert.is_false(ok)
    assert.is_true(rawequal(myerr, err))
    assert.equal("after", pile:next())
  end)

  it("a nil result does not end the results loop", function()
    local pile = green.GreenPile(3)
    pile:spawn(function() return 1 end)
    pile:spawn(function() return nil end)
    pile:spawn(function() return 3 end)
    local count = 0
    for i, v in pile:results() do
      count = count + 1
      assert.equal(i, count)
      if i == 2 then assert.is_nil(v) else assert.equal(i, v) end
    end
    assert.equal(3, count)
  end)

  it("limits concurrency by its size and shares a pool when given one", function()
    local pile = green.GreenPile(2)
    local m = meter()
    for i = 1, 6 do pile:spawn(m.job, 0.003, i) end
    local out = {}
    for _, v in pile:results() do out[#out + 1] = v end
    assert.same({ 1, 2, 3, 4, 5, 6 }, out)
    assert.equal(2, m.most)

    local pool = green.GreenPool(3)
    local shared = green.GreenPile(pool)
    local gate = green.Event()
    shared:spawn(gate.wait, gate)
    assert.equal(1, pool:running())
    gate:send("done")
    assert.equal("done", shared:next())
    pool:waitall()
  end)

  it("a spawn that raises (bad argument) leaves no pending job", function()
    local pile = green.GreenPile(2)
    assert.has_error(function() pile:spawn(42) end)
    assert.has_error(function() pile:next() end)
    local count = 0
    for _ in pile:results() do count = count + 1 end
    assert.equal(0, count)
    pile:spawn(function() return "ok" end)
    assert.equal("ok", pile:next())
    assert.has_error(function() pile:next() end)
  end)

  it("a spawn killed while waiting for a slot leaves no pending job", function()
    local pile = green.GreenPile(1)
    local gate = green.Event()
    pile:spawn(function() gate:wait(); return "first" end)
    local ran_second = false
    local spawner = green.spawn(function()
      pile:spawn(function() ran_second = true; return "second" end)
    end)
    sync.settle()
    assert.equal(1, pile.pool:waiting())
    spawner:kill()
    assert.is_true(spawner:dead())
    assert.equal(0, pile.pool:waiting())
    gate:send()
    local out = {}
    for _, v in pile:results() do out[#out + 1] = v end
    assert.same({ "first" }, out)
    assert.has_error(function() pile:next() end)
    green.sleep(0.01)
    assert.is_false(ran_second)
    -- the slot was not lost
    pile:spawn(function() return "third" end)
    assert.equal("third", pile:next())
  end)

  it("a spawn interrupted by a Timeout while waiting for a slot leaves no pending job", function()
    local pile = green.GreenPile(1)
    local gate = green.Event()
    pile:spawn(function() gate:wait(); return "first" end)
    local t = green.Timeout(0.02)
    local ok, err = pcall(pile.spawn, pile, function() return "late" end)
    t:cancel()
    assert.is_false(ok)
    assert.is_true(rawequal(t, err))
    gate:send()
    local out = {}
    for _, v in pile:results() do out[#out + 1] = v end
    assert.same({ "first" }, out)
    assert.has_error(function() pile:next() end)
    pile:spawn(function() return "again" end)
    assert.equal("again", pile:next())
  end)

  it("tostring names it", function()
    assert.matches("GreenPile", tostring(green.GreenPile()))
  end)
end)
