-- Run under lua5.4 (Debian's LuaSocket) and under greenlua (the green
-- socket.unix): spec/luasocket_unix_spec.lua compares the outputs line for
-- line. socket.unix as 3.1.0 ships it: the module table, stream and dgram
-- objects, every method; paths (which differ between runs) are masked.
local socket = require "socket"
local unix = require "socket.unix"

local dir = assert(arg[1], "usage: luasocket_unix_diff.lua DIR")
local function path(name) return dir .. "/" .. name end

local function show(v)
  if type(v) == "string" then
    return (v:gsub(dir:gsub("%p", "%%%0"), "DIR"):gsub("0x%x+", "ADDR"))
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

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  return table.concat(keys, " ")
end

-- the module table
p("module", sorted_keys(unix), getmetatable(unix) == unix, unix.tcp == unix.stream,
  unix.udp == unix.dgram, type(unix.__call))
p("stream methods", sorted_keys(getmetatable(unix.stream()).__index))
p("stream metatable", sorted_keys(getmetatable(unix.stream())))
p("dgram methods", sorted_keys(getmetatable(unix.dgram()).__index))
p("dgram metatable", sorted_keys(getmetatable(unix.dgram())))
p("call form", class(unix()), class(unix.tcp()), class(unix.udp()))

-- stream: server, client, accept, data
local sp = path("stream.sock")
local srv = unix.stream()
p("master sockname", srv:getsockname())
p("bind", srv:bind(sp), srv:getsockname())
p("listen", srv:listen(), class(srv))
try("listen again", srv.listen, srv)
local c = unix()
p("connect", c:connect(sp), class(c))
srv:settimeout(2)
local a = srv:accept()
p("accepted", class(a), a:getsockname(), c:getsockname())
p("send", c:send("hello\nworld"))
p("send i j", c:send("0123456789", 3, 5))
p("receive line", a:receive())
a:settimeout(0)
p("receive partial", a:receive())
p("receive 3", a:receive(3))
p("dirty", a:dirty(), c:dirty())
local r, s, age = c:getstats()
p("getstats", r, s, type(age))
p("setstats", c:setstats(1, 2, 3), (c:getstats()))
p("shutdown send", c:shutdown("send"))
a:settimeout(2)
p("receive *a", a:receive("*a"))
try("shutdown bad", c.shutdown, c, "sideways")
p("shutdown default", a:shutdown())
try("gettimeout absent", c.gettimeout, c)
try("getpeername absent", c.getpeername, c)
try("getoption absent", c.getoption, c, "keepalive")
p("setoption keepalive", c:setoption("keepalive", true))
p("setoption linger", c:setoption("linger", {on = true, timeout = 1}))
try("setoption tcp-nodelay", c.setoption, c, "tcp-nodelay", true)
p("settimeout", c:settimeout(1), c:settimeout(1, "t"))
try("settimeout bad", c.settimeout, c, 1, "q")
p("getfd", c:getfd() >= 0, math.type(c:getfd()))
p("close", c:close(), c:close(), class(c), c:getfd())
p("send closed", c:send("x"))
p("receive closed", c:receive())
try("accept on client", a.accept, a)
try("receive on server", srv.receive, srv)
try("send on master", unix.stream().send, unix.stream(), "x")
srv:settimeout(0)
p("accept none", srv:accept())
srv:settimeout(0.05)
p("accept timeout", srv:accept())
-- failures that close the fd, as 3.1.0
local m = unix.stream()
p("connect missing", m:connect(path("nope")))
p("fd after failed connect", m:getfd())
p("connect after failure", m:connect(sp))
local m2 = unix.stream()
p("bind in use", m2:bind(sp))
p("fd after failed bind", m2:getfd())
p("bind too long", unix.stream():bind(string.rep("x", 108)))
p("connect too long", unix.stream():connect(string.rep("x", 200)))
p("setpeername alias", unix.stream():setpeername(path("nope")))
local m3 = unix.stream()
p("setsockname alias", m3:setsockname(path("alias.sock")), m3:getsockname())
try("connect no path", unix.stream().connect, unix.stream())
try("bind no path", unix.stream().bind, unix.stream())
try("connect on client", a.connect, a, sp)
p("listen backlog", m3:listen(5), class(m3))
p("listen unbound", unix.stream():listen())
p("srv close", srv:close(), a:close(), m3:close())

