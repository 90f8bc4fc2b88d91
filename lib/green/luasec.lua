-- green.luasec: LuaSec 1.2's `ssl` module (wrap, newcontext, loadcertificate,
-- config, _VERSION and the connection methods) over greenlua's TLS
-- (host/io/tls.c, x509.c). Installed as package.preload["ssl"] by
-- green.patch, so code written for LuaSec runs green, unmodified.
--
-- ssl.wrap(sock, params|ctx) takes the connection of any object with
-- LuaSocket's getfd (a duplicate of its fd becomes a green socket; then
-- sock:close() and sock:setfd(-1), so sock holds nothing, as LuaSec leaves
-- it); a green socket itself is used as it is. The handshake runs
-- in conn:dohandshake() (after conn:sni()), as in LuaSec.
--
-- Where this differs from LuaSec (decisions, see the report/README):
--  * A client context without `verify` verifies: the chain against
--    params.cafile/capath or the system store, and the name given to
--    conn:sni(name); with no name the handshake fails ("certificate verify
--    failed: no server name to check ..."). verify = "none" is LuaSec's
--    old default, asked for explicitly. An explicit verify = "peer" checks
--    the chain, and the sni name when one is given (LuaSec never checks
--    names).
--  * TLS 1.2 is the minimum: protocol "tlsv1"/"tlsv1_1"/"sslv*" are refused.
--  * Options, curves and DH parameters are validated and otherwise left to
--    OpenSSL's defaults (only no_tlsv1_2/no_tlsv1_3 act); one certificate
--    per context; ALPN callbacks (a function) and DANE are not supported.
--  * Errors reading key or certificate files may come from wrap (when the
--    context is first used) rather than newcontext.
local core = require "green.core"

local M = {
  _VERSION = "1.2.0",
  _COPYRIGHT = "LuaSec 1.2.0 API - green implementation in greenlua",
}

------------------------------------------------------------- config

local OPTIONS = {}
for name in ([[all allow_client_renegotiation allow_no_dhe_kex
  allow_unsafe_legacy_renegotiation cipher_server_preference cisco_anyconnect
  cleanse_plaintext cookie_exchange cryptopro_tlsext_bug disable_tlsext_ca_names
  dont_insert_empty_fragments enable_ktls enable_middlebox_compat ephemeral_rsa
  ignore_unexpected_eof legacy_server_connect microsoft_big_sslv3_buffer
  microsoft_sess_id_bug msie_sslv2_rsa_padding netscape_ca_dn_bug
  netscape_challenge_bug netscape_demo_cipher_change_bug
  netscape_reuse_cipher_change_bug no_anti_replay no_compression no_dtls_mask
  no_dtlsv1 no_dtlsv1_2 no_encrypt_then_mac no_extended_master_secret no_query_mtu
  no_renegotiation no_session_resumption_on_renegotiation no_ssl_mask no_sslv2
  no_sslv3 no_ticket no_tlsv1 no_tlsv1_1 no_tlsv1_2 no_tlsv1_3 pkcs1_check_1
  pkcs1_check_2 prioritize_chacha safari_ecdhe_ecdsa_bug single_dh_use
  single_ecdh_use ssleay_080_client_dh_bug sslref2_reuse_cert_type_bug
  tls_block_padding_bug tls_d5_bug tls_rollback_bug tlsext_padding]]):gmatch("%S+") do
  OPTIONS[name] = true
end

local CURVES = {}
for name in ("P-256 P-384 P-521 prime256v1 secp384r1 secp521r1 secp256k1 X25519 X448 "
  .. "brainpoolP256r1 brainpoolP384r1 brainpoolP512r1"):gmatch("%S+") do
  CURVES[name] = true
end

M.config = {
  protocols = { tlsv1_2 = true, tlsv1_3 = true },
  options = OPTIONS,
  curves = CURVES,
  algorithms = { ec = true },
  capabilities = { alpn = true, curves_list = true, ecdh_auto = true },
}

------------------------------------------------------------ contexts

local Context = { __name = "SSL:Context" }
Context.__index = {}
Context.__tostring = function(c) return "SSL context: " .. c.id end
Context.__metatable = "SSL:Context"  -- LuaSec's contexts hide theirs too

local contexts = setmetatable({}, { __mode = "k" })  -- ctx -> true

local function is_context(x)
  return type(x) == "table" and contexts[x] == true
end

local function bad(n, fname, msg, level)
  error(("bad argument #%d to '%s' (%s)"):format(n, fname, msg), level or 3)
end

local function list_of(v)
  if type(v) == "table" then return v end
  return { v }
end

local function readable(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, (err:match(": ([^:]+)$") or err) end
  local data = f:read(65536)
  f:close()
  return data or ""
end

local function wireformat(array)
  local parts = {}
  for _, v in ipairs(array) do
    if type(v) ~= "string" then return nil end
    if #v == 0 then return nil, "invalid ALPN name (empty string)" end
    if #v > 255 then return nil, "invalid ALPN name (length > 255)" end
    parts[#parts + 1] = v
  end
  if #parts == 0 then return nil, "invalid ALPN list (empty)" end
  return parts
end

local PROTOCOLS = {
  any = {}, tlsv1_2 = { "tlsv1_2", "tlsv1_2" }, tlsv1_3 = { "tlsv1_3", "tlsv1_3" },
}

-- newcontext(params) -> context, or nil, err (LuaSec's checks and strings)
function M.newcontext(cfg)
  if type(cfg) ~= "table" then bad(1, "newcontext", "table expected, got " .. type(cfg)) end
  local protocol = cfg.protocol == nil and "any" or cfg.protocol
  if type(protocol) ~= "string" then bad(1, "newcontext", "params.protocol: string expected") end
  local proto = PROTOCOLS[protocol]
  if not proto then
    if protocol == "tlsv1" or protocol == "tlsv1_1" then
      return nil, "invalid protocol (" .. protocol .. "): TLS 1.2 or later is required"
    end
    return nil, "invalid protocol (" .. protocol .. ")"
  end
  local mode = cfg.mode
  if type(mode) ~= "string" then
    bad(1, "newcontext", 'params.mode: "client" or "server" expected, got ' .. type(mode))
  end
  if mode ~= "client" and mode ~= "server" then return nil, "invalid mode (" .. mode .. ")" end
  local server = mode == "server"
  local o = { server_side = server or nil, min_protocol = proto[1], max_protocol = proto[2] }

  -- keys and certificates
  local certs = cfg.certificates or { { certificate = cfg.certificate, key = cfg.key, password = cfg.password } }
  if type(certs) ~= "table" then return nil, "invalid certificates parameter" end
  if #certs > 1 then return nil, "only one certificate per context is supported" end
  local c = certs[1] or {}
  if c.key ~= nil then
    if type(c.key) ~= "string" then bad(1, "newcontext", "params.key: string expected") end
    local pw = c.password
    if pw ~= nil and type(pw) ~= "string" and type(pw) ~= "function" then
      return nil, "invalid password type"
    end
    if type(pw) == "function" then pw = pw() end
    if pw ~= nil and type(pw) ~= "string" then return nil, "invalid password type" end
    local ok, err = readable(c.key)
    if not ok then return nil, "error loading private key (" .. err .. ")" end
    o.keyfile, o.password = c.key, pw
  end
  if c.certificate ~= nil then
    if type(c.certificate) ~= "string" then bad(1, "newcontext", "params.certificate: string expected") end
    local data, err = readable(c.certificate)
    if not data then return nil, "error loading certificate (" .. err .. ")" end
    if not core.x509_load(data) then return nil, "error loading certificate (no start line)" end
    o.certfile = c.certificate
  end
  if server and not o.certfile then
    -- LuaSec makes the context and fails every handshake; say it now
    return nil, "error loading certificate (a server needs params.certificate)"
  end
  if c.key and not c.certificate then o.certfile = nil end

  -- trust
  for _, k in ipairs({ "cafile", "capath" }) do
    local v = cfg[k]
    if v ~= nil then
      if type(v) ~= "string" then bad(1, "newcontext", "params." .. k .. ": string expected") end
      local ok, err
      if k == "cafile" then ok, err = readable(v)
      else ok, err = io.open(v .. "/.", "rb"); if ok then ok:close() end end
      if not ok then return nil, "error loading CA locations (" .. tostring(err) .. ")" end
      o[k] = v
    end
  end
  for _, k in ipairs({ "ciphers", "ciphersuites" }) do
    if cfg[k] ~= nil then
      if type(cfg[k]) ~= "string" then bad(1, "newcontext", "params." .. k .. ": string expected") end
      o[k] = cfg[k]
    end
  end

  -- verification
  local verify = { }
  if cfg.verify ~= nil then
    for _, v in ipairs(list_of(cfg.verify)) do
      if v ~= "none" and v ~= "peer" and v ~= "client_once" and v ~= "fail_if_no_peer_cert" then
        return nil, "invalid verify option (" .. tostring(v) .. ")"
      end
      verify[v] = true
    end
    if type(cfg.verify) ~= "string" and type(cfg.verify) ~= "table" then
      return nil, "invalid verify option (" .. tostring(cfg.verify) .. ")"
    end
  end
  local explicit = cfg.verify ~= nil
  if server then
    o.verify = verify.peer and "peer" or "none"
    o.peer_optional = not verify.fail_if_no_peer_cert
  elseif explicit then
    o.verify = verify.peer and "peer" or "none"
    o.check_hostname = false  -- LuaSec's "peer": the chain; the sni name if given
  else
    o.verify = "peer"  -- greenlua: verify by default (the name is required)
  end
  for _, v in ipairs(list_of(cfg.options)) do
    if not OPTIONS[v] then return nil, "invalid option (" .. tostring(v) .. ")" end
    if v == "no_tlsv1_3" then o.max_protocol = "tlsv1_2" end
    if v == "no_tlsv1_2" then o.min_protocol = "tlsv1_3" end
  end
  if cfg.options ~= nil and type(cfg.options) ~= "string" and type(cfg.options) ~= "table" then
    return nil, "invalid option (" .. tostring(cfg.options) .. ")"
  end
  if o.min_protocol == "tlsv1_3" and o.max_protocol == "tlsv1_2" then
    return nil, "no protocol version left (no_tlsv1_2 and no_tlsv1_3)"
  end
  if cfg.depth ~= nil then
    if type(cfg.depth) ~= "number" then
      bad(1, "newcontext", "params.depth: number expected, got " .. type(cfg.depth))
    end
    o.depth = math.max(0, math.min(100, math.floor(cfg.depth)))
  end
  if cfg.dhparam ~= nil and type(cfg.dhparam) ~= "function" then
    return nil, "invalid DH parameter type"
  end
  for _, k in ipairs({ "curve", "curveslist" }) do
    if cfg[k] ~= nil then
      if type(cfg[k]) ~= "string" then bad(1, "newcontext", "params." .. k .. ": string expected") end
      for name in cfg[k]:gmatch("[^:]+") do
        if not CURVES[name] then return nil, "elliptic curve '" .. name .. "' not supported" end
      end
    end
  end
  local lsec_continue = false
  for _, v in ipairs(cfg.verifyext ~= nil and list_of(cfg.verifyext) or {}) do
    if v == "lsec_continue" then lsec_continue = true
    elseif v ~= "lsec_ignore_purpose" then
      return nil, "invalid verifyext option (" .. tostring(v) .. "): not supported"
    end
  end
  if lsec_continue and o.verify == "peer" then
    -- the handshake goes on whatever the verdict; getpeerverification tells
    o.verify, o.check_hostname = "none", nil
  end
  if cfg.alpn ~= nil then
    local alpn = cfg.alpn
    if type(alpn) == "string" and not server then alpn = { alpn } end
    if type(alpn) ~= "table" then return nil, "invalid ALPN parameter" end
    local list, err = wireformat(alpn)
    if not list then return nil, err end
    o.alpn = list
  end
  if cfg.dane then return nil, "DANE is not supported" end
  local ctx = setmetatable({ opts = o, mode = mode, lsec_continue = lsec_continue, id = tostring({}):match("0x%x+") or "?" }, Context)
  contexts[ctx] = true
  return ctx
end

function M.loadcertificate(data, format)
  if type(data) ~= "string" then bad(1, "loadcertificate", "string expected, got " .. type(data)) end
  return core.x509_load(data, format)
end

---------------------------------------------------------- connections

local Conn = { __name = "SSL:Connection" }
local methods = {}
Conn.__index = methods
Conn.__close = function(c) methods.close(c) end
Conn.__tostring = function(c)
  return "SSL connection: " .. c.id .. (c.closed and " (closed)" or "")
end

local conns = setmetatable({}, { __mode = "k" })

local function check_conn(c, fname)
  if type(c) ~= "table" or not conns[c] then
    error(("bad argument #1 to '%s' (SSL:Connection expected, got %s)"):format(fname, type(c)), 3)
  end
  return c
end

local function is_green(x)
  return pcall(core.is_closed, x)
end

-- wrap(sock, params|ctx) -> conn, or nil, err
function M.wrap(sock, cfg)
  local ctx, err
  if type(cfg) == "table" and not is_context(cfg) then
    ctx, err = M.newcontext(cfg)
    if not ctx then return nil, err end
  elseif is_context(cfg) then
    ctx = cfg
  else
    bad(2, "wrap", "invalid context")
  end
  local gsock
  if is_green(sock) then
    if core.is_closed(sock) then return nil, "closed" end
    gsock = sock
  else
    local getfd = (type(sock) == "table" or type(sock) == "userdata") and sock.getfd
    if not getfd then bad(1, "wrap", "socket with getfd expected, got " .. type(sock)) end
    local fd = math.tointeger(getfd(sock))
    if fd and fd >= 0 then
      -- a duplicate becomes the green socket; the owner closes its own fd
      -- (which also lets a green socket.core forget its waits on it)
      gsock, err = core.tcp_adopt(fd)
      if not gsock then return nil, err end
      pcall(sock.close, sock)
      pcall(sock.setfd, sock, -1)  -- as LuaSec leaves it (a no-op once closed)
    end
  end
  local c = setmetatable({
    sock = gsock, ctx = ctx, server = ctx.mode == "server", closed = gsock == nil,
    id = tostring({}):match("0x%x+") or "?", received = 0, sent = 0,
    birthday = core.now(), wants = "nothing",
  }, Conn)
  conns[c] = true
  return c
end

-- The timeout of one call: LuaSocket's "b" and "t" (each call is one green
-- operation here, so "t" bounds it as a whole).
local function apply_timeout(c)
  local t = c.block
  if c.total and (not t or c.total < t) then t = c.total end
  c.sock:settimeout(t)
end

-- greenlua's error strings as LuaSec says them.
local function luasec_err(err, want)
  if err == "timeout" then return want end
  if type(err) == "string" then
    if err:find("^certificate verify failed") then return "certificate verify failed" end
    return (err:gsub("^tls: ", ""))
  end
  return err
end

local function attach(c)
  if c.attached then return true end
  local o = c.ctx.opts
  local opts = {}
  for k, v in pairs(o) do opts[k] = v end
  if not c.server then
    opts.server_hostname = c.sniname
    if opts.verify == "peer" and opts.check_hostname ~= false and not c.sniname then
      return nil, "certificate verify failed: no server name to check "
        .. "(call conn:sni(name), or give the context verify = \"none\" or \"peer\")"
    end
    if not c.sniname then opts.check_hostname = false end
  end
  local ok, err = core.tls_wrap(c.sock, opts)
  if not ok then return nil, err end
  c.attached = true
  if c.server and c.snimap then
    ok, err = c.sock:tls_sni(c.snimap[1], c.snimap[2], c.snistrict)
    if not ok then return nil, err end
  end
  return true
end

-- dohandshake() -> true, or false, err (LuaSec's false, not nil)
function methods.dohandshake(c)
  check_conn(c, "dohandshake")
  if c.closed or not c.sock then return false, "closed" end
  if c.handshaken then return true end
  local ok, err = attach(c)
  if not ok then return false, err end
  apply_timeout(c)
  ok, err = c.sock:handshake()
  if not ok then
    err = luasec_err(err, "wantread")
    c.wants = err == "wantread" and "read" or "nothing"
    return false, err
  end
  c.wants = "nothing"
  c.handshaken = true
  return true
end

-- sni(name) on a client; sni({name = ctx, ...} [, strict]) on a server
function methods.sni(c, arg, strict)
  check_conn(c, "sni")
  if c.server then
    if type(arg) ~= "table" then bad(2, "sni", "table expected, got " .. type(arg)) end
    local names, optss = {}, {}
    for name, ctx in pairs(arg) do
      if type(name) ~= "string" or not is_context(ctx) then
        bad(2, "sni", "a table of name = context expected")
      end
      if ctx.mode ~= "server" then bad(2, "sni", "server contexts expected") end
      names[#names + 1] = name
      optss[#optss + 1] = ctx.opts
    end
    c.snimap, c.snistrict = { names, optss }, strict and true or false
    if c.attached then return c.sock:tls_sni(names, optss, c.snistrict) end
    return true
  end
  if type(arg) ~= "string" then bad(2, "sni", "string expected, got " .. type(arg)) end
  c.sniname = arg
  return true
end

function methods.settimeout(c, t, mode)
  check_conn(c, "settimeout")
  if t ~= nil and type(t) ~= "number" then bad(2, "settimeout", "number expected, got " .. type(t)) end
  if mode ~= nil and mode ~= "b" and mode ~= "t" and mode ~= "r" then
    bad(3, "settimeout", "invalid timeout mode")
  end
  if t ~= nil and (t < 0 or t ~= t) then t = nil end
  if mode == "t" then c.total = t else c.block = t end
  return 1.0
end

local function ready(c)
  return not c.closed and c.sock and c.handshaken
end

-- receive([pattern [, prefix]]): LuaSocket's; a count includes the prefix
function methods.receive(c, pattern, prefix)
  check_conn(c, "receive")
  if pattern ~= nil and type(pattern) ~= "string" and type(pattern) ~= "number" then
    bad(2, "receive", "invalid receive pattern")
  end
  if type(pattern) == "string" and not pattern:match("^%*?[al]") then
    bad(2, "receive", "invalid receive pattern")
  end
  if prefix ~= nil and type(prefix) ~= "string" and type(prefix) ~= "number" then
    bad(3, "receive", "string expected, got " .. type(prefix))
  end
  prefix = prefix and tostring(prefix) or ""
  if not ready(c) then return nil, "closed", prefix end
  pattern = pattern or "*l"
  if type(pattern) == "number" then
    pattern = math.floor(pattern) - #prefix
    if pattern <= 0 then return prefix, nil, nil end
  end
  apply_timeout(c)
  local data, err, partial = c.sock:receive(pattern)
  if data then
    c.received = c.received + #data
    c.wants = "nothing"
    return prefix .. data, nil, nil
  end
  partial = partial or ""
  c.received = c.received + #partial
  err = luasec_err(err, "wantread")
  c.wants = err == "wantread" and "read" or "nothing"
  return nil, err, prefix .. partial
end

function methods.send(c, data, i, j)
  check_conn(c, "send")
  if type(data) ~= "string" and type(data) ~= "number" then
    bad(2, "send", "string expected, got " .. type(data))
  end
  data = tostring(data)
  if i ~= nil and not math.tointeger(i) then bad(3, "send", "number has no integer representation") end
  if j ~= nil and not math.tointeger(j) then bad(4, "send", "number has no integer representation") end
  local len = #data
  i, j = math.tointeger(i or 1), math.tointeger(j or -1)
  if i < 0 then i = math.max(1, len + i + 1) elseif i == 0 then i = 1 end
  if j < 0 then j = len + j + 1 end
  if j > len then j = len end
  -- LuaSocket's numbers are floats: 18.0
  if not ready(c) then return nil, "closed", i - 1.0 end
  if i > j then return i - 1.0, nil, nil end
  apply_timeout(c)
  local n, err, sent = c.sock:send(data:sub(i, j))
  if n then
    c.sent = c.sent + n
    c.wants = "nothing"
    return i - 1.0 + n, nil, nil
  end
  sent = sent or 0
  c.sent = c.sent + sent
  err = luasec_err(err, "wantwrite")
  c.wants = err == "wantwrite" and "write" or "nothing"
  return nil, err, i - 1.0 + sent
end

function methods.close(c)
  check_conn(c, "close")
  if c.sock and not c.closed then c.sock:close() end
  c.closed = true
end

-- getfd() -> the descriptor (a float, as LuaSec's), -1 once closed
function methods.getfd(c)
  check_conn(c, "getfd")
  if c.closed or not c.sock then return -1.0 end
  return c.sock:getfd() + 0.0
end

function methods.dirty(c)
  check_conn(c, "dirty")
  return ready(c) and core.sock_buffered(c.sock) > 0 or false
end

function methods.want(c)
  check_conn(c, "want")
  return c.wants
end

function methods.getstats(c)
  check_conn(c, "getstats")
  return c.received + 0.0, c.sent + 0.0, core.now() - c.birthday
end

function methods.setstats(c, received, sent, age)
  check_conn(c, "setstats")
  for n, v in ipairs({ received, sent, age }) do
    if v ~= nil and type(v) ~= "number" then bad(n + 1, "setstats", "number expected, got " .. type(v)) end
  end
  c.received = received or c.received
  c.sent = sent or c.sent
  if age then c.birthday = core.now() - age end
  return 1.0
end

-- getpeercertificate([n]): 1-based; 1 (the default) is the peer's own
function methods.getpeercertificate(c, n)
  check_conn(c, "getpeercertificate")
  if n ~= nil and not math.tointeger(n) then bad(2, "getpeercertificate", "number expected") end
  n = math.tointeger(n or 1)
  if not ready(c) then return nil, "closed" end
  if n < 1 then return nil, "invalid certificate index" end
  local chain, peer = c.sock:tls_peer_chain()
  if n == 1 then return peer end
  -- a client's chain starts with the peer's own; a server's does not
  return chain[c.server and n - 1 or n]
end

function methods.getpeerchain(c)
  check_conn(c, "getpeerchain")
  if not ready(c) then return nil, "closed" end
  local chain, peer = c.sock:tls_peer_chain()
  if c.server and peer then table.insert(chain, 1, peer) end
  return chain
end

-- getpeerverification() -> true, or false and why: LuaSec's table of
-- errors by depth (depth + 1 -> array of reasons) under verifyext
-- "lsec_continue", else the last reason as a string.
function methods.getpeerverification(c)
  check_conn(c, "getpeerverification")
  if not ready(c) then return false, "closed" end
  local errs = c.sock:tls_verification()
  if #errs == 0 then
    local _, peer = c.sock:tls_peer_chain()
    if peer or c.server then return true end
    return false, "no peer certificate"
  end
  if not c.ctx.lsec_continue then return false, errs[#errs][2] end
  local bydepth = {}
  for _, e in ipairs(errs) do
    local t = bydepth[e[1] + 1] or {}
    t[#t + 1] = e[2]
    bydepth[e[1] + 1] = t
  end
  return false, bydepth
end

function methods.getfinished(c)
  check_conn(c, "getfinished")
  if not ready(c) then return nil, "closed" end
  local mine = c.sock:tls_finished()
  if mine then return mine end
end

function methods.getpeerfinished(c)
  check_conn(c, "getpeerfinished")
  if not ready(c) then return end
  local _, theirs = c.sock:tls_finished()
  if theirs then return theirs end
end

function methods.getalpn(c)
  check_conn(c, "getalpn")
  if not ready(c) then return nil, "closed" end
  return c.sock:alpn()
end

function methods.getsniname(c)
  check_conn(c, "getsniname")
  if not ready(c) or not c.server then return nil end
  return c.sock:tls_sniname()
end

-- info([field]): cipher, protocol, key, authentication, encryption, mac,
-- bits, algbits, export, compression (nil: none), as LuaSec parses them.
function methods.info(c, field)
  check_conn(c, "info")
  if field ~= nil and type(field) ~= "string" then bad(2, "info", "string expected, got " .. type(field)) end
  if not ready(c) then return nil, "closed" end
  if field == "compression" then return nil end
  local desc, bits, algbits, protocol = c.sock:tls_info()
  if not desc then return nil end
  local info = { bits = bits + 0.0, algbits = algbits + 0.0 }
  info.cipher, info.protocol, info.key, info.authentication, info.encryption, info.mac =
    desc:match("^(%S+)%s+(%S+)%s+Kx=(%S+)%s+Au=(%S+)%s+Enc=(%S+)%s+Mac=(%S+)")
  info.export = desc:match("%sexport%s*$") ~= nil
  info.protocol = protocol
  if field then return info[field] end
  return info
end

function methods.exportkeyingmaterial(c)
  check_conn(c, "exportkeyingmaterial")
  return nil, "exportkeyingmaterial is not supported"
end

function methods.setdane(c)
  check_conn(c, "setdane")
  return nil, "DANE is not supported"
end

function methods.settlsa(c)
  check_conn(c, "settlsa")
  return nil, "DANE is not supported"
end

return M
