-- Hardening of the hub and the green-thread core (issue 8): nothing a
-- script does with spawn, coroutines, error objects, kills or timers may
-- crash the host or break a documented promise.
local green = require "green"
local helpers = require "spec.helpers"
local cli = require "spec.cli_helpers"

local pack, unpack = table.pack, table.unpack

-- An array 1..n with nils at both ends (n >= 4), so lost nils show.
local function args_of(n)
  local t = { n = n }
  for i = 2, n - 1 do t[i] = i end
  return t
end

-- Check that a received pack is args_of(n).
local function same_args(n, got)
  assert.equal(n, got.n)
  assert.is_nil(got[1])
  assert.is_nil(got[n])
  for i = 2, n - 1 do
    if got[i] ~= i then error(("argument %d is %s"):format(i, tostring(got[i])), 2) end
  end
end

describe("hardening: core", function()
  after_each(helpers.run_deferred)

  describe("spawn with many arguments", function()
    for _, n in ipairs({ 9, 60, 200, 250, 100000 }) do
      it("spawn passes " .. n .. " arguments", function()
        local a = args_of(n)
        local got = pack(green.spawn(function(...) return pack(...) end, unpack(a, 1, n)):wait())
        same_args(n, got[1])
      end)

      it("spawn_n passes " .. n .. " arguments", function()
        local a, got = args_of(n), nil
        green.spawn_n(function(...) got = pack(...) end, unpack(a, 1, n))
        green.sleep(0)
        same_args(n, got)
      end)

      it("spawn_after passes " .. n .. " arguments", function()
        local a = args_of(n)
        local gt = green.spawn_after(0, function(...) return pack(...) end, unpack(a, 1, n))
        same_args(n, gt:wait())
      end)
    end

    it("a thread can return as many values as it was given", function()
      local a = args_of(250)
      local got = pack(green.spawn(function(...) return ... end, unpack(a, 1, 250)):wait())
      same_args(250, got)
    end)
  end)
end)
