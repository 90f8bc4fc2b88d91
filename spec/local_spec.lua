-- green.Local: green-thread-local storage (API.md, "Green-local storage").
local green = require "green"

describe("Local", function()
  it("keeps a field set in one thread private to it", function()
    local loc = green.Local()
    loc.name = "main"
    local seen_before, seen_after
    local gt = green.spawn(function()
      seen_before = loc.name
      loc.name = "child"
      green.sleep(0.005)
      seen_after = loc.name
    end)
    green.sleep(0.001)
    assert.equal("main", loc.name)
    gt:wait()
    assert.is_nil(seen_before)
    assert.equal("child", seen_after)
    assert.equal("main", loc.name)
  end)

  it("gives each of several interleaving threads its own value", function()
    local loc = green.Local()
    local results = {}
    local gts = {}
    for i = 1, 5 do
      gts[i] = green.spawn(function()
        loc.value = i
        for _ = 1, 3 do
          green.sleep(0)
          if loc.value ~= i then results[i] = "clobbered" return end
          loc.value = i
        end
        results[i] = loc.value
      end)
    end
    for i = 1, 5 do gts[i]:wait() end
    assert.same({ 1, 2, 3, 4, 5 }, results)
    assert.is_nil(loc.value)
  end)

  it("is nil in the main thread for fields set elsewhere, and main has its own", function()
    local loc = green.Local()
    green.spawn(function() loc.only_child = true end):wait()
    assert.is_nil(loc.only_child)
    loc.only_main = 1
    green.sleep(0.001)
    assert.equal(1, loc.only_main)
    local from_child = "unset"
    green.spawn(function() from_child = loc.only_main end):wait()
    assert.is_nil(from_child)
  end)

  it("keeps separate Local objects apart", function()
    local a, b = green.Local(), green.Local()
    a.x = "a"
    assert.is_nil(b.x)
    b.x = "b"
    assert.equal("a", a.x)
    assert.equal("b", b.x)
  end)

  it("can be cleared by assigning nil", function()
    local loc = green.Local()
    loc.x = 1
    loc.x = nil
    assert.is_nil(loc.x)
  end)

  it("is shared by a thread's own coroutines, which are part of it", function()
    local loc = green.Local()
    local inside
    local gt = green.spawn(function()
      loc.v = "mine"
      local gen = coroutine.wrap(function()
        green.sleep(0.001)
        coroutine.yield(loc.v)
      end)
      inside = gen()
    end)
    gt:wait()
    assert.equal("mine", inside)
  end)

  it("lets a value die with its thread, even while the handle is held", function()
    local loc = green.Local()
    local weak = setmetatable({}, { __mode = "v" })
    local gt = green.spawn(function()
      local value = { "per-thread payload" }
      weak[1] = value
      loc.payload = value
      green.sleep(0.001)
      return "done"                -- the value is not among the results
    end)
    assert.equal("done", gt:wait())
    green.sleep(0)
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1])
    assert.is_true(gt:dead())      -- the handle is still here and usable
  end)

  it("lets a value die with a killed thread too", function()
    local loc = green.Local()
    local weak = setmetatable({}, { __mode = "v" })
    local gt = green.spawn(function()
      local value = {}
      weak[1] = value
      loc.payload = value
      green.sleep(10)
    end)
    green.sleep(0)
    assert.is_not_nil(weak[1])
    gt:kill()
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1])
    assert.is_true(gt:dead())
  end)

  it("lets a value die with a thread that had links, once they ran", function()
    local loc = green.Local()
    local weak = setmetatable({}, { __mode = "v" })
    local gt = green.spawn(function()
      local value = {}
      weak[1] = value
      loc.payload = value
    end)
    gt:link(function() end)
    gt:wait()
    green.sleep(0)
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1])
  end)
end)
