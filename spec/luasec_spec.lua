-- green.luasec: LuaSec 1.2's `ssl` API (lib/green/luasec.lua over wrap_ssl,
-- host/io/x509.c, core.tcp_adopt). The reference is Debian's real LuaSec
-- under plain lua5.4: where they should agree, the same script runs under
-- both and the outputs are compared. Sockets from Debian's real LuaSocket
-- are wrapped (their fd is adopted, so the connection is green from then
-- on); servers are green ones in this process, or `openssl s_server` in
-- another. Everything on 127.0.0.1.
local green = require "green"
local core = require "green.core"
local helpers = require "spec.helpers"
local T = require "spec.tls_helpers"
local ssl = require "green.luasec"
local socket = require "socket"  -- Debian's real LuaSocket (before the green core is merged)

local C = T.certs()

-- A real LuaSocket client connected to 127.0.0.1:port (the kernel completes
-- the connect from the listen backlog, so the blocking call returns at once).
local function lsock(port)
  local s = assert(socket.tcp())
  s:settimeout(5)
  assert(s:connect("127.0.0.1", port))
  return s
end

-- A green TLS echo server (wrap_ssl): lines come back; returns its port.
local function echo_server(opts)
  local l, port = T.tls_echo_server(opts)
  T.defer(function() l:close() end)
  return port
end

