-- green.net: the network API scripts see, composed from green.core's
-- sockets (host/socket.c, host/net.c): names resolved through the hub,
-- listen/connect with their defaults, and serve.
local core = require "green.core"

local net = {}

-- Argument checks, called straight from the user-facing functions: they
-- raise at the user's call (level 4 from bad) and name that function.
local function bad(n, what, msg)
  error(("bad argument #%d to '%s' (%s)"):format(n, what, msg), 4)
end

local function check_opts(opts, what, n)
  if opts ~= nil and type(opts) ~= "table" then
    bad(n or 3, what, "table expected, got " .. type(opts))
  end
  return opts or {}
end

local function check_string(s, what, n, field)
  if type(s) ~= "string" then
    bad(n, what, (field and field .. ": " or "") .. "string expected, got " .. type(s))
  end
end

-- An integer (an integral float too) in [lo, hi], or nil when optional.
local function check_int(v, what, n, field, lo, hi, optional)
  if v == nil and optional then return nil end
  local prefix = field and field .. ": " or ""
  if type(v) ~= "number" then
    bad(n, what, prefix .. "integer expected, got " .. type(v))
  end
  local i = math.tointeger(v)
  if not i then bad(n, what, prefix .. "number has no integer representation") end
  if i < lo or i > hi then bad(n, what, prefix .. "out of range") end
  return i
end

local function check_port(port, what, n, field, optional)
  if port == nil and optional then return nil end
  if type(port) == "number" and math.tointeger(port) and (port < 0 or port > 65535) then
    bad(n, what, (field and field .. ": " or "") .. "port out of range")
  end
  return check_int(port, what, n, field, 0, 65535)
end

local function check_timeout(t, what, n, field)
  if t ~= nil and (type(t) ~= "number" or t ~= t) then
    bad(n, what, (field and field .. ": " or "") .. "number expected, got "
      .. (t ~= t and "NaN" or type(t)))
  end
  return t
end

local function check_family(family, what, n, field)
  if family ~= nil and family ~= "inet" and family ~= "inet6" then
    bad(n, what, (field and field .. ": " or "") .. '"inet" or "inet6" expected, got '
      .. tostring(family))
  end
  return family
end

local function check_socket(sock, what, n)
  if not pcall(core.is_closed, sock) then  -- it raises for anything but a socket
    bad(n, what, "socket expected, got " .. type(sock))
  end
end

-- green.getaddrinfo(host [, family [, timeout]]) -> array of address
-- strings, or nil, err. family "inet" or "inet6" asks for that family only
-- (IPv4 addresses come back IPv4-mapped in "inet6").
function net.getaddrinfo(host, family, timeout)
  check_string(host, "getaddrinfo", 1)
  check_family(family, "getaddrinfo", 2)
  check_timeout(timeout, "getaddrinfo", 3)
  return core.getaddrinfo(host, family, timeout)
end

local function time_left(deadline)
  return deadline and math.max(0, deadline - core.now())
end

local ANY = { ["*"] = true, [""] = true }

-- The one address a name stands for where a socket is made for it (listen,
-- a UDP or connect bind): in 'family' if given, else its first IPv4
-- address if it has one (where "localhost" is ::1 first, 127.0.0.1 is what
-- clients and IPv4 peers expect), else its first address.
local function bind_address(host, family, left)
  if ANY[host] then return family == "inet6" and "::" or "0.0.0.0" end
  local addrs, err = core.getaddrinfo(host, family, left)
  if not addrs then return nil, err end
  if not family then
    for _, a in ipairs(addrs) do
      if not a:find(":", 1, true) then return a end
    end
  end
  return addrs[1]
end

local function family_of(ip)
  return ip:find(":", 1, true) and "inet6" or "inet"
end

