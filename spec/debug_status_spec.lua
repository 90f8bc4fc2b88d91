-- gt.name and gt:status() (API.md, "Operability (green.debug)"): a settable
-- name shown by tostring; state, call and since for every thread.
local green = require "green"
local helpers = require "spec.helpers"

describe("gt.name", function()
  it("is nil by default, settable to a string or back to nil", function()
    local gt = green.spawn(function() green.sleep(10) end)
    assert.is_nil(gt.name)
    gt.name = "worker"
    assert.equal("worker", gt.name)
    gt.name = nil
    assert.is_nil(gt.name)
    gt:kill()
  end)

  it("is shown by tostring, and the old form stays when unnamed", function()
    local gt = green.spawn(function() green.sleep(10) end)
    assert.matches("^GreenThread %d+ %(new%)$", tostring(gt))
    gt.name = "web 1"
    assert.matches('^GreenThread %d+ "web 1" %(new%)$', tostring(gt))
    gt:kill()
    assert.matches('^GreenThread %d+ "web 1" %(dead%)$', tostring(gt))
  end)

  it("outlives the thread and can be set by the thread itself", function()
    local gt = green.spawn(function() green.getcurrent().name = "self" end)
    gt:wait()
    assert.equal("self", gt.name)
  end)

  it("keeps names apart and lets go of them with the handle", function()
    local names = {}
    for i = 1, 50 do
      local gt = green.spawn(function() end)
      gt.name = "n" .. i
      names[i] = gt
    end
    for i = 1, 50 do assert.equal("n" .. i, names[i].name) end
    local weak = setmetatable({}, { __mode = "v" })
    weak[1] = names[7]
    names = nil
    green.sleep(0)
    collectgarbage() collectgarbage()
    assert.is_nil(weak[1])
  end)

  it("raises naming the field for anything but a string or nil", function()
    local gt = green.spawn(function() end)
    for _, bad in ipairs({ 1, true, {}, print }) do
      local err = helpers.error_of(function() gt.name = bad end)
      assert.matches("bad argument #3 to '__newindex' %(name: string or nil expected", err)
    end
    local err = helpers.error_of(function() gt.other = 1 end)
    assert.matches("bad argument #2 to '__newindex' %(only 'name' can be set", err)
    err = helpers.error_of(function() getmetatable(gt).__newindex({}, "name", "x") end)
    assert.matches("bad argument #1 to '__newindex' %(GreenThread expected", err)
    gt:wait()
  end)
end)

describe("gt:status()", function()
  it("is running for the caller", function()
    assert.same({ "running" }, { green.getcurrent():status() })
  end)

  it("is ready before the start, for a pending spawn_after, and once woken", function()
    local gt = green.spawn(function() end)
    assert.same({ "ready" }, { gt:status() })
    local later = green.spawn_after(10, function() end)
    assert.same({ "ready" }, { later:status() })
    later:cancel()
    local ev = green.Event()
    local waiter = green.spawn(function() ev:wait() end)
    green.sleep(0)
    assert.equal("blocked", (waiter:status()))
    ev:send(1)
    assert.same({ "ready" }, { waiter:status() })
    waiter:wait()
    gt:wait()
  end)

  it("is dead once ended, killed, or failed", function()
    local gt = green.spawn(function() end)
    gt:wait()
    assert.same({ "dead" }, { gt:status() })
    local killed = green.spawn(function() green.sleep(10) end)
    green.sleep(0)
    killed:kill()
    assert.same({ "dead" }, { killed:status() })
  end)

  it("names the blocking call and when it blocked", function()
    local q = green.Queue()
    local ev = green.Event()
    local sem = green.Semaphore(0)
    local cases = {
      { "sleep", function() green.sleep(10) end },
      { "Event:wait", function() ev:wait() end },
      { "Queue:get", function() q:get() end },
      { "Semaphore:acquire", function() sem:acquire() end },
    }
    local before = green.now()
    local gts = {}
    for i, c in ipairs(cases) do gts[i] = green.spawn(c[2]) end
    local joiner = green.spawn(function() gts[1]:wait() end)
    green.sleep(0)
    local after = green.now()
    for i, c in ipairs(cases) do
      local state, call, since = gts[i]:status()
      assert.equal("blocked", state)
      assert.equal(c[1], call)
      -- the hub's coarse clock: behind green.now() by a few ms, or by a batch
      -- of switches when no timer is armed
      assert.is_true(since >= before - 1 and since <= after, tostring(since))
    end
    assert.equal("wait", select(2, joiner:status()))
    for _, gt in ipairs(gts) do gt:kill() end
    joiner:kill()
  end)

  it("updates since on every block", function()
    local gt = green.spawn(function()
      green.sleep(0.2)
      green.sleep(10)
    end)
    green.sleep(0)
    local _, _, first = gt:status()
    helpers.wait_until(function() return select(3, gt:status()) ~= first end, 5)
    local _, call, second = gt:status()
    assert.equal("sleep", call)
    assert.is_true(second >= first + 0.1)
    gt:kill()
  end)

  it("names socket and process waits", function()
    local srv = assert(green.listen("127.0.0.1", 0))
    local acceptor = green.spawn(function() srv:accept() end)
    local p = assert(green.process.spawn({ "sleep", "5" }))
    local waiter = green.spawn(function() p:wait() end)
    green.sleep(0)
    assert.equal("accept", select(2, acceptor:status()))
    assert.equal("Process:wait", select(2, waiter:status()))
    acceptor:kill()
    p:kill()
    waiter:wait()
    srv:close()
  end)

  it("checks its argument", function()
    local err = helpers.error_of(green.getcurrent().status, {})
    assert.matches("bad argument #1 to 'status' %(GreenThread expected", err)
  end)
end)
