-- green.http.request over https: verification on by default (the system
-- store and the URL's host), cafile, server_hostname, verify = "none", the
-- pool keyed by the TLS options, redirects between schemes. The servers are
-- the Python fixture (spec/servers/http_fixture.py) wrapped with Python's
-- ssl module, using a local CA and certificates made with openssl
-- (spec/tls_helpers.lua). 127.0.0.1 only.
local green = require "green"
local http = require "green.http"
local helpers = require "spec.helpers"
local T = require "spec.tls_helpers"

local start_fixture = require("spec.http_helpers").start_fixture

-- A server certificate signed by the test CA that names only "localhost"
-- (no IP address): https://127.0.0.1 must then fail, by the URL's host.
local function localhost_only_cert(c)
  local ext = c.dir .. "/only_localhost.ext"
  helpers.write(ext, "basicConstraints = critical,CA:FALSE\n"
    .. "keyUsage = critical,digitalSignature,keyEncipherment\n"
    .. "extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost\n")
  local cert, key = c.dir .. "/only_localhost.pem", c.dir .. "/only_localhost.key"
  local cmds = {
    ("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -config %s "
      .. "-subj '/CN=localhost' -keyout %s -out %s/only_localhost.csr"):format(c.cnf, key, c.dir),
    ("openssl x509 -req -in %s/only_localhost.csr -CA %s -CAkey %s -CAcreateserial -days 2 "
      .. "-extfile %s -out %s"):format(c.dir, c.ca, c.ca_key, ext, cert),
  }
  for _, cmd in ipairs(cmds) do
    assert(os.execute(("timeout 20 sh -c %s >>%s/gen.log 2>&1"):format(T.q(cmd), c.dir)), cmd)
  end
  return cert, key
end

describe("green.http.request over https", function()
  local c, signed, sport, self_signed, selfport, only, onlyport, plain, plainport
  setup(function()
    c = T.certs()
    signed, sport = start_fixture(("--cert %s --key %s"):format(c.server, c.server_key))
    self_signed, selfport = start_fixture(("--cert %s --key %s"):format(c.self, c.self_key))
    local cert, key = localhost_only_cert(c)
    only, onlyport = start_fixture(("--cert %s --key %s"):format(cert, key))
    plain, plainport = start_fixture()
  end)
  teardown(function()
    for _, h in ipairs({ signed, self_signed, only, plain }) do h:stop() end
  end)
  after_each(T.run_deferred)

  it("verifies by default: a server the system store does not know fails", function()
    local r, err = http.request("https://localhost:" .. sport .. "/hello")
    assert.is_nil(r)
    assert.matches("verif", err)
  end)

  it("succeeds with the CA as cafile, by name and by IP address", function()
    for _, host in ipairs({ "localhost", "127.0.0.1" }) do
      local body, code, h, status = http.request{ url = "https://" .. host .. ":" .. sport .. "/hello",
        cafile = c.ca }
      assert.equal("hello", body)
      assert.equal(200, code)
      assert.equal("5", h["content-length"])
      assert.equal("HTTP/1.1 200 OK", status)
    end
  end)

  it("checks the URL's host: a certificate for localhost fails at 127.0.0.1", function()
    local body = http.request{ url = "https://localhost:" .. onlyport .. "/hello", cafile = c.ca }
    assert.equal("hello", body)
    local r, err = http.request{ url = "https://127.0.0.1:" .. onlyport .. "/hello", cafile = c.ca }
    assert.is_nil(r)
    assert.is_string(err)
  end)

  it("server_hostname names the host to check instead", function()
    local body = http.request{ url = "https://127.0.0.1:" .. onlyport .. "/hello", cafile = c.ca,
      server_hostname = "localhost" }
    assert.equal("hello", body)
    local r, err = http.request{ url = "https://localhost:" .. sport .. "/hello", cafile = c.ca,
      server_hostname = "wrong.example" }
    assert.is_nil(r)
    assert.is_string(err)
  end)

  it("a self-signed server fails with the CA of another, and without any", function()
    local r, err = http.request{ url = "https://localhost:" .. selfport .. "/hello", cafile = c.ca }
    assert.is_nil(r)
    assert.matches("verif", err)
    r, err = http.request("https://localhost:" .. selfport .. "/hello")
    assert.is_nil(r)
    assert.matches("verif", err)
  end)

  it('verify = "none" accepts it', function()
    local body, code = http.request{ url = "https://localhost:" .. selfport .. "/hello", verify = "none" }
    assert.equal("hello", body)
    assert.equal(200, code)
  end)

  it("sends the body and gets a chunked answer over TLS", function()
    local body = http.request{ url = "https://localhost:" .. sport .. "/echo", cafile = c.ca,
      method = "POST", source = function() return nil end }
    assert.matches("FRAMING chunked", body, 1, true)
    local t = {}
    local r = http.request{ url = "https://localhost:" .. sport .. "/chunked?parts=x,y,z", cafile = c.ca,
      sink = function(chunk) if chunk then t[#t + 1] = chunk end return 1 end }
    assert.equal(1, r)
    assert.equal("xyz", table.concat(t))
  end)

  it("keeps TLS connections alive, per TLS options", function()
    local url = "https://localhost:" .. sport .. "/hello"
    local _, _, a = http.request{ url = url, cafile = c.ca }
    local _, _, b = http.request{ url = url, cafile = c.ca }
    assert.equal(a["x-conn"], b["x-conn"])
    -- another option set never gets a connection made under this one
    local _, _, n = http.request{ url = url, verify = "none" }
    assert.are_not.equal(a["x-conn"], n["x-conn"])
    local _, _, s = http.request{ url = url, cafile = c.ca, server_hostname = "localhost" }
    assert.are_not.equal(a["x-conn"], s["x-conn"])
    assert.are_not.equal(n["x-conn"], s["x-conn"])
    local _, _, again = http.request{ url = url, cafile = c.ca }
    assert.equal(a["x-conn"], again["x-conn"])
    -- and each option set reuses its own
    local _, _, n2 = http.request{ url = url, verify = "none" }
    assert.equal(n["x-conn"], n2["x-conn"])
  end)

  it("a failed verification leaves no connection to reuse", function()
    local url = "https://localhost:" .. selfport .. "/hello"
    assert.is_nil((http.request(url)))
    assert.is_nil((http.request(url)))   -- it verifies again, from scratch
  end)

  it("times out a server that never finishes the handshake", function()
    local l = assert(green.listen("127.0.0.1", 0))
    local _, p = l:getsockname()
    T.defer(function() l:close() end)
    local t0 = green.now()
    local r, err = http.request{ url = "https://127.0.0.1:" .. p .. "/", cafile = c.ca, timeout = 0.5 }
    assert.is_nil(r)
    assert.equal("timeout", err)
    assert.is_true(green.now() - t0 < 3)
  end)

  it("follows https to https on another origin, verifying it the same way", function()
    local to = "https://127.0.0.1:" .. sport .. "/hello"
    local body, code = http.request{ url = "https://localhost:" .. sport .. "/redirect?to=" .. to,
      cafile = c.ca }
    assert.equal(200, code)
    assert.equal("hello", body)
    -- to a server whose certificate the CA did not sign: the redirect fails
    local r, err = http.request{ url = "https://localhost:" .. sport .. "/redirect?to=https://localhost:"
      .. selfport .. "/hello", cafile = c.ca }
    assert.is_nil(r)
    assert.matches("verif", err)
  end)

  it("does not follow https to http (a downgrade)", function()
    local to = "http://127.0.0.1:" .. plainport .. "/hello"
    local body, code, h = http.request{ url = "https://localhost:" .. sport .. "/redirect?to=" .. to,
      cafile = c.ca }
    assert.equal(302, code)
    assert.equal("moved\n", body)
    assert.equal(to, h.location)
  end)

  it("follows http to https", function()
    local to = "https://localhost:" .. sport .. "/hello"
    local body, code = http.request{ url = "http://127.0.0.1:" .. plainport .. "/redirect?to=" .. to,
      cafile = c.ca }
    assert.equal(200, code)
    assert.equal("hello", body)
  end)
end)
