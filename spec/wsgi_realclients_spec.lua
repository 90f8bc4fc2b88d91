-- green.wsgi.server against the clients users use: curl (keep-alive
-- reuse, chunked uploads, HTTP/1.0, 100-continue), Debian's python3
-- (http.client, urllib) and a short wrk run. os.execute would block the
-- whole process (the server too), so every client runs in the background
-- under `timeout` (spec/tls_helpers.lua's bg) and is polled. 127.0.0.1 only.
local green = require "green"
local helpers = require "spec.helpers"
local T = require "spec.tls_helpers"
local W = require "spec.wsgi_helpers"

local q = T.q
local PY = "/usr/bin/python3"

local TEXT = { ["Content-Type"] = "text/plain" }

-- The app every client talks to: a few routes.
local function app(env)
  local path = env.PATH_INFO
  if path == "/echo" then
    local body = env.input:read("*a")
    return 200, TEXT, ("%s %s %s te=%s len=%d body=%s"):format(env.REQUEST_METHOD,
      env.SERVER_PROTOCOL, env.QUERY_STRING, env.HTTP_TRANSFER_ENCODING or "-", #body, body)
  elseif path == "/stream" then
    local i = 0
    return 200, TEXT, function()
      i = i + 1
      if i <= 5 then return "part" .. i .. ";" end
    end
  elseif path == "/big" then
    return 200, TEXT, string.rep("0123456789", 100000)
  end
  return 200, TEXT, "Hello, World!"
end

local function run(cmd, limit)
  local h = T.bg(cmd)
  W.defer(function() h:stop() end)
  local rc = h:wait(limit or 15)
  return h, rc
end

local function when(tool, name, fn)
  if T.have(tool) then it(name, fn) else pending(name .. " (" .. tool .. " is not installed)") end
end

describe("green.wsgi.server with real clients", function()
  after_each(W.run_deferred)

  local s, base
  before_each(function()
    s = W.start(app)
    base = "http://127.0.0.1:" .. s.port
  end)

  describe("curl", function()
    when("curl", "reuses one keep-alive connection for several URLs (num_connects 1, then 0)", function()
      local h, rc = run(("timeout 10 curl -s -w '%%{num_connects} %%{http_code}\\n' -o /dev/null %s -o /dev/null %s -o /dev/null %s")
        :format(q(base .. "/a"), q(base .. "/b"), q(base .. "/c")))
      assert.equal(0, rc, h:describe())
      assert.equal("1 200\n0 200\n0 200\n", h:out())
    end)

    when("curl", "uploads a chunked body from stdin (-T -)", function()
      local dir, rm = helpers.tmpdir()
      W.defer(rm)
      helpers.write(dir .. "/in", "hello chunked world")
      local h, rc = run(("timeout 10 curl -s -T - %s < %s"):format(q(base .. "/echo?x=1"), q(dir .. "/in")))
      assert.equal(0, rc, h:describe())
      assert.equal("PUT HTTP/1.1 x=1 te=chunked len=19 body=hello chunked world", h:out())
    end)

    when("curl", "posts a chunked body (-H 'Transfer-Encoding: chunked')", function()
      local h, rc = run(("timeout 10 curl -s -H 'Transfer-Encoding: chunked' --data-binary 'a=1&b=2' %s")
        :format(q(base .. "/echo")))
      assert.equal(0, rc, h:describe())
      assert.equal("POST HTTP/1.1  te=chunked len=7 body=a=1&b=2", h:out())
    end)

    when("curl", "sends a body after the server's 100 Continue (no wait for the timeout)", function()
      local dir, rm = helpers.tmpdir()
      W.defer(rm)
      helpers.write(dir .. "/in", string.rep("e", 10000))
      local h, rc = run(("timeout 10 curl -s -H 'Expect: 100-continue' --expect100-timeout 30 "
        .. "--data-binary @%s -w ' %%{time_total}' %s"):format(q(dir .. "/in"), q(base .. "/echo")))
      assert.equal(0, rc, h:describe())
      local out, t = h:out():match("^(.*) ([%d.]+)$")
      assert.equal("POST HTTP/1.1  te=- len=10000 body=" .. string.rep("e", 10000), out)
      assert.truthy(tonumber(t) < 10, "curl waited for its expect timeout")
    end)

    when("curl", "talks HTTP/1.0 (--http1.0): served, then the connection closes", function()
      local h, rc = run(("timeout 10 curl -s --http1.0 -w ' %%{num_connects}' %s %s")
        :format(q(base .. "/echo"), q(base .. "/echo")))
      assert.equal(0, rc, h:describe())
      -- two connections: 1.0 without keep-alive closes after each response
      assert.equal("GET HTTP/1.0  te=- len=0 body= 1GET HTTP/1.0  te=- len=0 body= 1", h:out())
    end)

    when("curl", "reads a streamed (chunked) response and a large one", function()
      local h, rc = run(("timeout 10 curl -s %s && timeout 10 curl -s -w '|%%{size_download}' -o /dev/null %s")
        :format(q(base .. "/stream"), q(base .. "/big")))
      assert.equal(0, rc, h:describe())
      assert.equal("part1;part2;part3;part4;part5;|1000000", h:out())
    end)

    when("curl", "HEAD (-I) gets the headers only", function()
      local h, rc = run(("timeout 10 curl -s -I %s"):format(q(base .. "/")))
      assert.equal(0, rc, h:describe())
      assert.matches("^HTTP/1%.1 200 OK\r\n", h:out())
      assert.matches("\r\nContent%-Length: 13\r\n", h:out())
    end)
  end)

  describe("python3", function()
    local function python(code)
      local dir, rm = helpers.tmpdir()
      W.defer(rm)
      helpers.write(dir .. "/client.py", code)
      return run(("timeout 15 %s %s %d"):format(PY, q(dir .. "/client.py"), s.port), 20)
    end

    when(PY, "http.client: keep-alive requests on one connection, chunked response, POST", function()
      local h, rc = python([[
import http.client, sys
port = int(sys.argv[1])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
socks = []
for path in ["/", "/stream", "/"]:
    c.request("GET", path)
    r = c.getresponse()
    print(r.status, r.getheader("Transfer-Encoding"), r.read().decode())
    socks.append(id(c.sock))
c.request("POST", "/echo?p=1", body=b"form=data", headers={"Content-Type": "application/x-www-form-urlencoded"})
r = c.getresponse()
print(r.status, r.read().decode())
socks.append(id(c.sock))
print("one connection" if len(set(socks)) == 1 else "reconnected")
]])
      assert.equal(0, rc, h:describe())
      assert.equal(table.concat({
        "200 None Hello, World!",
        "200 chunked part1;part2;part3;part4;part5;",
        "200 None Hello, World!",
        "200 POST HTTP/1.1 p=1 te=- len=9 body=form=data",
        "one connection", "" }, "\n"), h:out())
    end)

    when(PY, "http.client: a chunked upload (encode_chunked)", function()
      local h, rc = python([[
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("POST", "/echo", body=iter([b"abc", b"defg"]), encode_chunked=True)
r = c.getresponse()
print(r.status, r.read().decode())
]])
      assert.equal(0, rc, h:describe())
      assert.equal("200 POST HTTP/1.1  te=chunked len=7 body=abcdefg\n", h:out())
    end)

    when(PY, "urllib: GET and a form POST", function()
      local h, rc = python([[
import urllib.request, sys
base = "http://127.0.0.1:%s" % sys.argv[1]
with urllib.request.urlopen(base + "/", timeout=10) as r:
    print(r.status, r.headers["Content-Type"], r.read().decode())
with urllib.request.urlopen(base + "/echo", data=b"x=1&y=2", timeout=10) as r:
    print(r.status, r.read().decode())
with urllib.request.urlopen(base + "/big", timeout=10) as r:
    print(r.status, len(r.read()))
]])
      assert.equal(0, rc, h:describe())
      assert.equal(table.concat({
        "200 text/plain Hello, World!",
        "200 POST HTTP/1.1  te=- len=7 body=x=1&y=2",
        "200 1000000", "" }, "\n"), h:out())
    end)
  end)

  describe("wrk", function()
    when("wrk", "a short keep-alive load: every response a 200, no socket errors", function()
      local quiet = W.start(W.hello, { log = false })
      local h, rc = run(("timeout 20 wrk -t1 -c20 -d1s http://127.0.0.1:%d/"):format(quiet.port), 25)
      assert.equal(0, rc, h:describe())
      local out = h:out()
      local total = tonumber(out:match("(%d+) requests in"))
      assert.truthy(total and total > 0, out)
      assert.is_nil(out:find("Socket errors", 1, true), out)
      assert.is_nil(out:find("Non-2xx", 1, true), out)
      -- the server still answers afterwards
      assert.equal("Hello, World!", W.fetch(quiet.port, "GET", "/").body)
    end)
  end)
end)