-- green.listen(host, port, opts) -> listening socket, or nil, err. In a
-- worker of `greenlua --workers`, the master's socket for the address.
function net.listen(host, port, opts)
  check_string(host, "listen", 1)
  port = check_port(port, "listen", 2)
  opts = check_opts(opts, "listen", 3)
  local backlog = check_int(opts.backlog, "listen", 3, "opts.backlog", 0, math.maxinteger, true)
  local family = check_family(opts.family, "listen", 3, "opts.family")
  if opts.reuse_addr == false then
    return nil, "reuse_addr = false is not supported (libuv always sets SO_REUSEADDR)"
  end
  local ip, err = bind_address(host, family)
  if not ip then return nil, err end
  if core.worker() then  -- under --workers: this slot's socket, from the master
    return core.worker_listen(ip, port, backlog and math.min(backlog, 0x7fffffff) or 128)
  end
  return core.tcp_listen(ip, port, backlog and math.min(backlog, 0x7fffffff) or 128, opts.reuse_port)
end

-- The host each socket was connected to (weak): wrap_ssl checks that name
-- when no server_hostname is given.
local connected_to = setmetatable({}, { __mode = "k" })

-- green.connect(host, port, opts) -> socket, or nil, err. opts.timeout
-- bounds it all: name resolution and each address of host tried in turn.
-- With opts.bind, host is resolved in the bind address's family.
function net.connect(host, port, opts)
  check_string(host, "connect", 1)
  port = check_port(port, "connect", 2)
  opts = check_opts(opts, "connect", 3)
  local timeout = check_timeout(opts.timeout, "connect", 3, "opts.timeout")
  local family = check_family(opts.family, "connect", 3, "opts.family")
  local bind = opts.bind
  local bind_port
  if bind ~= nil then
    if type(bind) ~= "table" then bad(3, "connect", "opts.bind: table expected, got " .. type(bind)) end
    check_string(bind[1], "connect", 3, "opts.bind[1]")
    bind_port = check_port(bind[2], "connect", 3, "opts.bind[2]", true) or 0
  end
  local deadline = timeout and core.now() + timeout
  local bind_ip, err
  if bind then
    bind_ip, err = bind_address(bind[1], family, time_left(deadline))
    if not bind_ip then return nil, err end
    family = family_of(bind_ip)
  end
  local addrs
  addrs, err = core.getaddrinfo(host, family, time_left(deadline))
  if not addrs then return nil, err end
  for _, ip in ipairs(addrs) do
    local sock
    sock, err = core.tcp_connect(ip, port, time_left(deadline), bind_ip, bind_port)
    if sock then connected_to[sock] = host; return sock end
    if err == "timeout" then break end
  end
  return nil, err
end

-- green.listen_unix(path, opts): opts.backlog, opts.mode (e.g. 384 = 0600).
-- A path the kernel cannot take whole (longer than sun_path) returns nil, err.
function net.listen_unix(path, opts)
  check_string(path, "listen_unix", 1)
  opts = check_opts(opts, "listen_unix", 2)
  local backlog = check_int(opts.backlog, "listen_unix", 2, "opts.backlog", 0, math.maxinteger, true)
  local mode = check_int(opts.mode, "listen_unix", 2, "opts.mode", 0, 511, true)
  return core.unix_listen(path, backlog and math.min(backlog, 0x7fffffff) or 128, mode)
end

function net.connect_unix(path, opts)
  check_string(path, "connect_unix", 1)
  opts = check_opts(opts, "connect_unix", 2)
  return core.unix_connect(path, check_timeout(opts.timeout, "connect_unix", 2, "opts.timeout"))
end

-- sock:lines(): an iterator over lines (CR stripped); a last line without
-- a newline is returned too.
function core.SocketMethods.lines(sock)
  if not pcall(core.is_closed, sock) then
    error(("bad argument #1 to 'lines' (socket expected, got %s)"):format(type(sock)), 2)
  end
  return function()
    local line, _, partial = sock:receive("*l")
    if line then return line end
    if partial and #partial > 0 then return partial end
    return nil
  end
end

-- green.udp(opts) -> a UDP socket (opts.host, opts.port bind it), or nil,
-- err. SO_REUSEADDR only with opts.reuse_addr. u:sendto (C) resolves a
-- host name in the socket's family.
function net.udp(opts)
  opts = check_opts(opts, "udp", 1)
  if opts.host ~= nil then check_string(opts.host, "udp", 1, "opts.host") end
  local port = check_port(opts.port, "udp", 1, "opts.port", true)
  local family = check_family(opts.family, "udp", 1, "opts.family")
  if opts.host == nil and port == nil then return core.udp_open() end
  local ip, err = bind_address(opts.host or "*", family)
  if not ip then return nil, err end
  return core.udp_open(ip, port or 0, opts.reuse_addr and true or false)
