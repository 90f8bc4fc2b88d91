-- Soak (make soak, not make test): 100,000 TCP connect/close cycles against
-- a local green server leave the process's open fds and its RSS flat. The
-- unit suite (spec/leak_spec.lua) runs the same with 5,000. Closed handles
-- are freed by libuv asynchronously, so counts are taken after a short sleep.
local green = require "green"
local N = require "spec.net_helpers"

-- Under AddressSanitizer freed memory sits in a quarantine, so RSS grows
-- by design: only the fd count is checked there.
local asan = (os.getenv("GREENLUA") or (arg and arg[-1]) or ""):match("asan") ~= nil

local function settle()
  green.sleep(0.05)
  collectgarbage()
  collectgarbage()
  green.sleep(0.05)
end

-- `count` cycles: connect, wait for the server to close (it returns at
-- once, so the server side closes first and the client leaves no
-- TIME_WAIT behind to use up ephemeral ports), close. Returns the number
-- of cycles that went as expected.
local function cycles(port, count)
  local good = 0
  for _ = 1, count do
    local c = green.connect("127.0.0.1", port)
    if c then
      local d, err = c:recv(16)
      if d == nil and err == "closed" then good = good + 1 end
      c:close()
    end
  end
  return good
end

describe("soak: leaks", function()
  after_each(N.run_deferred)

  -- 100,000 cycles, as the network issue asks (10,000 under ASan, which is slow)
  local TOTAL = asan and 10000 or 100000
  local HALF = (TOTAL - 1000) // 2

  it(("%d TCP connect/close cycles leave fds and RSS flat"):format(TOTAL), function()
    local l, port = N.listener()
    N.defer(function() l:close() end)
    local handled = 0
    green.spawn(green.serve, l, function() handled = handled + 1 end)

    assert.equal(1000, cycles(port, 1000))           -- warm-up
    settle()
    local fds0, rss0 = N.own_fds(), N.rss_kb()

    assert.equal(HALF, cycles(port, HALF))
    settle()
    local fds_mid, rss_mid = N.own_fds(), N.rss_kb()
    assert.equal(TOTAL - 1000 - HALF, cycles(port, TOTAL - 1000 - HALF))
    settle()
    local fds1, rss1 = N.own_fds(), N.rss_kb()

    assert.equal(TOTAL, handled)
    assert.is_true(fds_mid <= fds0 + 2, ("fds %d -> %d"):format(fds0, fds_mid))
    assert.is_true(fds1 <= fds0 + 2, ("fds %d -> %d"):format(fds0, fds1))
    if not asan then
      -- the allocator settles into a plateau some way after the warm-up (a
      -- few MB, more over 100,000 cycles under busted), then stays flat: so
      -- compare the second half with the first. A leak of a socket's handle
      -- or buffer (about 1 kB a cycle) would add tens of MB there.
      local msg = ("RSS %d kB -> %d kB -> %d kB"):format(rss0, rss_mid, rss1)
      assert.is_true(rss1 <= rss_mid + 6144, msg)
      assert.is_true(rss1 <= rss0 + 32768, msg)
    end
  end)

end)
