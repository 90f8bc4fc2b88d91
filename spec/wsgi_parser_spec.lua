-- green.wsgi's strict parsing, from a raw socket (API.md, "HTTP server",
-- "Parsing is strict"): every error status the contract names, the request
-- smuggling cases, and the size limits with their options. Each error case
-- is followed on the same connection by a valid request (R.SMUGGLED) that
-- must never reach the app, and every error response must be one status
-- line with that code, `Connection: close`, a short text body, then EOF.
local green = require "green"
local helpers = require "spec.helpers"
local N = require "spec.net_helpers"
local R = require "spec.wsgi_raw_helpers"

local CRLF = "\r\n"

-- A request head from lines (joined with CRLF, ended with a blank line).
local function head(...)
  return table.concat({ ... }, CRLF) .. CRLF .. CRLF
end

-- A POST with these extra header lines and body bytes.
local function post(lines, body)
  local t = { "POST /p HTTP/1.1", "Host: x" }
  for _, l in ipairs(lines) do t[#t + 1] = l end
  return head(table.unpack(t)) .. (body or "")
end

-- A test of many cases: `case(name, fn)` is `it`, except that a failing
-- rejects/accepts inside it does not stop it: every failing case is listed
-- in the one failure message (so BUGS.md gets them all at once).
local FAILS
local function case(name, fn)
  it(name, function()
    FAILS = {}
    local ok, err = pcall(fn)
    local fails = FAILS
    FAILS = nil
    if not ok then fails[#fails + 1] = tostring(err) end
    assert(#fails == 0, #fails .. " case(s) failed:\n" .. table.concat(fails, "\n"))
  end)
end

local function soft(fn, ...)
  if not FAILS then return fn(...) end
  local ok, err = pcall(fn, ...)
  if not ok then FAILS[#FAILS + 1] = tostring(err) end
end

-- Sends `bytes` followed by the smuggled request, and asserts an error
-- response with `code`, the connection closed, the smuggled request never
-- reaching the app, and the app called `calls` times (default 0: a bad head
-- never reaches it). The server must close at once: 3 s is all it gets.
local function rejects_(srv, bytes, code, what, calls)
  srv.calls = {}
  local got, how = R.exchange(srv.port, bytes .. R.SMUGGLED, { limit = 3 })
  R.assert_error(got, how, code, what)
  assert(not R.smuggled(srv), what .. ": the request after it reached the app " .. R.paths(srv))
  assert(#srv.calls == (calls or 0), what .. ": app calls " .. R.paths(srv))
end
local function rejects(...) return soft(rejects_, ...) end

-- Sends one valid request and asserts a 200 whose body is `body` (when
-- given), on a connection the server keeps open.
local function accepts_(srv, bytes, what, body)
  srv.calls = {}
  local c = assert(green.connect("127.0.0.1", srv.port))
  assert(c:send(bytes))
  -- a kept connection: read the one response, then stop
  local got = ""
  c:settimeout(5)
  for _ = 1, 1000 do
    local rs, rest = R.parse(got)
    if #rs >= 1 and rest == "" then break end
    local d = c:recv(65536)
    if not d then break end
    got = got .. d
  end
  c:close()
  local rs, rest, perr = R.parse(got)
  local msg = ("%s: got %s"):format(what, R.show(got))
  assert(not perr and #rs == 1 and rest == "", msg .. ": expected one response")
  assert(rs[1].code == 200, msg .. ": expected 200")
  if body then assert(rs[1].body == body, msg .. ": app saw another body") end
  return rs[1]
end
local function accepts(...) return soft(accepts_, ...) end

local ANY_4XX_501 = { [400] = true, [501] = true }

describe("wsgi strict parsing", function()
  after_each(helpers.run_deferred)

  describe("the checks themselves", function()
    -- A deliberately lenient server (answers 200 keep-alive to anything with
    -- a head, never closes): every assertion this file relies on must fail
    -- against it, so the cases below can fail.
    local function lenient_server()
      local l, port = N.listener()
      helpers.defer(function() l:close() end)
      green.spawn(green.serve, l, function(c)
        c:settimeout(1)
        for _ = 1, 100 do
          local line = c:receive("*l")
          if not line then return end
          if line == "" then
            c:send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
          end
        end
      end)
      return port
    end

    it("fail against a server that accepts everything", function()
      local port = lenient_server()
      local bytes = post({ "Content-Length: 5", "Transfer-Encoding: chunked" }, "0\r\n\r\n")
      local got, how = R.exchange(port, bytes, { limit = 1.5 })
      assert.is_truthy(helpers.error_of(R.assert_error, got, how, 400, "lenient"))
      -- even a server that sends the right status but keeps the connection
      local ok400 = "HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad"
      assert.is_truthy(helpers.error_of(R.assert_error, ok400, "timeout", 400, "kept open"))
      assert.is_truthy(helpers.error_of(R.assert_error, ok400, "closed", 400, "no Connection: close"))
      local two = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbad" .. ok400
      assert.is_truthy(helpers.error_of(R.assert_error, two, "closed", 400, "two responses"))
      local good = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbad"
      assert.is_nil(helpers.error_of(R.assert_error, good, "closed", 400, "good"))
      assert.is_truthy(helpers.error_of(R.assert_error, good, "closed", 501, "other status"))
    end)
  end)

  describe("request smuggling", function()
    local srv
    setup(function() srv = R.server(nil, nil, true) end)
    teardown(function() if srv then srv.stop() end end)

    case("Content-Length together with Transfer-Encoding is a 400, in either order", function()
      rejects(srv, post({ "Content-Length: 5", "Transfer-Encoding: chunked" }, "0\r\n\r\n"), 400, "CL then TE")
      rejects(srv, post({ "Transfer-Encoding: chunked", "Content-Length: 5" }, "0\r\n\r\n"), 400, "TE then CL")
      rejects(srv, post({ "Content-Length: 0", "Transfer-Encoding: chunked" }, "0\r\n\r\n"), 400, "CL 0 with TE")
    end)

    case("two Content-Length headers are a 400, same value or not", function()
      rejects(srv, post({ "Content-Length: 5", "Content-Length: 5" }, "hello"), 400, "same values")
      rejects(srv, post({ "Content-Length: 5", "Content-Length: 6" }, "hello!"), 400, "different values")
      rejects(srv, post({ "Content-Length: 5", "content-length: 5" }, "hello"), 400, "names in two cases")
    end)

    case("a malformed Content-Length is a 400", function()
      for _, v in ipairs({ "1,1", "5, 5", "+5", "-1", " 5x", "5x", "0x5", "5 5", "5.0", "", "five",
        "9223372036854775808",     -- 2^63: past the largest integer
        "18446744073709551616",    -- 2^64
        "99999999999999999999999999" }) do
        rejects(srv, post({ "Content-Length: " .. v }, "hello"), 400, "Content-Length " .. R.show(v))
      end
    end)

    case("a Content-Length with spaces around it is the number (optional white space)", function()
      accepts(srv, post({ "Content-Length:   5  " }, "hello"), "spaces around 5", "ok /p 5")
      accepts(srv, post({ "Content-Length:\t5" }, "hello"), "tab before 5", "ok /p 5")
    end)

    case("an obsolete line fold is a 400", function()
      rejects(srv, head("GET / HTTP/1.1", "Host: x", "X-A: a", " b"), 400, "fold with SP")
      rejects(srv, head("GET / HTTP/1.1", "Host: x", "X-A: a", "\tb"), 400, "fold with HT")
      rejects(srv, head("GET / HTTP/1.1", " Host: x"), 400, "first header line starts with SP")
      rejects(srv, head("GET / HTTP/1.1", "\tHost: x"), 400, "first header line starts with HT")
      rejects(srv, post({ "Content-Length:", " 5" }, "hello"), 400, "folded Content-Length")
      rejects(srv, post({ "Transfer-Encoding:", " chunked" }, "0\r\n\r\n"), 400, "folded Transfer-Encoding")
      rejects(srv, head("GET / HTTP/1.1", "Host: x", "X-A:", " b"), 400, "fold after an empty value")
      rejects(srv, head("GET / HTTP/1.1", "Host: x", "X-A:", "\tb"), 400, "HT fold after an empty value")
    end)

    case("a bare CR in the request line or a header is a 400", function()
      rejects(srv, head("GET /a\rb HTTP/1.1", "Host: x"), 400, "CR in the target")
      rejects(srv, "GET / HTTP/1.1\rHost: x\r\n\r\n", 400, "CR ends the request line")
      rejects(srv, head("GET / HTTP/1.1", "Host: x", "X-A: a\rb"), 400, "CR in a value")
      rejects(srv, head("GET / HTTP/1.1", "Host: x", "X-A\r: a"), 400, "CR in a name")
      rejects(srv, "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\r\n\r\n", 400, "CR CR LF after a value")
      rejects(srv, "GET / HTTP/1.1\r\nHost: x\r\n\r\r\n", 400, "CR CR LF ends the head")
      rejects(srv, "GET / HTTP/1.1\r\nHost: x\r\n\rX\r\n", 400, "CR and any byte end the head")
      rejects(srv, "GET / HTTP/1.1\r\nHost: x\r\n\rX-A: 1\r\n\r\n", 400, "CR before a header name")
      rejects(srv, "GET / HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", 400, "CR between two headers")
    end)

    case("NUL and other control bytes in the head are a 400", function()
      for _, b in ipairs({ "\0", "\1", "\8", "\11", "\12", "\27", "\127" }) do
        local s = R.show(b)
        rejects(srv, head("GET /a" .. b .. "b HTTP/1.1", "Host: x"), 400, "control " .. s .. " in the target")
        rejects(srv, head("GET / HTTP/1.1", "Host: x", "X-A: a" .. b .. "b"), 400, "control " .. s .. " in a value")
        rejects(srv, head("GET / HTTP/1.1", "Host: x", "X" .. b .. "A: a"), 400, "control " .. s .. " in a name")
        rejects(srv, head("GE" .. b .. "T / HTTP/1.1", "Host: x"), 400, "control " .. s .. " in the method")
      end
      rejects(srv, "\0" .. head("GET / HTTP/1.1", "Host: x"), 400, "NUL before the request")
      rejects(srv, head("GET / HTTP/1.1\0", "Host: x"), 400, "NUL after the version")
    end)

    case("a tab inside a header value is allowed (it is not a control byte to HTTP)", function()
      accepts(srv, head("GET /t HTTP/1.1", "Host: x", "X-A: a\tb"), "HT in a value", "ok /t 0")
    end)

    case("white space between a header name and its colon is a 400", function()
      rejects(srv, head("GET / HTTP/1.1", "Host : x"), 400, "SP before the colon")
      rejects(srv, head("GET / HTTP/1.1", "Host\t: x"), 400, "HT before the colon")
      rejects(srv, post({ "Content-Length : 5" }, "hello"), 400, "SP before the colon of Content-Length")
      rejects(srv, post({ "Transfer-Encoding : chunked" }, "0\r\n\r\n"), 400,
        "SP before the colon of Transfer-Encoding")
    end)

    case("a header line without a colon or with an empty name is a 400", function()
      rejects(srv, head("GET / HTTP/1.1", "Host: x", "X-A b"), 400, "no colon")
      rejects(srv, head("GET / HTTP/1.1", "Host: x", ": b"), 400, "empty name")
      rejects(srv, head("GET / HTTP/1.1", "Host: x", ":b"), 400, "empty name, no space")
      rejects(srv, post({ ": 5", "Content-Length: 5" }, "hello"), 400, "empty name before Content-Length")
    end)

    case("empty lines before the request line are skipped (RFC 9112 2.2)", function()
      accepts(srv, "\r\n\r\n" .. head("GET /e HTTP/1.1", "Host: x"), "two CRLF first", "ok /e 0")
    end)

    -- RFC 9112 lets a server take a lone LF for a line end, but one that
    -- does so in some places and not in others (or differently from a
    -- proxy in front) is how requests get smuggled: greenlua takes CRLF
    -- only, everywhere in the head and in the chunked framing.
    case("a bare LF ending a line of the head is a 400", function()
      rejects(srv, "GET / HTTP/1.1\nHost: x\r\n\r\n", 400, "LF ends the request line")
      rejects(srv, "GET / HTTP/1.1\r\nHost: x\n\r\n", 400, "LF ends a header line")
      rejects(srv, "GET / HTTP/1.1\r\nHost: x\r\n\n", 400, "LF ends the head")
      rejects(srv, "GET / HTTP/1.1\nHost: x\n\n", 400, "LF everywhere")
      rejects(srv, "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\n\r\n", 400, "LF ends the last header line")
    end)

    case("a bare LF in the chunked framing is a bad chunk", function()
      local TE = { "Transfer-Encoding: chunked" }
      rejects(srv, post(TE, "5\nhello\r\n0\r\n\r\n"), 400, "LF after a chunk size", 1)
      rejects(srv, post(TE, "5\r\nhello\n0\r\n\r\n"), 400, "LF after chunk data", 1)
      rejects(srv, post(TE, "5\r\nhello\r\n0\n\r\n"), 400, "LF after the last chunk size", 1)
      rejects(srv, post(TE, "5\r\nhello\r\n0\r\n\n"), 400, "LF ends the trailer section", 1)
      rejects(srv, post(TE, "5\r\nhello\r\n0\r\nX-T: 1\n\r\n"), 400, "LF ends a trailer", 1)
    end)

    case("an invalid method token is a 400", function()
      for _, m in ipairs({ "G@T", "GE(T", "GET:", "\"GET\"", "G,ET", "" }) do
        rejects(srv, head(m .. " / HTTP/1.1", "Host: x"), 400, "method " .. R.show(m))
      end
    end)

    case("a Transfer-Encoding other than chunked is a 501", function()
      for _, te in ipairs({ "gzip", "gzip, chunked", "deflate", "identity", "x-custom, chunked" }) do
        rejects(srv, post({ "Transfer-Encoding: " .. te }, "0\r\n\r\n"), 501, "Transfer-Encoding " .. R.show(te))
      end
    end)

    case("chunked not last, twice, or misspelt is rejected (400 or 501), never read as chunked", function()
      for _, te in ipairs({ "chunked, gzip", "chunked, chunked", "chunkedx", "chunked;q=1", "\"chunked\"", "" }) do
        rejects(srv, post({ "Transfer-Encoding: " .. te }, "0\r\n\r\n"), ANY_4XX_501, "Transfer-Encoding " .. R.show(te))
      end
      rejects(srv, post({ "Transfer-Encoding: chunked", "Transfer-Encoding: chunked" }, "0\r\n\r\n"),
        ANY_4XX_501, "two Transfer-Encoding: chunked headers")
    end)

    case("chunked in any case, or after extra white space, is chunked", function()
      local body = "5\r\nhello\r\n0\r\n\r\n"
      accepts(srv, post({ "Transfer-Encoding: Chunked" }, body), "Chunked", "ok /p 5")
      accepts(srv, post({ "Transfer-Encoding: CHUNKED" }, body), "CHUNKED", "ok /p 5")
      accepts(srv, post({ "Transfer-Encoding:   chunked" }, body), "'   chunked'", "ok /p 5")
      accepts(srv, post({ "Transfer-Encoding:\tchunked" }, body), "'\\tchunked'", "ok /p 5")
    end)

    case("chunked with odd white space after it or inside the list is rejected (400 or 501)", function()
      local body = "5\r\nhello\r\n0\r\n\r\n"
      for _, te in ipairs({ "chunked ", "chunked\t", "chunked ,", " , chunked", "chun ked" }) do
        rejects(srv, post({ "Transfer-Encoding: " .. te }, body), ANY_4XX_501, "Transfer-Encoding " .. R.show(te))
      end
    end)

    case("a version other than 1.0 and 1.1 is a 505", function()
      for _, v in ipairs({ "HTTP/2.0", "HTTP/0.9", "HTTP/1.2", "HTTP/3.0", "HTTP/9.9" }) do
        rejects(srv, head("GET / " .. v, "Host: x"), 505, v)
      end
    end)

    case("a malformed version is a 400", function()
      for _, v in ipairs({ "HTTP/1", "HTTP/1.", "http/1.1", "HTTP/11", "HTTP/1.1.1", "HTTP 1.1", "HTTPS/1.1" }) do
        rejects(srv, head("GET / " .. v, "Host: x"), 400, R.show(v))
      end
    end)

    case("an HTTP/0.9 request line (no version) is rejected", function()
      rejects(srv, "GET /\r\n\r\n", { [400] = true, [505] = true }, "GET / without a version")
    end)
  end)

  describe("bad chunked bodies", function()
    -- The head was fine, so the app runs; its read returns nil, err. The
    -- client gets a 400 whether the app raised on the failed read or
    -- answered anyway (the bad body is the answer), then the connection
    -- closes, and no byte after the bad chunk is ever read as a request.
    -- An app that never reads gets its answer sent, then the discard finds
    -- the bad chunk and the connection closes.
    local BAD = {
      { "zz\r\nhello\r\n0\r\n\r\n", "size zz" },
      { "-1\r\nhello\r\n0\r\n\r\n", "negative size" },
      { "fffffffffffffffff\r\nhello\r\n0\r\n\r\n", "size overflows 64 bits" },
      { "0x5\r\nhello\r\n0\r\n\r\n", "size 0x5" },
      { "5hello\r\n0\r\n\r\n", "no CRLF after the size" },
      { "5\r\nhelloXY0\r\n\r\n", "no CRLF after the data" },
      { "5\r\nhello\r\n0\r\n", "no CRLF after the last chunk (then a request)" },
      { "\r\nhello\r\n0\r\n\r\n", "empty size" },
      { "5\r\nhello\r\n0\r\nX-T: a\rb\r\n\r\n", "bare CR in a trailer" },
      { "5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n", "folded trailer" },
      { "5\r\nhello\r\n0\r\nGET /t HTTP/1.1\r\n\r\n", "a request line as a trailer" },
    }
    local TE = { "Transfer-Encoding: chunked" }

    case("an app that asserts its read gets a 400, then the connection closes", function()
      local srv = R.server(nil, R.asserting_app)
      for _, bad in ipairs(BAD) do
        soft(function()
          rejects_(srv, post(TE, bad[1]), 400, bad[2], 1)
          local call = srv.calls[1]
          assert(call.body == nil and type(call.err) == "string", bad[2] .. ": the read did not fail")
        end)
      end
    end)

    case("an app that answers anyway: still a 400, then the connection closes", function()
      local srv = R.server()
      for _, bad in ipairs(BAD) do
        soft(function()
          rejects_(srv, post(TE, bad[1]), 400, bad[2], 1)
          local call = srv.calls[1]
          assert(call.body == nil and type(call.err) == "string", bad[2] .. ": the read did not fail")
        end)
      end
    end)

    case("an app that never reads: the server's discard finds it, and closes", function()
      local srv = R.server(nil, R.ignoring_app)
      for _, bad in ipairs(BAD) do
        soft(function()
          srv.calls = {}
          local got, how = R.exchange(srv.port, post(TE, bad[1]) .. R.SMUGGLED, { limit = 3 })
          local rs = R.assert_responses(got, how, 1, bad[2], true)
          assert(rs[1].code == 200, bad[2] .. ": status " .. rs[1].code)
          assert(#srv.calls == 1 and not R.smuggled(srv), bad[2] .. ": app calls " .. R.paths(srv))
        end)
      end
    end)

    case("a valid chunked body with trailers is read, and the next request is answered", function()
      local srv = R.server()
      local body = "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n"
      local c = assert(green.connect("127.0.0.1", srv.port))
      helpers.defer(function() c:close() end)
      assert(c:send(post({ "Transfer-Encoding: chunked" }, body) .. head("GET /next HTTP/1.1", "Host: x", "Connection: close")))
      local got, how = R.read_all(c)
      local rs = R.assert_responses(got, how, 2, "chunked then GET", true)
      assert.equal("ok /p 11", rs[1].body)
      assert.equal("ok /next 0", rs[2].body)
      assert.equal("hello world", srv.calls[1].body)
    end)
  end)

  describe("bounded buffering", function()
    -- Bytes that never complete a line are streamed past what the kernel
    -- can buffer: a server that bounds its buffers closes the connection
    -- before all of them went out (else it buffers without end, or hangs).
    -- The app reads the body and answers anyway (the server's 400 replaces
    -- its answer, see above).
    local srv, total
    setup(function()
      srv = R.server(nil, nil, true)
      total = N.unbuffered_size()
    end)
    teardown(function() if srv then srv.stop() end end)

    local function bounded(prefix, piece, code, what)
      srv.calls = {}
      local sent, all, got, how = R.stream(srv.port, prefix, piece, total)
      assert(not all, ("%s: the server took all %d bytes"):format(what, sent))
      assert(how == "closed", what .. ": the connection was not closed, got " .. R.show(got))
      if got ~= "" then
        -- a response is optional (the server may close mid-send), but when
        -- one came it is the error
        R.assert_error(got, how, code, what)
      end
      assert(not R.smuggled(srv))
    end

    case("a chunk extension of 100 KB is a 400 (or a close)", function()
      local got, how = R.exchange(srv.port,
        post({ "Transfer-Encoding: chunked" }, "5;" .. ("x"):rep(100 * 1024) .. "\r\nhello\r\n0\r\n\r\n") .. R.SMUGGLED)
      assert(how == "closed", "not closed: " .. R.show(got))
      if got ~= "" then R.assert_error(got, how, 400, "100 KB chunk extension") end
      assert(not R.smuggled(srv))
    end)

    case("an endless chunk extension is cut off", function()
      bounded(post({ "Transfer-Encoding: chunked" }, "5;"), "abcdefgh", 400, "endless chunk extension")
    end)

    case("an endless chunk size is cut off", function()
      bounded(post({ "Transfer-Encoding: chunked" }, "0"), "0", 400, "endless zeros in a chunk size")
    end)

    case("an endless trailer section is cut off", function()
      bounded(post({ "Transfer-Encoding: chunked" }, "0\r\n"), "X-T: 1\r\n", { [400] = true, [431] = true, [413] = true },
        "endless trailers")
    end)

    case("an endless request line is cut off with a 414", function()
      bounded("GET /", "aaaaaaaa", 414, "endless target")
    end)

    case("an endless header line is cut off with a 431", function()
      bounded("GET / HTTP/1.1\r\nHost: x\r\nX-A: ", "aaaaaaaa", 431, "endless header value")
    end)

    case("endless header lines are cut off with a 431", function()
      bounded("GET / HTTP/1.1\r\nHost: x\r\n", "X-A: 1\r\n", 431, "endless headers")
    end)

    case("endless blank lines before a request are cut off", function()
      bounded("", "\r\n", { [400] = true, [414] = true }, "endless CRLF")
    end)
  end)

  describe("size limits", function()
    local function target(n)
      return "/" .. ("a"):rep(n - 1)
    end

    case("a request line longer than url_length_limit (8192) is a 414", function()
      local srv = R.server()
      rejects(srv, head("GET " .. target(9000) .. " HTTP/1.1", "Host: x"), 414, "9000-byte target")
      rejects(srv, head("GET " .. target(8193) .. " HTTP/1.1", "Host: x"), 414, "8193-byte target")
      accepts(srv, head("GET " .. target(8000) .. " HTTP/1.1", "Host: x"), "8000-byte target")
    end)

    case("url_length_limit changes the limit", function()
      local srv = R.server({ url_length_limit = 100 })
      rejects(srv, head("GET " .. target(150) .. " HTTP/1.1", "Host: x"), 414, "150-byte target, limit 100")
      accepts(srv, head("GET " .. target(60) .. " HTTP/1.1", "Host: x"), "60-byte target, limit 100")
      local big = R.server({ url_length_limit = 20000 })
      accepts(big, head("GET " .. target(15000) .. " HTTP/1.1", "Host: x"), "15000-byte target, limit 20000")
    end)

    case("a header line longer than max_header_line (8192) is a 431", function()
      local srv = R.server()
      rejects(srv, head("GET / HTTP/1.1", "Host: x", "X-A: " .. ("v"):rep(9000)), 431, "9000-byte header")
      accepts(srv, head("GET / HTTP/1.1", "Host: x", "X-A: " .. ("v"):rep(8000)), "8000-byte header")
    end)

    case("max_header_line changes the limit", function()
      local srv = R.server({ max_header_line = 100 })
      rejects(srv, head("GET / HTTP/1.1", "Host: x", "X-A: " .. ("v"):rep(150)), 431, "150-byte header, limit 100")
      accepts(srv, head("GET / HTTP/1.1", "Host: x", "X-A: " .. ("v"):rep(50)), "50-byte header, limit 100")
      local big = R.server({ max_header_line = 20000 })
      accepts(big, head("GET / HTTP/1.1", "Host: x", "X-A: " .. ("v"):rep(15000)), "15000-byte header, limit 20000")
    end)

    local function headers(n, size)
      local t = { "GET / HTTP/1.1", "Host: x" }
      for i = 1, n - 1 do
        local name = ("X-H%d: "):format(i)
        t[#t + 1] = name .. ("v"):rep(math.max(1, size - #name))
      end
      return head(table.unpack(t))
    end

    case("headers over max_headers_size (65536) bytes are a 431", function()
      local srv = R.server()
      rejects(srv, headers(11, 7000), 431, "70 KB of headers")
      accepts(srv, headers(8, 7000), "49 KB of headers")
    end)

    case("max_headers_size changes the limit", function()
      local srv = R.server({ max_headers_size = 1000 })
      rejects(srv, headers(8, 200), 431, "1.4 KB of headers, limit 1000")
      accepts(srv, headers(3, 200), "400 bytes of headers, limit 1000")
      local big = R.server({ max_headers_size = 200000, max_headers = 1000 })
      accepts(big, headers(21, 7000), "140 KB of headers, limit 200000")
    end)

    case("more than max_headers (100) headers are a 431", function()
      local srv = R.server()
      rejects(srv, headers(101, 10), 431, "101 headers")
      accepts(srv, headers(100, 10), "100 headers")
    end)

    case("max_headers changes the limit", function()
      local srv = R.server({ max_headers = 5 })
      rejects(srv, headers(6, 10), 431, "6 headers, limit 5")
      accepts(srv, headers(5, 10), "5 headers, limit 5")
      local big = R.server({ max_headers = 300 })
      accepts(big, headers(250, 10), "250 headers, limit 300")
    end)

    case("a body over max_body_size is a 413: a Content-Length never reaches the app", function()
      local srv = R.server({ max_body_size = 10 })
      rejects(srv, post({ "Content-Length: 11" }, ("b"):rep(11)), 413, "Content-Length 11, limit 10")
      rejects(srv, post({ "Content-Length: 1000000000" }, ""), 413, "Content-Length 1e9, limit 10")
      accepts(srv, post({ "Content-Length: 10" }, ("b"):rep(10)), "Content-Length 10, limit 10", "ok /p 10")
    end)

    case("a Content-Length over max_body_size with Expect: 100-continue gets a 413, no 100", function()
      local srv = R.server({ max_body_size = 10 })
      local got, how = R.exchange(srv.port, post({ "Content-Length: 11", "Expect: 100-continue" }))
      R.assert_error(got, how, 413, "Expect with Content-Length 11, limit 10")
      assert.equal(0, #srv.calls)
    end)

    case("a chunked body over max_body_size: the app's read fails, the client gets a 413", function()
      local srv = R.server({ max_body_size = 10 }, R.asserting_app)
      rejects(srv, post({ "Transfer-Encoding: chunked" }, "6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n"), 413,
        "chunked 12 bytes, limit 10", 1)
      assert(srv.calls[1] and srv.calls[1].body == nil and type(srv.calls[1].err) == "string")
      rejects(srv, post({ "Transfer-Encoding: chunked" }, "ffffff\r\n"), 413,
        "one chunk of 16 MB announced, limit 10", 1)
      accepts(srv, post({ "Transfer-Encoding: chunked" }, "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"),
        "chunked 10 bytes, limit 10", "ok 10")
    end)

    case("a chunked body over max_body_size, an app that answers anyway: still a 413", function()
      local srv = R.server({ max_body_size = 10 })
      rejects(srv, post({ "Transfer-Encoding: chunked" }, "6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n"), 413,
        "chunked 12 bytes, limit 10, reading app", 1)
      assert(srv.calls[1] and srv.calls[1].body == nil and type(srv.calls[1].err) == "string")
    end)

    case("max_body_size unset: a large body is read whole", function()
      local srv = R.server()
      local body = ("z"):rep(300000)
      accepts(srv, post({ "Content-Length: " .. #body }, body), "300 KB body", "ok /p 300000")
    end)
  end)
end)
