-- green.wsgi.server behind a load balancer: opts.proxy_protocol (PROXY v1
-- and v2 headers, host/http/proxy.c) and opts.trusted_proxies
-- (X-Forwarded-For / Forwarded, lib/green/forwarded.lua), with raw bytes
-- and with a real HAProxy in front (Debian's haproxy, which make test installs).
-- 127.0.0.1 only; every wait is bounded.
local green = require "green"
local core = require "green.core"
local wsgi = require "green.wsgi"
local helpers = require "spec.helpers"
local R = require "spec.wsgi_raw_helpers"
local T = require "spec.tls_helpers"

local q = T.q

-- The app: who it thinks the client is.
local function who(env, srv)
  srv.calls[#srv.calls + 1] = { env = env }
  return 200, { ["Content-Type"] = "text/plain" }, env.REMOTE_ADDR .. " " .. env.REMOTE_PORT
end

local GET = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

local function be16(n) return string.char(n >> 8, n & 0xFF) end
local SIG = "\r\n\r\n\0\r\nQUIT\n"

-- A v2 header: command (0 LOCAL, 1 PROXY), family/protocol byte, body.
local function v2(cmd, famproto, body)
  return SIG .. string.char(0x20 | cmd, famproto) .. be16(#body) .. body
end
local function v2_tcp4(a, b, sport, dport)
  return v2(1, 0x11, string.char(table.unpack(a)) .. string.char(table.unpack(b)) .. be16(sport) .. be16(dport))
end

-- Send `data` on a new connection; the body of the response (or nil), the
-- raw reply, and the client's own port.
local function exchange(port, data, opts)
  opts = opts or {}
  local c = assert(green.connect("127.0.0.1", port))
  local _, myport = c:getsockname()
  c:settimeout(5)
  local pieces = type(data) == "table" and data or { data }
  for i, piece in ipairs(pieces) do
    if not c:send(piece) then break end
    if i < #pieces then green.sleep(0) end
  end
  if opts.shutdown then c:shutdown("send") end
  local got = R.read_all(c, 5)
  c:close()
  return got:match("\r\n\r\n(.*)$"), got, myport
end

local function log_text(srv) return table.concat(srv.log) end

-- Wait (bounded) until the server logged `plain`.
local function logged(srv, plain)
  return helpers.wait_until(function() return log_text(srv):find(plain, 1, true) ~= nil end, 5)
end

describe("core.proxy_parse", function()
  it("parses v1 TCP4, TCP6 and UNKNOWN, reporting the header's length", function()
    local h = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"
    assert.same({ #h, "TCP4", "192.0.2.1", 56324, "198.51.100.2", 443 },
      { core.proxy_parse(h .. "GET /") })
    h = "PROXY TCP6 2001:db8:0:0::1 ::1 4711 80\r\n"
    assert.same({ #h, "TCP6", "2001:db8::1", 4711, "::1", 80 }, { core.proxy_parse(h) })
    assert.same({ 15, "UNKNOWN" }, { core.proxy_parse("PROXY UNKNOWN\r\n") })
    assert.same({ 36, "UNKNOWN" }, { core.proxy_parse("PROXY UNKNOWN ff::1 ff::2 1 2 junk\r\n") })
  end)

  it("parses v2 TCP4, TCP6, LOCAL, AF_UNSPEC and AF_UNIX, skipping TLVs", function()
    local h = v2_tcp4({ 10, 1, 2, 3 }, { 10, 9, 9, 9 }, 1234, 80)
    assert.same({ #h, "TCP4", "10.1.2.3", 1234, "10.9.9.9", 80 }, { core.proxy_parse(h .. "GET") })
    local a6 = string.rep("\0", 15) .. "\1"
    local b6 = "\32\1\13\184" .. string.rep("\0", 11) .. "\7"
    h = v2(1, 0x21, b6 .. a6 .. be16(5000) .. be16(443))
    assert.same({ #h, "TCP6", "2001:db8::7", 5000, "::1", 443 }, { core.proxy_parse(h) })
    h = v2_tcp4({ 1, 2, 3, 4 }, { 5, 6, 7, 8 }, 1, 2):sub(1, 14) .. be16(12 + 7)
      .. v2_tcp4({ 1, 2, 3, 4 }, { 5, 6, 7, 8 }, 1, 2):sub(17) .. "\4\0\4abcd"   -- a NOOP TLV
    assert.same({ #h, "TCP4", "1.2.3.4", 1, "5.6.7.8", 2 }, { core.proxy_parse(h) })
    assert.same({ 16, "LOCAL" }, { core.proxy_parse(v2(0, 0x00, "")) })
    assert.same({ 28, "LOCAL" }, { core.proxy_parse(v2(0, 0x11, string.rep("\1", 12))) })
    assert.same({ 16, "UNKNOWN" }, { core.proxy_parse(v2(1, 0x00, "")) })
    assert.same({ 16 + 216, "UNKNOWN" }, { core.proxy_parse(v2(1, 0x31, string.rep("\0", 216))) })
  end)

  it("says incomplete for every proper prefix of a valid header (a byte at a time)", function()
    for _, h in ipairs({ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
                         v2_tcp4({ 1, 2, 3, 4 }, { 5, 6, 7, 8 }, 1, 2), v2(0, 0, "") }) do
      for i = 0, #h - 1 do
        assert.same({ nil, "incomplete" }, { core.proxy_parse(h:sub(1, i)) }, "prefix " .. i)
      end
      assert.equal(#h, (core.proxy_parse(h)))
    end
  end)

  it("refuses what is not a PROXY header at once, and malformed ones", function()
    for _, s in ipairs({ "GET / HTTP/1.1\r\n", "P", "PR", "PROXX", "\r\n\r\n\0\r\nQUIX",
                         "\r\nGET", "x" }) do
      local n, err = core.proxy_parse(s)
      if s == "P" or s == "PR" then
        assert.same({ nil, "incomplete" }, { n, err }, s)   -- could still be one
      else
        assert.is_nil(n, s)
        assert.equal("no PROXY header", err, s)
      end
    end
    for _, s in ipairs({
      "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 111\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
      "PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n",
      "PROXY TCP4 ::1 ::1 1 2\r\n",
      "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
      "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
      "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY \r\n", "PROXY\r\n",
      SIG .. "\x11\x11" .. be16(12) .. string.rep("\1", 12),   -- version 1
      SIG .. "\x22\x11" .. be16(12) .. string.rep("\1", 12),   -- command 2
      v2(1, 0x11, "\1\2\3\4"),                                 -- short address block
      v2(1, 0x21, string.rep("\1", 20)),
      v2(1, 0x12, string.rep("\1", 12)),                       -- UDP
      v2(1, 0x41, string.rep("\1", 12)),                       -- family 4
    }) do
      local n, err = core.proxy_parse(s)
      assert.is_nil(n, R.show(s))
      assert.matches("PROXY", err, 1, true)
      assert.not_equal("incomplete", err, R.show(s))
    end
  end)

  it("bounds the header: a v1 line over 107 bytes, a v2 block over 1024 bytes", function()
    assert.same({ nil, "PROXY header too long" }, { core.proxy_parse("PROXY " .. string.rep("A", 101)) })
    assert.same({ nil, "incomplete" }, { core.proxy_parse("PROXY " .. string.rep("A", 100)) })
    -- the declared length alone decides: nothing waits for 64 KiB to come
    assert.same({ nil, "PROXY header too long" }, { core.proxy_parse(SIG .. "\x21\x11" .. be16(1025)) })
    assert.equal(16 + 1024, (core.proxy_parse(v2(1, 0x11, string.rep("\1", 1024)))))
  end)

  it("checks its argument", function()
    assert.matches("bad argument #1 to 'proxy_parse'", helpers.error_of(core.proxy_parse, {}))
    assert.matches("bad argument #1 to 'ip_bytes'", helpers.error_of(core.ip_bytes))
    assert.matches("bad argument #1 to 'proxy_read'", helpers.error_of(core.proxy_read, 1))
    local l = assert(green.listen("127.0.0.1", 0))
    assert.matches("proxy_read: the socket is listening", helpers.error_of(core.proxy_read, l))
    l:close()
    assert.matches("proxy_read: the socket is closed", helpers.error_of(core.proxy_read, l))
  end)
end)

describe("wsgi.server opts.proxy_protocol", function()
  after_each(helpers.run_deferred)

  it("sets REMOTE_ADDR and REMOTE_PORT from a v1 TCP4 header, the access log too", function()
    local srv = R.server({ proxy_protocol = true }, who)
    local body = exchange(srv.port, "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n" .. GET)
    assert.equal("192.0.2.1 56324", body)
    assert.truthy(logged(srv, '192.0.2.1 - - ['))
  end)

  it("sets them from a v1 TCP6 header (canonical form) and from v2 TCP4 and TCP6", function()
    local srv = R.server({ proxy_protocol = true }, who)
    assert.equal("2001:db8::1 4711", exchange(srv.port, "PROXY TCP6 2001:DB8:0::1 ::1 4711 80\r\n" .. GET))
    assert.equal("10.1.2.3 1234", exchange(srv.port, v2_tcp4({ 10, 1, 2, 3 }, { 10, 9, 9, 9 }, 1234, 80) .. GET))
    local src = "\32\1\13\184" .. string.rep("\0", 11) .. "\7"
    assert.equal("2001:db8::7 5000",
      exchange(srv.port, v2(1, 0x21, src .. string.rep("\0", 15) .. "\1" .. be16(5000) .. be16(80)) .. GET))
  end)

  it("keeps the real peer for v1 UNKNOWN and v2 LOCAL / AF_UNSPEC", function()
    local srv = R.server({ proxy_protocol = true }, who)
    for _, h in ipairs({ "PROXY UNKNOWN\r\n", "PROXY UNKNOWN 1.1.1.1 2.2.2.2 1 2\r\n",
                         v2(0, 0x11, string.rep("\9", 12)), v2(1, 0x00, "") }) do
      local body, _, myport = exchange(srv.port, h .. GET)
      assert.equal("127.0.0.1 " .. myport, body, R.show(h))
    end
  end)

  it("reads the header only once per connection: keep-alive requests follow it", function()
    local srv = R.server({ proxy_protocol = true }, who)
    local keep = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    local _, raw = exchange(srv.port, { "PROXY TCP4 192.0.2.9 127.0.0.1 7 80\r\n" .. keep, keep, GET })
    local rs = R.parse(raw)
    assert.equal(3, #rs)
    for i = 1, 3 do assert.equal("192.0.2.9 7", rs[i].body) end
  end)

  it("takes a header sent a byte at a time", function()
    local srv = R.server({ proxy_protocol = true }, who)
    for _, h in ipairs({ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
                         v2_tcp4({ 10, 1, 2, 3 }, { 10, 9, 9, 9 }, 1234, 80) }) do
      local pieces = {}
      for i = 1, #h do pieces[i] = h:sub(i, i) end
      pieces[#pieces + 1] = GET
      local body = exchange(srv.port, pieces)
      assert.is_not_nil(body, R.show(h))
      assert.truthy(body == "192.0.2.1 56324" or body == "10.1.2.3 1234", body)
    end
  end)

  it("closes without calling the app when the header is missing, malformed or too long", function()
    local srv = R.server({ proxy_protocol = true }, who)
    local cases = {
      { GET, "no PROXY header" },
      { "PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n" .. GET, "malformed PROXY header: a bad address" },
      { "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n" .. GET, "malformed PROXY header" },
      { v2(1, 0x12, string.rep("\1", 12)) .. GET, "malformed PROXY header: not a stream" },
      { "PROXY " .. string.rep("A", 200) .. "\r\n" .. GET, "PROXY header too long" },
      { SIG .. "\x21\x11" .. be16(60000) .. GET, "PROXY header too long" },
    }
    for _, case in ipairs(cases) do
      local _, raw = exchange(srv.port, case[1])
      assert.equal("", raw, R.show(case[1]))
      assert.truthy(logged(srv, case[2]), log_text(srv))
    end
    assert.equal(0, #srv.calls)
  end)

  it("closes on a truncated header (the peer ended it) and when it does not come in header_timeout", function()
    local srv = R.server({ proxy_protocol = true, header_timeout = 0.3 }, who)
    local _, raw = exchange(srv.port, "PROXY TCP4 1.2.3.4 5.6", { shutdown = true })
    assert.equal("", raw)
    assert.truthy(logged(srv, "truncated PROXY header"), log_text(srv))
    _, raw = exchange(srv.port, v2_tcp4({ 1, 2, 3, 4 }, { 5, 6, 7, 8 }, 1, 2):sub(1, 20))
    assert.equal("", raw)
    assert.truthy(logged(srv, "closed: timeout"), log_text(srv))
    assert.equal(0, #srv.calls)
  end)

  it("does not log a connection that closes before sending anything", function()
    local srv = R.server({ proxy_protocol = true }, who)
    local c = assert(green.connect("127.0.0.1", srv.port))
    c:close()
    -- a later connection's line: the server has seen the first one end by then
    local body, _, myport = exchange(srv.port, "PROXY UNKNOWN\r\n" .. GET)
    assert.equal("127.0.0.1 " .. myport, body)
    assert.truthy(logged(srv, '"GET / HTTP/1.1" 200'))
    assert.is_nil(log_text(srv):find("closed:", 1, true), log_text(srv))
  end)

  it("off (the default): a PROXY line or a v2 signature is a 400", function()
    local srv = R.server({}, who)
    for _, h in ipairs({ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", v2_tcp4({ 1, 2, 3, 4 }, { 5, 6, 7, 8 }, 1, 2) }) do
      local _, raw = exchange(srv.port, h .. GET)
      local rs = R.parse(raw)
      assert.equal(400, rs[1] and rs[1].code, R.show(raw))
    end
    assert.equal(0, #srv.calls)
  end)

  it("raises for a non-boolean option", function()
    local l = assert(green.listen("127.0.0.1", 0))
    helpers.defer(function() l:close() end)
    assert.matches("bad argument #3 to 'server' %(opts.proxy_protocol: boolean expected, got string%)",
      helpers.error_of(wsgi.server, l, who, { proxy_protocol = "yes" }))
  end)
end)

describe("wsgi.server opts.trusted_proxies", function()
  after_each(helpers.run_deferred)

  local function get(srv, headers, prefix)
    local req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" .. (headers or "") .. "\r\n"
    local body, _, myport = exchange(srv.port, (prefix or "") .. req)
    return body, myport
  end

  it("ignores the headers when the peer is not trusted", function()
    local srv = R.server({ trusted_proxies = { "10.0.0.0/8" } }, who)
    local body, myport = get(srv, "X-Forwarded-For: 203.0.113.7\r\nForwarded: for=198.51.100.1\r\n")
    assert.equal("127.0.0.1 " .. myport, body)
  end)

  it("walks X-Forwarded-For from the right to the first untrusted address", function()
    local srv = R.server({ trusted_proxies = { "127.0.0.1", "10.0.0.0/8" } }, who)
    assert.equal("203.0.113.7 ", get(srv, "X-Forwarded-For: 203.0.113.7, 10.0.0.2,10.0.0.3\r\n"))
    -- what a client put further left is not believed
    assert.equal("203.0.113.7 ", get(srv, "X-Forwarded-For: 1.1.1.1, 203.0.113.7, 10.0.0.2\r\n"))
    -- repeated headers are one list
    assert.equal("203.0.113.8 ", get(srv, "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 203.0.113.8, 10.1.1.1\r\n"))
    -- every hop trusted: the leftmost
    assert.equal("10.0.0.5 ", get(srv, "X-Forwarded-For: 10.0.0.5, 10.0.0.2\r\n"))
    -- a hop that is not an address ends the walk at the last trusted one
    assert.equal("10.0.0.2 ", get(srv, "X-Forwarded-For: 203.0.113.7, unknown, 10.0.0.2\r\n"))
    local body, myport = get(srv, "X-Forwarded-For: garbage\r\n")
    assert.equal("127.0.0.1 " .. myport, body)
    -- ports and IPv6 forms
    assert.equal("203.0.113.7 8080", get(srv, "X-Forwarded-For: 203.0.113.7:8080\r\n"))
    assert.equal("2001:db8::1 ", get(srv, "X-Forwarded-For: 2001:DB8::1\r\n"))
    assert.equal("2001:db8::1 443", get(srv, "X-Forwarded-For: [2001:db8::1]:443\r\n"))
    -- no header: the peer
    body, myport = get(srv)
    assert.equal("127.0.0.1 " .. myport, body)
  end)

  it("reads Forwarded for= values: quoting, IPv6 brackets and ports, other parameters", function()
    local srv = R.server({ trusted_proxies = { "127.0.0.1", "2001:db8::/32" } }, who)
    assert.equal("192.0.2.60 ", get(srv, "Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43\r\n"))
    assert.equal("2001:db9::17 4711", get(srv, 'Forwarded: for="[2001:db9::17]:4711"\r\n'))
    assert.equal("198.51.100.1 ",
      get(srv, 'Forwarded: for=198.51.100.1, For="[2001:db8::5]";proto=https, for="[2001:db8:cafe::17]:80"\r\n'))
    -- quoted commas and semicolons do not split
    assert.equal("198.51.100.2 ",
      get(srv, 'Forwarded: for=198.51.100.2;ext="a,b;c=\\"d\\"", for="[2001:db8::1]"\r\n'))
    -- an obfuscated identifier ends the walk at the last trusted hop
    assert.equal("2001:db8::9 ", get(srv, 'Forwarded: for=_hidden, for="[2001:db8::9]"\r\n'))
    -- an element with no for=: the same
    assert.equal("2001:db8::9 ", get(srv, 'Forwarded: proto=http, for="[2001:db8::9]"\r\n'))
    -- an unparsable header is ignored (the peer stays)
    local body, myport = get(srv, 'Forwarded: for="192.0.2.1\r\n')
    assert.equal("127.0.0.1 " .. myport, body)
    body, myport = get(srv, 'Forwarded: for=192.0.2.1 junk\r\n')
    assert.equal("127.0.0.1 " .. myport, body)
  end)

  it("prefers Forwarded when both headers are there", function()
    local srv = R.server({ trusted_proxies = { "127.0.0.1" } }, who)
    assert.equal("198.51.100.1 ",
      get(srv, "X-Forwarded-For: 203.0.113.7\r\nForwarded: for=198.51.100.1\r\n"))
  end)

  it("matches IPv4 CIDR ranges of any length, single addresses and IPv4-mapped ranges", function()
    local srv = R.server({ trusted_proxies = { "127.0.0.0/31", "192.0.2.128/25", "::ffff:198.51.100.0/120" } }, who)
    assert.equal("192.0.2.127 ", get(srv, "X-Forwarded-For: 192.0.2.127, 192.0.2.200\r\n"))
    assert.equal("198.51.99.1 ", get(srv, "X-Forwarded-For: 198.51.99.1, 198.51.100.77\r\n"))
  end)

  it("believes the PROXY header's source, then the headers it trusts", function()
    local srv = R.server({ proxy_protocol = true, trusted_proxies = { "10.0.0.1" } }, who)
    assert.equal("203.0.113.7 ", get(srv, "X-Forwarded-For: 203.0.113.7\r\n",
      "PROXY TCP4 10.0.0.1 10.0.0.2 5555 80\r\n"))
    assert.equal("10.0.0.9 5555", get(srv, "X-Forwarded-For: 203.0.113.7\r\n",
      "PROXY TCP4 10.0.0.9 10.0.0.2 5555 80\r\n"))
  end)

  it("writes the address the app sees in the access log (no X-Forwarded-For prefix)", function()
    local srv = R.server({ trusted_proxies = { "127.0.0.1" } }, who)
    get(srv, "X-Forwarded-For: 203.0.113.7\r\n")
    assert.truthy(logged(srv, "\n"))
    assert.matches("^203%.0%.113%.7 %- %- %[", log_text(srv))
    local fields = {}
    local srv2 = R.server({ trusted_proxies = { "127.0.0.1" }, log_format = function(f)
      fields[#fields + 1] = f
      return "x"
    end }, who)
    get(srv2, "Forwarded: for=\"[2001:db8::2]:999\"\r\n")
    assert.truthy(helpers.wait_until(function() return #fields == 1 end, 5))
    assert.equal("2001:db8::2", fields[1].client_ip)
    assert.equal("999", fields[1].client_port)
  end)

  it("trusts a Unix socket peer with the entry \"unix\"", function()
    local dir, rm = helpers.tmpdir()
    helpers.defer(rm)
    local path = dir .. "/s"
    local l = assert(green.listen_unix(path))
    local seen
    local gt = green.spawn(wsgi.server, l, function(env)
      seen = env.REMOTE_ADDR
      return 200, {}, "ok"
    end, { trusted_proxies = { "unix" }, log = false })
    helpers.defer(function() l:close(); helpers.wait_until(function() return gt:dead() end, 5) end)
    local c = assert(green.connect_unix(path))
    c:settimeout(5)
    c:send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Forwarded-For: 203.0.113.5\r\n\r\n")
    R.read_all(c, 5)
    c:close()
    assert.equal("203.0.113.5", seen)
  end)

  it("raises at start for an invalid list, naming opts.trusted_proxies", function()
    local l = assert(green.listen("127.0.0.1", 0))
    helpers.defer(function() l:close() end)
    for _, case in ipairs({
      { 42, "array of addresses or CIDR ranges expected, got number" },
      { {}, "empty list" },
      { { "10.0.0.0/33" }, "prefix longer than the address" },
      { { "::/129" }, "prefix longer than the address" },
      { { "::ffff:1.2.3.0/90" }, "prefix too short for an IPv4%-mapped range" },
      { { "10.0.0.0/" }, "invalid address" },
      { { "not-an-ip" }, "invalid address" },
      { { "10.0.0.0/99999999999999999999" }, "invalid prefix" },
      { { 10 }, "entry 1: string expected, got number" },
      { { "10.0.0.1", x = 1 }, "array of addresses or CIDR ranges expected" },
    }) do
      local err = helpers.error_of(wsgi.server, l, who, { trusted_proxies = case[1] })
      assert.matches("^bad argument #3 to 'server' %(opts%.trusted_proxies: " .. case[2], err)
    end
  end)
end)

describe("wsgi.server behind a real HAProxy", function()
  after_each(helpers.run_deferred)

  local have = T.have("haproxy") and T.have("curl")
  local function when(name, fn)
    -- make test installs both (TEST_DEBS): missing, they fail, never skip
    it(name, function()
      assert(have, "haproxy and curl are needed (Debian's haproxy and curl; make test installs them)")
      fn()
    end)
  end

  -- HAProxy in the foreground (-db) with a generated config: frontends on
  -- free ports, each to a backend `server` line (the caller's text).
  local function haproxy(backends)
    local dir, rm = helpers.tmpdir()
    helpers.defer(rm)
    local cfg = { "global", "    maxconn 64", "defaults",
      "    timeout connect 5s", "    timeout client 10s", "    timeout server 10s" }
    local ports = {}
    for i, b in ipairs(backends) do
      ports[i] = T.free_port()
      cfg[#cfg + 1] = ("frontend f%d\n    mode %s\n    bind 127.0.0.1:%d\n%s    default_backend b%d")
        :format(i, b.mode, ports[i], b.frontend or "", i)
      cfg[#cfg + 1] = ("backend b%d\n    mode %s\n    server s 127.0.0.1:%d %s")
        :format(i, b.mode, b.port, b.server or "")
    end
    helpers.write(dir .. "/h.cfg", table.concat(cfg, "\n") .. "\n")
    local h = T.bg("exec timeout 60 haproxy -db -f " .. q(dir .. "/h.cfg"))
    helpers.defer(function() h:stop() end)
    for _, p in ipairs(ports) do
      local c = T.connect_retry(p, 10)
      assert(c, "haproxy did not listen: " .. h:describe())
      c:close()
    end
    return ports, h
  end

  local function curl(port, extra)
    local h = T.bg(("timeout 10 curl -s %s -w ' %%{local_port}' http://127.0.0.1:%d/"):format(extra or "", port))
    helpers.defer(function() h:stop() end)
    assert.equal(0, h:wait(15), h:describe())
    return h:out()
  end

  when("send-proxy and send-proxy-v2 set REMOTE_ADDR and REMOTE_PORT to curl's", function()
    local srv = R.server({ proxy_protocol = true }, who)
    local ports = haproxy({
      { mode = "tcp", port = srv.port, server = "send-proxy" },
      { mode = "http", port = srv.port, server = "send-proxy-v2" },
    })
    for _, p in ipairs(ports) do
      local out = curl(p)
      local addr, port, local_port = out:match("^(%S+) (%d+) (%d+)$")
      assert.equal("127.0.0.1", addr, out)
      assert.equal(local_port, port, out)   -- the client's port, not HAProxy's
    end
    assert.equal(2, #srv.calls)
  end)

  when("option forwardfor with trusted_proxies: the client HAProxy saw", function()
    local srv = R.server({ trusted_proxies = { "127.0.0.1" } }, who)
    local untrusting = R.server({}, who)
    local ports = haproxy({
      { mode = "http", port = srv.port, frontend = "    option forwardfor\n" },
      { mode = "http", port = untrusting.port, frontend = "    option forwardfor\n" },
    })
    -- HAProxy appends 127.0.0.1 to the client's header: the walk passes it
    assert.matches("^203%.0%.113%.7  %d+$", curl(ports[1], "-H 'X-Forwarded-For: 203.0.113.7'"))
    -- without trusted_proxies the header is only a header
    local out = curl(ports[2], "-H 'X-Forwarded-For: 203.0.113.7'")
    assert.matches("^127%.0%.0%.1 %d+ %d+$", out)
    assert.equal("203.0.113.7, 127.0.0.1", untrusting.calls[1].env.HTTP_X_FORWARDED_FOR)
  end)
end)
