-- green.net: the network API scripts see, composed from green.core's
-- sockets (host/socket.c, host/net.c): names resolved through the hub,
-- listen/connect with their defaults, and serve.
local core = require "green.core"

local net = {}

-- green.getaddrinfo(host) -> array of address strings, or nil, err
net.getaddrinfo = core.getaddrinfo

local ANY = { ["*"] = "0.0.0.0", [""] = "0.0.0.0" }

local function check_opts(opts, what)
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #3 to '%s' (table expected, got %s)"):format(what, type(opts)), 3)
  end
  return opts or {}
end

local function check_port(port, what, n)
  if math.type(port) ~= "integer" then
    error(("bad argument #%d to '%s' (integer port expected, got %s)")
      :format(n or 2, what, math.type(port) or type(port)), 3)
  end
end

-- green.listen(host, port, opts) -> listening socket, or nil, err
function net.listen(host, port, opts)
  if type(host) ~= "string" then
    error(("bad argument #1 to 'listen' (string expected, got %s)"):format(type(host)), 2)
  end
  check_port(port, "listen")
  opts = check_opts(opts, "listen")
  local addrs, err = core.getaddrinfo(ANY[host] or host)
  if not addrs then return nil, err end
  if opts.reuse_addr == false then
    return nil, "reuse_addr = false is not supported (libuv always sets SO_REUSEADDR)"
  end
  return core.tcp_listen(addrs[1], port, opts.backlog or 128, opts.reuse_port)
end

-- The host each socket was connected to (weak): wrap_ssl checks that name
-- when no server_hostname is given.
local connected_to = setmetatable({}, { __mode = "k" })

-- green.connect(host, port, opts) -> socket, or nil, err. Each address of
-- host is tried in turn within opts.timeout.
function net.connect(host, port, opts)
  if type(host) ~= "string" then
    error(("bad argument #1 to 'connect' (string expected, got %s)"):format(type(host)), 2)
  end
  check_port(port, "connect")
  opts = check_opts(opts, "connect")
  local deadline = opts.timeout and core.now() + opts.timeout
  local bind_host, bind_port = nil, nil
  if opts.bind then bind_host, bind_port = opts.bind[1], opts.bind[2] or 0 end
  local addrs, err = core.getaddrinfo(host)
  if not addrs then return nil, err end
  for _, ip in ipairs(addrs) do
    local left = deadline and math.max(0, deadline - core.now())
    local sock
    sock, err = core.tcp_connect(ip, port, left, bind_host, bind_port)
    if sock then connected_to[sock] = host; return sock end
    if err == "timeout" then break end
  end
  return nil, err
end

-- green.listen_unix(path, opts): opts.backlog, opts.mode (e.g. 384 = 0600)
function net.listen_unix(path, opts)
  opts = check_opts(opts, "listen_unix")
  return core.unix_listen(path, opts.backlog or 128, opts.mode)
end

function net.connect_unix(path, opts)
  opts = check_opts(opts, "connect_unix")
  return core.unix_connect(path, opts.timeout)
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

-- green.udp(opts) -> a UDP socket (opts.host, opts.port bind it), or nil, err
function net.udp(opts)
  opts = check_opts(opts, "udp")
  if opts.host == nil and opts.port == nil then return core.udp_open() end
  local addrs, err = core.getaddrinfo(ANY[opts.host or "*"] or opts.host)
  if not addrs then return nil, err end
  return core.udp_open(addrs[1], opts.port or 0)
end

-- u:sendto(data, host, port): host may be a name.
local raw_sendto = core.UdpMethods.sendto
function core.UdpMethods.sendto(u, data, host, port)
  if type(host) ~= "string" then
    error(("bad argument #2 to 'sendto' (string expected, got %s)"):format(type(host)), 2)
  end
  local addrs, err = core.getaddrinfo(host)
  if not addrs then return nil, err end
  return raw_sendto(u, data, addrs[1], port)
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
  opts = check_opts(opts, "wrap_ssl")
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
-- listening socket makes serve return.
function net.serve(sock, handle, concurrency)
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

  local function run(client, ip, port)
    local done <close> = setmetatable({}, { __close = function()
      client:close()
      slots:release()
    end })
    local ok, err = pcall(handle, client, ip, port)
    if not ok and not ending and err ~= core.GreenThreadExit then
      ending = setmetatable({ err = err }, Ending)
      client:close()
      core.kill(server, ending)
    end
  end

  local ok, err = pcall(function()
    while true do
      slots:acquire()
      if core.is_closed(sock) then return end
      local client, ip, port = sock:accept()
      if not client then
        slots:release()
        if ip == "closed" then return end
        -- a transient accept failure (e.g. too many open files): pause
        core.sleep(0.01)
      else
        core.spawn(run, client, ip, port)
      end
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
