-- green.wsgi: an HTTP/1.1 server for WSAPI applications, eventlet.wsgi's
-- analogue. The C half (host/http) parses request heads and bodies
-- (core.http_parser) and writes response heads with their framing
-- (core.http_respond, core.http_chunk); this file runs the connections:
-- env, input, the app, streaming, keep-alive, limits, logs and stopping.
--
-- server(sock, app, opts) serves a listening socket, one green thread per
-- connection, and returns once the socket is closed and the requests in
-- flight are finished. See doc/api.md ("HTTP server").
--
-- The per-request path is kept lean on purpose (the hello-world benchmark
-- measures it): per request it makes env, its input object and its
-- posthooks array, and nothing else unless the app needs it (streaming,
-- 100 Continue) or the access log is on.
local core = require "green.core"

local type, tostring, tonumber, pcall, xpcall, error = type, tostring, tonumber, pcall, xpcall, error
local select = select
local pairs = pairs
local setmetatable, getmetatable, rawget = setmetatable, getmetatable, rawget
local math_type, tointeger, min = math.type, math.tointeger, math.min
local concat = table.concat
local format = string.format
local os_time, os_date = os.time, os.date
local traceback = debug.traceback
local now, spawn_n, sleep, is_closed = core.now, core.spawn_n, core.sleep, core.is_closed
local GreenThreadExit = core.GreenThreadExit
local shutdown = require "green.shutdown"
local ShutdownTimeout = shutdown.ShutdownTimeout   -- a graceful stop's kill

local wsgi = {}

local F = core.http_flags  -- core.http_respond's flags (host/http/http.h)
local HTTP10, KEEP, HEAD, CAPITALIZE, MORE = F.HTTP10, F.KEEP, F.HEAD, F.CAPITALIZE, F.MORE

local CONTINUE = "HTTP/1.1 100 Continue\r\n\r\n"
local EMPTY = setmetatable({}, { __newindex = function() error("read-only table", 2) end })

--------------------------------------------------------------- arguments

local function typename(v)
  local mt = getmetatable(v)
  local name = type(mt) == "table" and rawget(mt, "__name")
  return type(name) == "string" and name or type(v)
end

local function callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__call") ~= nil
end

-- Raised without a position: server re-raises it at its caller.
local function bad(n, msg)
  error(format("bad argument #%d to 'server' (%s)", n, msg), 0)
end

local function opt_int(opts, name, lo, default)
  local v = opts[name]
  if v == nil then return default end
  local i = math_type(v) and tointeger(v)
  if not i then
    bad(3, format("opts.%s: integer expected, got %s", name,
      math_type(v) == "float" and "a non-integral number" or typename(v)))
  end
  if i < lo then bad(3, format("opts.%s: must be at least %d", name, lo)) end
  return i
end

-- A timeout: a positive number of seconds, or false for none.
local function opt_timeout(opts, name, default)
  local v = opts[name]
  if v == nil then return default end
  if v == false then return nil end
  if type(v) ~= "number" or v ~= v or v <= 0 then
    bad(3, format("opts.%s: positive number or false expected, got %s", name,
      type(v) == "number" and tostring(v) or typename(v)))
  end
  return v
end

local function opt_bool(opts, name, default)
  local v = opts[name]
  if v == nil then return default end
  if type(v) ~= "boolean" then
    bad(3, format("opts.%s: boolean expected, got %s", name, typename(v)))
  end
  return v
end

local KNOWN = {
  max_size = true, keepalive = true, socket_timeout = true, header_timeout = true,
  url_length_limit = true, max_header_line = true, max_headers_size = true,
  max_headers = true, max_body_size = true, max_discard = true,
  minimum_chunk_size = true, log = true, log_format = true,
  log_x_forwarded_for = true, debug = true, capitalize_response_headers = true,
  server_name = true, server_port = true,
  proxy_protocol = true, trusted_proxies = true,
}

------------------------------------------------------------------- logs

local MONTHS = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" }

