-- green.Queue, LightQueue, LifoQueue, PriorityQueue (API.md, "Queues").
local green = require "green"
local helpers = require "spec.helpers"
local sync = require "spec.sync_helpers"

local pack = table.pack

local Full, Empty = green.queue.Full, green.queue.Empty

-- The error `fn(...)` raised (nil if none).
local function raised(fn, ...)
  return helpers.error_of(fn, ...)
end

describe("queues", function()

  describe("the module", function()
    it("is green.queue and require 'green.queue', with the constructors and errors", function()
      local m = require "green.queue"
      assert.equal(m, green.queue)
      assert.equal(green.Queue, m.Queue)
      assert.equal(green.LightQueue, m.LightQueue)
      assert.equal(green.LifoQueue, m.LifoQueue)
      assert.equal(green.PriorityQueue, m.PriorityQueue)
      assert.equal("table", type(m.Full))
      assert.equal("table", type(m.Empty))
      assert.is_false(rawequal(m.Full, m.Empty))
    end)

    it("Full and Empty read as queue.Full and queue.Empty", function()
      assert.equal("queue.Full", tostring(Full))
      assert.equal("queue.Empty", tostring(Empty))
    end)
  end)

  describe("construction", function()
    it("Queue() and Queue(nil) are unbounded", function()
      for _, q in ipairs({ green.Queue(), green.Queue(nil) }) do
        for i = 1, 200 do q:put_nowait(i) end
        assert.equal(200, q:qsize())
        assert.is_false(q:full())
      end
    end)

    it("a negative maxsize is unbounded", function()
      local q = green.Queue(-1)
      for i = 1, 100 do q:put(i) end
      assert.equal(100, q:qsize())
      assert.is_false(q:full())
      q = green.Queue(-10)
      q:put_nowait(1)
      q:put_nowait(2)
      assert.is_false(q:full())
    end)

    it("a non-integer maxsize raises", function()
      assert.has_error(function() green.Queue(-1.5) end)
      assert.has_error(function() green.Queue(2.5) end)
      assert.has_error(function() green.Queue("big") end)
    end)

    it("a PriorityQueue's less must be a function", function()
      assert.has_error(function() green.PriorityQueue(nil, 42) end)
    end)
  end)

  describe("unbounded FIFO", function()
    it("gets items in put order", function()
      local q = green.Queue()
      for i = 1, 50 do q:put(i) end
      for i = 1, 50 do assert.equal(i, q:get()) end
      assert.is_true(q:empty())
    end)

    it("keeps wrapping around correctly while items come and go", function()
      local q = green.Queue()
      local nextin, nextout = 1, 1
      for round = 1, 30 do
        for _ = 1, (round % 7) + 1 do q:put(nextin); nextin = nextin + 1 end
        for _ = 1, (round % 5) + 1 do
          if q:qsize() == 0 then break end
          assert.equal(nextout, q:get())
          nextout = nextout + 1
        end
      end
      while q:qsize() > 0 do
        assert.equal(nextout, q:get_nowait())
        nextout = nextout + 1
      end
      assert.equal(nextin, nextout)
    end)

    it("items keep their identity", function()
      local q = green.Queue()
      local t, f = {}, function() end
      local co = coroutine.create(function() end)
      q:put(t)
      q:put(f)
      q:put(co)
      q:put(false)
      assert.is_true(rawequal(t, q:get()))
      assert.is_true(rawequal(f, q:get()))
      assert.is_true(rawequal(co, q:get()))
      assert.is_false(q:get())
    end)

    it("put never yields on an unbounded queue", function()
      local q = green.Queue()
      local ran = false
      green.spawn(function() ran = true end)
      for i = 1, 10 do q:put(i) end
      assert.is_false(ran)
      sync.settle()
    end)

    it("nil cannot be queued", function()
      local q = green.Queue()
      local err = raised(function() q:put(nil) end)
      assert.is_not_nil(err)
      assert.matches("put", tostring(err))
      err = raised(function() q:put() end)
      assert.matches("put", tostring(err))
      assert.has_error(function() q:put_nowait(nil) end)
      assert.equal(0, q:qsize())
      -- also when a getter waits
      local gt = green.spawn(function() return q:get() end)
      sync.settle()
      assert.has_error(function() q:put(nil) end)
      assert.equal(1, q:getting())
      q:put("real")
      assert.equal("real", gt:wait())
    end)
  end)

  describe("get", function()
    it("blocks until an item arrives", function()
      local q = green.Queue()
      local got
      local gt = green.spawn(function() got = q:get() end)
      sync.settle()
      assert.is_nil(got)
      assert.equal(1, q:getting())
      q:put("x")
      gt:wait()
      assert.equal("x", got)
      assert.equal(0, q:getting())
      assert.equal(0, q:qsize())
    end)

    it("non-blocking get and get_nowait raise Empty on an empty queue", function()
      local q = green.Queue()
      local err = raised(q.get, q, false)
      assert.is_true(rawequal(Empty, err))
      err = raised(q.get_nowait, q)
      assert.is_true(rawequal(Empty, err))
      q:put(1)
      assert.equal(1, q:get(false))
      q:put(2)
      assert.equal(2, q:get_nowait())
    end)

    it("a timed get raises Empty after the timeout", function()
      local q = green.Queue()
      local dt, r = helpers.timed(pcall, q.get, q, true, 0.03)
      assert.is_false(r[1])
      assert.is_true(rawequal(Empty, r[2]))
      assert.is_true(dt >= 0.03 - 0.002, "waited " .. dt)
      assert.is_true(dt < 1, "waited " .. dt)
      assert.equal(0, q:getting())
    end)

    it("a timed get returns the item if it comes in time", function()
      local q = green.Queue()
      green.spawn(function() green.sleep(0.01); q:put("in time") end)
      assert.equal("in time", q:get(true, 0.5))
    end)

    it("blocked getters are served in arrival order", function()
      local q = green.Queue()
      local log = {}
      for i = 1, 5 do sync.getter(q, i, log) end
      sync.settle()
      assert.equal(5, q:getting())
      for i = 1, 5 do q:put("item" .. i) end
      assert.is_true(helpers.wait_until(function() return #log == 5 end))
      for i = 1, 5 do assert.same({ i, "item" .. i }, log[i]) end
    end)

    it("an item handed to a waiting getter is not available to others", function()
      local q = green.Queue()
      local log = {}
      sync.getter(q, "waiter", log)
      sync.settle()
      q:put("only")
      assert.equal(0, q:qsize())
      assert.is_true(rawequal(Empty, raised(q.get_nowait, q)))
      sync.settle()
      assert.same({ { "waiter", "only" } }, log)
    end)
  end)

  describe("bounded", function()
    it("put blocks while full and goes on once a get makes room", function()
      local q = green.Queue(2)
      q:put(1)
      q:put(2)
      assert.is_true(q:full())
      local done = false
      local gt = green.spawn(function() q:put(3); done = true end)
      sync.settle()
      assert.is_false(done)
      assert.equal(1, q:putting())
      assert.equal(2, q:qsize())
      assert.equal(1, q:get())
      gt:wait()
      assert.is_true(done)
      assert.equal(0, q:putting())
      assert.equal(2, q:qsize())
      assert.equal(2, q:get())
      assert.equal(3, q:get())
    end)

    it("a timed put raises Full after the timeout and leaves nothing behind", function()
      local q = green.Queue(1)
      q:put("a")
      local dt, r = helpers.timed(pcall, q.put, q, "b", true, 0.03)
      assert.is_false(r[1])
      assert.is_true(rawequal(Full, r[2]))
      assert.is_true(dt >= 0.03 - 0.002, "waited " .. dt)
      assert.is_true(dt < 1, "waited " .. dt)
      assert.equal(1, q:qsize())
      assert.equal(0, q:putting())
      assert.equal("a", q:get())
      assert.is_true(rawequal(Empty, raised(q.get_nowait, q)))
    end)

    it("put_nowait and a non-blocking put raise Full when full", function()
      local q = green.Queue(1)
      q:put_nowait("a")
      assert.is_true(rawequal(Full, raised(q.put_nowait, q, "b")))
      assert.is_true(rawequal(Full, raised(q.put, q, "b", false)))
      assert.equal(1, q:qsize())
      assert.equal("a", q:get())
    end)

    it("blocked putters are served in arrival order", function()
      local q = green.Queue(1)
      q:put(0)
      local gts = {}
      for i = 1, 4 do gts[i] = green.spawn(function() q:put(i) end) end
      sync.settle()
      assert.equal(4, q:putting())
      local got = {}
      for _ = 1, 5 do got[#got + 1] = q:get() end
      assert.same({ 0, 1, 2, 3, 4 }, got)
      assert.is_true(sync.all_dead(gts))
      assert.equal(0, q:putting())
    end)

    it("a put with room wakes the first blocked getter, not a later arrival", function()
      local q = green.Queue(3)
      local log = {}
      sync.getter(q, "first", log)
      sync.getter(q, "second", log)
      sync.settle()
      q:put("A")
      q:put("B")
      sync.settle()
      assert.same({ { "first", "A" }, { "second", "B" } }, log)
    end)

    it("qsize, empty and full track the contents", function()
      local q = green.Queue(2)
      assert.equal(0, q:qsize())
      assert.is_true(q:empty())
      assert.is_false(q:full())
      q:put(1)
      assert.equal(1, q:qsize())
      assert.is_false(q:empty())
      assert.is_false(q:full())
      q:put(2)
      assert.is_true(q:full())
      q:get()
      q:get()
      assert.is_true(q:empty())
    end)
  end)

  describe("a channel (maxsize 0)", function()
    it("is both empty and full", function()
      local q = green.Queue(0)
      assert.is_true(q:empty())
      assert.is_true(q:full())
      assert.equal(0, q:qsize())
    end)

    it("put returns only once a getter has taken the item", function()
      local q = green.Queue(0)
      local returned = false
      local putter = green.spawn(function() q:put("msg"); returned = true end)
      green.sleep(0.02)
      assert.is_false(returned)
      assert.equal(1, q:putting())
      assert.equal(0, q:qsize())
      assert.is_true(q:empty())
      assert.equal("msg", q:get())
      putter:wait()
      assert.is_true(returned)
      assert.equal(0, q:putting())
    end)

    it("a put meets a getter that already waits", function()
      local q = green.Queue(0)
      local got
      local gt = green.spawn(function() got = q:get() end)
      sync.settle()
      q:put("hello")
      gt:wait()
      assert.equal("hello", got)
      assert.equal(0, q:qsize())
    end)

    it("get_nowait succeeds only when a putter is waiting", function()
      local q = green.Queue(0)
      assert.is_true(rawequal(Empty, raised(q.get_nowait, q)))
      local putter = green.spawn(function() q:put("p") end)
      sync.settle()
      assert.equal("p", q:get_nowait())
      putter:wait()
      assert.is_true(rawequal(Empty, raised(q.get_nowait, q)))
    end)

    it("put_nowait succeeds only when a getter is waiting", function()
      local q = green.Queue(0)
      assert.is_true(rawequal(Full, raised(q.put_nowait, q, "x")))
      assert.equal(0, q:qsize())
      local got
      local gt = green.spawn(function() got = q:get() end)
      sync.settle()
      q:put_nowait("y")
      gt:wait()
      assert.equal("y", got)
      assert.is_true(rawequal(Full, raised(q.put_nowait, q, "z")))
    end)

    it("a timed put raises Full when nobody takes the item", function()
      local q = green.Queue(0)
      local dt, r = helpers.timed(pcall, q.put, q, "x", true, 0.02)
      assert.is_false(r[1])
      assert.is_true(rawequal(Full, r[2]))
      assert.is_true(dt >= 0.02 - 0.002)
      assert.equal(0, q:putting())
      assert.is_true(rawequal(Empty, raised(q.get_nowait, q)))
    end)

    it("pairs putters and getters in arrival order", function()
      local q = green.Queue(0)
      local putters = {}
      for i = 1, 3 do putters[i] = green.spawn(function() q:put(i) end) end
      sync.settle()
      assert.equal(3, q:putting())
      assert.same({ 1, 2, 3 }, { q:get(), q:get(), q:get() })
      assert.is_true(sync.all_dead(putters))
    end)
  end)

  describe("resize", function()
    it("growing lets waiting putters in at once", function()
      local q = green.Queue(1)
      q:put("a")
      local gts = {}
      for i = 1, 3 do gts[i] = green.spawn(function() q:put("p" .. i) end) end
      sync.settle()
      assert.equal(3, q:putting())
      q:resize(3)
      assert.equal(1, q:putting())   -- the first two are granted the slots
      assert.is_true(q:full())
      sync.settle()
      assert.equal(3, q:qsize())     -- and put their items in as they run
      assert.is_true(gts[1]:dead())
      assert.is_true(gts[2]:dead())
      assert.is_false(gts[3]:dead())
      assert.same({ "a", "p1", "p2", "p3" }, { q:get(), q:get(), q:get(), q:get() })
      assert.is_true(sync.all_dead(gts))
    end)

    it("growing to unbounded lets every putter in", function()
      local q = green.Queue(0)
      local gts = {}
      for i = 1, 3 do gts[i] = green.spawn(function() q:put(i) end) end
      sync.settle()
      q:resize(-1)
      assert.equal(0, q:putting())
      assert.is_false(q:full())
      assert.is_true(sync.all_dead(gts))
      assert.equal(3, q:qsize())
      assert.same({ 1, 2, 3 }, { q:get(), q:get(), q:get() })
    end)

    it("shrinking loses nothing and refuses puts until there is room", function()
      local q = green.Queue(5)
      for i = 1, 5 do q:put(i) end
      q:resize(2)
      assert.equal(5, q:qsize())
      assert.is_true(q:full())
      assert.is_true(rawequal(Full, raised(q.put_nowait, q, 6)))
      assert.equal(1, q:get())
      assert.equal(2, q:get())
      assert.is_true(rawequal(Full, raised(q.put_nowait, q, 6)))   -- 3 held, max 2
      assert.equal(3, q:get())
      assert.is_true(rawequal(Full, raised(q.put_nowait, q, 6)))   -- 2 held
      assert.equal(4, q:get())
      q:put_nowait(6)
      assert.same({ 5, 6 }, { q:get(), q:get() })
    end)

    it("after shrinking, a waiting putter gets in only once the queue is below the new size", function()
      local q = green.Queue(3)
      for i = 1, 3 do q:put(i) end
      local putter = green.spawn(function() q:put(4) end)
      sync.settle()
      assert.equal(1, q:putting())
      q:resize(1)
      assert.equal(1, q:get())
      sync.settle()
      -- two items held, the new maxsize is 1: no room for the putter yet
      assert.equal(2, q:qsize())
      assert.equal(1, q:putting())
      assert.is_false(putter:dead())
      assert.equal(2, q:get())
      assert.equal(3, q:get())
      assert.equal(4, q:get())
      assert.is_true(sync.all_dead({ putter }))
      assert.equal(0, q:qsize())
    end)

    it("shrinking to a channel keeps the items for getters", function()
      local q = green.Queue(2)
      q:put("a")
      q:put("b")
      q:resize(0)
      assert.equal("a", q:get())
      assert.equal("b", q:get_nowait())
      assert.is_true(q:empty())
    end)
  end)

  describe("task_done and join", function()
    it("join returns true at once when nothing was put", function()
      local q = green.Queue()
      local switches, r = helpers.switches(q.join, q)
      assert.is_true(r[1])
      assert.equal(0, switches)
    end)

    it("join waits until every item put is task_done", function()
      local q = green.Queue()
      local processed = {}
      for i = 1, 3 do q:put(i) end
      local worker = green.spawn(function()
        for _ = 1, 3 do
          local item = q:get()
          green.sleep(0.005)
          processed[#processed + 1] = item
          q:task_done()
        end
      end)
      assert.is_true(q:join())
      assert.same({ 1, 2, 3 }, processed)
      worker:wait()
    end)

    it("join wakes every joiner", function()
      local q = green.Queue()
      q:put("x")
      local joined = 0
      local gts = {}
      for i = 1, 3 do gts[i] = green.spawn(function() if q:join() then joined = joined + 1 end end) end
      sync.settle()
      assert.equal(0, joined)
      q:get()
      q:task_done()
      assert.is_true(sync.all_dead(gts))
      assert.equal(3, joined)
    end)

    it("join(timeout) returns false when it elapses", function()
      local q = green.Queue()
      q:put(1)
      local dt, r = helpers.timed(q.join, q, 0.03)
      assert.is_false(r[1])
      assert.is_true(dt >= 0.03 - 0.002, "waited " .. dt)
      assert.is_true(dt < 1, "waited " .. dt)
      q:get()
      q:task_done()
      assert.is_true(q:join(0.01))
    end)

    it("items from blocked putters count once taken in", function()
      local q = green.Queue(1)
      q:put("a")
      local putter = green.spawn(function() q:put("b") end)
      sync.settle()
      q:get()
      q:task_done()
      putter:wait()
      assert.is_false(q:join(0.01))   -- "b" is still unfinished
      q:get()
      q:task_done()
      assert.is_true(q:join(0.01))
    end)

    it("task_done more times than items were put raises", function()
      local q = green.Queue()
      assert.has_error(function() q:task_done() end)
      q:put(1)
      q:get()
      q:task_done()
      assert.has_error(function() q:task_done() end)
      assert.is_true(q:join(0.01))
    end)

    it("a timed put that failed does not count", function()
      local q = green.Queue(1)
      q:put(1)
      pcall(q.put, q, 2, true, 0.01)
      pcall(q.put_nowait, q, 3)
      q:get()
      q:task_done()
      assert.is_true(q:join(0.01))
      assert.has_error(function() q:task_done() end)
    end)
  end)

  describe("LightQueue", function()
    it("queues like a Queue but has no task_done or join", function()
      local q = green.LightQueue(2)
      assert.is_nil(q.task_done)
      assert.is_nil(q.join)
      q:put(1)
      q:put(2)
      assert.is_true(q:full())
      assert.is_true(rawequal(Full, raised(q.put_nowait, q, 3)))
      assert.equal(1, q:get())
      assert.equal(2, q:get_nowait())
      assert.is_true(rawequal(Empty, raised(q.get_nowait, q)))
      local got
      local gt = green.spawn(function() got = q:get() end)
      sync.settle()
      q:put("w")
      gt:wait()
      assert.equal("w", got)
    end)

    it("methods of a Queue refuse other objects", function()
      local q = green.Queue()
      assert.has_error(function() q.put({}, 1) end)
      assert.has_error(function() q.task_done(green.LightQueue()) end)
    end)
  end)

  describe("LifoQueue", function()
    it("gets the last item put first", function()
      local q = green.LifoQueue()
      for i = 1, 5 do q:put(i) end
      assert.same({ 5, 4, 3, 2, 1 }, { q:get(), q:get(), q:get(), q:get(), q:get() })
      q:put("a")
      q:put("b")
      assert.equal("b", q:get())
      q:put("c")
      assert.equal("c", q:get())
      assert.equal("a", q:get())
    end)

    it("is bounded like a Queue and supports task_done/join", function()
      local q = green.LifoQueue(1)
      q:put(1)
      assert.is_true(rawequal(Full, raised(q.put_nowait, q, 2)))
      assert.equal(1, q:get())
      q:task_done()
      assert.is_true(q:join(0.01))
    end)
  end)

  describe("PriorityQueue", function()
    it("gets the lowest item first by default", function()
      local q = green.PriorityQueue()
      local input = { 5, 3, 9, 1, 7, 2, 8, 6, 4, 0, 3 }
      for _, v in ipairs(input) do q:put(v) end
      local out = {}
      for _ = 1, #input do out[#out + 1] = q:get() end
      assert.same({ 0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9 }, out)
      q:put("b")
      q:put("a")
      q:put("c")
      assert.same({ "a", "b", "c" }, { q:get(), q:get(), q:get() })
    end)

    it("with a maxsize and no less, still uses the default order", function()
      for _, q in ipairs({ green.PriorityQueue(10), green.PriorityQueue(nil), green.PriorityQueue(-1) }) do
        local ok, err = pcall(function()
          for _, v in ipairs({ 4, 1, 3, 2 }) do q:put(v) end
        end)
        assert.is_true(ok, tostring(err))
        assert.same({ 1, 2, 3, 4 }, { q:get(), q:get(), q:get(), q:get() })
      end
    end)

    it("uses a custom less, keeping the items' identity", function()
      local q = green.PriorityQueue(nil, function(a, b) return a.prio < b.prio end)
      local items = {}
      for i, p in ipairs({ 30, 10, 50, 20, 40 }) do
        items[i] = { prio = p }
        q:put(items[i])
      end
      local out = {}
      for _ = 1, 5 do out[#out + 1] = q:get() end
      for i = 1, 4 do assert.is_true(out[i].prio < out[i + 1].prio) end
      assert.is_true(rawequal(items[2], out[1]))   -- prio 10
      assert.is_true(rawequal(items[3], out[5]))   -- prio 50
    end)

    it("a less giving reverse order gets the highest first", function()
      local q = green.PriorityQueue(nil, function(a, b) return a > b end)
      for _, v in ipairs({ 2, 9, 4 }) do q:put(v) end
      assert.same({ 9, 4, 2 }, { q:get(), q:get(), q:get() })
    end)

    it("interleaves puts and gets correctly", function()
      local q = green.PriorityQueue()
      local seed = 7
      local model = {}
      for _ = 1, 200 do
        seed = (seed * 1103515245 + 12345) % 2147483648
        if seed % 3 ~= 0 or #model == 0 then
          local v = seed % 1000
          q:put(v)
          model[#model + 1] = v
          table.sort(model)
        else
          assert.equal(table.remove(model, 1), q:get())
        end
      end
      assert.equal(#model, q:qsize())
      for i = 1, #model do assert.equal(model[i], q:get()) end
    end)

    it("is bounded like a Queue", function()
      local q = green.PriorityQueue(2)
      q:put(3)
      q:put(1)
      assert.is_true(q:full())
      local putter = green.spawn(function() q:put(2) end)
      sync.settle()
      assert.equal(1, q:get())
      putter:wait()
      assert.same({ 2, 3 }, { q:get(), q:get() })
    end)

    it("wakes a waiting getter with the item put", function()
      local q = green.PriorityQueue()
      local got
      local gt = green.spawn(function() got = q:get() end)
      sync.settle()
      q:put(42)
      gt:wait()
      assert.equal(42, got)
    end)
  end)

  describe("a PriorityQueue whose less raises", function()
    it("raises from put and get and loses or duplicates nothing", function()
      local boom = false
      local q = green.PriorityQueue(nil, function(a, b)
        if boom then error("less failed") end
        return a < b
      end)
      for _, v in ipairs({ 3, 1, 2, 5, 4 }) do q:put(v) end
      boom = true
      local ok, err = pcall(q.get, q)
      assert.is_false(ok)
      assert.matches("less failed", err)
      assert.is_false(pcall(q.put, q, 0))
      boom = false
      assert.equal(5, q:qsize())
      assert.same({ 1, 2, 3, 4, 5 }, { q:get(), q:get(), q:get(), q:get(), q:get() })
    end)
  end)

  describe("introspection", function()
    it("tostring names the kind", function()
      assert.matches("Queue", tostring(green.Queue()))
      assert.matches("LifoQueue", tostring(green.LifoQueue(3)))
      assert.matches("PriorityQueue", tostring(green.PriorityQueue()))
      assert.matches("LightQueue", tostring(green.LightQueue()))
    end)

    it("getting and putting count the blocked threads", function()
      local q = green.Queue(0)
      local gts = {}
      for i = 1, 3 do gts[#gts + 1] = green.spawn(function() q:get() end) end
      sync.settle()
      assert.equal(3, q:getting())
      assert.equal(0, q:putting())
      for i = 1, 3 do q:put(i) end
      assert.equal(0, q:getting())
      assert.is_true(sync.all_dead(gts))
      for i = 1, 2 do gts[#gts + 1] = green.spawn(function() q:put(i) end) end
      sync.settle()
      assert.equal(2, q:putting())
      q:get()
      q:get()
      assert.equal(0, q:putting())
      assert.is_true(sync.all_dead(gts))
    end)
  end)
end)
