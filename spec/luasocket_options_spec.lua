-- setoption/getoption of the green socket.core and socket.unix (host/luasocket/
-- options.c): every name LuaSocket 3.1.0 supports for tcp, udp and unix,
-- with its results and errors, compared with Debian's LuaSocket under lua5.4.
local diff = require "spec.luasocket_diff_helpers"
local socket = require "socket"

describe("green socket.core options", function()
  it("match Debian's LuaSocket for every name, value and class, line for line", function()
    local n = diff.compare("spec/luasocket_options_diff.lua", nil, 2000)
    assert.is_true(n > 2000)
  end)

  it("turn numbers into C ints without undefined behaviour (NaN, huge, negative)", function()
    -- 3.1.0 casts with (int): x86-64 gives INT_MIN for NaN and out of
    -- range; the sanitized build must not trap on them
    local u = assert(socket.udp4())
    for _, v in ipairs({0 / 0, 1e300, -1e300, 2 ^ 31, -2 ^ 31 - 1, math.huge, -math.huge}) do
      local ok, a, b = pcall(u.setoption, u, "recv-buffer-size", v)
      assert.is_true(ok, tostring(a))
      assert.is_true(a == 1 or (a == nil and b == "setsockopt failed"))
    end
    local t = assert(socket.tcp4())
    for _, v in ipairs({0 / 0, 1e300, -1e300, 65536, -1}) do
      local ok, a = pcall(t.setoption, t, "linger", {on = true, timeout = v})
      assert.is_true(ok, tostring(a))
    end
    local u6 = assert(socket.udp6())
    for _, v in ipairs({0 / 0, 1e300, -1, 2 ^ 63, 2 ^ 64}) do
      local ok, a = pcall(u6.setoption, u6, "ipv6-add-membership", {multiaddr = "ff02::fb", interface = v})
      assert.is_true(ok, tostring(a))
    end
    u:close() t:close() u6:close()
  end)

  it("raise 3.1.0's message for an unknown name, cut at 35 bytes", function()
    local t = assert(socket.tcp4())
    local ok, err = pcall(t.setoption, t, string.rep("x", 50), true)
    assert.is_false(ok)
    assert.matches("unsupported option `" .. string.rep("x", 35) .. "'", err, 1, true)
    t:close()
  end)
end)
