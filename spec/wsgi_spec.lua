-- green.wsgi.server (HTTP_CONTRACT.md, "HTTP server"): WSAPI apps, env,
-- env.input and 100 Continue, posthooks, framing, keep-alive and
-- pipelining, options and their defaults, logs, errors, stopping, the
-- transports (TCP v4/v6, Unix, TLS) and scale (1,000 connections, 10,000
-- pipelined requests). Raw sockets on 127.0.0.1 (::1 for v6) only.
local green = require "green"
local wsgi = require "green.wsgi"
local helpers = require "spec.helpers"
local N = require "spec.net_helpers"
local W = require "spec.wsgi_helpers"

local req, exchange, connect, start = W.req, W.exchange, W.connect, W.start

local TEXT = { ["Content-Type"] = "text/plain" }

local function text_app(body, status, headers)
  return function() return status or 200, headers or TEXT, body end
end

local pieces = require("spec.http_helpers").pieces

local function count(s, plain)
  local n, init = 0, 1
  for _ = 1, 1e6 do
    local a, b = s:find(plain, init, true)
    if not a then return n end
    n, init = n + 1, b + 1
  end
  return n
end

describe("green.wsgi.server", function()
  after_each(W.run_deferred)

  describe("responses", function()
    it("sends the hello world bytes: status, app headers, Content-Length, Date, body", function()
      local s = start(W.hello)
      local c = connect(s.port)
      assert(c:send(req("GET", "/")))
      local r = assert(W.read_response(c))
      assert.equal("HTTP/1.1 200 OK", r.status)
      assert.same({ { "Content-Type", "text/plain" }, { "Content-Length", "13" } },
        { r.list[1], r.list[2] })
      assert.equal("Date", r.list[3][1])
      assert.equal(3, #r.list)
      assert.matches("^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT$", r.list[3][2])
      assert.equal("Hello, World!", r.body)
      -- a kept HTTP/1.1 connection says nothing about Connection
      assert.is_nil(r.headers.connection)
    end)

    it("writes the head and a small body in one write: one recv gets it all", function()
      local s = start(W.hello)
      local c = connect(s.port)
      assert(c:send(req("GET", "/")))
      local got = assert(c:recv(65536))
      assert.matches("^HTTP/1%.1 200 OK\r\n.*\r\n\r\nHello, World!$", got)
    end)

    it("gives a number status its reason phrase and sends a string status as is", function()
      local codes = { ["/n"] = 404, ["/s"] = "404 Gone Fishing", ["/c"] = 299, ["/t"] = 418 }
      local s = start(function(env) return codes[env.PATH_INFO], TEXT, "x" end)
      local c = connect(s.port)
      assert.equal("HTTP/1.1 404 Not Found", exchange(c, req("GET", "/n")).status)
      assert.equal("HTTP/1.1 404 Gone Fishing", exchange(c, req("GET", "/s")).status)
      assert.equal(299, exchange(c, req("GET", "/c")).code)
      assert.equal("HTTP/1.1 418 I'm a teapot", exchange(c, req("GET", "/t")).status)
    end)

    it("sends an array header value as one line per value (Set-Cookie)", function()
      local s = start(text_app("x", 200, { ["Set-Cookie"] = { "a=1", "b=2" }, ["X-N"] = 5 }))
      local r = W.fetch(s.port, "GET", "/")
      local cookies = {}
      for _, h in ipairs(r.list) do
        if h[1] == "Set-Cookie" then cookies[#cookies + 1] = h[2] end
      end
      assert.same({ "a=1", "b=2" }, cookies)
      assert.equal("5", r.headers["x-n"])
    end)

    it("never sends a header with CR, LF or NUL: the client gets a 500", function()
      local bad = {
        { ["X-A"] = "a\r\nX-Injected: 1" }, { ["X-A"] = "a\nb" }, { ["X-A"] = "a\0b" },
        { ["X-A\r\nX-Injected"] = "1" }, { ["X-A"] = { "ok", "no\r\n" } },
      }
      local i = 0
      local s = start(function()
        i = i + 1
        return 200, bad[i], "secret"
      end)
      for _ = 1, #bad do
        local r = W.fetch(s.port, "GET", "/")
        assert.equal(500, r.code)
        assert.is_nil(r.headers["x-injected"])
        assert.is_nil(r.body:find("secret", 1, true))
      end
    end)

    it("a bad status (not a number or a 3-digit string) is a 500", function()
      local st = { "20 OK", "abc", {}, 1000 }
      local i = 0
      local s = start(function() i = i + 1; return st[i], TEXT, "x" end)
      for _ = 1, #st do assert.equal(500, W.fetch(s.port, "GET", "/").code) end
    end)

    it("a string body gets a computed Content-Length", function()
      local s = start(text_app(string.rep("z", 100000)))
      local r = W.fetch(s.port, "GET", "/")
      assert.equal("length", r.framing)
      assert.equal("100000", r.headers["content-length"])
      assert.equal(string.rep("z", 100000), r.body)
    end)

    it("an array body is joined and gets a computed Content-Length", function()
      local s = start(text_app({ "Hello", ", ", "World", "!" }))
      local r = W.fetch(s.port, "GET", "/")
      assert.equal("13", r.headers["content-length"])
      assert.equal("Hello, World!", r.body)
      assert.is_nil(r.headers["transfer-encoding"])
    end)

    it("a nil body is an empty one", function()
      local s = start(function() return 200, TEXT end)
      local r = W.fetch(s.port, "GET", "/")
      assert.equal("0", r.headers["content-length"])
      assert.equal("", r.body)
    end)

    it("a body of another type is a 500", function()
      local s = start(function() return 200, TEXT, 42 end)
      assert.equal(500, W.fetch(s.port, "GET", "/").code)
    end)

    it("an iterator body goes chunked to an HTTP/1.1 client, decoded intact", function()
      local s = start(text_app(function() return nil end))
      local list = { "one ", "two ", "", "three" }
      s = start(function() return 200, TEXT, pieces(list) end)
      local c = connect(s.port)
      local r = exchange(c, req("GET", "/"))
      assert.equal("chunked", r.framing)
      assert.equal("chunked", r.headers["transfer-encoding"])
      assert.is_nil(r.headers["content-length"])
      assert.equal("one two three", r.body)
      assert.is_true(r.complete)
      -- and the connection goes on
      assert.equal("one two three", exchange(c, req("GET", "/")).body)
    end)

    it("an iterator that ends at once sends an empty chunked body", function()
      local s = start(function() return 200, TEXT, function() return nil end end)
      local r = W.fetch(s.port, "GET", "/")
      assert.equal("chunked", r.framing)
      assert.equal("", r.body)
      assert.is_true(r.complete)
    end)

    it("coalesces iterator writes into chunks of at least minimum_chunk_size (4096)", function()
      local s = start(function()
        local n = 0
        return 200, TEXT, function()
          n = n + 1
          if n <= 10000 then return "x" end
        end
      end)
      local r = W.fetch(s.port, "GET", "/")
      assert.equal(string.rep("x", 10000), r.body)
      assert.same({ 4096, 4096, 1808 }, r.chunks)
    end)

    it("minimum_chunk_size sets the coalescing size", function()
      local s = start(function()
        return 200, TEXT, pieces({ "aa", "bb", "cc", "dd", "e" })
      end, { minimum_chunk_size = 4 })
      local r = W.fetch(s.port, "GET", "/")
      assert.equal("aabbccdde", r.body)
      assert.same({ 4, 4, 1 }, r.chunks)
    end)

    it("env.minimum_chunk_size set by the app is that response's coalescing size", function()
      local s = start(function(env)
        if env.PATH_INFO == "/each" then env.minimum_chunk_size = 1 end
        return 200, TEXT, pieces({ "aa", "bb", "c" })
      end)
      local c = connect(s.port)
      assert.same({ 2, 2, 1 }, exchange(c, req("GET", "/each")).chunks)
      assert.same({ 5 }, exchange(c, req("GET", "/")).chunks)
    end)

    it("sends the head with the first piece before the iterator goes on", function()
      local go = green.Event()
      local s = start(function()
        local n = 0
        return 200, TEXT, function()
          n = n + 1
          if n == 1 then return string.rep("a", 5000) end
          if n == 2 then go:wait(); return "b" end
        end
      end)
      local c = connect(s.port)
      assert(c:send(req("GET", "/")))
      -- head and the first chunk arrive while the iterator still waits
      local got = ""
      for _ = 1, 100 do
        got = got .. assert(c:recv(65536))
        if got:find(string.rep("a", 5000) .. "\r\n", 1, true) then break end
      end
      assert.matches("^HTTP/1%.1 200 OK\r\n", got)
      assert.truthy(got:find("\r\n\r\n1388\r\n" .. string.rep("a", 5000) .. "\r\n", 1, true))
      go:send()
      local rest = assert(c:recv(65536))
      assert.equal("1\r\nb\r\n0\r\n\r\n", rest)
    end)

    it("a piece made after the iterator blocked goes out at once, however small", function()
      local go = green.Event()
      local s = start(function()
        local n = 0
        return 200, TEXT, function()
          n = n + 1
          if n == 1 then green.sleep(0); return "a" end  -- made after a block
          if n == 2 then go:wait(); return "b" end
        end
      end)
      local c = connect(s.port)
      c:settimeout(5)
      assert(c:send(req("GET", "/")))
      -- without the flush, "a" would wait for 4095 more bytes, and the
      -- iterator for the client: the read below would time out
      local got = ""
      for _ = 1, 100 do
        local piece = c:recv(65536)
        if not piece then break end
        got = got .. piece
        if got:find("\r\n\r\n1\r\na\r\n", 1, true) then break end
      end
      assert.truthy(got:find("\r\n\r\n1\r\na\r\n", 1, true), got)
      go:send()
      local rest = ""
      for _ = 1, 100 do
        local piece = c:recv(65536)
        if not piece then break end
        rest = rest .. piece
        if rest:find("0\r\n\r\n", 1, true) then break end
      end
      assert.equal("1\r\nb\r\n0\r\n\r\n", rest)
    end)

    it("an iterator body to an HTTP/1.0 client is close-delimited", function()
      local s = start(function() return 200, TEXT, pieces({ "ab", "cd" }) end)
      local c = connect(s.port)
      local r = exchange(c, req("GET", "/", { "Connection: keep-alive" }, nil, "HTTP/1.0"))
      assert.equal("close", r.framing)
      assert.is_nil(r.headers["transfer-encoding"])
      assert.is_nil(r.headers["content-length"])
      assert.equal("close", r.headers.connection)
      assert.equal("abcd", r.body)
    end)

    it("an HTTP/1.0 response line says HTTP/1.1 and a string body gets its length", function()
      local s = start(W.hello)
      local c = connect(s.port)
      local r = exchange(c, req("GET", "/", nil, nil, "HTTP/1.0"))
      assert.equal("HTTP/1.1 200 OK", r.status)
      assert.equal("13", r.headers["content-length"])
      assert.equal("close", r.headers.connection)
      assert.is_true(W.closed_by_peer(c))
    end)

    it("keeps the app's Content-Length and streams an iterator under it", function()
      local s = start(function()
        return 200, { ["content-length"] = "6" }, pieces({ "abc", "def" })
      end)
      local c = connect(s.port)
      local r = exchange(c, req("GET", "/"))
      assert.equal("length", r.framing)
      assert.equal("abcdef", r.body)
      assert.is_nil(r.headers["transfer-encoding"])
      -- kept: the next request on the connection works
      assert.equal("abcdef", exchange(c, req("GET", "/")).body)
    end)

    it("drops the app's Transfer-Encoding: the server frames", function()
      local s = start(function()
        return 200, { ["Transfer-Encoding"] = "gzip" }, "plain"
      end)
      local r = W.fetch(s.port, "GET", "/")
      assert.is_nil(r.headers["transfer-encoding"])
      assert.equal("plain", r.body)
    end)

    local function length_case(body, declared)
      local s = start(function() return 200, { ["Content-Length"] = declared }, body end)
      local c = connect(s.port)
      assert(c:send(req("GET", "/")))
      local r = assert(W.read_response(c))
      return s, c, r
    end

    it("a string body longer than its Content-Length: only that many bytes, an error, close", function()
      local s, c, r = length_case("abcdef", 4)
      assert.equal("abcd", r.body)
      assert.is_true(W.closed_by_peer(c))
      assert.matches("Content%-Length is 4 but its body has 6 bytes", s.log:text())
    end)

    it("a string body shorter than its Content-Length: an error, the connection closes", function()
      local s, c, r = length_case("ab", 4)
      assert.is_false(r.complete)
      assert.equal("ab", r.body)
      assert.is_true(W.closed_by_peer(c))
      assert.matches("Content%-Length is 4 but its body has 2 bytes", s.log:text())
    end)

    it("an iterator body longer than its Content-Length: cut, an error, close", function()
      local s, c, r = length_case(pieces({ "abc", "def", "ghi" }), 5)
      assert.equal("abcde", r.body)
      assert.is_true(W.closed_by_peer(c))
      assert.matches("Content%-Length is 5 but its body has 9 bytes", s.log:text())
      -- pieces past the first chunk: it is not drained to count them
      local s2, c2, r2 = length_case(function() return string.rep("m", 3000) end, 5000)
      assert.equal(string.rep("m", 5000), r2.body)
      assert.is_true(W.closed_by_peer(c2))
      assert.matches("Content%-Length is 5000 but its body has more than 6000 bytes", s2.log:text())
    end)

    it("an iterator body shorter than its Content-Length: an error, close", function()
      local s, c, r = length_case(pieces({ "abc" }), 5)
      assert.is_false(r.complete)
      assert.equal("abc", r.body)
      assert.is_true(W.closed_by_peer(c))
      assert.matches("Content%-Length is 5 but its body has 3 bytes", s.log:text())
    end)

    it("HEAD: the Content-Length a GET would get, no body bytes", function()
      local s = start(text_app("Hello, World!"))
      local c = connect(s.port)
      -- pipelined: a body byte after the HEAD response would break the GET's
      assert(c:send(req("HEAD", "/") .. req("GET", "/")))
      local r = assert(W.read_response(c, { head = true }))
      assert.equal(200, r.code)
      assert.equal("13", r.headers["content-length"])
      local g = assert(W.read_response(c))
      assert.equal("HTTP/1.1 200 OK", g.status)
      assert.equal("Hello, World!", g.body)
    end)

    it("HEAD with an iterator body: no body bytes, the iterator is not drained", function()
      local calls = 0
      local s = start(function()
        return 200, TEXT, function() calls = calls + 1; if calls < 100 then return "x" end end
      end)
      local c = connect(s.port)
      assert(c:send(req("HEAD", "/") .. req("GET", "/x")))
      local r = assert(W.read_response(c, { head = true }))
      assert.equal(200, r.code)
      assert.is_nil(r.headers["content-length"])
      local g = assert(W.read_response(c))
      assert.equal(200, g.code)
    end)

    for _, code in ipairs({ 204, 304 }) do
      it(code .. ": no body bytes even if the app gives some", function()
        local s = start(function(env)
          if env.PATH_INFO == "/next" then return 200, TEXT, "next" end
          return code, TEXT, "a body that must not go out"
        end)
        local c = connect(s.port)
        assert(c:send(req("GET", "/") .. req("GET", "/next")))
        local r = assert(W.read_response(c))
        assert.equal(code, r.code)
        local g = assert(W.read_response(c))
        assert.equal("HTTP/1.1 200 OK", g.status)
        assert.equal("next", g.body)
      end)
    end

    it("adds a Date header unless the app sent one", function()
      local s = start(function(env)
        if env.PATH_INFO == "/own" then return 200, { date = "Mon, 01 Jan 2001 00:00:00 GMT" }, "" end
        return 200, TEXT, ""
      end)
      local c = connect(s.port)
      local r = exchange(c, req("GET", "/"))
      local t = os.time()
      assert.truthy(r.headers.date == wsgi.format_date_time(t) or r.headers.date == wsgi.format_date_time(t - 1))
      r = exchange(c, req("GET", "/own"))
      assert.equal(1, count(r.head:lower(), "\ndate:"))
      assert.equal("Mon, 01 Jan 2001 00:00:00 GMT", r.headers.date)
    end)

    it("capitalizes header names by default; capitalize_response_headers = false sends them as given", function()
      local app = text_app("x", 200, { ["content-TYPE"] = "text/plain", ["x-my-header"] = "v" })
      local s = start(app)
      local r = W.fetch(s.port, "GET", "/")
      assert.truthy(r.head:find("\r\nContent-Type: text/plain\r\n", 1, true))
      assert.truthy(r.head:find("\r\nX-My-Header: v\r\n", 1, true))
      local s2 = start(app, { capitalize_response_headers = false })
      r = W.fetch(s2.port, "GET", "/")
      assert.truthy(r.head:find("\r\ncontent-TYPE: text/plain\r\n", 1, true))
      assert.truthy(r.head:find("\r\nx-my-header: v\r\n", 1, true))
    end)
  end)

  describe("env", function()
    it("has WSAPI's keys, the request's values", function()
      local got
      local s = start(function(env) got = env; return 200, TEXT, "" end)
      local c = connect(s.port)
      exchange(c, req("GET", "/a%20b/c%2Fd?x=1&y=%20", { "X-Thing: one", "User-Agent: spec" }))
      assert.equal("GET", got.REQUEST_METHOD)
      assert.equal("", got.SCRIPT_NAME)
      assert.equal("/a b/c/d", got.PATH_INFO)
      assert.equal("x=1&y=%20", got.QUERY_STRING)
      assert.equal("127.0.0.1", got.SERVER_NAME)
      assert.equal(tostring(s.port), got.SERVER_PORT)
      assert.equal("HTTP/1.1", got.SERVER_PROTOCOL)
      local ip, port = c:getsockname()
      assert.equal(ip, got.REMOTE_ADDR)
      assert.equal(tostring(port), got.REMOTE_PORT)
      assert.equal("one", got.HTTP_X_THING)
      assert.equal("spec", got.HTTP_USER_AGENT)
      assert.equal("localhost", got.HTTP_HOST)
      assert.is_nil(got.CONTENT_TYPE)
      assert.is_nil(got.CONTENT_LENGTH)
      assert.equal("table", type(got.input))
      assert.equal("table", type(got.error))
      assert.same({}, got.posthooks)
    end)

    it("QUERY_STRING is empty without a query; SERVER_PROTOCOL is what the client sent", function()
      local got
      local s = start(function(env) got = env; return 200, TEXT, "" end)
      local c = connect(s.port)
      exchange(c, req("GET", "/p", nil, nil, "HTTP/1.0"))
      assert.equal("", got.QUERY_STRING)
      assert.equal("HTTP/1.0", got.SERVER_PROTOCOL)
    end)

    it("CONTENT_TYPE and CONTENT_LENGTH come without the HTTP_ prefix", function()
      local got
      local s = start(function(env) got = env; return 200, TEXT, "" end)
      W.fetch(s.port, "POST", "/", { ["Content-Type"] = "application/json", ["Content-Length"] = "2" }, "{}")
      assert.equal("application/json", got.CONTENT_TYPE)
      assert.equal("2", got.CONTENT_LENGTH)
      assert.is_nil(got.HTTP_CONTENT_TYPE)
      assert.is_nil(got.HTTP_CONTENT_LENGTH)
    end)

    it("joins repeated headers with \", \", drops names with _, keeps env.headers raw and in order", function()
      local got
      local s = start(function(env) got = env; return 200, TEXT, "" end)
      local c = connect(s.port)
      exchange(c, req("GET", "/", { "Host: h", "Accept: a", "X_Under: no", "accept: b", "X-Dash: d" }))
      assert.equal("a, b", got.HTTP_ACCEPT)
      assert.equal("d", got.HTTP_X_DASH)
      assert.is_nil(got.HTTP_X_UNDER)
      assert.same({ { "Host", "h" }, { "Accept", "a" }, { "X_Under", "no" }, { "accept", "b" },
        { "X-Dash", "d" } }, got.headers)
    end)

    it("server_name and server_port set SERVER_NAME and SERVER_PORT", function()
      local got
      local s = start(function(env) got = env; return 200, TEXT, "" end,
        { server_name = "example.org", server_port = 8080 })
      W.fetch(s.port, "GET", "/")
      assert.equal("example.org", got.SERVER_NAME)
      assert.equal("8080", got.SERVER_PORT)
      local s2 = start(function(env) got = env; return 200, TEXT, "" end, { server_port = "443" })
      W.fetch(s2.port, "GET", "/")
      assert.equal("443", got.SERVER_PORT)
      assert.equal("127.0.0.1", got.SERVER_NAME)
    end)

    it("env.error:write goes to the error log", function()
      local s = start(function(env)
        env.error:write("app says ", "hello\n")
        return 200, TEXT, ""
      end)
      W.fetch(s.port, "GET", "/")
      assert.truthy(s.log:text():find("app says hello\n", 1, true))
    end)

    it("every request gets a fresh env", function()
      local envs = {}
      local s = start(function(env) envs[#envs + 1] = env; env.mine = true; return 200, TEXT, "" end)
      local c = connect(s.port)
      exchange(c, req("GET", "/1"))
      exchange(c, req("GET", "/2"))
      assert.equal(2, #envs)
      assert.is_false(rawequal(envs[1], envs[2]))
      assert.equal("/2", envs[2].PATH_INFO)
      assert.is_false(rawequal(envs[1].input, envs[2].input))
    end)
  end)

  describe("env.input", function()
    local function echo_server(reader, opts)
      return start(function(env)
        local out = table.pack(reader(env.input, env))
        for i = 1, out.n do out[i] = tostring(out[i]) end
        return 200, TEXT, table.concat(out, "|", 1, out.n)
      end, opts)
    end

    local function post(port, body, headers)
      local h = headers or { ["Content-Length"] = tostring(#body) }
      return W.fetch(port, "POST", "/", h, body).body
    end

    it("read(n) returns up to n bytes, then nil at the end", function()
      local s = echo_server(function(input)
        return input:read(3), input:read(10), input:read(1)
      end)
      assert.equal("abc|defg|nil", post(s.port, "abcdefg"))
    end)

    it("read('*l') returns lines without LF and CR before it, the last one without LF too", function()
      local s = echo_server(function(input)
        return input:read("*l"), input:read("l"), input:read("*l"), input:read("*l")
      end)
      assert.equal("one|two|three|nil", post(s.port, "one\r\ntwo\nthree"))
    end)

    it("read('*a') returns the rest, then \"\" at the end", function()
      local s = echo_server(function(input)
        local a = input:read(2)
        return a, input:read("*a"), "[" .. input:read("a") .. "]"
      end)
      assert.equal("ab|cdef|[]", post(s.port, "abcdef"))
    end)

    it("read() without a format reads a line; read(0) is \"\" before the end, nil after", function()
      local s = echo_server(function(input)
        return input:read(0), input:read(), input:read("a"), input:read(0)
      end)
      assert.equal("|x|y|nil", post(s.port, "x\ny"))
    end)

    it("a request without a body reads as empty", function()
      local s = echo_server(function(input) return input:read(5), input:read("*a") end)
      assert.equal("nil|", W.fetch(s.port, "GET", "/").body)
    end)

    it("lines() iterates over the lines", function()
      local s = echo_server(function(input)
        local got = {}
        for line in input:lines() do got[#got + 1] = line end
        return table.concat(got, ",")
      end)
      assert.equal("a,b,c", post(s.port, "a\nb\r\nc\n"))
    end)

    it("de-chunks a chunked request body", function()
      local s = echo_server(function(input) return input:read("*a") end)
      local body = "5\r\nhello\r\n1;ext=1\r\n,\r\n6\r\n world\r\n0\r\n\r\n"
      assert.equal("hello, world", post(s.port, body, { ["Transfer-Encoding"] = "chunked" }))
    end)

    it("a body cut short by the client makes the read return nil, err", function()
      local result = green.Event()
      local s = start(function(env)
        result:send({ env.input:read("*a") })
        return 200, TEXT, ""
      end)
      local c = connect(s.port)
      assert(c:send(req("POST", "/", { "Content-Length: 100" }, "only a few")))
      c:shutdown("send")
      local r = result:wait(5)
      assert.is_nil(r[1])
      assert.equal("closed", r[2])
    end)

    it("a read that meets a malformed chunk: the server answers 400 and closes", function()
      local got
      local s = start(function(env)
        got = { env.input:read("*a") }
        return 200, TEXT, "the app's answer"
      end)
      local c = connect(s.port)
      local r = exchange(c, req("POST", "/", { "Transfer-Encoding: chunked" }, "3\r\nabc\r\nzz\r\n"))
      assert.is_nil(got[1])
      assert.matches("^bad chunk", got[2])
      assert.equal(400, r.code)
      assert.is_true(W.closed_by_peer(c))
    end)

    it("a read after the request ended returns nil", function()
      local kept
      local s = start(function(env) kept = env.input; return 200, TEXT, "" end)
      W.fetch(s.port, "POST", "/", { ["Content-Length"] = "3" }, "abc")
      assert.is_nil(kept:read("*a"))
    end)

    it("bad arguments raise naming the method", function()
      local errs
      local s = start(function(env)
        local input = env.input
        errs = {
          helpers.error_of(input.read, input, "*x"),
          helpers.error_of(input.read, input, -1),
          helpers.error_of(input.read, input, 1.5),
          helpers.error_of(input.read, {}, 1),
          helpers.error_of(input.set_continue_headers, input, "x"),
          helpers.error_of(input.set_continue_headers, input, { ["X-A"] = "a\r\nb" }),
          helpers.error_of(input.set_continue_headers, input, { ["X A"] = "a" }),
        }
        return 200, TEXT, ""
      end)
      W.fetch(s.port, "GET", "/")
      assert.matches("bad argument #1 to 'read' %(invalid format%)", errs[1])
      assert.matches("bad argument #1 to 'read'", errs[2])
      assert.matches("bad argument #1 to 'read'", errs[3])
      assert.matches("calling 'read' on bad self", errs[4])
      assert.matches("bad argument #1 to 'set_continue_headers' %(table expected, got string%)", errs[5])
      assert.matches("bad argument #1 to 'set_continue_headers'.*CR, LF or NUL", errs[6])
      assert.matches("bad argument #1 to 'set_continue_headers'.*invalid header name", errs[7])
    end)
  end)

  describe("100 Continue", function()
    local function expect_req(len)
      return req("POST", "/", { "Content-Length: " .. len, "Expect: 100-continue" })
    end

    it("the first read sends 100 Continue, with set_continue_headers' headers; then the body", function()
      local s = start(function(env)
        env.input:set_continue_headers({ ["X-Go"] = "ahead", ["X-Two"] = { "1", "2" } })
        return 200, TEXT, "got " .. env.input:read("*a")
      end)
      local c = connect(s.port)
      assert(c:send(expect_req(5)))
      -- nothing but the 100 comes before the body is sent
      local r = assert(W.read_response(c))
      assert.equal("HTTP/1.1 100 Continue", r.status)
      assert.equal("ahead", r.headers["x-go"])
      assert.equal("1, 2", r.headers["x-two"])
      assert(c:send("hello"))
      local f = assert(W.read_response(c))
      assert.equal("got hello", f.body)
      -- the connection goes on
      assert.equal(200, exchange(c, req("GET", "/")).code)
    end)

    it("a plain 100 Continue without extra headers", function()
      local s = start(function(env) return 200, TEXT, env.input:read(2) end)
      local c = connect(s.port)
      assert(c:send(expect_req(2)))
      local got = assert(c:receive("*l"))
      assert.equal("HTTP/1.1 100 Continue", got)
      assert.equal("", c:receive("*l"))
      assert(c:send("ok"))
      assert.equal("ok", W.read_response(c).body)
    end)

    it("an app answering without reading sends no 100, and the connection closes after", function()
      local s = start(function() return 413, TEXT, "no thanks" end)
      local c = connect(s.port)
      assert(c:send(expect_req(1000000)))
      local r = assert(W.read_response(c))
      assert.equal(413, r.code)
      assert.equal("no thanks", r.body)
      assert.equal("close", r.headers.connection)
      assert.is_true(W.closed_by_peer(c))
    end)

    it("set_continue_headers after the 100 was sent raises", function()
      local err
      local s = start(function(env)
        env.input:read(1)
        err = helpers.error_of(env.input.set_continue_headers, env.input, {})
        return 200, TEXT, ""
      end)
      local c = connect(s.port)
      assert(c:send(expect_req(1)))
      assert.equal(100, W.read_response(c).code)
      assert(c:send("x"))
      W.read_response(c)
      assert.matches("100 Continue was sent already", err)
    end)
  end)

  describe("posthooks", function()
    it("run after the response, each as fn(env), in order, protected, before the access log line", function()
      local order = {}
      local got_env
      local s
      s = start(function(env)
        got_env = env
        env.posthooks[#env.posthooks + 1] = function(e)
          order[#order + 1] = { "one", rawequal(e, got_env), #s.log.lines }
        end
        env.posthooks[#env.posthooks + 1] = function() error("hook boom") end
        env.posthooks[#env.posthooks + 1] = function() order[#order + 1] = { "three" } end
        return 200, TEXT, "body"
      end, { log_format = function(f) return "ACCESS " .. f.request_line end })
      local r = W.fetch(s.port, "GET", "/h")
      assert.equal("body", r.body)
      assert.is_true(helpers.wait_until(function() return s.log:text():find("ACCESS") end))
      assert.equal("one", order[1][1])
      assert.is_true(order[1][2])
      assert.equal("three", order[2][1])
      local text = s.log:text()
      assert.truthy(text:find("hook boom", 1, true))
      -- the error of hook two comes before the access line
      assert.truthy(text:find("hook boom", 1, true) < text:find("ACCESS GET /h HTTP/1.1", 1, true))
    end)

    it("run once the client has the whole response", function()
      local release = green.Event()
      local hook_ran = false
      local s = start(function(env)
        env.posthooks[1] = function() hook_ran = true end
        return 200, TEXT, string.rep("p", 200000)
      end)
      local c = connect(s.port)
      assert(c:send(req("GET", "/")))
      local r = assert(W.read_response(c))
      assert.equal(200000, #r.body)
      assert.is_true(helpers.wait_until(function() return hook_ran end))
      release:send()
    end)

    it("run after a 500 too", function()
      local ran = false
      local s = start(function(env)
        env.posthooks[1] = function() ran = true end
        error("app boom")
      end)
      assert.equal(500, W.fetch(s.port, "GET", "/").code)
      assert.is_true(helpers.wait_until(function() return ran end))
    end)
  end)

  describe("errors in the app", function()
    it("before the headers: 500 Internal Server Error, the traceback on the error log only", function()
      local s = start(function() error("kaboom in the app") end)
      local c = connect(s.port)
      local r = exchange(c, req("GET", "/"))
      assert.equal("HTTP/1.1 500 Internal Server Error", r.status)
      assert.equal("Internal Server Error", r.body)
      assert.equal("text/plain", r.headers["content-type"])
      assert.is_nil(r.body:find("kaboom", 1, true))
      local text = s.log:text()
      assert.truthy(text:find("kaboom in the app", 1, true))
      assert.truthy(text:find("stack traceback", 1, true))
      assert.equal("close", r.headers.connection)
      assert.is_true(W.closed_by_peer(c))
    end)

    it("with debug = true the body has the traceback too", function()
      local s = start(function() error("kaboom in the app") end, { debug = true })
      local r = W.fetch(s.port, "GET", "/")
      assert.equal(500, r.code)
      assert.matches("^Internal Server Error\n\n", r.body)
      assert.truthy(r.body:find("kaboom in the app", 1, true))
      assert.truthy(r.body:find("stack traceback", 1, true))
    end)

    it("an error object that is not a string (even one whose __tostring fails) is reported", function()
      local obj = setmetatable({}, { __tostring = function() error("no tostring") end })
      local s = start(function(env)
        if env.PATH_INFO == "/t" then error({ code = 1 }) end
        error(obj)
      end)
      assert.equal(500, W.fetch(s.port, "GET", "/t").code)
      assert.equal(500, W.fetch(s.port, "GET", "/o").code)
      assert.equal(200, W.fetch(start(W.hello).port, "GET", "/").code)
    end)

    it("an iterator raising on its first piece: still a 500", function()
      local s = start(function() return 200, TEXT, function() error("iter boom") end end)
      local r = W.fetch(s.port, "GET", "/")
      assert.equal(500, r.code)
      assert.truthy(s.log:text():find("iter boom", 1, true))
    end)

    it("after the headers went out: the connection closes, the chunked body unfinished", function()
      local s = start(function()
        local n = 0
        return 200, TEXT, function()
          n = n + 1
          if n == 1 then return string.rep("a", 5000) end
          error("late boom")
        end
      end)
      local c = connect(s.port)
      assert(c:send(req("GET", "/")))
      local r = assert(W.read_response(c))
      assert.equal(200, r.code)
      assert.is_false(r.complete)
      assert.equal(string.rep("a", 5000), r.body)
      assert.truthy(s.log:text():find("late boom", 1, true))
    end)

    it("a server whose app failed still serves the next connection", function()
      local n = 0
      local s = start(function()
        n = n + 1
        if n == 1 then error("first fails") end
        return 200, TEXT, "fine"
      end)
      assert.equal(500, W.fetch(s.port, "GET", "/").code)
      assert.equal("fine", W.fetch(s.port, "GET", "/").body)
    end)

    it("a request the parser rejects gets its status and the connection closes", function()
      local s = start(W.hello)
      local c = connect(s.port)
      assert(c:send("GARBAGE\r\n\r\n"))
      local r = assert(W.read_response(c))
      assert.equal(400, r.code)
      assert.is_true(W.closed_by_peer(c))
      assert.equal(200, W.fetch(s.port, "GET", "/").code)
    end)
  end)

  describe("keep-alive", function()
    it("HTTP/1.1 keeps the connection by default", function()
      local s = start(W.hello)
      local c = connect(s.port)
      for _ = 1, 5 do
        local r = exchange(c, req("GET", "/"))
        assert.equal("Hello, World!", r.body)
        assert.is_nil(r.headers.connection)
      end
    end)

    it("a client's Connection: close closes it after the response (token lists, any case)", function()
      local s = start(W.hello)
      for _, value in ipairs({ "close", "CLOSE", "keep-alive, close", "Upgrade,Close", "foo , close" }) do
        local c = connect(s.port)
        local r = exchange(c, req("GET", "/", { "Connection: " .. value }))
        assert.equal("Hello, World!", r.body)
        assert.equal("close", r.headers.connection)
        assert.is_true(W.closed_by_peer(c))
      end
    end)

    it("the app's Connection: close closes it", function()
      local s = start(text_app("bye", 200, { Connection = "close" }))
      local c = connect(s.port)
      local r = exchange(c, req("GET", "/"))
      assert.equal("bye", r.body)
      assert.equal("close", r.headers.connection:lower())
      assert.is_true(W.closed_by_peer(c))
    end)

    it("HTTP/1.0 closes unless Connection: keep-alive, which is echoed", function()
      local s = start(W.hello)
      local c = connect(s.port)
      local r = exchange(c, req("GET", "/", nil, nil, "HTTP/1.0"))
      assert.equal("close", r.headers.connection)
      assert.is_true(W.closed_by_peer(c))
      c = connect(s.port)
      for _ = 1, 3 do
        r = exchange(c, req("GET", "/", { "Connection: Keep-Alive" }, nil, "HTTP/1.0"))
        assert.equal("keep-alive", r.headers.connection:lower())
        assert.equal("Hello, World!", r.body)
      end
    end)

    it("answers pipelined requests in order", function()
      local s = start(function(env) return 200, TEXT, env.PATH_INFO end)
      local c = connect(s.port)
      assert(c:send(req("GET", "/1") .. req("POST", "/2", { "Content-Length: 3" }, "abc")
        .. req("GET", "/3") .. req("HEAD", "/4") .. req("GET", "/5")))
      for i = 1, 5 do
        local r = assert(W.read_response(c, { head = i == 4 }))
        assert.equal(200, r.code)
        if i ~= 4 then assert.equal("/" .. i, r.body) end
      end
    end)

    it("answers pipelined requests in order even when the first one is slow", function()
      local s = start(function(env)
        if env.PATH_INFO == "/slow" then green.sleep(0.1) end
        return 200, TEXT, env.PATH_INFO
      end)
      local c = connect(s.port)
      assert(c:send(req("GET", "/slow") .. req("GET", "/fast")))
      assert.equal("/slow", W.read_response(c).body)
      assert.equal("/fast", W.read_response(c).body)
    end)

    it("discards an unread request body before the next request", function()
      local s = start(function(env) return 200, TEXT, env.PATH_INFO end)
      local c = connect(s.port)
      local big = string.rep("b", 100000)
      assert(c:send(req("POST", "/1", { "Content-Length: " .. #big }, big)
        .. req("POST", "/2", { "Transfer-Encoding: chunked" }, "3\r\nabc\r\n0\r\n\r\n")
        .. req("GET", "/3")))
      for i = 1, 3 do assert.equal("/" .. i, W.read_response(c).body) end
    end)

    it("closes instead when the unread rest is over max_discard (1 MiB by default)", function()
      local s = start(function(env) return 200, TEXT, env.PATH_INFO end)
      local c = connect(s.port)
      -- just under 1 MiB: discarded
      local n = 1024 * 1024
      assert(c:send(req("POST", "/1", { "Content-Length: " .. n })))
      local writer = green.spawn(function() c:send(string.rep("d", n)) end)
      assert.equal("/1", W.read_response(c).body)
      writer:wait()
      assert.equal("/2", exchange(c, req("GET", "/2")).body)
      -- over it: the response, then the connection closes
      local c2 = connect(s.port)
      assert(c2:send(req("POST", "/3", { "Content-Length: " .. (n + 1) }, "x")))
      assert.equal("/3", W.read_response(c2).body)
      assert.is_true(W.closed_by_peer(c2))
    end)

    it("max_discard sets the limit", function()
      local s = start(function(env) return 200, TEXT, env.PATH_INFO end, { max_discard = 10 })
      local c = connect(s.port)
      assert(c:send(req("POST", "/1", { "Content-Length: 10" }, string.rep("x", 10)) .. req("GET", "/2")))
      assert.equal("/1", W.read_response(c).body)
      assert.equal("/2", W.read_response(c).body)
      assert(c:send(req("POST", "/3", { "Content-Length: 11" }, string.rep("x", 11))))
      assert.equal("/3", W.read_response(c).body)
      assert.is_true(W.closed_by_peer(c))
    end)

    it("keepalive = false or 0: every response closes its connection", function()
      for _, v in ipairs({ false, 0 }) do
        local s = start(W.hello, { keepalive = v })
        local c = connect(s.port)
        local r = exchange(c, req("GET", "/"))
        assert.equal("close", r.headers.connection)
        assert.is_true(W.closed_by_peer(c))
      end
    end)

    it("keepalive = seconds: an idle connection closes after that long", function()
      local s = start(W.hello, { keepalive = 0.2 })
      local c = connect(s.port)
      assert.equal(200, exchange(c, req("GET", "/")).code)
      -- (the default keeps it open: "by default (60 s) ..." below)
      assert.is_true(W.closed_by_peer(c, 5))
    end)

    it("keepalive = true: an idle connection waits as long as socket_timeout", function()
      local s = start(W.hello, { keepalive = true, socket_timeout = 0.2 })
      local c = connect(s.port)
      assert.equal(200, exchange(c, req("GET", "/")).code)
      assert.is_nil(exchange(c, req("GET", "/")).headers.connection)
      assert.is_true(W.closed_by_peer(c, 5))
    end)

    it("by default (60 s) an idle connection stays open", function()
      local s = start(W.hello)
      local c = connect(s.port)
      assert.equal(200, exchange(c, req("GET", "/")).code)
      c:settimeout(0.3)
      local data, err = c:recv(10)
      assert.is_nil(data)
      assert.equal("timeout", err)
      c:settimeout(5)
      assert.equal(200, exchange(c, req("GET", "/")).code)
    end)
  end)

  describe("options", function()
    it("socket_timeout bounds each read: a stalled body read returns nil, 'timeout'", function()
      local result = green.Event()
      local s = start(function(env)
        result:send({ env.input:read("*a") })
        return 200, TEXT, ""
      end, { socket_timeout = 0.2 })
      local c = connect(s.port)
      assert(c:send(req("POST", "/", { "Content-Length: 10" }, "abc")))
      local r = result:wait(5)
      assert.same({ nil, "timeout" }, { r[1], r[2] })
    end)

    it("socket_timeout also bounds the wait for a first request", function()
      local s = start(W.hello, { socket_timeout = 0.2 })
      local c = connect(s.port)
      assert.is_true(W.closed_by_peer(c, 5))
    end)

    it("header_timeout cuts off a client trickling its head", function()
      local s = start(W.hello, { header_timeout = 0.3 })
      local c = connect(s.port)
      local closed_after
      local t0 = green.now()
      local head = req("GET", "/", { "X-Slow: " .. string.rep("s", 100) })
      for i = 1, #head do
        if not c:send(head:sub(i, i)) then closed_after = i; break end
        green.sleep(0.02)
        if green.now() - t0 > 4 then break end
      end
      local _, got = W.closed_by_peer(c, 5)
      assert.truthy(closed_after or got == nil, "the server did not cut the head off")
      assert.is_true(green.now() - t0 < 4)
    end)

    it("by default a head may take its time (header_timeout 30 s): one sent over 0.5 s is served", function()
      local s = start(W.hello)
      local c = connect(s.port)
      local head = req("GET", "/")
      for i = 1, #head, 4 do
        assert(c:send(head:sub(i, i + 3)))
        green.sleep(0.5 / (#head / 4))
      end
      assert.equal(200, W.read_response(c).code)
    end)

    it("max_size: at the limit it stops accepting until a connection ends", function()
      local s = start(W.hello, { max_size = 2 })
      local a, b = connect(s.port), connect(s.port)
      assert.equal(200, exchange(a, req("GET", "/")).code)
      assert.equal(200, exchange(b, req("GET", "/")).code)
      local third = connect(s.port)    -- the kernel's backlog takes it
      assert(third:send(req("GET", "/")))
      third:settimeout(0.3)
      local data, err = third:recv(100)
      assert.is_nil(data)
      assert.equal("timeout", err)
      a:close()
      third:settimeout(5)
      local r = assert(W.read_response(third))
      assert.equal(200, r.code)
    end)

    it("max_size defaults to 1024", function()
      local gate = green.Event()
      local busy = 0
      local s = start(function()
        busy = busy + 1
        gate:wait()
        return 200, TEXT, ""
      end)
      local socks = {}
      for i = 1, 1025 do
        socks[i] = assert(green.connect("127.0.0.1", s.port))
        assert(socks[i]:send(req("GET", "/")))
      end
      N.defer(function() N.close_all(socks) end)
      assert.is_true(helpers.wait_until(function() return busy >= 1024 end, 20))
      green.sleep(0.2)
      assert.equal(1024, busy)
      socks[1]:close()
      gate:send()
    end)

    it("url_length_limit (8192) answers 414", function()
      local s = start(W.hello)
      assert.equal(200, W.fetch(s.port, "GET", "/" .. string.rep("u", 8000)).code)
      assert.equal(414, W.fetch(s.port, "GET", "/" .. string.rep("u", 9000)).code)
      local s2 = start(W.hello, { url_length_limit = 100 })
      assert.equal(414, W.fetch(s2.port, "GET", "/" .. string.rep("u", 200)).code)
    end)

    it("max_header_line (8192) answers 431", function()
      local s = start(W.hello)
      assert.equal(200, W.fetch(s.port, "GET", "/", { ["X-L"] = string.rep("h", 8000) }).code)
      assert.equal(431, W.fetch(s.port, "GET", "/", { ["X-L"] = string.rep("h", 9000) }).code)
      local s2 = start(W.hello, { max_header_line = 100 })
      assert.equal(431, W.fetch(s2.port, "GET", "/", { ["X-L"] = string.rep("h", 200) }).code)
    end)

    it("max_headers (100) and max_headers_size (65536) answer 431", function()
      local function many(n, size)
        local h = {}
        for i = 1, n do h["X-H" .. i] = string.rep("v", size or 1) end
        return h
      end
      local s = start(W.hello)
      assert.equal(200, W.fetch(s.port, "GET", "/", many(90)).code)
      assert.equal(431, W.fetch(s.port, "GET", "/", many(120)).code)
      assert.equal(431, W.fetch(s.port, "GET", "/", many(10, 7000)).code)
      local s2 = start(W.hello, { max_headers = 5 })
      assert.equal(431, W.fetch(s2.port, "GET", "/", many(10)).code)
      local s3 = start(W.hello, { max_headers_size = 1000 })
      assert.equal(431, W.fetch(s3.port, "GET", "/", many(5, 300)).code)
    end)

    it("max_body_size (none by default) answers 413", function()
      local app = function(env) return 200, TEXT, tostring(#(env.input:read("*a") or "")) end
      local s = start(app)
      assert.equal("2000000", W.fetch(s.port, "POST", "/", { ["Content-Length"] = "2000000" },
        string.rep("b", 2000000)).body)
      local s2 = start(app, { max_body_size = 10 })
      assert.equal(413, W.fetch(s2.port, "POST", "/", { ["Content-Length"] = "11" }, string.rep("b", 11)).code)
      assert.equal("10", W.fetch(s2.port, "POST", "/", { ["Content-Length"] = "10" }, string.rep("b", 10)).body)
      local chunked = "6\r\nbbbbbb\r\n6\r\nbbbbbb\r\n0\r\n\r\n"
      assert.equal(413, W.fetch(s2.port, "POST", "/", { ["Transfer-Encoding"] = "chunked" }, chunked).code)
    end)
  end)

  describe("the access log", function()
    it("writes eventlet's default line to opts.log", function()
      local s = start(W.hello)
      local c = connect(s.port)
      exchange(c, req("GET", "/path?q=1"))
      assert.is_true(helpers.wait_until(function() return #s.log.lines > 0 end))
      local line = s.log.lines[1]
      local _, _ = c:getsockname()
      local pattern = '^127%.0%.0%.1 %- %- %[(%d%d)/(%a%a%a)/(%d%d%d%d) (%d%d):(%d%d):(%d%d)%] '
        .. '"GET /path%?q=1 HTTP/1%.1" 200 13 (%d+%.%d%d%d%d%d%d)\n$'
      local d, mon, y, hh, mm, ss, wall = line:match(pattern)
      assert.truthy(d, "line: " .. line)
      local now = os.date("*t")
      assert.equal(now.year, tonumber(y))
      assert.equal(os.date("%b"), mon)
      assert.truthy(tonumber(wall) >= 0)
      assert.truthy(hh and mm and ss)
    end)

    it("the request line is the target as sent, not decoded", function()
      local s = start(W.hello)
      W.fetch(s.port, "GET", "/a%20b/c%2Fd?x=%20")
      assert.is_true(helpers.wait_until(function() return #s.log.lines > 0 end))
      assert.truthy(s.log.lines[1]:find('"GET /a%20b/c%2Fd?x=%20 HTTP/1.1" 200 13 ', 1, true), s.log.lines[1])
    end)

    it("logs a 500 and error statuses' lines with their status", function()
      local s = start(function() error("x") end)
      W.fetch(s.port, "GET", "/e")
      assert.is_true(helpers.wait_until(function() return s.log:text():find('"GET /e HTTP/1.1" 500 ') end))
    end)

    it("body_length counts the body bytes sent (0 for HEAD)", function()
      local s = start(function() return 200, TEXT, pieces({ "abc", "de" }) end)
      local c = connect(s.port)
      exchange(c, req("GET", "/"))
      exchange(c, req("HEAD", "/"), { head = true })
      assert.is_true(helpers.wait_until(function() return #s.log.lines >= 2 end))
      assert.matches('"GET / HTTP/1%.1" 200 5 ', s.log.lines[1])
      assert.matches('"HEAD / HTTP/1%.1" 200 0 ', s.log.lines[2])
    end)

    it("client_ip has X-Forwarded-For's addresses first (log_x_forwarded_for = true)", function()
      local s = start(W.hello)
      W.fetch(s.port, "GET", "/", { ["X-Forwarded-For"] = "10.0.0.1, 10.0.0.2" })
      assert.is_true(helpers.wait_until(function() return #s.log.lines > 0 end))
      assert.matches("^10%.0%.0%.1,10%.0%.0%.2,127%.0%.0%.1 %- %- %[", s.log.lines[1])
      local s2 = start(W.hello, { log_x_forwarded_for = false })
      W.fetch(s2.port, "GET", "/", { ["X-Forwarded-For"] = "10.0.0.1" })
      assert.is_true(helpers.wait_until(function() return #s2.log.lines > 0 end))
      assert.matches("^127%.0%.0%.1 %- %- %[", s2.log.lines[1])
    end)

    it("log_format(fields) makes the line, with eventlet's field names", function()
      local fields
      local s = start(W.hello, { log_format = function(f) fields = f; return "custom line" end })
      local c = connect(s.port)
      exchange(c, req("GET", "/f"))
      assert.is_true(helpers.wait_until(function() return fields ~= nil end))
      local _, port = c:getsockname()
      assert.equal("127.0.0.1", fields.client_ip)
      assert.equal(tostring(port), tostring(fields.client_port))
      assert.matches("^%d%d/%a%a%a/%d%d%d%d %d%d:%d%d:%d%d$", fields.date_time)
      assert.equal("GET /f HTTP/1.1", fields.request_line)
      assert.equal("200", tostring(fields.status_code))
      assert.equal(13, fields.body_length)
      assert.equal("number", type(fields.wall_seconds))
      assert.equal("custom line\n", s.log.lines[1])
    end)

    it("a failing log_format is reported on the error log; requests go on", function()
      local s = start(W.hello, { log_format = function() error("fmt boom") end })
      assert.equal(200, W.fetch(s.port, "GET", "/").code)
      assert.is_true(helpers.wait_until(function() return s.log:text():find("fmt boom", 1, true) end))
      assert.equal(200, W.fetch(s.port, "GET", "/").code)
    end)

    it("log = false writes no access line (errors still go to stderr)", function()
      local out, err = helpers.run_chunk([[
        local green = require "green"
        local wsgi = require "green.wsgi"
        local l = assert(green.listen("127.0.0.1", 0))
        local _, port = l:getsockname()
        green.spawn(wsgi.server, l, function(env)
          if env.PATH_INFO == "/e" then error("stderr boom") end
          return 200, {}, "ok"
        end, { log = false })
        for _, path in ipairs({ "/", "/e" }) do
          local c = assert(green.connect("127.0.0.1", port))
          c:send("GET " .. path .. " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
          local r = c:receive("*a")
          print(r:match("^HTTP/1.1 (%d+)"))
          c:close()
        end
        l:close()
      ]])
      assert.equal("200\n500\n", out)
      assert.is_nil(err:find('"GET', 1, true))
      assert.truthy(err:find("stderr boom", 1, true))
    end)

    it("the default log is io.stderr", function()
      local out, err = helpers.run_chunk([[
        local green = require "green"
        local wsgi = require "green.wsgi"
        local l = assert(green.listen("127.0.0.1", 0))
        local _, port = l:getsockname()
        green.spawn(wsgi.server, l, function() return 200, {}, "ok" end)
        local c = assert(green.connect("127.0.0.1", port))
        c:send("GET /stderr HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        print(#c:receive("*a") > 0)
        c:close()
        green.sleep(0.05)
        l:close()
      ]])
      assert.equal("true\n", out)
      assert.matches('127%.0%.0%.1 %- %- %[[^%]]+%] "GET /stderr HTTP/1%.1" 200 2 %d+%.%d+\n', err)
    end)
  end)

  describe("stopping", function()
    it("closing the listener makes server return", function()
      local s = start(W.hello)
      assert.equal(200, W.fetch(s.port, "GET", "/").code)
      s.l:close()
      assert.is_true(W.wait_done(s))
      assert.is_nil(s.err)
    end)

    it("closes idle keep-alive connections at once", function()
      local s = start(W.hello)
      local a, b = connect(s.port), connect(s.port)
      assert.equal(200, exchange(a, req("GET", "/")).code)
      -- b never sent anything: idle too
      s.l:close()
      assert.is_true(W.wait_done(s))
      assert.is_true(W.closed_by_peer(a, 1))
      assert.is_true(W.closed_by_peer(b, 1))
    end)

    it("a connection whose next head has begun to arrive is served, with Connection: close", function()
      local s = start(W.hello)
      local idle, busy = connect(s.port), connect(s.port)
      assert.equal(200, exchange(idle, req("GET", "/")).code)
      assert.equal(200, exchange(busy, req("GET", "/")).code)
      local head = req("GET", "/second")
      assert(busy:send(head:sub(1, 10)))
      -- the server has the first bytes (a first request proves the order)
      assert.equal(200, exchange(idle, req("GET", "/")).code)
      green.sleep(0.05)
      s.l:close()
      assert.is_true(W.closed_by_peer(idle, 2))
      assert(busy:send(head:sub(11)))
      local r = assert(W.read_response(busy))
      assert.equal(200, r.code)
      assert.equal("close", r.headers.connection)
      assert.is_true(W.closed_by_peer(busy))
      assert.is_true(W.wait_done(s))
    end)

    it("lets a request in flight finish, with Connection: close, then returns", function()
      local gate, entered = green.Event(), green.Event()
      local s = start(function()
        entered:send()
        gate:wait()
        return 200, TEXT, "finished"
      end)
      local c = connect(s.port)
      assert(c:send(req("GET", "/")))
      entered:wait(5)
      s.l:close()
      green.sleep(0.1)
      assert.is_nil(s.done)
      gate:send()
      local r = assert(W.read_response(c))
      assert.equal("finished", r.body)
      assert.equal("close", r.headers.connection)
      assert.is_true(W.closed_by_peer(c))
      assert.is_true(W.wait_done(s))
    end)

    it("a streaming response in progress finishes, then the connection closes", function()
      local gate, entered = green.Event(), green.Event()
      local s = start(function()
        local n = 0
        return 200, TEXT, function()
          n = n + 1
          if n == 1 then return string.rep("s", 5000) end
          if n == 2 then entered:send(); gate:wait(); return "end" end
        end
      end)
      local c = connect(s.port)
      assert(c:send(req("GET", "/")))
      entered:wait(5)
      s.l:close()
      green.sleep(0.05)
      gate:send()
      local r = assert(W.read_response(c))
      assert.is_true(r.complete)
      assert.equal(string.rep("s", 5000) .. "end", r.body)
      assert.is_true(W.closed_by_peer(c))
      assert.is_true(W.wait_done(s))
    end)

    it("returns when the listener closes while it is at max_size", function()
      local s = start(W.hello, { max_size = 1 })
      local a = connect(s.port)
      assert.equal(200, exchange(a, req("GET", "/")).code)
      s.l:close()
      assert.is_true(W.wait_done(s))
      assert.is_true(W.closed_by_peer(a, 1))
    end)

    it("a killed server thread raises the kill; its idle connections close", function()
      local s = start(W.hello)
      local a = connect(s.port)
      assert.equal(200, exchange(a, req("GET", "/")).code)
      s.gt:kill()
      assert.is_true(W.wait_done(s) or s.gt:dead())
      assert.is_true(W.closed_by_peer(a, 1))
    end)
  end)

  describe("transports", function()
    it("serves a Unix socket; REMOTE_ADDR and SERVER_NAME are 'unix'", function()
      local dir, rm = helpers.tmpdir()
      N.defer(rm)
      local path = dir .. "/wsgi.sock"
      local l = assert(green.listen_unix(path))
      local got
      start(function(env) got = env; return 200, TEXT, "unix ok" end, nil, l)
      local c = assert(green.connect_unix(path))
      c:settimeout(5)
      N.defer(function() c:close() end)
      local r = exchange(c, req("GET", "/"))
      assert.equal("unix ok", r.body)
      assert.equal("unix", got.REMOTE_ADDR)
      assert.equal("", got.REMOTE_PORT)
      assert.equal("unix", got.SERVER_NAME)
      assert.equal("", got.SERVER_PORT)
    end)

    it("serves IPv6 (::1)", function()
      local l = green.listen("::1", 0)
      if not l then
        pending("no IPv6 loopback here")
        return
      end
      local _, port = l:getsockname()
      local got
      start(function(env) got = env; return 200, TEXT, "v6 ok" end, nil, l)
      local c = assert(green.connect("::1", port))
      c:settimeout(5)
      N.defer(function() c:close() end)
      assert.equal("v6 ok", exchange(c, req("GET", "/")).body)
      assert.equal("::1", got.REMOTE_ADDR)
      assert.equal("::1", got.SERVER_NAME)
    end)

    it("serves a wrap_ssl listener; a failed handshake only ends that connection", function()
      local T = require "spec.tls_helpers"
      local l, port = N.listener()
      assert(green.wrap_ssl(l, T.server_opts()))
      local s = start(function(env) return 200, TEXT, "tls " .. env.PATH_INFO end, nil, l)
      s.port = port
      -- plain HTTP to a TLS port: that connection fails
      local plain = connect(port)
      assert(plain:send(req("GET", "/")))
      plain:recv(100)
      -- garbage, then a silent client that just goes away
      local junk = connect(port)
      junk:send(string.rep("\22\3\1junk", 50))
      junk:close()
      -- a real TLS client is served
      for i = 1, 2 do
        local c = connect(port)
        assert(green.wrap_ssl(c, { cafile = T.certs().ca, server_hostname = "localhost" }))
        local r = exchange(c, req("GET", "/" .. i))
        assert.equal("tls /" .. i, r.body)
        assert.equal("tls /" .. i, exchange(c, req("GET", "/" .. i)).body)
      end
      assert.is_nil(s.done)
    end)
  end)

  describe("scale", function()
    it("handles 1,000 concurrent keep-alive connections", function()
      local s = start(function(env) return 200, TEXT, env.PATH_INFO end)
      local socks = {}
      N.defer(function() N.close_all(socks) end)
      for i = 1, 1000 do
        socks[i] = assert(green.connect("127.0.0.1", s.port))
        socks[i]:settimeout(10)
      end
      for round = 1, 2 do
        local done, bad = 0, 0
        local threads = {}
        for i = 1, 1000 do
          threads[i] = green.spawn(function()
            local r = exchange(socks[i], req("GET", "/" .. round .. "/" .. i))
            if r and r.body == "/" .. round .. "/" .. i then done = done + 1 else bad = bad + 1 end
          end)
        end
        for i = 1, 1000 do threads[i]:wait() end
        assert.equal(1000, done)
        assert.equal(0, bad)
      end
    end)

    it("answers 10,000 pipelined requests on one connection, in order", function()
      local s = start(function(env) return 200, TEXT, env.QUERY_STRING end, { log = false })
      local c = connect(s.port)
      c:settimeout(20)
      local writer = green.spawn(function()
        for batch = 0, 99 do
          local t = {}
          for i = 1, 100 do t[i] = req("GET", "/?" .. (batch * 100 + i)) end
          assert(c:send(table.concat(t)))
        end
      end)
      local ok = 0
      for i = 1, 10000 do
        local r = W.read_response(c)
        if not r or r.body ~= tostring(i) then break end
        ok = ok + 1
      end
      writer:wait()
      assert.equal(10000, ok)
    end)
  end)

  describe("arguments", function()
    local l
    before_each(function() l = N.listener(); N.defer(function() l:close() end) end)

    local function err_of(...)
      return helpers.error_of(wsgi.server, ...)
    end

    it("raises naming 'server' for a bad socket, app or opts", function()
      assert.matches("bad argument #1 to 'server' %(socket expected, got nil%)", err_of(nil, W.hello))
      assert.matches("bad argument #1 to 'server' %(socket expected, got table%)", err_of({}, W.hello))
      assert.matches("bad argument #2 to 'server' %(function expected, got nil%)", err_of(l))
      assert.matches("bad argument #2 to 'server' %(function expected, got string%)", err_of(l, "app"))
      assert.matches("bad argument #3 to 'server' %(table expected, got number%)", err_of(l, W.hello, 5))
    end)

    it("points the error at the caller", function()
      local err = helpers.error_of(function() wsgi.server(l) end)
      assert.matches("wsgi_spec%.lua:%d+:", err)
    end)

    it("accepts a callable table as app", function()
      local app = setmetatable({}, { __call = function() return 200, TEXT, "callable" end })
      local s = start(app)
      assert.equal("callable", W.fetch(s.port, "GET", "/").body)
    end)

    it("type-checks every option", function()
      local cases = {
        { { max_size = 0 }, "opts.max_size: must be at least 1" },
        { { max_size = "5" }, "opts.max_size: integer expected, got string" },
        { { max_size = 1.5 }, "opts.max_size: integer expected" },
        { { keepalive = "yes" }, "opts.keepalive: boolean or non%-negative number expected, got string" },
        { { keepalive = -1 }, "opts.keepalive: boolean or non%-negative number expected, got %-1" },
        { { socket_timeout = 0 }, "opts.socket_timeout: positive number or false expected" },
        { { socket_timeout = "1" }, "opts.socket_timeout: positive number or false expected, got string" },
        { { header_timeout = 0 / 0 }, "opts.header_timeout: positive number or false expected" },
        { { url_length_limit = 0 }, "opts.url_length_limit: must be at least 1" },
        { { max_header_line = {} }, "opts.max_header_line: integer expected, got table" },
        { { max_headers_size = true }, "opts.max_headers_size: integer expected, got boolean" },
        { { max_headers = -3 }, "opts.max_headers: must be at least 1" },
        { { max_body_size = -1 }, "opts.max_body_size: must be at least 0" },
        { { max_discard = "1" }, "opts.max_discard: integer expected" },
        { { minimum_chunk_size = 0 }, "opts.minimum_chunk_size: must be at least 1" },
        { { log = 5 }, "opts.log: false or an object with a write method expected, got number" },
        { { log = {} }, "opts.log: false or an object with a write method expected, got table" },
        { { log = true }, "opts.log: false or an object with a write method expected, got boolean" },
        { { log_format = "%s" }, "opts.log_format: function expected, got string" },
        { { log_x_forwarded_for = 1 }, "opts.log_x_forwarded_for: boolean expected, got number" },
        { { debug = "yes" }, "opts.debug: boolean expected, got string" },
        { { capitalize_response_headers = 0 }, "opts.capitalize_response_headers: boolean expected" },
        { { server_name = 1 }, "opts.server_name: string expected, got number" },
        { { server_port = 70000 }, "opts.server_port: port out of range" },
        { { server_port = {} }, "opts.server_port: integer or string expected, got table" },
        { { keep_alive = true }, "unknown option 'keep_alive'" },
      }
      for _, case in ipairs(cases) do
        local err = err_of(l, W.hello, case[1])
        assert.matches("bad argument #3 to 'server' %(" .. case[2], err)
      end
    end)

    it("format_date_time(t): RFC 7231 dates, fractions truncated; bad arguments raise", function()
      assert.equal("Thu, 01 Jan 1970 00:00:00 GMT", wsgi.format_date_time(0))
      assert.equal("Tue, 01 Dec 2026 23:14:23 GMT", wsgi.format_date_time(1796166863.99))
      assert.equal(wsgi.format_date_time(os.time()), green.wsgi.format_date_time(os.time()))
      assert.matches("bad argument #1 to 'format_date_time' %(number expected, got string%)",
        helpers.error_of(wsgi.format_date_time, "now"))
      assert.matches("bad argument #1 to 'format_date_time' %(number expected, got nil%)",
        helpers.error_of(wsgi.format_date_time))
      assert.matches("bad argument #1 to 'format_date_time' %(number expected, got NaN%)",
        helpers.error_of(wsgi.format_date_time, 0 / 0))
      for _, t in ipairs({ 1e20, -1e20, math.huge, -math.huge }) do
        assert.matches("bad argument #1 to 'format_date_time' %(time out of range",
          helpers.error_of(wsgi.format_date_time, t))
      end
      assert.equal("Fri, 31 Dec 9999 23:59:59 GMT", wsgi.format_date_time(253402300799))
    end)
  end)
end)
