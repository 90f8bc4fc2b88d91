-- UDP: green.udp (API.md, "Network"): bind, sendto, receivefrom,
-- getsockname, settimeout, close; and real peers (socat / nc). Loopback only.
local green = require "green"
local helpers = require "spec.helpers"
local T = require "spec.tls_helpers"

-- A UDP socket bound to 127.0.0.1 on an ephemeral port, closed after the test.
local function bound(timeout)
  local u = assert(green.udp({ host = "127.0.0.1", port = 0 }))
  T.defer(function() u:close() end)
  u:settimeout(timeout or 2)
  local _, port = u:getsockname()
  return u, port
end

-- A green UDP echo server: every datagram goes back to its sender.
-- Returns its port; it stops when the test ends.
local function echo_server()
  local u, port = bound(nil)
  u:settimeout(nil)
  local gt = green.spawn(function()
    for _ = 1, 100000 do
      local data, ip, p = u:receivefrom()
      if not data then return end
      u:sendto(data, ip, p)
    end
  end)
  T.defer(function() if not gt:dead() then gt:kill() end end)
  return port
end

describe("green.udp", function()
  after_each(T.run_deferred)

  it("binds to host/port and getsockname gives ip, integer port", function()
    local u, port = bound()
    local ip, p = u:getsockname()
    assert.equal("127.0.0.1", ip)
    assert.equal("integer", math.type(p))
    assert.is_true(p > 0 and p < 65536)
    assert.equal(port, p)
    -- a chosen port
    local want = T.free_udp_port()
    local v = assert(green.udp({ host = "127.0.0.1", port = want }))
    T.defer(function() v:close() end)
    assert.same({ "127.0.0.1", want }, { v:getsockname() })
  end)

  it("an unbound socket can send; afterwards getsockname names its port", function()
    local r, rport = bound()
    local u = assert(green.udp())
    T.defer(function() u:close() end)
    assert.equal(5, u:sendto("hello", "127.0.0.1", rport))
    local data, ip, port = r:receivefrom()
    assert.equal("hello", data)
    assert.equal("127.0.0.1", ip)
    local _, uport = u:getsockname()
    assert.equal(port, uport)
  end)

  it("sendto/receivefrom round-trip with addresses, giving the sender's ip and port", function()
    local a, aport = bound()
    local b, bport = bound()
    assert.equal(4, a:sendto("ping", "127.0.0.1", bport))
    local data, ip, port = b:receivefrom()
    assert.equal("ping", data)
    assert.equal("127.0.0.1", ip)
    assert.equal(aport, port)
    assert.equal("integer", math.type(port))
    assert.equal(4, b:sendto("pong", ip, port))
    local back, bip, bp = a:receivefrom()
    assert.equal("pong", back)
    assert.equal("127.0.0.1", bip)
    assert.equal(bport, bp)
  end)

  it("sendto accepts a host name (localhost)", function()
    local a = bound()
    local b, bport = bound()
    assert.equal(5, a:sendto("named", "localhost", bport))
    assert.equal("named", (b:receivefrom()))
  end)

  it("receivefrom(max) truncates a datagram; the rest of it is dropped", function()
    local a = bound()
    local b, bport = bound()
    a:sendto(("0123456789"):rep(10), "127.0.0.1", bport)
    a:sendto("next", "127.0.0.1", bport)
    local data, ip, port = b:receivefrom(10)
    assert.equal("0123456789", data)
    assert.equal("127.0.0.1", ip)
    assert.equal("integer", math.type(port))
    assert.equal("next", (b:receivefrom(10)))
  end)

  it("datagrams keep their boundaries and order", function()
    local a = bound()
    local b, bport = bound()
    local sent = { "a", "bb", "ccc", ("d"):rep(1000), "e\n", "f\0g" }
    for _, d in ipairs(sent) do assert.equal(#d, a:sendto(d, "127.0.0.1", bport)) end
    local got = {}
    for i = 1, #sent do got[i] = (b:receivefrom()) end
    assert.same(sent, got)
  end)

  it("an empty datagram arrives as an empty string", function()
    local a = bound()
    local b, bport = bound()
    assert.equal(0, a:sendto("", "127.0.0.1", bport))
    a:sendto("after", "127.0.0.1", bport)
    local data, ip = b:receivefrom()
    assert.equal("", data)
    assert.equal("127.0.0.1", ip)
    assert.equal("after", (b:receivefrom()))
  end)

  it("carries a large datagram (60000 bytes) intact", function()
    local a = bound()
    local b, bport = bound()
    local big = T.payload(60000, 5)
    assert.equal(60000, a:sendto(big, "127.0.0.1", bport))
    local data = b:receivefrom(65536)
    assert.equal(60000, #data)
    assert.is_nil(T.first_diff(big, data))
  end)

  it("datagrams sent before anyone reads are all received, in order", function()
    local a = bound()
    local b, bport = bound()
    for i = 1, 200 do a:sendto("n" .. i, "127.0.0.1", bport) end
    local got = {}
    for i = 1, 200 do
      local d, err = b:receivefrom()
      if not d then error("datagram " .. i .. ": " .. tostring(err)) end
      got[i] = d
    end
    for i = 1, 200 do assert.equal("n" .. i, got[i]) end
  end)

  it("settimeout makes receivefrom return nil, 'timeout'", function()
    local u = bound(0.15)
    local t, r = helpers.timed(u.receivefrom, u)
    assert.is_nil(r[1])
    assert.equal("timeout", r[2])
    assert.is_true(t >= 0.12 and t < 1, "took " .. t)
    -- settimeout(nil) waits again without limit (ended here by a datagram)
    u:settimeout(nil)
    local _, port = u:getsockname()
    local s = bound()
    green.spawn_after(0.05, function() s:sendto("late", "127.0.0.1", port) end)
    assert.equal("late", (u:receivefrom()))
  end)

  it("a receiver that timed out leaves the socket usable: the next datagram goes to the next receivefrom", function()
    local u, port = bound(0.05)
    assert.is_nil(u:receivefrom())
    local s = bound()
    s:sendto("first", "127.0.0.1", port)
    u:settimeout(2)
    assert.equal("first", (u:receivefrom()))
  end)

  it("closing a socket wakes a thread waiting in receivefrom with nil, 'closed'", function()
    local u = assert(green.udp({ host = "127.0.0.1", port = 0 }))
    local r
    local gt = green.spawn(function() r = table.pack(u:receivefrom()) end)
    green.sleep(0.02)
    assert.is_false(gt:dead())
    u:close()
    green.with_timeout(2, gt.wait, gt)
    assert.is_nil(r[1])
    assert.equal("closed", r[2])
  end)

  it("a killed receiver leaves the socket usable", function()
    local u, port = bound(nil)
    u:settimeout(nil)
    local gt = green.spawn(function() return u:receivefrom() end)
    green.sleep(0.02)
    gt:kill()
    assert.is_true(gt:dead())
    local s = bound()
    s:sendto("for the next one", "127.0.0.1", port)
    u:settimeout(2)
    local data, ip = u:receivefrom()
    assert.equal("for the next one", data)
    assert.equal("127.0.0.1", ip)
  end)

  it("a receiver ended by a green.Timeout leaves the socket usable", function()
    local u, port = bound(nil)
    u:settimeout(nil)
    local ok, err = pcall(green.with_timeout, 0.05, u.receivefrom, u)
    assert.is_false(ok)
    assert.is_true(green.is_timeout(err))
    local s = bound()
    s:sendto("still here", "127.0.0.1", port)
    u:settimeout(2)
    assert.equal("still here", (u:receivefrom()))
  end)

  it("a second thread blocking in receivefrom on the same socket raises", function()
    local u = bound(nil)
    u:settimeout(nil)
    local first = green.spawn(function() return u:receivefrom() end)
    T.defer(function() if not first:dead() then first:kill() end end)
    green.sleep(0.01)
    local err = helpers.error_of(u.receivefrom, u)
    assert.is_truthy(err)
  end)

  it("misuse raises: bad host type, bad max, a closed socket", function()
    local u = bound()
    assert.is_truthy(helpers.error_of(u.sendto, u, "x", 127, 1))
    assert.is_truthy(helpers.error_of(u.receivefrom, u, 0))
    u:close()
    assert.is_truthy(helpers.error_of(u.sendto, u, "x", "127.0.0.1", 9))
    assert.is_truthy(helpers.error_of(u.receivefrom, u))
    assert.is_truthy(helpers.error_of(u.getsockname, u))
    u:close()  -- closing twice is harmless
  end)

  it("an echo server answers many clients, each getting its own datagrams back", function()
    local port = echo_server()
    local clients, threads = {}, {}
    for i = 1, 5 do
      clients[i] = bound()
      threads[i] = green.spawn(function()
        local got = {}
        for j = 1, 10 do
          clients[i]:sendto(("c%d-%d"):format(i, j), "127.0.0.1", port)
          got[j] = clients[i]:receivefrom()
        end
        return got
      end)
    end
    for i = 1, 5 do
      local got = green.with_timeout(3, threads[i].wait, threads[i])
      for j = 1, 10 do assert.equal(("c%d-%d"):format(i, j), got[j]) end
    end
  end)
end)

describe("green.udp with real peers", function()
  after_each(T.run_deferred)

  local have_socat, have_nc = T.have("socat"), T.have("nc")

  it("socat sends to a green UDP echo server and gets the datagram back", function()
    if not (have_socat or have_nc) then return pending("neither socat nor nc") end
    local port = echo_server()
    local cmd
    if have_socat then
      cmd = ("timeout 5 socat -t 1 - UDP:127.0.0.1:%d"):format(port)
    else
      cmd = ("timeout 5 nc -u -w 1 127.0.0.1 %d"):format(port)
    end
    local h = T.bg(cmd, "printf 'hello from outside\\n'; sleep 2")
    T.defer(function() h:stop() end)
    assert.is_true(h:wait_output("hello from outside\n", 4), h:describe())
    assert.equal("hello from outside\n", h:out())
  end)

  it("a green client talks to socat UDP-LISTEN ... EXEC:cat", function()
    if not have_socat then return pending("no socat") end
    local port = T.free_udp_port()
    local h = T.bg(("timeout 10 socat -T 5 UDP-LISTEN:%d,bind=127.0.0.1,reuseaddr EXEC:cat"):format(port))
    T.defer(function() h:stop() end)
    local u = bound(0.2)
    -- socat may not listen yet: resend until the echo comes (bounded)
    local data, ip, from
    for _ = 1, 25 do
      assert(u:sendto("marco", "127.0.0.1", port))
      data, ip, from = u:receivefrom()
      if data then break end
    end
    assert.equal("marco", data, h:describe())
    assert.equal("127.0.0.1", ip)
    assert.equal(port, from)
    u:settimeout(2)
    -- more exchanges on the same "connection" (socat keeps the peer)
    for i = 1, 3 do
      assert(u:sendto("polo " .. i, "127.0.0.1", port))
      local d = u:receivefrom()
      for _ = 1, 25 do  -- late echoes of a resent "marco"
        if d ~= "marco" then break end
        d = u:receivefrom()
      end
      assert.equal("polo " .. i, d)
    end
  end)
end)
