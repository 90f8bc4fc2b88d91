-- Helpers for the TLS and UDP specs (tls, tls_realclients, udp). Like
-- spec/helpers.lua these run inside greenlua and may block green-style.
-- Everything listens on 127.0.0.1 only. External tools run in the
-- background (never blocking the hub) under `timeout`, and are polled.
local green = require "green"
local helpers = require "spec.helpers"

local T = {}

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
T.q = sh_quote

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
T.slurp = slurp

-- Is `prog` on PATH? (a quick, bounded command)
function T.have(prog)
  return os.execute("command -v " .. prog .. " >/dev/null 2>&1") == true
end

------------------------------------------------------------ certificates

local OPENSSL_CNF = [[
[req]
distinguished_name = dn
prompt = no
[dn]
CN = greenlua test
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_self]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
]]

local cert_cache

-- Generates (once per process) into a fresh temp dir:
--   ca.pem/ca.key         a self-signed CA ("greenlua test CA")
--   server.pem/server.key a server cert signed by it (CN=localhost,
--                         SAN DNS:localhost, IP:127.0.0.1)
--   server_combined.pem   server cert and key in one file
--   self.pem/self.key     a plain self-signed cert (CN=localhost, same SANs)
--   client.pem/client.key a client cert signed by the CA (CN=greenlua client)
-- Returns a table of paths (dir, ca, ca_key, server, server_key, ...).
-- The dir is removed at process exit (a __gc on the table's holder).
function T.certs()
  if cert_cache then return cert_cache end
  local dir, cleanup = helpers.tmpdir()
  local c = {
    dir = dir,
    cnf = dir .. "/openssl.cnf",
    ca = dir .. "/ca.pem", ca_key = dir .. "/ca.key",
    server = dir .. "/server.pem", server_key = dir .. "/server.key",
    server_combined = dir .. "/server_combined.pem",
    self = dir .. "/self.pem", self_key = dir .. "/self.key",
    client = dir .. "/client.pem", client_key = dir .. "/client.key",
    cleanup = cleanup,
  }
  helpers.write(c.cnf, OPENSSL_CNF)
  local ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  local cmds = {
    -- the CA
    ("openssl req -x509 %s -config %s -extensions v3_ca -subj '/CN=greenlua test CA' "
      .. "-days 2 -keyout %s -out %s"):format(ec, c.cnf, c.ca_key, c.ca),
    -- the server, signed by the CA
    ("openssl req -new %s -config %s -subj '/CN=localhost' -keyout %s -out %s/server.csr")
      :format(ec, c.cnf, c.server_key, dir),
    ("openssl x509 -req -in %s/server.csr -CA %s -CAkey %s -CAcreateserial -days 2 "
      .. "-extfile %s -extensions v3_server -out %s"):format(dir, c.ca, c.ca_key, c.cnf, c.server),
    -- a client, signed by the CA
    ("openssl req -new %s -config %s -subj '/CN=greenlua client' -keyout %s -out %s/client.csr")
      :format(ec, c.cnf, c.client_key, dir),
    ("openssl x509 -req -in %s/client.csr -CA %s -CAkey %s -CAcreateserial -days 2 "
      .. "-extfile %s -extensions v3_client -out %s"):format(dir, c.ca, c.ca_key, c.cnf, c.client),
    -- a plain self-signed server cert
    ("openssl req -x509 %s -config %s -extensions v3_self -subj '/CN=localhost' "
      .. "-days 2 -keyout %s -out %s"):format(ec, c.cnf, c.self_key, c.self),
    ("cat %s %s > %s"):format(c.server, c.server_key, c.server_combined),
  }
  for _, cmd in ipairs(cmds) do
    local full = ("timeout 20 sh -c %s >>%s/gen.log 2>&1"):format(sh_quote(cmd), dir)
    if not os.execute(full) then
      error("certificate generation failed: " .. cmd .. "\n" .. (slurp(dir .. "/gen.log") or ""))
    end
  end
  -- remove the directory when the process ends
  c._gc = setmetatable({}, { __gc = function() cleanup() end })
  cert_cache = c
  return c
end

-- Server-side wrap_ssl options for the CA-signed server cert (plus `extra`).
function T.server_opts(extra)
  local c = T.certs()
  local o = { server_side = true, certfile = c.server, keyfile = c.server_key }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

--------------------------------------------------------------- sockets

-- A listening socket on 127.0.0.1, ephemeral port: returns it and the port.
function T.listener()
  local l = assert(green.listen("127.0.0.1", 0))
  local _, port = l:getsockname()
  assert(math.type(port) == "integer" and port > 0, "no port")
  return l, port
end

-- A TCP port that was free a moment ago (bound, then closed).
function T.free_port()
  local l, port = T.listener()
  l:close()
  return port
end

-- A UDP port that was free a moment ago.
function T.free_udp_port()
  local u = assert(green.udp({ host = "127.0.0.1", port = 0 }))
  local _, port = u:getsockname()
  u:close()
  return port
end

-- A TLS server on a wrapped listener: `handler(client, ip, port)` runs for
-- each connection under green.serve. Returns the listener, its port, the
-- serve thread. Close the listener to stop it.
function T.tls_server(opts, handler)
  local l, port = T.listener()
  assert(green.wrap_ssl(l, opts or T.server_opts()))
  local gt = green.spawn(green.serve, l, handler)
  return l, port, gt
end

-- A TLS line echo server: every line comes back with "\n"; the line "bye"
-- is echoed and the connection closed. `log` (a table, optional) gets an
-- entry {ok = bool, err = string} for every connection's handshake.
function T.tls_echo_server(opts, log)
  return T.tls_server(opts, function(client)
    client:settimeout(10)
    local ok, err = client:handshake()
    if log then log[#log + 1] = { ok = ok and true or false, err = err } end
    if not ok then return end
    for _ = 1, 10000 do
      local line = client:receive("*l")
      if not line then return end
      if not client:send(line .. "\n") then return end
      if line == "bye" then return end
    end
  end)
end

-- Cleanups (busted keeps only the last `finally`): the shared ones.
T.defer = require("spec.helpers").defer
T.run_deferred = require("spec.helpers").run_deferred

-- Close every socket given (ignores nils and closed ones).
function T.close_all(...)
  for i = 1, select("#", ...) do
    local s = select(i, ...)
    if s then pcall(s.close, s) end
  end
end

---------------------------------------------------- background commands

local Bg = {}
Bg.__index = Bg

-- Run shell command `cmd` in the background, in its own session (so its
-- whole group can be ended), stdin from `stdin_cmd`'s output if given (a
-- shell script, which finds the command's output files in $OUT and $ERR),
-- else /dev/null. Output goes to files. Returns a handle:
-- h:done(), h:wait(limit) -> exit status or nil, h:out(), h:err(), h:stop().
-- Commands should bound themselves with `timeout`.
function T.bg(cmd, stdin_cmd)
  local dir, cleanup = helpers.tmpdir()
  local h = setmetatable({
    dir = dir, cleanup = cleanup,
    out_path = dir .. "/out", err_path = dir .. "/err", rc_path = dir .. "/rc",
    pid_path = dir .. "/pid", cmd = cmd,
  }, Bg)
  helpers.write(dir .. "/cmd.sh", cmd .. "\n")
  local inner
  if stdin_cmd then
    helpers.write(dir .. "/stdin.sh", stdin_cmd .. "\n")
    -- the status is written when the command ends, whatever its stdin does
    -- stdin.sh sees $OUT and $ERR: it may wait for the command's output
    inner = ("OUT=%s ERR=%s sh %s/stdin.sh | { sh %s/cmd.sh >%s 2>%s; echo $? >%s.tmp; mv %s.tmp %s; }")
      :format(h.out_path, h.err_path, dir, dir, h.out_path, h.err_path, h.rc_path, h.rc_path, h.rc_path)
  else
    inner = ("sh %s/cmd.sh </dev/null >%s 2>%s; echo $? >%s.tmp; mv %s.tmp %s")
      :format(dir, h.out_path, h.err_path, h.rc_path, h.rc_path, h.rc_path)
  end
  local launch = ("setsid sh -c %s </dev/null >/dev/null 2>&1 & echo $! >%s")
    :format(sh_quote(inner), h.pid_path)
  assert(os.execute(launch), "cannot start: " .. cmd)
  return h
end

-- A shell snippet for stdin scripts: wait (at most ~5 s) until the
-- command's stdout contains the fixed string `text`.
function T.sh_wait_output(text)
  return ("for i in $(seq 1 100); do grep -qF %s \"$OUT\" && break; sleep 0.05; done; ")
    :format(sh_quote(text))
end

function Bg:done()
  local rc = slurp(self.rc_path)
  if rc and rc:match("%d") then
    self.rc = tonumber(rc:match("%d+"))
    return true
  end
  return false
end

-- Wait (green.sleep polling) at most `limit` seconds (default 10); returns
-- the exit status, or nil if it has not ended.
function Bg:wait(limit)
  local deadline = green.now() + (limit or 10)
  for _ = 1, 100000 do
    if self:done() then return self.rc end
    if green.now() >= deadline then return nil end
    green.sleep(0.02)
  end
  return nil
end

function Bg:out() return slurp(self.out_path) or "" end
function Bg:err() return slurp(self.err_path) or "" end

-- Wait until stdout (or stderr, if `which` is "err") contains `plain`, at
-- most `limit` seconds (default 5), or the command ends. Returns whether
-- it does.
function Bg:wait_output(plain, limit, which)
  local function has()
    local s = which == "err" and self:err() or self:out()
    return s:find(plain, 1, true) ~= nil
  end
  helpers.wait_until(function() return has() or self:done() end, limit or 5)
  return has()
end

-- End the command's whole session (its process group) if it still runs,
-- and remove its files.
function Bg:stop()
  if self.stopped then return end
  self.stopped = true
  local pid = tonumber((slurp(self.pid_path) or ""):match("%d+"))
  -- the session may outlive the command (a sleep feeding its stdin), and
  -- `timeout` puts its command in a process group of its own: end every
  -- group of the session (its id is the pid we started)
  if pid then
    os.execute(("for g in $(ps -o pgid= -s %d 2>/dev/null | sort -u); do "
      .. "env kill -TERM -- -$g 2>/dev/null; done; true"):format(pid))
  end
  self.cleanup()
end

-- A description for assertion messages.
function Bg:describe()
  return ("command: %s\nexit: %s\nstdout: %s\nstderr: %s"):format(
    self.cmd, tostring(self.rc), self:out(), self:err())
end

-- Connect to 127.0.0.1:port, retrying for at most `limit` seconds while
-- the server is not up yet (connection refused). Returns a socket or nil, err.
function T.connect_retry(port, limit)
  local deadline = green.now() + (limit or 5)
  local err
  for _ = 1, 1000 do
    local s
    s, err = green.connect("127.0.0.1", port, { timeout = 2 })
    if s then return s end
    if green.now() >= deadline then break end
    green.sleep(0.05)
  end
  return nil, err
end

-- `n` bytes that make loss, corruption and reordering visible: 4 KiB
-- blocks, each starting with its index and the salt, then filler that
-- varies with both.
function T.payload(n, salt)
  salt = salt or 0
  local filler = {}
  for i = 0, 4095 - 8 do filler[#filler + 1] = string.char((i * 7 + salt) % 251) end
  filler = table.concat(filler)
  local parts = {}
  for i = 0, (n + 4095) // 4096 - 1 do
    parts[#parts + 1] = string.pack(">I4I4", i, salt) .. filler
  end
  return table.concat(parts):sub(1, n)
end

-- Where two strings first differ (nil if equal): for readable failures.
function T.first_diff(a, b)
  if a == b then return nil end
  for i = 1, math.min(#a, #b) do
    if a:byte(i) ~= b:byte(i) then return i end
  end
  return math.min(#a, #b) + 1
end

return T
