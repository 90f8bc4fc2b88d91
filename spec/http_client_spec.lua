-- green.http.request against servers nobody here wrote: Python's own
-- http.server (`python3 -m http.server` on a temp dir, and the fixture in
-- spec/servers/http_fixture.py, BaseHTTPRequestHandler with routes that
-- misbehave on purpose), plus raw green listeners where the exact bytes on
-- the wire matter. 127.0.0.1 only (localhost, a second origin on the same
-- port, resolves to it; [::1] is used only where IPv6 literals are the
-- point). External processes run in the background (tls_helpers' bg).
local green = require "green"
local http = require "green.http"
local helpers = require "spec.helpers"
local T = require "spec.tls_helpers"

local HH = require "spec.http_helpers"
local start_fixture = HH.start_fixture

-- The fixture's /echo body, parsed: method, target, framing, chunks,
-- headers (name -> value), names (in order), body.
local function parse_echo(text)
  local head, body = text:match("^(.-)\n\n(.*)$")
  assert(head, "not an echo: " .. tostring(text))
  local e = { headers = {}, names = {}, body = body }
  for line in head:gmatch("[^\n]+") do
    local k, v = line:match("^(%u+) (.*)$")
    if k == "BODY" then
      e.length = tonumber(v)
    elseif k == "H" then
      local n, val = v:match("^(.-): (.*)$")
      e.headers[n] = val
      e.names[#e.names + 1] = n
    else
      e[k:lower()] = v
    end
  end
  return e
end

-- An ltn12-style table sink and string source.
local function table_sink(t)
  return function(chunk, err)
    if chunk then t[#t + 1] = chunk else t.ended, t.err = true, err end
    return 1
  end
end

local pieces_source = HH.pieces

-- A raw server: accepts one connection, reads a request head, answers
-- with `reply` (a string), records the head, then waits for the client to
-- close (or closes at once: `hangup`). Returns port, a function
-- giving the head received (waits for it), the listener.
local function raw_server(reply, host, hangup)
  local l = assert(green.listen(host or "127.0.0.1", 0))
  local _, port = l:getsockname()
  local got = {}
  local gt = green.spawn(function()
    local c = l:accept()
    if not c then return end
    c:settimeout(5)
    local lines = {}
    for _ = 1, 200 do
      local line = c:receive("*l")
      if not line or line == "" then break end
      lines[#lines + 1] = line
    end
    got.head = lines
    if reply == "" then c:close() return end  -- silence, then the end
    c:send(reply or "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    if not hangup then c:receive("*a") end
    c:close()
  end)
  T.defer(function() l:close(); if not gt:dead() then gt:kill() end end)
  return port, function()
    helpers.wait_until(function() return got.head ~= nil end, 5)
    return got.head
  end, l
end

describe("green.http.request", function()
  local fixture, port, base, other
  setup(function()
    fixture, port = start_fixture()
    base = "http://127.0.0.1:" .. port
    other = "http://localhost:" .. port  -- another origin, the same server
  end)
  teardown(function() fixture:stop() end)
  after_each(T.run_deferred)

  describe("LuaSocket's simple form", function()
    it("GET returns body, code, lower-case headers and the status line", function()
      local body, code, headers, status = http.request(base .. "/hello")
      assert.equal("hello", body)
      assert.equal(200, code)
      assert.equal("text/plain", headers["content-type"])
      assert.equal("5", headers["content-length"])
      assert.is_nil(headers["Content-Type"])
      assert.equal("HTTP/1.1 200 OK", status)
    end)

    it("with a body POSTs it as application/x-www-form-urlencoded", function()
      local body, code = http.request(base .. "/echo", "a=1&b=2")
      assert.equal(200, code)
      local e = parse_echo(body)
      assert.equal("POST", e.method)
      assert.equal("application/x-www-form-urlencoded", e.headers["content-type"])
      assert.equal("7", e.headers["content-length"])
      assert.equal("length", e.framing)
      assert.equal("a=1&b=2", e.body)
    end)

    it("returns the status of an error response, not nil", function()
      local body, code, _, status = http.request(base .. "/nowhere")
      assert.equal(404, code)
      assert.equal("no such route\n", body)
      assert.equal("HTTP/1.1 404 Not Found", status)
    end)

    it("returns nil, err when nothing listens", function()
      local dead = T.free_port()
      local r, err = http.request("http://127.0.0.1:" .. dead .. "/")
      assert.is_nil(r)
      assert.equal("connection refused", err)
    end)
  end)

  describe("the generic form", function()
    it("returns the body in place of 1 without a sink", function()
      local r, code, headers, status = http.request{ url = base .. "/hello" }
      assert.equal("hello", r)
      assert.equal(200, code)
      assert.equal("5", headers["content-length"])
      assert.equal("HTTP/1.1 200 OK", status)
    end)

    it("gives the body to an ltn12-style sink, then nil, and returns 1", function()
      local t = {}
      local r, code = http.request{ url = base .. "/chunked?parts=ab,cd,ef", sink = table_sink(t) }
      assert.equal(1, r)
      assert.equal(200, code)
      assert.equal("abcdef", table.concat(t))
      assert.is_true(t.ended)
      assert.is_nil(t.err)
    end)

    it("a sink that fails ends the request with its error", function()
      local r, err = http.request{ url = base .. "/hello", sink = function(chunk)
        if chunk then return nil, "disk full" end
        return 1
      end }
      assert.is_nil(r)
      assert.equal("disk full", err)
    end)

    it("sends method, headers and body; user headers replace the defaults", function()
      local r, code = http.request{ url = base .. "/echo?x=1", method = "PUT", body = "payload",
        headers = { ["X-Thing"] = "yes", ["user-agent"] = "mine/1", ["Content-Type"] = "text/plain" } }
      assert.equal(200, code)
      local e = parse_echo(r)
      assert.equal("PUT", e.method)
      assert.equal("/echo?x=1", e.target)
      assert.equal("yes", e.headers["x-thing"])
      assert.equal("mine/1", e.headers["user-agent"])
      assert.equal("text/plain", e.headers["content-type"])
      assert.equal("7", e.headers["content-length"])
      assert.equal("payload", e.body)
    end)

    it("sends Host first, with the port when it is not the default, and User-Agent greenlua/<version>", function()
      local e = parse_echo((http.request(base .. "/echo")))
      assert.equal("host", e.names[1])
      assert.equal("127.0.0.1:" .. port, e.headers.host)
      assert.equal("greenlua/" .. green.VERSION, e.headers["user-agent"])
      assert.equal("GET", e.method)
      assert.equal("none", e.framing)
      assert.is_nil(e.headers["content-length"])
      assert.is_nil(e.headers["transfer-encoding"])
    end)

    it("frames the body itself: the user's framing headers never contradict it", function()
      local e = parse_echo((http.request{ url = base .. "/echo",
        headers = { ["content-length"] = "5", ["transfer-encoding"] = "chunked" } }))
      assert.equal("GET", e.method)
      assert.equal("none", e.framing)
      assert.is_nil(e.headers["content-length"])
      assert.is_nil(e.headers["transfer-encoding"])
      e = parse_echo((http.request{ url = base .. "/echo", body = "abc",
        headers = { ["content-length"] = "99", ["transfer-encoding"] = "chunked" } }))
      assert.equal("3", e.headers["content-length"])
      assert.is_nil(e.headers["transfer-encoding"])
      assert.equal("abc", e.body)
      e = parse_echo((http.request{ url = base .. "/echo", method = "POST" }))
      assert.equal("0", e.headers["content-length"])  -- a POST without a body says so
      assert.equal("POST", e.method)
    end)

    it("with body or source and no method, POSTs", function()
      assert.equal("POST", parse_echo((http.request{ url = base .. "/echo", body = "b" })).method)
      assert.equal("POST", parse_echo((http.request{ url = base .. "/echo",
        source = pieces_source({ "s" }) })).method)
    end)

    it("sends a source chunked, one chunk per piece (empty pieces skipped)", function()
      local r, code = http.request{ url = base .. "/echo", method = "POST",
        source = pieces_source({ "first,", "", "second,", "third" }) }
      assert.equal(200, code)
      local e = parse_echo(r)
      assert.equal("chunked", e.framing)
      assert.equal("chunked", e.headers["transfer-encoding"])
      assert.equal("6,7,5,0", e.chunks)
      assert.equal("first,second,third", e.body)
    end)

    it("sends a source as it is when a content-length is given", function()
      local r = http.request{ url = base .. "/echo", method = "POST",
        headers = { ["content-length"] = 10, ["transfer-encoding"] = "chunked" },
        source = pieces_source({ "01234", "56789" }) }
      local e = parse_echo(r)
      assert.equal("length", e.framing)
      assert.is_nil(e.headers["transfer-encoding"])
      assert.equal("0123456789", e.body)
    end)

    it("a source that fails, or does not match its content-length, is nil, err", function()
      local calls = 0
      local r, err = http.request{ url = base .. "/echo", method = "POST", source = function()
        calls = calls + 1
        if calls == 1 then return "part" end
        return nil, "source broke"
      end }
      assert.is_nil(r)
      assert.equal("source broke", err)
      r, err = http.request{ url = base .. "/echo", method = "POST",
        headers = { ["content-length"] = 3 }, source = pieces_source({ "toolong" }) }
      assert.is_nil(r)
      assert.matches("content%-length", err)
      r, err = http.request{ url = base .. "/echo", method = "POST",
        headers = { ["content-length"] = 30 }, source = pieces_source({ "short" }) }
      assert.is_nil(r)
      assert.matches("content%-length", err)
    end)

    it("decodes a chunked response", function()
      local body, code = http.request(base .. "/chunked?parts=one,two,three")
      assert.equal(200, code)
      assert.equal("onetwothree", body)
    end)

    it("joins repeated response headers with ', '", function()
      local _, _, h = http.request(base .. "/headers_repeat")
      assert.equal("a=1, b=2", h["set-cookie"])
      assert.equal("one, two", h["x-dup"])
    end)

    it("skips a 100 Continue before the response", function()
      local body, code = http.request(base .. "/interim")
      assert.equal(200, code)
      assert.equal("after interim", body)
    end)

    it("HEAD, 204, 304 and Content-Length: 0 have no body, at once", function()
      local r, code, h = http.request{ url = base .. "/hello", method = "HEAD", timeout = 5 }
      assert.equal("", r)
      assert.equal(200, code)
      assert.equal("5", h["content-length"])
      for _, status in ipairs({ 204, 304, 200 }) do
        local t0 = green.now()
        local b, c = http.request{ url = base .. "/status?code=" .. status, timeout = 5 }
        assert.equal("", b)
        assert.equal(status, c)
        assert.is_true(green.now() - t0 < 4)
      end
      local t = {}
      assert.equal(1, (http.request{ url = base .. "/status?code=204", sink = table_sink(t), timeout = 5 }))
      assert.is_true(t.ended)
    end)

    it("keeps the connection after HEAD, 204, 304 and Content-Length: 0", function()
      local _, _, h = http.request{ url = base .. "/hello", method = "HEAD" }
      local conn = h["x-conn"]
      for _, status in ipairs({ 204, 304, 200 }) do
        local _, _, h2 = http.request{ url = base .. "/status?code=" .. status, timeout = 5 }
        assert.equal(conn, h2["x-conn"], status)
      end
      local _, _, after = http.request(base .. "/hello")
      assert.equal(conn, after["x-conn"])  -- the last of them kept it too
    end)

    it("reads a close-delimited HTTP/1.0 response to its end, and keeps its version", function()
      local body, code, _, status = http.request(base .. "/http10")
      assert.equal(200, code)
      assert.equal("until the end", body)
      assert.equal("HTTP/1.0 200 OK", status)
    end)
  end)

  describe("the request on the wire", function()
    it("is a request line, Host, then the rest; the fragment is not sent, non-ASCII is escaped", function()
      local p, head = raw_server()
      local body, code = http.request("http://127.0.0.1:" .. p .. "/a/b%20c?q=1&r=\xc3\xa9#frag")
      assert.equal("ok", body)
      assert.equal(200, code)
      local h = head()
      assert.equal("GET /a/b%20c?q=1&r=%C3%A9 HTTP/1.1", h[1])
      assert.equal("Host: 127.0.0.1:" .. p, h[2])
    end)

    it("puts an empty path as /", function()
      local p, head = raw_server()
      http.request("http://127.0.0.1:" .. p .. "?x")
      assert.equal("GET /?x HTTP/1.1", head()[1])
    end)

    it("turns userinfo into Basic Authorization, as LuaSocket does", function()
      local e = parse_echo((http.request("http://user:pa%3Ass@127.0.0.1:" .. port .. "/echo")))
      -- base64("user:pa:ss")
      assert.equal("Basic dXNlcjpwYTpzcw==", e.headers.authorization)
      assert.equal("127.0.0.1:" .. port, e.headers.host)
    end)

    it("sends an IPv6 literal's Host in brackets", function()
      local ok, l = pcall(green.listen, "::1", 0)
      if not ok or not l then
        pending("no IPv6 loopback here")
        return
      end
      l:close()
      local p, head = raw_server(nil, "::1")
      local body = http.request("http://[::1]:" .. p .. "/v6")
      assert.equal("ok", body)
      assert.equal("Host: [::1]:" .. p, head()[2])
    end)
  end)

  describe("keep-alive", function()
    it("reuses the connection for the next request to the same origin", function()
      local _, _, h1 = http.request(base .. "/hello")
      local _, _, h2 = http.request(base .. "/hello")
      assert.equal(h1["x-conn"], h2["x-conn"])
      assert.equal(tonumber(h1["x-req"]) + 1, tonumber(h2["x-req"]))
    end)

    it("keeps a connection per origin: localhost is not 127.0.0.1", function()
      local _, _, a = http.request(base .. "/hello")
      local _, _, b = http.request(other .. "/hello")
      local _, _, c = http.request(base .. "/hello")
      assert.are_not.equal(a["x-conn"], b["x-conn"])
      assert.equal(a["x-conn"], c["x-conn"])
    end)

    it("does not reuse a connection the server said it closes", function()
      local _, _, h1 = http.request(base .. "/close")
      assert.equal("close", h1.connection)
      local _, _, h2 = http.request(base .. "/hello")
      assert.are_not.equal(h1["x-conn"], h2["x-conn"])
    end)

    it("a pooled connection the server ended meanwhile does not fail even a POST", function()
      local fx, p = start_fixture()
      T.defer(function() fx:stop() end)
      local base, other = "http://127.0.0.1:" .. p, "http://localhost:" .. p
      local _, _, h1 = http.request(base .. "/then_close")
      -- wait until the server has shut it (its count of open connections,
      -- asked on another origin so as not to touch this one's pool)
      assert.is_true(helpers.wait_until(function()
        local n = http.request(other .. "/open")
        return n == "1"
      end, 10))
      local body, code, h2 = http.request(base .. "/echo", "x=1")
      assert.equal(200, code)
      assert.equal("x=1", parse_echo(body).body)
      assert.are_not.equal(h1["x-conn"], h2["x-conn"])
    end)

    it("a reused connection that fails before the response is retried once for GET", function()
      local _, _, h1 = http.request(base .. "/drop_next")
      local body, code, h2 = http.request(base .. "/hello")
      assert.equal(200, code)
      assert.equal("hello", body)
      assert.are_not.equal(h1["x-conn"], h2["x-conn"])
    end)

    it("but not for POST, which may have been acted on", function()
      http.request(base .. "/drop_next")
      local r, err = http.request(base .. "/echo", "once=1")
      assert.is_nil(r)
      assert.equal("closed", err)
    end)

    it("50 green threads at once, 5 requests each, share the connections", function()
      local old = http.pool_size
      T.defer(function() http.pool_size = old end)
      http.pool_size = 50
      local threads, seen = {}, {}
      for i = 1, 50 do
        threads[i] = green.spawn(function()
          local conns = {}
          for j = 1, 5 do
            local body, code, h = http.request(base .. "/echo?t=" .. i .. "&j=" .. j)
            assert.equal(200, code)
            assert.equal("/echo?t=" .. i .. "&j=" .. j, parse_echo(body).target)
            conns[#conns + 1] = h["x-conn"]
          end
          return conns
        end)
      end
      local n = 0
      for i = 1, 50 do
        for _, c in ipairs(threads[i]:wait()) do
          if not seen[c] then seen[c] = true; n = n + 1 end
        end
      end
      -- at most 50 in use at once, and all of them kept: never one per request
      assert.is_true(n <= 50, n)
    end)

    it("keeps at most pool_size idle connections per origin", function()
      local fx, p = start_fixture()
      T.defer(function() fx:stop() end)
      local old = http.pool_size
      T.defer(function() http.pool_size = old end)
      http.pool_size = 2
      local url = "http://127.0.0.1:" .. p .. "/sleep?delay=0.3"
      local function batch(n)
        local threads, conns = {}, {}
        for i = 1, n do
          threads[i] = green.spawn(function()
            local body, code, h = http.request(url)
            assert.equal(200, code, body)
            return tonumber(h["x-conn"])
          end)
        end
        for i = 1, n do conns[i] = threads[i]:wait() end
        table.sort(conns)
        return conns
      end
      assert.same({ 1, 2, 3, 4 }, batch(4))   -- four at once: four connections
      local second = batch(4)                  -- two were kept: two reused, two new
      assert.same({ 5, 6 }, { second[3], second[4] })
      assert.is_true(second[1] <= 4 and second[2] <= 4 and second[1] ~= second[2])
      -- and the server sees only the two kept (plus the one asking)
      http.pool_size = 0
      assert.is_true(helpers.wait_until(function()
        return http.request("http://localhost:" .. p .. "/open") == "3"
      end, 10))
    end)

    it("pool_size 0 keeps nothing and says Connection: close", function()
      local old = http.pool_size
      T.defer(function() http.pool_size = old end)
      http.pool_size = 0
      local b1, _, h1 = http.request(base .. "/echo")
      local _, _, h2 = http.request(base .. "/echo")
      assert.equal("close", parse_echo(b1).headers.connection)
      assert.are_not.equal(h1["x-conn"], h2["x-conn"])
    end)

    it("closes idle connections after idle_timeout, and its sweeper then ends", function()
      local fx, p = start_fixture()
      T.defer(function() fx:stop() end)
      local old = http.idle_timeout
      T.defer(function() http.idle_timeout = old end)
      local n0 = #green.threads()
      http.idle_timeout = 0.3
      -- every idle connection (the other tests') goes, and the sweeper with them
      assert.is_true(helpers.wait_until(function() return #green.threads() < n0 end, 5))
      local threads0 = #green.threads()
      local url = "http://127.0.0.1:" .. p
      local _, _, h1 = http.request(url .. "/hello")
      assert.equal("1", h1["x-conn"])
      assert.equal(threads0 + 1, #green.threads())   -- the sweeper
      -- the server sees it closed without another request on this origin
      local old_size = http.pool_size
      T.defer(function() http.pool_size = old_size end)
      http.pool_size = 0  -- the polls keep nothing
      assert.is_true(helpers.wait_until(function()
        return http.request("http://localhost:" .. p .. "/open") == "1"
      end, 10))
      assert.is_true(helpers.wait_until(function() return #green.threads() == threads0 end, 5))
      http.pool_size = old_size
      local _, _, h2 = http.request(url .. "/hello")
      assert.are_not.equal("1", h2["x-conn"])
    end)

    it("an idle pool never keeps a script from ending", function()
      local code = ([[
        local http = require "green.http"
        local body = assert(http.request("http://127.0.0.1:%d/hello"))
        io.write(body, "\n")
      ]]):format(port)
      local h = T.bg(("exec timeout 20 %s -e %s"):format(T.q(helpers.greenlua()), T.q(code)))
      T.defer(function() h:stop() end)
      local t0 = green.now()
      assert.equal(0, h:wait(15), h:describe())
      assert.equal("hello\n", h:out())
      assert.is_true(green.now() - t0 < 10)  -- far below the 30 s idle time
    end)

    it("lets deadlock detection work once the idle connections are closed", function()
      local code = ([[
        local green = require "green"
        local http = require "green.http"
        http.idle_timeout = 0.2
        assert(http.request("http://127.0.0.1:%d/hello"))
        green.Event():wait()
      ]]):format(port)
      local h = T.bg(("exec timeout 20 %s -e %s"):format(T.q(helpers.greenlua()), T.q(code)))
      T.defer(function() h:stop() end)
      assert.equal(1, h:wait(15), h:describe())
      assert.matches("deadlock", h:err())
    end)
  end)

  describe("bad responses", function()
    it("a body shorter than its Content-Length is nil, err", function()
      local r, err = http.request(base .. "/truncated")
      assert.is_nil(r)
      assert.equal("closed", err)
    end)

    it("a chunked body cut short is nil, err", function()
      local r, err = http.request(base .. "/truncated_chunked")
      assert.is_nil(r)
      assert.is_string(err)
      local t = {}
      r, err = http.request{ url = base .. "/truncated_chunked", sink = table_sink(t) }
      assert.is_nil(r)
      assert.is_string(err)
      assert.equal(err, t.err)  -- the sink hears of it, as ltn12 pumps tell it
    end)

    it("a status line that is not HTTP is nil, err", function()
      local r, err = http.request(base .. "/malformed")
      assert.is_nil(r)
      assert.matches("malformed", err)
    end)

    it("conflicting Content-Length headers are nil, err", function()
      local r, err = http.request(base .. "/bad_length")
      assert.is_nil(r)
      assert.is_string(err)
    end)

    it("a head over the limits is nil, err, and its connection is not reused", function()
      local _, _, h1 = http.request(base .. "/hello")
      local r, err = http.request(base .. "/big_head?n=100000")
      assert.is_nil(r)
      assert.is_string(err)
      local _, _, h2 = http.request(base .. "/hello")
      -- the one that carried the big head was dropped, though the server kept it
      assert.is_true(tonumber(h2["x-conn"]) > tonumber(h1["x-conn"]))
    end)

    it("a head cut short is a malformed response, not 'closed'", function()
      local p = raw_server("HTTP/1.1 200 OK\r\nContent-", nil, true)
      local r, err = http.request("http://127.0.0.1:" .. p .. "/")
      assert.is_nil(r)
      assert.equal("malformed response: truncated head", err)
    end)

    it("a raw server's garbage, or its silence then close, is nil, err", function()
      local p = raw_server("\0\1\2garbage\r\n\r\n")
      local r, err = http.request("http://127.0.0.1:" .. p .. "/")
      assert.is_nil(r)
      assert.is_string(err)
      p = raw_server("")
      r, err = http.request("http://127.0.0.1:" .. p .. "/")
      assert.is_nil(r)
      assert.equal("closed", err)
    end)
  end)

  describe("timeout", function()
    it("bounds waiting for the head", function()
      local t0 = green.now()
      local r, err = http.request{ url = base .. "/slow_head?delay=3", timeout = 0.5 }
      local took = green.now() - t0
      assert.is_nil(r)
      assert.equal("timeout", err)
      assert.is_true(took >= 0.4 and took < 2.5, took)
    end)

    it("bounds the whole request, not each read: a trickling body times out", function()
      local t0 = green.now()
      -- 20 bytes, one every 0.2 s: 4 s in all, each wait far below the timeout
      local r, err = http.request{ url = base .. "/trickle?n=20&every=0.2", timeout = 1 }
      local took = green.now() - t0
      assert.is_nil(r)
      assert.equal("timeout", err)
      assert.is_true(took >= 0.9 and took < 3, took)
    end)

    it("bounds a connection that never answers (accepted, silent)", function()
      local l = assert(green.listen("127.0.0.1", 0))
      local _, p = l:getsockname()
      T.defer(function() l:close() end)
      local r, err = http.request{ url = "http://127.0.0.1:" .. p .. "/", timeout = 0.3 }
      assert.is_nil(r)
      assert.equal("timeout", err)
    end)

    it("an outer Timeout is raised through, itself, and the request leaves nothing behind", function()
      local t = green.Timeout(0.3)
      local ok, err = pcall(http.request, base .. "/slow_head?delay=2")
      t:cancel()
      assert.is_false(ok)
      assert.is_true(green.is_timeout(err, t))
      local body = http.request(base .. "/hello")
      assert.equal("hello", body)
    end)

    it("a request killed while it waits closes its connection", function()
      local l = assert(green.listen("127.0.0.1", 0))
      local _, p = l:getsockname()
      T.defer(function() l:close() end)
      local seen = {}
      local srv = green.spawn(function()
        local c = l:accept()
        c:settimeout(10)
        for _ = 1, 100 do
          local line = c:receive("*l")
          if not line or line == "" then break end
        end
        seen.head = true
        seen.rest, seen.err = c:receive("*a")  -- returns when the client closes
        c:close()
      end)
      T.defer(function() if not srv:dead() then srv:kill() end end)
      local gt = green.spawn(http.request, "http://127.0.0.1:" .. p .. "/")
      assert.is_true(helpers.wait_until(function() return seen.head end, 5))
      gt:kill()
      assert.is_true(helpers.wait_until(function() return seen.rest ~= nil or seen.err ~= nil end, 5))
      assert.equal("", seen.rest)
    end)

    it("a timeout of its own does not fire later", function()
      local r = http.request{ url = base .. "/hello", timeout = 0.2 }
      assert.equal("hello", r)
      green.sleep(0.4)  -- a Timeout left armed would raise here
      assert.equal("hello", (http.request(base .. "/hello")))
    end)
  end)

  describe("redirects", function()
    it("follows a relative Location, and says where it went", function()
      local body, code, h = http.request(base .. "/redirect?to=/hello")
      assert.equal("hello", body)
      assert.equal(200, code)
      assert.equal("/hello", h.location)  -- LuaSocket's hint that it redirected
    end)

    it("follows 301, 302, 303, 307 and 308 for GET", function()
      for _, c in ipairs({ 301, 302, 303, 307, 308 }) do
        local body, code = http.request(base .. "/redirect?code=" .. c .. "&to=hello")
        assert.equal(200, code, c)
        assert.equal("hello", body)
      end
    end)

    it("follows at most 5; the 6th redirect is returned as it is", function()
      local body, code = http.request(base .. "/hops?n=5")
      assert.equal(200, code)
      assert.equal("arrived", body)
      local b6, c6, h6 = http.request(base .. "/hops?n=6")
      assert.equal(302, c6)
      assert.equal("hop\n", b6)
      assert.equal("/hops?n=0", h6.location)
    end)

    it("redirect = false returns the redirect", function()
      local body, code, h = http.request{ url = base .. "/redirect?to=/hello", redirect = false }
      assert.equal(302, code)
      assert.equal("moved\n", body)
      assert.equal("/hello", h.location)
    end)

    it("303, and 301/302 after a POST, turn into a GET without the body", function()
      for _, c in ipairs({ 301, 302, 303 }) do
        local body = http.request{ url = base .. "/redirect?code=" .. c .. "&to=/echo",
          method = "POST", body = "secret=1", headers = { ["content-type"] = "text/plain" } }
        local e = parse_echo(body)
        assert.equal("GET", e.method, c)
        assert.equal("", e.body)
        assert.is_nil(e.headers["content-length"])
        assert.is_nil(e.headers["content-type"])
      end
    end)

    it("307 and 308 keep the method and the body", function()
      for _, c in ipairs({ 307, 308 }) do
        local e = parse_echo((http.request{ url = base .. "/redirect?code=" .. c .. "&to=/echo",
          method = "POST", body = "keep=1" }))
        assert.equal("POST", e.method)
        assert.equal("keep=1", e.body)
      end
    end)

    it("a 307 after a body from a source is returned, not followed (the source is spent)", function()
      local body, code = http.request{ url = base .. "/redirect?code=307&to=/echo",
        method = "POST", source = pieces_source({ "once" }) }
      assert.equal(307, code)
      assert.equal("moved\n", body)
    end)

    it("keeps Authorization and Cookie on the same origin", function()
      local e = parse_echo((http.request{ url = base .. "/redirect?to=" .. base .. "/echo",
        headers = { authorization = "Bearer t", cookie = "s=1", ["x-other"] = "kept" } }))
      assert.equal("Bearer t", e.headers.authorization)
      assert.equal("s=1", e.headers.cookie)
      assert.equal("kept", e.headers["x-other"])
    end)

    it("drops Authorization and Cookie when the origin changes", function()
      local e = parse_echo((http.request{ url = base .. "/redirect?to=" .. other .. "/echo",
        headers = { Authorization = "Bearer t", Cookie = "s=1", ["x-other"] = "kept" } }))
      assert.equal("localhost:" .. port, e.headers.host)
      assert.is_nil(e.headers.authorization)
      assert.is_nil(e.headers.cookie)
      assert.equal("kept", e.headers["x-other"])
    end)

    it("drops the URL's credentials when the origin changes, keeps them when not", function()
      local same = parse_echo((http.request("http://u:p@127.0.0.1:" .. port .. "/redirect?to=/echo")))
      assert.equal("Basic dTpw", same.headers.authorization)
      local cross = parse_echo((http.request("http://u:p@127.0.0.1:" .. port
        .. "/redirect?to=" .. other .. "/echo")))
      assert.is_nil(cross.headers.authorization)
    end)

    it("does not follow a Location it cannot fetch", function()
      local body, code = http.request(base .. "/redirect?to=ftp://127.0.0.1/x")
      assert.equal(302, code)
      assert.equal("moved\n", body)
    end)

    it("counts the redirects in the timeout", function()
      local r, err = http.request{ url = base .. "/redirect?to=/slow_head%3Fdelay%3D3", timeout = 0.5 }
      assert.is_nil(r)
      assert.equal("timeout", err)
    end)
  end)

  describe("python3 -m http.server", function()
    local srv, sport, dir
    setup(function()
      local cleanup
      dir, cleanup = helpers.tmpdir()
      helpers.write(dir .. "/index.txt", "served by python\n")
      helpers.write(dir .. "/big.bin", T.payload(1024 * 1024, 7))
      sport = T.free_port()
      srv = T.bg(("exec timeout -k 2 170 python3 -u -m http.server --bind 127.0.0.1 --directory %s %d")
        :format(T.q(dir), sport))
      srv.cleanup_dir = cleanup
      assert(srv:wait_output("Serving HTTP", 15), srv:describe())
    end)
    teardown(function()
      srv:stop()
      srv.cleanup_dir()
    end)

    it("serves a file", function()
      local body, code, h, status = http.request("http://127.0.0.1:" .. sport .. "/index.txt")
      assert.equal(200, code)
      assert.equal("served by python\n", body)
      assert.equal("17", h["content-length"])
      assert.equal("HTTP/1.0 200 OK", status)
    end)

    it("a megabyte arrives whole, through a sink too", function()
      local want = T.payload(1024 * 1024, 7)
      local body = http.request("http://127.0.0.1:" .. sport .. "/big.bin")
      assert.equal(#want, #body)
      assert.is_nil(T.first_diff(want, body))
      local t = {}
      local r = http.request{ url = "http://127.0.0.1:" .. sport .. "/big.bin", sink = table_sink(t) }
      assert.equal(1, r)
      assert.is_nil(T.first_diff(want, table.concat(t)))
      assert.is_true(#t > 1)  -- it came in pieces
    end)

    it("404 and HEAD", function()
      local _, code = http.request("http://127.0.0.1:" .. sport .. "/missing")
      assert.equal(404, code)
      local r, c, h = http.request{ url = "http://127.0.0.1:" .. sport .. "/index.txt", method = "HEAD" }
      assert.equal(200, c)
      assert.equal("", r)
      assert.equal("17", h["content-length"])
    end)

    it("its directory redirect is followed", function()
      assert(os.execute("mkdir -p " .. T.q(dir .. "/sub")))
      helpers.write(dir .. "/sub/index.html", "<p>sub</p>")
      local body, code = http.request("http://127.0.0.1:" .. sport .. "/sub")
      assert.equal(200, code)
      assert.equal("<p>sub</p>", body)
    end)

    it("many green threads at once each get their answer", function()
      local threads = {}
      for i = 1, 20 do
        threads[i] = green.spawn(function()
          return http.request("http://127.0.0.1:" .. sport .. "/index.txt")
        end)
      end
      for i = 1, 20 do assert.equal("served by python\n", threads[i]:wait()) end
    end)
  end)

  describe("bad arguments raise naming 'request'", function()
    local function raises(pattern, ...)
      local err = helpers.error_of(http.request, ...)
      assert.is_string(err)
      assert.matches("bad argument #%d to 'request'", err)
      assert.matches(pattern, err, 1, true)
    end

    it("for the URL", function()
      raises("string or table expected", nil)
      raises("string or table expected", 42)
      raises("url: string expected", { url = 1 })
      raises("unsupported scheme 'ftp'", "ftp://127.0.0.1/")
      raises("no host", "http:/x")
      raises("bad host", "http:///x")
      raises("bad port", "http://127.0.0.1:99999/")
      raises("bad port", "http://127.0.0.1:x/")
      raises("control character", "http://127.0.0.1/a b")
      raises("control character", "http://127.0.0.1/a\r\nX: y")
      raises("no scheme", "127.0.0.1/")
    end)

    it("for the other fields", function()
      local u = base .. "/hello"
      raises("#2", u, 42)
      raises("headers: table expected", { url = u, headers = "x" })
      raises("has CR, LF or NUL", { url = u, headers = { x = "a\r\nb: c" } })
      raises("invalid header name", { url = u, headers = { ["a b"] = "c" } })
      raises("invalid header name", { url = u, headers = { [1] = "c" } })
      raises("string expected, got table", { url = u, headers = { x = {} } })
      raises("method", { url = u, method = "GET /x" })
      raises("body: string expected", { url = u, body = 1 })
      raises("exclusive", { url = u, body = "", source = function() end })
      raises("source: function expected", { url = u, source = "x" })
      raises("content-length must be a byte count", { url = u, source = function() end,
        headers = { ["Content-Length"] = "-1" } })
      raises("sink: function expected", { url = u, sink = {} })
      raises("redirect: boolean expected", { url = u, redirect = "no" })
      raises("timeout: number expected", { url = u, timeout = "1" })
      raises('verify: "none" or "peer" expected', { url = u, verify = "maybe" })
      raises("cafile: string expected", { url = u, cafile = 1 })
      raises("server_hostname: string expected", { url = u, server_hostname = true })
      raises("proxy: not supported", { url = u, proxy = "http://127.0.0.1:3128" })
    end)

    it("at the caller's line", function()
      local err = helpers.error_of(function()
        local r = http.request(nil)  -- not a tail call: the line is this one
        return r
      end)
      assert.matches("http_client_spec.lua:%d+: bad argument #1 to 'request'", err)
    end)

    it("a bad pool_size raises too", function()
      local old = http.pool_size
      T.defer(function() http.pool_size = old end)
      http.pool_size = "many"
      local err = helpers.error_of(http.request, base .. "/hello")
      assert.matches("pool_size", err)
    end)
  end)
end)
