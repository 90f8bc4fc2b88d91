-- Hardening of the synchronisation primitives (issue 8): queues, events,
-- semaphores, Timeout, WaitQueue, GreenPool/GreenPile, AsyncResult.
-- Each describe names the finding it pins; every case failed before its fix.
local green = require "green"
local helpers = require "spec.helpers"
local sync = require "spec.sync_helpers"

local Full, Empty = green.queue.Full, green.queue.Empty
local settle, spin, is_exit = sync.settle, sync.spin, sync.is_exit
-- WaitQueue (the Lua half's wait list) is reachable only through green.core
local WaitQueue = require("green.core").WaitQueue

-- Run `code` in a fresh greenlua (through a file: chunks keep their lines),
-- killed after `limit` seconds (default 10). Returns stdout, stderr, exit code.
local function run_script(code, limit)
  local path, out, err = os.tmpname(), os.tmpname(), os.tmpname()
  helpers.write(path, code)
  local cmd = ("timeout -k 2 %d '%s' '%s' >'%s' 2>'%s'"):format(limit or 10, helpers.greenlua(), path, out, err)
  local _, _, rc = os.execute(cmd)
  local function slurp(f)
    local h = io.open(f, "rb")
    local text = h and h:read("a") or ""
    if h then h:close() end
    os.remove(f)
    return text
  end
  os.remove(path)
  return slurp(out), slurp(err), rc
end

-- Items a queue holds, from its store and its waiting putters, sorted.
local function contents(q)
  local items = sync.drain(q)
  table.sort(items)
  return items
end

describe("hardening: sync", function()
  after_each(helpers.run_deferred)

  describe("a PriorityQueue whose less misbehaves loses nothing", function()
    -- less raises while `boom` is set
    local boom
    local function flaky(a, b)
      if boom then error("less failed", 0) end
      return a < b
    end
    before_each(function() boom = false end)

    -- a putter thread whose outcome is recorded
    local function putter(q, item)
      local rec = {}
      local gt = green.spawn(function() rec.ok, rec.err = pcall(q.put, q, item) end)
      return gt, rec
    end

    it("a get while a putter waits, less raising: the get raises, nothing moves", function()
      local q = green.PriorityQueue(3, flaky)
      for _, v in ipairs({ 3, 1, 2 }) do q:put(v) end
      local p, rec = putter(q, 4)
      settle()
      assert.equal(1, q:putting())
      boom = true
      local ok, err = pcall(q.get, q)
      assert.is_false(ok)
      assert.equal("less failed", err)
      assert.is_false(pcall(q.get_nowait, q))
      boom = false
      assert.equal(3, q:qsize())
      assert.equal(1, q:putting())   -- still waiting: no slot was freed
      assert.is_false(p:dead())
      assert.same({ 1, 2, 3, 4 }, { q:get(), q:get(), q:get(), q:get() })
      assert.is_true(sync.all_dead({ p }))
      assert.is_true(rec.ok)
    end)

    it("a putter granted a slot whose less raises: its put raises, its item is not in, the slot stays free", function()
      local q = green.PriorityQueue(2, flaky)
      q:put(3)
      q:put(1)
      local p, rec = putter(q, 2)
      settle()
      boom = true
      assert.equal(1, q:get())       -- no comparison needed: the slot goes to p
      assert.is_true(sync.all_dead({ p }))
      boom = false
      assert.is_false(rec.ok)
      assert.equal("less failed", rec.err)
      assert.equal(1, q:qsize())
      assert.is_false(q:full())
      q:put_nowait(0)
      assert.same({ 0, 3 }, contents(q))
    end)

    it("a resize that grants slots to putters, less raising in their puts", function()
      local q = green.PriorityQueue(1, flaky)
      q:put(1)
      local ps, recs = {}, {}
      for i = 2, 4 do ps[#ps + 1], recs[#recs + 1] = putter(q, i) end
      settle()
      assert.equal(3, q:putting())
      boom = true
      q:resize(10)                   -- grants, runs no less
      assert.is_true(sync.all_dead(ps))
      boom = false
      for _, rec in ipairs(recs) do
        assert.is_false(rec.ok)
        assert.equal("less failed", rec.err)
      end
      assert.same({ 1 }, contents(q))
    end)

    it("less that tries to block raises 'cannot block' in the put or get that ran it", function()
      local sleepy = false
      local q = green.PriorityQueue(3, function(a, b)
        if sleepy then green.sleep(0) end
        return a < b
      end)
      for _, v in ipairs({ 2, 1, 4 }) do q:put(v) end
      local p, rec = putter(q, 3)
      settle()
      sleepy = true
      local ok, err = pcall(q.get, q)
      assert.is_false(ok)
      assert.matches("cannot block", tostring(err))
      assert.equal(3, q:qsize())
      sleepy = false
      assert.equal(1, q:get())       -- the slot goes to p
      sleepy = true
      assert.is_true(sync.all_dead({ p }))
      sleepy = false
      assert.is_false(rec.ok)
      assert.matches("cannot block", tostring(rec.err))
      assert.same({ 2, 4 }, contents(q))
    end)

    it("less that takes from its own queue raises; each item ends up once", function()
      local taken = {}
      local nested = false
      local q
      q = green.PriorityQueue(nil, function(a, b)
        if nested then
          nested = false
          taken[#taken + 1] = q:get_nowait()
        end
        return a < b
      end)
      for _, v in ipairs({ 5, 3, 8, 1, 9, 2 }) do q:put(v) end
      nested = true
      local ok, err = pcall(q.get, q)
      assert.is_false(ok)
      assert.matches("less function changed the queue", err)
      nested = true
      assert.is_false(pcall(q.put, q, 7))
      local all = contents(q)
      for _, v in ipairs(taken) do all[#all + 1] = v end
      table.sort(all)
      assert.same({ 1, 2, 3, 5, 8, 9 }, all)
    end)

    it("less that kills a waiting putter: every item is in, or its put raised", function()
      local victim
      local q = green.PriorityQueue(3, function(a, b)
        if victim then
          local v = victim
          victim = nil
          pcall(v.kill, v)
        end
        return a < b
      end)
      for _, v in ipairs({ 1, 2, 5 }) do q:put(v) end
      local p1, r1 = putter(q, 3)
      local p2, r2 = putter(q, 4)
      settle()
      victim = p2
      assert.equal(1, q:get())       -- its less kills p2; the slot goes to p1
      assert.is_true(sync.all_dead({ p1, p2 }))
      assert.is_true(r1.ok)
      assert.is_false(r2.ok)
      assert.is_true(is_exit(r2.err))
      assert.equal(0, q:putting())
      assert.same({ 2, 3, 5 }, contents(q))
    end)

    it("a getter handed an item and killed before it runs gives it back though less raises", function()
      local q = green.PriorityQueue(nil, flaky)
      local rec = {}
      local getter = green.spawn(function() rec.ok, rec.err = pcall(q.get, q) end)
      settle()
      q:put(10)          -- handed to the getter, which has not run yet
      q:put(30)
      q:put(20)
      boom = true
      getter:kill()
      boom = false
      assert.is_true(getter:dead())
      assert.is_false(rec.ok)
      assert.is_true(is_exit(rec.err), tostring(rec.err))   -- the kill, not less's error
      assert.same({ 10, 20, 30 }, contents(q))
    end)

    it("the same with a Timeout", function()
      local q = green.PriorityQueue(nil, flaky)
      local rec = {}
      local getter = green.spawn(function()
        local t <close> = green.Timeout(0.1)
        rec.ok, rec.err = pcall(q.get, q)
        rec.timeout = t
      end)
      settle()
      q:put(10)
      q:put(30)
      q:put(20)
      boom = true
      spin(0.15)         -- the Timeout comes due before the getter runs
      green.sleep(0)
      assert.is_true(sync.all_dead({ getter }))
      boom = false
      assert.is_false(rec.ok)
      assert.is_true(rawequal(rec.timeout, rec.err), tostring(rec.err))
      assert.same({ 10, 20, 30 }, contents(q))
    end)

    it("the heap stays consistent through puts, gets, putters and resizes", function()
      local q = green.PriorityQueue(8)
      local model = {}
      local seed = 12345
      local function rand(n)
        seed = (seed * 1103515245 + 12345) % 2147483648
        return seed % n
      end
      local putters = {}
      for _ = 1, 400 do
        local r = rand(10)
        if r < 5 then
          local v = rand(1000)
          model[#model + 1] = v
          if q:full() then
            putters[#putters + 1] = green.spawn(function() q:put(v) end)
          else
            q:put_nowait(v)
          end
        elseif r < 9 and #model > 0 then
          table.sort(model)
          -- the lowest of what the store holds; putters' items join as room frees
          local got = q:get_nowait()
          for i, v in ipairs(model) do
            if v == got then table.remove(model, i) break end
          end
        else
          q:resize(4 + rand(12))
        end
        settle(1)
        -- the store is a heap: its items come out in order
      end
      q:resize(nil)
      settle()
      local out = {}
      for _ = 1, q:qsize() do out[#out + 1] = q:get_nowait() end
      for i = 2, #out do assert.is_true(out[i - 1] <= out[i]) end
      table.sort(model)
      assert.same(model, out)
      assert.is_true(sync.all_dead(putters))
    end)
  end)

  describe("a channel's put lets the waiting getter run first (eventlet's test_channel_send)", function()
    local kinds = {
      Queue = green.Queue, LightQueue = green.LightQueue,
      LifoQueue = green.LifoQueue, PriorityQueue = green.PriorityQueue,
    }
    for name, new in pairs(kinds) do
      it(name .. "(0): put", function()
        local channel = new(0)
        local events = {}
        local gt = green.spawn(function()
          table.insert(events, (channel:get()))
          table.insert(events, (channel:get()))
        end)
        events[#events + 1] = "sending"
        channel:put("hello")
        events[#events + 1] = "sent hello"
        channel:put("world")
        events[#events + 1] = "sent world"
        assert.same({ "sending", "hello", "sent hello", "world", "sent world" }, events)
        assert.is_true(sync.all_dead({ gt }))
      end)

      it(name .. "(0): put_nowait", function()
        local channel = new(0)
        local events = {}
        local gt = green.spawn(function() table.insert(events, (channel:get())) end)
        settle()
        channel:put_nowait("hello")
        events[#events + 1] = "sent hello"
        assert.same({ "hello", "sent hello" }, events)
        assert.is_true(sync.all_dead({ gt }))
      end)

      it(name .. "(1): put with a getter waiting does not yield", function()
        local q = new(1)
        local events = {}
        local gt = green.spawn(function() table.insert(events, (q:get())) end)
        settle()
        local s0 = green.stats().switches
        q:put("x")
        events[#events + 1] = "sent"
        assert.equal(s0, green.stats().switches)
        assert.same({ "sent" }, events)
        assert.is_true(sync.all_dead({ gt }))
        assert.same({ "sent", "x" }, events)
      end)
    end

    it("the put returns only after the getter ran", function()
      local channel = green.Queue(0)
      local events = {}
      local gt = green.spawn(function() table.insert(events, (channel:get())) end)
      settle()
      green.spawn(function() events[#events + 1] = "other" end)  -- ready before the getter
      channel:put("item")
      events[#events + 1] = "sent"
      assert.same({ "other", "item", "sent" }, events)
      assert.is_true(sync.all_dead({ gt }))
    end)

    it("where the caller cannot yield, put still hands the item over", function()
      local channel = green.Queue(0)
      local got
      local gt = green.spawn(function() got = channel:get() end)
      settle()
      -- a table.sort comparator cannot yield
      local t = { 2, 1 }
      local done = false
      table.sort(t, function(a, b)
        if not done then
          done = true
          channel:put("from sort")
        end
        return a < b
      end)
      assert.is_true(sync.all_dead({ gt }))
      assert.equal("from sort", got)
    end)

    it("a Timeout landing while the put lets the getter run: the item is delivered once", function()
      local channel = green.Queue(0)
      local got = {}
      local gt = green.spawn(function() got[#got + 1] = channel:get() end)
      settle()
      local rec = {}
      local putter = green.spawn(function()
        local t <close> = green.Timeout(0.1)
        spin(0.15)       -- due; it fires once the putter switches
        rec.ok, rec.err = pcall(channel.put, channel, "x")
        rec.t = t
      end)
      assert.is_true(sync.all_dead({ putter, gt }, 2))
      assert.same({ "x" }, got)
      -- the putter saw its Timeout (the hub raises it at the switch)
      assert.is_false(rec.ok)
      assert.is_true(rawequal(rec.t, rec.err))
      assert.equal(0, channel:getting())
      assert.equal(0, channel:putting())
      assert.is_true(rawequal(Empty, helpers.error_of(channel.get_nowait, channel)))
    end)
  end)

  describe("integral floats are integers; misuse errors name the function called", function()
    it("sizes and counts given as integral floats work", function()
      local pool = green.GreenPool(1e3)
      assert.equal(1000, pool:free())
      pool:resize(4.0)
      assert.equal(4, pool:free())
      assert.equal(2, green.Semaphore(2.0):counter())
      local b = green.BoundedSemaphore(3.0)
      assert.equal(3, b:counter())
      assert.is_true(b:acquire())
      b:release()
      assert.has_error(function() b:release() end)
      local q = green.Queue(10.0)
      for i = 1, 10 do q:put_nowait(i) end
      assert.is_true(q:full())
      q:resize(12.0)
      assert.is_false(q:full())
      q = green.Queue(2.0)
      q:put(1) q:put(2)
      assert.is_true(q:full())
      assert.equal(1, green.GreenPile(1.0).pool:free())
      assert.equal("GreenPool (0 running, 5 free, 0 waiting)", tostring(green.GreenPool("5")))
    end)

    -- the message of the error fn raised, without the position
    local function message(fn, ...)
      local ok, err = pcall(fn, ...)
      assert.is_false(ok, "did not raise")
      return (tostring(err):gsub("^[^:]*:%d+: ", ""))
    end
    local NOINT = "number has no integer representation"

    it("a non-integral number raises as luaL_checkinteger would, naming the function", function()
      assert.equal("bad argument #1 to 'GreenPool' (" .. NOINT .. ")", message(green.GreenPool, 2.5))
      assert.equal("bad argument #1 to 'GreenPile' (" .. NOINT .. ")", message(green.GreenPile, 2.5))
      assert.equal("bad argument #1 to 'Semaphore' (" .. NOINT .. ")", message(green.Semaphore, 2.5))
      assert.equal("bad argument #1 to 'BoundedSemaphore' (" .. NOINT .. ")",
        message(green.BoundedSemaphore, 0 / 0))
      assert.equal("bad argument #1 to 'Queue' (" .. NOINT .. ")", message(green.Queue, math.huge))
      assert.equal("bad argument #1 to 'LightQueue' (" .. NOINT .. ")", message(green.LightQueue, 1.5))
      assert.equal("bad argument #1 to 'LifoQueue' (" .. NOINT .. ")", message(green.LifoQueue, 1.5))
      assert.equal("bad argument #1 to 'PriorityQueue' (" .. NOINT .. ")",
        message(green.PriorityQueue, -1.5))
      local q, pool = green.Queue(), green.GreenPool(2)
      assert.equal("bad argument #1 to 'resize' (" .. NOINT .. ")", message(function() q:resize(2.5) end))
      assert.equal("bad argument #2 to 'resize' (" .. NOINT .. ")", message(q.resize, q, 2.5))
      assert.equal("bad argument #1 to 'resize' (" .. NOINT .. ")", message(function() pool:resize(2.5) end))
      assert.equal("bad argument #1 to 'GreenPool' (number expected, got table)", message(green.GreenPool, {}))
      assert.equal("bad argument #1 to 'Semaphore' (number expected, got boolean)", message(green.Semaphore, true))
      assert.equal("bad argument #1 to 'GreenPool' (must not be negative)", message(green.GreenPool, -1))
    end)

    it("called through pcall or from C, errors still name the function, never an internal path", function()
      local q, sem, evt = green.Queue(), green.Semaphore(), green.Event()
      local cases = {
        { "Queue", green.Queue, "x" }, { "Semaphore", green.Semaphore, "x" },
        { "put", q.put, q }, { "get", q.get, q, true, "soon" }, { "get", q.get, io.stdout },
        { "acquire", sem.acquire, q }, { "acquire", sem.acquire, sem, true, {} },
        { "wait", evt.wait, evt, "x" }, { "send", evt.send, sem }, { "resize", q.resize, q, 1.5 },
        { "join", q.join, green.LightQueue() }, { "task_done", q.task_done, sem },
        { "wait", WaitQueue().wait, q }, { "wake", WaitQueue().wake, {} },
      }
      for _, c in ipairs(cases) do
        local msg = message(c[2], table.unpack(c, 3))
        assert.equal(c[1], msg:match("^bad argument #%d+ to '([^']*)'"), msg)
      end
    end)
  end)

  describe("no loop is bounded by a user's number", function()
    it("GreenPool:resize to and from math.maxinteger returns at once", function()
      local out, err, rc = run_script([[
        local green = require "green"
        local pool = green.GreenPool(1)
        local gate = green.Event()
        pool:spawn(function() gate:wait() end)
        local waiting = green.spawn(function() pool:spawn(function() end) end)
        green.sleep(0)
        assert(pool:waiting() == 1)
        pool:resize(math.maxinteger)
        for _ = 1, 5 do green.sleep(0) end
        assert(waiting:dead() and pool:waiting() == 0 and pool:running() == 1)
        assert(pool:free() == math.maxinteger - 1, pool:free())
        pool:resize(0)
        assert(pool:free() == 0)
        gate:send()
        pool:waitall()
        assert(pool:free() == 0 and pool:running() == 0)
        pool:resize(2)
        assert(pool:free() == 2)
        local big = green.GreenPool(math.maxinteger)
        big:resize(0)
        big:resize(math.maxinteger)
        assert(big:free() == math.maxinteger)
        print("ok")
      ]])
      assert.equal("ok\n", out, err)
      assert.equal(0, rc)
    end)

    it("a Semaphore at math.maxinteger refuses a release instead of overflowing", function()
      local sem = green.Semaphore(math.maxinteger)
      local ok, err = pcall(sem.release, sem)
      assert.is_false(ok)
      assert.matches("overflow", err)
      assert.equal(math.maxinteger, sem:counter())
      assert.is_true(sem:acquire())
      sem:release()
      assert.equal(math.maxinteger, sem:counter())
      local b = green.BoundedSemaphore(math.maxinteger)
      assert.is_false(pcall(b.release, b))
      assert.equal(math.maxinteger, b:counter())
    end)

    it("queues take math.maxinteger and negative sizes", function()
      local q = green.Queue(math.maxinteger)
      for i = 1, 3 do q:put(i) end
      assert.is_false(q:full())
      q:resize(math.mininteger)      -- negative: unbounded
      assert.is_false(q:full())
      q:resize(1)
      assert.is_true(q:full())
      q:resize(math.maxinteger)
      assert.same({ 1, 2, 3 }, sync.drain(q))
      assert.has_error(function() green.Semaphore(-1) end)
      assert.has_error(function() green.Semaphore(math.mininteger) end)
      assert.has_error(function() green.GreenPool(-1) end)
      assert.has_error(function() green.GreenPool(4):resize(-1) end)
      for _, bad in ipairs({ 0 / 0, math.huge, -math.huge, 1e300 }) do
        assert.has_error(function() green.Queue(bad) end)
        assert.has_error(function() green.Semaphore(bad) end)
        assert.has_error(function() green.GreenPool(bad) end)
        assert.has_error(function() q:resize(bad) end)
      end
    end)

    it("a negative timeout expires at once, a NaN one raises, in every wait", function()
      local q, sem, evt, wq = green.Queue(), green.Semaphore(0), green.Event(), WaitQueue()
      local full = green.Queue(0)
      local tq = green.Queue()
      tq:put(1)
      local nan = 0 / 0
      assert.matches("NaN", helpers.error_of(q.get, q, true, nan))
      assert.matches("NaN", helpers.error_of(full.put, full, "x", true, nan))
      assert.matches("NaN", helpers.error_of(sem.acquire, sem, true, nan))
      assert.matches("NaN", helpers.error_of(evt.wait, evt, nan))
      assert.matches("NaN", helpers.error_of(wq.wait, wq, nan))
      assert.matches("NaN", helpers.error_of(tq.join, tq, nan))
      assert.matches("NaN", helpers.error_of(sem.guard, sem, nan))
      for _, t in ipairs({ -1, -math.huge, 0 }) do
        assert.is_true(rawequal(Empty, helpers.error_of(q.get, q, true, t)))
        assert.is_true(rawequal(Full, helpers.error_of(full.put, full, "x", true, t)))
        assert.is_false(sem:acquire(true, t))
        assert.equal(0, select("#", evt:wait(t)))
        assert.is_false(wq:wait(t))
        assert.is_false(tq:join(t))
        assert.is_nil(sem:guard(t))
      end
      assert.equal(0, full:putting())
      assert.equal(0, q:getting())
    end)

    it("an infinite timeout waits without arming a timer", function()
      local q, sem, evt, wq = green.Queue(), green.Semaphore(0), green.Event(), WaitQueue()
      local full = green.Queue(0)
      local tq = green.Queue()
      tq:put(1)
      local timers = green.stats().timers
      local results = {}
      local gts = {
        green.spawn(function() results.get = q:get(true, math.huge) end),
        green.spawn(function() full:put("x", true, math.huge); results.put = true end),
        green.spawn(function() results.acquire = sem:acquire(true, math.huge) end),
        green.spawn(function() results.wait = evt:wait(math.huge) end),
        green.spawn(function() results.wq = wq:wait(math.huge) end),
        green.spawn(function() results.join = tq:join(math.huge) end),
      }
      helpers.defer(function() helpers.killall(gts) end)
      settle()
      assert.equal(timers, green.stats().timers)
      q:put(1)
      assert.equal("x", full:get())
      sem:release()
      evt:send("v")
      wq:wake()
      tq:get()
      tq:task_done()
      assert.is_true(sync.all_dead(gts))
      assert.same({ get = 1, put = true, acquire = true, wait = "v", wq = true, join = true }, results)
    end)
  end)

  describe("Timeout: defined for every number, every method checks its argument", function()
    it("Timeout(math.huge) never fires and arms no timer", function()
      local timers = green.stats().timers
      local t <close> = green.Timeout(math.huge)
      assert.equal(timers, green.stats().timers)
      assert.is_false(t:pending())
      assert.equal(math.huge, t.seconds)
      assert.equal("Timeout: never", tostring(t))
      t:start()
      assert.is_false(t:pending())
      green.sleep(0.01)
    end)

    it("Timeout(1e300) is armed (the hub bounds its deadline) and prints sanely", function()
      local t <close> = green.Timeout(1e300)
      assert.is_true(t:pending())
      assert.equal(1e300, t.seconds)
      assert.equal("Timeout: 1e+300 seconds", tostring(t))
      green.sleep(0.01)
      t:cancel()
      assert.is_false(t:pending())
      local big <close> = green.Timeout(2 ^ 60)
      assert.equal("Timeout: 1.1529215046068e+18 seconds", tostring(big))
      local exact <close> = green.Timeout(2 ^ 53)
      assert.equal("Timeout: 9007199254740992 seconds", tostring(exact))
    end)

    it("negative seconds fire at the next block; NaN raises", function()
      assert.matches("bad argument #1 to 'Timeout' %(number expected, got NaN%)",
        helpers.error_of(green.Timeout, 0 / 0))
      for _, s in ipairs({ -1, -math.huge }) do
        local t <close> = green.Timeout(s)
        assert.equal(0, t.seconds)
        assert.equal("Timeout: 0 seconds", tostring(t))
        local ok, err = pcall(green.sleep, 1)
        assert.is_false(ok)
        assert.is_true(rawequal(t, err))
      end
      for s, text in pairs({ [1] = "Timeout: 1 second", [0.25] = "Timeout: 0.25 seconds" }) do
        local t <close> = green.Timeout(s)
        assert.equal(text, tostring(t))
      end
      assert.equal("Timeout: never", tostring(green.Timeout()))
    end)

    it("every method and metamethod raises, naming itself, on a wrong argument", function()
      local t <close> = green.Timeout(5)
      local mt = getmetatable(t)
      local methods = mt.__index(t, "start") and { "start", "cancel", "pending" }
      local bad = { io.stdout, green.Queue(), 1, "x", {}, true, print, coroutine.create(print) }
      for _, v in ipairs(bad) do
        for _, name in ipairs(methods) do
          local ok, err = pcall(t[name], v)
          assert.is_false(ok)
          assert.matches("bad argument #1 to '" .. name .. "' %(Timeout expected", err)
        end
        for _, name in ipairs({ "__tostring", "__index", "__close" }) do
          local ok, err = pcall(mt[name], v, "seconds")
          assert.is_false(ok)
          assert.matches("bad argument #1 to '" .. name .. "' %(Timeout expected", err)
        end
      end
      local ok, err = pcall(t.start)
      assert.is_false(ok)
      assert.matches("got no value", err)
      assert.is_true(t:pending())   -- none of it touched t
      assert.is_nil(t[1])
      assert.is_nil(t[true])
      assert.equal(5, t.seconds)
      for _, v in ipairs({ "x", {}, true }) do
        ok, err = pcall(green.Timeout, v)
        assert.is_false(ok)
        assert.matches("bad argument #1 to 'Timeout' %(number expected", err)
      end
      local three <close> = green.Timeout("3")
      assert.equal(3, three.seconds)
      assert.is_false(green.is_timeout(io.stdout))
      assert.is_false(green.is_timeout())
    end)
  end)

  describe("every function and metamethod checks its arguments", function()
    local Timeout = green.Timeout
    -- values nothing here takes as self
    local function bad_values()
      local list = {
        false, true, 0, -1, math.maxinteger, math.mininteger, math.huge, -math.huge, 0 / 0,
        2 ^ 63, "", ("x"):rep(1e6), {}, setmetatable({}, { __index = function() error("no") end }),
        print, function() end, coroutine.create(function() end), io.stdout,
        setmetatable({}, { __name = "Fake" }),
      }
      list.n = #list + 1
      list[list.n] = nil   -- and nil itself, last
      return list
    end

    -- kind -> constructor, and the kinds whose methods accept it
    local kinds = {
      Queue = function() return green.Queue(2) end,
      LightQueue = function() return green.LightQueue(2) end,
      LifoQueue = function() return green.LifoQueue(2) end,
      PriorityQueue = function() return green.PriorityQueue(2) end,
      Semaphore = function() return green.Semaphore(1) end,
      BoundedSemaphore = function() return green.BoundedSemaphore(1) end,
      Event = function() return green.Event() end,
      WaitQueue = function() return WaitQueue() end,
      Timeout = function() return Timeout(nil) end,
    }
    local family = {
      Queue = "queue", LightQueue = "queue", LifoQueue = "queue", PriorityQueue = "queue",
      Semaphore = "sem", BoundedSemaphore = "sem", Event = "event", WaitQueue = "wq", Timeout = "timeout",
    }

    -- every callable reachable from an object: its methods and metamethods
    local function callables(obj)
      local mt = getmetatable(obj)
      local list = {}
      for k, v in pairs(mt) do
        if type(v) == "function" then list[#list + 1] = { k, v } end
      end
      local index = mt.__index
      if type(index) == "table" then
        for k, v in pairs(index) do
          if type(v) == "function" then list[#list + 1] = { k, v } end
        end
      else
        for _, k in ipairs({ "start", "cancel", "pending" }) do list[#list + 1] = { k, obj[k] } end
      end
      table.sort(list, function(a, b) return a[1] < b[1] end)
      return list
    end

    it("a wrong self raises a Lua error naming the function, for every type", function()
      local checked = 0
      for kind, new in pairs(kinds) do
        local obj = new()
        local others = bad_values()
        for other, make in pairs(kinds) do
          if family[other] ~= family[kind] then others[#others + 1] = make() end
        end
        for _, entry in ipairs(callables(obj)) do
          local name, fn = entry[1], entry[2]
          if name ~= "guard" then   -- Lua, checked below
            for i = 1, others.n + 1 do
              local v = others[i]
              if i <= others.n or v ~= nil then
                local ok, err = pcall(fn, v, 1, 2)
                assert.is_false(ok, kind .. "." .. name .. " took " .. tostring(v))
                assert.equal(name, tostring(err):match("^bad argument #1 to '([^']*)'"),
                  kind .. "." .. name .. ": " .. tostring(err))
                checked = checked + 1
              end
            end
          end
        end
      end
      assert.is_true(checked > 1500, checked)
      -- task_done and join are a Queue's, not a LightQueue's
      local q, light = green.Queue(), green.LightQueue()
      for _, name in ipairs({ "task_done", "join" }) do
        local err = helpers.error_of(q[name], light)
        assert.matches("bad argument #1 to '" .. name .. "' %(Queue expected, got green.LightQueue%)", err)
      end
      for _, e in ipairs({ Full, Empty }) do
        local err = helpers.error_of(getmetatable(e).__tostring, 5)
        assert.matches("bad argument #1 to '__tostring' %(table expected, got number%)", err)
      end
    end)

    it("wrong values in the other arguments raise or are taken, never crash", function()
      local gts, calls = {}, 0
      for kind, new in pairs(kinds) do
        for _, entry in ipairs(callables(new())) do
          local name = entry[1]
          for pos = 2, 4 do
            local values = bad_values()
            for i = 1, values.n do
              local obj = new()
              local args = { obj, "item", false, 0 }
              args[pos] = values[i]
              calls = calls + 1
              gts[#gts + 1] = green.spawn(function()
                local t <close> = green.Timeout(0.05)
                pcall(obj[name] or getmetatable(obj)[name], table.unpack(args, 1, 4))
              end)
            end
          end
        end
      end
      settle(3)
      assert.is_true(sync.all_dead(gts, 5))
      assert.is_true(calls > 1000, calls)
    end)

    it("the Lua classes check self and arguments too, naming the method", function()
      local pool, pile, result = green.GreenPool(2), green.GreenPile(2), green.AsyncResult()
      local sem = green.Semaphore(1)
      local guard = sem:guard()
      local classes = {
        { pool, { "spawn", "spawn_n", "waitall", "running", "free", "waiting", "resize", "imap", "starmap", "__tostring" } },
        { pile, { "spawn", "next", "results", "__tostring" } },
        { result, { "set", "set_exception", "get", "ready", "successful", "__tostring" } },
        { guard, { "__close" } },
      }
      for _, c in ipairs(classes) do
        local mt = getmetatable(c[1])
        for _, name in ipairs(c[2]) do
          local fn = mt[name] or mt.__index[name]
          for _, v in ipairs({ io.stdout, {}, 1, "s", green.Queue(), pool, pile, result }) do
            if getmetatable(v) ~= mt then
              local err = helpers.error_of(fn, v, function() end)
              assert.equal(name, tostring(err):match("bad argument #1 to '([^']*)'"), name .. ": " .. tostring(err))
            end
          end
        end
      end
      local function msg(fn, ...) return tostring(helpers.error_of(fn, ...)) end
      assert.matches("bad argument #1 to 'spawn' %(function expected, got number%)", msg(pool.spawn, pool, 1))
      assert.matches("bad argument #1 to 'spawn_n' %(function expected, got table%)", msg(pool.spawn_n, pool, {}))
      assert.matches("bad argument #1 to 'spawn' %(function expected, got nil%)", msg(pile.spawn, pile))
      assert.matches("bad argument #1 to 'get' %(number expected, got table%)", msg(result.get, result, {}))
      assert.matches("bad argument #1 to 'guard' %(Semaphore expected, got FILE%*%)", msg(sem.guard, io.stdout))
      assert.matches("bad argument #1 to 'guard' %(number expected, got table%)", msg(sem.guard, sem, {}))
      assert.equal(0, sem:counter())
      -- a guard releases once, however often it is closed
      getmetatable(guard).__close(guard)
      getmetatable(guard).__close(guard)
      assert.equal(1, sem:counter())
    end)
  end)

  describe("review: hand-overs survive an interrupted receiver", function()
    it("a WaitQueue wake() with no value, whose waiter is killed before it runs, passes on", function()
      local wq = WaitQueue()
      local ra, rb = {}, {}
      local a = green.spawn(function() ra.ok, ra.v = pcall(wq.wait, wq) end)
      local b = green.spawn(function() rb.ok, rb.v, rb.w = pcall(wq.wait, wq) end)
      settle()
      assert.equal(2, #wq)
      assert.is_true(wq:wake())      -- to a, which has not run yet
      a:kill()
      assert.is_true(sync.all_dead({ a, b }))
      assert.is_false(ra.ok)
      assert.is_true(is_exit(ra.v))
      assert.is_true(rb.ok)
      assert.is_true(rb.v)           -- woken, and with nil as the value
      assert.is_nil(rb.w)
      assert.equal(0, #wq)
    end)

    it("the same with a Timeout", function()
      local wq = WaitQueue()
      local rb = {}
      local a = green.spawn(function()
        local t <close> = green.Timeout(0.1)
        pcall(wq.wait, wq)
      end)
      local b = green.spawn(function() rb.ok, rb.v = pcall(wq.wait, wq) end)
      settle()
      wq:wake()
      spin(0.15)
      assert.is_true(sync.all_dead({ a, b }))
      assert.is_true(rb.ok and rb.v)
    end)

    it("wake_all's wake-ups are not passed on by one that is killed", function()
      local wq = WaitQueue()
      local a = green.spawn(function() wq:wait() end)
      local b = green.spawn(function() wq:wait() end)
      settle()
      assert.equal(2, wq:wake_all())
      a:kill()
      local late = green.spawn(function() wq:wait() end)
      settle()
      assert.is_true(sync.all_dead({ a, b }))
      assert.is_false(late:dead())
      late:kill()
    end)

    it("a pool spawn that raises after taking a slot gives the slot back", function()
      local pool = green.GreenPool(1)
      -- callable as far as Lua can tell, not as far as spawn can
      local fake = setmetatable({}, { __metatable = { __call = function() end } })
      for _ = 1, 3 do
        assert.has_error(function() pool:spawn(fake) end)
        assert.equal(1, pool:free())
        assert.equal(0, pool:running())
      end
      local gt = pool:spawn(function() return "ran" end)
      assert.equal("ran", gt:wait())
      pool:resize(0)
      assert.has_error(function() green.GreenPool(1):spawn_n(fake) end)
    end)

    it("a pile:next interrupted by a Timeout leaves the job pending", function()
      local pile = green.GreenPile(2)
      local gate = green.Event()
      pile:spawn(function() gate:wait() return "first" end)
      pile:spawn(function() return "second" end)
      local ok, err = pcall(green.with_timeout, 0.05, pile.next, pile)
      assert.is_false(ok)
      assert.is_true(green.is_timeout(err))
      gate:send()
      assert.equal("first", pile:next())
      assert.equal("second", pile:next())
      assert.has_error(function() pile:next() end, "next: no job is pending")
    end)

    it("a pile:next whose job raised still moves on, whatever the job raised", function()
      local pile = green.GreenPile(2)
      local own = green.Timeout(nil)   -- a job may raise a Timeout of its own
      local boom = setmetatable({}, { __tostring = function() return "boom" end })
      pile:spawn(function() error(boom) end)
      pile:spawn(function() error(own) end)
      pile:spawn(function() return 3 end)
      local ok, err = pcall(pile.next, pile)
      assert.is_false(ok)
      assert.is_true(rawequal(boom, err))
      ok, err = pcall(pile.next, pile)
      assert.is_false(ok)
      assert.is_true(rawequal(own, err))
      assert.equal(3, pile:next())
    end)

    it("Event: send_exception with odd values reaches every waiter as it is", function()
      local raising = setmetatable({}, { __tostring = function() error("tostring fails") end })
      for _, v in ipairs({ false, raising, green.GreenThreadExit, green.Timeout(nil), "", 0 / 0 }) do
        local evt = green.Event()
        local got = {}
        local gts = {}
        for i = 1, 3 do
          gts[i] = green.spawn(function()
            local ok, e = pcall(evt.wait, evt)
            got[i] = { ok, e }
          end)
        end
        settle()
        evt:send_exception(v)
        assert.is_true(sync.all_dead(gts))
        for i = 1, 3 do
          assert.is_false(got[i][1])
          assert.is_true(rawequal(v, got[i][2]) or (v ~= v and got[i][2] ~= got[i][2]))
        end
        assert.is_true(evt:has_exception())
        assert.is_false(evt:has_result())
        local ok, e = pcall(evt.poll, evt)
        assert.is_false(ok)
        assert.is_true(rawequal(v, e) or v ~= v)
      end
      local evt = green.Event()
      evt:send_exception()        -- nil: waiters raise nil
      local ok, e = pcall(evt.wait, evt)
      assert.is_false(ok)
      assert.is_nil(e)
      assert.is_true(evt:ready())
    end)
  end)

  describe("a put that raised never delivered its item (LifoQueue:put with Timeouts under load)", function()
    local kinds = { "Queue", "LightQueue", "LifoQueue", "PriorityQueue" }
    for _, kind in ipairs(kinds) do
      it(kind .. ": a putter whose Timeout fires after a get made room for it", function()
        local q = green[kind](1)
        q:put("x")
        local rec = {}
        local p = green.spawn(function()
          local t <close> = green.Timeout(0.1)
          rec.ok, rec.err = pcall(q.put, q, "a")
          rec.t = t
        end)
        settle()
        spin(0.15)                   -- the Timeout is due; it fires at the next switch
        assert.equal("x", q:get())   -- room: the slot goes to p, which has not run
        assert.is_true(sync.all_dead({ p }))
        assert.is_false(rec.ok)
        assert.is_true(rawequal(rec.t, rec.err))
        assert.equal(0, q:qsize())   -- "a" is not in: the put raised
        assert.is_false(q:full())
        q:put_nowait("b")
        assert.same({ "b" }, sync.drain(q))
      end)

      it(kind .. ": many blocked putters with Timeouts and a few getters: exact accounting", function()
        local q = green[kind](4)
        local N = 150
        local seed = 99
        local function rand()
          seed = (seed * 1103515245 + 12345) % 2147483648
          return seed / 2147483648
        end
        local put_ok, put_timeout, got = {}, {}, {}
        local putters, getters = {}, {}
        for i = 1, N do
          local d = 0.005 + rand() * 0.03
          putters[i] = green.spawn(function()
            local t <close> = green.Timeout(d)
            local ok, err = pcall(q.put, q, i)
            if ok then put_ok[i] = true
            elseif rawequal(err, t) then put_timeout[i] = true
            else error(err) end
          end)
        end
        helpers.defer(function() helpers.killall(putters) helpers.killall(getters) end)
        local done = false
        for g = 1, 3 do
          getters[g] = green.spawn(function()
            while not done do
              local ok, v = pcall(q.get, q, true, 0.01)
              if ok then got[#got + 1] = v end
              if rand() < 0.3 then green.sleep(rand() * 0.002) end
            end
          end)
        end
        assert.is_true(sync.all_dead(putters, 30))
        done = true
        assert.is_true(sync.all_dead(getters, 5))
        for _, v in ipairs(sync.drain(q)) do got[#got + 1] = v end
        local seen = {}
        for _, v in ipairs(got) do
          assert.is_nil(seen[v], "got twice: " .. v)
          seen[v] = true
          assert.is_true(put_ok[v], "delivered, but its put raised: " .. v)
        end
        for i = 1, N do
          assert.is_true(put_ok[i] or put_timeout[i], "neither put nor timed out: " .. i)
          if put_ok[i] then assert.is_true(seen[i], "lost: " .. i) end
        end
        assert.equal(0, q:putting())
        assert.equal(0, q:getting())
      end)
    end
  end)
end)
