-- TLS: green.wrap_ssl over OpenSSL (API.md, "Network"), green server and
-- green client on loopback. Certificates are made at test time (a CA, a
-- server cert it signs for localhost/127.0.0.1, a plain self-signed cert
-- and a client cert) by spec/tls_helpers.lua.
local green = require "green"
local helpers = require "spec.helpers"
local T = require "spec.tls_helpers"
local N = require "spec.net_helpers"

local C = T.certs()

-- Client options that trust the test CA and check the name "localhost".
local function trusting(extra)
  local o = { cafile = C.ca, server_hostname = "localhost" }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- Connect to 127.0.0.1:port and wrap as a TLS client.
local function tls_connect(port, opts)
  local s, err = green.connect("127.0.0.1", port, { timeout = 30 })
  if not s then return nil, err end
  s:settimeout(30)   -- per operation: only a failure waits that long
  return green.wrap_ssl(s, opts)
end

-- A wrapped listener whose first accepted client is given to fn (in its own
-- green thread, 30 s per operation: only a failure waits that long).
-- Returns the port, a result table (res.client, res.values = fn's results
-- packed) and the thread.
local function one_shot(server_opts, fn)
  local l, port = T.listener()
  assert(green.wrap_ssl(l, server_opts or T.server_opts()))
  local res = {}
  local gt = green.spawn(function()
    local c = assert(l:accept())
    res.client = c
    c:settimeout(30)
    res.values = table.pack(fn(c))
  end)
  T.defer(function()
    if not gt:dead() then gt:kill() end
    T.close_all(res.client, l)
  end)
  return port, res, gt
end

-- Wait for a green thread, at most `limit` seconds; re-raises its error.
local function wait_gt(gt, limit)
  return green.with_timeout(limit or 30, gt.wait, gt)
end

