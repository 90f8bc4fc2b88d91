-- green.debug.dump(), header(gt), top(seconds) and the deadlock report
-- (API.md, "Operability (green.debug)").
local green = require "green"
local helpers = require "spec.helpers"

describe("green.debug", function()
  it("loads lazily as green.debug, with the watchdog in it", function()
    assert.equal(require("green.debug"), green.debug)
    assert.equal(require("green.core").watchdog, green.debug.watchdog)
  end)

  describe("header", function()
    it("gives id, name, state, call and age", function()
      local q = green.Queue()
      local gt = green.spawn(function() q:get() end)
      assert.matches("^green thread %d+ %[ready%]$", green.debug.header(gt))
      gt.name = "worker"
      green.sleep(0)
      assert.matches('^green thread %d+ "worker" %[blocked in Queue:get, %d+%.%d s%]$',
        green.debug.header(gt))
      gt:kill()
      assert.matches('^green thread %d+ "worker" %[dead%]$', green.debug.header(gt))
      assert.matches("^green thread %d+ [^%[]*%[running%]$", green.debug.header(green.getcurrent()))
    end)

    it("counts the age from the block", function()
      local gt = green.spawn(function() green.sleep(10) end)
      green.sleep(0.3)
      local age = tonumber(green.debug.header(gt):match(", ([%d.]+) s%]"))
      assert.is_true(age >= 0.2 and age < 10, tostring(age))
      gt:kill()
    end)

    it("marks the main thread", function()
      local main
      for _, gt in ipairs(green.threads()) do if gt.id == 1 then main = gt end end
      assert.matches("^green thread 1 %(main%) %[", green.debug.header(main))
    end)

    it("checks its argument", function()
      assert.matches("bad argument #1 to 'header' %(GreenThread expected, got no value%)",
        helpers.error_of(green.debug.header))
    end)
  end)

  describe("dump", function()
    it("has a block per live thread, in id order, with its traceback", function()
      local ev = green.Event()
      local a = green.spawn(function() ev:wait() end)
      a.name = "waiter"
      local b = green.spawn(function() green.sleep(10) end)
      local c = green.spawn(function() end)   -- not started yet when dumped
      green.sleep(0)
      local d = green.spawn(function() end)
      local text = green.debug.dump()
      local ids = {}
      for id in text:gmatch("green thread (%d+)[^\n]*%]:\n") do ids[#ids + 1] = tonumber(id) end
      assert.equal(#green.threads(), #ids)
      for i = 2, #ids do assert.is_true(ids[i - 1] < ids[i]) end
      local function block(gt)
        return text:match("\n?(green thread " .. gt.id .. " [^\n]*%]:\n.-)\n\n")
      end
      assert.matches('^green thread %d+ "waiter" %[blocked in Event:wait, [%d.]+ s%]:\nstack traceback:', block(a))
      assert.matches("debug_dump_spec%.lua:%d+", block(a))
      assert.matches("%[blocked in sleep, ", block(b))
      assert.matches("%[ready%]:\n%(not started%)", block(d))
      assert.is_nil(text:find("green thread " .. c.id .. " ", 1, true))  -- c has ended
      assert.matches("%[running%]:\nstack traceback:\n[^\n]*debug_dump_spec%.lua", block(green.getcurrent()))
      a:kill() b:kill() d:wait()
    end)

    it("shows a thread blocked inside a script coroutine", function()
      local gt = green.spawn(function()
        local co = coroutine.wrap(function() green.sleep(10) end)
        co()
      end)
      green.sleep(0)
      assert.matches("%[blocked in sleep, ", green.debug.header(gt))
      assert.matches("debug_dump_spec%.lua", green.debug.dump())
      gt:kill()
    end)
  end)

  describe("top", function()
    it("ranks threads by their share of the window", function()
      local stop = false
      local busy = green.spawn(function()
        while not stop do
          local t = os.clock() + 0.005
          while os.clock() < t do end   -- 5 ms of CPU, then a yield
          green.sleep(0)
        end
      end)
      busy.name = "busy"
      local idle = green.spawn(function() green.sleep(10) end)
      local rows = green.debug.top(0.3)
      stop = true
      assert.is_true(#rows >= 3)
      assert.equal(busy, rows[1].thread)
      assert.equal(busy.id, rows[1].id)
      assert.equal("busy", rows[1].name)
      assert.is_true(rows[1].share > 0.2 and rows[1].share <= 1, tostring(rows[1].share))
      for i, r in ipairs(rows) do
        if r.thread == idle then assert.is_true(r.share < 0.05, tostring(r.share)) end
        if i > 1 then assert.is_true(rows[i - 1].share >= r.share) end
      end
      busy:wait()
      idle:kill()
    end)

    it("stops timing once it returns, even when killed", function()
      local core = require "green.core"
      local gt = green.spawn(function() green.debug.top(10) end)
      green.sleep(0)
      assert.equal(2, core.debug_sample(1))   -- the top above, and this
      assert.equal(1, core.debug_sample(-1))
      gt:kill()
      assert.equal(1, core.debug_sample(1))   -- only this one
      assert.equal(0, core.debug_sample(-1))
      green.debug.top(0)
      assert.equal(1, core.debug_sample(1))
      assert.equal(0, core.debug_sample(-1))
    end)

    it("checks its arguments", function()
      assert.matches("bad argument #1 to 'top' %(number expected, got nil%)",
        helpers.error_of(green.debug.top))
      assert.matches("bad argument #1 to 'top' %(number expected, got NaN%)",
        helpers.error_of(green.debug.top, 0 / 0))
      local core = require "green.core"
      assert.matches("bad argument #1 to 'top'", helpers.error_of(core.debug_sample, 2))
      assert.matches("top: not sampling", helpers.error_of(core.debug_sample, -1))
      assert.matches("bad argument #1 to 'top' %(GreenThread expected",
        helpers.error_of(core.debug_cpu, {}))
    end)
  end)

  describe("the deadlock report", function()
    it("lists each blocked thread with what it waits in, for how long, and its traceback", function()
      local out, err, code = helpers.run_chunk([[
local green = require "green"
local q = green.Queue()
local w = green.spawn(function() q:get() end)
w.name = "consumer"
green.sleep(0.2)
green.Event():wait()
]])
      assert.equal(1, code)
      assert.matches("greenlua: deadlock: all green threads are blocked\n", err)
      assert.matches('green thread %d+ "consumer" %[blocked in Queue:get, 0%.[1-9] s%]:\nstack traceback:', err)
      assert.matches("green thread 1 %(main%) %[blocked in Event:wait, 0%.0 s%]:\nstack traceback:", err)
    end)
  end)
end)
