-- core.http_parser, directly (HTTP_DESIGN.md, "green.core additions"): the
-- server side's read_request (how it fills env, keep-alive, Expect, errors,
-- timeouts, pipelined messages), read_body in all its forms (n, lines, the
-- rest; Content-Length and chunked; cut short, timeouts, bad chunking, the
-- size limit), discard and body_done, and the client side's read_response.
-- Each case is a loopback pair: the test writes raw bytes on one end and
-- parses on the other.
local green = require "green"
local core = require "green.core"
local helpers = require "spec.helpers"
local N = require "spec.net_helpers"

-- A connected pair: the peer we write raw bytes to, and the socket the
-- parser reads. Both closed after the test.
local function pair()
  local c, s = N.pair()
  helpers.defer(function() c:close() s:close() end)
  c:settimeout(5)
  s:settimeout(5)
  return c, s
end

-- A request parser reading `bytes` (sent all at once), and its socket.
local function request(bytes, limits)
  local c, s = pair()
  if bytes then assert(c:send(bytes)) end
  return core.http_parser("request", limits), s, c
end

local function response(bytes, limits)
  local c, s = pair()
  if bytes then assert(c:send(bytes)) end
  return core.http_parser("response", limits), s, c
end

-- Reads one request head into a fresh env; returns env and the results
-- (read_request returns the env it filled, or nil and why).
local function read_head(p, s, idle, head_timeout)
  local env = {}
  local r = table.pack(p:read_request(s, env, idle or 5, head_timeout or 5))
  return env, r
end

-- read_head, asserting that a head was read.
local function head_ok(p, s)
  local env, r = read_head(p, s)
  assert(rawequal(r[1], env), "no head read: " .. tostring(r[1]) .. " " .. tostring(r[2]) .. " " .. tostring(r[3]))
  return env, r
end

