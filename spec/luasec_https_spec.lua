-- green.luasec_https: ssl.https (socket.http's API over TLS, Debian's own
-- socket.http underneath), which VERIFIES by default, unlike LuaSec's:
-- the chain against the system store (or cafile/capath) and the URL's host.
-- Servers: `openssl s_server -www` in another process, and green HTTPS
-- servers in this one (the client is green: green.connect + wrap_ssl).
local green = require "green"
local helpers = require "spec.helpers"
local T = require "spec.tls_helpers"
local https = require "green.luasec_https"
local ltn12 = require "ltn12"

local C = T.certs()

-- A certificate signed by the test CA for "other.example" only.
local function other_cert()
  local dir = C.dir
  local key, pem = dir .. "/other.key", dir .. "/other.pem"
  if T.slurp(pem) then return pem, key end
  helpers.write(dir .. "/other.cnf", "[v3]\nbasicConstraints = critical,CA:FALSE\n"
    .. "subjectAltName = DNS:other.example\n")
  local cmds = {
    ("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -config %s "
      .. "-subj '/CN=other.example' -keyout %s -out %s/other.csr"):format(C.cnf, key, dir),
    ("openssl x509 -req -in %s/other.csr -CA %s -CAkey %s -CAcreateserial -days 2 "
      .. "-extfile %s/other.cnf -extensions v3 -out %s"):format(dir, C.ca, C.ca_key, dir, pem),
  }
  for _, cmd in ipairs(cmds) do
    assert(os.execute(("timeout 20 sh -c %s >/dev/null 2>&1"):format(T.q(cmd))), cmd)
  end
  return pem, key
end

-- openssl s_server -www on a free port with cert/key; returns the port.
local function s_server(cert, key)
  local port = T.free_port()
  local h = T.bg(("timeout 60 openssl s_server -accept 127.0.0.1:%d -cert %s -key %s -www -quiet")
    :format(port, cert, key))
  T.defer(function() h:stop() end)
  local probe = assert(T.connect_retry(port, 10), "s_server did not start: " .. h:describe())
  probe:close()
  return port
end