-- The access log's date, local time as eventlet (BaseHTTPRequestHandler)
-- writes it: "01/Dec/2026 23:14:23". Made once per second.
local log_second, log_date = nil, nil
local function log_date_time()
  local t = os_time()
  if t ~= log_second then
    local d = os_date("*t", t)
    log_date = format("%02d/%s/%04d %02d:%02d:%02d", d.day, MONTHS[d.month], d.year,
      d.hour, d.min, d.sec)
    log_second = t
  end
  return log_date
end

-- A message for the error log; never raises (its __tostring may).
local function describe(e)
  if type(e) == "string" then return e end
  local ok, s = pcall(tostring, e)
  return ok and type(s) == "string" and s or "(error object: " .. type(e) .. ")"
end

-- xpcall's handler: a traceback for errors, killing passes through.
local function on_error(e)
  if e == GreenThreadExit or e == ShutdownTimeout then return e end
  return traceback(describe(e), 2)
end

local function log_error(srv, msg)
  pcall(srv.errlog.write, srv.errlog, msg .. "\n")
end

-------------------------------------------------------------------- input

-- env.input: the request body, de-chunked, read through the connection's
-- parser. Fields: sock, p, expect (a 100 Continue is owed before the first
-- read), head (extra 100 Continue header lines), over (the request is
-- finished), failed (the error a read met: the server answers it).
local Input = { __name = "green.wsgi.Input" }
Input.__index = Input

local function check_input(self, fname)
  if getmetatable(self) ~= Input then
    error(format("calling '%s' on bad self (wsgi input expected, got %s)", fname, typename(self)), 3)
  end
end

local FORMATS = { ["*l"] = "l", l = "l", ["*a"] = "a", a = "a" }

local function send_continue(self)
  self.expect, self.continued = false, true
  local msg = self.head and "HTTP/1.1 100 Continue\r\n" .. self.head .. "\r\n" or CONTINUE
  local ok, err = self.sock:send(msg)
  if not ok then return nil, err end
  return true
end

local function read(self, what)
  if self.over then return nil, "closed" end
  if self.expect then
    local ok, err = send_continue(self)
    if not ok then return nil, err end
  end
  local data, err = self.p:read_body(self.sock, what)
  -- the body broke the protocol: the server answers it (400, 413)
  if err then
    if err == "body too large" or err:find("^bad chunk") then self.failed = err end
    return nil, err
  end
  return data
end

-- input:read(n | "*l" | "*a"): Lua's io semantics: at the end, nil for n
-- and lines, "" for "*a"; nil, err if the body was cut short.
function Input.read(self, what)
  check_input(self, "read")
  if what == nil then
    what = "l"
  elseif type(what) == "number" then
    local n = tointeger(what)
    if not n or n < 0 then error("bad argument #1 to 'read' (invalid number of bytes)", 2) end
    if n == 0 then
      if self.over or self.p:body_done() then return nil end
      return ""
    end
    what = n
  else
    local f = FORMATS[what]
    if not f then error("bad argument #1 to 'read' (invalid format)", 2) end
    what = f
  end
  return read(self, what)
end

-- input:lines(): for line in env.input:lines() ... (raises if the body is
-- cut short, as io.lines does on errors).
function Input.lines(self)
  check_input(self, "lines")
  return function()
    local line, err = read(self, "l")
    if err then error("wsgi input: " .. err, 2) end
    return line
  end
end

local function check_header(name, value, fname)
  if type(name) ~= "string" or name == "" or name:find("[^%w!#$%%&'*+%-.^_`|~]") then
    error(format("bad argument #1 to '%s' (invalid header name %q)", fname, tostring(name)), 3)
  end
  local tv = type(value)
  if tv == "number" then value = tostring(value)
  elseif tv ~= "string" then
    error(format("bad argument #1 to '%s' (header %s: string expected, got %s)",
      fname, name, typename(value)), 3)
  end
  if value:find("[%z\r\n]") then
    error(format("bad argument #1 to '%s' (header %s: CR, LF or NUL in its value)", fname, name), 3)
  end
  return name .. ": " .. value .. "\r\n"
end