-- A plain TCP server that accepts and never says anything.
local function silent_server()
  local l, port = T.listener()
  local held = {}
  green.spawn(function()
    for _ = 1, 100 do
      local c = l:accept()
      if not c then return end
      held[#held + 1] = c
    end
  end)
  T.defer(function()
    l:close()
    for _, c in ipairs(held) do c:close() end
  end)
  return port
end

local function client_params(extra)
  local p = { mode = "client", protocol = "any" }
  for k, v in pairs(extra or {}) do p[k] = v end
  return p
end

-- Run `code` (a script; arg[1] is the module to require as ssl) under lua5.4
-- with real LuaSec and under greenlua with ours; returns both outputs.
local function both(code)
  local dir, cleanup = helpers.tmpdir()
  T.defer(cleanup)
  local path = dir .. "/t.lua"
  helpers.write(path, code)
  local function run(cmd)
    local p = io.popen(cmd .. " 2>&1")
    local out = p:read("a")
    p:close()
    return out
  end
  local real = run(("timeout 20 lua5.4 %s ssl"):format(path))
  local ours = run(("timeout 20 %s %s green.luasec"):format(helpers.greenlua(), path))
  return real, ours
end

describe("green.luasec (LuaSec 1.2's ssl)", function()
  after_each(function() T.run_deferred() end)

  it("has LuaSec's module fields", function()
    assert.equal("1.2.0", ssl._VERSION)
    assert.is_string(ssl._COPYRIGHT)
    for _, f in ipairs({ "wrap", "newcontext", "loadcertificate" }) do
      assert.is_function(ssl[f], f)
    end
    assert.is_true(ssl.config.protocols.tlsv1_2)
    assert.is_true(ssl.config.protocols.tlsv1_3)
    assert.is_true(ssl.config.options.no_sslv3)
    assert.is_true(ssl.config.capabilities.alpn)
    assert.is_true(ssl.config.algorithms.ec)
    assert.is_nil(ssl.config.protocols.tlsv1)  -- TLS 1.2 or later only
  end)

  it("newcontext returns LuaSec's errors for bad params", function()
    local real, ours = both([[
      local ssl = require(arg[1])
      local function p(...) print((select(2, ...))) end
      p(ssl.newcontext{mode="client", protocol="foo"})
      p(ssl.newcontext{mode="client", protocol="sslv3"})
      p(ssl.newcontext{mode="client", protocol="any", verify="bogus"})
      p(ssl.newcontext{mode="client", protocol="any", verify={"peer", "bogus"}})
      p(ssl.newcontext{mode="client", protocol="any", verify=5})
      p(ssl.newcontext{mode="client", protocol="any", options="bogus"})
      p(ssl.newcontext{mode="client", protocol="any", options={"all", "bogus"}})
      p(ssl.newcontext{mode="client", protocol="any", alpn={""}})
      p(ssl.newcontext{mode="client", protocol="any", alpn=5})
      p(ssl.newcontext{mode="client", protocol="any", password=5, key="/x"})
      p(ssl.newcontext{mode="client", protocol="any", curve="bogus"})
      p(ssl.newcontext{mode="client", protocol="any", dhparam=5})
      print(tostring(ssl.newcontext{mode="client", protocol="any", verify={"peer", "fail_if_no_peer_cert"},
        options={"all", "no_sslv2", "no_sslv3", "no_tlsv1"}}):match("^SSL context: "))
    ]])
    assert.equal(real, ours)
    -- and the ones whose detail comes from OpenSSL: the same start
    local ctx, err = ssl.newcontext(client_params({ certificate = "/nonexistent/c.pem" }))
    assert.is_nil(ctx)
    assert.matches("^error loading certificate %(", err)
    ctx, err = ssl.newcontext(client_params({ key = "/nonexistent/k.pem" }))
    assert.matches("^error loading private key %(", err)
    ctx, err = ssl.newcontext(client_params({ cafile = "/nonexistent/ca.pem" }))
    assert.matches("^error loading CA locations %(", err)
    -- TLS below 1.2 is refused, with LuaSec's prefix
    ctx, err = ssl.newcontext(client_params({ protocol = "tlsv1" }))
    assert.is_nil(ctx)
    assert.matches("^invalid protocol %(tlsv1%)", err)
  end)

  it("newcontext raises for a non-table and for a missing mode", function()
    assert.has_error(function() ssl.newcontext(5) end,
      "bad argument #1 to 'newcontext' (table expected, got number)")
    assert.error_matches(function() ssl.newcontext({ protocol = "any" }) end, "params.mode")
    assert.error_matches(function() ssl.wrap({}, client_params()) end, "getfd")
    assert.error_matches(function() ssl.wrap(socket.tcp(), 5) end, "invalid context")
  end)

  it("wraps a real LuaSocket socket: setfd(-1) on it, then TLS over the adopted fd", function()
    local port = echo_server()
    local s = lsock(port)
    local c = assert(ssl.wrap(s, client_params({ verify = "none" })))
    assert.equal(-1, math.tointeger(s:getfd()))  -- as LuaSec leaves it
    assert.matches("^SSL connection: 0x%x+$", tostring(c))
    c:settimeout(10)
    assert.is_true(c:dohandshake())
    assert.is_true(c:getfd() > 2)  -- a duplicate, green
    assert.equal(6.0, c:send("hello\n"))
    assert.equal(math.type(6.0), math.type(c:send("")))  -- LuaSocket's numbers are floats
    assert.equal("hello", c:receive("*l"))
    assert.equal(9.0, c:send("xxabcdef\n", 3))  -- i, j: the last index sent
    assert.equal("ab", c:receive(2))
    assert.equal("precd", c:receive(5, "pre"))  -- a count includes the prefix
    assert.equal("pre", c:receive(2, "pre"))
    assert.equal("ef", c:receive())
    local info = c:info()
    assert.matches("^TLSv1%.[23]$", info.protocol)
    assert.is_string(info.cipher)
    assert.is_true(info.bits >= 128)
    assert.equal(info.protocol, c:info("protocol"))
    assert.equal("nothing", c:want())
    assert.is_false(c:dirty())
    local cert = assert(c:getpeercertificate())
    assert.equal("localhost", cert:subject()[1].value)
    assert.equal("greenlua test CA", cert:issuer()[1].value)
    assert.equal(cert:pem(), c:getpeerchain()[1]:pem())
    assert.is_string(c:getfinished())
    assert.is_string(c:getpeerfinished())
    assert.is_nil(c:getalpn())
    -- verify "none": the verdict is still there, LuaSec style
    local ok, why = c:getpeerverification()
    assert.is_false(ok)
    assert.equal("unable to get local issuer certificate", why)
    local rx, tx, age = c:getstats()
    assert.is_true(rx > 0 and tx > 0 and age >= 0)
    assert.equal(1.0, c:setstats(1, 2, 3))
    assert.equal(1, (c:getstats()))
    c:close()
    assert.matches("%(closed%)$", tostring(c))
    assert.same({ nil, "closed", "" }, { c:receive() })
    assert.equal(-1, c:getfd())
    s:close()  -- harmless: it holds no fd
  end)

  it("a session with openssl s_server reads the same as with real LuaSec", function()
    local port = T.free_port()
    local h = T.bg(("timeout 60 openssl s_server -accept 127.0.0.1:%d -cert %s -key %s -www -quiet")
      :format(port, C.server, C.server_key))
    T.defer(function() h:stop() end)
    assert(T.connect_retry(port, 10), "s_server did not start: " .. h:describe()):close()
    local real, ours = both(([[
      local socket = require "socket"
      local ssl = require(arg[1])
      local s = socket.tcp(); s:settimeout(10); assert(s:connect("127.0.0.1", %d))
      local c = assert(ssl.wrap(s, {mode = "client", protocol = "any", verify = "peer", cafile = %q}))
      print(math.tointeger(s:getfd()))
      c:sni("localhost")
      c:settimeout(10)
      print(c:dohandshake())
      print(c:send("GET / HTTP/1.0\r\n\r\n"))
      print(c:receive("*l"))
      local i = c:info()
      print(i.protocol, i.cipher, i.key, i.authentication, i.encryption, i.mac, i.bits, i.algbits, i.export)
      print(c:info("protocol"), c:info("compression"))
      print(c:getpeerverification())
      local cert = c:getpeercertificate()
      print(cert:subject()[1].value, cert:issuer()[1].value, cert:digest("sha256"))
      print(#c:getpeerchain(), c:getpeercertificate(2), c:getpeercertificate(0))
      print(c:want(), c:getalpn(), #c:getfinished(), #c:getpeerfinished())
      print(c:receive(5, "abcdefg"))
      c:close()  -- (after close, real LuaSec still reads its buffer: not compared)
    ]]):format(port, C.ca))
    assert.equal(real, ours)
  end)

  it("works where setfd is not supported: the owner closes its fd", function()
    local port = echo_server()
    local real = lsock(port)
    local closed = false
    local fake = {
      getfd = function() return real:getfd() end,
      setfd = function() error("not supported") end,
      close = function() closed = true; real:close() end,
    }
    local c = assert(ssl.wrap(fake, client_params({ verify = "none" })))
    assert.is_true(closed)
    c:settimeout(10)
    assert.is_true(c:dohandshake())
    c:send("dup\n")
    assert.equal("dup", c:receive())
    c:close()
  end)

  it("wraps a green socket as it is", function()
    local port = echo_server()
    local g = assert(green.connect("127.0.0.1", port))
    local c = assert(ssl.wrap(g, client_params({ cafile = C.ca })))
    c:sni("localhost")
    c:settimeout(10)
    assert.is_true(c:dohandshake())
    assert.is_true(c:getpeerverification())
    c:send("green\n")
    assert.equal("green", c:receive())
    c:close()
    assert.is_true(core.is_closed(g))
  end)

  describe("verification (decision: a client context without verify verifies)", function()
    local function handshake(params, sni)
      local port = echo_server()
      local c = assert(ssl.wrap(lsock(port), client_params(params)))
      if sni then c:sni(sni) end
      c:settimeout(10)
      local ok, err = c:dohandshake()
      local v = table.pack(c:getpeerverification())
      c:close()
      return ok, err, v
    end

    it("checks the chain and the sni name by default", function()
      assert.is_true((handshake({ cafile = C.ca }, "localhost")))
      local ok, err = handshake({ cafile = C.ca }, "wrong.example")
      assert.is_false(ok)
      assert.equal("certificate verify failed", err)
    end)

    it("uses the system store by default, which does not know the test CA", function()
      local ok, err = handshake({}, "localhost")
      assert.is_false(ok)
      assert.equal("certificate verify failed", err)
    end)

    it("refuses to verify without a name to check", function()
      local ok, err = handshake({ cafile = C.ca })
      assert.is_false(ok)
      assert.matches("^certificate verify failed: no server name to check", err)
    end)

    it("verify = \"peer\" is LuaSec's: the chain (and the sni name if given)", function()
      assert.is_true((handshake({ cafile = C.ca, verify = "peer" })))
      assert.is_false((handshake({ verify = "peer" })))
      local ok, err = handshake({ cafile = C.ca, verify = "peer" }, "wrong.example")
      assert.is_false(ok)
      assert.equal("certificate verify failed", err)
    end)

    it("verify = \"none\" accepts anything", function()
      assert.is_true((handshake({ verify = "none" })))
      assert.is_true((handshake({ verify = "none" }, "wrong.example")))
    end)

    it("verifyext lsec_continue goes on and tells the errors by depth", function()
      local ok, err, v = handshake({ verify = "peer", verifyext = "lsec_continue" })
      assert.is_true(ok, err)
      assert.is_false(v[1])
      assert.is_table(v[2])
      assert.is_table(v[2][1])
      assert.equal("unable to get local issuer certificate", v[2][1][1])
    end)
  end)

  it("dohandshake and receive say wantread on a timeout; want() says read", function()
    local port = silent_server()
    local c = assert(ssl.wrap(lsock(port), client_params({ verify = "none" })))
    c:settimeout(0)
    assert.same({ false, "wantread" }, { c:dohandshake() })
    assert.equal("read", c:want())
    c:settimeout(0.2)
    local t0 = green.now()
    assert.same({ false, "wantread" }, { c:dohandshake() })
    assert.is_true(green.now() - t0 >= 0.15)
    c:close()
    -- receive, once connected, on a server that does not answer
    local eport = echo_server()
    c = assert(ssl.wrap(lsock(eport), client_params({ verify = "none" })))
    c:settimeout(10)
    assert.is_true(c:dohandshake())
    c:send("part")
    c:settimeout(0.2)
    local data, err, partial = c:receive("*l")
    assert.is_nil(data)
    assert.equal("wantread", err)
    assert.equal("", partial)
    c:close()
  end)

  it("timeouts, want() and settimeout's results are LuaSec's (same script, both)", function()
    local real, ours = both([[
      local socket = require "socket"
      local ssl = require(arg[1])
      local l = socket.bind("127.0.0.1", 0)  -- accepts nothing: the handshake waits
      local _, port = l:getsockname()
      local s = socket.tcp(); assert(s:connect("127.0.0.1", port))
      local c = ssl.wrap(s, {mode = "client", protocol = "any", verify = "none"})
      print(c:want())
      print(c:settimeout(0))
      print(c:dohandshake())
      print(c:want())
      print(c:settimeout(0.2))
      local t = socket.gettime()
      print(c:dohandshake())
      print(socket.gettime() - t >= 0.15)
      print(c:settimeout(nil), c:settimeout(1, "t"), c:settimeout(-1, "b"))
      print(c:receive())
      print(c:send("x"))
      print(c:getpeerverification())
      print(c:info())
      print(tostring(c):match("^SSL connection: 0x%x+$") ~= nil)
      c:close()
      print(tostring(c):match("%(closed%)$") ~= nil)
    ]])
    assert.equal(real, ours)
  end)

  it("an encrypted key loads with its password (string or function), never prompts", function()
    local key = C.dir .. "/enc.key"
    assert(os.execute(("openssl ec -in %s -aes128 -passout pass:sesame -out %s 2>/dev/null")
      :format(C.server_key, key)))
    local function serve_with(params)
      local l, port = T.listener()
      T.defer(function() l:close() end)
      local res = {}
      local gt = green.spawn(function()
        local s = assert(l:accept())
        local c, err = ssl.wrap(s, params)
        if not c then res.ok, res.err = false, err; s:close(); return end
        c:settimeout(10)
        res.ok, res.err = c:dohandshake()
        c:close()
      end)
      local s = assert(green.connect("127.0.0.1", port))
      s:settimeout(10)
      green.wrap_ssl(s, { verify = "none" })
      s:close()
      gt:wait()
      return res
    end
    local base = { mode = "server", protocol = "any", certificate = C.server, key = key }
    local p = {}
    for k, v in pairs(base) do p[k] = v end
    p.password = "sesame"
    assert.is_true(serve_with(p).ok)
    p.password = function() return "sesame" end
    assert.is_true(serve_with(p).ok)
    p.password = "wrong"
    local r = serve_with(p)
    assert.is_false(r.ok)
    assert.matches("key", r.err)
    r = serve_with(base)  -- no password: fails at once (OpenSSL would prompt on the terminal)
    assert.is_false(r.ok)
  end)

  it("wrap_ssl with an encrypted key and no password fails at once, never prompts on the terminal", function()
    -- (before: OpenSSL's default callback asked "Enter PEM pass phrase:" on
    -- the terminal, with every green thread stopped)
    assert(T.have("script"), "util-linux's script is needed for a terminal")
    local key = C.dir .. "/enc_tty.key"
    assert(os.execute(("openssl ec -in %s -aes128 -passout pass:sesame -out %s 2>/dev/null")
      :format(C.server_key, key)))
    local dir, cleanup = helpers.tmpdir()
    T.defer(cleanup)
    helpers.write(dir .. "/pw.lua", ([[
      local green = require "green"
      local t = green.spawn(function() for i = 1, 3 do green.sleep(0.1) print("tick", i) end end)
      local l = assert(green.listen("127.0.0.1", 0))
      print("wrap", green.wrap_ssl(l, { server_side = true, certfile = %q, keyfile = %q }))
      t:wait()
      print("with password", green.wrap_ssl(assert(green.listen("127.0.0.1", 0)),
        { server_side = true, certfile = %q, keyfile = %q, password = "sesame" }) ~= nil)
    ]]):format(C.server, key, C.server, key))
    local h = T.bg(("timeout 20 script -qec %s /dev/null"):format(
      T.q(helpers.greenlua() .. " " .. dir .. "/pw.lua")))
    T.defer(function() h:stop() end)
    assert(h:wait(25), "did not end: " .. h:describe())
    local out = h:out()
    assert.not_matches("pass phrase", out)
    assert.matches("wrap%s+nil%s+tls:", out)
    assert.matches("tick%s+3", out)
    assert.matches("with password%s+true", out)
  end)

  it("ALPN: the client's list, the server's choice, getalpn", function()
    local l, port = T.listener()
    T.defer(function() l:close() end)
    local got = {}
    local gt = green.spawn(function()
      local s = assert(l:accept())
      local c = assert(ssl.wrap(s, { mode = "server", protocol = "any", certificate = C.server,
        key = C.server_key, alpn = { "h2", "http/1.1" } }))
      c:settimeout(10)
      got.ok = c:dohandshake()
      got.alpn = c:getalpn()
      c:close()
    end)
    local c = assert(ssl.wrap(lsock(port), client_params({ verify = "none", alpn = { "http/1.1" } })))
    c:settimeout(10)
    assert.is_true(c:dohandshake())
    assert.equal("http/1.1", c:getalpn())
    gt:wait()
    assert.is_true(got.ok)
    assert.equal("http/1.1", got.alpn)
    c:close()
  end)

  it("a blocked handshake blocks only its green thread", function()
    local port = silent_server()
    local c = assert(ssl.wrap(lsock(port), client_params({ verify = "none" })))
    c:settimeout(0.3)
    local ticks = 0
    local ticker = green.spawn(function()
      for _ = 1, 1000 do ticks = ticks + 1; green.sleep(0.01) end
    end)
    assert.same({ false, "wantread" }, { c:dohandshake() })
    green.kill(ticker)
    assert.is_true(ticks >= 5, "ticks: " .. ticks)
    c:close()
  end)

  it("before the handshake, I/O says closed, as LuaSec does", function()
    local c = assert(ssl.wrap(lsock(echo_server()), client_params({ verify = "none" })))
    assert.same({ nil, "closed", "" }, { c:receive() })
    assert.same({ false, "closed" }, { c:getpeerverification() })
    assert.same({ nil, "closed" }, { c:getpeercertificate() })
    assert.equal("nothing", c:want())
    c:close()
  end)

  describe("server mode", function()
    -- A server conn over the first accepted connection; client(port) runs
    -- in its own green thread. Returns the server conn's handshake results.
    local function serve(server_params, client, sni, strict)
      local l, port = T.listener()
      T.defer(function() l:close() end)
      local out = {}
      local done = green.Event()
      green.spawn(function()
        local s = assert(l:accept())
        local c = assert(ssl.wrap(s, server_params))
        if sni then c:sni(sni, strict) end
        c:settimeout(10)
        out.ok, out.err = c:dohandshake()
        out.sniname = c:getsniname()
        out.peer = c:getpeercertificate()
        out.verify = table.pack(c:getpeerverification())
        if out.ok then
          local line = c:receive()
          c:send((line or "?") .. "\n")
        end
        c:close()
        done:send(true)
      end)
      local res = table.pack(client(port))
      done:wait(20)
      return out, res
    end

    local server = { mode = "server", protocol = "any", certificate = C.server, key = C.server_key }

    it("serves a client and reads its certificate when asked for", function()
      local params = {}
      for k, v in pairs(server) do params[k] = v end
      params.verify = { "peer", "fail_if_no_peer_cert" }
      params.cafile = C.ca
      local out, res = serve(params, function(port)
        local s = assert(green.connect("127.0.0.1", port))
        s:settimeout(10)
        assert(green.wrap_ssl(s, { cafile = C.ca, server_hostname = "localhost",
          certfile = C.client, keyfile = C.client_key }))
        s:send("hi\n")
        local line = s:receive()
        s:close()
        return line
      end)
      assert.is_true(out.ok, out.err)
      assert.equal("hi", res[1])
      assert.equal("greenlua client", out.peer:subject()[1].value)
      assert.is_true(out.verify[1])
    end)

    it("picks a context by the client's SNI name; strict refuses others", function()
      local other = ssl.newcontext({ mode = "server", protocol = "any", certificate = C.self, key = C.self_key })
      local function client_with(name)
        return function(port)
          local s = assert(green.connect("127.0.0.1", port))
          s:settimeout(10)
          local w, err = green.wrap_ssl(s, { verify = "none", server_hostname = name })
          if not w then return nil, err end
          local cert = select(2, s:tls_peer_chain())
          w:close()
          return cert:issuer()[1].value
        end
      end
      local out, res = serve(server, client_with("other.example"), { ["other.example"] = other })
      assert.is_true(out.ok, out.err)
      assert.equal("other.example", out.sniname)
      assert.equal("localhost", res[1])  -- the self-signed one: its issuer is itself
      out, res = serve(server, client_with("localhost"), { ["other.example"] = other })
      assert.equal("greenlua test CA", res[1])  -- not in the map: the default context
      out, res = serve(server, client_with("third.example"), { ["other.example"] = other }, true)
      assert.is_false(out.ok)
      assert.is_nil(res[1])
    end)
  end)

  describe("certificates (x509.c): as LuaSec's", function()
    it("gives the same answers as real LuaSec for the same certificate", function()
      local code = ([[
        local ssl = require(arg[1])
        local f = io.open(%q); local pem = f:read("a"); f:close()
        local ca = io.open(%q):read("a")
        local c = assert(ssl.loadcertificate(pem))
        local ca = assert(ssl.loadcertificate(ca))
        local function names(t) local o = {} for i, e in ipairs(t) do o[i] = e.oid .. "/" .. e.name .. "=" .. e.value end return table.concat(o, ",") end
        print(names(c:subject()), names(c:issuer()))
        print(c:serial(), c:notbefore(), c:notafter())
        print(c:digest(), c:digest("sha1"), c:digest("sha256"), c:digest("sha512"))
        print(c:digest("bogus"))
        print(c:validat(os.time()), c:validat(0), c:validat(os.time() + 86400 * 10))
        print(c:getsignaturename())
        local pub, kind, bits = c:pubkey(); print(pub:sub(1, 26), kind, math.tointeger(bits))
        print(ca:issued(c), ca:issued(ca))
        print(c:issued(ca))
        print(c:issued(c))
        print(ca:issued(c, ca))
        print(c:pem() == pem)
        for oid, ext in pairs(c:extensions()) do
          print(oid, ext.name, table.concat(ext.dNSName or {}, ","), table.concat(ext.iPAddress or {}, ","))
        end
        print(c:setencode("utf8"), c:setencode("ai5"), c:setencode("x"))
        print(tostring(c):match("^X509 certificate: "))
        print(ssl.loadcertificate("junk"))
      ]]):format(C.server, C.ca)
      local real, ours = both(code)
      assert.equal(real, ours)
    end)

    it("misuse raises; DER loads too", function()
      assert.error_matches(function() ssl.loadcertificate(5) end, "string expected")
      local c = assert(ssl.loadcertificate(T.slurp(C.server)))
      assert.error_matches(function() c.subject(5) end, "certificate expected")
      assert.error_matches(function() c:issued(5) end, "certificate expected")
      assert.error_matches(function() c:validat("x") end, "number expected")
      local der = io.popen("openssl x509 -in " .. C.server .. " -outform DER"):read("a")
      local d = assert(ssl.loadcertificate(der, "der"))
      assert.equal(c:digest(), d:digest())
    end)
  end)

  it("tcp_adopt refuses the standard streams and what is not a stream socket", function()
    assert.same({ nil, "bad file descriptor" }, { core.tcp_adopt(0) })
    assert.same({ nil, "bad file descriptor" }, { core.tcp_adopt(-1) })
    local f = assert(io.open(C.ca))
    local fd
    for line in io.popen("ls -l /proc/" .. core.getpid() .. "/fd"):lines() do
      local n, target = line:match(" (%d+) %-> (.*)$")
      if target == C.ca then fd = tonumber(n) end
    end
    assert.is_number(fd)
    assert.same({ nil, "socket operation on non-socket" }, { core.tcp_adopt(fd) })
    f:close()
    -- adopting takes a duplicate: the owner's fd (here a green socket's) stays its own
    local port = echo_server()
    local g = assert(green.connect("127.0.0.1", port))
    local dup = assert(core.tcp_adopt(g:getfd()))
    assert.are_not.equal(g:getfd(), dup:getfd())
    dup:close()
    g:settimeout(10)
    assert(green.wrap_ssl(g, { verify = "none" }))
    assert.equal(3, g:send("ok\n"))
    assert.equal("ok", g:receive())
    g:close()
  end)
end)