end

-- green.wrap_ssl(sock, opts) -> a TLS socket (the same object), or nil, err.
-- A client handshakes here; a server-side socket (or every client accepted
-- from a wrapped listener) handshakes at its first I/O or sock:handshake().
-- A verifying client checks opts.server_hostname, else the host the socket
-- was connected to.
function net.wrap_ssl(sock, opts)
  local ok, closed = pcall(core.is_closed, sock)
  if not ok then
    error(("bad argument #1 to 'wrap_ssl' (socket expected, got %s)"):format(type(sock)), 2)
  end
  if closed then error("wrap_ssl: the socket is closed", 2) end
  opts = check_opts(opts, "wrap_ssl", 2)
  local err
  ok, err = core.tls_wrap(sock, opts, connected_to[sock])
  if not ok then return nil, err end
  if not opts.server_side then
    ok, err = sock:handshake()
    if not ok then
      sock:close()
      return nil, err
    end
  end
  return sock
end

-- green.StopServe: raise it in a handler to end serve gracefully.
net.StopServe = setmetatable({}, { __tostring = function() return "StopServe" end })

-- How a handler's end reaches serve: serve waits in accept or for a slot;
-- the handler kills it with this box around its error.
local Ending = {}
Ending.__index = Ending
Ending.__tostring = function(e) return "serve ending: " .. tostring(e.err) end

-- green.serve(sock, handle, concurrency): handle(client, ip, port) in its own
-- green thread for each connection, never more than concurrency at once
-- (accepting stops at the limit); returning closes the client. An error in
-- a handler ends serve by raising it (StopServe: serve returns); closing the
-- listening socket makes serve return; a graceful stop (SIGTERM) too, once
-- the handlers have ended.
function net.serve(sock, handle, concurrency)
  check_socket(sock, "serve", 1)
  concurrency = concurrency or 1000
  if type(handle) ~= "function" and not (getmetatable(handle) or {}).__call then
    error(("bad argument #2 to 'serve' (function expected, got %s)"):format(type(handle)), 2)
  end
  if math.type(concurrency) ~= "integer" or concurrency < 1 then
    error("bad argument #3 to 'serve' (positive integer expected)", 2)
  end
  local slots = core.Semaphore(concurrency)
  local server = core.getcurrent()
  local ending = nil
  -- a graceful stop (green.shutdown) closes the listener, then waits for
  -- the handlers: serve returns once they have ended
  local shutdown = require "green.shutdown"
  local handlers, gone = {}, core.WaitQueue()
  local reg <close> = shutdown.register(function() sock:close() end, function()
    local list = {}
    for gt in pairs(handlers) do list[#list + 1] = gt end
    return list
  end)

  local function run(client, ip, port)
    local done <close> = setmetatable({}, { __close = function()
      client:close()
      slots:release()
      handlers[core.getcurrent()] = nil
      gone:wake_all()
    end })
    local ok, err = pcall(handle, client, ip, port)
    if not ok and not ending and err ~= core.GreenThreadExit and err ~= shutdown.ShutdownTimeout then
      ending = setmetatable({ err = err }, Ending)
      client:close()
      core.kill(server, ending)
    end
  end

  local ok, err = pcall(function()
    while true do
      slots:acquire()
      if core.is_closed(sock) then slots:release() break end
      local client, ip, port = sock:accept()
      if not client then
        slots:release()
        if ip == "closed" then break end
        -- a transient accept failure (e.g. too many open files): pause
        core.sleep(0.01)
      else
        handlers[core.spawn(run, client, ip, port)] = true
      end
    end
    -- the drain of a graceful stop (a handler killed before it started
    -- never says it is gone: hence the bounded waits)
    while reg.stopped and next(handlers) do
      for gt in pairs(handlers) do if gt:dead() then handlers[gt] = nil end end
      if next(handlers) then gone:wait(0.5) end
    end
  end)
  if ok then return end
  if getmetatable(err) == Ending then
    err = err.err
    if err == net.StopServe then return end
    error(err, 0)
  end
  error(err, 0)
end

return net
