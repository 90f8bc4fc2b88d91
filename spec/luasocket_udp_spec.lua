-- The udp objects of the green socket.core (host/luasocket/udp.c): every
-- method of LuaSocket 3.1.0's udp with its results and strings (the
-- reference: Debian's LuaSocket under lua5.4, line for line), and green:
-- a receive or send that waits blocks only its own thread, within
-- LuaSocket's timeouts; an interrupted one leaves nothing behind.
local green = require "green"
local diff = require "spec.luasocket_diff_helpers"
local socket = require "socket"

-- Two bound udp4 objects on 127.0.0.1 and the other's port for each.
local function pair()
  local a, b = assert(socket.udp4()), assert(socket.udp4())
  assert(a:setsockname("127.0.0.1", 0))
  assert(b:setsockname("127.0.0.1", 0))
  local _, pa = a:getsockname()
  local _, pb = b:getsockname()
  return a, b, pa, pb
end

describe("green socket.core udp", function()
  it("matches Debian's LuaSocket method for method, line for line", function()
    diff.compare("spec/luasocket_udp_diff.lua", nil, 90)
  end)

  it("lets other threads run while receive waits, and wakes on the datagram", function()
    local a, b, _, pb = pair()
    local order = {}
    local reader = green.spawn(function()
      b:settimeout(5)
      local d, ip = b:receivefrom()
      order[#order + 1] = "got " .. tostring(d) .. " from " .. tostring(ip)
    end)
    green.sleep(0)
    order[#order + 1] = "main ran"
    assert.equal(5, a:sendto("hello", "127.0.0.1", pb))
    reader:wait()
    assert.same({"main ran", "got hello from 127.0.0.1"}, order)
    a:close() b:close()
  end)

  it("waits at most the block timeout, others ticking meanwhile", function()
    local _, b = pair()
    local ticks = 0
    local ticker = green.spawn(function()
      for _ = 1, 1000 do ticks = ticks + 1; green.sleep(0.01) end
    end)
    b:settimeout(0.2)
    local t0 = green.now()
    local d, err = b:receive()
    local took = green.now() - t0
    ticker:kill()
    assert.is_nil(d)
    assert.equal("timeout", err)
    assert.is_true(took >= 0.19, "took " .. took)
    assert.is_true(ticks >= 3, "ticks: " .. ticks)
    b:settimeout(0.2, "t")
    b:settimeout(-1)
    assert.same({nil, "timeout"}, {b:receive()})
    b:close()
  end)

  it("never waits with a zero timeout, and does not switch", function()
    local _, b = pair()
    b:settimeout(0)
    local n = green.stats().switches
    assert.same({nil, "timeout"}, {b:receive()})
    assert.same({nil, "timeout"}, {b:receivefrom()})
    assert.equal(n, green.stats().switches)
    b:close()
  end)

  it("raises for a second thread receiving on the same object", function()
    local _, b = pair()
    local first = green.spawn(function() return b:receive() end)
    green.sleep(0)
    local ok, err = pcall(b.receive, b)
    assert.is_false(ok)
    assert.matches("another green thread is waiting to read fd", err)
    first:kill()
    b:close()
  end)

  it("leaves nothing behind when a waiting receive is killed or times out", function()
    local a, b, _, pb = pair()
    local t = green.spawn(function() return b:receive() end)
    green.sleep(0)
    t:kill()
    local ok, err = pcall(function()
      local tm <close> = green.Timeout(0.05)
      return b:receivefrom()
    end)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("Timeout") or (green.is_timeout and green.is_timeout(err)))
    -- the object still works, and a new waiter is welcome
    local reader = green.spawn(function() b:settimeout(5); return b:receive() end)
    green.sleep(0)
    a:sendto("again", "127.0.0.1", pb)
    assert.equal("again", reader:wait())
    a:close() b:close()
  end)

  it("gives a waiting receive 3.1.0's closed answer when another thread closes it", function()
    local _, b = pair()
    local reader = green.spawn(function() return b:receive() end)
    green.sleep(0)
    b:close()
    assert.equal("", reader:wait())  -- 3.1.0: a closed udp object receives ""
  end)

  it("resolves names for setpeername and setsockname on the pool, others running", function()
    local order = {}
    green.spawn(function() order[#order + 1] = "other" end)
    local c = assert(socket.udp())
    assert.equal(1, c:setpeername("localhost", 9))
    order[#order + 1] = "setpeername"
    assert.same({"other", "setpeername"}, order)
    assert.equal("inet4", c:getfamily())
    c:close()
    local n = green.stats().switches
    local d = assert(socket.udp())
    assert.equal(1, d:setsockname("127.0.0.1", 0))
    assert.equal(n, green.stats().switches)  -- numeric: no switch
    d:close()
  end)

  it("is selectable: socket.select wakes on a datagram, others running", function()
    local a, b, _, pb = pair()
    local sender = green.spawn(function()
      green.sleep(0.05)
      a:sendto("sel", "127.0.0.1", pb)
    end)
    local r, w, err = socket.select({b}, nil, 5)
    assert.is_nil(err)
    assert.equal(b, r[1])
    assert.same({}, w)
    assert.equal("sel", b:receive())
    sender:wait()
    a:close() b:close()
  end)

  it("setfd adopts only an fd a green socket made, and -1 gives it away", function()
    local a, b = pair()
    local _, pa = a:getsockname()
    local ok, err = pcall(b.setfd, b, 0)  -- stdin: not a green socket's
    assert.is_false(ok)
    assert.matches("setfd: not supported", err)
    b:setfd(a:getfd())  -- 3.1.0's testclnt does d:setfd(c:getfd())
    assert.equal(a:getfd(), b:getfd())
    assert.equal(pa, select(2, b:getsockname()))
    a:setfd(-1)
    assert.equal(-1, a:getfd())
    assert.equal(1, b:close())
    assert.equal(1, a:close())
  end)

  it("exchanges many datagrams between green threads", function()
    local a, b, pa, pb = pair()
    a:settimeout(5) b:settimeout(5)
    local echo = green.spawn(function()
      for _ = 1, 200 do
        local d, ip, port = b:receivefrom()
        b:sendto(d, ip, port)
      end
    end)
    for i = 1, 200 do
      a:sendto("n" .. i, "127.0.0.1", pb)
      local d, ip, port = a:receivefrom()
      assert.equal("n" .. i, d)
      assert.equal("127.0.0.1", ip)
      assert.equal(tonumber(pb), port)
    end
    echo:wait()
    assert.is_truthy(pa)
    a:close() b:close()
  end)
end)
