-- Hardening of the network modules (issue 8): host/io/net.c, host/io/udp.c,
-- lib/green/net.lua. Loopback only. What needs an environment of its own
-- runs in a child greenlua: a resolver that never answers (HOSTALIASES
-- naming a FIFO nobody writes: glibc opens it for a name without dots),
-- a private /etc/hosts where localhost is ::1 first (a mount namespace),
-- a low open-file limit, and calls that crashed the host before.
local green = require "green"
local core = require "green.core"
local helpers = require "spec.helpers"
local H = require "spec.cli_helpers"
local N = require "spec.net_helpers"

-- Run `source` as a script in a child greenlua; args are its arguments.
local function child(source, args, env, opts)
  local script = H.file(("child-%d.lua"):format(math.random(1e9)), source)
  local argv = { script }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  return H.run(argv, nil, env, opts)
end

-- The child's "key=value" lines as a table.
local function said(r)
  local t = {}
  for k, v in r.stdout:gmatch("([%w_]+)=([^\n]*)") do t[k] = v end
  return t
end

local function clean(r)
  assert.is_nil(r.stderr:find("Sanitizer") or r.stderr:find("runtime error"), H.show(r))
  assert.equal(0, r.status, H.show(r))
end

local function port_of(sock)
  local _, port = sock:getsockname()
  return port
end

teardown(H.cleanup)

describe("green.udp binds", function()
  after_each(N.run_deferred)

  it("a second bind to a port in use returns nil, 'address already in use'", function()
    local a = assert(green.udp({ host = "127.0.0.1", port = 0 }))
    N.defer(function() a:close() end)
    local b, err = green.udp({ host = "127.0.0.1", port = port_of(a) })
    if b then b:close() end
    assert.is_nil(b)
    assert.equal("address already in use", err)
  end)

  it("opts.reuse_addr on both lets two sockets share a port", function()
    local a = assert(green.udp({ host = "127.0.0.1", port = 0, reuse_addr = true }))
    N.defer(function() a:close() end)
    local b, err = green.udp({ host = "127.0.0.1", port = port_of(a), reuse_addr = true })
    assert.is_truthy(b, err)
    b:close()
  end)
end)

