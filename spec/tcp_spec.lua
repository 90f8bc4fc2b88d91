-- TCP sockets: green.listen, green.connect and the socket methods
-- (API.md, "Network"). Everything runs over loopback.
local green = require "green"
local helpers = require "spec.helpers"
local sync = require "spec.sync_helpers"
local N = require "spec.net_helpers"

-- Is there an IPv6 loopback to listen on?
local have_ipv6 = false
do
  local l = green.listen("::1", 0)
  if l then
    have_ipv6 = true
    l:close()
  end
end
local it6 = have_ipv6 and it or pending

-- A send of this many bytes waits while the peer does not read.
local UNBUFFERED = N.unbuffered_size()

-- That many bytes (numbered 4-byte groups, so a misplaced piece shows),
-- made once: tens of MB, slow to make on a loaded machine.
local unbuffered_payload do
  local cached
  function unbuffered_payload()
    if not cached then
      local piece = {}
      for i = 1, 64 do piece[#piece + 1] = ("%04d"):format(i) end
      cached = table.concat(piece):rep(UNBUFFERED // 256)
    end
    return cached
  end
end

-- A port nothing listens on (bound once, then closed).
local function free_port()
  local l, port = N.listener()
  l:close()
  green.sleep(0.01)
  return port
end

describe("green.listen", function()
  after_each(N.run_deferred)
  it("listens on 127.0.0.1, port 0 = ephemeral, and getsockname gives the port", function()
    local l = assert(green.listen("127.0.0.1", 0))
    N.defer(function() l:close() end)
    local ip, port = l:getsockname()
    assert.equal("127.0.0.1", ip)
    assert.equal("integer", math.type(port))
    assert.is_true(port > 0 and port < 65536)
    local c = assert(green.connect("127.0.0.1", port))
    N.defer(function() c:close() end)
    local s, cip, cport = l:accept()
    assert.is_truthy(s)
    N.defer(function() s:close() end)
    assert.equal("127.0.0.1", cip)
    assert.equal("integer", math.type(cport))
    local _, local_port = c:getsockname()
    assert.equal(local_port, cport)
  end)

  for _, host in ipairs({ "*", "" }) do
    it(("listens on every IPv4 interface with host %q"):format(host), function()
      local l = assert(green.listen(host, 0))
      N.defer(function() l:close() end)
      local ip, port = l:getsockname()
      assert.equal("0.0.0.0", ip)
      assert.equal("integer", math.type(port))
      local c = assert(green.connect("127.0.0.1", port))
      N.defer(function() c:close() end)
      local s = assert(l:accept())
      N.defer(function() s:close() end)
      assert.equal(3, c:send("hi\n"))
      assert.equal("hi", s:receive())
    end)
  end

  it6("listens on IPv6 with host '::' and accepts from ::1", function()
    local l = assert(green.listen("::", 0))
    N.defer(function() l:close() end)
    local ip, port = l:getsockname()
    assert.equal("::", ip)
    assert.equal("integer", math.type(port))
    local c = assert(green.connect("::1", port))
    N.defer(function() c:close() end)
    local s, cip = l:accept()
    assert.is_truthy(s)
    N.defer(function() s:close() end)
    assert.equal("::1", cip)
    assert.equal("::1", (c:getpeername()))
    c:send("six\n")
    assert.equal("six", s:receive())
  end)

  it("returns nil, err when the address is taken (without reuse_port)", function()
    local l, port = N.listener()
    N.defer(function() l:close() end)
    local l2, err = green.listen("127.0.0.1", port)
    assert.is_nil(l2)
    assert.equal("address already in use", err)
  end)

  it("raises on a port that is not an integer", function()
    assert.has_error(function() green.listen("127.0.0.1", "80") end)
    assert.has_error(function() green.listen("127.0.0.1", 1.5) end)
    assert.has_error(function() green.listen("127.0.0.1") end)
  end)
end)

describe("green.connect", function()
  after_each(N.run_deferred)
  local l, port
  before_each(function() l, port = N.listener() end)
  after_each(function() l:close() end)

  it("connects by address", function()
    local c = assert(green.connect("127.0.0.1", port))
    N.defer(function() c:close() end)
    local ip, p = c:getpeername()
    assert.equal("127.0.0.1", ip)
    assert.equal(port, p)
  end)

  it("connects by name ('localhost')", function()
    local c, err = green.connect("localhost", port)
    assert.is_truthy(c, err)
    N.defer(function() c:close() end)
    local s = assert(l:accept())
    N.defer(function() s:close() end)
    c:send("by name\n")
    assert.equal("by name", s:receive())
    local ip, p = c:getpeername()
    assert.equal("127.0.0.1", ip)
    assert.equal(port, p)
  end)

  it("returns nil, 'connection refused' when nothing listens", function()
    local p = free_port()
    local dt, r = helpers.timed(green.connect, "127.0.0.1", p)
    assert.is_nil(r[1])
    assert.equal("connection refused", r[2])
    assert.is_true(dt < 1, "took " .. dt)
  end)

  it("returns nil, 'timeout' after opts.timeout when the peer's backlog is full", function()
    local full = assert(green.listen("127.0.0.1", 0, { backlog = 1 }))
    N.defer(function() full:close() end)
    local _, fport = full:getsockname()
    local socks = {}
    N.defer(function() N.close_all(socks) end)
    local r, dt
    for _ = 1, 64 do   -- connect until one hangs; never accept
      dt, r = helpers.timed(green.connect, "127.0.0.1", fport, { timeout = 0.2 })
      if not r[1] then break end
      socks[#socks + 1] = r[1]
    end
    -- Linux drops a SYN while the accept queue is full (backlog + 1), so
    -- one of these connects must hang
    assert.is_nil(r[1], "64 connects to a listener with backlog 1 that never accepts all succeeded")
    assert.equal("timeout", r[2])
    assert.is_true(dt >= 0.19 and dt < 1.5, "took " .. dt)
  end)

  it("a timeout does not disturb a connect that succeeds at once", function()
    local c = assert(green.connect("127.0.0.1", port, { timeout = 0.5 }))
    c:close()
  end)

  it("binds the local end with opts.bind", function()
    local c = assert(green.connect("127.0.0.1", port, { bind = { "127.0.0.1", 0 } }))
    N.defer(function() c:close() end)
    local ip, p = c:getsockname()
    assert.equal("127.0.0.1", ip)
    assert.equal("integer", math.type(p))

    local want = free_port()
    local c2, err = green.connect("127.0.0.1", port, { bind = { "127.0.0.1", want } })
    assert.is_truthy(c2, err)
    N.defer(function() c2:close() end)
    assert.equal(want, select(2, c2:getsockname()))
    local s1 = assert(l:accept())
    local s2, _, peer_port = l:accept()
    N.defer(function() s1:close(); s2:close() end)
    assert.equal(want, peer_port)
  end)

  it("raises on a port that is not an integer", function()
    assert.has_error(function() green.connect("127.0.0.1", "80") end)
    assert.has_error(function() green.connect("127.0.0.1", tostring(port)) end)
    assert.has_error(function() green.connect("127.0.0.1", 1.5) end)
    assert.has_error(function() green.connect("127.0.0.1", nil) end)
  end)

  it("raises on a host that is not a string", function()
    assert.has_error(function() green.connect(nil, port) end)
    assert.has_error(function() green.connect(127, port) end)
  end)
end)

describe("socket:receive", function()
  after_each(N.run_deferred)
  local c, s
  before_each(function() c, s = N.pair() end)
  after_each(function() c:close(); s:close() end)

  it("'*l' and 'l' return a line with CR and LF stripped; it is the default", function()
    c:send("one\r\ntwo\nthree\r\n\nfour\n")
    assert.equal("one", s:receive("*l"))
    assert.equal("two", s:receive("l"))
    assert.equal("three", s:receive())
    assert.equal("", s:receive())
    assert.equal("four", s:receive("*l"))
  end)

  it("a line split over several sends comes back whole", function()
    local gt = green.spawn(function()
      for _, piece in ipairs({ "ab", "cd", "ef\r", "\n" }) do
        c:send(piece)
        green.sleep(0.01)
      end
    end)
    assert.equal("abcdef", s:receive("*l"))
    gt:wait()
  end)

  it("'*a' and 'a' return everything until the peer closes", function()
    c:send("first\n")
    c:send("second")
    c:close()
    assert.equal("first\nsecond", s:receive("*a"))

    local c2, s2 = N.pair()
    N.defer(function() s2:close() end)
    c2:send("x\0y")
    c2:close()
    assert.equal("x\0y", s2:receive("a"))
  end)

  it("a number n returns exactly n bytes", function()
    local gt = green.spawn(function()
      c:send("abc")
      green.sleep(0.01)
      c:send("defgh\nij")
    end)
    assert.equal("abcde", s:receive(5))
    assert.equal("fgh\n", s:receive(4))
    assert.equal("ij", s:receive(2))
    gt:wait()
  end)

  it("prepends prefix to the result", function()
    c:send("abc\nxyz")
    assert.equal("pre-abc", s:receive("*l", "pre-"))
    assert.equal(">xy", s:receive(2, ">"))
    c:close()
    assert.equal("[z", s:receive("*a", "["))
  end)

  it("at EOF returns nil, 'closed' and the partial data", function()
    c:send("partial")
    c:close()
    local r = table.pack(s:receive("*l"))
    assert.is_nil(r[1])
    assert.equal("closed", r[2])
    assert.equal("partial", r[3])
  end)

  it("at EOF with a byte count returns nil, 'closed' and what there was", function()
    c:send("1234")
    c:close()
    local r = table.pack(s:receive(10))
    assert.is_nil(r[1])
    assert.equal("closed", r[2])
    assert.equal("1234", r[3])
    -- nothing is left afterwards
    local r2 = table.pack(s:receive(1))
    assert.is_nil(r2[1])
    assert.equal("closed", r2[2])
    assert.equal("", r2[3])
  end)

  it("raises on an invalid pattern", function()
    assert.has_error(function() s:receive("*x") end)
    assert.has_error(function() s:receive(-1) end)
    assert.has_error(function() s:receive(1.5) end)
  end)
end)

describe("socket:recv", function()
  after_each(N.run_deferred)
  local c, s
  before_each(function() c, s = N.pair() end)
  after_each(function() c:close(); s:close() end)

  it("returns up to max bytes as soon as any arrive", function()
    green.spawn_after(0.05, function() c:send("hello") end)
    local dt, r = helpers.timed(s.recv, s, 1000)
    assert.equal("hello", r[1])
    assert.is_true(dt >= 0.04 and dt < 1, "took " .. dt)
    c:send("abcdef")
    green.sleep(0.02)
    assert.equal("abc", s:recv(3))
    assert.equal("def", s:recv(100))
  end)

  it("returns nil, 'closed' at EOF, after the last data", function()
    c:send("tail")
    c:close()
    green.sleep(0.02)
    assert.equal("tail", s:recv(100))
    local d, err = s:recv(100)
    assert.is_nil(d)
    assert.equal("closed", err)
  end)
end)

describe("socket:lines", function()
  after_each(N.run_deferred)
  it("iterates over lines, CR stripped, including a last line without newline", function()
    local c, s = N.pair()
    N.defer(function() s:close() end)
    c:send("a\r\nb\n\nc")
    c:close()
    local got = {}
    for line in s:lines() do
      got[#got + 1] = line
      if #got > 10 then break end
    end
    assert.same({ "a", "b", "", "c" }, got)
  end)

  it("ends without an extra empty line when the data ends with a newline", function()
    local c, s = N.pair()
    N.defer(function() s:close() end)
    c:send("x\ny\n")
    c:close()
    local got = {}
    for line in s:lines() do
      got[#got + 1] = line
      if #got > 10 then break end
    end
    assert.same({ "x", "y" }, got)
  end)
end)

describe("socket:send", function()
  after_each(N.run_deferred)
  it("returns the byte count", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    assert.equal(5, c:send("hello"))
    assert.equal(0, c:send(""))
    assert.equal("hello", s:receive(5))
  end)

  it("sends everything (8 MB) while the peer reads slowly", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    local size = 8 * 1024 * 1024
    local chunk = {}
    for i = 0, 255 do chunk[#chunk + 1] = string.char(i) end
    local payload = table.concat(chunk):rep(size // 256)
    local got, reads = {}, 0
    local reader = green.spawn(function()
      local n = 0
      for _ = 1, 100000 do
        if n >= size then break end
        local d = s:recv(256 * 1024)
        if not d then break end
        got[#got + 1] = d
        n = n + #d
        reads = reads + 1
        if reads % 4 == 0 then green.sleep(0.005) end   -- a slow reader
      end
    end)
    local dt, r = helpers.timed(c.send, c, payload)
    assert.equal(size, r[1])
    reader:wait()
    local data = table.concat(got)
    assert.equal(size, #data)
    assert.is_true(data == payload, "the data differ")
    assert.is_true(dt < 8, "took " .. dt)
  end)

  it("other green threads run while a large send waits for the peer", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    local entered, returned, peer_read = false, false, false
    local data = unbuffered_payload()
    local sender = green.spawn(function()
      entered = true
      local n = c:send(data)
      returned = true
      return n
    end)
    -- spawned after the sender, so it runs once the sender is suspended:
    -- the send has started and not returned, and nobody has read yet
    local seen = {}
    local witness = green.spawn(function()
      seen[1] = entered and not returned and not peer_read
      green.sleep(0.1)                  -- a timer fires meanwhile too
      seen[2] = entered and not returned and not peer_read
    end)
    assert.is_true(sync.all_dead({ witness }, 60))
    assert.same({ true, true }, seen)
    peer_read = true
    s:settimeout(60)
    local got = 0
    for _ = 1, UNBUFFERED do
      if got >= UNBUFFERED then break end
      local d = s:recv(1024 * 1024)
      if not d then break end
      got = got + #d
    end
    assert.equal(UNBUFFERED, got)
    assert.equal(UNBUFFERED, sender:wait())
  end)
end)

describe("large transfers past the read buffer's high-water mark", function()
  after_each(N.run_deferred)

  local function blob(size)
    local piece = {}
    for i = 0, 255 do piece[#piece + 1] = string.char(i) end
    return table.concat(piece):rep(size // 256 + 1):sub(1, size)
  end

  it("receive('*a') gets 3 MB sent then closed by the peer", function()
    local c, s = N.pair()
    N.defer(function() s:close() end)
    local payload = blob(3 * 1024 * 1024)
    green.spawn(function() c:send(payload); c:close() end)
    s:settimeout(5)
    local got, err = s:receive("*a")
    assert.is_truthy(got, err)
    assert.equal(#payload, #got)
    assert.is_true(got == payload, "the data differ")
  end)

  it("receive(n) with n = 1.5 MB returns exactly that, the rest stays", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    local payload = blob(2 * 1024 * 1024)
    green.spawn(function() c:send(payload) end)
    s:settimeout(5)
    local n = 1536 * 1024
    local got, err = s:receive(n)
    assert.is_truthy(got, err)
    assert.is_true(got == payload:sub(1, n), "first part differs")
    local rest = s:receive(#payload - n)
    assert.is_true(rest == payload:sub(n + 1), "rest differs")
  end)

  it("receive('*l') gets a 1 MB line", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    local line = ("L"):rep(1024 * 1024)
    green.spawn(function() c:send(line .. "\r\nnext\n") end)
    s:settimeout(5)
    local got, err = s:receive()
    assert.is_truthy(got, err)
    assert.equal(#line, #got)
    assert.equal("next", s:receive())
  end)
end)

describe("blocked senders", function()
  after_each(N.run_deferred)

  local size = UNBUFFERED   -- a send of it waits while the peer does not read
  local payload = unbuffered_payload

  it("closing a socket wakes a thread blocked in send with nil, 'closed', sent", function()
    local c, s = N.pair()
    N.defer(function() s:close() end)
    local gt, rec = sync.track(function() return c:send(payload()) end)
    green.sleep(0.05)                       -- nobody reads: the send waits
    assert.is_false(rec.done)
    c:close()
    assert.is_true(sync.all_dead({ gt }, 10))
    assert.is_true(rec.ok, tostring(rec.err))
    assert.is_nil(rec.values[1])
    assert.equal("closed", rec.values[2])
    assert.equal("integer", math.type(rec.values[3]))
    assert.is_true(rec.values[3] >= 0 and rec.values[3] < size)
  end)

  it("a second thread sending while one is blocked in send raises", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    local data = payload()
    local gt = green.spawn(function() return c:send(data) end)
    green.sleep(0.05)
    assert.is_false(gt:dead())
    local err = helpers.error_of(c.send, c, "x")
    assert.is_truthy(err)
    assert.matches("another green thread", tostring(err))
    assert.equal(size, #N.read_n(s, size, 60))
    assert.equal(size, gt:wait())
  end)

  it("a thread killed in send: what follows is not interleaved with what it sent", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    local data = payload()
    local gt = green.spawn(function() return c:send(data) end)
    green.sleep(0.05)
    assert.is_false(gt:dead())
    gt:kill()
    assert.is_true(gt:dead())
    local gt2 = green.spawn(function() return c:send("END") end)
    local got = {}
    local reader = green.spawn(function()
      for _ = 1, 100000 do
        local d = s:recv(1024 * 1024)
        if not d then return end
        got[#got + 1] = d
      end
    end)
    assert.equal(3, gt2:wait())
    c:close()
    assert.is_true(sync.all_dead({ reader }, 60))
    local all = table.concat(got)
    assert.equal("END", all:sub(-3))
    local prefix = all:sub(1, -4)
    assert.is_true(prefix == data:sub(1, #prefix),
      ("the %d bytes before END are not a prefix of the payload"):format(#prefix))
  end)

  it("after a send timeout, the peer gets exactly the first `sent` bytes before what follows", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    local data = payload()
    c:settimeout(0.05)
    local r = table.pack(c:send(data))
    assert.is_nil(r[1])
    assert.equal("timeout", r[2])
    local sent = r[3]
    assert.equal("integer", math.type(sent))
    c:settimeout(60)
    local got = {}
    local reader = green.spawn(function()
      for _ = 1, 100000 do
        local d = s:recv(1024 * 1024)
        if not d then return end
        got[#got + 1] = d
      end
    end)
    -- LuaSocket style: resend what was not sent
    local n, err = c:send(data:sub(sent + 1))
    assert.equal(size - sent, n, err)
    c:close()
    assert.is_true(sync.all_dead({ reader }, 60))
    local all = table.concat(got)
    assert.equal(size, #all, ("peer got %d bytes for a %d-byte payload (send reported %d sent)")
      :format(#all, size, sent))
    assert.is_true(all == data, "the data differ")
  end)
end)

describe("socket:settimeout", function()
  after_each(N.run_deferred)
  local c, s
  before_each(function() c, s = N.pair() end)
  after_each(function() c:close(); s:close() end)

  it("receive returns nil, 'timeout' and the partial data, which is consumed", function()
    c:send("abc")
    s:settimeout(0.05)
    local dt, r = helpers.timed(s.receive, s, "*l")
    assert.is_nil(r[1])
    assert.equal("timeout", r[2])
    assert.equal("abc", r[3])
    assert.is_true(dt >= 0.04 and dt < 1, "took " .. dt)
    c:send("def\n")
    assert.equal("def", s:receive("*l"))   -- not "abcdef"
  end)

  it("applies per operation, to a byte count and to recv too", function()
    s:settimeout(0.05)
    c:send("12")
    local r = table.pack(s:receive(5))
    assert.is_nil(r[1])
    assert.equal("timeout", r[2])
    assert.equal("12", r[3])
    local d, err = s:recv(10)
    assert.is_nil(d)
    assert.equal("timeout", err)
    -- each operation gets the full timeout again: y comes after one timeout
    -- from the first recv's start, but within the second recv's (each
    -- with 0.25 s or more to spare)
    s:settimeout(0.6)
    green.spawn_after(0.3, function() c:send("x") end)
    green.spawn_after(0.65, function() c:send("y") end)
    assert.equal("x", s:recv(10))
    assert.equal("y", s:recv(10))
  end)

  it("settimeout(nil) means no timeout again", function()
    s:settimeout(0.01)
    s:settimeout(nil)
    green.spawn_after(0.05, function() c:send("late\n") end)
    assert.equal("late", s:receive())
  end)

  it("a thread timed out (green.Timeout) in accept leaves the listener usable", function()
    local l, port = N.listener()
    N.defer(function() l:close() end)
    local gt, rec = sync.track_timeout(0.03, function() return l:accept() end)
    assert.is_true(sync.all_dead({ gt }, 1))
    assert.is_true(green.is_timeout(rec.err))
    local cc = assert(green.connect("127.0.0.1", port))
    N.defer(function() cc:close() end)
    local ss = l:accept()
    assert.is_truthy(ss)
    ss:close()
  end)

  it("applies to accept", function()
    local l, port = N.listener()
    N.defer(function() l:close() end)
    l:settimeout(0.05)
    local dt, r = helpers.timed(l.accept, l)
    assert.is_nil(r[1])
    assert.equal("timeout", r[2])
    assert.is_true(dt >= 0.04 and dt < 1, "took " .. dt)
    -- the listener still works afterwards
    local cc = assert(green.connect("127.0.0.1", port))
    N.defer(function() cc:close() end)
    local ss = l:accept()
    assert.is_truthy(ss)
    ss:close()
  end)
end)

describe("socket:shutdown", function()
  after_each(N.run_deferred)
  it("shutdown('send') makes the peer's receive('*a') return; the other way still works", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    c:send("request")
    assert.is_true(c:shutdown("send"))
    local got
    local gt = green.spawn(function()
      got = s:receive("*a")
      s:send("response")
      s:close()
    end)
    local r = c:receive("*a")
    gt:wait()
    assert.equal("request", got)
    assert.equal("response", r)
  end)

  it("send after shutdown('send') returns nil, 'closed'", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    c:shutdown("send")
    local n, err = c:send("more")
    assert.is_nil(n)
    assert.equal("closed", err)
  end)
end)

describe("socket names and options", function()
  after_each(N.run_deferred)
  it("getpeername and getsockname return ip, port with an integer port", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    local cip, cport = c:getsockname()
    local pip, pport = c:getpeername()
    local sip, sport = s:getsockname()
    local spip, spport = s:getpeername()
    assert.equal("127.0.0.1", cip)
    assert.equal("127.0.0.1", pip)
    for _, p in ipairs({ cport, pport, sport, spport }) do
      assert.equal("integer", math.type(p))
    end
    assert.equal(sip, pip)
    assert.equal(sport, pport)
    assert.equal(cip, spip)
    assert.equal(cport, spport)
  end)

  it("setoption('tcp-nodelay') and setoption('keepalive') return true", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    assert.is_true(c:setoption("tcp-nodelay", true))
    assert.is_true(c:setoption("tcp-nodelay", false))
    assert.is_true(s:setoption("keepalive", true))
    assert.is_true(s:setoption("keepalive", false))
    c:send("still fine\n")
    assert.equal("still fine", s:receive())
  end)
end)

describe("closing and concurrent use", function()
  after_each(N.run_deferred)
  local function blocked_then_closed(op)
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    local gt, rec = sync.track(function() return op(s) end)
    green.sleep(0.02)
    assert.is_false(rec.done)
    s:close()
    assert.is_true(sync.all_dead({ gt }, 1))
    assert.is_true(rec.ok, tostring(rec.err))
    return rec.values
  end

  it("closing a socket wakes a thread blocked in receive with nil, 'closed'", function()
    local v = blocked_then_closed(function(s) return s:receive("*l") end)
    assert.is_nil(v[1])
    assert.equal("closed", v[2])
  end)

  it("closing a socket wakes a thread blocked in recv with nil, 'closed'", function()
    local v = blocked_then_closed(function(s) return s:recv(10) end)
    assert.is_nil(v[1])
    assert.equal("closed", v[2])
  end)

  it("closing a listener wakes a thread blocked in accept with nil, 'closed'", function()
    local l = N.listener()
    local gt, rec = sync.track(function() return l:accept() end)
    green.sleep(0.02)
    assert.is_false(rec.done)
    l:close()
    assert.is_true(sync.all_dead({ gt }, 1))
    assert.is_true(rec.ok, tostring(rec.err))
    assert.is_nil(rec.values[1])
    assert.equal("closed", rec.values[2])
  end)

  it("a second thread receiving on the same socket raises", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    local first, rec = sync.track(function() return s:receive("*l") end)
    green.sleep(0.01)
    local err = helpers.error_of(s.receive, s, "*l")
    assert.is_truthy(err)
    assert.matches("another green thread", tostring(err))
    err = helpers.error_of(s.recv, s, 10)
    assert.is_truthy(err)
    -- the first reader is undisturbed
    c:send("for the first\n")
    assert.is_true(sync.all_dead({ first }, 1))
    assert.same({ n = 1, "for the first" }, rec.values)
  end)

  it("a thread killed while blocked in receive leaves the socket usable, no bytes lost", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    local gt, rec = sync.track(function() return s:receive(10) end)
    green.sleep(0.01)
    c:send("12345")
    green.sleep(0.02)
    assert.is_false(rec.done)
    green.kill(gt)
    assert.is_true(rec.done)
    assert.is_true(sync.is_exit(rec.err))
    c:send("67890abc")
    assert.equal("1234567890", s:receive(10))
    assert.equal("abc", s:receive(3))
  end)

  it("a thread timed out (green.Timeout) in receive leaves the socket usable, no bytes lost", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    local gt, rec = sync.track_timeout(0.05, function() return s:receive("*l") end)
    green.sleep(0.01)
    c:send("part one, ")
    assert.is_true(sync.all_dead({ gt }, 1))
    assert.is_false(rec.ok)
    assert.is_true(green.is_timeout(rec.err))
    c:send("part two\n")
    assert.equal("part one, part two", s:receive("*l"))
    -- and another thread can read it now
    local gt2, rec2 = sync.track(function() return s:recv(10) end)
    c:send("next")
    assert.is_true(sync.all_dead({ gt2 }, 1))
    assert.equal("next", rec2.values[1])
  end)

  it("a thread killed while blocked in recv lets another read at once", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    local gt = green.spawn(function() return s:recv(10) end)
    green.sleep(0.01)
    gt:kill()
    c:send("hi")
    assert.equal("hi", s:recv(10))
  end)

  it("operating on a socket you closed raises", function()
    local c, s = N.pair()
    s:close()
    c:close()
    assert.has_error(function() c:receive() end)
    assert.has_error(function() c:recv(1) end)
    assert.has_error(function() c:send("x") end)
    assert.has_error(function() c:getpeername() end)
    assert.has_error(function() c:getsockname() end)
    assert.has_error(function() c:setoption("keepalive", true) end)
    assert.has_error(function() c:shutdown("send") end)
    local l = N.listener()
    l:close()
    assert.has_error(function() l:accept() end)
  end)

  it("100 concurrent clients against one server all get correct echoes", function()
    local l, port = N.echo_server()
    N.defer(function() l:close() end)
    local results, threads = {}, {}
    for i = 1, 100 do
      threads[i] = green.spawn(function()
        local c, err = green.connect("127.0.0.1", port)
        if not c then results[i] = "connect: " .. tostring(err) return end
        local ok = true
        for j = 1, 5 do
          local msg = ("client %d line %d %s"):format(i, j, ("."):rep(i * j))
          c:send(msg .. "\n")
          local back = c:receive("*l")
          if back ~= msg then ok = false end
          green.sleep(0)
        end
        c:close()
        results[i] = ok
      end)
    end
    assert.is_true(sync.all_dead(threads, 8))
    for i = 1, 100 do
      assert.equal(true, results[i], "client " .. i .. ": " .. tostring(results[i]))
    end
  end)
end)
