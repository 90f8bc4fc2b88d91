-- Run under lua5.4 (Debian's LuaSocket) and under greenlua (the green
-- socket.core): spec/luasocket_options_spec.lua compares the outputs line
-- for line. Every setoption/getoption name of 3.1.0, for tcp, udp and
-- socket.unix, with good and bad values, on open and closed objects.
local socket = require "socket"
local unix = require "socket.unix"

local function show(v)
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. show(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return tostring(v)
end

local function p(label, ...)
  local t = table.pack(...)
  local out = {}
  for i = 1, t.n do out[i] = show(t[i]) end
  print(label, table.concat(out, " "))
end

local function try(label, f, ...)
  p(label, pcall(f, ...))
end

-- Values that differ between runs or machines are masked.
local function masked(v)
  if type(v) == "number" and v > 1000 then return "BIG" end
  return v
end

local values = {true, false, 0, 1, 7, -1, 1e300, 0 / 0, "3", "x", {}, {on = true, timeout = 2},
  {on = "yes"}, {on = false, timeout = "z"}, {multiaddr = "224.0.0.251", interface = "*"},
  {multiaddr = "ff02::fb"}, {multiaddr = "nope", interface = "*"},
  {multiaddr = "224.0.0.251", interface = "bad"}, {multiaddr = "ff02::fb", interface = "x"},
  "127.0.0.1", "*", "bad"}

local tcp_set = {"keepalive", "reuseaddr", "reuseport", "tcp-nodelay", "tcp-keepidle", "tcp-keepcnt",
  "tcp-keepintvl", "ipv6-v6only", "linger", "recv-buffer-size", "send-buffer-size",
  "tcp-defer-accept", "tcp-fastopen", "tcp-fastopen-connect", "error", "nope",
  string.rep("long-name-", 6)}
local tcp_get = {"keepalive", "reuseaddr", "reuseport", "tcp-nodelay", "tcp-keepidle", "tcp-keepcnt",
  "tcp-keepintvl", "linger", "error", "recv-buffer-size", "send-buffer-size", "ipv6-v6only",
  "broadcast", "nope"}
local udp_set = {"dontroute", "broadcast", "reuseaddr", "reuseport", "ip-multicast-if",
  "ip-multicast-ttl", "ip-multicast-loop", "ip-add-membership", "ip-drop-membership",
  "ipv6-unicast-hops", "ipv6-multicast-hops", "ipv6-multicast-loop", "ipv6-add-membership",
  "ipv6-drop-membership", "ipv6-v6only", "recv-buffer-size", "send-buffer-size", "linger", "nope"}
local udp_get = {"dontroute", "broadcast", "reuseaddr", "reuseport", "ip-multicast-if",
  "ip-multicast-loop", "error", "ipv6-unicast-hops", "ipv6-multicast-hops", "ipv6-multicast-loop",
  "ipv6-v6only", "recv-buffer-size", "send-buffer-size", "ip-multicast-ttl", "nope"}

local function sweep(name, make, set, get)
  for _, opt in ipairs(set) do
    for i, v in ipairs(values) do
      local s = make()
      local ok, a, b = pcall(s.setoption, s, opt, v)
      p(name .. " set " .. opt .. " #" .. i, ok, masked(a), b)
      if get then
        local ok2, g, e = pcall(s.getoption, s, opt)
        p(name .. " get-after " .. opt .. " #" .. i, ok2, masked(g), e)
      end
      s:close()
    end
    local s = make()
    try(name .. " set " .. opt .. " none", s.setoption, s, opt)
    s:close()
    try(name .. " set " .. opt .. " closed", s.setoption, s, opt, true)
  end
  for _, opt in ipairs(get or {}) do
    local s = make()
    local ok, g, e = pcall(s.getoption, s, opt)
    p(name .. " get " .. opt, ok, masked(g), e)
    s:close()
    try(name .. " get " .. opt .. " closed", s.getoption, s, opt)
  end
end

sweep("tcp4", socket.tcp4, tcp_set, tcp_get)
sweep("tcp6", socket.tcp6, {"ipv6-v6only", "linger", "keepalive"}, {"ipv6-v6only", "linger"})
sweep("tcp", socket.tcp, {"reuseaddr", "keepalive"}, {"reuseaddr", "error"})
sweep("udp4", socket.udp4, udp_set, udp_get)
sweep("udp6", socket.udp6, {"ipv6-unicast-hops", "ipv6-multicast-hops", "ipv6-multicast-loop",
  "ipv6-v6only", "ipv6-add-membership", "ip-multicast-if"}, {"ipv6-unicast-hops",
  "ipv6-multicast-hops", "ipv6-multicast-loop", "ipv6-v6only", "ip-multicast-if"})
sweep("udp", socket.udp, {"reuseaddr", "broadcast"}, {"reuseaddr", "broadcast", "error"})
sweep("unixstream", unix.stream, {"keepalive", "reuseaddr", "linger", "tcp-nodelay", "nope"}, nil)
sweep("unixdgram", unix.dgram, {"reuseaddr", "keepalive", "linger", "nope"}, nil)

-- argument errors of the methods themselves
local t = socket.tcp4()
try("tcp set no name", t.setoption, t)
try("tcp set number name", t.setoption, t, 12, true)
try("tcp get no name", t.getoption, t)
try("tcp set bad self", t.setoption, 42, "keepalive", true)
try("udp set on tcp", socket.udp4().setoption, t, "broadcast", true)
p("tcp method call", pcall(function() return t:setoption("nope", 1) end))
p("tcp method call get", pcall(function() return t:getoption("nope") end))
p("unix stream getoption", unix.stream().getoption)
p("unix dgram getoption", unix.dgram().getoption)
-- a linger table whose fields come from __index
local li = setmetatable({}, {__index = function(_, k) if k == "on" then return true end return 3 end})
local t2 = socket.tcp4()
p("tcp linger via __index", t2:setoption("linger", li), show(t2:getoption("linger")))
-- the pending socket error after a refused connect
local probe = socket.tcp4()
probe:settimeout(2)
probe:bind("127.0.0.1", 0)
local _, port = probe:getsockname()
probe:close()
local c = socket.tcp4()
c:settimeout(0)
c:connect("127.0.0.1", port)
socket.select(nil, {c}, 2)
p("tcp error after refused", c:getoption("error"))
p("tcp error after read", c:getoption("error"))