-- input:set_continue_headers(t): headers (name -> value, or an array of
-- values) for the 100 Continue the first read sends.
function Input.set_continue_headers(self, t)
  check_input(self, "set_continue_headers")
  if type(t) ~= "table" then
    error(format("bad argument #1 to 'set_continue_headers' (table expected, got %s)", typename(t)), 2)
  end
  if self.continued then error("set_continue_headers: 100 Continue was sent already", 2) end
  local lines = {}
  for name, value in pairs(t) do
    if type(value) == "table" then
      for i = 1, #value do lines[#lines + 1] = check_header(name, value[i], "set_continue_headers") end
    else
      lines[#lines + 1] = check_header(name, value, "set_continue_headers")
    end
  end
  self.head = concat(lines)
end

Input.__tostring = function(self)
  check_input(self, "__tostring")
  return "wsgi input"
end

------------------------------------------------------------------- bodies

-- The next piece of an iterator body: pieces joined until they reach
-- `least` bytes, the iterator ends, or making a piece blocked (it slept or
-- waited: what is gathered goes now, so a slow stream is never held back
-- for bytes that may take minutes). Returns the piece and whether the
-- iterator ended.
local switches = core.switches
local function gather(iter, least)
  local buf, n, size
  while true do
    local before = switches()
    local s = iter()
    if switches() ~= before and s ~= nil then least = 1 end  -- it blocked: flush with this piece
    if s == nil then
      if not buf then return "", true end
      return n == 1 and buf[1] or concat(buf, "", 1, n), true
    end
    if type(s) ~= "string" then
      error("the body iterator returned a " .. typename(s) .. " (string expected)", 0)
    end
    if s ~= "" then
      if not buf then
        if #s >= least then return s, false end
        buf, n, size = { s }, 1, #s
      else
        n = n + 1
        buf[n] = s
        size = size + #s
        if size >= least then return concat(buf, "", 1, n), false end
      end
    end
  end
end

local function code_of(status)
  if type(status) == "number" then return status end
  return tointeger(tonumber(status:sub(1, 3))) or 0
end

local function bodyless(flags, status)
  if flags & HEAD ~= 0 then return true end
  local code = code_of(status)
  return code < 200 or code == 204 or code == 304
end

local function length_error(c, env, declared, got, more)
  log_error(c.srv, format(
    "wsgi: %s %s: the app's Content-Length is %d but its body has %s%d bytes; closing the connection",
    env.REQUEST_METHOD, env.PATH_INFO, declared, more and "more than " or "", got))
end

-- Send the rest of an iterator body after the head (mode as
-- core.http_respond returns it). Returns whether the connection may stay.
local function stream(c, env, iter, done, sent, mode, declared, least)
  local sock = c.sock
  if mode == 2 then
    local http_chunk = core.http_chunk
    c.body_length = sent
    if done then return http_chunk(sock, "", true) == true end
    while not done do
      local piece
      piece, done = gather(iter, least)
      if not http_chunk(sock, piece, done) then c.body_length = sent; return false end
      sent = sent + #piece
    end
    c.body_length = sent
    return true
  end
  -- mode 1 (the app's Content-Length) or 3 (close-delimited)
  while not done do
    local piece
    piece, done = gather(iter, least)
    if mode == 1 and sent + #piece > declared then
      local over = sent + #piece
      piece = piece:sub(1, declared - sent)
      if piece ~= "" and sock:send(piece) then sent = declared end
      c.body_length = sent
      length_error(c, env, declared, over, not done)
      return false
    end
    if piece ~= "" then
      if not sock:send(piece) then c.body_length = sent; return false end
      sent = sent + #piece
    end
  end
  c.body_length = sent
  if mode == 1 and sent ~= declared then
    length_error(c, env, declared, sent)
    return false
  end
  return mode == 1
end

-------------------------------------------------------------- errors

-- An answer of the server's own (an error), closing the connection: the
-- status and a short text body; what the access log needs goes into c.
local PLAIN = { ["Content-Type"] = "text/plain" }
local function answer_error(c, status, body, flags)
  c.status, c.sent = status, true
  local ok, keep = pcall(core.http_respond, c.sock, status, PLAIN, body,
    flags & (HTTP10 | HEAD | CAPITALIZE))
  c.body_length = (ok and keep ~= nil and flags & HEAD == 0) and #body or 0
end

local function internal_error(c, flags, tb)
  local body = "Internal Server Error"
  if c.srv.debug then body = body .. "\n\n" .. tb end
  answer_error(c, 500, body, flags)
end

-- A body read met a bad chunk or passed max_body_size: the client's
-- error, and the answer, whatever the app did with it.
local function failed_body(c, input, flags)
  local code = input.failed == "body too large" and 413 or 400
  answer_error(c, code, core.http_reason(code) .. "\n", flags)
end

-------------------------------------------------------------- a request

-- Runs under xpcall: the app, then its response. Returns whether the
-- connection may stay open, and the status sent.
local function respond(c, env, input, flags)
  local status, headers, body = c.app(env)
  if input.failed then
    failed_body(c, input, flags)
    return false
  end
  if headers == nil then headers = EMPTY end
  local first, iter, done, least
  local tb = type(body)
  if tb == "string" then
    first = body
  elseif tb == "table" then
    first = concat(body)
  elseif tb == "function" then
    iter = body
    -- env.minimum_chunk_size: this response's own (eventlet's
    -- eventlet.minimum_write_chunk_size), e.g. 1 to send each piece at once
    least = env.minimum_chunk_size
    if math_type(least) ~= "integer" or least < 1 then least = c.srv.min_chunk end
    first, done = gather(body, least)
    flags = flags | MORE
  elseif body == nil then
    first = ""
  else
    error("the app returned a " .. typename(body) .. " body (string, array or function expected)", 0)
  end
  -- an owed 100 Continue that was never sent: the client may or may not
  -- send the body, so the connection cannot go on; stopping: neither
  if flags & KEEP ~= 0 and (input.expect or c.srv.stopping) then flags = flags - KEEP end
  c.status = status
  local keep, mode, declared = core.http_respond(c.sock, status, headers, first, flags)
  c.sent = true
  if keep == nil then return false end
  if mode == 0 then
    if bodyless(flags, status) then return keep end
    local n = #first
    if declared and declared ~= n then
      c.body_length = min(declared, n)
      length_error(c, env, declared, n, iter and not done)
      return false
    end
    c.body_length = n
    if iter and not done then
      -- exactly the declared length so far: the iterator must be at its end
      local piece
      piece, done = gather(iter, 1)
      if piece ~= "" then
        length_error(c, env, declared, n + #piece, not done)
        return false
      end
    end
    return keep
  end
  local sent = #first
  if declared and sent > declared then
    c.body_length = declared
    length_error(c, env, declared, sent, not done)
    return false
  end
  if not iter then   -- a complete body shorter than its Content-Length
    c.body_length = sent
    length_error(c, env, declared or 0, sent)
    return false
  end
  return stream(c, env, iter, done, sent, mode, declared, least) and keep
end

local function run_posthooks(c, env, hooks)
  for i = 1, #hooks do
    local ok, err = xpcall(hooks[i], on_error, env)
    if not ok then
      if err == GreenThreadExit then error(err, 0) end
      log_error(c.srv, "wsgi: a posthook failed: " .. err)
    end
  end
end

local function access_log(c, env, wall)
  local srv = c.srv
  local ip = c.client or c.remote_addr   -- c.client: trusted_proxies' answer
  if srv.xff and not srv.trusted then
    local f = env.HTTP_X_FORWARDED_FOR
    if f then ip = f:gsub(" ", "") .. "," .. ip end
  end
  local target = env.REQUEST_URI
  if not target then
    local q = env.QUERY_STRING
    target = (q and q ~= "") and env.PATH_INFO .. "?" .. q or env.PATH_INFO
  end
  local request_line = env.REQUEST_METHOD .. " " .. target .. " " .. env.SERVER_PROTOCOL
  local status = c.status
  local code = type(status) == "number" and status or tostring(status):sub(1, 3)
  local line
  if srv.log_format then
    local ok, res = pcall(srv.log_format, {
      client_ip = ip, client_port = c.client_port or c.remote_port, date_time = log_date_time(),
      request_line = request_line, status_code = code, body_length = c.body_length,
      wall_seconds = wall,
    })
    if not ok or type(res) ~= "string" then
      log_error(srv, "wsgi: log_format failed: " .. (ok and "it returned a " .. typename(res) or describe(res)))
      return
    end
    line = res
  else
    line = format('%s - - [%s] "%s" %s %d %.6f', ip, log_date_time(), request_line, code,
      c.body_length, wall)
  end
  pcall(srv.log.write, srv.log, line .. "\n")
end

----------------------------------------------------------- a connection

-- opts.proxy_protocol: the PROXY header (v1 or v2) that starts every
-- connection, read within header_timeout (else socket_timeout), gives the
-- client's address; UNKNOWN and LOCAL keep the peer's. Without a valid one
-- the connection closes before the app sees anything. Returns whether to go on.
local function proxy_header(srv, c)
  local kind, src, sport = core.proxy_read(c.sock, srv.head_timeout or srv.socket_timeout)
  if not kind then
    if src ~= "closed" then   -- nothing came: a port probe, or stop() closed it
      log_error(srv, format("wsgi: connection from %s%s closed: %s", c.remote_addr,
        c.remote_port ~= "" and ":" .. c.remote_port or "", src))
    end
    return false
  end
  if src then c.remote_addr, c.remote_port = src, tostring(sport) end
  return true
end

-- A request the parser refused (no access log line follows).
local function bad_request(c, status)
  answer_error(c, status, (core.http_reason(status) or "Bad Request") .. "\n", c.srv.base_flags)
end

-- One connection's requests, in order, until either side ends it.
local function serve_conn(srv, c)
  local sock = c.sock
  sock:settimeout(srv.socket_timeout)
  if srv.proxy_protocol and not proxy_header(srv, c) then return end
  local p = core.http_parser("request", srv.limits)
  c.p = p
  srv.conns[sock] = c
  local read_request, body_done = p.read_request, p.body_done
  local server_name, server_port = srv.server_name, srv.server_port
  local remote_addr, remote_port = c.remote_addr, c.remote_port
  local errobj, base_flags, head_timeout = srv.errobj, srv.base_flags, srv.head_timeout
  local keepalive, keep_idle = srv.keepalive, srv.keep_idle
  local trusted, client_of = srv.trusted, srv.client_of
  local idle = srv.first_idle
  while not srv.stopping do
    c.waiting = true   -- between requests: stop() may close it
    -- env comes from read_request, made at its final size (the request's
    -- keys and room for these): never grown key by key
    local env, ka, expect = read_request(p, sock, nil, idle, head_timeout)
    if not env then
      if type(ka) == "number" then bad_request(c, ka) end
      return
    end
    c.waiting = false
    local t0 = srv.logging and now()
    local input = setmetatable({ sock = sock, p = p, expect = expect }, Input)
    local hooks = {}
    env.SCRIPT_NAME, env.SERVER_NAME, env.SERVER_PORT = "", server_name, server_port
    env.REMOTE_ADDR, env.REMOTE_PORT, env.error = remote_addr, remote_port, errobj
    env.input, env.posthooks = input, hooks
    if trusted then
      local a, pt = client_of(env, remote_addr, trusted)
      if a then env.REMOTE_ADDR, env.REMOTE_PORT = a, pt or "" end
      c.client, c.client_port = a or remote_addr, a and (pt or "") or remote_port
    end
    local flags = base_flags
    if env.SERVER_PROTOCOL == "HTTP/1.0" then flags = flags | HTTP10 end
    if ka and keepalive then flags = flags | KEEP end
    if env.REQUEST_METHOD == "HEAD" then flags = flags | HEAD end
    c.sent, c.body_length = false, 0
    local keep
    ok, keep = xpcall(respond, on_error, c, env, input, flags)
    if not ok then
      if keep == GreenThreadExit or keep == ShutdownTimeout then error(keep, 0) end
      log_error(srv, "wsgi: error in the app for " .. env.REQUEST_METHOD .. " " .. env.PATH_INFO
        .. ": " .. keep)
      if not c.sent then
        if input.failed then failed_body(c, input, flags) else internal_error(c, flags, keep) end
      end
      keep = false
    end
    input.over = true
    if keep and not srv.stopping and not body_done(p) then
      keep = p:discard(sock, srv.max_discard)
    end
    local wall = t0 and now() - t0   -- as eventlet: the posthooks' time is not in it
    if hooks[1] ~= nil then run_posthooks(c, env, hooks) end
    if wall then access_log(c, env, wall) end
    if not keep then return end
    idle = keep_idle
  end
end

local function run_conn(srv, sock, ip, port)
  local c = {
    srv = srv, sock = sock, app = srv.app,
    remote_addr = ip or (port == nil and srv.unix and "unix" or ""),
    remote_port = port and tostring(port) or "",
    sent = false, body_length = 0, status = nil, waiting = false, p = nil,
    gt = core.getcurrent(),   -- for a graceful stop that has to kill it
  }
  local ok, err = pcall(serve_conn, srv, c)
  srv.conns[sock] = nil
  sock:close()
  srv.active = srv.active - 1
  srv.slots:release()
  if srv.stopping and srv.active == 0 then srv.drained:release() end
  if not ok then
    if err == GreenThreadExit then error(err, 0) end
    if err == ShutdownTimeout then return end   -- the stop lists it
    log_error(srv, "wsgi: connection error: " .. describe(err))
  end
end

------------------------------------------------------------------ server

local function accept_loop(srv, sock)
  local slots, conns = srv.slots, srv.conns
  while true do
    if not slots:acquire(false) then
      -- at max_size: accept nothing until a connection ends, but notice
      -- the listener closing meanwhile
      repeat
        if is_closed(sock) then return end
      until slots:acquire(true, 0.1)
    end
    local client, ip, port = sock:accept()
    if not client then
      slots:release()
      if ip == "closed" or is_closed(sock) then return end
      sleep(0.01)   -- a transient failure (e.g. out of fds): pause
    else
      conns[client] = true   -- not started yet: stop() closes it
      srv.active = srv.active + 1
      spawn_n(run_conn, srv, client, ip, port)
    end
  end
end

-- Stop: close the idle connections (no byte of a next request has come);
-- the others end after their current request, whose response says
-- Connection: close unless its head had gone out already.
local function stop(srv)
  srv.stopping = true
  local idle = {}
  for s, c in pairs(srv.conns) do
    if c == true or (c.waiting and select(2, pcall(c.p.idle, c.p, s)) ~= false) then
      idle[#idle + 1] = s
    end
  end
  for i = 1, #idle do idle[i]:close() end
end

local function check_socket(sock)
  if not pcall(is_closed, sock) then   -- it raises for anything but a socket
    bad(1, "socket expected, got " .. typename(sock))
  end
end

-- The server's settings from opts, every one checked, with its default.
local function settings(sock, app, opts)
  check_socket(sock)
  if not callable(app) then bad(2, "function expected, got " .. typename(app)) end
  if opts == nil then opts = EMPTY
  elseif type(opts) ~= "table" then bad(3, "table expected, got " .. typename(opts)) end
  for k in pairs(opts) do
    if not KNOWN[k] then
      bad(3, "unknown option " .. (type(k) == "string" and "'" .. k .. "'" or typename(k)))
    end
  end
  local socket_timeout = opt_timeout(opts, "socket_timeout", 60)
  local header_timeout = opt_timeout(opts, "header_timeout", 30)
  -- keepalive: true waits for the next request as long as any read
  -- (socket_timeout), a number that many seconds, false or 0 never
  local keepalive, keep_idle = opts.keepalive, nil
  if keepalive == nil then
    keepalive, keep_idle = true, 60
  elseif keepalive == true then
    keep_idle = socket_timeout
  elseif keepalive == false or keepalive == 0 then
    keepalive = false
  elseif type(keepalive) ~= "number" or keepalive ~= keepalive or keepalive < 0 then
    bad(3, "opts.keepalive: boolean or non-negative number expected, got "
      .. (type(keepalive) == "number" and tostring(keepalive) or typename(keepalive)))
  else
    keepalive, keep_idle = true, keepalive
  end
  local log = opts.log
  if log == nil then log = io.stderr end
  if log ~= false then
    local ok, w = pcall(function() return log.write end)
    if not ok or not callable(w) then
      bad(3, "opts.log: false or an object with a write method expected, got " .. typename(log))
    end
  end
  local log_format = opts.log_format
  if log_format ~= nil and not callable(log_format) then
    bad(3, "opts.log_format: function expected, got " .. typename(log_format))
  end
  local server_name = opts.server_name
  if server_name ~= nil and type(server_name) ~= "string" then
    bad(3, "opts.server_name: string expected, got " .. typename(server_name))
  end
  local server_port = opts.server_port
  if type(server_port) == "number" then
    server_port = opt_int(opts, "server_port", 0)
    if server_port > 65535 then bad(3, "opts.server_port: port out of range") end
    server_port = tostring(server_port)
  elseif server_port ~= nil and type(server_port) ~= "string" then
    bad(3, "opts.server_port: integer or string expected, got " .. typename(server_port))
  end
  local errlog = log or io.stderr
  local trusted, client_of = nil, nil
  if opts.trusted_proxies ~= nil then
    local forwarded = require "green.forwarded"
    trusted = forwarded.compile(opts.trusted_proxies, function(msg) bad(3, "opts.trusted_proxies: " .. msg) end)
    client_of = forwarded.client
  end
  return {
    app = app,
    max_size = opt_int(opts, "max_size", 1, 1024),
    keepalive = keepalive,
    keep_idle = keep_idle,
    socket_timeout = socket_timeout,
    head_timeout = header_timeout,
    first_idle = socket_timeout,
    limits = {
      url_length_limit = opt_int(opts, "url_length_limit", 1),
      max_header_line = opt_int(opts, "max_header_line", 1),
      max_headers_size = opt_int(opts, "max_headers_size", 1),
      max_headers = opt_int(opts, "max_headers", 1),
      max_body_size = opt_int(opts, "max_body_size", 0),
    },
    max_discard = opt_int(opts, "max_discard", 0, 1024 * 1024),
    min_chunk = opt_int(opts, "minimum_chunk_size", 1, 4096),
    logging = log ~= false,
    log = log or nil,
    errlog = errlog,
    errobj = {   -- env.error
      write = function(_, ...) return errlog:write(...) end,
      flush = function() return true end,
    },
    log_format = log_format,
    xff = opt_bool(opts, "log_x_forwarded_for", true),
    debug = opt_bool(opts, "debug", false),
    base_flags = opt_bool(opts, "capitalize_response_headers", true) and CAPITALIZE or 0,
    server_name = server_name,
    server_port = server_port,
    proxy_protocol = opt_bool(opts, "proxy_protocol", false),
    trusted = trusted,        -- opts.trusted_proxies compiled (green.forwarded)
    client_of = client_of,
    conns = {},          -- socket -> its connection table (true until its thread starts)
    active = 0,          -- connection threads running
    stopping = false,
  }
end

-- green.wsgi.server(sock, app, opts): see the header comment.
function wsgi.server(sock, app, opts)
  local fine, srv = pcall(settings, sock, app, opts)
  if not fine then error(srv, 2) end
  local name, port = sock:getsockname()
  if port == nil then   -- a Unix socket: eventlet's names for it
    srv.unix = true
    name, port = "unix", ""
  end
  srv.server_name = srv.server_name or (name and tostring(name)) or ""
  srv.server_port = srv.server_port or (port and tostring(port)) or ""
  srv.slots = core.Semaphore(srv.max_size)
  srv.drained = core.Semaphore(0)
  -- a graceful stop (green.shutdown) closes the listener and the idle
  -- connections; the server returns once the others have ended
  local reg <close> = shutdown.register(function()
    sock:close()
    stop(srv)
  end, function()
    local list = {}
    for _, c in pairs(srv.conns) do
      if type(c) == "table" and c.gt then list[#list + 1] = c.gt end
    end
    return list
  end)
  local ok, err = pcall(accept_loop, srv, sock)
  stop(srv)
  if not ok then error(err, 0) end
  if srv.active > 0 then srv.drained:acquire() end
end

-- green.wsgi.format_date_time(t) -> "Tue, 01 Dec 2026 23:14:23 GMT"
function wsgi.format_date_time(t)
  if type(t) ~= "number" or t ~= t then
    error(format("bad argument #1 to 'format_date_time' (number expected, got %s)",
      t ~= t and "NaN" or typename(t)), 2)
  end
  if t < -62167219200 or t >= 253402300800 then   -- years 0 to 9999: the format holds
    error("bad argument #1 to 'format_date_time' (time out of range (years 0 to 9999))", 2)
  end
  return core.http_date(t)
end

return wsgi