-- a listener whose backlog is full: 3.1.0 says connected once the fd polls
-- ready, and the send then fails (its quirk, kept)
local bp = path("backlog.sock")
local bl = unix.stream()
assert(bl:bind(bp)) assert(bl:listen(0))
for i = 1, 3 do
  local c = unix.stream()
  c:settimeout(0.2)
  p("backlog connect " .. i, c:connect(bp), class(c), c:getfd() >= 0)
  p("backlog send " .. i, c:send("x"))
end
local c0 = unix.stream()
c0:settimeout(0)
p("backlog connect, zero timeout", c0:connect(bp), c0:getfd())
bl:close()

-- dgram
local p1, p2 = path("d1.sock"), path("d2.sock")
local d1, d2 = unix.dgram(), unix.udp()
p("dgram class", class(d1), d1:getsockname())
p("dgram bind", d1:bind(p1), d2:setsockname(p2), d1:getsockname())
d1:settimeout(2) d2:settimeout(2)
p("sendto", d1:sendto("ping", p2))
p("receivefrom", d2:receivefrom())
p("sendto back", d2:sendto("pong", p1))
p("receive", d1:receive())
local d3 = unix.dgram()
p("sendto unbound", d3:sendto("anon", p1))
p("receivefrom unbound sender", d1:receivefrom())
p("sendto empty", d3:sendto("", p1))
p("receive empty", d1:receive())
d3:sendto("abcdef", p1)
p("receive 2", d1:receive(2))
d3:sendto("abcdef", p1)
p("receivefrom 3", d1:receivefrom(3))
p("connect", d3:connect(p1), class(d3))
p("send", d3:send("conn"))
p("receive connected", d1:receive())
try("sendto on connected", d3.sendto, d3, "x", p1)
try("receivefrom on connected", d3.receivefrom, d3)
try("bind on connected", d3.bind, d3, path("x"))
p("setpeername again", d3:setpeername(p2), class(d3))
p("getsockname connected", d3:getsockname())
d1:settimeout(0)
p("receive none", d1:receive())
p("receivefrom none", d1:receivefrom())
d1:settimeout(0.05)
p("receive timeout", d1:receive())
p("gettimeout", d1:gettimeout())
p("sendto missing", d1:sendto("x", path("nope")))
p("sendto too long", d1:sendto("x", string.rep("y", 120)))
try("sendto no path", d1.sendto, d1, "x")
p("setoption reuseaddr", d1:setoption("reuseaddr", true))
try("setoption keepalive", d1.setoption, d1, "keepalive", true)
try("getoption absent", d1.getoption, d1, "reuseaddr")
p("dirty", d1:dirty(), d3:dirty())
p("connect missing", unix.dgram():connect(path("nope")))
local d4 = unix.dgram()
p("bind in use", d4:bind(p1), d4:getfd())
p("bind too long", unix.dgram():bind(string.rep("z", 108)))
p("close", d1:close(), d1:close(), class(d1), d1:getfd())
p("sendto closed", d1:sendto("x", p2))
p("receive closed", d1:receive())
p("receivefrom closed", d1:receivefrom())
p("send closed", d3:close(), d3:send("x"))
p("setfd -1", d2:setfd(-1), d2:getfd())
try("setfd none", d2.setfd, d2)
try("stream method on dgram", unix.stream().getsockname, d2)
try("dgram method on stream", d2.getsockname, unix.stream())
try("dgram bad self", d2.settimeout, {})

-- empty paths: the kernel autobinds an abstract name, which 3.1.0 prints as ""
local e1 = unix.stream()
p("bind empty", e1:bind(""), e1:getsockname(), e1:listen())
p("connect empty", unix.stream():connect(""))
local e2 = unix.dgram()
p("dgram bind empty", e2:bind(""), e2:getsockname())
p("dgram sendto empty", e2:sendto("x", ""))
p("dgram sendto zero byte", unix.dgram():sendto("x", "\0abc"))
e1:close() e2:close()