-- A green HTTPS server: answers every request with its method, path and
-- body, after `delay` seconds. Returns the port.
local function green_server(delay)
  local l, port = T.tls_server(T.server_opts(), function(c)
    c:settimeout(10)
    local line = c:receive("*l")
    if not line then return end
    local len = 0
    for _ = 1, 100 do
      local h = c:receive("*l")
      if not h or h == "" then break end
      local n = h:lower():match("^content%-length:%s*(%d+)")
      if n then len = tonumber(n) end
    end
    local body = len > 0 and c:receive(len) or ""
    if delay then green.sleep(delay) end
    local reply = line:match("^(%S+ %S+)") .. "|" .. body
    c:send(("HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s"):format(#reply, reply))
  end)
  T.defer(function() l:close() end)
  return port
end

describe("ssl.https (green.luasec_https)", function()
  after_each(function() T.run_deferred() end)

  it("has LuaSec's https fields", function()
    assert.equal(443, https.PORT)
    assert.equal(60, https.TIMEOUT)
    assert.is_function(https.request)
    assert.is_function(https.tcp)
  end)

  it("verifies by default: a CA the system store does not know fails", function()
    local port = s_server(C.server, C.server_key)
    local body, err = https.request(("https://localhost:%d/"):format(port))
    assert.is_nil(body)
    assert.equal("certificate verify failed", err)
  end)

  it("succeeds with the CA given, by name and by IP address (IP SAN)", function()
    local port = s_server(C.server, C.server_key)
    for _, host in ipairs({ "localhost", "127.0.0.1" }) do
      local t = {}
      local one, code = https.request({ url = ("https://%s:%d/"):format(host, port), cafile = C.ca,
        sink = ltn12.sink.table(t) })
      assert.equal(1, one, code)
      assert.equal(200, code)
      assert.matches("s_server", table.concat(t))
    end
  end)

  it("checks the host name: a valid certificate for another name fails", function()
    local pem, key = other_cert()
    local port = s_server(pem, key)
    local one, err = https.request({ url = ("https://localhost:%d/"):format(port), cafile = C.ca,
      sink = ltn12.sink.table({}) })
    assert.is_nil(one)
    assert.equal("certificate verify failed", err)
    -- verify = "peer" keeps the name check here (https is always about a host)
    one, err = https.request({ url = ("https://localhost:%d/"):format(port), cafile = C.ca,
      verify = "peer", sink = ltn12.sink.table({}) })
    assert.is_nil(one)
    assert.equal("certificate verify failed", err)
  end)

  it("verify = \"none\" turns verification off, as LuaSec's params do", function()
    local pem, key = other_cert()
    local port = s_server(pem, key)
    local one, code = https.request({ url = ("https://localhost:%d/"):format(port), verify = "none",
      sink = ltn12.sink.table({}) })
    assert.equal(1, one)
    assert.equal(200, code)
  end)

  it("LuaSec's own ssl.https, by contrast, accepts the unknown CA (it does not verify)", function()
    local port = s_server(C.server, C.server_key)
    local p = io.popen(("timeout 20 lua5.4 -e %s 2>&1"):format(T.q(([[
      local https = require "ssl.https"
      local b, c = https.request("https://localhost:%d/")
      print(c)
    ]]):format(port))))
    local out = p:read("a")
    p:close()
    assert.equal("200\n", out)
  end)

  it("Debian's socket.http uses it for https:// URLs (through ssl.https)", function()
    local port = s_server(C.server, C.server_key)
    local saved = package.loaded["ssl.https"]
    package.loaded["ssl.https"] = https  -- what green.patch's preload gives
    local http = require "socket.http"
    local ok, b, err = pcall(http.request, ("https://localhost:%d/"):format(port))
    package.loaded["ssl.https"] = saved
    assert.is_true(ok, b)
    assert.is_nil(b)
    assert.equal("certificate verify failed", err)
  end)

  it("string form with a body POSTs it; the table form returns 1", function()
    local port = green_server()
    local url = ("https://localhost:%d/x"):format(port)
    -- the server's certificate is signed by the test CA: give it
    local t = {}
    local one, code, headers = https.request({ url = url, method = "POST", cafile = C.ca,
      source = ltn12.source.string("hello"), headers = { ["content-length"] = 5 },
      sink = ltn12.sink.table(t) })
    assert.equal(1, one)
    assert.equal(200, code)
    assert.equal("13", headers["content-length"])
    assert.equal("POST /x|hello", table.concat(t))
    assert.same({ nil, "certificate verify failed", nil, nil }, { https.request(url, "a=1") })
  end)

  it("runs green: 20 requests to a server that waits 0.2 s each finish together", function()
    local port = green_server(0.2)
    local url = ("https://localhost:%d/p"):format(port)
    local results = {}
    local t0 = green.now()
    local threads = {}
    for i = 1, 20 do
      threads[i] = green.spawn(function()
        local t = {}
        local one, code = https.request({ url = url, cafile = C.ca, sink = ltn12.sink.table(t) })
        results[i] = one and code == 200 and table.concat(t) == "GET /p|"
      end)
    end
    for i = 1, 20 do threads[i]:wait() end
    local elapsed = green.now() - t0
    for i = 1, 20 do assert.is_true(results[i], "request " .. i) end
    assert.is_true(elapsed < 20 * 0.2 / 2, "took " .. elapsed)
  end)

  it("refuses proxies and a create function, as LuaSec does", function()
    assert.same({ nil, "proxy not supported" },
      { https.request({ url = "https://localhost:1/", proxy = "http://127.0.0.1:1" }) })
    assert.same({ nil, "create function not permitted" },
      { https.request({ url = "https://localhost:1/", create = function() end }) })
    assert.error_matches(function() https.request(5) end, "string or table expected")
  end)
end)
