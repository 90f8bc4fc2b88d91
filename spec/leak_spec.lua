-- Resource leaks: many connect/close cycles against a local green server
-- leave the process's open fds and its RSS flat. Closed handles are freed
-- by libuv asynchronously, so counts are taken after a short sleep.
local green = require "green"
local N = require "spec.net_helpers"
local helpers = require "spec.helpers"

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

describe("leaks", function()
  after_each(N.run_deferred)

  -- 5,000 cycles here; the 100,000 the network issue asks for are in
  -- spec/soak/leak_soak_spec.lua (make soak)
  local TOTAL = 5000
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
      -- the allocator settles into a plateau some way after the warm-up,
      -- then stays flat: so compare the second half with the first. A leak
      -- of a few kB a cycle shows here; the soak run finds smaller ones.
      local msg = ("RSS %d kB -> %d kB -> %d kB"):format(rss0, rss_mid, rss1)
      assert.is_true(rss1 <= rss_mid + 6144, msg)
      assert.is_true(rss1 <= rss0 + 32768, msg)
    end
  end)

  it("2,000 Unix-socket connect/close cycles leave fds flat", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. helpers.quote(dir)))
    N.defer(function() os.execute("rm -rf " .. helpers.quote(dir)) end)
    local path = dir .. "/leak.sock"
    local l = assert(green.listen_unix(path))
    N.defer(function() l:close() end)
    green.spawn(green.serve, l, function() end)
    local function unix_cycles(count)
      local good = 0
      for _ = 1, count do
        local c = green.connect_unix(path)
        if c then
          if c:recv(16) == nil then good = good + 1 end
          c:close()
        end
      end
      return good
    end
    assert.equal(200, unix_cycles(200))
    settle()
    local fds0 = N.own_fds()
    assert.equal(1800, unix_cycles(1800))
    settle()
    local fds1 = N.own_fds()
    assert.is_true(fds1 <= fds0 + 2, ("fds %d -> %d"):format(fds0, fds1))
  end)

  it("receive timeouts, kills and closes of blocked readers leave fds flat", function()
    local c, s = N.pair()
    c:close(); s:close()
    settle()
    local fds0 = N.own_fds()
    for i = 1, 300 do
      local a, b = N.pair()
      if i % 3 == 0 then
        b:settimeout(0.001)
        b:receive()
      elseif i % 3 == 1 then
        local gt = green.spawn(function() return b:receive() end)
        green.sleep(0)
        gt:kill()
      else
        local gt = green.spawn(function() return b:recv(10) end)
        green.sleep(0)
        b:close()
        gt:wait()
      end
      a:close()
      b:close()
    end
    settle()
    local fds1 = N.own_fds()
    assert.is_true(fds1 <= fds0 + 2, ("fds %d -> %d"):format(fds0, fds1))
  end)

  it("dropping sockets without closing them frees them once collected", function()
    local l, port = N.listener()
    N.defer(function() l:close() end)
    local held = {}
    green.spawn(green.serve, l, function(c) c:receive() end)   -- until the peer goes
    settle()
    local fds0 = N.own_fds()
    for i = 1, 200 do
      held[i] = green.connect("127.0.0.1", port)
    end
    held = nil   -- never closed: only the garbage collector closes them
    settle()
    green.sleep(0.1)
    settle()
    local fds1 = N.own_fds()
    assert.is_true(fds1 <= fds0 + 2, ("fds %d -> %d"):format(fds0, fds1))
  end)
end)