describe("names resolved in the socket's family", function()
  after_each(N.run_deferred)

  it("green.getaddrinfo(host, family) answers in that family only", function()
    assert.same({ "::ffff:127.0.0.1" }, green.getaddrinfo("127.0.0.1", "inet6"))
    assert.same({ "127.0.0.1" }, green.getaddrinfo("127.0.0.1", "inet"))
    assert.same({ "::1" }, green.getaddrinfo("::1", "inet6"))
    local none, err = green.getaddrinfo("::1", "inet")
    assert.is_nil(none)
    assert.equal("address family not supported", err)
    local v4 = assert(green.getaddrinfo("localhost", "inet"))
    for _, a in ipairs(v4) do assert.is_nil(a:find(":"), a) end
    local v6, err6 = green.getaddrinfo("localhost", "inet6")
    assert.is_truthy(v6, err6)
    for _, a in ipairs(v6) do assert.is_truthy(a:find(":"), a) end
  end)

  -- The Lua half through a stand-in resolver: "dual.test" is ::1 first,
  -- as localhost is on a bare Debian 12.
  local function with_dual_name(fn)
    local real, calls = core.getaddrinfo, {}
    core.getaddrinfo = function(host, family, timeout)
      if host ~= "dual.test" then return real(host, family, timeout) end
      calls[#calls + 1] = family or "any"
      if family == "inet" then return { "127.0.0.1" } end
      if family == "inet6" then return { "::1" } end
      return { "::1", "127.0.0.1" }
    end
    local ok, err = pcall(fn, calls)
    core.getaddrinfo = real
    if not ok then error(err, 0) end
  end

  it("listen and udp on a name bind its IPv4 address, or opts.family's", function()
    with_dual_name(function()
      local l = assert(green.listen("dual.test", 0))
      N.defer(function() l:close() end)
      assert.equal("127.0.0.1", (l:getsockname()))
      local u = assert(green.udp({ host = "dual.test", port = 0 }))
      N.defer(function() u:close() end)
      assert.equal("127.0.0.1", (u:getsockname()))
      local l6 = assert(green.listen("dual.test", 0, { family = "inet6" }))
      N.defer(function() l6:close() end)
      assert.equal("::1", (l6:getsockname()))
    end)
  end)

  it("connect with opts.bind resolves the host in the bind address's family", function()
    local l, port = N.listener()
    N.defer(function() l:close() end)
    with_dual_name(function(calls)
      local c, err = green.connect("dual.test", port, { bind = { "127.0.0.1", 0 } })
      assert.is_truthy(c, err)
      c:close()
      assert.same({ "inet" }, calls)
    end)
  end)

  -- The real thing: glibc, with an /etc/hosts where localhost is ::1 first,
  -- in a private mount namespace (unshare), where the bug was seen.
  local can_unshare = os.execute("unshare -rm true >/dev/null 2>&1")
  local hosts_first_v6 = [[
local green = require "green"
local function say(k, v) io.write(k, "=", tostring(v), "\n") end
local addrs = green.getaddrinfo("localhost")
say("first", addrs and addrs[1])
local r = assert(green.udp({ host = "127.0.0.1", port = 0 }))
r:settimeout(2)
local _, rport = r:getsockname()
local s = assert(green.udp({ host = "127.0.0.1", port = 0 }))
say("sendto", select(2, s:sendto("v4", "localhost", rport)) or "ok")
say("got", (r:receivefrom()))
local u = assert(green.udp())
say("unbound", select(2, u:sendto("any", "localhost", rport)) or "ok")
say("got2", (r:receivefrom()))
local l = assert(green.listen("localhost", 0))
say("listen", (l:getsockname()))
local b = assert(green.udp({ host = "localhost", port = 0 }))
say("udpbind", (b:getsockname()))
local _, lport = l:getsockname()
local c, err = green.connect("localhost", lport, { bind = { "127.0.0.1", 0 } })
say("connectbind", c and "ok" or err)
]]
  local it_ns = can_unshare and it or pending
  it_ns("with localhost ::1 first (private /etc/hosts): sendto, listen, udp, connect use 127.0.0.1", function()
    local hosts = H.file("hosts", "::1 localhost\n127.0.0.1 localhost\n")
    local wrap = ("unshare -rm sh -c %s"):format(H.quote(
      "mount --bind " .. H.quote(hosts) .. ' /etc/hosts && exec "$0" "$@"'))
    local r = child(hosts_first_v6, {}, nil, { wrap = wrap })
    clean(r)
    local t = said(r)
    -- (a host without IPv6 addresses drops ::1: the rest must hold anyway)
    assert.is_truthy(t.first == "::1" or t.first == "127.0.0.1", H.show(r))
    assert.same({ sendto = "ok", got = "v4", unbound = "ok", got2 = "any", listen = "127.0.0.1",
                  udpbind = "127.0.0.1", connectbind = "ok" },
      { sendto = t.sendto, got = t.got, unbound = t.unbound, got2 = t.got2, listen = t.listen,
        udpbind = t.udpbind, connectbind = t.connectbind }, H.show(r))
  end)
end)

describe("a resolver that never answers", function()
  local stuck = [==[
local green = require "green"
local fifo = arg[1]
local function q(s) return "'" .. s:gsub("'", [['\'']]) .. "'" end
local function say(k, v) io.write(k, "=", tostring(v), "\n"); io.stdout:flush() end
-- Later lookups find an empty file; the stuck one gets a writer, then EOF.
local function release()
  os.execute(("ln -f %s %s.held && : > %s.new && mv -f %s.new %s && sh -c 'exec 3<>%s.held; sleep 0.1'")
    :format(q(fifo), q(fifo), q(fifo), q(fifo), q(fifo), q(fifo)))
end
local function rearm()
  os.execute(("rm -f %s %s.held && mkfifo %s"):format(q(fifo), q(fifo), q(fifo)))
end
local l = assert(green.listen("127.0.0.1", 0))
local _, port = l:getsockname()
-- without a bound on the lookup, this ends it after 3 s
local releaser = green.spawn(function() green.sleep(3); release() end)

local t0 = green.now()
local c, err = green.connect("nodots", port, { timeout = 0.3 })
say("connect", c and "connected" or err)
say("prompt", green.now() - t0 < 2.5)
-- queued behind it (one resolver thread): the deadline takes it off the queue
local a, e = green.getaddrinfo("nodots", nil, 0.2)
say("queued", a and "resolved" or e)
local u = assert(green.udp({ host = "127.0.0.1", port = 0 }))
u:settimeout(0.2)
say("sendto", select(2, u:sendto("x", "nodots", port)))
-- closed while its lookup waits: nil, "closed" once the answer comes
local v = assert(green.udp({ host = "127.0.0.1", port = 0 }))
local res
local sender = green.spawn(function() res = { v:sendto("x", "localhost", port) } end)
local killed = green.spawn(green.getaddrinfo, "nodots")
green.sleep(0.05)
v:close()
killed:kill()
releaser:kill()
release()
sender:wait()
say("closed", res[1] and "sent" or res[2])
local addrs = green.getaddrinfo("localhost")  -- after every late answer: one thread, FIFO
say("after", addrs and addrs[1])
-- killed while its lookup runs
rearm()
local running = green.spawn(green.getaddrinfo, "nodots")
green.sleep(0.2)
running:kill()
release()
addrs = green.getaddrinfo("localhost")
say("after_kill", addrs and addrs[1])
]==]

  it("connect's timeout bounds the lookup; late answers after timeout, kill and close are harmless", function()
    local fifo = H.path("aliases")
    assert(os.execute("mkfifo " .. H.quote(fifo)))
    local r = child(stuck, { fifo }, {
      HOSTALIASES = fifo, UV_THREADPOOL_SIZE = "1", RES_OPTIONS = "timeout:1 attempts:1",
    }, { timeout = 30 })
    clean(r)
    local t = said(r)
    assert.same({ connect = "timeout", prompt = "true", queued = "timeout", sendto = "timeout",
                  closed = "closed", after = "127.0.0.1", after_kill = "127.0.0.1" }, t, H.show(r))
  end)
end)

describe("lookups still running at exit", function()
  local script = [[
local green = require "green"
local u = assert(green.udp({ host = "127.0.0.1", port = 0 }))
for _ = 1, 3 do green.spawn(green.getaddrinfo, "localhost") end
green.spawn(u.sendto, u, "x", "localhost", 9)
green.sleep(0)
-- main ends while they run on the resolver threads: they answer after lua_close
local t = os.clock() + 0.01
while os.clock() < t do end
]]
  it("answer harmlessly after the Lua state is closed (a use after free under ASan before)", function()
    for _ = 1, 5 do clean(child(script)) end
  end)
end)

describe("connects that never complete", function()
  after_each(N.run_deferred)

  it("a thread killed while connecting leaves nothing behind; the late end is harmless", function()
    local full = assert(green.listen("127.0.0.1", 0, { backlog = 1 }))
    local _, fport = full:getsockname()
    local socks = {}
    N.defer(function() N.close_all(socks) end)
    local hung
    for _ = 1, 64 do   -- connect until one hangs (the backlog is full); never accept
      local r = table.pack(green.connect("127.0.0.1", fport, { timeout = 0.2 }))
      if not r[1] then hung = r[2] break end
      socks[#socks + 1] = r[1]
    end
    assert.equal("timeout", hung)
    local gt = green.spawn(green.connect, "127.0.0.1", fport)
    green.sleep(0.05)
    assert.is_false(gt:dead())
    gt:kill()
    assert.is_true(gt:dead())
    full:close()   -- the kernel ends the abandoned attempts now
    N.close_all(socks)
    green.sleep(0.05)
    local l, port = N.listener()
    N.defer(function() l:close() end)
    local c = assert(green.connect("127.0.0.1", port))
    c:close()
  end)
end)

describe("Unix socket paths", function()
  after_each(N.run_deferred)
  local dir, rm = helpers.tmpdir()
  teardown(rm)

  -- A path of exactly n bytes in dir.
  local function path_of(n)
    local base = dir .. "/"
    return base .. ("p"):rep(n - #base)
  end

  it("a path longer than sun_path returns nil, 'name too long' and binds nothing", function()
    local long = path_of(200)
    local l, err = green.listen_unix(long)
    if l then l:close() end
    assert.is_nil(l)
    assert.equal("name too long", err)
    local cut = long:sub(1, 107)
    assert.is_nil(io.open(cut, "r"), "bound the truncated path " .. cut)
    assert.is_nil(io.open(long:sub(1, 108), "r"))
    local c, cerr = green.connect_unix(long)
    assert.is_nil(c)
    assert.equal("name too long", cerr)
    assert.same({ nil, "name too long" }, { green.listen_unix(path_of(108)) })
  end)

  it("the longest path that fits (107 bytes) works", function()
    local p = path_of(107)
    local l = assert(green.listen_unix(p))
    N.defer(function() l:close() end)
    local c = assert(green.connect_unix(p))
    c:close()
  end)

  it("a path with a zero byte returns nil, err and binds nothing", function()
    local p = dir .. "/zero"
    local l, err = green.listen_unix(p .. "\0tail")
    if l then l:close() end
    assert.is_nil(l)
    assert.equal("invalid argument", err)
    assert.is_nil(io.open(p, "r"))
  end)

  it("opts.mode and opts.backlog out of range raise, naming listen_unix", function()
    local p = dir .. "/mode"
    local err = helpers.error_of(green.listen_unix, p, { mode = 2 ^ 40 })
    assert.matches("bad argument #2 to 'listen_unix'", err)
    assert.is_nil(io.open(p, "r"))
    assert.matches("bad argument #2 to 'listen_unix'", helpers.error_of(green.listen_unix, p, { mode = 1024 }))
    assert.matches("bad argument #2 to 'listen_unix'", helpers.error_of(green.listen_unix, p, { backlog = -1 }))
    assert.matches("bad argument #1 to 'listen_unix'", helpers.error_of(green.listen_unix, 42))
  end)
end)

describe("argument checks", function()
  after_each(N.run_deferred)

  local function raises(pattern, fn, ...)
    local err = helpers.error_of(fn, ...)
    assert.is_truthy(err, "did not raise")
    assert.matches(pattern, err)
    assert.is_nil(err:find("green.core", 1, true), err)
    return err
  end

  it("ports: integral floats are integers; fractions and out-of-range ports raise with the function's name", function()
    local l, port = N.listener()
    N.defer(function() l:close() end)
    local c = assert(green.connect("127.0.0.1", port + 0.0))
    c:close()
    local l2 = assert(green.listen("127.0.0.1", 0.0))
    l2:close()
    raises("bad argument #2 to 'listen' %(number has no integer representation%)", green.listen, "127.0.0.1", 80.5)
    raises("bad argument #2 to 'listen' %(port out of range%)", green.listen, "127.0.0.1", -1)
    raises("bad argument #2 to 'connect' %(port out of range%)", green.connect, "127.0.0.1", 70000)
    raises("bad argument #2 to 'connect'", green.connect, "127.0.0.1", "80")
    raises("bad argument #3 to 'connect' %(opts.bind%[2%]: port out of range%)",
      green.connect, "127.0.0.1", port, { bind = { "127.0.0.1", 70000 } })
    raises("bad argument #1 to 'udp' %(opts.port: port out of range%)", green.udp, { port = 65536 })
    local u = assert(green.udp())
    N.defer(function() u:close() end)
    raises("bad argument #3 to 'sendto' %(port out of range%)", function() return u:sendto("x", "127.0.0.1", 70000) end)
    raises("bad argument #3 to 'sendto' %(number has no integer representation%)",
      function() return u:sendto("x", "127.0.0.1", 9.5) end)
    assert.equal(1, u:sendto("x", "127.0.0.1", port_of(l) + 0.0))
  end)

  it("errors point at the caller's line", function()
    local err = raises("port out of range", green.connect, "127.0.0.1", 70000)
    assert.is_nil(err:find("net.lua", 1, true), err)
    err = helpers.error_of(function() green.listen("127.0.0.1", 1e6) end)
    assert.matches("hardening_net_spec.lua:%d+: bad argument #2 to 'listen'", err)
  end)

  it("getaddrinfo, listen, connect, udp check their other arguments", function()
    raises("bad argument #1 to 'getaddrinfo'", green.getaddrinfo, nil)
    raises("bad argument #1 to 'getaddrinfo'", green.getaddrinfo, {})
    raises("bad argument #2 to 'getaddrinfo'", green.getaddrinfo, "localhost", "ipx")
    raises("bad argument #3 to 'getaddrinfo'", green.getaddrinfo, "localhost", nil, 0 / 0)
    raises("bad argument #1 to 'listen'", green.listen, nil, 0)
    raises("bad argument #3 to 'listen'", green.listen, "127.0.0.1", 0, 5)
    raises("bad argument #3 to 'listen' %(opts.backlog", green.listen, "127.0.0.1", 0, { backlog = 1.5 })
    raises("bad argument #3 to 'listen' %(opts.family", green.listen, "127.0.0.1", 0, { family = "unix" })
    raises("bad argument #3 to 'connect' %(opts.timeout", green.connect, "127.0.0.1", 1, { timeout = 0 / 0 })
    raises("bad argument #3 to 'connect' %(opts.timeout", green.connect, "127.0.0.1", 1, { timeout = "1" })
    raises("bad argument #3 to 'connect' %(opts.bind", green.connect, "127.0.0.1", 1, { bind = "127.0.0.1" })
    raises("bad argument #1 to 'udp' %(opts.host", green.udp, { host = 127 })
    raises("bad argument #1 to 'udp'", green.udp, "127.0.0.1")
    raises("bad argument #2 to 'connect_unix'", green.connect_unix, "/x", { timeout = {} })
  end)

  it("misuse errors name the function even where Lua cannot (through pcall, a metamethod by hand)", function()
    local u = assert(green.udp())
    N.defer(function() u:close() end)
    local mt = getmetatable(u)
    raises("bad argument #4 to 'sendto' %(port out of range%)", u.sendto, u, "x", "127.0.0.1", 1e6)
    raises("bad argument #1 to 'receivefrom' %(UDP socket expected, got FILE%*%)", u.receivefrom, io.stdout)
    raises("bad argument #2 to 'receivefrom'", u.receivefrom, u, true)
    raises("bad argument #2 to 'settimeout'", u.settimeout, u, "1")
    raises("bad argument #1 to '__tostring' %(UDP socket expected", mt.__tostring, io.stdout)
    raises("bad argument #1 to '__gc'", mt.__gc, {})
    raises("bad argument #1 to 'close'", mt.__close, 42)
    raises("bad argument #1 to 'serve' %(socket expected, got userdata%)", green.serve, io.stdout, print)
    raises("bad argument #1 to 'tcp_connect'", core.tcp_connect, 1, 80)
    raises("bad argument #2 to 'tcp_listen' %(port out of range%)", core.tcp_listen, "127.0.0.1", -5)
    raises("bad argument #2 to 'udp_open'", core.udp_open, "127.0.0.1", 0.5)
    raises("bad argument #3 to 'unix_listen'", core.unix_listen, "/nonexistent/x", 1, 4096)
    raises("bad argument #2 to 'getaddrinfo'", core.getaddrinfo, "localhost", 6)
    raises("bad argument #1 to 'peer_uid' %(socket expected, got FILE%*%)", core.peer_uid, io.stdout)
  end)

  it("a backlog larger than an int is taken as the largest", function()
    local l = assert(green.listen("127.0.0.1", 0, { backlog = 2 ^ 40 }))
    l:close()
  end)

  it("UDP methods check their arguments: receivefrom sizes, settimeout NaN, sendto hosts", function()
    local u = assert(green.udp({ host = "127.0.0.1", port = 0 }))
    N.defer(function() u:close() end)
    u:settimeout(1)
    local port = port_of(u)
    for _, bad in ipairs({ 0, -1, 0 / 0, math.huge, 2 ^ 63, 1.5, "x", {} }) do
      assert.is_truthy(helpers.error_of(u.receivefrom, u, bad), tostring(bad))
    end
    assert.equal(6, u:sendto("abcdef", "127.0.0.1", port))
    assert.equal("abcd", (u:receivefrom(4.0)))
    assert.equal(6, u:sendto("abcdef", "127.0.0.1", port))
    assert.equal("abcdef", (u:receivefrom(math.maxinteger)))
    raises("NaN", u.settimeout, u, 0 / 0)
    raises("bad argument", u.sendto, u, {}, "127.0.0.1", port)
    raises("bad argument", u.sendto, u, "x", nil, port)
    raises("bad argument", u.sendto, u, "x", 127, port)
    raises("UDP socket expected", u.sendto, io.stdout, "x", "127.0.0.1", port)
  end)

  it("getsockname on a UDP socket not bound yet is 0.0.0.0, 0 (not nil, 'closed')", function()
    local u = assert(green.udp())
    N.defer(function() u:close() end)
    assert.same({ "0.0.0.0", 0 }, { u:getsockname() })
  end)

  it("a name with a zero byte resolves to nothing (not to what precedes it)", function()
    assert.same({ nil, "host or service not known" }, { green.getaddrinfo("localhost\0.example") })
    local u = assert(green.udp({ host = "127.0.0.1", port = 0 }))
    N.defer(function() u:close() end)
    assert.same({ nil, "host or service not known" }, { u:sendto("x", "localhost\0junk", port_of(u)) })
  end)

  it("a datagram over 65535 bytes returns nil, 'message too long'", function()
    local u = assert(green.udp({ host = "127.0.0.1", port = 0 }))
    N.defer(function() u:close() end)
    assert.same({ nil, "message too long" }, { u:sendto(("x"):rep(65536), "127.0.0.1", port_of(u)) })
  end)

  -- Each of these crashed the host before: run them in a child.
  local metamethods = [[
local green = require "green"
local u = assert(green.udp())
local mt = getmetatable(u)
local n = 0
for _, name in ipairs({ "__tostring", "__gc", "__close" }) do
  for _, bad in ipairs({ io.stdout, {}, "x", 1, true, coroutine.create(print), print }) do
    local ok = pcall(mt[name], bad)
    if ok then io.write("no error: ", name, " ", tostring(bad), "\n") end
    n = n + 1
  end
  assert(not pcall(mt[name]))
end
for name, f in pairs(mt.__index) do
  for _, bad in ipairs({ io.stdout, {}, 1 }) do
    if pcall(f, bad) then io.write("no error: ", name, "\n") end
    n = n + 1
  end
end
print(tostring(u), n)
u:close()
print(tostring(u))
]]
  it("UDP metamethods and methods called on other values raise, never crash", function()
    local r = child(metamethods)
    clean(r)
    assert.matches("^udp socket %(open%)\t%d+\nudp socket %(closed%)\n$", r.stdout, H.show(r))
  end)
end)

describe("out of file descriptors", function()
  local script = [[
local green = require "green"
local keep = {}
for _ = 1, 200 do
  local u = green.udp({ host = "127.0.0.1", port = 0 })
  if not u then break end
  keep[#keep + 1] = u
end
local function try(name, f, ...)
  local ok, a, b = pcall(f, ...)
  io.write(name, "=", ok and tostring(a and "opened" or b) or ("raised: " .. tostring(a)), "\n")
  if ok and a then a:close() end
end
try("listen", green.listen, "127.0.0.1", 0)
try("reuse_port", green.listen, "127.0.0.1", 0, { reuse_port = true })
try("udp", green.udp, { host = "127.0.0.1", port = 0 })
]]
  it("listen returns nil, 'too many open files' instead of raising", function()
    local r = child(script, {}, nil, { wrap = [[sh -c 'ulimit -n 64; exec "$0" "$@"']] })
    clean(r)
    local t = said(r)
    assert.same({ listen = "too many open files", reuse_port = "too many open files",
                  udp = "too many open files" }, t, H.show(r))
  end)
end)

describe("the binary's linking", function()
  local function capture(cmd)
    local p = assert(io.popen(cmd .. " 2>&1"))
    local s = p:read("a")
    local ok = p:close()
    return s, ok
  end
  local OPENSSL = { "SSL_", "EVP_", "OPENSSL_", "ossl_", "OSSL_", "X509", "BIO_", "ERR_",
                    "CRYPTO_", "ASN1_", "BN_", "EC_", "RSA_", "PEM_", "i2d_", "d2i_", "TLS_" }

  it("exports Lua's API and no other function: no gl_* and no OpenSSL symbol", function()
    local out, ok = capture("nm -D --defined-only " .. H.quote(H.bin))
    assert.is_truthy(ok, out)
    local lua_api = {}
    for typ, name in out:gmatch("%x+ (%a) ([%w_@%.]+)") do
      local base = name:gsub("@.*", "")
      assert.is_nil(base:find("^gl_"), name)
      for _, prefix in ipairs(OPENSSL) do
        assert.is_nil(base:find("^" .. prefix), name .. " is exported")
      end
      if base:find("^lua_") or base:find("^luaL_") or base:find("^luaopen_") then
        lua_api[base] = true
      else
        -- what else is there: copy-relocated data of shared libraries (stdout, ...)
        assert.is_nil(typ:find("[TtWi]"), "function " .. name .. " is exported")
      end
    end
    for _, name in ipairs({ "lua_pushinteger", "luaL_checklstring", "luaL_newstate", "luaopen_base" }) do
      assert.is_true(lua_api[name] or false, name .. " is not exported (C modules need it)\n" .. out)
    end
  end)

  it("links OpenSSL as shared libraries (libssl, libcrypto)", function()
    local out, ok = capture("readelf -d " .. H.quote(H.bin))
    assert.is_truthy(ok, out)
    assert.matches("NEEDED%)%s+Shared library: %[libssl%.so", out)
    assert.matches("NEEDED%)%s+Shared library: %[libcrypto%.so", out)
  end)
end)