describe("wrap_ssl: green server and green client", function()
  after_each(T.run_deferred)

  it("round-trips lines, counted receives and recv, both directions", function()
    local port, res, gt = one_shot(nil, function(c)
      assert(c:handshake())
      assert.equal("hello", c:receive())
      assert(c:send("HELLO\r\n"))
      local five = c:receive(5)
      assert(c:send(five:upper()))
      local got = c:recv(100)
      assert(c:send("recv:" .. got .. "\n"))
      return true
    end)
    local c, err = tls_connect(port, trusting())
    assert.is_truthy(c, err)
    T.defer(function() c:close() end)
    assert.matches("tls", tostring(c))
    assert.equal(6, c:send("hello\n"))
    assert.equal("HELLO", c:receive("*l"))
    assert.equal(5, c:send("abcde"))
    assert.equal("ABCDE", c:receive(5))
    assert(c:send("xyz"))
    assert.equal("recv:xyz", c:receive())
    wait_gt(gt)
    assert.is_true(res.values[1])
    local ip, p = c:getpeername()
    assert.equal("127.0.0.1", ip)
    assert.equal(port, p)
  end)

  it("recv(max) gives at most max bytes of decrypted data", function()
    local port, _, gt = one_shot(nil, function(c)
      assert(c:send(("x"):rep(1000)))
      return c:receive()  -- wait for the client to finish
    end)
    local c = assert(tls_connect(port, trusting()))
    T.defer(function() c:close() end)
    local first = assert(c:recv(10))
    assert.is_true(#first >= 1 and #first <= 10)
    local rest = c:receive(1000 - #first)
    assert.equal(("x"):rep(1000), first .. rest)
    c:send("done\n")
    wait_gt(gt)
  end)

  it("lines() iterates over a TLS socket", function()
    local port, _, gt = one_shot(nil, function(c)
      assert(c:send("one\r\ntwo\nthree"))
      c:close()
    end)
    local c = assert(tls_connect(port, trusting()))
    T.defer(function() c:close() end)
    local lines = {}
    for line in c:lines() do
      lines[#lines + 1] = line
      if #lines > 10 then break end
    end
    assert.same({ "one", "two", "three" }, lines)
    wait_gt(gt)
  end)

  it("carries several MB both ways at once: nothing lost, exact bytes", function()
    local up, down = T.payload(5 * 1024 * 1024, 1), T.payload(6 * 1024 * 1024, 2)
    -- per-operation timeouts of 30 s: a receive of 5 MB is one operation,
    -- and a loaded machine under ASan moves it slowly
    local port, res, gt = one_shot(nil, function(c)
      c:settimeout(30)
      assert(c:handshake())
      local writer = green.spawn(function() return c:send(down) end)
      local got, err = c:receive(#up)
      local sent = table.pack(writer:wait())
      return got, err, sent
    end)
    local c = assert(tls_connect(port, trusting()))
    T.defer(function() c:close() end)
    c:settimeout(30)
    local writer = green.spawn(function() return c:send(up) end)
    local parts, n = {}, 0
    for _ = 1, 100000 do
      if n >= #down then break end
      local d, err = c:recv(65536)
      if not d then error("recv failed after " .. n .. " bytes: " .. tostring(err)) end
      parts[#parts + 1] = d
      n = n + #d
    end
    local got = table.concat(parts)
    assert.equal(#up, (writer:wait()))
    wait_gt(gt, 30)
    assert.equal(#down, #got)
    assert.is_nil(T.first_diff(down, got))
    local sgot, serr, ssent = res.values[1], res.values[2], res.values[3]
    assert.is_truthy(sgot, serr)
    assert.equal(#up, #sgot)
    assert.is_nil(T.first_diff(up, sgot))
    assert.equal(#down, ssent[1])
  end)

  -- The handshake of an accepted socket runs at its first I/O; a send and a
  -- receive in two threads are different directions and must both work,
  -- whichever comes first.
  for _, order in ipairs({ "receive first", "send first" }) do
    it("a lazily handshaking socket: one thread sends while another receives (" .. order .. ")", function()
      local port, res, gt = one_shot(nil, function(c)
        c:settimeout(1)
        local function do_send() return table.pack(pcall(c.send, c, "from server\n")) end
        local function do_receive() return table.pack(pcall(c.receive, c)) end
        local other, mine
        if order == "receive first" then
          other = green.spawn(do_send)
          mine = do_receive()
          return mine, green.with_timeout(3, other.wait, other)
        else
          other = green.spawn(do_receive)
          mine = do_send()
          return green.with_timeout(3, other.wait, other), mine
        end
      end)
      local c = assert(tls_connect(port, trusting()))
      T.defer(function() c:close() end)
      c:settimeout(1)
      assert(c:send("from client\n"))
      local line, err = c:receive()
      wait_gt(gt)
      local received, sent = res.values[1], res.values[2]
      assert.is_true(sent[1], sent[2])          -- the send did not raise
      assert.equal(12, sent[2], sent[3])        -- and sent everything
      assert.is_true(received[1], received[2])  -- the receive did not raise
      assert.equal("from client", received[2], received[3])
      assert.equal("from server", line, err)
    end)
  end

  it("a big send to a slow reader loses nothing (writes queue behind the kernel)", function()
    local big = T.payload(8 * 1024 * 1024, 3)
    local port, res, gt = one_shot(nil, function(c)
      local n = c:send(big)
      assert(c:send("END\n"))
      c:close()
      return n
    end)
    local c = assert(tls_connect(port, trusting()))
    T.defer(function() c:close() end)
    c:settimeout(60)
    -- read slowly at first so the server's kernel buffer fills up
    local parts = {}
    for _ = 1, 5 do
      parts[#parts + 1] = assert(c:recv(4096))
      green.sleep(0.05)
    end
    parts[#parts + 1] = assert(c:receive("*a"))
    local got = table.concat(parts)
    wait_gt(gt, 60)
    assert.equal(#big, res.values[1])
    assert.equal(#big + 4, #got)
    assert.is_nil(T.first_diff(big .. "END\n", got))
  end)

  it("a send that times out under back-pressure: what it reports sent arrives, in order, before later sends", function()
    -- more than the kernel and the server's read buffer can hold: it must time out
    local big = T.payload(N.unbuffered_size(1024 * 1024), 4)
    local shaken, release = green.Event(), green.Event()
    local port, res, gt = one_shot(nil, function(c)
      assert(c:handshake())
      shaken:send()
      release:wait()
      c:settimeout(60)
      return c:receive("*a")
    end)
    local c = assert(tls_connect(port, trusting()))
    T.defer(function() c:close() end)
    -- the server's side of the handshake is done before the big send keeps
    -- the hub busy (the send encrypts its whole payload at once today)
    green.with_timeout(5, shaken.wait, shaken)
    c:settimeout(0.1)
    local n, err, sent = c:send(big)
    assert.is_nil(n)
    assert.equal("timeout", err)
    assert.equal("integer", math.type(sent))
    -- (today the whole payload is encrypted and queued at once, so sent can
    -- be all of it even though it has not reached the kernel yet)
    assert.is_true(sent >= 0 and sent <= #big, ("sent %d of %d"):format(sent, #big))
    release:send()
    c:settimeout(60)
    assert.equal(4, c:send("TAIL"))
    c:close()
    wait_gt(gt, 60)
    local got = res.values[1]
    assert.is_truthy(got)
    local want = big:sub(1, sent) .. "TAIL"
    assert.equal(#want, #got)
    assert.is_nil(T.first_diff(want, got))
  end)

  it("receive('*a') returns all data when the peer closes cleanly (close_notify)", function()
    local port, _, gt = one_shot(nil, function(c)
      assert(c:send("part one, "))
      green.sleep(0.02)
      assert(c:send("part two\n"))
      c:close()
    end)
    local c = assert(tls_connect(port, trusting()))
    T.defer(function() c:close() end)
    assert.equal("part one, part two\n", c:receive("*a"))
    local d, err = c:recv(10)
    assert.is_nil(d)
    assert.equal("closed", err)
    local line, lerr = c:receive()
    assert.is_nil(line)
    assert.equal("closed", lerr)
    wait_gt(gt)
  end)

  it("shutdown('send') ends the peer's receive('*a'), and the peer can still answer", function()
    local port, res, gt = one_shot(nil, function(c)
      local all, err = c:receive("*a")
      if not all then return nil, err end
      local ok, serr = c:send("got " .. #all .. "\n")
      c:close()
      return all, ok, serr
    end)
    local c = assert(tls_connect(port, trusting()))
    T.defer(function() c:close() end)
    assert(c:send("request body"))
    assert.is_true(c:shutdown("send"))
    local reply, err = c:receive()
    wait_gt(gt)
    assert.equal("request body", res.values[1])
    assert.equal("got 12", reply, err)
  end)

  it("close() wakes a thread blocked in receive on a TLS socket with nil, 'closed'", function()
    local port, _, gt = one_shot(nil, function(c)
      assert(c:handshake())
      return c:receive()  -- nothing comes: it waits until the client goes
    end)
    local c = assert(tls_connect(port, trusting()))
    local r
    local reader = green.spawn(function() r = table.pack(c:receive()) end)
    green.sleep(0.05)
    assert.is_false(reader:dead())
    c:close()
    green.with_timeout(2, reader.wait, reader)
    assert.is_nil(r[1])
    assert.equal("closed", r[2])
    wait_gt(gt)
  end)

  it("settimeout applies to TLS reads: nil, 'timeout', and the socket stays usable", function()
    local go = green.Event()
    local port, _, gt = one_shot(nil, function(c)
      assert(c:handshake())
      go:wait()
      assert(c:send("late\n"))
      return c:receive()
    end)
    local c = assert(tls_connect(port, trusting()))
    T.defer(function() c:close() end)
    c:settimeout(0.1)
    local t, r = helpers.timed(c.receive, c)
    assert.is_nil(r[1])
    assert.equal("timeout", r[2])
    assert.is_true(t >= 0.08 and t < 1, "took " .. t)
    go:send()
    c:settimeout(5)
    assert.equal("late", c:receive())
    c:send("bye\n")
    wait_gt(gt)
  end)

  it("works when the key is in the certfile (no keyfile)", function()
    local port, _, gt = one_shot({ server_side = true, certfile = C.server_combined }, function(c)
      return c:send("combined\n")
    end)
    local c, err = tls_connect(port, trusting())
    assert.is_truthy(c, err)
    T.defer(function() c:close() end)
    assert.equal("combined", c:receive())
    wait_gt(gt)
  end)

  it("a server_side wrap of an accepted plain socket handshakes at its first I/O", function()
    local l, port = T.listener()
    T.defer(function() l:close() end)
    local res = {}
    local gt = green.spawn(function()
      local s = assert(l:accept())
      res.s = s
      s:settimeout(5)
      assert(green.wrap_ssl(s, T.server_opts()))
      res.line = s:receive()
      s:send("pong\n")
    end)
    T.defer(function() if not gt:dead() then gt:kill() end; T.close_all(res.s) end)
    local c = assert(tls_connect(port, trusting()))
    T.defer(function() c:close() end)
    c:send("ping\n")
    assert.equal("pong", c:receive())
    wait_gt(gt)
    assert.equal("ping", res.line)
  end)
end)

describe("wrap_ssl: verification", function()
  after_each(T.run_deferred)

  -- A server with `opts`; returns its port and the handshake log.
  local function server(opts)
    local log = {}
    local l, port = T.tls_echo_server(opts, log)
    T.defer(function() l:close() end)
    return port, log
  end

  it("a client verifies by default: a self-signed server fails cleanly with nil, err", function()
    local port, log = server({ server_side = true, certfile = C.self, keyfile = C.self_key })
    local c, err = tls_connect(port, {})
    assert.is_nil(c)
    assert.is_string(err)
    assert.matches("certificate verify failed", err, 1, true)
    -- the server sees a failed handshake as nil, err, and keeps serving
    assert.is_true(helpers.wait_until(function() return #log >= 1 end, 2))
    assert.is_false(log[1].ok)
    assert.is_string(log[1].err)
    local ok = assert(tls_connect(port, { verify = "none" }))
    T.defer(function() ok:close() end)
    ok:send("still serving\n")
    assert.equal("still serving", ok:receive())
  end)

  it("default verification also rejects a server signed by an unknown CA", function()
    local port = server()
    local c, err = tls_connect(port, { server_hostname = "localhost" })
    assert.is_nil(c)
    assert.matches("certificate verify failed", err, 1, true)
  end)

  it("cafile makes verification pass", function()
    local port = server()
    local c, err = tls_connect(port, { cafile = C.ca })
    assert.is_truthy(c, err)
    T.defer(function() c:close() end)
    c:send("trusted\n")
    assert.equal("trusted", c:receive())
  end)

  it("a self-signed certificate given as cafile is trusted", function()
    local port = server({ server_side = true, certfile = C.self, keyfile = C.self_key })
    local c, err = tls_connect(port, { cafile = C.self, server_hostname = "localhost" })
    assert.is_truthy(c, err)
    T.defer(function() c:close() end)
    c:send("pinned\n")
    assert.equal("pinned", c:receive())
  end)

  it("server_hostname 'localhost' passes the name check", function()
    local port = server()
    local c, err = tls_connect(port, { cafile = C.ca, server_hostname = "localhost" })
    assert.is_truthy(c, err)
    T.defer(function() c:close() end)
    c:send("named\n")
    assert.equal("named", c:receive())
  end)

  it("server_hostname 'wrong.example' fails the name check (the chain is trusted)", function()
    local port, log = server()
    local c, err = tls_connect(port, { cafile = C.ca, server_hostname = "wrong.example" })
    assert.is_nil(c)
    assert.matches("certificate verify failed", err, 1, true)
    assert.matches("hostname", err, 1, true)
    assert.is_true(helpers.wait_until(function() return #log >= 1 end, 2))
    assert.is_false(log[1].ok)
  end)

  it("server_hostname may be an IP address: checked against the IP in subjectAltName", function()
    local port = server()
    local c, err = tls_connect(port, { cafile = C.ca, server_hostname = "127.0.0.1" })
    assert.is_truthy(c, err)
    c:close()
    local bad, berr = tls_connect(port, { cafile = C.ca, server_hostname = "127.0.0.2" })
    assert.is_nil(bad)
    assert.matches("certificate verify failed", berr, 1, true)
  end)

  it("sends server_hostname as SNI", function()
    local l, port = T.listener()
    T.defer(function() l:close() end)
    -- a plain listener: read the ClientHello bytes and look for the name
    local hello
    local gt = green.spawn(function()
      local s = assert(l:accept())
      s:settimeout(2)
      hello = s:recv(65536)
      s:close()
    end)
    T.defer(function() if not gt:dead() then gt:kill() end end)
    local c = tls_connect(port, { verify = "none", server_hostname = "sni.test.example" })
    T.close_all(c)
    wait_gt(gt)
    assert.is_truthy(hello)
    assert.is_truthy(hello:find("sni.test.example", 1, true))
  end)

  it("verify = 'none' connects to anything (self-signed, unknown CA, wrong name)", function()
    local p1 = server({ server_side = true, certfile = C.self, keyfile = C.self_key })
    local p2 = server()
    for _, case in ipairs({
      { p1, { verify = "none" } },
      { p2, { verify = "none" } },
      { p2, { verify = "none", server_hostname = "wrong.example" } },
    }) do
      local c, err = tls_connect(case[1], case[2])
      assert.is_truthy(c, err)
      c:send("any\n")
      assert.equal("any", c:receive())
      c:close()
    end
  end)

  it("mutual TLS: a server with verify = 'peer' and a cafile requires a client cert", function()
    local port, log = server(T.server_opts({ verify = "peer", cafile = C.ca }))
    -- without a certificate: the server's handshake fails; the client learns
    -- it at the handshake or (TLS 1.3) at its first read
    local c, err = tls_connect(port, trusting())
    local failed_at = "handshake"
    if c then
      c:send("hello\n")
      local line, rerr = c:receive()
      assert.is_nil(line)
      err = rerr
      failed_at = "first read"
      c:close()
    end
    assert.is_string(err, failed_at)
    assert.is_true(helpers.wait_until(function() return #log >= 1 end, 2))
    assert.is_false(log[1].ok)
    assert.is_string(log[1].err)
    -- with one signed by the CA: it works
    local m, merr = tls_connect(port, trusting({ certfile = C.client, keyfile = C.client_key }))
    assert.is_truthy(m, merr)
    T.defer(function() m:close() end)
    m:send("mutual\n")
    assert.equal("mutual", m:receive())
    assert.is_true(helpers.wait_until(function() return #log >= 2 end, 2))
    assert.is_true(log[2].ok, log[2].err)
  end)

  it("mutual TLS: a client cert from another issuer is refused", function()
    local port, log = server(T.server_opts({ verify = "peer", cafile = C.ca }))
    local c = tls_connect(port, trusting({ certfile = C.self, keyfile = C.self_key }))
    if c then
      c:send("hello\n")
      assert.is_nil(c:receive())
      c:close()
    end
    assert.is_true(helpers.wait_until(function() return #log >= 1 end, 2))
    assert.is_false(log[1].ok)
    assert.matches("certificate verify failed", log[1].err, 1, true)
  end)
end)

describe("wrap_ssl: error reasons", function()
  after_each(T.run_deferred)

  -- A mutual-TLS server (client cert required); returns the client's error:
  -- at the handshake or, with TLS 1.3, at its first read.
  local function client_error_without_cert(server_opts, client_opts)
    local log = {}
    local l, port = T.tls_echo_server(server_opts, log)
    T.defer(function() l:close() end)
    local c, err = tls_connect(port, client_opts)
    if c then
      c:send("hello\n")
      local line
      line, err = c:receive()
      assert.is_nil(line)
      c:close()
    end
    return err, log
  end

  it("a client without a certificate learns the server's reason (certificate required)", function()
    local err = client_error_without_cert(T.server_opts({ verify = "peer", cafile = C.ca }), trusting())
    assert.is_string(err)
    assert.matches("certificate required", err, 1, true)
  end)

  it("with verify = 'none', a failure is not blamed on certificate verification", function()
    -- the client does not verify the (self-signed) server; the server
    -- refuses the client for lack of a certificate
    local err = client_error_without_cert({ server_side = true, certfile = C.self,
      keyfile = C.self_key, verify = "peer", cafile = C.ca }, { verify = "none" })
    assert.is_string(err)
    assert.is_nil(err:find("certificate verify failed", 1, true), err)
    assert.matches("certificate required", err, 1, true)
  end)

  it("a peer that vanishes without close_notify does not break other TLS connections", function()
    -- one server; connection B goes to it directly, connection A through a
    -- plain TCP relay that is cut after A's first exchange, so the server's
    -- side of A sees the end of the stream without a close_notify.
    local results = {}
    local l, port = T.tls_server(T.server_opts(), function(client)
      client:settimeout(3)
      for _ = 1, 100 do
        local line, err = client:receive()
        if not line then
          results[#results + 1] = err
          green.sleep(0.3)  -- the handler goes on a while before closing
          return
        end
        client:send(line .. "\n")
      end
    end)
    T.defer(function() l:close() end)
    local b = assert(tls_connect(port, trusting()))
    T.defer(function() b:close() end)
    b:send("b1\n")
    assert.equal("b1", b:receive())

    local relay, rport = T.listener()
    T.defer(function() relay:close() end)
    local upstream, downstream
    local rgt = green.spawn(function()
      downstream = assert(relay:accept())
      upstream = assert(green.connect("127.0.0.1", port))
      green.spawn(function()
        for _ = 1, 1000 do
          local d = upstream:recv(65536)
          if not d or not downstream:send(d) then return end
        end
      end)
      for _ = 1, 1000 do
        local d = downstream:recv(65536)
        if not d or not upstream:send(d) then return end
      end
    end)
    T.defer(function()
      if not rgt:dead() then rgt:kill() end
      T.close_all(upstream, downstream)
    end)
    local a = assert(tls_connect(rport, trusting()))
    T.defer(function() a:close() end)
    a:send("a1\n")
    assert.equal("a1", a:receive())
    upstream:close()  -- the server sees EOF, no close_notify
    assert.is_true(helpers.wait_until(function() return #results >= 1 end, 2))
    -- B is unaffected
    b:send("b2\n")
    local line, err = b:receive()
    assert.equal("b2", line, err)
  end)
end)

describe("wrap_ssl: ALPN", function()
  after_each(T.run_deferred)

  local function negotiate(client_alpn, server_alpn)
    local port, res, gt = one_shot(T.server_opts({ alpn = server_alpn }), function(c)
      assert(c:handshake())
      local proto = c:alpn()
      assert(c:send("ok\n"))
      return proto
    end)
    local c, err = tls_connect(port, trusting({ alpn = client_alpn }))
    assert.is_truthy(c, err)
    T.defer(function() c:close() end)
    assert.equal("ok", c:receive())
    wait_gt(gt)
    return c:alpn(), res.values[1]
  end

  it("client {'h2', 'http/1.1'} and server {'http/1.1'} agree on http/1.1", function()
    local cp, sp = negotiate({ "h2", "http/1.1" }, { "http/1.1" })
    assert.equal("http/1.1", cp)
    assert.equal("http/1.1", sp)
  end)

  it("the server's preference wins when both offer several", function()
    local cp, sp = negotiate({ "http/1.1", "h2" }, { "h2", "http/1.1" })
    assert.equal("h2", cp)
    assert.equal("h2", sp)
  end)

  it("no common protocol: alpn() is nil on both sides and the connection works", function()
    local cp, sp = negotiate({ "h2" }, { "http/1.1" })
    assert.is_nil(cp)
    assert.is_nil(sp)
  end)

  it("alpn() on a plain socket is nil", function()
    local l, port = T.listener()
    T.defer(function() l:close() end)
    local c = assert(green.connect("127.0.0.1", port))
    T.defer(function() c:close() end)
    assert.is_nil(c:alpn())
  end)

  it("without ALPN alpn() is nil", function()
    local cp, sp = negotiate(nil, nil)
    assert.is_nil(cp)
    assert.is_nil(sp)
    local c2, s2 = negotiate({ "h2" }, nil)
    assert.is_nil(c2)
    assert.is_nil(s2)
  end)
end)

describe("wrap_ssl: a wrapped listener", function()
  after_each(T.run_deferred)

  local function wrapped_listener(opts)
    local l, port = T.listener()
    assert(green.wrap_ssl(l, opts or T.server_opts()))
    T.defer(function() l:close() end)
    return l, port
  end

  it("accept() returns at once for a silent client: it never blocks a real one", function()
    local l, port = wrapped_listener()
    -- an accept that waited for the handshake would end in this timeout
    l:settimeout(5)
    local silent = assert(green.connect("127.0.0.1", port))
    T.defer(function() silent:close() end)
    local t, r = helpers.timed(l.accept, l)
    local a1 = r[1]
    assert.is_truthy(a1, r[2])
    T.defer(function() a1:close() end)
    assert.is_true(t < 2.5, "accept took " .. t)
    assert.matches("tls", tostring(a1))
    -- the real client's handshake needs the server side: run it in a thread
    local client
    local cgt = green.spawn(function() client = table.pack(tls_connect(port, trusting())) end)
    local a2 = assert(l:accept())
    T.defer(function() a2:close() end)
    a2:settimeout(2)
    local hgt = green.spawn(function()
      assert(a2:handshake())
      assert.equal("real", a2:receive())
      assert(a2:send("served\n"))
    end)
    green.with_timeout(3, cgt.wait, cgt)
    local c = assert(client[1], client[2])
    T.defer(function() c:close() end)
    c:send("real\n")
    assert.equal("served", c:receive())
    wait_gt(hgt)
  end)

  it("green.serve keeps serving while a silent client holds one handler", function()
    local log = {}
    local l, port = T.tls_echo_server(nil, log)
    T.defer(function() l:close() end)
    local silent = assert(green.connect("127.0.0.1", port))
    T.defer(function() silent:close() end)
    green.sleep(0.02)
    local c = assert(tls_connect(port, trusting()))
    T.defer(function() c:close() end)
    c:send("through\n")
    assert.equal("through", c:receive())
  end)

  it("handshake() returns nil, err for a client that speaks plain text", function()
    local l, port = wrapped_listener()
    local res
    local gt = green.spawn(function()
      local a = assert(l:accept())
      a:settimeout(2)
      res = table.pack(a:handshake())
      a:close()
    end)
    T.defer(function() if not gt:dead() then gt:kill() end end)
    local plain = assert(green.connect("127.0.0.1", port))
    T.defer(function() plain:close() end)
    plain:send("GET / HTTP/1.0\r\n\r\n")
    wait_gt(gt, 3)
    assert.is_nil(res[1])
    assert.is_string(res[2])
    assert.not_equal("timeout", res[2])
  end)

  it("the first receive on a plain-text client returns nil, err (the lazy handshake fails)", function()
    local l, port = wrapped_listener()
    local res
    local gt = green.spawn(function()
      local a = assert(l:accept())
      a:settimeout(2)
      res = table.pack(a:receive())
      a:close()
    end)
    T.defer(function() if not gt:dead() then gt:kill() end end)
    local plain = assert(green.connect("127.0.0.1", port))
    T.defer(function() plain:close() end)
    plain:send("GET / HTTP/1.0\r\n\r\n")
    wait_gt(gt, 3)
    assert.is_nil(res[1])
    assert.is_string(res[2])
    assert.not_equal("timeout", res[2])
  end)

  it("the first send on an accepted socket performs the handshake", function()
    local l, port = wrapped_listener()
    local gt = green.spawn(function()
      local a = assert(l:accept())
      a:settimeout(5)
      assert.equal(7, a:send("banner\n"))
      a:receive()
      a:close()
    end)
    T.defer(function() if not gt:dead() then gt:kill() end end)
    local c = assert(tls_connect(port, trusting()))
    T.defer(function() c:close() end)
    assert.equal("banner", c:receive())
    c:send("x\n")
    wait_gt(gt)
  end)

  it("handshake() with settimeout(0.2) returns nil, 'timeout' for a silent client", function()
    local l, port = wrapped_listener()
    local res, took
    local gt = green.spawn(function()
      local a = assert(l:accept())
      a:settimeout(0.2)
      took, res = helpers.timed(a.handshake, a)
      a:close()
    end)
    T.defer(function() if not gt:dead() then gt:kill() end end)
    local silent = assert(green.connect("127.0.0.1", port))
    T.defer(function() silent:close() end)
    wait_gt(gt, 3)
    assert.is_nil(res[1])
    assert.equal("timeout", res[2])
    assert.is_true(took >= 0.15 and took < 1.5, "took " .. took)
  end)

  it("closing a socket wakes a thread blocked in its handshake with nil, 'closed'", function()
    local l, port = wrapped_listener()
    local a, res
    local gt = green.spawn(function()
      a = assert(l:accept())
      res = table.pack(a:handshake())
    end)
    T.defer(function() if not gt:dead() then gt:kill() end; T.close_all(a) end)
    local silent = assert(green.connect("127.0.0.1", port))
    T.defer(function() silent:close() end)
    assert.is_true(helpers.wait_until(function() return a ~= nil end, 2))
    green.sleep(0.02)
    assert.is_false(gt:dead())
    a:close()
    wait_gt(gt, 2)
    assert.is_nil(res[1])
    assert.equal("closed", res[2])
  end)

  it("a client's wrap_ssl honours the socket's timeout against a silent server", function()
    local l, port = T.listener()
    T.defer(function() l:close() end)
    local held
    local gt = green.spawn(function() held = l:accept() end)
    T.defer(function() if not gt:dead() then gt:kill() end; T.close_all(held) end)
    local s = assert(green.connect("127.0.0.1", port))
    s:settimeout(0.2)
    local took, r = helpers.timed(green.wrap_ssl, s, trusting())
    assert.is_nil(r[1])
    assert.equal("timeout", r[2])
    assert.is_true(took >= 0.15 and took < 1.5, "took " .. took)
  end)

  it("a client that hangs up mid-handshake gives the server nil, err", function()
    local l, port = wrapped_listener()
    local res
    local gt = green.spawn(function()
      local a = assert(l:accept())
      a:settimeout(2)
      res = table.pack(a:handshake())
      a:close()
    end)
    T.defer(function() if not gt:dead() then gt:kill() end end)
    local plain = assert(green.connect("127.0.0.1", port))
    -- the start of a TLS record, then nothing more
    plain:send("\22\3\1\0\200\1\0\0")
    green.sleep(0.05)
    plain:close()
    wait_gt(gt, 3)
    assert.is_nil(res[1])
    assert.is_string(res[2])
    assert.not_equal("timeout", res[2])
  end)

  it("accepted TLS sockets outlive their closed listener", function()
    local l, port = T.listener()
    assert(green.wrap_ssl(l, T.server_opts()))
    local a
    local gt = green.spawn(function()
      a = assert(l:accept())
      l:close()
      collectgarbage()
      a:settimeout(3)
      local line = a:receive()
      a:send("late " .. tostring(line) .. "\n")
    end)
    T.defer(function() if not gt:dead() then gt:kill() end; T.close_all(a, l) end)
    local c = assert(tls_connect(port, trusting()))
    T.defer(function() c:close() end)
    c:send("hi\n")
    assert.equal("late hi", c:receive())
    wait_gt(gt)
  end)

  it("serve goes on after failed handshakes", function()
    local log = {}
    local l, port = T.tls_echo_server(nil, log)
    T.defer(function() l:close() end)
    for i = 1, 3 do
      local plain = assert(green.connect("127.0.0.1", port))
      plain:send("not tls " .. i .. "\r\n\r\n")
      plain:receive("*a")  -- the server answers with an alert and closes
      plain:close()
    end
    local bad = tls_connect(port, {})  -- fails verification
    assert.is_nil(bad)
    local c = assert(tls_connect(port, trusting()))
    T.defer(function() c:close() end)
    c:send("alive\n")
    assert.equal("alive", c:receive())
    assert.is_true(helpers.wait_until(function() return #log >= 5 end, 2))
    for i = 1, 4 do assert.is_false(log[i].ok) end
    assert.is_true(log[5].ok)
  end)
end)

describe("wrap_ssl: TLS 1.2 minimum", function()
  after_each(T.run_deferred)

  -- Can the local openssl negotiate TLS 1.1 at all (with itself)?
  local tls11
  local function can_tls11()
    if tls11 ~= nil then return tls11 end
    local port = T.free_port()
    local srv = T.bg(("timeout 5 openssl s_server -accept 127.0.0.1:%d -cert %s -key %s "
      .. "-tls1_1 -cipher DEFAULT@SECLEVEL=0 -naccept 1 -www"):format(port, C.self, C.self_key))
    T.defer(function() srv:stop() end)
    srv:wait_output("ACCEPT", 3)
    local cli = T.bg(("timeout 5 openssl s_client -connect 127.0.0.1:%d -tls1_1 "
      .. "-cipher DEFAULT@SECLEVEL=0"):format(port), "printf 'GET / HTTP/1.0\\r\\n\\r\\n'; sleep 1")
    T.defer(function() cli:stop() end)
    cli:wait(6)
    tls11 = cli:out():find("Protocol%s*:%s*TLSv1%.1") ~= nil
      and cli:out():find("Cipher is (NONE)", 1, true) == nil
    return tls11
  end

  it("openssl s_client -tls1_1 cannot connect to a green server", function()
    if not T.have("openssl") then return pending("no openssl") end
    if not can_tls11() then return pending("the local openssl cannot do TLS 1.1") end
    local log = {}
    local l, port = T.tls_echo_server(nil, log)
    T.defer(function() l:close() end)
    local cli = T.bg(("timeout 5 openssl s_client -connect 127.0.0.1:%d -tls1_1 "
      .. "-cipher DEFAULT@SECLEVEL=0 -CAfile %s"):format(port, C.ca), "printf 'hello\\n'; sleep 1")
    T.defer(function() cli:stop() end)
    assert.is_not_nil(cli:wait(6), "s_client did not end")
    -- no session: s_client reports no cipher (or no protocol at all)
    local out = cli:out()
    assert.is_truthy(out:find("Cipher is (NONE)", 1, true) or not out:find("TLSv1%.1"), cli:describe())
    assert.is_nil(out:find("hello", 1, true), cli:describe())
    assert.is_true(helpers.wait_until(function() return #log >= 1 end, 2))
    assert.is_false(log[1].ok)
    assert.is_string(log[1].err)
  end)

  it("openssl s_client -tls1_2 connects (the control)", function()
    if not T.have("openssl") then return pending("no openssl") end
    local log = {}
    local l, port = T.tls_echo_server(nil, log)
    T.defer(function() l:close() end)
    local cli = T.bg(("timeout 5 openssl s_client -connect 127.0.0.1:%d -tls1_2 -quiet "
      .. "-CAfile %s -servername localhost -verify_return_error"):format(port, C.ca),
      "printf 'over12\\nbye\\n'; sleep 3")
    T.defer(function() cli:stop() end)
    assert.is_true(cli:wait_output("bye", 5), cli:describe())
    assert.matches("over12\nbye\n", cli:out(), 1, true)
    assert.is_true(log[1].ok)
  end)
end)

describe("wrap_ssl: misuse and bad options", function()
  after_each(T.run_deferred)

  local function plain_pair()
    local l, port = T.listener()
    local a
    local gt = green.spawn(function() a = l:accept() end)
    local c = assert(green.connect("127.0.0.1", port))
    gt:wait()
    T.defer(function() T.close_all(c, a, l) end)
    return c, a, l
  end

  it("server_side without certfile raises", function()
    local c = plain_pair()
    local err = helpers.error_of(green.wrap_ssl, c, { server_side = true })
    assert.is_truthy(err)
    assert.matches("certfile", tostring(err))
    local l = T.listener()
    T.defer(function() l:close() end)
    assert.is_truthy(helpers.error_of(green.wrap_ssl, l, { server_side = true }))
  end)

  it("verify = 'maybe' raises", function()
    local c = plain_pair()
    local err = helpers.error_of(green.wrap_ssl, c, { verify = "maybe" })
    assert.is_truthy(err)
    assert.matches("verify", tostring(err))
  end)

  it("wrapping twice raises", function()
    local srv, port = T.tls_echo_server()
    T.defer(function() srv:close() end)
    local c = assert(tls_connect(port, trusting()))
    T.defer(function() c:close() end)
    local err = helpers.error_of(green.wrap_ssl, c, trusting())
    assert.is_truthy(err)
    assert.matches("wrapped", tostring(err))
    local l = T.listener()
    T.defer(function() l:close() end)
    assert(green.wrap_ssl(l, T.server_opts()))
    assert.is_truthy(helpers.error_of(green.wrap_ssl, l, T.server_opts()))
  end)

  it("a listening socket must be wrapped server_side", function()
    local l = T.listener()
    T.defer(function() l:close() end)
    assert.is_truthy(helpers.error_of(green.wrap_ssl, l, { cafile = C.ca }))
  end)

  it("bad option types raise", function()
    local _, a = plain_pair()
    assert.is_truthy(helpers.error_of(green.wrap_ssl, a, "server_side"))
    assert.is_truthy(helpers.error_of(green.wrap_ssl, a, T.server_opts({ alpn = "h2" })))
    assert.is_truthy(helpers.error_of(green.wrap_ssl, a, T.server_opts({ alpn = { "" } })))
    assert.is_truthy(helpers.error_of(green.wrap_ssl, a, { server_side = true, certfile = {} }))
    assert.is_truthy(helpers.error_of(green.wrap_ssl, "socket", {}))
  end)

  it("handshake() on a plain socket raises", function()
    local c = plain_pair()
    assert.is_truthy(helpers.error_of(c.handshake, c))
  end)

  it("wrapping a closed socket raises", function()
    local c = plain_pair()
    c:close()
    assert.is_truthy(helpers.error_of(green.wrap_ssl, c, { verify = "none" }))
  end)

  it("a missing certfile is nil, err naming the file; a key that does not match is nil, err", function()
    local _, a = plain_pair()
    local missing = C.dir .. "/no-such-cert.pem"
    local ok, err = green.wrap_ssl(a, { server_side = true, certfile = missing })
    assert.is_nil(ok)
    assert.matches("no-such-cert.pem", err, 1, true)
    ok, err = green.wrap_ssl(a, { server_side = true, certfile = C.server, keyfile = C.self_key })
    assert.is_nil(ok)
    assert.is_string(err)
    ok, err = green.wrap_ssl(a, { server_side = true, certfile = C.server, keyfile = C.server_key,
      verify = "peer", cafile = C.dir .. "/no-such-ca.pem" })
    assert.is_nil(ok)
    assert.is_string(err)
  end)
end)

------------------------------------------------------------------------
-- Secure by default (issue 8): the name a verifying client checks, SNI,
-- STARTTLS, the context cache, and a send that encrypts as it writes.

-- A server certificate signed by the test CA for `san` only (e.g.
-- "DNS:other.example"); returns its cert and key paths.
local function cert_for(san, tag)
  local base = ("%s/%s"):format(C.dir, tag)
  helpers.write(base .. ".ext", ("basicConstraints = critical,CA:FALSE\n"
    .. "keyUsage = critical,digitalSignature,keyEncipherment\n"
    .. "extendedKeyUsage = serverAuth\nsubjectAltName = %s\n"):format(san))
  local cmd = ("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
    .. "-config %s -subj /CN=%s -keyout %s.key -out %s.csr && "
    .. "openssl x509 -req -in %s.csr -CA %s -CAkey %s -CAcreateserial -days 2 "
    .. "-extfile %s.ext -out %s.pem"):format(C.cnf, tag, base, base, base, C.ca, C.ca_key, base, base)
  assert(os.execute(("timeout 20 sh -c %s >%s.log 2>&1"):format(T.q(cmd), base)),
    T.slurp(base .. ".log"))
  return base .. ".pem", base .. ".key"
end

-- A plain listener that keeps the first bytes a client sends (its
-- ClientHello): returns the port and a function that waits for them.
local function hello_catcher()
  local l, port = T.listener()
  T.defer(function() l:close() end)
  local hello
  local gt = green.spawn(function()
    local s = assert(l:accept())
    s:settimeout(2)
    hello = s:recv(65536)
    s:close()
  end)
  T.defer(function() if not gt:dead() then gt:kill() end end)
  return port, function() wait_gt(gt); return hello end
end

describe("wrap_ssl: a verifying client always checks a name", function()
  after_each(T.run_deferred)

  local function server_with(cert, key)
    local l, port = T.tls_echo_server({ server_side = true, certfile = cert, keyfile = key })
    T.defer(function() l:close() end)
    return port
  end

  local function wrap_connected(host, port, opts)
    local s = assert(green.connect(host, port, { timeout = 5 }))
    s:settimeout(5)
    T.defer(function() s:close() end)
    return green.wrap_ssl(s, opts)
  end

  it("without server_hostname: the IP literal it connected to, checked as an IP SAN", function()
    local port = server_with(cert_for("DNS:other.example", "other_ip"))
    local c, err = wrap_connected("127.0.0.1", port, { cafile = C.ca })
    assert.is_nil(c)
    assert.matches("certificate verify failed", err, 1, true)
    assert.matches("IP address mismatch", err, 1, true)
    -- the same server passes when the name it has is given
    local ok, err2 = wrap_connected("127.0.0.1", port, { cafile = C.ca, server_hostname = "other.example" })
    assert.is_truthy(ok, err2)
    -- and a server whose certificate has the IP passes too
    local good = server_with(C.server, C.server_key)
    assert.is_truthy(wrap_connected("127.0.0.1", good, { cafile = C.ca }))
  end)

  it("without server_hostname: the name it connected to", function()
    local port = server_with(cert_for("DNS:other.example,IP:127.0.0.1", "other_name"))
    local c, err = wrap_connected("localhost", port, { cafile = C.ca })
    assert.is_nil(c)
    assert.matches("hostname mismatch", err, 1, true)
    local good = server_with(C.server, C.server_key)
    local ok, err2 = wrap_connected("localhost", good, { cafile = C.ca })
    assert.is_truthy(ok, err2)
  end)

  it("with no name known (not made by green.connect) it raises; verify = 'none' does not", function()
    local l, port = T.listener()
    T.defer(function() l:close() end)
    local a
    local gt = green.spawn(function() a = l:accept() end)
    local c = assert(green.connect("127.0.0.1", port))
    T.defer(function() T.close_all(c, a) end)
    wait_gt(gt)
    a:settimeout(0.3)
    for _, opts in ipairs({ {}, { cafile = C.ca }, { verify = "peer" } }) do
      local err = helpers.error_of(green.wrap_ssl, a, opts)
      assert.is_truthy(err)
      assert.matches("server_hostname", tostring(err))
    end
    -- verify = "none" checks nothing, so needs no name: it handshakes (and times out here)
    local ok, err = green.wrap_ssl(a, { verify = "none" })
    assert.is_nil(ok)
    assert.equal("timeout", err)
  end)

  it("a name that cannot be set fails the wrap (a NUL byte, an over-long name): never fails open", function()
    local port = server_with(C.server, C.server_key)
    local c, err = wrap_connected("127.0.0.1", port, { cafile = C.ca, server_hostname = "localhost\0.evil.example" })
    assert.is_nil(c)
    assert.matches("name", err)
    c, err = wrap_connected("127.0.0.1", port, { verify = "none", server_hostname = ("a"):rep(300) })
    assert.is_nil(c)
    assert.matches("name", err)
  end)

  it("SNI carries the name it connected to, and is never an IP literal", function()
    local port, hello = hello_catcher()
    T.close_all(wrap_connected("localhost", port, { verify = "none" }))
    local h = hello()
    assert.is_truthy(h)
    assert.is_truthy(h:find("localhost", 1, true), "no SNI for the host name")
    local port2, hello2 = hello_catcher()
    T.close_all(wrap_connected("127.0.0.1", port2, { verify = "none", server_hostname = "127.0.0.1" }))
    local h2 = hello2()
    assert.is_truthy(h2)
    assert.is_nil(h2:find("127.0.0.1", 1, true), "an IP literal was sent as SNI")
  end)
end)

describe("wrap_ssl: STARTTLS", function()
  after_each(T.run_deferred)

  -- A plain connection: client, the accepted server side.
  local function plain_pair()
    local l, port = T.listener()
    local a
    local gt = green.spawn(function() a = l:accept() end)
    local c = assert(green.connect("127.0.0.1", port))
    wait_gt(gt)
    T.defer(function() T.close_all(c, a, l) end)
    c:settimeout(5)
    a:settimeout(5)
    return c, a
  end

  it("a server wrapping while injected plaintext is buffered: nil, 'plaintext pending'", function()
    local c, a = plain_pair()
    assert(c:send("STARTTLS\r\nRCPT TO:<injected>\r\n"))  -- one segment: both lines arrive together
    assert.equal("STARTTLS", a:receive())
    local ok, err = green.wrap_ssl(a, T.server_opts())
    assert.is_nil(ok)
    assert.equal("plaintext pending", err)
    -- the socket is left as it was: plain, and the bytes are still there
    assert.matches("^tcp socket %(connected%)$", tostring(a))
    assert.equal("RCPT TO:<injected>", a:receive())
  end)

  it("a client wrapping while the server's plaintext is buffered: nil, 'plaintext pending'", function()
    local c, a = plain_pair()
    assert(a:send("220 go ahead\r\n250 injected\r\n"))
    assert.equal("220 go ahead", c:receive())
    local ok, err = green.wrap_ssl(c, trusting())
    assert.is_nil(ok)
    assert.equal("plaintext pending", err)
  end)

  it("with nothing pending the upgrade works both ways", function()
    local c, a = plain_pair()
    local server = green.spawn(function()
      assert.equal("STARTTLS", a:receive())
      assert(a:send("220 go ahead\r\n"))
      assert(green.wrap_ssl(a, T.server_opts()))
      assert(a:handshake())
      return a:receive()
    end)
    assert(c:send("STARTTLS\r\n"))
    assert.equal("220 go ahead", c:receive())
    assert(green.wrap_ssl(c, trusting()))
    assert(c:send("over tls\n"))
    assert.equal("over tls", wait_gt(server))
  end)
end)

describe("wrap_ssl: client contexts are cached", function()
  after_each(T.run_deferred)

  it("200 verified handshakes against the system store parse it once (CPU bound)", function()
    -- in a child whose system store (SSL_CERT_FILE) is Debian's bundle plus
    -- the test CA: each parse of it costs ~20 ms of CPU
    local bundle = C.dir .. "/bundle.pem"
    helpers.write(bundle, (T.slurp("/etc/ssl/certs/ca-certificates.crt") or "") .. T.slurp(C.ca))
    local script = C.dir .. "/handshakes.lua"
    helpers.write(script, ([[
      local green = require "green"
      local l = assert(green.listen("127.0.0.1", 0))
      local _, port = l:getsockname()
      assert(green.wrap_ssl(l, { server_side = true, certfile = %q, keyfile = %q }))
      green.spawn(green.serve, l, function(c)
        c:settimeout(5)
        local line = c:receive()
        if line then c:send(line .. "\n") end
      end)
      local function handshakes(opts)
        local t0 = os.clock()
        for _ = 1, 200 do
          local s = assert(green.connect("127.0.0.1", port, { timeout = 5 }))
          s:settimeout(5)
          local c = assert(green.wrap_ssl(s, opts))
          assert(c:send("x\n"))
          assert(c:receive() == "x")
          c:close()
        end
        return os.clock() - t0
      end
      -- the same handshakes trusting only the test CA: what they cost
      -- without the store (a one-certificate file is cheap to parse)
      local small = handshakes({ server_hostname = "localhost", cafile = %q })
      local system = handshakes({ server_hostname = "localhost" })
      print(("cpu %%.3f %%.3f"):format(small, system))
      os.exit(0)
    ]]):format(C.server, C.server_key, C.ca))
    local out = C.dir .. "/handshakes.out"
    local ok = os.execute(("SSL_CERT_FILE=%s timeout 120 %s %s >%s 2>&1")
      :format(T.q(bundle), T.q(helpers.greenlua()), T.q(script), T.q(out)))
    local text = T.slurp(out) or ""
    assert.is_true(ok, text)
    local small, system = text:match("cpu ([%d.]+) ([%d.]+)")
    small, system = tonumber(small), tonumber(system)
    assert.is_truthy(system, text)
    -- Both ends of 200 handshakes, in this process. With the store parsed
    -- once, the system store costs what the one-certificate file does
    -- (noise aside); parsed for every handshake it adds over 4 s.
    assert.is_true(system < small * 1.3 + 0.5,
      ("200 handshakes: %.3f s of CPU with the system store, %.3f s with a small CA file")
        :format(system, small))
  end)

  it("a CA file that changes is read again (the cache knows the file's identity)", function()
    local l, port = T.tls_echo_server({ server_side = true, certfile = C.self, keyfile = C.self_key })
    T.defer(function() l:close() end)
    local cafile = C.dir .. "/rotating-ca.pem"
    helpers.write(cafile, T.slurp(C.self))
    local c, err = tls_connect(port, { cafile = cafile, server_hostname = "localhost" })
    assert.is_truthy(c, err)
    c:close()
    helpers.write(cafile, T.slurp(C.ca))  -- no longer trusts the self-signed server
    local bad, berr = tls_connect(port, { cafile = cafile, server_hostname = "localhost" })
    assert.is_nil(bad)
    assert.matches("certificate verify failed", berr, 1, true)
  end)
end)

describe("wrap_ssl: a send encrypts as it writes", function()
  after_each(T.run_deferred)

  it("against a peer that does not read, a send times out having encrypted only what fits", function()
    local big = T.payload(32 * 1024 * 1024, 5)
    local release = green.Event()
    local port, res, gt = one_shot(nil, function(c)
      assert(c:handshake())
      release:wait()
      c:settimeout(10)
      return c:receive("*a")
    end)
    local c = assert(tls_connect(port, trusting()))
    T.defer(function() c:close() end)
    c:settimeout(0.3)
    local n, err, sent = c:send(big)
    assert.is_nil(n)
    assert.equal("timeout", err)
    -- the kernel's buffers hold a few MB at most: the rest was never
    -- encrypted, let alone copied
    assert.is_true(sent < #big // 2, ("%d of %d bytes reported sent"):format(sent, #big))
    release:send()
    c:settimeout(10)
    assert.equal(#big - sent, c:send(big:sub(sent + 1)))
    c:close()
    wait_gt(gt, 20)
    assert.is_nil(T.first_diff(big, res.values[1]))
  end)
end)
