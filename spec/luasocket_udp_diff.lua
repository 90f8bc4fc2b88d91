-- Run under lua5.4 (Debian's LuaSocket) and under greenlua (the green
-- socket.core): spec/luasocket_udp_spec.lua compares the outputs line for
-- line. Every method of 3.1.0's udp objects, on 127.0.0.1 only; ports, fds
-- and addresses, which differ between runs, are masked.
local socket = require "socket"

local function show(v)
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. show(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  if type(v) == "number" and v >= 1024 and v <= 65535 and v == math.floor(v) then return "PORT" end
  if type(v) == "string" then
    if v:match("^%d%d%d%d%d?$") then return "PORTSTR" end
    return (v:gsub("0x%x+", "ADDR"))
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

local function class(o) return (tostring(o):match("^[^:]*")) end

-- module level
p("_DATAGRAMSIZE", socket._DATAGRAMSIZE, math.type(socket._DATAGRAMSIZE))
for _, ctor in ipairs({"udp", "udp4", "udp6"}) do
  local u = socket[ctor]()
  p(ctor, class(u), tostring(u):match("^[^:]*: 0x%x+$") ~= nil, u:getfamily(), u:getfd() >= 0,
    math.type(u:getfd()))
  p(ctor .. " sockname", u:getsockname())
  p(ctor .. " timeout", u:gettimeout())
  p(ctor .. " dirty", u:dirty())
  try(ctor .. " peername", u.getpeername, u)
  p(ctor .. " close", u:close(), u:close(), u:getfd())
end
do
  local mt = getmetatable(socket.udp())
  local keys = {}
  for k in pairs(mt) do keys[#keys + 1] = k end
  table.sort(keys)
  p("metatable", table.concat(keys, " "))
  local m = {}
  for k in pairs(mt.__index) do m[#m + 1] = k end
  table.sort(m)
  p("methods", table.concat(m, " "))
end

-- an unconnected pair talking with sendto / receivefrom
local a = assert(socket.udp4())
local b = assert(socket.udp())
p("a bind", a:setsockname("127.0.0.1", 0))
p("b bind", b:setsockname("127.0.0.1", "0"), b:getfamily())
local _, pa = a:getsockname()
local _, pb = b:getsockname()
p("types", type(pa), math.type(tonumber(pa)))
a:settimeout(2) b:settimeout(2)
p("sendto", a:sendto("hello", "127.0.0.1", pb))
p("receivefrom", b:receivefrom())
p("sendto number port", b:sendto("back", "127.0.0.1", tonumber(pa)))
local data, ip, port = a:receivefrom()
p("receivefrom port", data, ip, port == tonumber(pb), math.type(port))
p("sendto empty", a:sendto("", "127.0.0.1", pb))
p("receive empty", b:receive())
p("sendto big", a:sendto(string.rep("x", 9000), "127.0.0.1", pb))
local big = b:receive()
p("receive default size", #big)
a:sendto(string.rep("y", 9000), "127.0.0.1", pb)
p("receive 9000", #b:receive(9000))
a:sendto("abcdef", "127.0.0.1", pb)
p("receive 3", b:receive(3))
a:sendto("abcdef", "127.0.0.1", pb)
p("receivefrom 2", b:receivefrom(2))
a:sendto("abcdef", "127.0.0.1", pb)
p("receive 0", b:receive(0))
a:sendto("abcdef", "127.0.0.1", pb)
p("receive 1e300 (size 0)", b:receive(1e300))
b:settimeout(0)
p("receive -1", b:receive(-1))
p("receive nan", b:receive(0 / 0))
p("receive 2^40", b:receive(2 ^ 40))
p("receive nothing", b:receive())
p("receivefrom nothing", b:receivefrom())
b:settimeout(0.05)
p("receive timeout", b:receive())
b:settimeout(0.05, "t")
p("gettimeout", b:gettimeout())
p("receive total timeout", b:receive())
b:settimeout(-1) b:settimeout(-1, "t")
-- sendto errors: numeric only, LuaSocket's own strings
p("sendto name", a:sendto("x", "localhost", pb))
p("sendto service", a:sendto("x", "127.0.0.1", "echo"))
p("sendto v6 on v4", a:sendto("x", "::1", pb))
p("sendto port 0", a:sendto("x", "127.0.0.1", 0))
try("sendto no port", a.sendto, a, "x", "127.0.0.1")
try("sendto no data", a.sendto, a)
try("sendto table", a.sendto, a, {}, "127.0.0.1", 1)
-- setpeername: connected objects
local c = assert(socket.udp())
p("setpeername", c:setpeername("127.0.0.1", pb), class(c), c:getfamily())
local cip, cport, cfam = c:getpeername()
p("getpeername", cip, cport == tonumber(pb), math.type(cport), cfam)
p("getsockname", c:getsockname())
p("send", c:send("connected"))
p("received", b:receivefrom())
try("sendto on connected", c.sendto, c, "x", "127.0.0.1", pb)
try("receivefrom on connected", c.receivefrom, c)
try("setsockname on connected", c.setsockname, c, "127.0.0.1", 0)
p("setpeername again", c:setpeername("localhost", pa), class(c))
p("setpeername *", c:setpeername("*"), class(c))
try("getpeername after *", c.getpeername, c)
p("setpeername bad name", c:setpeername("nonexistent.invalid", 9))
p("setpeername bad service", c:setpeername("127.0.0.1", "nope"))
p("setpeername v6 on v4", socket.udp4():setpeername("::1", 9))
try("setpeername no port", c.setpeername, c, "127.0.0.1")
try("setpeername no args", c.setpeername, c)
try("send on unconnected", c.send, c, "x")
-- a refused connected send
local d = assert(socket.udp4())
local probe = assert(socket.udp4())
probe:setsockname("127.0.0.1", 0)
local _, dead = probe:getsockname()
probe:close()
d:setpeername("127.0.0.1", dead)
d:settimeout(1)
p("send to dead", d:send("x"))
p("receive after refused", d:receive())
p("send to dead again", d:send("x"))
-- setsockname forms
p("setsockname *", socket.udp():setsockname("*", 0))
local e = socket.udp() e:setsockname("*", 0)
p("setsockname * family", e:getfamily(), (e:getsockname()))
local f = socket.udp() f:setsockname("localhost", 0)
p("setsockname localhost", f:getfamily(), (f:getsockname()))
p("setsockname v4 on udp6", socket.udp6():setsockname("127.0.0.1", 0))
p("setsockname in use", socket.udp4():setsockname("127.0.0.1", pb))
p("setsockname bad name", socket.udp4():setsockname("nonexistent.invalid", 0))
p("setsockname twice", a:setsockname("127.0.0.1", 0))
try("setsockname no port", a.setsockname, a, "127.0.0.1")
local g6 = socket.udp6()
p("udp6 bind ::1", g6:setsockname("::1", 0))
p("udp6 sockname", (g6:getsockname()), select(3, g6:getsockname()))
-- timeouts
try("settimeout bad mode", a.settimeout, a, 1, "x")
try("settimeout table", a.settimeout, a, {})
p("settimeout nil", a:settimeout(nil), a:gettimeout())
p("settimeout r", a:settimeout(3, "r"), a:gettimeout())
p("settimeout string", a:settimeout("2"), a:gettimeout())
-- setfd / getfd / dirty; closed objects
p("dirty", a:dirty(), c:dirty())
p("close", b:close(), b:getfd(), class(b))
p("receive closed", b:receive())
p("receivefrom closed", b:receivefrom())
p("sendto closed", b:sendto("x", "127.0.0.1", pa))
p("sockname closed", b:getsockname())
p("setsockname closed", b:setsockname("127.0.0.1", 0))
p("send connected closed", c:close(), d:close(), d:send("x"))
p("getpeername closed", socket.udp4():close())
local h = socket.udp4() h:setpeername("127.0.0.1", pa) h:close()
p("getpeername on closed connected", h:getpeername())
p("setpeername closed", h:setpeername("127.0.0.1", pa))
p("setfd -1", a:setfd(-1), a:getfd())
try("setfd no arg", a.setfd, a)
try("getfamily bad self", a.getfamily, 5)
try("receive bad size", a.receive, a, "x")
a:close()

-- IPv6 on ::1, and the family an udp() object takes from its first use
local a6, b6 = socket.udp6(), socket.udp6()
p("v6 bind", a6:setsockname("::1", 0), b6:setsockname("::1", 0))
local _, pb6 = b6:getsockname()
b6:settimeout(2)
p("v6 sendto", a6:sendto("six", "::1", pb6))
p("v6 receivefrom", b6:receivefrom())
p("v6 sendto v4 address", a6:sendto("six", "127.0.0.1", pb6))
local c6 = socket.udp()
p("udp() setpeername ::1", c6:setpeername("::1", pb6), c6:getfamily(), c6:getpeername())
p("v6 send", c6:send("via c"), b6:receive())
p("v6 then v4 peer", c6:setpeername("*"), c6:setpeername("127.0.0.1", 9))
local u6 = socket.udp()
p("udp() sendto ::1", u6:sendto("first", "::1", pb6), u6:getfamily(), (u6:getsockname()))
p("v6 received", b6:receivefrom())
p("udp() v6only", u6:getoption("ipv6-v6only"))
a6:close() b6:close() c6:close() u6:close()
