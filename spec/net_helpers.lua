-- Helpers for the network specs (tcp, unix, serve, dns, realclients, leak).
-- Like spec/helpers.lua these run inside greenlua and may block. Everything
-- listens on 127.0.0.1 (or a Unix path in a temp dir) only.
local green = require "green"

local net = {}

-- A listening socket on 127.0.0.1, an ephemeral port; returns it and the port.
function net.listener(opts)
  local l = assert(green.listen("127.0.0.1", 0, opts))
  local _, port = l:getsockname()
  assert(math.type(port) == "integer" and port > 0, "no port")
  return l, port
end

-- A connected pair over loopback TCP: client, server side, listener.
-- The listener is closed unless keep_listener is true.
function net.pair(keep_listener)
  local l, port = net.listener()
  local accepted
  local gt = green.spawn(function() accepted = { l:accept() } end)
  local c = assert(green.connect("127.0.0.1", port))
  gt:wait()
  local s = assert(accepted[1], accepted[2])
  if not keep_listener then l:close() end
  return c, s, l
end

-- Close every socket in `list` (ignores nils and closed ones).
function net.close_all(list)
  for _, s in pairs(list) do
    if s then pcall(s.close, s) end
  end
end

-- A line echo server: every line received is sent back with "\n". Runs
-- green.serve on a fresh listener in its own green thread. Returns the
-- listener, its port and the serve thread. Close the listener to stop it.
function net.echo_server(listener)
  local l, port = listener, nil
  if l then
    local _
    _, port = l:getsockname()
  else
    l, port = net.listener()
  end
  local gt = green.spawn(green.serve, l, function(client)
    for _ = 1, 100000 do
      local line = client:receive("*l")
      if not line then return end
      if not client:send(line .. "\n") then return end
    end
  end)
  return l, port, gt
end

-- A Unix-socket variant of echo_server on `path`.
function net.unix_echo_server(path, opts)
  local l = assert(green.listen_unix(path, opts))
  local gt = green.spawn(green.serve, l, function(client)
    for _ = 1, 100000 do
      local line = client:receive("*l")
      if not line then return end
      if not client:send(line .. "\n") then return end
    end
  end)
  return l, gt
end

-- Receive exactly n bytes from `sock` in recv-sized pieces, at most
-- `limit` seconds. Returns the data (possibly shorter on EOF/timeout).
function net.read_n(sock, n, limit)
  local parts, got = {}, 0
  local deadline = green.now() + (limit or 5)
  for _ = 1, 1e6 do
    if got >= n or green.now() > deadline then break end
    local d = sock:recv(math.min(65536, n - got))
    if not d then break end
    parts[#parts + 1] = d
    got = got + #d
  end
  return table.concat(parts)
end

-- A byte count the kernel cannot hold for one loopback TCP connection whose
-- peer does not read: more than the largest send and receive buffers TCP
-- may grow to (the maxima of tcp_wmem and tcp_rmem), plus `extra` (e.g. a
-- user-space read buffer). A send of it waits for the peer on any machine.
-- At least 8 MB; a multiple of 256.
function net.unbuffered_size(extra)
  local function max_of(path)
    local f = io.open(path, "r")
    if not f then return nil end
    local text = f:read("a")
    f:close()
    return tonumber(text:match("(%d+)%s*$"))
  end
  local mb = 1024 * 1024
  local n = (max_of("/proc/sys/net/ipv4/tcp_wmem") or 32 * mb)
    + (max_of("/proc/sys/net/ipv4/tcp_rmem") or 32 * mb) + mb + (extra or 0)
  return math.max(8 * mb, (n + 255) // 256 * 256)
end

-- This process's pid (from /proc/self/stat, read in-process).
local cached_pid
function net.pid()
  if cached_pid then return cached_pid end
  local f = io.open("/proc/self/stat", "r")
  if f then
    local stat = f:read("l")
    f:close()
    cached_pid = tonumber(stat:match("^(%d+)"))
  end
  return cached_pid
end

-- This process's resident set size, in kB (VmRSS of /proc/self/status).
function net.rss_kb()
  local f = assert(io.open("/proc/self/status", "r"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)"))
end

-- The number of this process's open fds (ls /proc/PID/fd in a child).
function net.own_fds()
  local pid = net.pid()
  local p = assert(io.popen("ls /proc/" .. pid .. "/fd | wc -l"))
  local n = tonumber(p:read("a"))
  p:close()
  -- popen's own pipe is open meanwhile: one extra fd, the same every time
  return n
end

-- Cleanups (busted keeps only the last `finally`): the shared ones.
net.defer = require("spec.helpers").defer
net.run_deferred = require("spec.helpers").run_deferred

return net
