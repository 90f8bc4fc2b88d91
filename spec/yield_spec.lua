-- Blocking from a script's own coroutines, from `require`, and from places
-- where Lua cannot yield (API.md, conventions).
local green = require "green"
local helpers = require "spec.helpers"

local pack = table.pack

-- A ticker thread counting how often it ran; kill it when done.
local function ticker()
  local state = { n = 0 }
  state.gt = green.spawn(function()
    for _ = 1, 500 do
      state.n = state.n + 1
      green.sleep(0.002)
    end
  end)
  return state
end

describe("user coroutines", function()
  it("a coroutine.wrap generator that sleeps delivers its values in order while others run", function()
    local tick = ticker()
    finally(function() tick.gt:kill() end)
    local gen = coroutine.wrap(function()
      for i = 1, 3 do
        green.sleep(0.01)
        coroutine.yield(i)
      end
      return "end"
    end)
    local got = {}
    for _ = 1, 4 do got[#got + 1] = gen() end
    assert.same({ 1, 2, 3, "end" }, got)
    assert.is_true(tick.n >= 3, "ticker ran " .. tick.n .. " times")
  end)

  it("passes values both ways across a generator that sleeps", function()
    local gen = coroutine.wrap(function(a)
      local b = coroutine.yield(a + 1)
      green.sleep(0.005)
      local c, d = coroutine.yield(b * 2)
      green.sleep(0)
      return c .. "!", d
    end)
    assert.equal(2, gen(1))
    assert.equal(10, gen(5))
    local r = pack(gen("x", nil))
    assert.equal(2, r.n)
    assert.equal("x!", r[1])
    assert.is_nil(r[2])
  end)

  it("works as a generic-for iterator", function()
    local got = {}
    for v in coroutine.wrap(function()
      for i = 1, 3 do
        green.sleep(0.001)
        coroutine.yield(i * 10)
      end
    end) do
      got[#got + 1] = v
    end
    assert.same({ 10, 20, 30 }, got)
  end)

  it("coroutine.resume of a coroutine that sleeps returns true and its values", function()
    local co = coroutine.create(function(a)
      green.sleep(0.01)
      local b = coroutine.yield("first", a)
      green.sleep(0)
      return "second", b
    end)
    local r = pack(coroutine.resume(co, "A"))
    assert.same({ true, "first", "A", n = 3 }, r)
    assert.equal("suspended", coroutine.status(co))
    r = pack(coroutine.resume(co, "B"))
    assert.same({ true, "second", "B", n = 3 }, r)
    assert.equal("dead", coroutine.status(co))
  end)

  it("coroutine.resume reports an error raised after a sleep as false, err", function()
    local e = {}
    local co = coroutine.create(function()
      green.sleep(0.001)
      error(e)
    end)
    local ok, err = coroutine.resume(co)
    assert.is_false(ok)
    assert.is_true(rawequal(e, err))
  end)

  it("a wrap generator raising after a sleep raises in its caller", function()
    local gen = coroutine.wrap(function()
      green.sleep(0.001)
      error("generator broke")
    end)
    local ok, err = pcall(gen)
    assert.is_false(ok)
    assert.matches("generator broke", err)
  end)

  it("hands a wait's results back into the coroutine that waited", function()
    local worker = green.spawn(function()
      green.sleep(0.01)
      return "w1", "w2"
    end)
    local gen = coroutine.wrap(function()
      local a, b = worker:wait()
      coroutine.yield(a, b)
    end)
    local a, b = gen()
    assert.equal("w1", a)
    assert.equal("w2", b)
  end)

  it("nested generators that both sleep still work", function()
    local inner = coroutine.wrap(function()
      for i = 1, 2 do
        green.sleep(0.002)
        coroutine.yield("in" .. i)
      end
    end)
    local outer = coroutine.wrap(function()
      for _ = 1, 2 do
        local v = inner()
        green.sleep(0.002)
        coroutine.yield("out:" .. v)
      end
    end)
    assert.equal("out:in1", outer())
    assert.equal("out:in2", outer())
  end)

  it("generators in different threads keep their values apart", function()
    local function run(name, pause)
      local gen = coroutine.wrap(function()
        for i = 1, 3 do
          green.sleep(pause)
          coroutine.yield(name .. i)
        end
      end)
      local got = {}
      for _ = 1, 3 do got[#got + 1] = gen() end
      return got
    end
    local a = green.spawn(run, "a", 0.003)
    local b = green.spawn(run, "b", 0.002)
    assert.same({ "a1", "a2", "a3" }, a:wait())
    assert.same({ "b1", "b2", "b3" }, b:wait())
  end)

  it("a kill delivered while blocked inside a wrap generator ends the thread", function()
    local after = false
    local gt = green.spawn(function()
      local gen = coroutine.wrap(function()
        green.sleep(10)
        coroutine.yield(1)
      end)
      gen()
      after = true
    end)
    green.sleep(0)
    gt:kill()
    assert.is_true(gt:dead())
    assert.is_false(after)
    local ok, err = pcall(gt.wait, gt)
    assert.is_false(ok)
    assert.is_true(rawequal(green.GreenThreadExit, err))
  end)

  it("a kill while blocked inside a coroutine.resume'd coroutine kills the thread", function()
    local result, co
    local gt = green.spawn(function()
      co = coroutine.create(function() green.sleep(10) return "woke" end)
      result = pack(coroutine.resume(co))
      return "went on"
    end)
    green.sleep(0)
    gt:kill()
    assert.is_nil(result)          -- the resume did not return: the kill went through it
    assert.equal("dead", coroutine.status(co))
    local ok, err = pcall(gt.wait, gt)
    assert.is_false(ok)
    assert.is_true(rawequal(green.GreenThreadExit, err))
  end)

  it("a Timeout fires inside a generator and reaches the caller", function()
    local t = green.Timeout(0.02)
    local gen = coroutine.wrap(function()
      green.sleep(0.2)
      coroutine.yield("late")
    end)
    local ok, err = pcall(gen)
    assert.is_false(ok)
    assert.is_true(rawequal(t, err))
    green.sleep(0.01)              -- the scheduler is fine afterwards
  end)
end)

describe("require", function()
  local dir, cleanup, old_path
  local seq = 0

  -- Write a module whose top level sleeps; returns its unique name.
  local function slow_module(body)
    seq = seq + 1
    local name = ("greenlua_slowmod_%d_%d"):format(seq, math.random(1, 1e9))
    helpers.write(dir .. "/" .. name .. ".lua", body)
    return name
  end

  before_each(function()
    dir, cleanup = helpers.tmpdir()
    old_path = package.path
    package.path = dir .. "/?.lua;" .. package.path
    _G.__slowmod_loads = 0
  end)

  after_each(function()
    package.path = old_path
    cleanup()
    _G.__slowmod_loads = nil
  end)

  it("loads a module whose top level sleeps, while other threads run", function()
    -- three sleeps: the ticker (its sleeps are shorter) runs in each of them
    local name = slow_module([[
      local green = require "green"
      __slowmod_loads = __slowmod_loads + 1
      for _ = 1, 3 do green.sleep(0.01) end
      return { value = 42, arg = ... }
    ]])
    local tick = ticker()
    finally(function() tick.gt:kill() end)
    local mod = require(name)
    assert.equal(42, mod.value)
    assert.equal(name, mod.arg)
    assert.is_true(tick.n >= 3, "ticker ran " .. tick.n .. " times")
    assert.is_true(rawequal(mod, package.loaded[name]))
    assert.is_true(rawequal(mod, require(name)))
    assert.equal(1, __slowmod_loads)
  end)

  it("loads a slow module once when two threads require it at the same time", function()
    local name = slow_module([[
      local green = require "green"
      __slowmod_loads = __slowmod_loads + 1
      green.sleep(0.03)
      return { id = {} }
    ]])
    local got = {}
    local gts = {}
    for i = 1, 2 do
      gts[i] = green.spawn(function() got[i] = require(name) end)
    end
    green.sleep(0.005)
    local mine = require(name)       -- the main thread joins in, too
    for i = 1, 2 do gts[i]:wait() end
    assert.equal(1, __slowmod_loads)
    assert.is_not_nil(got[1])
    assert.is_true(rawequal(got[1], got[2]))
    assert.is_true(rawequal(got[1], mine))
  end)

  it("a module that fails after sleeping raises and is not marked loaded", function()
    local name = slow_module([[
      local green = require "green"
      __slowmod_loads = __slowmod_loads + 1
      green.sleep(0.005)
      if __slowmod_loads == 1 then error("module init failed") end
      return "second try"
    ]])
    local ok, err = pcall(require, name)
    assert.is_false(ok)
    assert.matches("module init failed", err)
    assert.is_nil(package.loaded[name])
    assert.equal("second try", require(name))
  end)

  it("a missing module still raises 'not found'", function()
    local ok, err = pcall(require, "greenlua_no_such_module_anywhere")
    assert.is_false(ok)
    assert.matches("not found", err)
  end)
end)

describe("where Lua cannot yield", function()
  local function check(err, call)
    assert.equal("string", type(err), tostring(err))
    assert.truthy(err:find(call, 1, true), err)
    assert.truthy(err:find("cannot block here", 1, true), err)
    assert.falsy(err:find("attempt to yield across", 1, true), err)
  end

  it("sleeping in a table.sort comparator raises a clear error", function()
    local ok, err = pcall(table.sort, { 3, 1, 2 }, function(a, b)
      green.sleep(0)
      return a < b
    end)
    assert.is_false(ok)
    check(err, "sleep")
  end)

  it("sleeping in a string.gsub callback raises a clear error", function()
    local ok, err = pcall(string.gsub, "abc", "%w", function(c)
      green.sleep(0.001)
      return c:upper()
    end)
    assert.is_false(ok)
    check(err, "sleep")
  end)

  it("sleeping in __tostring called by tostring raises a clear error", function()
    local obj = setmetatable({}, { __tostring = function()
      green.sleep(0)
      return "obj"
    end })
    local ok, err = pcall(tostring, obj)
    assert.is_false(ok)
    check(err, "sleep")
  end)

  it("waiting on a thread in a sort comparator names 'wait'", function()
    local gt = green.spawn(green.sleep, 0.01)
    local ok, err = pcall(table.sort, { 2, 1 }, function(a, b)
      gt:wait()
      return a < b
    end)
    assert.is_false(ok)
    check(err, "wait")
    gt:wait()
  end)

  it("leaves the thread able to block normally afterwards", function()
    pcall(string.gsub, "a", "a", function() green.sleep(0) end)
    local done = false
    green.spawn(function() done = true end)
    local dt = helpers.timed(green.sleep, 0.01)
    assert.is_true(done)
    assert.is_true(dt >= 0.01 - 0.002)
  end)

  -- A generator is a coroutine of its own, so the sleep inside it can yield;
  -- it is the generator's caller (the gsub callback) that cannot. Run in a
  -- child process: a scheduler left inconsistent must not spoil other specs.
  local generator_in_gsub = [[
    local green = require "green"
    local gen = coroutine.wrap(function()
      green.sleep(0)
      coroutine.yield("x")
    end)
    local ok, err = pcall(string.gsub, "a", "a", function() return gen() end)
    io.write("ok=", tostring(ok), "\n", "err=", tostring(err), "\n")
    local ran = false
    green.spawn(function() ran = true end)
    local t0 = green.now()
    green.sleep(0.02)
    io.write("slept=", string.format("%.3f", green.now() - t0), "\n", "ran=", tostring(ran), "\n")
  ]]

  it("a generator that sleeps, called from a gsub callback, raises a clear error", function()
    local out, _, rc = helpers.run_chunk(generator_in_gsub)
    assert.equal(0, rc)
    assert.matches("ok=false", out)
    local err = out:match("err=([^\n]*)")
    check(err, "sleep")
  end)

  it("a generator that sleeps, called from a gsub callback, leaves the scheduler intact", function()
    local out, _, rc = helpers.run_chunk(generator_in_gsub)
    assert.equal(0, rc)
    local slept = tonumber(out:match("slept=([%d.]+)"))
    assert.is_not_nil(slept, out)
    assert.is_true(slept >= 0.018, "a later sleep(0.02) returned after " .. slept)
    assert.matches("ran=true", out)
  end)
end)