describe("core.http_parser", function()
  after_each(helpers.run_deferred)

  describe("construction", function()
    it("makes request and response parsers", function()
      assert.is_userdata(core.http_parser("request"))
      assert.is_userdata(core.http_parser("response"))
      assert.is_userdata(core.http_parser("request", { url_length_limit = 10, max_header_line = 10,
        max_headers_size = 100, max_headers = 2, max_body_size = 5 }))
    end)

    it("raises on a bad kind or bad limits", function()
      assert.is_truthy(helpers.error_of(core.http_parser, "both"))
      assert.is_truthy(helpers.error_of(core.http_parser, nil))
      assert.is_truthy(helpers.error_of(core.http_parser, "request", 5))
      assert.is_truthy(helpers.error_of(core.http_parser, "request", { max_headers = "many" }))
      assert.is_truthy(helpers.error_of(core.http_parser, "request", { max_body_size = -1 }))
    end)

    it("methods raise on a bad socket or bad arguments", function()
      local p, s = request()
      assert.is_truthy(helpers.error_of(p.read_request, p, "sock", {}))
      assert.is_truthy(helpers.error_of(p.read_request, p, s, "env"))
      assert.is_truthy(helpers.error_of(p.read_body, p, s, "*x"))
      assert.is_truthy(helpers.error_of(p.read_body, p, s, {}))
      assert.is_truthy(helpers.error_of(p.read_request, "p", s, {}))
      assert.is_truthy(helpers.error_of(p.discard, p, 42))
    end)
  end)

  describe("read_request", function()
    it("fills env with the request line, the headers and env.headers", function()
      local p, s = request("POST /a%20b/c%2Fd?x=1&y=%20 HTTP/1.1\r\nHost: example:80\r\n"
        .. "Content-Type: text/plain\r\nContent-Length: 5\r\nX-Multi: a\r\nX-Multi: b\r\n"
        .. "X_Under: no\r\nuser-agent: t/1\r\n\r\nhello")
      local env, r = read_head(p, s)
      assert.is_true(rawequal(env, r[1]))
      assert.same({ true, false, n = 3 }, { r[2], r[3], n = r.n })
      assert.equal("POST", env.REQUEST_METHOD)
      assert.equal("/a b/c/d", env.PATH_INFO)
      assert.equal("x=1&y=%20", env.QUERY_STRING)
      assert.equal("HTTP/1.1", env.SERVER_PROTOCOL)
      assert.equal("text/plain", env.CONTENT_TYPE)
      assert.equal("5", env.CONTENT_LENGTH)
      assert.equal("example:80", env.HTTP_HOST)
      assert.equal("a, b", env.HTTP_X_MULTI)
      assert.equal("t/1", env.HTTP_USER_AGENT)
      assert.is_nil(env.HTTP_X_UNDER)
      assert.is_nil(env.HTTP_X_Under)
      local names = {}
      for i, h in ipairs(env.headers) do
        assert.equal("string", type(h[1]))
        assert.equal("string", type(h[2]))
        names[i] = h[1] .. "=" .. h[2]
      end
      -- arrival order, names as sent, every header (the dropped X_Under too)
      assert.same({ "Host=example:80", "Content-Type=text/plain", "Content-Length=5", "X-Multi=a",
        "X-Multi=b", "X_Under=no", "user-agent=t/1" }, names)
      assert.equal("hello", p:read_body(s, "a"))
    end)

    it("QUERY_STRING is empty and CONTENT_* are nil when absent", function()
      local p, s = request("GET / HTTP/1.0\r\n\r\n")
      local env, r = read_head(p, s)
      assert.is_true(rawequal(env, r[1]))
      assert.equal("", env.QUERY_STRING)
      assert.equal("/", env.PATH_INFO)
      assert.equal("HTTP/1.0", env.SERVER_PROTOCOL)
      assert.is_nil(env.CONTENT_TYPE)
      assert.is_nil(env.CONTENT_LENGTH)
      assert.same({}, env.headers)
    end)

    it("keep_alive follows the version and Connection as a token list", function()
      local cases = {
        { "HTTP/1.1", nil, true },
        { "HTTP/1.1", "close", false },
        { "HTTP/1.1", "Close", false },
        { "HTTP/1.1", "keep-alive, close", false },
        { "HTTP/1.1", "upgrade, CLOSE", false },
        { "HTTP/1.1", "keep-alive", true },
        { "HTTP/1.1", "closed", true },
        { "HTTP/1.0", nil, false },
        { "HTTP/1.0", "keep-alive", true },
        { "HTTP/1.0", "Keep-Alive", true },
        { "HTTP/1.0", "te, keep-alive", true },
        { "HTTP/1.0", "keep-alive, close", false },
      }
      for _, case in ipairs(cases) do
        local conn = case[2] and ("Connection: " .. case[2] .. "\r\n") or ""
        local p, s = request("GET / " .. case[1] .. "\r\nHost: x\r\n" .. conn .. "\r\n")
        local env, r = read_head(p, s)
        assert(rawequal(r[1], env), "not read")
        assert(r[2] == case[3], ("%s with Connection %s: keep_alive %s"):format(case[1], tostring(case[2]), tostring(r[2])))
      end
    end)

    it("expect_continue only with Expect: 100-continue and a body", function()
      local cases = {
        { "Expect: 100-continue\r\nContent-Length: 5\r\n", true },
        { "Expect: 100-Continue\r\nContent-Length: 5\r\n", true },
        { "Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n", true },
        { "Content-Length: 5\r\n", false },
        { "Expect: 100-continue\r\nContent-Length: 0\r\n", false },
        { "Expect: 100-continue\r\n", false },
      }
      for _, case in ipairs(cases) do
        local p, s = request("PUT /u HTTP/1.1\r\nHost: x\r\n" .. case[1] .. "\r\n")
        local env, r = read_head(p, s)
        assert(rawequal(r[1], env), "not read")
        assert(r[3] == case[2], ("%q: expect_continue %s"):format(case[1], tostring(r[3])))
      end
    end)

    it("reads pipelined requests one after the other, bodies in between", function()
      local p, s = request("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
        .. "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        .. "POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n"
        .. "GET /4?q HTTP/1.1\r\nHost: y\r\nConnection: close\r\n\r\n")
      local env1 = read_head(p, s)
      assert.equal("/1", env1.PATH_INFO)
      assert.is_true(p:body_done())
      local env2 = read_head(p, s)
      assert.equal("/2", env2.PATH_INFO)
      assert.equal("abc", p:read_body(s, "a"))
      local env3 = read_head(p, s)
      assert.equal("/3", env3.PATH_INFO)
      assert.is_nil(env3.CONTENT_LENGTH)
      assert.equal("de", p:read_body(s, "*a"))
      local env4, r4 = read_head(p, s)
      assert.equal("/4", env4.PATH_INFO)
      assert.equal("q", env4.QUERY_STRING)
      assert.equal("y", env4.HTTP_HOST)
      assert.is_false(r4[2])
      -- each env has only its own request's headers
      assert.is_nil(env1.HTTP_TRANSFER_ENCODING)
      assert.is_nil(env4.HTTP_TRANSFER_ENCODING)
    end)

    it("reads a request whose head arrives a byte at a time", function()
      local p, s, c = request()
      local bytes = "GET /slow?a=b HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n"
      green.spawn(function()
        for i = 1, #bytes do
          c:send(bytes:sub(i, i))
          green.sleep(0)
        end
      end)
      local env, r = read_head(p, s)
      assert.is_true(rawequal(env, r[1]))
      assert.equal("/slow", env.PATH_INFO)
      assert.equal("a=b", env.QUERY_STRING)
      assert.equal("1", env.HTTP_X_A)
    end)

    it("a bad request returns nil, status, message", function()
      local cases = {
        { "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501 },
        { "GET / HTTP/2.0\r\n\r\n", 505 },
        { "GET /" .. ("a"):rep(9000) .. " HTTP/1.1\r\n\r\n", 414 },
        { "GET / HTTP/1.1\r\nX-A: " .. ("a"):rep(9000) .. "\r\n\r\n", 431 },
      }
      for _, case in ipairs(cases) do
        local p, s = request(case[1])
        local _, r = read_head(p, s)
        assert(r[1] == nil and r[2] == case[2] and type(r[3]) == "string",
          ("%q: %s %s %s"):format(case[1]:sub(1, 60), tostring(r[1]), tostring(r[2]), tostring(r[3])))
      end
    end)

    it("limits are the parser's own: max_headers", function()
      local p, s = request("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", { max_headers = 2 })
      local _, r = read_head(p, s)
      assert.same({ nil, 431 }, { r[1], r[2] })
      local p2, s2 = request("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n", { max_headers = 2 })
      head_ok(p2, s2)
    end)

    it("Content-Length over max_body_size is a 413 at the head", function()
      local p, s = request("POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\n", { max_body_size = 5 })
      local _, r = read_head(p, s)
      assert.same({ nil, 413 }, { r[1], r[2] })
    end)

    it("returns nil, 'closed' when the peer closes before a request", function()
      local p, s, c = request("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
      head_ok(p, s)
      c:close()
      local _, r = read_head(p, s)
      assert.same({ nil, "closed" }, { r[1], r[2] })
    end)

    it("a partial head then a close is dropped: nil and an error", function()
      local p, s, c = request("GET / HTTP/1.1\r\nHost: x\r\n")
      c:shutdown("send")
      local _, r = read_head(p, s)
      assert.is_nil(r[1])
      assert.is_truthy(r[2])
    end)

    it("returns nil, 'timeout' when no byte comes within idle", function()
      local p, s = request()
      local dt, r = helpers.timed(p.read_request, p, s, {}, 0.2, 5)
      assert.same({ nil, "timeout" }, { r[1], r[2] })
      assert.is_true(dt >= 0.15)
    end)

    it("head_timeout counts from the first byte and bounds the whole head", function()
      local p, s, c = request()
      local stop = false
      helpers.defer(function() stop = true end)
      -- a slow client: a byte every 50 ms, never ending the head
      green.spawn(function()
        local bytes = "GET / HTTP/1.1\r\nX-Slow: " .. ("a"):rep(200)
        for i = 1, #bytes do
          if stop or not c:send(bytes:sub(i, i)) then return end
          green.sleep(0.05)
        end
      end)
      local dt, r = helpers.timed(p.read_request, p, s, {}, 5, 0.5)
      assert.same({ nil, "timeout" }, { r[1], r[2] })
      assert.is_true(dt >= 0.4 and dt < 4.5, "took " .. dt)
    end)

    it("idle nil waits for the first byte however long it takes", function()
      local p, s, c = request()
      green.spawn_after(0.3, function() c:send("GET /late HTTP/1.1\r\n\r\n") end)
      local env = {}
      assert.is_true(rawequal(env, (p:read_request(s, env, nil, nil))))
      assert.equal("/late", env.PATH_INFO)
    end)

    it("with env nil, returns a new env filled the same way", function()
      local p, s = request("GET /n?q=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n")
      local env, keep, expect = p:read_request(s, nil, 5, 5)
      assert.equal("table", type(env))
      assert.equal("/n", env.PATH_INFO)
      assert.equal("q=1", env.QUERY_STRING)
      assert.equal("1", env.HTTP_X_A)
      assert.same({ { "Host", "x" }, { "X-A", "1" } }, env.headers)
      assert.is_true(keep)
      assert.is_false(expect)
    end)

    it("idle: true between messages, false while one is under way or buffered", function()
      local p, s, c = request()
      assert.is_true(p:idle(s))
      assert(c:send("POST /1 HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcdGET /2 HTTP/1.1\r\n\r\n"))
      head_ok(p, s)
      assert.is_false(p:idle(s))             -- the body is not read yet
      assert.equal("abcd", p:read_body(s, "a"))
      assert.is_false(p:idle(s))             -- the next request is in the buffer
      head_ok(p, s)
      assert.is_true(p:idle(s))              -- nothing after it
    end)
  end)

  describe("read_body", function()
    local function body_request(body, chunked, limits)
      local framing = chunked and "Transfer-Encoding: chunked\r\n" or ("Content-Length: %d\r\n"):format(#body)
      if chunked then
        local t = {}
        for _, piece in ipairs(body) do t[#t + 1] = ("%x\r\n%s\r\n"):format(#piece, piece) end
        body = table.concat(t) .. "0\r\n\r\n"
      end
      local p, s, c = request("POST /b HTTP/1.1\r\nHost: x\r\n" .. framing .. "\r\n" .. body, limits)
      head_ok(p, s)
      return p, s, c
    end

    for _, chunked in ipairs({ false, true }) do
      local label = chunked and "chunked" or "Content-Length"
      local text = "hello world\nline2\r\nlast"
      local src = chunked and { "hel", "lo wo", "rld\nli", "ne2\r", "\nla", "st" } or text

      it(label .. ": n bytes, lines and the rest, then the end", function()
        local p, s = body_request(src, chunked)
        assert.is_false(p:body_done())
        assert.equal("hello", p:read_body(s, 5))
        assert.equal(" world", p:read_body(s, "*l"))
        assert.equal("line2", p:read_body(s, "l"))
        assert.equal("la", p:read_body(s, 2))
        assert.equal("st", p:read_body(s, "*a"))
        assert.is_true(p:body_done())
        assert.is_nil(p:read_body(s, 1))
        assert.is_nil(p:read_body(s, "*l"))
        assert.is_nil(p:read_body(s, "l"))
        assert.equal("", p:read_body(s, "a"))
        assert.equal("", p:read_body(s, "*a"))
      end)

      it(label .. ": n returns fewer bytes only at the end", function()
        local p, s = body_request(src, chunked)
        assert.equal("hello w", p:read_body(s, 7))
        assert.equal("orld\nline2\r\nla", p:read_body(s, 14))
        assert.equal("st", p:read_body(s, 100))
        assert.is_nil(p:read_body(s, 100))
      end)

      it(label .. ": the last line without LF is returned", function()
        local p, s = body_request(src, chunked)
        local lines = {}
        for _ = 1, 10 do
          local l = p:read_body(s, "*l")
          if not l then break end
          lines[#lines + 1] = l
        end
        assert.same({ "hello world", "line2", "last" }, lines)
      end)

      it(label .. ": a body cut short returns nil, 'closed'", function()
        local framing = chunked and "Transfer-Encoding: chunked\r\n\r\n5\r\nhel" or "Content-Length: 10\r\n\r\nhel"
        local p, s, c = request("POST / HTTP/1.1\r\nHost: x\r\n" .. framing)
        head_ok(p, s)
        c:close()
        local d, err = p:read_body(s, "*a")
        assert.is_nil(d)
        assert.equal("closed", err)
        assert.is_false(p:body_done())
      end)

      it(label .. ": a stalled body returns nil, 'timeout' after the timeout", function()
        local framing = chunked and "Transfer-Encoding: chunked\r\n\r\n5\r\nhel" or "Content-Length: 10\r\n\r\nhel"
        local p, s = request("POST / HTTP/1.1\r\nHost: x\r\n" .. framing)
        head_ok(p, s)
        local dt, r = helpers.timed(p.read_body, p, s, 10, 0.2)
        assert.same({ nil, "timeout" }, { r[1], r[2] })
        assert.is_true(dt >= 0.15)
      end)

      it(label .. ": over max_body_size returns nil, 'body too large'", function()
        if chunked then
          local p, s = body_request({ "123456", "789012" }, true, { max_body_size = 10 })
          local d, err = p:read_body(s, "*a")
          assert.is_nil(d)
          assert.equal("body too large", err)
        else
          local p, s = body_request("1234567890", false, { max_body_size = 10 })
          assert.equal("1234567890", p:read_body(s, "*a"))
        end
      end)

      it(label .. ": discard drops the rest and the next request follows", function()
        local framing = chunked and "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
          or "Content-Length: 7\r\n\r\nabcdefg"
        local p, s = request("POST / HTTP/1.1\r\nHost: x\r\n" .. framing .. "GET /next HTTP/1.1\r\n\r\n")
        head_ok(p, s)
        assert.equal("ab", p:read_body(s, 2))
        assert.is_true(p:discard(s, 100, 5))
        assert.is_true(p:body_done())
        local env = read_head(p, s)
        assert.equal("/next", env.PATH_INFO)
      end)

      it(label .. ": discard of more than max returns nil, 'too large'", function()
        local big = ("x"):rep(5000)
        local framing = chunked and ("Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"):format(#big, big)
          or ("Content-Length: %d\r\n\r\n%s"):format(#big, big)
        local p, s = request("POST / HTTP/1.1\r\nHost: x\r\n" .. framing)
        head_ok(p, s)
        local ok, err = p:discard(s, 1000, 5)
        assert.is_nil(ok)
        assert.equal("too large", err)
      end)
    end

    it("chunk extensions and trailers are skipped", function()
      local p, s = request("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        .. "3;a=b\r\nabc\r\n2;c=\"d;e\"\r\nde\r\n1;x\r\nf\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n"
        .. "GET /after HTTP/1.1\r\n\r\n")
      head_ok(p, s)
      assert.equal("abcdef", p:read_body(s, "a"))
      local env = read_head(p, s)
      assert.equal("/after", env.PATH_INFO)
    end)

    it("a bad chunk returns nil, 'bad chunk'", function()
      for _, bad in ipairs({ "zz\r\nabc\r\n0\r\n\r\n", "3\r\nabcX\r\n0\r\n\r\n", "-3\r\nabc\r\n",
        "fffffffffffffffff\r\n" }) do
        local p, s = request("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" .. bad)
        head_ok(p, s)
        local d, err = p:read_body(s, "*a")
        -- "bad chunk", perhaps with the parser's detail after a colon
        assert(d == nil and type(err) == "string" and err:find("^bad chunk"),
          ("%q: %s %s"):format(bad, tostring(d), tostring(err)))
      end
    end)

    it("a request without a body: the end at once", function()
      local p, s = request("GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n")
      head_ok(p, s)
      assert.is_true(p:body_done())
      assert.is_nil(p:read_body(s, 10))
      assert.equal("", p:read_body(s, "a"))
      assert.is_true(p:discard(s, 0, 1))
      assert.equal("/2", read_head(p, s).PATH_INFO)
    end)

    it("a large Content-Length body arrives whole through many reads", function()
      local body = ("0123456789"):rep(50000)
      local p, s, c = request()
      green.spawn(function()
        c:send(("POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n"):format(#body))
        for i = 1, #body, 65536 do c:send(body:sub(i, i + 65535)) end
      end)
      head_ok(p, s)
      local parts = {}
      for _ = 1, 10000 do
        local d = p:read_body(s, 4096)
        if not d then break end
        parts[#parts + 1] = d
      end
      assert.equal(#body, #table.concat(parts))
      assert.is_true(table.concat(parts) == body)
    end)
  end)

  describe("read_response", function()
    it("reads the status, the headers in lower case, and the body", function()
      local p, s = response("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\nx-a: 2\r\n"
        .. "Content-Length: 5\r\n\r\nhello")
      local h = {}
      local code, reason, keep, version = p:read_response(s, h, 5)
      assert.equal(200, code)
      assert.equal("OK", reason)
      assert.is_true(keep)
      assert.equal("HTTP/1.1", version)
      assert.equal("text/plain", h["content-type"])
      assert.equal("1, 2", h["x-a"])
      assert.equal("5", h["content-length"])
      assert.equal("hello", p:read_body(s, "a"))
      assert.is_true(p:body_done())
    end)

    it("skips 1xx interim responses", function()
      local p, s = response("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX-I: 1\r\n\r\n"
        .. "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
      local h = {}
      local code, reason = p:read_response(s, h, 5)
      assert.equal(201, code)
      assert.equal("Created", reason)
      assert.is_nil(h["x-i"])
      assert.equal("ok", p:read_body(s, "a"))
    end)

    it("de-chunks a chunked response and reads the next one on the connection", function()
      local p, s = response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n"
        .. "HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nx")
      local h = {}
      assert.equal(200, (p:read_response(s, h, 5)))
      assert.equal("abcd", p:read_body(s, "a"))
      local h2 = {}
      local code, reason = p:read_response(s, h2, 5)
      assert.equal(404, code)
      assert.equal("Not Found", reason)
      assert.is_nil(h2["transfer-encoding"])
      assert.equal("x", p:read_body(s, "a"))
    end)

    it("a close-delimited body ends at the close, and the connection is not kept", function()
      local p, s, c = response("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
      c:close()
      local code, _, keep = p:read_response(s, {}, 5)
      assert.equal(200, code)
      assert.is_false(keep)
      assert.equal("until the end", p:read_body(s, "a"))
    end)

    it("keep_alive: Connection: close, and HTTP/1.0 without keep-alive, are not kept", function()
      local cases = {
        { "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false },
        { "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false },
        { "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", true },
        { "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true },
      }
      for _, case in ipairs(cases) do
        local p, s = response(case[1])
        local code, _, keep = p:read_response(s, {}, 5)
        assert.equal(200, code)
        assert(keep == case[2], ("%q: keep %s"):format(case[1], tostring(keep)))
      end
    end)

    it("is_head: no body whatever the headers say; 204 and 304 have none", function()
      local p, s = response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
        .. "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"
        .. "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
      assert.equal(200, (p:read_response(s, {}, 5, true)))
      assert.is_true(p:body_done())
      assert.equal("", p:read_body(s, "a"))
      assert.equal(204, (p:read_response(s, {}, 5)))
      assert.equal("", p:read_body(s, "a"))
      assert.equal(304, (p:read_response(s, {}, 5)))
      assert.equal("", p:read_body(s, "a"))
      assert.equal(200, (p:read_response(s, {}, 5)))
      assert.equal("hi", p:read_body(s, "a"))
    end)

    it("errors: closed, timeout, malformed, too large", function()
      local p, s, c = response()
      c:close()
      assert.same({ nil, "closed" }, { p:read_response(s, {}, 5) })

      local p2, s2 = response()
      local dt, r = helpers.timed(p2.read_response, p2, s2, {}, 0.2)
      assert.same({ nil, "timeout" }, { r[1], r[2] })
      assert.is_true(dt >= 0.15)

      for _, bad in ipairs({ "HTTP/1.1 abc OK\r\n\r\n", "SMTP ready\r\n\r\n", "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n" }) do
        local p3, s3 = response(bad)
        local code, err = p3:read_response(s3, {}, 5)
        assert(code == nil and type(err) == "string" and err:find("^malformed response"),
          ("%q: %s %s"):format(bad, tostring(code), tostring(err)))
      end

      local p4, s4 = response("HTTP/1.1 200 OK\r\nX-Big: " .. ("b"):rep(100000) .. "\r\n\r\n")
      assert.same({ nil, "response head too large" }, { p4:read_response(s4, {}, 5) })

      local p5, s5, c5 = response("HTTP/1.1 200 OK\r\nContent-Le")
      c5:close()
      local code5, err5 = p5:read_response(s5, {}, 5)
      assert.is_nil(code5)
      assert.equal("malformed response: truncated head", err5)
    end)

    it("a truncated response body returns nil, 'closed'", function()
      local p, s, c = response("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
      assert.equal(200, (p:read_response(s, {}, 5)))
      c:close()
      local d, err = p:read_body(s, "a")
      assert.is_nil(d)
      assert.equal("closed", err)
    end)
  end)
end)
