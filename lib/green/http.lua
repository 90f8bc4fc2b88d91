-- green.http: an HTTP/1.1 client with LuaSocket's socket.http.request
-- forms, green, with keep-alive and TLS that verifies. The response parser
-- and the chunk writer are C (core.http_parser, core.http_chunk: llhttp);
-- this file does the URL, the request, redirects, the pool and the clock.
--   request(url [, body]) -> body, code, headers, status | nil, err
--   request{url=, method=, headers=, body= | source=, sink=, redirect=,
--           timeout=, verify=, cafile=, server_hostname=}
--     -> 1 (or the body without a sink), code, headers, status | nil, err
-- Plain fields read at use: pool_size (idle connections kept per origin
-- and TLS options, 16), idle_timeout (seconds an idle one is kept, 30),
-- TIMEOUT (seconds each wait may take when no timeout is given, 60, as
-- LuaSocket's http.TIMEOUT).
local core = require "green.core"
local net = require "green.net"

local http = { pool_size = 16, idle_timeout = 30, TIMEOUT = 60 }

local USER_AGENT = "greenlua/" .. core.VERSION
local MAX_REDIRECTS = 5
local DISCARD_MAX = 64 * 1024  -- a redirect's body larger than this closes its connection
local READ_SIZE = 64 * 1024
local DEFAULT_PORT = { http = 80, https = 443 }
local BODY_EXPECTED = { POST = true, PUT = true, PATCH = true }
local IDEMPOTENT = { GET = true, HEAD = true, OPTIONS = true, TRACE = true, PUT = true, DELETE = true }

local type, tostring, pairs, ipairs, error, pcall = type, tostring, pairs, ipairs, error, pcall
local now = core.now

----------------------------------------------------------------- URLs

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Bytes a request target may not carry as they are: percent-encoded
-- (non-ASCII), as browsers send them.
local function escape_target(s)
  return (s:gsub("[\128-\255]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- Parse an absolute http(s) URL. Returns a table (scheme, host, port,
-- authority, path, query, user, password, target, origin) or nil, why.
local function parse_url(url)
  if url:find("[%z\1-\32\127]") then return nil, "invalid url (space or control character)" end
  local scheme, rest = url:match("^(%a[%w+.-]*):(.*)$")
  if not scheme then return nil, "invalid url (no scheme)" end
  scheme = scheme:lower()
  if not DEFAULT_PORT[scheme] then return nil, "unsupported scheme '" .. scheme .. "'" end
  local authority, tail = rest:match("^//([^/?#]*)(.*)$")
  if not authority then return nil, "invalid url (no host)" end
  tail = tail:gsub("#.*$", "")
  local path, query = tail, nil
  local q = tail:find("?", 1, true)
  if q then path, query = tail:sub(1, q - 1), tail:sub(q + 1) end
  local u = { scheme = scheme, authority = authority, path = path, query = query }
  local userinfo, hostport = authority:match("^(.*)@([^@]*)$")
  if userinfo then
    local user, password = userinfo:match("^([^:]*):(.*)$")
    u.user, u.password = unescape(user or userinfo), password and unescape(password)
  else
    hostport = authority
  end
  local host, port = hostport:match("^%[([%x:.]+)%](.*)$")
  if host then
    u.ipv6 = true
  else
    host, port = hostport:match("^([^:]*)(.*)$")
  end
  if not u.ipv6 and (host == "" or not host:find("^[%w.%-_~%%!$&'()*+,;=]+$")) then
    return nil, "invalid url (bad host '" .. host .. "')"
  end
  if port == "" or port == ":" then
    u.port = DEFAULT_PORT[scheme]
  else
    local digits = port:match("^:(%d+)$")
    u.port = digits and math.tointeger(tonumber(digits))
    if not u.port or u.port < 1 or u.port > 65535 then return nil, "invalid url (bad port)" end
  end
  u.host = host
  u.target = escape_target((path ~= "" and path or "/") .. (query and "?" .. query or ""))
  u.origin = scheme .. "://" .. host:lower() .. ":" .. u.port
  return u
end

-- RFC 3986 5.2.4: remove "." and ".." segments. Each step consumes input.
local function remove_dots(input)
  local out = {}
  while input ~= "" do
    if input:find("^%.%./") then
      input = input:sub(4)
    elseif input:find("^%./") or input:find("^/%./") then
      input = input:sub(3)
    elseif input == "/." then
      input = "/"
    elseif input:find("^/%.%./") or input == "/.." then
      input = "/" .. input:sub(5)
      out[#out] = nil
    elseif input == "." or input == ".." then
      input = ""
    else
      local seg, rest = input:match("^(/?[^/]*)(.*)$")
      out[#out + 1] = seg
      input = rest
    end
  end
  return table.concat(out)
end

-- A Location resolved against the URL it answered (RFC 3986 5.2.2).
local function resolve(base, ref)
  ref = ref:gsub("#.*$", "")
  if ref:find("^%a[%w+.-]*:") then return ref end
  if ref:sub(1, 2) == "//" then return base.scheme .. ":" .. ref end
  local path, query = ref, nil
  local q = ref:find("?", 1, true)
  if q then path, query = ref:sub(1, q - 1), ref:sub(q + 1) end
  if path == "" then
    path = base.path
    if not q then query = base.query end
  elseif path:sub(1, 1) ~= "/" then
    local dir = base.path:match("^(.*/)") or "/"
    path = dir .. path
  end
  path = remove_dots(path)
  return base.scheme .. "://" .. base.authority .. path .. (query and "?" .. query or "")
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local d1, d2, d3, d4 = n >> 18, (n >> 12) & 63, (n >> 6) & 63, n & 63
    out[#out + 1] = B64:sub(d1 + 1, d1 + 1) .. B64:sub(d2 + 1, d2 + 1)
      .. (b and B64:sub(d3 + 1, d3 + 1) or "=") .. (c and B64:sub(d4 + 1, d4 + 1) or "=")
  end
  return table.concat(out)
end

------------------------------------------------------------ arguments

-- Argument errors are raised as plain messages (level 0) and re-raised by
-- request at its caller, with the "bad argument" prefix.
local function bad(n, msg)
  error({ bad = ("bad argument #%d to 'request' (%s)"):format(n, msg) }, 0)
end

local TOKEN = "^[!#$%%&'*+.^_`|~%w-]+$"

-- The user's headers: lower-case name -> { name as given, value }.
local function check_headers(h)
  local out = {}
  if h == nil then return out end
  if type(h) ~= "table" then bad(1, "headers: table expected, got " .. type(h)) end
  for name, value in pairs(h) do
    if type(name) ~= "string" or not name:find(TOKEN) then
      bad(1, "headers: invalid header name " .. (type(name) == "string" and ("'" .. name .. "'") or type(name)))
    end
    if type(value) == "number" then value = tostring(value) end
    if type(value) ~= "string" then
      bad(1, "headers: value of '" .. name .. "': string expected, got " .. type(value))
    end
    if value:find("[\r\n%z]") then bad(1, "headers: value of '" .. name .. "' has CR, LF or NUL") end
    out[name:lower()] = { name, value }
  end
  return out
end

local function callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__call") ~= nil
end

local function check_number(v, n, field)
  if v ~= nil and (type(v) ~= "number" or v ~= v) then
    bad(n, field .. ": number expected, got " .. (v ~= v and "NaN" or type(v)))
  end
  return v
end

-- The settings read at use.
local function settings()
  local size, idle, per = http.pool_size, http.idle_timeout, http.TIMEOUT
  if type(size) ~= "number" or not math.tointeger(size) or size < 0 then
    error("request: green.http.pool_size must be a non-negative integer", 0)
  end
  if type(idle) ~= "number" or idle ~= idle or idle < 0 then
    error("request: green.http.idle_timeout must be a non-negative number", 0)
  end
  if per ~= nil and (type(per) ~= "number" or per ~= per) then
    error("request: green.http.TIMEOUT must be a number or nil", 0)
  end
  return math.tointeger(size), idle, per
end

-- The request as one table, checked. A URL's own problems raise too (a
-- redirect's Location never does: it is the server's).
local function check_request(a, b)
  local r
  if type(a) == "string" then
    if b ~= nil and type(b) ~= "string" then bad(2, "string expected, got " .. type(b)) end
    r = { url = a, simple = true }
    if b then
      r.method, r.body = "POST", b
      r.headers = { ["content-type"] = { "Content-Type", "application/x-www-form-urlencoded" } }
    else
      r.headers = {}
    end
  elseif type(a) == "table" then
    if type(a.url) ~= "string" then bad(1, "url: string expected, got " .. type(a.url)) end
    r = { url = a.url, headers = check_headers(a.headers) }
    if a.method ~= nil and (type(a.method) ~= "string" or not a.method:find(TOKEN)) then
      bad(1, "method: a token expected")
    end
    if a.body ~= nil and type(a.body) ~= "string" then bad(1, "body: string expected, got " .. type(a.body)) end
    if a.source ~= nil and not callable(a.source) then bad(1, "source: function expected, got " .. type(a.source)) end
    if a.body ~= nil and a.source ~= nil then bad(1, "body and source are exclusive") end
    local cl = r.headers["content-length"]
    if a.source ~= nil and cl and not cl[2]:find("^%d+$") then
      bad(1, "headers: content-length must be a byte count")
    end
    if a.sink ~= nil and not callable(a.sink) then bad(1, "sink: function expected, got " .. type(a.sink)) end
    if a.redirect ~= nil and type(a.redirect) ~= "boolean" then
      bad(1, "redirect: boolean expected, got " .. type(a.redirect))
    end
    r.timeout = check_number(a.timeout, 1, "timeout")
    if a.verify ~= nil and a.verify ~= "none" and a.verify ~= "peer" then
      bad(1, 'verify: "none" or "peer" expected, got ' .. tostring(a.verify))
    end
    for _, k in ipairs({ "cafile", "server_hostname" }) do
      if a[k] ~= nil and type(a[k]) ~= "string" then bad(1, k .. ": string expected, got " .. type(a[k])) end
    end
    r.body, r.source, r.sink = a.body, a.source, a.sink
    if a.proxy ~= nil then bad(1, "proxy: not supported") end
    r.method = a.method or ((a.body or a.source) and "POST" or "GET")
    r.redirect = a.redirect ~= false
    r.verify, r.cafile, r.server_hostname = a.verify or "peer", a.cafile, a.server_hostname
  else
    bad(1, "string or table expected, got " .. type(a))
  end
  r.method = r.method or "GET"
  r.verify = r.verify or "peer"
  if r.redirect == nil then r.redirect = true end
  local u, why = parse_url(r.url)
  if not u then bad(1, why) end
  r.u = u
  return r
end

------------------------------------------------------------------ pool

local pools = {}   -- key -> array of idle { sock, parser, since }, oldest first
local idle_count = 0
local sweeper = nil

local function pool_key(u, r)
  local key = u.origin
  if u.scheme == "https" then
    key = key .. "\0" .. r.verify .. "\0" .. (r.cafile or "") .. "\0" .. (r.server_hostname or "")
  end
  return key
end

-- A pooled connection is worth reusing while the server has not ended it
-- and sent nothing unasked (a read that cannot wait says which).
local function alive(sock)
  sock:settimeout(0)
  local data, err = sock:recv(1)
  return data == nil and err == "timeout"
end

-- Close the idle connections older than idle_timeout; the sweeper sleeps
-- until the next one is due and ends when none is left, so it holds
-- nothing once the pool is empty (the main thread's end ends the process
-- anyway: a sleeping green thread never keeps it alive).
local function sweep()
  local t, limit = now(), http.idle_timeout
  if type(limit) ~= "number" or limit ~= limit then limit = 30 end
  local next_due = nil
  for key, list in pairs(pools) do
    while list[1] and t - list[1].since >= limit do
      table.remove(list, 1).sock:close()
      idle_count = idle_count - 1
    end
    if list[1] == nil then
      pools[key] = nil
    elseif not next_due or list[1].since + limit < next_due then
      next_due = list[1].since + limit
    end
  end
  return next_due
end

local function sweep_loop()
  while idle_count > 0 do
    local due = sweep()
    if not due then break end
    -- at most a second: a shorter idle_timeout set meanwhile takes effect
    core.sleep(math.min(math.max(due - now(), 0.001), 1))
  end
end

local function start_sweeper()
  if sweeper then return end
  sweeper = core.spawn(function()
    local ok, err = pcall(sweep_loop)
    sweeper = nil
    if not ok then error(err, 0) end
  end)
end

local function checkout(key, limit)
  local list = pools[key]
  if not list then return nil end
  local t = now()
  while list[1] do
    local c = table.remove(list)  -- the newest: the likeliest to be alive
    idle_count = idle_count - 1
    if t - c.since < limit and alive(c.sock) then
      if list[1] == nil then pools[key] = nil end
      return c
    end
    c.sock:close()
  end
  pools[key] = nil
  return nil
end

local function checkin(key, conn, size)
  local list = pools[key]
  if size <= 0 or (list and #list >= size) then
    conn.sock:close()
    return
  end
  if not list then
    list = {}
    pools[key] = list
  end
  conn.since = now()
  list[#list + 1] = conn
  idle_count = idle_count + 1
  start_sweeper()
end

---------------------------------------------------------- the exchange

-- A to-be-closed holder: whatever connection it holds when the request
-- ends (error, Timeout, kill) is closed; a connection given back to the
-- pool is taken out of it first.
local Holder = {}
Holder.__index = Holder
Holder.__close = function(h)
  if h.conn then
    h.conn.sock:close()
    h.conn = nil
  end
end

local function left(deadline, per)
  if deadline then return math.max(0, deadline - now()) end
  return per
end

local LIMITS = {}

local function open(u, r, deadline, per)
  local sock, err = net.connect(u.host, u.port, { timeout = left(deadline, per) })
  if not sock then return nil, err end
  sock:setoption("tcp-nodelay", true)
  if u.scheme == "https" then
    sock:settimeout(left(deadline, per))
    local ok
    ok, err = net.wrap_ssl(sock, { verify = r.verify, cafile = r.cafile, server_hostname = r.server_hostname })
    if not ok then
      sock:close()
      return nil, err
    end
  end
  return { sock = sock, parser = core.http_parser("response", LIMITS) }
end

-- The request head: the line and the headers, defaults first, the user's
-- over them, the framing last.
local function head_of(r, u, size)
  local h = {}
  local host = u.ipv6 and "[" .. u.host .. "]" or u.host
  if u.port ~= DEFAULT_PORT[u.scheme] then host = host .. ":" .. u.port end
  local set = { host = { "Host", host }, ["user-agent"] = { "User-Agent", USER_AGENT } }
  if u.user and u.password then
    set.authorization = { "Authorization", "Basic " .. base64(u.user .. ":" .. u.password) }
  end
  for k, v in pairs(r.headers) do set[k] = v end
  -- The framing is ours: a user's Content-Length stays only with a source
  -- (the way to send one unchunked).
  local length = r.source and set["content-length"]
  set["transfer-encoding"], set["content-length"] = nil, nil
  if r.body then
    set["content-length"] = { "Content-Length", tostring(#r.body) }
  elseif length then
    set["content-length"] = length
  elseif r.source then
    set["transfer-encoding"] = { "Transfer-Encoding", "chunked" }
  elseif BODY_EXPECTED[r.method] then
    set["content-length"] = { "Content-Length", "0" }  -- else some servers answer 411
  end
  if size <= 0 and not set.connection then set.connection = { "Connection", "close" } end
  h[1] = r.method .. " " .. u.target .. " HTTP/1.1\r\n"
  h[2] = "Host: " .. set.host[2] .. "\r\n"
  set.host = nil
  local names = {}
  for k in pairs(set) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do h[#h + 1] = set[k][1] .. ": " .. set[k][2] .. "\r\n" end
  h[#h + 1] = "\r\n"
  return table.concat(h), set
end

-- Send the body from an ltn12-style source: chunked, or as it comes when
-- a content-length was given (then exactly that many bytes).
local function send_source(r, sock, sent_headers, deadline, per)
  local declared = sent_headers["content-length"] and tonumber(sent_headers["content-length"][2])
  local total = 0
  for _ = 1, math.maxinteger do
    r.source_used = true
    local chunk, err = r.source()
    if chunk == nil then
      if err then return nil, err end
      break
    end
    if type(chunk) ~= "string" then return nil, "source returned a " .. type(chunk) end
    if #chunk > 0 then
      sock:settimeout(left(deadline, per))
      local ok
      if declared then
        total = total + #chunk
        if total > declared then return nil, "source larger than content-length" end
        ok, err = sock:send(chunk)
      else
        ok, err = core.http_chunk(sock, chunk, false)
      end
      if not ok then return nil, err end
    end
  end
  sock:settimeout(left(deadline, per))
  if declared then
    if total ~= declared then return nil, "source shorter than content-length" end
    return true
  end
  return core.http_chunk(sock, "", true)
end

local function send_request(r, u, conn, deadline, per, size)
  local head, sent = head_of(r, u, size)
  local sock = conn.sock
  sock:settimeout(left(deadline, per))
  local ok, err
  if r.body and #r.body <= READ_SIZE then
    ok, err = sock:send(head .. r.body)
  else
    ok, err = sock:send(head)
    if ok and r.body then ok, err = sock:send(r.body) end
  end
  if ok and r.source then ok, err = send_source(r, sock, sent, deadline, per) end
  return ok, err, sent
end

-- One request and the response's head, on a pooled connection or a new
-- one: retried once on a new one when a reused connection failed before
-- the response began and the request can be sent again. Returns the
-- response (its body unread, its connection in holder) or nil, err.
local function exchange(r, holder, deadline, per, size, idle)
  local u = r.u
  local key = pool_key(u, r)
  for attempt = 1, 2 do
    local conn = attempt == 1 and checkout(key, idle) or nil
    local reused = conn ~= nil
    if not conn then
      local err
      conn, err = open(u, r, deadline, per)
      if not conn then return nil, err end
    end
    holder.conn = conn
    local ok, err, sent = send_request(r, u, conn, deadline, per, size)
    local resp
    if ok then
      resp = { headers = {} }
      local code, reason, keep, version = conn.parser:read_response(conn.sock, resp.headers,
        left(deadline, per), r.method == "HEAD")
      if code then
        resp.code, resp.reason, resp.keep = code, reason, keep
        resp.status = version .. " " .. code .. (reason ~= "" and " " .. reason or "")
        local c = sent.connection
        if c and c[2]:lower():find("close") then resp.keep = false end
        resp.key = key
        return resp
      end
      err = reason
    end
    holder.conn = nil
    conn.sock:close()
    local again = reused and err == "closed" and IDEMPOTENT[r.method] and not r.source_used
    if not again then return nil, err end
  end
end

-- After the body: back to the pool if the connection may carry another.
local function release(holder, resp, size)
  local conn = holder.conn
  holder.conn = nil
  if resp.keep and conn.parser:body_done() then
    checkin(resp.key, conn, size)
  else
    conn.sock:close()
  end
end

local function read_body(r, holder, resp, deadline, per, size)
  local parser, sock = holder.conn.parser, holder.conn.sock
  if not r.sink then
    local body, err = parser:read_body(sock, "a", left(deadline, per))
    if not body then return nil, err end
    release(holder, resp, size)
    return body
  end
  for _ = 1, math.maxinteger do
    local chunk, err = parser:read_body(sock, READ_SIZE, left(deadline, per))
    if chunk == nil then
      if err then
        r.sink(nil, err)
        return nil, err
      end
      break
    end
    local ok, serr = r.sink(chunk)
    if not ok then return nil, serr or "sink failed" end
  end
  release(holder, resp, size)
  local ok, serr = r.sink(nil)
  if not ok and serr then return nil, serr end
  return 1
end

------------------------------------------------------------- redirects

local REDIRECT = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }

-- The request to send for a redirect, or nil to return the response as it
-- is (as LuaSocket: too many redirects, a scheme it cannot follow, https
-- to http, a body from a source that cannot be sent again).
local function redirected(r, resp, count)
  if not r.redirect or not REDIRECT[resp.code] or count >= MAX_REDIRECTS then return nil end
  local location = resp.headers.location
  if not location then return nil end
  location = location:gsub("^%s+", ""):gsub("%s+$", "")
  if location == "" then return nil end
  local target = resolve(r.u, location)
  local u = parse_url(target)
  if not u then return nil end
  if r.u.scheme == "https" and u.scheme ~= "https" then return nil end
  local n = {}
  for k, v in pairs(r) do n[k] = v end
  n.url, n.u = target, u
  n.headers = {}
  for k, v in pairs(r.headers) do n.headers[k] = v end
  local code = resp.code
  if code == 303 and r.method ~= "HEAD" or (code == 301 or code == 302) and r.method == "POST" then
    n.method, n.body, n.source, n.source_used = r.method == "HEAD" and "HEAD" or "GET", nil, nil, nil
    n.headers["content-length"], n.headers["content-type"], n.headers["transfer-encoding"] = nil, nil, nil
  elseif r.source then
    return nil  -- 307/308 keep the body, and a source cannot give it twice
  end
  if u.origin ~= r.u.origin then
    n.headers.authorization, n.headers.cookie, n.headers.host = nil, nil, nil
    if u.host:lower() ~= r.u.host:lower() then n.server_hostname = nil end
  elseif not u.user and r.u.user then
    u.user, u.password = r.u.user, r.u.password
  end
  return n, location
end

-------------------------------------------------------------- request

local function perform(r, deadline, per, size, idle)
  local followed = nil
  for count = 0, MAX_REDIRECTS do
    local holder <close> = setmetatable({}, Holder)
    local resp, err = exchange(r, holder, deadline, per, size, idle)
    if not resp then return nil, err end
    local nextr, location = redirected(r, resp, count)
    if nextr then
      local ok = holder.conn.parser:discard(holder.conn.sock, DISCARD_MAX, left(deadline, per))
      if ok then release(holder, resp, size) end
      r, followed = nextr, location
    else
      local body
      body, err = read_body(r, holder, resp, deadline, per, size)
      if not body then return nil, err end
      if followed and not resp.headers.location then resp.headers.location = followed end
      return body, resp.code, resp.headers, resp.status
    end
  end
end

-- green.http.request(url [, body]) / request{...}: see the top of the file.
function http.request(a, b)
  local ok, r = pcall(check_request, a, b)
  if not ok then
    if type(r) == "table" and r.bad then error(r.bad, 2) end
    error(r, 0)
  end
  local size, idle, per
  ok, size, idle, per = pcall(settings)
  if not ok then error(size, 2) end
  local deadline = r.timeout and now() + math.max(r.timeout, 0)
  if not deadline then return perform(r, nil, per, size, idle) end
  -- The whole request within timeout: each wait gets what is left, and a
  -- Timeout catches a wait that is given more than it may take (a body
  -- trickling in, byte after byte, each within its own wait's time).
  local t <close> = core.Timeout(math.max(r.timeout, 0))
  local res = table.pack(pcall(perform, r, deadline, per, size, idle))
  t:cancel()
  if not res[1] then
    if core.is_timeout(res[2], t) then return nil, "timeout" end
    error(res[2], 0)
  end
  return table.unpack(res, 2, res.n)
end

return http
