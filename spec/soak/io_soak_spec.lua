-- Soak: sends larger than libuv's int and unsigned lengths (issue 8).
-- Not in the unit suite (spec/run.sh runs spec/*_spec.lua only): it builds
-- a 4 GiB string, which takes ~30 s and ~5 GB of memory on the reference
-- VM (page faults dominate). Run it with
--   GREENLUA=build/greenlua sh spec/run.sh spec/soak/io_soak_spec.lua
local green = require "green"
local N = require "spec.net_helpers"

describe("a send larger than 4 GiB", function()
  after_each(N.run_deferred)

  it("arrives whole (it was truncated to its size modulo 2^32)", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    local got, tail = 0, ""
    local reader = green.spawn(function()
      for i = 1, 1e7 do
        local d = s:recv(1024 * 1024)
        if not d then return end
        got = got + #d
        tail = (tail .. d):sub(-10)
        -- with 4 GiB live, Lua's collector would let as much garbage pile
        -- up before its next cycle
        if i % 256 == 0 then collectgarbage() end
      end
    end)
    local piece = ("x"):rep(1024 * 1024):rep(1024)  -- 1 GiB
    local data = piece .. piece .. piece .. piece .. "0123456789"
    piece = nil
    collectgarbage()
    assert.equal(4 * 2 ^ 30 + 10, #data)
    assert.equal(#data, c:send(data))
    c:close()
    reader:wait()
    assert.equal(#data, got)
    assert.equal("0123456789", tail)
  end)
end)
