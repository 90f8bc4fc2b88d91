-- The TCP leak case, shared by spec/leak_spec.lua (5,000 cycles, make test)
-- and spec/soak/leak_soak_spec.lua (100,000, make soak): many connect/close
-- cycles against a local green server leave the process's open fds and
-- its RSS flat. Closed handles are freed by libuv asynchronously, so counts
-- are taken after a short sleep.
local green = require "green"
local N = require "spec.net_helpers"
local assert = require "luassert"

local L = {}

-- Under AddressSanitizer freed memory sits in a quarantine, so RSS grows
-- by design: only the fd count is checked there.
L.asan = (os.getenv("GREENLUA") or (arg and arg[-1]) or ""):match("asan") ~= nil

function L.settle()
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

-- TOTAL cycles (1,000 of them a warm-up): fds stay flat and, outside ASan,
-- the second half adds no RSS to the first.
function L.tcp_cycles_stay_flat(TOTAL)
  local HALF = (TOTAL - 1000) // 2
  local settle = L.settle
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
  if not L.asan then
    -- the allocator settles into a plateau some way after the warm-up,
    -- then stays flat: so compare the second half with the first. A leak
    -- of a few kB a cycle shows here; the soak run finds smaller ones.
    local msg = ("RSS %d kB -> %d kB -> %d kB"):format(rss0, rss_mid, rss1)
    assert.is_true(rss1 <= rss_mid + 6144, msg)
    assert.is_true(rss1 <= rss0 + 32768, msg)
  end
end

return L
