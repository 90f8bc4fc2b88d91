-- TLS against real peers: openssl s_client, Python's ssl module and curl
-- against green servers; green clients against openssl s_server. The
-- external tools run in the background under `timeout` (spec/tls_helpers.lua)
-- and are polled with green.sleep, so the hub never blocks.
local green = require "green"
local helpers = require "spec.helpers"
local T = require "spec.tls_helpers"

local C = T.certs()
local have_openssl = T.have("openssl")
local have_python = T.have("python3")
local have_curl = T.have("curl")

local it_openssl = have_openssl and it or pending
local it_python = have_python and it or pending
local it_curl = have_curl and it or pending

local function trusting(extra)
  local o = { cafile = C.ca, server_hostname = "localhost" }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- A green TLS echo server (spec/tls_helpers.lua: "bye" ends a connection)
-- whose log also records each connection's ALPN protocol.
local function echo_server(opts)
  local log = {}
  local l, port = T.tls_server(opts or T.server_opts(), function(client)
    client:settimeout(10)
    local ok, err = client:handshake()
    local entry = { ok = ok and true or false, err = err, alpn = ok and client:alpn() or nil }
    log[#log + 1] = entry
    if not ok then return end
    for _ = 1, 10000 do
      local line = client:receive("*l")
      if not line then return end
      if not client:send(line .. "\n") then return end
      if line == "bye" then return end
    end
  end)
  T.defer(function() l:close() end)
  return port, log
end

-- Start `openssl s_server ARGS` on a free 127.0.0.1 port for one connection
-- (bounded by timeout). stdin_cmd: a shell pipeline for its stdin (it must
-- stay open while the connection lives: s_server ends at end of input).
-- Returns the port and the background handle.
local function s_server(args, stdin_cmd, cwd)
  local port = T.free_port()
  local cmd = ("timeout 10 openssl s_server -accept 127.0.0.1:%d -naccept 1 %s"):format(port, args)
  if cwd then cmd = ("cd %s && %s"):format(T.q(cwd), cmd) end
  local h = T.bg(cmd, stdin_cmd or "sleep 8")
  T.defer(function() h:stop() end)
  return port, h
end

-- A green TLS client of the s_server on `port` (retrying while it starts).
local function connect_tls(port, opts)
  local s, err = T.connect_retry(port, 5)
  if not s then return nil, err end
  s:settimeout(5)
  return green.wrap_ssl(s, opts)
end

local function server_args(extra)
  return ("-cert %s -key %s %s"):format(C.server, C.server_key, extra or "")
end

describe("real TLS clients against a green server", function()
  after_each(T.run_deferred)

  it_openssl("openssl s_client (CAfile, servername, verify_return_error) round-trips lines", function()
    local port, log = echo_server()
    local cli = T.bg(("timeout 10 openssl s_client -connect 127.0.0.1:%d -CAfile %s "
      .. "-servername localhost -verify_return_error -quiet"):format(port, C.ca),
      "printf 'hello from s_client\\nsecond line\\nbye\\n'; sleep 5")
    T.defer(function() cli:stop() end)
    assert.is_true(cli:wait_output("bye\n", 8), cli:describe())
    assert.equal("hello from s_client\nsecond line\nbye\n", cli:out())
    assert.is_true(log[1].ok, log[1].err)
  end)

  it_openssl("openssl s_client -alpn http/1.1 negotiates it with a green server", function()
    local port, log = echo_server(T.server_opts({ alpn = { "h2", "http/1.1" } }))
    local cli = T.bg(("timeout 10 openssl s_client -connect 127.0.0.1:%d -CAfile %s "
      .. "-servername localhost -alpn http/1.1 -verify_return_error"):format(port, C.ca),
      "sleep 0.5; printf 'alpn\\nbye\\n'; sleep 5")
    T.defer(function() cli:stop() end)
    assert.is_true(cli:wait_output("bye\n", 8), cli:describe())
    assert.matches("ALPN protocol: http/1.1", cli:out(), 1, true)
    assert.equal("http/1.1", log[1].alpn)
  end)

  it_openssl("openssl s_client without the CA fails verification; the server sees nil, err", function()
    local port, log = echo_server()
    local cli = T.bg(("timeout 10 openssl s_client -connect 127.0.0.1:%d -servername localhost "
      .. "-verify_return_error -quiet"):format(port), "printf 'hello\\n'; sleep 5")
    T.defer(function() cli:stop() end)
    assert.is_not_nil(cli:wait(8), "s_client did not end")
    assert.not_equal(0, cli.rc)
    assert.is_nil(cli:out():find("hello", 1, true))
    assert.is_true(helpers.wait_until(function() return #log >= 1 end, 2))
    assert.is_false(log[1].ok)
    assert.is_string(log[1].err)
  end)

  it_openssl("openssl s_client with a client certificate passes a mutual-TLS green server", function()
    local port, log = echo_server(T.server_opts({ verify = "peer", cafile = C.ca }))
    local cli = T.bg(("timeout 10 openssl s_client -connect 127.0.0.1:%d -CAfile %s "
      .. "-servername localhost -verify_return_error -quiet -cert %s -key %s")
      :format(port, C.ca, C.client, C.client_key), "printf 'mutual\\nbye\\n'; sleep 5")
    T.defer(function() cli:stop() end)
    assert.is_true(cli:wait_output("bye\n", 8), cli:describe())
    assert.equal("mutual\nbye\n", cli:out())
    assert.is_true(log[1].ok, log[1].err)
  end)

  it_python("Python's ssl module (create_default_context(cafile=...)) round-trips a line", function()
    local port, log = echo_server(T.server_opts({ alpn = { "http/1.1" } }))
    local script = C.dir .. "/client_echo.py"
    helpers.write(script, [[
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.set_alpn_protocols(["h2", "http/1.1"])
with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=5) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(b"hello from python\nbye\n")
        data = b""
        while not data.endswith(b"bye\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        print("VERSION", s.version())
        print("ALPN", s.selected_alpn_protocol())
        sys.stdout.write(data.decode())
]])
    local py = T.bg(("timeout 10 python3 %s %s %d"):format(script, C.ca, port))
    T.defer(function() py:stop() end)
    assert.equal(0, py:wait(8), py:describe())
    local out = py:out()
    assert.matches("hello from python\nbye\n", out, 1, true)
    assert.matches("ALPN http/1.1", out, 1, true)
    local version = out:match("VERSION (%S+)")
    assert.is_truthy(version == "TLSv1.2" or version == "TLSv1.3", out)
    assert.is_true(log[1].ok, log[1].err)
    assert.equal("http/1.1", log[1].alpn)
  end)

  it_python("Python sends and receives 2 MB through a green server; close_notify ends its read", function()
    local n = 2 * 1024 * 1024
    local function pattern(len)
      local block = {}
      for i = 0, 250 do block[#block + 1] = string.char(i) end
      block = table.concat(block)
      return block:rep(len // #block + 1):sub(1, len)
    end
    local expected = pattern(n)
    local seen = {}
    local l, port = T.tls_server(T.server_opts(), function(client)
      client:settimeout(10)
      local data, err = client:receive(n)
      seen.ok = data == expected
      seen.len = data and #data or 0
      seen.err = err
      if not data then return end
      client:send(data)  -- back, then close (close_notify)
    end)
    T.defer(function() l:close() end)
    local script = C.dir .. "/client_big.py"
    helpers.write(script, [[
import socket, ssl, sys
n = int(sys.argv[3])
payload = (bytes(range(251)) * (n // 251 + 1))[:n]
ctx = ssl.create_default_context(cafile=sys.argv[1])
with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10) as raw:
    # suppress_ragged_eofs=False: an EOF without close_notify raises
    with ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False) as s:
        s.sendall(payload)
        got = bytearray()
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    print("CLEAN EOF")
                    break
                got += chunk
        except ssl.SSLEOFError as e:
            print("RAGGED EOF", e)
        print("SAME" if bytes(got) == payload else "DIFFERENT %d" % len(got))
]])
    local py = T.bg(("timeout 10 python3 %s %s %d %d"):format(script, C.ca, port, n))
    T.defer(function() py:stop() end)
    assert.equal(0, py:wait(9), py:describe())
    assert.is_true(seen.ok, ("server got %s bytes, err %s"):format(seen.len, tostring(seen.err)))
    assert.matches("SAME", py:out(), 1, true)
    assert.matches("CLEAN EOF", py:out(), 1, true)
  end)

  it_curl("curl --cacert fetches a page from a tiny green HTTPS responder", function()
    local seen = {}
    local body = "hello from a green HTTPS server\n"
    local l, port = T.tls_server(T.server_opts({ alpn = { "http/1.1" } }), function(client)
      client:settimeout(5)
      local head = {}
      for _ = 1, 100 do
        local line, err = client:receive("*l")
        if not line then seen.err = err; return end
        if line == "" then break end
        head[#head + 1] = line
      end
      seen.request = head[1]
      seen.alpn = client:alpn()
      client:send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " .. #body
        .. "\r\nConnection: close\r\n\r\n" .. body)
    end)
    T.defer(function() l:close() end)
    local cmd = ("timeout 10 curl -sS --max-time 8 --cacert %s --resolve localhost:%d:127.0.0.1 "
      .. "https://localhost:%d/hello"):format(C.ca, port, port)
    local curl = T.bg(cmd)
    T.defer(function() curl:stop() end)
    assert.equal(0, curl:wait(9), curl:describe())
    assert.equal(body, curl:out())
    assert.equal("GET /hello HTTP/1.1", seen.request, seen.err)
    assert.equal("http/1.1", seen.alpn)
  end)

  it_curl("curl without the CA refuses the green server (exit 60); the server sees nil, err", function()
    local seen = {}
    local l, port = T.tls_server(T.server_opts(), function(client)
      client:settimeout(5)
      seen.result = table.pack(client:handshake())
    end)
    T.defer(function() l:close() end)
    local curl = T.bg(("timeout 10 curl -sS --max-time 8 --resolve localhost:%d:127.0.0.1 "
      .. "https://localhost:%d/"):format(port, port))
    T.defer(function() curl:stop() end)
    assert.equal(60, curl:wait(9), curl:describe())
    assert.is_true(helpers.wait_until(function() return seen.result ~= nil end, 2))
    assert.is_nil(seen.result[1])
    assert.is_string(seen.result[2])
  end)
end)

describe("a green TLS client against openssl s_server", function()
  after_each(T.run_deferred)

  it_openssl("s_server -rev: lines come back reversed", function()
    local port, srv = s_server(server_args("-rev"))
    local c, err = connect_tls(port, trusting())
    assert.is_truthy(c, tostring(err) .. "\n" .. srv:describe())
    T.defer(function() c:close() end)
    assert(c:send("hello world\n"))
    assert.equal("dlrow olleh", c:receive())
    assert(c:send("green\n"))
    assert.equal("neerg", c:receive())
  end)

  it_openssl("s_server -www answers an HTTP GET with its status page", function()
    local port, srv = s_server(server_args("-www"))
    local c, err = connect_tls(port, trusting())
    assert.is_truthy(c, tostring(err) .. "\n" .. srv:describe())
    T.defer(function() c:close() end)
    assert(c:send("GET / HTTP/1.0\r\n\r\n"))
    local page, perr = c:receive("*a")
    assert.is_truthy(page, perr)
    assert.matches("^HTTP/1%.0 200 ok\r\n", page)
    assert.matches("s_server", page, 1, true)
    assert.matches("</BODY></HTML>", page, 1, true)
  end)

  it_openssl("s_server -WWW serves a 3 MB file: exact bytes", function()
    local dir, cleanup = helpers.tmpdir()
    T.defer(cleanup)
    local data = T.payload(3 * 1024 * 1024, 9)
    helpers.write(dir .. "/big.bin", data)
    local port, srv = s_server(server_args("-WWW"), nil, dir)
    local c, err = connect_tls(port, trusting())
    assert.is_truthy(c, tostring(err) .. "\n" .. srv:describe())
    T.defer(function() c:close() end)
    c:settimeout(10)
    assert(c:send("GET /big.bin HTTP/1.0\r\n\r\n"))
    local status = c:receive()
    assert.matches("^HTTP/1%.0 200 ok", status)
    for _ = 1, 20 do
      local line = c:receive()
      if not line or line == "" then break end
    end
    local body, berr = c:receive("*a")
    assert.is_truthy(body, berr)
    assert.equal(#data, #body)
    assert.is_nil(T.first_diff(data, body))
  end)

  it_openssl("default verification against a self-signed s_server fails cleanly", function()
    local port, srv = s_server(("-cert %s -key %s -rev"):format(C.self, C.self_key))
    local s = assert(T.connect_retry(port, 5), srv:describe())
    s:settimeout(5)
    local c, err = green.wrap_ssl(s, {})
    assert.is_nil(c)
    assert.matches("certificate verify failed", err, 1, true)
    -- and with the self-signed cert trusted, the same kind of server works
    local port2, srv2 = s_server(("-cert %s -key %s -rev"):format(C.self, C.self_key))
    local c2, err2 = connect_tls(port2, { cafile = C.self, server_hostname = "localhost" })
    assert.is_truthy(c2, tostring(err2) .. "\n" .. srv2:describe())
    T.defer(function() c2:close() end)
    c2:send("abc\n")
    assert.equal("cba", c2:receive())
  end)

  it_openssl("ALPN with s_server -alpn: the client's alpn() gives the chosen protocol", function()
    local port, srv = s_server(server_args("-rev -alpn http/1.1"))
    local c, err = connect_tls(port, trusting({ alpn = { "h2", "http/1.1" } }))
    assert.is_truthy(c, tostring(err) .. "\n" .. srv:describe())
    T.defer(function() c:close() end)
    assert.equal("http/1.1", c:alpn())
    c:send("ok\n")
    assert.equal("ko", c:receive())
  end)

  it_openssl("mutual TLS with s_server -Verify: works with a client cert", function()
    local port, srv = s_server(server_args(("-rev -Verify 1 -CAfile %s -verify_return_error"):format(C.ca)))
    local c, err = connect_tls(port, trusting({ certfile = C.client, keyfile = C.client_key }))
    assert.is_truthy(c, tostring(err) .. "\n" .. srv:describe())
    T.defer(function() c:close() end)
    c:send("mutual\n")
    assert.equal("lautum", c:receive())
  end)

  it_openssl("the client refuses a TLS 1.1-only s_server (TLS 1.2 minimum)", function()
    local port, srv = s_server(server_args("-tls1_1 -cipher DEFAULT@SECLEVEL=0 -rev"))
    local s = assert(T.connect_retry(port, 5), srv:describe())
    s:settimeout(5)
    local c, err = green.wrap_ssl(s, trusting())
    assert.is_nil(c)
    assert.is_string(err)
    assert.matches("protocol", err, 1, true)
  end)

  -- The client keeps sending while s_server renegotiates (TLS 1.2, 'r' on
  -- its stdin) or updates keys (TLS 1.3, 'K'): nothing may fail or be lost.
  local function keep_sending_through(proto, command)
    -- s_server reads its stdin only once connected; each line must come in
    -- its own read to be taken as a command, hence the pauses
    local port, srv = s_server(server_args(proto), T.sh_wait_output("CIPHER is")
      .. ("sleep 0.2; echo start; sleep 0.15; echo %s; sleep 0.15; echo %s; sleep 0.15; echo %s; "
        .. "sleep 0.15; echo end; sleep 5"):format(command, command, command))
    local c, err = connect_tls(port, trusting())
    assert.is_truthy(c, tostring(err) .. "\n" .. srv:describe())
    T.defer(function() c:close() end)
    c:settimeout(5)
    local sent, failure, stop = 0, nil, false
    local writer = green.spawn(function()
      for i = 1, 20000 do
        if stop then return end
        local ok, e = c:send("ping" .. i .. "\n")
        if not ok then failure = ("send %d failed: %s"):format(i, tostring(e)); return end
        sent = i
        green.sleep(0.0005)
      end
    end)
    T.defer(function() if not writer:dead() then writer:kill() end end)
    local lines = {}
    for _ = 1, 2 do
      local line, rerr = c:receive()
      lines[#lines + 1] = line or ("<" .. tostring(rerr) .. ">")
    end
    stop = true
    -- longer than the socket's own 5 s: a send that ends in "timeout" is
    -- then reported as that failure, not as this wait expiring
    green.with_timeout(8, writer.wait, writer)
    c:close()
    srv:wait(5)
    assert.same({ "start", "end" }, lines)
    assert.is_nil(failure)
    local out = srv:out()
    local _, pings = out:gsub("ping%d+\n", "")
    assert.equal(sent, pings, srv:describe())
    return out
  end

  it_openssl("a TLS 1.2 renegotiation by s_server while the client reads and sends", function()
    local out = keep_sending_through("-tls1_2", "r")
    assert.matches("SSL_do_handshake -> 1", out, 1, true)
  end)

  it_openssl("a TLS 1.3 key update requested by s_server while the client sends", function()
    local out = keep_sending_through("-tls1_3", "K")
    assert.matches("SSL_do_handshake -> 1", out, 1, true)
  end)

  it_openssl("a TLS 1.2 renegotiation while the client only reads", function()
    local port, srv = s_server(server_args("-tls1_2"), T.sh_wait_output("CIPHER is")
      .. "sleep 0.2; echo one; sleep 0.15; echo r; sleep 0.15; echo two; sleep 5")
    local c, err = connect_tls(port, trusting())
    assert.is_truthy(c, tostring(err) .. "\n" .. srv:describe())
    T.defer(function() c:close() end)
    c:settimeout(5)
    assert.equal("one", c:receive())
    assert.equal("two", c:receive())
    assert(c:send("after renegotiation\n"))
    c:close()
    srv:wait(5)
    assert.matches("after renegotiation", srv:out(), 1, true)
  end)
end)
