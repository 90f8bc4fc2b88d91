-- The argument fuzzer behind spec/fuzz_spec.lua. Two halves:
--
--  * the driver (F.main), run in a child greenlua process, one per area:
--      FUZZ_AREA=sockets greenlua -e 'require("spec.fuzz_helpers").main()'
--    It finds the surface by introspection (every function of the green
--    modules, every method and metamethod of every object kind), builds a
--    deterministic list of calls with bad values, and runs each call in its
--    own green thread, under pcall and a Timeout. Before each call it writes
--    "S <id> <call>" to FUZZ_LOG (unbuffered), so when the process dies the
--    log names the call that was running.
--  * the supervisor (F.run_area), used by the spec: it runs the driver in
--    the background, watches the log for progress, and when the driver dies
--    (signal, sanitizer report, exit, stall) records the call, re-runs that
--    call alone to confirm it, and resumes after it: one run lists every
--    crasher of an area.
--
-- Driver environment: FUZZ_AREA, FUZZ_LOG, FUZZ_FROM (first call id),
-- FUZZ_ONLY_CALL (run just that call and collect garbage), FUZZ_SKIP_FILE
-- (one plain substring per line: calls whose description holds one are not
-- made), FUZZ_CERTS (a dir from tls_helpers.certs()), FUZZ_TIMEOUT (seconds
-- a call may block, default 0.2), FUZZ_TMP (a scratch dir).
local F = {}

-- console_tty: the console area again, on a pseudo-terminal (libedit's
-- line editing is another path through console.c).
F.AREAS = { "threads", "sync", "sockets", "tls", "udp", "http", "lsock", "fs", "luasec", "console", "console_tty", "other" }

------------------------------------------------------------------ utils

local function slurp(path, limit)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s
  if limit then
    local size = f:seek("end")
    if size > limit then
      f:seek("set", 0)
      local head = f:read(limit // 2)
      f:seek("set", size - limit // 2)
      s = head .. "\n[...]\n" .. f:read("a")
    else
      f:seek("set", 0)
      s = f:read("a")
    end
  else
    s = f:read("a")
  end
  f:close()
  return s or ""
end
F.slurp = slurp

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    if type(k) == "string" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  return keys
end

local function oneline(s, max)
  s = tostring(s):gsub("[^\32-\126]", function(c) return c == "\n" and "\\n" or "?" end)
  if #s > (max or 160) then s = s:sub(1, max or 160) .. "..." end
  return s
end

------------------------------------------------------------------ the driver

-- Everything below up to F.main runs in the child.

local green, core
local TIMEOUT
local LOG  -- the progress log (unbuffered)
local NOOP = function() end

-- Describes a value for a call's description: short and deterministic
-- (never an address, a port or a path).
local function describe(v)
  local t = type(v)
  if t == "string" then
    if #v <= 16 then return ("%q"):format(v):gsub("\\\n", "\\n") end
    return ("<string #%d>"):format(#v)
  elseif t == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    return ("%.17g"):format(v)
  elseif t == "nil" or t == "boolean" then
    return tostring(v)
  end
  local mt = debug.getmetatable(v)
  local name = type(mt) == "table" and rawget(mt, "__name")
  if type(name) == "string" then return "<" .. name .. ">" end
  return "<" .. t .. ">"
end

----------------------------------------------------- objects of every kind

-- A kind: how to make a valid object (the self of method calls), its area,
-- its method group (which templates its methods use) and whether an object
-- is used up (then a fresh one is made for the next call).
local KINDS = {}
local KIND_ORDER = {}

-- Metatables with no kind, and why no valid object of theirs can be made.
local KINDLESS = {
  ["green.dns_request"] = "a lookup's guard lives only in the waiting C frame (host/io/net.c)",
  ["greenlua.addrinfo"] = "a resolved list lives only on a waiting connect's stack (host/luasocket/inet.c)",
  ["greenlua.socket.dns_request"] = "a socket.dns lookup's guard lives only in the waiting C frame (host/luasocket/dns.c)",
}

local function kind(name, area, group, make, spent, fixed)
  KINDS[name] = { name = name, area = area, group = group, make = make, spent = spent, fixed = fixed }
  KIND_ORDER[#KIND_ORDER + 1] = name
end

-- E: the objects of the running area. E:get(kind) gives the current object
-- of a kind: a spare one (lent to a call that blocked, given back when it
-- ended) or a new one. E:spend(kind) drops the current one; E:lend(kind)
-- takes it away from later calls until E:give_back. Sockets made are kept
-- to be closed later (never left to __gc alone: that is fuzzed on purpose,
-- not by accident).
local E = { objects = {}, spares = {}, sockets = {}, used = {}, keep = {} }

local function usable(k, obj)
  return obj ~= nil and not (k.spent and k.spent(obj))
end

function E:get(name)
  local k = assert(KINDS[name], name)
  local obj = self.objects[name]
  if not usable(k, obj) then
    obj = nil
    local spares = self.spares[name] or {}
    while #spares > 0 and obj == nil do
      local o = table.remove(spares)
      if usable(k, o) then obj = o end
    end
  end
  if obj == nil then
    LOG:write("O ", name, "\n")
    local t0 = green.now()
    obj = k.make(self)
    self.make_seconds = (self.make_seconds or 0) + green.now() - t0
  end
  self.objects[name] = obj
  self.used[name] = true
  -- a socket's timeout is the one setting that outlives a call: clear it,
  -- so that every call gets to block (and meet its Timeout)
  if k.group == "socket" or k.group == "udp" then pcall(obj.settimeout, obj, nil) end
  return obj
end

function E:spend(name)
  if not KINDS[name].fixed then self.objects[name] = nil end
end

function E:lend(name)
  local obj = self.objects[name]
  if obj ~= nil and not KINDS[name].fixed then
    self.objects[name] = nil
    return obj
  end
end

function E:give_back(name, obj)
  local spares = self.spares[name] or {}
  self.spares[name] = spares
  spares[#spares + 1] = obj
end

function E:track(sock)
  self.sockets[#self.sockets + 1] = sock
  return sock
end

-- Close what was made so far (at the end; a call still blocked on one of
-- them wakes up with "closed", which is fair game too).
function E:close_sockets()
  local list = self.sockets
  self.sockets = {}
  for _, s in ipairs(list) do pcall(s.close, s) end
end

-- Close the sockets nothing holds any more (neither a kind's current
-- object, nor a spare, nor one lent to a blocked call in `busy`): between
-- callables, so that descriptors do not pile up.
function E:close_unused(busy)
  local held = {}
  for _, obj in pairs(self.objects) do held[obj] = true end
  for _, list in pairs(self.spares) do
    for _, obj in ipairs(list) do held[obj] = true end
  end
  for obj in pairs(busy) do held[obj] = true end
  local keep = {}
  for _, s in ipairs(self.sockets) do
    if held[s] then keep[#keep + 1] = s else pcall(s.close, s) end
  end
  self.sockets = keep
end

local function sock_spent(s) return core.is_closed(s) end
local function udp_spent(u) return not pcall(u.getsockname, u) end

-- A helper green thread that holds a value made inside it (a Timeout bound
-- to it, its own coroutine) and sleeps: a Timeout that fires ends only it.
local function held_in_thread(make)
  local box = {}
  local gt = green.spawn(function()
    box.v = make()
    green.sleep(1e6)
  end)
  green.sleep(0)
  E.keep[#E.keep + 1] = gt
  return box.v
end

local function tmp_path(tag)
  E.seq = (E.seq or 0) + 1
  -- the pid: a run resumed after a crash must not meet the last one's files
  return ("%s/%s%d.%d"):format(os.getenv("FUZZ_TMP") or "/tmp", tag, core.getpid(), E.seq)
end

-- threads area
kind("thread_new", "threads", "thread", function() return green.spawn(NOOP) end)
kind("thread_sleeping", "threads", "thread", function()
  local gt = green.spawn(green.sleep, 1e6)
  green.sleep(0)
  return gt
end)
kind("thread_dead", "threads", "thread", function()
  local gt = green.spawn(NOOP)
  gt:wait()
  return gt
end)
kind("thread_errored", "threads", "thread", function()
  local gt = green.spawn(error, setmetatable({}, { __tostring = function() return "fuzz: errored thread" end }))
  pcall(gt.wait, gt)
  return gt
end)
-- a thread that ended before it was handed out: what a pool member gets
-- when it spawns into its own full pool (the call runs inline)
kind("thread_finished", "threads", "thread", function()
  local pool, gt = green.GreenPool(1)
  pool:spawn(function() gt = pool:spawn(function() return 1, 2 end) end)
  pool:waitall()
  return gt
end)
kind("thread_after", "threads", "thread", function() return green.spawn_after(1e5, NOOP) end)
kind("timeout_pending", "threads", "timeout", function()
  return held_in_thread(function() return green.Timeout(1e5) end)
end)
kind("timeout_cancelled", "threads", "timeout", function()
  return held_in_thread(function()
    local t = green.Timeout(1e5)
    t:cancel()
    return t
  end)
end)
kind("timeout_never", "threads", "timeout", function()
  return held_in_thread(function() return green.Timeout(nil) end)
end)
kind("timeout_huge", "threads", "timeout", function()
  return held_in_thread(function() return green.Timeout(1e300) end)
end)
kind("local", "threads", "local", function() return green.Local() end)
kind("waitq", "threads", "waitq", function() return core.WaitQueue() end)
kind("thread_exit", "threads", "error", function() return green.GreenThreadExit end, nil, true)

-- sync area
kind("event", "sync", "event", function() return green.Event() end)
kind("event_sent", "sync", "event", function()
  local e = green.Event()
  e:send(1)
  return e
end)
kind("event_exception", "sync", "event", function()
  local e = green.Event()
  e:send_exception("fuzz")
  return e
end)
kind("async", "sync", "async", function() return green.AsyncResult() end)
kind("async_set", "sync", "async", function()
  local a = green.AsyncResult()
  a:set(1)
  return a
end)
kind("queue", "sync", "queue", function() return green.Queue() end)
kind("queue_full", "sync", "queue", function()
  local q = green.Queue(1)
  q:put(1)
  return q
end)
kind("channel", "sync", "queue", function() return green.Queue(0) end)
kind("light_queue", "sync", "queue", function() return green.LightQueue(2) end)
kind("lifo_queue", "sync", "queue", function() return green.LifoQueue(2) end)
kind("priority_queue", "sync", "queue", function() return green.PriorityQueue(2) end)
kind("priority_queue_bad_less", "sync", "queue", function()
  local q = green.PriorityQueue(3, function() error("fuzz: less") end)
  q:put(1)
  return q
end)
kind("queue_full_error", "sync", "error", function() return green.queue.Full end, nil, true)
kind("queue_empty_error", "sync", "error", function() return green.queue.Empty end, nil, true)
kind("semaphore", "sync", "sem", function() return green.Semaphore(1) end)
kind("semaphore_empty", "sync", "sem", function() return green.Semaphore(0) end)
kind("bounded_semaphore", "sync", "sem", function() return green.BoundedSemaphore(1) end)
kind("pool", "sync", "pool", function() return green.GreenPool(2) end)
kind("pile", "sync", "pile", function() return green.GreenPile(2) end)

-- sockets area
local function tcp_pair(env)
  local l = env:track(assert(green.listen("127.0.0.1", 0)))
  local _, port = l:getsockname()
  local got = {}
  local gt = green.spawn(function() got = { l:accept() } end)
  local c = env:track(assert(green.connect("127.0.0.1", port, { timeout = 5 })))
  gt:wait()
  local s = env:track(assert(got[1], got[2]))
  l:close()
  return c, s
end

local function unix_pair(env)
  local path = tmp_path("u")
  local l = env:track(assert(green.listen_unix(path)))
  local got = {}
  local gt = green.spawn(function() got = { l:accept() } end)
  local c = env:track(assert(green.connect_unix(path)))
  gt:wait()
  local s = env:track(assert(got[1], got[2]))
  l:close()
  os.remove(path)
  return c, s
end

kind("tcp_listener", "sockets", "socket", function(env)
  return env:track(assert(green.listen("127.0.0.1", 0)))
end, sock_spent)
kind("tcp_client", "sockets", "socket", function(env) return (tcp_pair(env)) end, sock_spent)
kind("tcp_server", "sockets", "socket", function(env) return select(2, tcp_pair(env)) end, sock_spent)
kind("tcp_closed", "sockets", "socket", function(env)
  local c = tcp_pair(env)
  c:close()
  return c
end, nil, true)
kind("tcp_listener_closed", "sockets", "socket", function(env)
  local l = env:track(assert(green.listen("127.0.0.1", 0)))
  l:close()
  return l
end, nil, true)
kind("unix_listener", "sockets", "socket", function(env)
  return env:track(assert(green.listen_unix(tmp_path("l"))))
end, sock_spent)
kind("unix_client", "sockets", "socket", function(env) return (unix_pair(env)) end, sock_spent)
kind("unix_server", "sockets", "socket", function(env) return select(2, unix_pair(env)) end, sock_spent)

kind("stop_serve", "sockets", "error", function() return green.StopServe end, nil, true)
kind("shutdown_timeout", "other", "error", function() return green.ShutdownTimeout end, nil, true)

-- tls area
local function certs()
  local dir = assert(os.getenv("FUZZ_CERTS"), "FUZZ_CERTS not set")
  return { certfile = dir .. "/server.pem", keyfile = dir .. "/server.key", ca = dir .. "/ca.pem" }
end

local function server_opts()
  local c = certs()
  return { server_side = true, certfile = c.certfile, keyfile = c.keyfile }
end

-- One TLS echo-less server per area: it handshakes every client and then
-- drains it, so client sends never fill up.
local function tls_server_port(env)
  if env.tls_port then return env.tls_port end
  local l = assert(green.listen("127.0.0.1", 0))
  assert(green.wrap_ssl(l, server_opts()))
  local _, port = l:getsockname()
  env.keep[#env.keep + 1] = green.spawn(function()
    for _ = 1, 1e6 do
      local client = l:accept()
      if client then
        env:track(client)
        green.spawn(function()
          client:settimeout(30)
          if client:handshake() then
            for _ = 1, 1e6 do
              if not client:recv(65536) then break end
            end
          end
          client:close()
        end)
      end
    end
  end)
  env.tls_port = port
  return port
end

local function tls_client(env)
  local c = env:track(assert(green.connect("127.0.0.1", tls_server_port(env), { timeout = 5 })))
  c:settimeout(10)
  return assert(green.wrap_ssl(c, { verify = "none" }))
end

kind("tls_client", "tls", "socket", tls_client, sock_spent)
kind("tls_listener", "tls", "socket", function(env)
  local l = env:track(assert(green.listen("127.0.0.1", 0)))
  assert(green.wrap_ssl(l, server_opts()))
  return l
end, sock_spent)
kind("tls_accepted", "tls", "socket", function(env)
  -- one wrapped listener for them all (loading the certificate is slow)
  local l = env.tls_accept_listener
  if not l or core.is_closed(l) then
    l = assert(green.listen("127.0.0.1", 0))
    assert(green.wrap_ssl(l, server_opts()))
    env.tls_accept_listener = l
  end
  local _, port = l:getsockname()
  local c = env:track(assert(green.connect("127.0.0.1", port, { timeout = 5 })))
  -- the client handshakes (in its own thread) once the accepted side does
  env.keep[#env.keep + 1] = green.spawn(function()
    c:settimeout(10)
    if green.wrap_ssl(c, { verify = "none" }) then
      for _ = 1, 1e6 do
        if not c:recv(65536) then break end
      end
    end
  end)
  return env:track(assert(l:accept()))
end, sock_spent)
kind("tls_closed", "tls", "socket", function(env)
  local s = tls_client(env)
  s:close()
  return s
end, nil, true)

-- luasec area (host/io/x509.c, core.tcp_adopt, green.luasec): certificate
-- objects, and the adopt/fileno/buffered functions LuaSec's API needs
local function cert_pem()
  local f = assert(io.open(certs().certfile))
  local pem = f:read("a")
  f:close()
  return pem
end

kind("x509", "luasec", "x509", function(env)
  env.cert_pem = env.cert_pem or cert_pem()
  return assert(core.x509_load(env.cert_pem))
end, function(c) return not pcall(c.pem, c) end)  -- __gc and __close free it

-- udp area
kind("udp_bound", "udp", "udp", function(env)
  return env:track(assert(green.udp({ host = "127.0.0.1", port = 0 })))
end, udp_spent)
kind("udp_unbound", "udp", "udp", function(env) return env:track(assert(green.udp())) end, udp_spent)
kind("udp_closed", "udp", "udp", function(env)
  local u = env:track(assert(green.udp({ host = "127.0.0.1", port = 0 })))
  u:close()
  return u
end, nil, true)

-- lsock area: the green socket.core and socket.unix (host/luasocket), their
-- module functions and every class of object
local function ls() return require "socket.core" end
local function ls_spent(s) return not pcall(s.getfd, s) or s:getfd() < 0 end
local function ls_pair(env)
  local srv = env:track(assert(ls().tcp()))
  assert(srv:bind("127.0.0.1", 0))
  assert(srv:listen())
  local _, port = srv:getsockname()
  local c = env:track(assert(ls().tcp()))
  assert(c:connect("127.0.0.1", port))
  local a = env:track(assert(srv:accept()))
  srv:close()
  return c, a
end
kind("ls_master", "lsock", "lsock", function(env) return env:track(assert(ls().tcp())) end, ls_spent)
kind("ls_master6", "lsock", "lsock", function(env) return env:track(assert(ls().tcp6())) end, ls_spent)
kind("ls_server", "lsock", "lsock", function(env)
  local s = env:track(assert(ls().tcp()))
  assert(s:bind("127.0.0.1", 0))
  assert(s:listen())
  return s
end, ls_spent)
kind("ls_client", "lsock", "lsock", function(env) return (ls_pair(env)) end, ls_spent)
kind("ls_accepted", "lsock", "lsock", function(env) return select(2, ls_pair(env)) end, ls_spent)
kind("ls_closed", "lsock", "lsock", function(env)
  local c = ls_pair(env)
  c:close()
  return c
end, nil, true)
kind("ls_udp", "lsock", "lsudp", function(env) return env:track(assert(ls().udp())) end, ls_spent)
kind("ls_udp_connected", "lsock", "lsudp", function(env)
  local u = env:track(assert(ls().udp()))
  assert(u:setpeername("127.0.0.1", 9))
  return u
end, ls_spent)
kind("ls_unix_master", "lsock", "lsock", function(env)
  return env:track(assert(require("socket.unix").stream()))
end, ls_spent)
kind("ls_unix_dgram", "lsock", "lsudp", function(env)
  return env:track(assert(require("socket.unix").dgram()))
end, ls_spent)

-- lsock area, H2's block: the udp and socket.unix objects in their other
-- states (bound, connected, accepted, with data waiting, closed), so every
-- method of host/luasocket/udp.c and unix.c meets each state
local function lsu() return require "socket.unix" end
kind("ls_udp4_bound", "lsock", "lsudp", function(env)
  local u = env:track(assert(ls().udp4()))
  assert(u:setsockname("127.0.0.1", 0))
  local _, port = u:getsockname()
  local w = env:track(assert(ls().udp4()))
  w:sendto("waiting datagram", "127.0.0.1", port)  -- one to receive at once
  return u
end, ls_spent)
kind("ls_udp6", "lsock", "lsudp", function(env) return env:track(assert(ls().udp6())) end, ls_spent)
kind("ls_udp_closed", "lsock", "lsudp", function(env)
  local u = env:track(assert(ls().udp4()))
  u:close()
  return u
end, nil, true)
local function ls_unix_pair(env)
  local path = tmp_path("lsu")
  local srv = env:track(assert(lsu().stream()))
  assert(srv:bind(path))
  assert(srv:listen())
  local c = env:track(assert(lsu().stream()))
  assert(c:connect(path))
  local a = env:track(assert(srv:accept()))
  os.remove(path)
  return c, a, srv
end
kind("ls_unix_client", "lsock", "lsock", function(env) return (ls_unix_pair(env)) end, ls_spent)
kind("ls_unix_accepted", "lsock", "lsock", function(env) return select(2, ls_unix_pair(env)) end, ls_spent)
kind("ls_unix_server", "lsock", "lsock", function(env) return select(3, ls_unix_pair(env)) end, ls_spent)
kind("ls_unix_dgram_connected", "lsock", "lsudp", function(env)
  local path = tmp_path("lsd")
  local b = env:track(assert(lsu().dgram()))
  assert(b:bind(path))
  local d = env:track(assert(lsu().dgram()))
  assert(d:connect(path))
  os.remove(path)
  return d
end, ls_spent)
kind("ls_unix_closed", "lsock", "lsock", function(env)
  local c = ls_unix_pair(env)
  c:close()
  return c
end, nil, true)

-- http area: parsers (host/http); their sockets are the sockets area's
kind("http_request_parser", "http", "http", function() return core.http_parser("request") end)
kind("http_response_parser", "http", "http", function() return core.http_parser("response", {}) end)

-- fs area: green.fs's C files (host/io/fs.c) and green.fileobj's files
-- over them (their methods are C closures, core.fs_wrap)
kind("fs_file", "fs", "fsfile", function() return assert(core.fs_open(tmp_path("fs"), "w+")) end,
  function(f) return f:fileno() == nil end)
kind("fs_file_closed", "fs", "fsfile", function()
  local f = assert(core.fs_open(tmp_path("fs"), "w+"))
  f:close()
  return f
end, nil, true)
kind("green_file", "fs", "gfile", function()
  local f = assert(require("green.fs").open(tmp_path("fs"), "w+"))
  f:write("line\n12 more\n")
  f:seek("set")
  return f
end, function(f) return require("green.fileobj").type(f) ~= "file" end)
kind("green_file_closed", "fs", "gfile", function()
  local f = assert(require("green.fs").open(tmp_path("fs"), "w+"))
  f:close()
  return f
end, nil, true)

-------------------------------------------------------------- bad values

local BIG = string.rep("x", 1 << 20)

-- The palette: {name, value or maker}. Makers (functions in `make`) give a
-- fresh object per callable (they are objects a call may change).
local function palette_list()
  local p = {
    { "nil", nil }, { "true", true }, { "false", false },
    { "0", 0 }, { "-1", -1 }, { "1.5", 1.5 }, { "huge", math.huge }, { "-huge", -math.huge },
    { "nan", 0 / 0 }, { "maxinteger", math.maxinteger }, { "mininteger", math.mininteger },
    { "1e300", 1e300 }, { "-1e300", -1e300 },
    { "''", "" }, { "1MB", BIG }, { "'\\0'", "\0" }, { "'x'", "x" },
    { "{}", {} },
    { "index_error_table", setmetatable({}, { __index = function() error("fuzz: __index") end }) },
    { "tostring_error_table", setmetatable({}, { __tostring = function() error("fuzz: __tostring") end }) },
    { "tostring_yield_table", setmetatable({}, { __tostring = function() green.sleep(0) return "y" end }) },
    { "callable_error_table", setmetatable({}, { __call = function() error("fuzz: __call") end }) },
    { "function", NOOP },
    { "coroutine", coroutine.create(NOOP) },
    { "io.stdout", io.stdout },
    { "PASS", core.PASS },
    { "green_coroutine", make = function()
      return held_in_thread(function() return (coroutine.running()) end)
    end },
    { "tcp_listener", make = function() return E:get("tcp_listener") end },
    { "closed_socket", make = function() return E:get("tcp_listener_closed") end },
    { "udp", make = function() return E:get("udp_bound") end },
    { "queue", make = function() return E:get("queue") end },
    { "thread", make = function() return E:get("thread_sleeping") end },
    { "timeout", make = function() return E:get("timeout_cancelled") end },
    { "semaphore", make = function() return E:get("semaphore") end },
    { "event", make = function() return E:get("event") end },
    { "waitq", make = function() return E:get("waitq") end },
  }
  return p
end

local PALETTE
-- One bad value of each sort, for the second and third arguments.
local CORE_PALETTE = {}
for _, name in ipairs({ "nil", "true", "-1", "1.5", "nan", "maxinteger", "1e300", "''", "1MB",
  "'\\0'", "{}", "index_error_table", "function", "io.stdout", "tcp_listener", "queue" }) do
  CORE_PALETTE[name] = true
end
local PALETTE_KINDS = { tcp_listener = true, tcp_listener_closed = true, udp_bound = true,
  queue = true, thread_sleeping = true, timeout_cancelled = true, semaphore = true,
  event = true, waitq = true }

-- Fresh palette objects for the next callable.
local function refresh_palette()
  for name in pairs(PALETTE_KINDS) do
    E:spend(name)
    E.spares[name] = nil
  end
end

local function palette_value(entry)
  if entry.make then return entry.make() end
  return entry[2]
end

----------------------------------------------------- valid arguments

-- Templates: valid arguments (after self, for methods), so that each bad
-- value is tried in each position with the others valid. A function of E
-- returning the argument list (n set). Keyed by function name for module
-- functions, by "group.method" for methods.
local function A(...) return table.pack(...) end

local function listening_port(env)
  local _, port = env:get("tcp_listener"):getsockname()
  return port
end

local function unix_listening_path(env)
  local l = env:get("unix_listener")
  return (l:getsockname())
end

local FUNC_TEMPLATES = {
  select = function(env) return A({ env:get("ls_accepted") }, { env:get("ls_client") }, 0.05) end,
  wait = function(env) return A(env:get("ls_accepted"), "r", 0.05) end,
  wait_readable = function(env) return A(env:get("ls_accepted"), 0.05) end,
  wait_writable = function(env) return A(env:get("ls_client"), 0.05) end,
  fd_wait = function(env) return A(env:get("ls_accepted"), "r", 0.05) end,
  fd_wait_readable = function(env) return A(env:get("ls_accepted"), 0.05) end,
  fd_wait_writable = function(env) return A(env:get("ls_client"), 0.05) end,
  fd_greenlua_wait = function(env) return A(env:get("ls_accepted"), "r", 0.05) end,
  toip = function() return A("localhost") end,
  tohostname = function() return A("127.0.0.1") end,
  getnameinfo = function() return A("127.0.0.1", 80) end,
  skip = function() return A(1, 2, 3) end,
  newtry = function() return A(NOOP) end,
  protect = function() return A(NOOP) end,
  spawn = function() return A(NOOP, 1, 2) end,
  spawn_n = function() return A(NOOP, 1, 2) end,
  spawn_after = function() return A(0.01, NOOP, 1) end,
  sleep = function() return A(0.01) end,
  kill = function(env) return A(env:get("thread_sleeping"), "fuzz") end,
  Timeout = function() return A(0.05, "fuzz") end,
  is_timeout = function(env) return A(env:get("timeout_cancelled"), env:get("timeout_cancelled")) end,
  with_timeout = function() return A(0.05, NOOP, 1) end,
  extra = function(env) return A(env:get("thread_sleeping")) end,
  on_exit = function(env) return A(env:get("thread_sleeping"), NOOP) end,
  finished = function() return A(1, 2, 3) end,
  WaitQueue = function() return A() end,
  Event = function() return A() end,
  Queue = function() return A(2) end,
  LightQueue = function() return A(2) end,
  LifoQueue = function() return A(2) end,
  PriorityQueue = function() return A(2, function(a, b) return a < b end) end,
  Semaphore = function() return A(1) end,
  BoundedSemaphore = function() return A(1) end,
  GreenPool = function() return A(2) end,
  GreenPile = function() return A(2) end,
  listen = function() return A("127.0.0.1", 0, {}) end,
  connect = function(env) return A("127.0.0.1", listening_port(env), { timeout = 0.1 }) end,
  listen_unix = function() return A(tmp_path("f"), {}) end,
  connect_unix = function(env) return A(unix_listening_path(env), {}) end,
  getaddrinfo = function() return A("localhost") end,
  serve = function(env) return A(env:get("tcp_listener"), NOOP, 1) end,
  tcp_connect = function(env) return A("127.0.0.1", listening_port(env), 0.1) end,
  tcp_listen = function() return A("127.0.0.1", 0, 16, false) end,
  unix_listen = function() return A(tmp_path("f"), 16, 384) end,
  unix_connect = function(env) return A(unix_listening_path(env), 0.1) end,
  peer_uid = function(env) return A(env:get("unix_client")) end,
  chmod = function(env) return A(unix_listening_path(env), 384) end,
  is_closed = function(env) return A(env:get("tcp_listener")) end,
  wrap_ssl = function(env)
    local c = env:track(assert(green.connect("127.0.0.1", tls_server_port(env), { timeout = 5 })))
    return A(c, { verify = "none" })
  end,
  tls_wrap = function(env)
    local c = env:track(assert(green.connect("127.0.0.1", tls_server_port(env), { timeout = 5 })))
    return A(c, { verify = "none" })
  end,
  -- luasec area: a real fd (a connected plain socket's) takes the valid path
  tcp_adopt = function(env)
    local c = env:track(assert(green.connect("127.0.0.1", tls_server_port(env), { timeout = 5 })))
    return A(c:getfd())
  end,
  x509_load = function(env) env.cert_pem = env.cert_pem or cert_pem(); return A(env.cert_pem, "pem") end,
  sock_buffered = function(env) return A(tls_client(env)) end,
  newcontext = function() return A({ mode = "client", protocol = "any", verify = "none" }) end,
  loadcertificate = function(env) env.cert_pem = env.cert_pem or cert_pem(); return A(env.cert_pem) end,
  udp = function() return A({ host = "127.0.0.1", port = 0 }) end,
  udp_open = function() return A("127.0.0.1", 0) end,
  http_parser = function() return A("request", { max_headers = 10 }) end,
  http_respond = function(env) return A(env:get("tcp_client"), 200, { ["X-A"] = "1" }, "hi", 2) end,
  http_chunk = function(env) return A(env:get("tcp_client"), "x", true) end,
  http_date = function() return A(0) end,
  http_reason = function() return A(200) end,
  readline = function() return A("") end,
  console_write = function() return A("x") end,
  stdin_read = function() return A(16) end,
  fs_open = function() return A(tmp_path("fs"), "w+", 420) end,
  fs_stat = function() return A(os.getenv("FUZZ_TMP") or "/tmp", true) end,
  fs_unlink = function() return A(tmp_path("fs")) end,
  fs_rmdir = function() return A(tmp_path("fs")) end,
  fs_mkdir = function() return A(tmp_path("fs"), 448) end,
  fs_rename = function() return A(tmp_path("fs"), tmp_path("fs")) end,
  fs_scandir = function() return A(os.getenv("FUZZ_TMP") or "/tmp") end,
  fs_fdtype = function() return A(0) end,
  fs_wrap = function() return A(NOOP) end,
  history = function() return A(tmp_path("h")) end,
  backdoor_server = function(env) return A(env:get("tcp_listener"), {}, {}) end,
  backdoor = function(env) return A(env:get("tcp_server"), "127.0.0.1", 1, {}) end,
  run = function()
    return A({ read = function() return nil end, print = NOOP, error = NOOP, env = {} })
  end,
  resume = function() return A(coroutine.create(NOOP), 1) end,
  wrap = function() return A(NOOP) end,
  close = function() return A(coroutine.create(NOOP)) end,
  status = function() return A(coroutine.create(NOOP)) end,
  create = function() return A(NOOP) end,
  yield = function() return A(1) end,
  require = function() return A("green") end,
}

local METHOD_TEMPLATES = {
  ["thread.wait"] = function() return A() end,
  ["thread.kill"] = function() return A("fuzz") end,
  ["thread.link"] = function() return A(NOOP, 1) end,
  ["thread.unlink"] = function() return A(NOOP) end,
  ["thread.__index"] = function() return A("id") end,
  ["timeout.__index"] = function() return A("seconds") end,
  ["timeout.__close"] = function() return A(nil) end,
  ["local.__index"] = function() return A("k") end,
  ["local.__newindex"] = function() return A("k", 1) end,
  ["waitq.wait"] = function() return A() end,
  ["event.send"] = function() return A(1, 2) end,
  ["event.send_exception"] = function() return A("fuzz") end,
  ["event.wait"] = function() return A(0.05) end,
  ["async.set"] = function() return A(1, 2) end,
  ["async.set_exception"] = function() return A("fuzz") end,
  ["async.get"] = function() return A(0.05) end,
  ["queue.put"] = function() return A(1, true, 0.05) end,
  ["queue.get"] = function() return A(true, 0.05) end,
  ["queue.put_nowait"] = function() return A(1) end,
  ["queue.resize"] = function() return A(3) end,
  ["queue.join"] = function() return A(0.05) end,
  ["sem.acquire"] = function() return A(true, 0.05) end,
  ["sem.guard"] = function() return A(0.05) end,
  ["pool.spawn"] = function() return A(NOOP, 1) end,
  ["pool.spawn_n"] = function() return A(NOOP, 1) end,
  ["pool.resize"] = function() return A(3) end,
  ["pool.imap"] = function() return A(NOOP, { 1, 2 }) end,
  ["pool.starmap"] = function() return A(NOOP, { { 1 }, { 2 } }) end,
  ["pile.spawn"] = function() return A(NOOP, 1) end,
  ["socket.send"] = function() return A("x") end,
  ["socket.receive"] = function() return A("*l", "") end,
  ["socket.recv"] = function() return A(16) end,
  ["socket.settimeout"] = function() return A(0.05) end,
  ["socket.setoption"] = function() return A("tcp-nodelay", true) end,
  ["socket.shutdown"] = function() return A("send") end,
  ["socket.alpn"] = function() return A() end,
  ["socket.tls_sni"] = function() return A({ "a.example" }, { server_opts() }, true) end,
  ["x509.digest"] = function() return A("sha256") end,
  ["x509.validat"] = function() return A(0) end,
  ["x509.issued"] = function(env) return A(env:get("x509"), env:get("x509")) end,
  ["x509.setencode"] = function() return A("utf8") end,
  ["udp.sendto"] = function(env)
    local _, port = env:get("udp_bound"):getsockname()
    return A("x", "127.0.0.1", port)
  end,
  ["udp.receivefrom"] = function() return A(16) end,
  ["http.read_request"] = function(env) return A(env:get("tcp_server"), nil, 0.05, 0.05) end,
  ["http.read_response"] = function(env) return A(env:get("tcp_client"), {}, 0.05) end,
  ["http.read_body"] = function(env) return A(env:get("tcp_server"), "*a", 0.05) end,
  ["http.discard"] = function(env) return A(env:get("tcp_server"), 10, 0.05) end,
  ["http.body_done"] = function() return A() end,
  ["http.idle"] = function(env) return A(env:get("tcp_server")) end,
  ["udp.settimeout"] = function() return A(0.05) end,
  ["lsock.send"] = function() return A("x", 1, -1) end,
  ["lsock.receive"] = function() return A(1, "") end,
  ["lsock.settimeout"] = function() return A(0.05, "b") end,
  ["lsock.setoption"] = function() return A("tcp-nodelay", true) end,
  ["lsock.getoption"] = function() return A("tcp-nodelay") end,
  ["lsock.bind"] = function() return A("127.0.0.1", 0) end,
  ["lsock.setsockname"] = function() return A("127.0.0.1", 0) end,
  ["lsock.connect"] = function(env) return A("127.0.0.1", select(2, env:get("ls_server"):getsockname())) end,
  ["lsock.setpeername"] = function(env) return A("127.0.0.1", select(2, env:get("ls_server"):getsockname())) end,
  ["lsock.listen"] = function() return A(8) end,
  ["lsock.shutdown"] = function() return A("send") end,
  ["lsock.setstats"] = function() return A(1, 2, 3) end,
  ["lsock.setfd"] = function() return A(-1) end,
  ["lsudp.send"] = function() return A("x") end,
  ["lsudp.sendto"] = function() return A("x", "127.0.0.1", 9) end,
  ["lsudp.receive"] = function() return A(16) end,
  ["lsudp.receivefrom"] = function() return A(16) end,
  ["lsudp.settimeout"] = function() return A(0.05) end,
  ["lsudp.setsockname"] = function() return A("127.0.0.1", 0) end,
  ["lsudp.setpeername"] = function() return A("127.0.0.1", 9) end,
  ["lsudp.setoption"] = function() return A("broadcast", false) end,
  ["lsudp.getoption"] = function() return A("broadcast") end,
  ["lsudp.setfd"] = function() return A(-1) end,
  ["fsfile.read"] = function() return A(16, 0) end,
  ["fsfile.write"] = function() return A("x", 0) end,
  ["fsfile.write_now"] = function() return A("x", 0) end,
  ["gfile.read"] = function() return A("l") end,
  ["gfile.write"] = function() return A("x") end,
  ["gfile.seek"] = function() return A("set", 0) end,
  ["gfile.lines"] = function() return A("l") end,
  ["gfile.setvbuf"] = function() return A("full", 1024) end,
}

-- Calls whose legitimate effect would end the run; never made (the spec's
-- own cases cover what they can in a child process):
--  * os.exit: ends the process (fuzzed per value in child processes by
--    fuzz_spec's "os.exit" case);
--  * green.core.set_link_runner(<a function>): replaces the process-wide
--    link runner, after which every gt:link of the run is broken (only its
--    non-function arguments are fuzzed);
--  * green.core.cannot_block: undoes the running thread's current block
--    (it is the relay's own tool); called with the runner blocked it would
--    corrupt nothing but leave the runner waiting for ever, so it is called
--    only from a call thread, which is what happens anyway.
local SKIP_FUNCS = { ["os.exit"] = true }
--  * require(<1 MB string>): stock Lua's searchers build some 10 MB of
--    file names and messages (7 s under ASan); none of greenlua's C runs.
local function skipped_call(name, args)
  -- a valid timeout begins a graceful stop, which exits the process
  -- (spec/shutdown_spec.lua runs it in child processes); misuse is fuzzed
  if name == "green.shutdown" and (args[1] == nil or (type(args[1]) == "number" and args[1] >= 0)) then
    return "a graceful stop ends the run"
  end
  if name == "green.core.set_link_runner" and type(args[1]) == "function" then
    return "replaces the link runner"
  end
  if name == "_G.require" and type(args[1]) == "string" and #args[1] > 4096 then
    return "stock searchers, slow"
  end
  -- green.fs's C with the palette's 'x' as a path would make, remove or
  -- rename ./x in the working directory (the repository)
  if name:find("^green%.core%.fs_") then
    for i = 1, math.min(args.n or #args, 3) do
      if args[i] == "x" then return "a relative path in the working directory" end
    end
  end
  return nil
end

-------------------------------------------------------- the surface

-- Modules whose functions are fuzzed, in a fixed order (the first path a
-- function is found under names it).
local MODULES = {
  "green", "green.queue", "green.backdoor", "green.net", "green.event", "green.pool",
  "green.semaphore", "green.repl", "green.core", "green.hub", "socket.core", "socket.unix",
  "green.luasec",
}
-- Plain tables of C functions inside a module, fuzzed as modules of their own.
local SUBMODULES = { ["socket.core"] = { "dns" } }

-- Which area a module function belongs to (by its key); unknown names go
-- to "other", so a new function is fuzzed even before it is placed.
local FUNC_AREA = {}
for area, names in pairs({
  threads = { "spawn", "spawn_n", "spawn_after", "sleep", "getcurrent", "kill", "threads",
    "stats", "now", "switches", "Timeout", "is_timeout", "with_timeout", "Local", "extra",
    "set_link_runner", "cannot_block", "finished", "on_exit", "WaitQueue", "getpid",
    "getuid", "resume", "wrap", "close", "status", "create", "yield", "isyieldable",
    "running", "require" },
  sync = { "Event", "AsyncResult", "Queue", "LightQueue", "LifoQueue", "PriorityQueue",
    "Semaphore", "BoundedSemaphore", "GreenPool", "GreenPile" },
  sockets = { "listen", "connect", "listen_unix", "connect_unix", "getaddrinfo", "serve",
    "tcp_connect", "tcp_listen", "unix_listen", "unix_connect", "peer_uid", "chmod",
    "is_closed" },
  tls = { "wrap_ssl", "tls_wrap" },
  luasec = { "tcp_adopt", "x509_load", "sock_buffered", "newcontext",
    "loadcertificate" },
  udp = { "udp", "udp_open" },
  http = { "http_parser", "http_respond", "http_chunk", "http_date", "http_reason" },
  lsock = { "tcp", "tcp4", "tcp6", "udp4", "udp6", "select", "gettime", "skip", "newtry",
    "protect", "__unload", "toip", "tohostname", "getnameinfo", "gethostname", "stream",
    "dgram", "wait", "wait_readable", "wait_writable", "fd_wait", "fd_wait_readable",
    "fd_wait_writable", "fd_greenlua_wait" },
  console = { "readline", "console_write", "history", "is_terminal", "backdoor",
    "backdoor_server", "run", "console", "stdin_read" },
  fs = { "fs_open", "fs_stat", "fs_unlink", "fs_rmdir", "fs_mkdir", "fs_rename", "fs_scandir",
    "fs_fdtype", "fs_wrap" },
}) do
  for _, n in ipairs(names) do FUNC_AREA[n] = area end
end

-- process area: green.process and green.signal (host/io/process.c,
-- host/io/signal.c). Kept in one block so the other areas' edits do not
-- meet it. Children are short-lived ("sleep 20") and killed when their
-- object is let go, so none outlives the run.
table.insert(F.AREAS, #F.AREAS, "process")  -- before "other"
MODULES[#MODULES + 1] = "green.process"
MODULES[#MODULES + 1] = "green.signal"
for _, n in ipairs({ "process_spawn", "process_can_block", "process_exact", "signal_handle",
  "signal_wait", "execute", "popen", "signal", "wait_signal" }) do
  FUNC_AREA[n] = "process"
end
local function child(env, opts)
  local p = assert(require("green.process").spawn({ "sleep", "20" }, opts))
  env:track({ close = function() p:kill("KILL") end })
  return p
end
kind("process", "process", "process", function(env) return child(env) end)
kind("process_exited", "process", "process", function()
  local p = assert(require("green.process").spawn({ "true" }))
  p:wait()
  return p
end, nil, true)
kind("process_handle", "process", "prochandle", function(env) return child(env)._h end)
kind("process_handle_exited", "process", "prochandle", function()
  local p = assert(require("green.process").spawn({ "true" }))
  p:wait()
  return p._h
end, nil, true)
kind("pipe_out", "process", "socket", function(env)
  return env:track(child(env, { stdout = "pipe" }).stdout)
end, sock_spent)
kind("pipe_in", "process", "socket", function(env)
  return env:track(child(env, { stdin = "pipe" }).stdin)
end, sock_spent)
kind("signal_handle", "process", "sighandle", function(env)
  local h = green.signal("USR2", NOOP)
  env:track({ close = function() h:cancel() end })
  return h
end)
kind("signal_handle_cancelled", "process", "sighandle", function()
  local h = green.signal("USR2", NOOP)
  h:cancel()
  return h
end, nil, true)
FUNC_TEMPLATES.process_spawn = function() return A({ "true" }, { "null", "null", "null" }, nil, nil, false) end
FUNC_TEMPLATES.process_exact = function() return A(NOOP, "execute") end
FUNC_TEMPLATES.signal_handle = function() return A("USR2", NOOP) end
FUNC_TEMPLATES.signal_wait = function() return A("USR2", 0.05) end
FUNC_TEMPLATES.signal = function() return A("USR2", NOOP) end
FUNC_TEMPLATES.wait_signal = function() return A("USR2", 0.05) end
FUNC_TEMPLATES.execute = function() return A("true") end
FUNC_TEMPLATES.popen = function() return A("true", "r") end
METHOD_TEMPLATES["process.wait"] = function() return A(0.05) end
METHOD_TEMPLATES["process.kill"] = function() return A("CONT") end
METHOD_TEMPLATES["prochandle.wait"] = function() return A(0.05) end
METHOD_TEMPLATES["prochandle.kill"] = function() return A("CONT") end

-- workers block (issue 11, H4): green.worker() and core.worker_listen
-- (host/workers/worker.c). Outside `--workers` (as the fuzzer runs) the
-- latter answers nil, "not a worker" after its argument checks.
FUNC_AREA.worker = "sockets"
FUNC_AREA.worker_listen = "sockets"
FUNC_TEMPLATES.worker = function() return A() end
FUNC_TEMPLATES.worker_listen = function() return A("127.0.0.1", 0, 16) end

local function is_c(f)
  return type(f) == "function" and debug.getinfo(f, "S").what == "C"
end

-- The lazy fields of `green` (init.lua's `lazy` table, an upvalue of its
-- __index): forced so that every one is reached.
local function force_lazy()
  local mt = debug.getmetatable(green)
  local index = mt and mt.__index
  assert(type(index) == "function", "green has no lazy __index")
  for i = 1, 20 do
    local name, value = debug.getupvalue(index, i)
    if name == nil then break end
    if name == "lazy" then
      -- a lazy name whose module is not there (yet: issue 10's parts land
      -- one branch at a time) is left out rather than stopping every area
      for _, key in ipairs(sorted_keys(value)) do pcall(function() return green[key] end) end
      return
    end
  end
  error("green's lazy table not found")
end

-- The method table of a metatable: its __index table, or the table a C
-- __index closure keeps as its first upvalue (GreenThread, Timeout).
local function method_table(mt)
  local index = rawget(mt, "__index")
  if type(index) == "table" then return index end
  if type(index) == "function" then
    local _, up = debug.getupvalue(index, 1)
    if type(up) == "table" then return up end
  end
  return nil
end

-- Every function a metatable gives its objects: metamethods and methods.
-- Returns a sorted array of {name, fn, meta = bool}.
local function object_functions(mt)
  local out, seen = {}, {}
  for _, k in ipairs(sorted_keys(mt)) do
    local f = rawget(mt, k)
    if type(f) == "function" then
      out[#out + 1] = { name = k, fn = f, meta = true }
      seen[k] = true
    end
  end
  local methods = method_table(mt)
  if methods then
    for _, k in ipairs(sorted_keys(methods)) do
      local f = rawget(methods, k)
      if type(f) == "function" and not seen[k] then out[#out + 1] = { name = k, fn = f } end
    end
  end
  return out
end

-- The surface: module functions and object kinds with their functions.
-- Also every C function seen on the way (for the coverage check).
local function surface()
  force_lazy()
  local funcs, seen_fn = {}, {}
  local all_c = {}  -- fn -> a name
  local function note_c(f, name)
    if is_c(f) and not all_c[f] then all_c[f] = name end
  end
  local function add_func(path, key, f)
    note_c(f, path .. "." .. key)
    if seen_fn[f] then return end
    seen_fn[f] = true
    funcs[#funcs + 1] = { owner = path, name = key, fn = f, area = FUNC_AREA[key] or "other" }
  end
  local metas = {}  -- metatables reached from module values
  local function each_module(fn)
    for _, path in ipairs(MODULES) do
      local m = require(path)
      fn(path, m)
      for _, sub in ipairs(SUBMODULES[path] or {}) do
        if type(m[sub]) == "table" then fn(path .. "." .. sub, m[sub]) end
      end
    end
  end
  each_module(function(path, m)
    for _, key in ipairs(sorted_keys(m)) do
      local v = rawget(m, key)
      if type(v) == "function" then
        add_func(path, key, v)
      elseif type(v) == "table" or type(v) == "userdata" then
        local mt = debug.getmetatable(v)
        if type(mt) == "table" then metas[mt] = path .. "." .. key end
        if type(v) == "table" then
          for _, k2 in ipairs(sorted_keys(v)) do note_c(rawget(v, k2), path .. "." .. key .. "." .. k2) end
        end
      end
    end
  end)
  -- the stock library functions greenlua replaces or relies on for green threads
  for _, key in ipairs({ "resume", "wrap", "close", "status", "create", "yield", "isyieldable", "running" }) do
    add_func("coroutine", key, coroutine[key])
  end
  add_func("_G", "require", require)
  note_c(os.exit, "os.exit")
  -- every metatable the host registered (luaL_newmetatable: "green.*")
  for k, v in pairs(debug.getregistry()) do
    if type(k) == "string" and (k:find("^green%.") or k:find("^greenlua%.")) and type(v) == "table" then
      metas[v] = k
    end
  end
  for mt, name in pairs(metas) do
    for _, f in ipairs(object_functions(mt)) do
      note_c(f.fn, name .. ":" .. f.name)
      -- no valid object of a kindless type can be had: fuzz its functions
      -- with bad values only
      if KINDLESS[name] then add_func(name, f.name, f.fn) end
    end
  end
  return funcs, all_c, metas
end

----------------------------------------------------------- the calls

-- A call: id, area, a description, the function, and a builder of its
-- arguments (values and their names). Built lazily, described at run time.
local KIND_MT = { socket = "green.Socket", udp = "green.UdpSocket", http = "green.http_parser" }
local TRUES  -- 70010 trues, to copy argument lists from

local function build_calls(area, funcs)
  local calls = {}
  local function add(c)
    c.id = #calls + 1
    c.group = c.owner .. c.sep .. c.name .. "#" .. c.pos
    calls[#calls + 1] = c
  end
  local pal = PALETTE
  -- 60 and 250: past LUA_MINSTACK; 70000: past an unsigned short (a count
  -- kept in 16 bits wraps) and far past any stack a C function may assume
  local MANY = { 60, 250, 70000 }
  TRUES = TRUES or table.pack(table.unpack(setmetatable({}, { __index = function() return true end }), 1, 70010))

  -- arguments: `pre` (a function giving the leading values, e.g. self, and
  -- their names), then the template's values with position i replaced.
  -- positions 2 and 3 get one bad value of each sort (FUZZ_FULL=1: all)
  local core_pal = {}
  for _, entry in ipairs(pal) do
    if CORE_PALETTE[entry[1]] or os.getenv("FUZZ_FULL") == "1" then core_pal[#core_pal + 1] = entry end
  end
  local function variants(owner, sep, name, fn, pre, tpl, self_kind, no_many)
    add({ owner = owner, sep = sep, name = name, fn = fn, self_kind = self_kind, pos = "none",
      build = function() local a, n = pre(); return a, n end })
    for i = 1, 3 do
      if i == 1 or tpl then
        for _, entry in ipairs(i == 1 and pal or core_pal) do
          add({ owner = owner, sep = sep, name = name, fn = fn, self_kind = self_kind, pos = "arg" .. i,
            build = function(env)
              local a, n = pre()
              local t = tpl and tpl(env) or A()
              local count = math.max(t.n, i)
              for j = 1, count do
                if j == i then
                  a[#n + 1] = palette_value(entry); n[#n + 1] = entry[1]
                else
                  a[#n + 1] = t[j]; n[#n + 1] = describe(t[j])
                end
              end
              a.n = #n
              return a, n
            end })
        end
      end
    end
    for _, count in ipairs(no_many and {} or MANY) do
      add({ owner = owner, sep = sep, name = name, fn = fn, self_kind = self_kind, pos = "many",
        build = function(env)
          local head, n = pre()
          local t = tpl and tpl(env) or A()
          for j = 1, t.n do head[#n + 1] = t[j]; n[#n + 1] = describe(t[j]) end
          local base = #n
          -- preallocated (growing a table one key at a time is slow under ASan)
          local a = table.pack(table.unpack(TRUES, 1, base + count))
          for j = 1, base do a[j] = head[j] end
          n[#n + 1] = ("true x%d"):format(count)
          return a, n
        end })
    end
  end

  local function no_pre() return { n = 0 }, {} end

  for _, f in ipairs(funcs) do
    if f.area == area and not SKIP_FUNCS[f.owner .. "." .. f.name] then
      variants(f.owner, ".", f.name, f.fn, no_pre, FUNC_TEMPLATES[f.name])
    end
  end

  -- methods: each function once with bad selves, then per kind with a valid self
  -- a socket's metatable is in the registry: no need to make one (a TLS
  -- socket costs a handshake) just to list its methods
  local function kind_mt(kname)
    local k = KINDS[kname]
    local mt = KIND_MT[k.group] and debug.getregistry()[KIND_MT[k.group]]
    if type(mt) ~= "table" then mt = debug.getmetatable(E:get(kname)) end
    return mt
  end
  -- bad selves are tried in the area of the first kind with the function
  -- (the sockets area has them for TLS sockets too)
  local done_bad_self, done_many = {}, {}
  for _, kname in ipairs(KIND_ORDER) do
    local k = KINDS[kname]
    if k.area ~= area and k.area ~= "other" then
      local mt = kind_mt(kname)
      if type(mt) == "table" then
        for _, m in ipairs(object_functions(mt)) do done_bad_self[m.fn] = true end
      end
    end
    if k.area == area then break end
  end
  for _, kname in ipairs(KIND_ORDER) do
    local k = KINDS[kname]
    if k.area == area then
      local mt = kind_mt(kname)
      local mtname = (type(mt) == "table" and rawget(mt, "__name")) or k.group
      for _, m in ipairs(object_functions(mt)) do
        if not done_bad_self[m.fn] then
          done_bad_self[m.fn] = true
          add({ owner = mtname, sep = ".", name = m.name, fn = m.fn, pos = "none", build = no_pre })
          for _, entry in ipairs(pal) do
            add({ owner = mtname, sep = ".", name = m.name, fn = m.fn, pos = "self", build = function()
              return A(palette_value(entry)), { entry[1] }
            end })
          end
        end
        local tpl = METHOD_TEMPLATES[k.group .. "." .. m.name]
        local function pre(env)
          env = env or E
          return { env:get(kname), n = 1 }, { "self" }
        end
        -- many arguments: once per function (with its first kind of self)
        variants(mtname .. "[" .. kname .. "]", ":", m.name, m.fn, pre, tpl, kname, done_many[m.fn])
        done_many[m.fn] = true
      end
    end
  end
  -- the self part of a valid-self call names itself already: drop the
  -- first-argument-only duplicates the loop above made for methods
  return calls
end

-------------------------------------------------------------- running

local function log(...)
  LOG:write(table.concat({ ... }, " "), "\n")
end

-- Errors that are control flow or the palette's own, not misuse: kill and
-- Timeout, queue.Full/Empty, a thread's or an event's error handed back,
-- errors raised by the palette's callbacks.
local PALETTE_VALUES = {}

local function is_control(err)
  if err == green.GreenThreadExit or green.is_timeout(err) then return true end
  if err == green.queue.Full or err == green.queue.Empty then return true end
  if err ~= nil and PALETTE_VALUES[err] then return true end  -- a bad value raised back (kill, send_exception)
  local ok, text = pcall(tostring, err)
  return ok and type(text) == "string" and text:find("fuzz", 1, true) ~= nil
end

local RUNAWAY = "fuzz: runaway call ended by the harness"

-- The function name a misuse error should carry.
local function expected_name(c)
  return (c.name:gsub("^__", ""))
end

-- Methods whose success changes their self for good in a way `spent`
-- does not see (a socket that is closed is seen): the next call gets a
-- fresh self.
local MUTATORS = { __gc = true, shutdown = true, kill = true, cancel = true,
  send_exception = true, reset = true, set = true, set_exception = true, resize = true,
  put = true, put_nowait = true, get = true, get_nowait = true, acquire = true,
  release = true, start = true }

-- A count hook that ends a Lua loop running past the call's deadline (a
-- call stuck in C cannot be ended: the supervisor's stall watchdog is for it).
local function arm_runaway_hook(deadline)
  local me = coroutine.running()
  debug.sethook(function()
    if coroutine.running() == me and green.now() > deadline then
      error(RUNAWAY, 0)
    end
  end, "", 100000)
end

local function call_thread(fn, args, box, deadline)
  arm_runaway_hook(deadline)
  local t <close> = green.Timeout(TIMEOUT)
  box.r = table.pack(pcall(fn, table.unpack(args, 1, args.n)))
  debug.sethook()
end

local pending = {}   -- calls still blocked: {gt, id, deadline}
local MAX_PENDING = 48

local function finish(p, outcome)
  log("E", p.id, outcome, ("%.3f"):format(green.now()))
  for _, l in ipairs(p.lent or {}) do E:give_back(l[1], l[2]) end
  local r = p.box.r
  if r and not r[1] and r[2] == RUNAWAY then
    log("H", p.id, "a Lua loop ran past its Timeout; ended by the harness's count hook")
    if p.call.self_kind then E:spend(p.call.self_kind) end  -- its state is suspect now
  end
  if r and not r[1] and not is_control(r[2]) then
    local err = r[2]
    local named = type(err) == "string" and err:find(expected_name(p.call), 1, true) ~= nil
    local internal = type(err) == "string" and err:find("green%.core") ~= nil
    log("N", p.id, named and 1 or 0, internal and 1 or 0, p.call.owner .. p.call.sep .. p.call.name,
      type(err) == "string" and oneline(err) or ("<" .. type(err) .. "> " .. oneline(describe(err))))
  end
end

-- Wait until p's thread ends, its Timeout plus a grace period at most,
-- then kill it; a thread that even a kill does not end is reported.
local function settle(p)
  for _ = 1, 1e6 do
    if p.gt:dead() then return finish(p, "done") end
    if green.now() > p.deadline then break end
    green.sleep(0.01)
  end
  pcall(p.gt.kill, p.gt)
  if p.gt:dead() then return finish(p, "killed") end
  log("H", p.id, "survived its Timeout and a kill")
end

local function reap(all)
  local keep = {}
  for _, p in ipairs(pending) do
    if p.gt:dead() then finish(p, "done")
    elseif all or green.now() > p.deadline then settle(p)
    else keep[#keep + 1] = p end
  end
  pending = keep
  while #pending >= MAX_PENDING do
    settle(table.remove(pending, 1))
  end
end

local function load_lines(var)
  local path = os.getenv(var)
  local list = {}
  if path and path ~= "" then
    for line in slurp(path):gmatch("[^\n]+") do list[#list + 1] = line end
  end
  return list
end

local skip_groups = {}

local function run_one(c, skips, serial)
  E.used = {}
  if c.self_kind then E.used[c.self_kind] = true end
  local ok, args, names = pcall(c.build, E)
  if not ok then
    log("X", c.id, "setup failed: " .. oneline(args))
    return
  end
  local desc = c.owner .. c.sep .. c.name .. "(" .. table.concat(names, ", ") .. ")"
  c.desc = desc
  local why = skipped_call(c.owner .. "." .. c.name, args)
  if why then
    log("K", c.id, desc, "(skipped: " .. why .. ")")
    return
  end
  for _, s in ipairs(skips) do
    if desc:find(s, 1, true) then
      log("K", c.id, desc, "(known crasher)")
      return
    end
  end
  if skip_groups[c.group] or skip_groups[c.owner .. c.sep .. c.name .. "#*"]
    or skip_groups[c.owner:gsub("%[.-%]", "[*]") .. c.sep .. c.name .. "#" .. c.pos] then
    return
  end
  LOG:write(("T %.3f\n"):format(green.now()))
  log("S", c.id, c.group, desc)
  local box = {}
  local deadline = green.now() + TIMEOUT + 2
  local gt = green.spawn(call_thread, c.fn, args, box, deadline)
  green.sleep(0)
  -- once more: threads the call spawned run their first slice now, so a
  -- crash there is still logged under this call
  green.sleep(0)
  local p = { gt = gt, id = c.id, call = c, box = box, deadline = deadline }
  if gt:dead() then
    finish(p, "done")
  else
    log("B", c.id)
    if serial then
      settle(p)
    else
      pending[#pending + 1] = p
    end
    -- whatever it blocks on is busy now: later calls get other objects
    p.lent = {}
    for name in pairs(E.used) do
      local obj = E:lend(name)
      if obj ~= nil then p.lent[#p.lent + 1] = { name, obj } end
    end
  end
  -- a call that may have changed its self (closed it, drained it) and did
  -- not fail: the next call gets a fresh one
  local mutator = MUTATORS[c.name] or (c.name == "send" and KINDS[c.self_kind or ""]
    and KINDS[c.self_kind].group == "event")
  if mutator and c.self_kind and (not box.r or box.r[1]) then E:spend(c.self_kind) end
end

function F.main()
  green = require "green"
  core = require "green.core"
  TIMEOUT = tonumber(os.getenv("FUZZ_TIMEOUT") or "") or 0.2
  local area = assert(os.getenv("FUZZ_AREA"), "FUZZ_AREA not set")
  LOG = assert(io.open(assert(os.getenv("FUZZ_LOG"), "FUZZ_LOG not set"), "a"))
  LOG:setvbuf("no")
  PALETTE = palette_list()
  for _, entry in ipairs(PALETTE) do
    if entry[2] ~= nil and entry[2] == entry[2] then PALETTE_VALUES[entry[2]] = true end
  end
  local funcs, all_c, metas = surface()

  if area == "coverage" then
    -- every C function seen must be called by some area, every metatable
    -- registered must belong to a kind
    local called = {}
    for _, f in ipairs(funcs) do called[f.fn] = true end
    local kind_mts = {}
    for _, kname in ipairs(KIND_ORDER) do
      local ok, obj = pcall(E.get, E, kname)
      if not ok then
        log("U", "kind " .. kname .. " cannot be made: " .. oneline(obj))
      else
        local mt = debug.getmetatable(obj)
        if type(mt) == "table" then
          kind_mts[mt] = true
          for _, m in ipairs(object_functions(mt)) do called[m.fn] = true end
        end
      end
    end
    called[os.exit] = true  -- fuzz_spec's own os.exit case
    for mt, name in pairs(metas) do
      if not kind_mts[mt] and not KINDLESS[name] then log("U", "metatable " .. name .. " has no kind") end
    end
    for f, name in pairs(all_c) do
      if not called[f] then log("U", "C function " .. name .. " is not fuzzed") end
    end
    E:close_sockets()
    log("DONE", 0)
    return
  end

  local calls = build_calls(area == "console_tty" and "console" or area, funcs)
  log("COUNT", #calls)
  local skips = load_lines("FUZZ_SKIP_FILE")
  skip_groups = {}
  for _, g in ipairs(load_lines("FUZZ_SKIP_GROUPS")) do skip_groups[g] = true end
  local only = tonumber(os.getenv("FUZZ_ONLY_CALL") or "")
  local from = tonumber(os.getenv("FUZZ_FROM") or "") or 1
  local to = tonumber(os.getenv("FUZZ_TO") or "") or math.huge
  local last_owner
  for _, c in ipairs(calls) do
    if (only and c.id == only) or (not only and c.id >= from and c.id <= to) then
      local owner = c.owner .. c.name
      if owner ~= last_owner then
        -- a new callable: fresh palette objects, and old sockets closed
        last_owner = owner
        reap(false)
        refresh_palette()
        local busy = {}
        for _, p in ipairs(pending) do
          for _, l in ipairs(p.lent or {}) do busy[l[2]] = true end
        end
        E:close_unused(busy)
      end
      run_one(c, skips, only ~= nil)
      reap(false)
      if c.id % 256 == 0 then
        collectgarbage()
        log("G", c.id, ("%.2f"):format(green.now()))
      end
    end
  end
  reap(true)
  E:close_sockets()
  for _, gt in ipairs(E.keep) do pcall(gt.kill, gt) end
  E.objects = {}
  collectgarbage()
  collectgarbage()
  -- a short run (one call, a range) waits for what it armed (a spawn_after)
  green.sleep((only or to < math.huge) and 0.3 or 0.05)
  log("T", ("objects made in %.2f s"):format(E.make_seconds or 0))
  log("DONE", #calls)
end

---------------------------------------------------------- the supervisor

-- Everything below runs in the spec's process.

-- The first frame of the host's own code in a sanitizer report (or the
-- report's first line): where it crashed.
function F.signature(stderr, rc)
  local sig = {}
  local kind = stderr:match("ERROR: AddressSanitizer: ([^\n]-) on ")
    or stderr:match("ERROR: AddressSanitizer: ([%w%-_]+)")
    or (stderr:find("LeakSanitizer", 1, true) and "leak")
  local ub_where, ub_what = stderr:match("(host/[%w_/%.]+:%d+):%d+: runtime error: ([^\n]+)")
  if ub_where then
    sig.kind = "UB: " .. ub_what
  elseif kind then
    sig.kind = "ASan " .. kind
  elseif stderr:find("Assertion", 1, true) then
    sig.kind = oneline(stderr:match("[^\n]*Assertion[^\n]*"), 200)
  elseif stderr:find("PANIC", 1, true) then
    sig.kind = oneline(stderr:match("[^\n]*PANIC[^\n]*"), 200)
  elseif rc and rc > 128 then
    sig.kind = ("signal %d"):format(rc - 128)
  else
    local last
    for line in stderr:gmatch("greenlua: [^\n]*") do last = line end
    sig.kind = ("exit %s: %s"):format(tostring(rc), oneline(last or "", 200))
  end
  -- the innermost frame in host/ (ASan: "#3 0x... in fn host/x.c:12:3")
  for fn, file, line in stderr:gmatch("#%d+ 0x%x+ in ([%w_]+) [^\n]-(host/[%w_/%.]+%.c):(%d+)") do
    sig.where = ("%s:%s (%s)"):format(file, line, fn)
    break
  end
  if not sig.where and ub_where then sig.where = ub_where end
  if not sig.where then  -- no frame in host/: the first named one (Lua's own, libuv's)
    for fn, module in stderr:gmatch("#%d+ 0x%x+ in ([%w_]+) %(?([^%s%)]*)") do
      sig.where = ("%s (%s)"):format(fn, (module:match("[^/]+$") or module))
      break
    end
  end
  return sig
end

-- Parse a driver log: the last call started, what was pending, stats.
function F.parse_log(text)
  local r = { group = {}, started = {}, ended = {}, blocked = {}, names = {}, hangs = {}, skipped = {},
    setup = {}, uncovered = {} }
  for line in text:gmatch("[^\n]+") do
    local tag, rest = line:match("^(%S+) ?(.*)$")
    if tag == "S" then
      local id, group, desc = rest:match("^(%d+) (%S+) (.*)$")
      id = tonumber(id)
      r.started[id] = desc
      r.group[id] = group
      r.last_started = id
      r.last_line = "S"
    elseif tag == "E" then
      local id = tonumber(rest:match("^%d+"))
      r.ended[id] = true
      r.last_line = "E"
    elseif tag == "B" then
      r.blocked[tonumber(rest)] = true
      r.last_line = "B"
    elseif tag == "N" then
      local id, named, internal, fname, msg = rest:match("^(%d+) (%d) (%d) (%S+) (.*)$")
      if id then
        r.names[#r.names + 1] = { id = tonumber(id), named = named == "1",
          internal = internal == "1", fname = fname, msg = msg }
      end
    elseif tag == "H" then
      local id, why = rest:match("^(%d+) ?(.*)$")
      r.hangs[#r.hangs + 1] = { id = tonumber(id), why = why }
    elseif tag == "K" then
      r.skipped[#r.skipped + 1] = rest
    elseif tag == "X" then
      r.setup[#r.setup + 1] = rest
    elseif tag == "U" then
      r.uncovered[#r.uncovered + 1] = rest
    elseif tag == "G" then
      r.last_gc = tonumber(rest)
      r.last_line = "G"
    elseif tag == "COUNT" then
      r.count = tonumber(rest)
    elseif tag == "DONE" then
      r.done = true
    end
  end
  return r
end

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Run the driver once, in the background, polling. Returns rc (nil if it
-- stalled and was stopped), the log text, stderr (bounded).
function F.run_driver(opts)
  local green_ = require "green"
  local bg = require("spec.tls_helpers").bg
  local log = os.tmpname()
  local env = {
    "FUZZ_AREA=" .. sh_quote(opts.area),
    "FUZZ_LOG=" .. sh_quote(log),
    "FUZZ_FROM=" .. (opts.from or 1),
    "FUZZ_CERTS=" .. sh_quote(opts.certs or ""),
    "FUZZ_TMP=" .. sh_quote(opts.tmp),
    "FUZZ_SKIP_FILE=" .. sh_quote(opts.skip_file or ""),
    "FUZZ_SKIP_GROUPS=" .. sh_quote(opts.skip_groups or ""),
    "UBSAN_OPTIONS=" .. sh_quote("print_stacktrace=1:" .. (os.getenv("UBSAN_OPTIONS") or "")),
  }
  if opts.only then env[#env + 1] = "FUZZ_ONLY_CALL=" .. opts.only end
  if opts.to then env[#env + 1] = "FUZZ_TO=" .. opts.to end
  if os.getenv("FUZZ_TIMEOUT") then env[#env + 1] = "FUZZ_TIMEOUT=" .. sh_quote(os.getenv("FUZZ_TIMEOUT")) end
  local tty = opts.area == "console_tty"
  if tty then env[#env + 1] = "TERM=xterm" end
  local cmd = ("cd %s && env %s %s -e %s"):format(sh_quote(opts.cwd), table.concat(env, " "),
    sh_quote(opts.greenlua), sh_quote('require("spec.fuzz_helpers").main()'))
  -- on a terminal, the driver's stderr is the terminal too: script's output
  if tty then cmd = ("script -qfec %s /dev/null"):format(sh_quote(cmd)) end
  local h = bg(cmd)
  local stall = opts.stall or 20
  local last_size, last_change = -1, green_.now()
  local rc
  for _ = 1, 1e7 do
    if h:done() then rc = h.rc; break end
    local f = io.open(log, "rb")
    local size = f and f:seek("end") or 0
    if f then f:close() end
    if size ~= last_size then last_size, last_change = size, green_.now() end
    if green_.now() - last_change > stall then break end
    green_.sleep(0.1)
  end
  local stalled = rc == nil
  local text = slurp(log)
  local err = slurp(tty and h.out_path or h.err_path, 1 << 20)
  h:stop()
  os.remove(log)
  return rc, text, err, stalled
end

-- A child's end that is a finding: a nonzero exit, a sanitizer report, a stall.
local function died(rc, text, err, stalled)
  if stalled then return true end
  if rc ~= 0 then return true end
  if err:find("ERROR: AddressSanitizer", 1, true) or err:find("runtime error:", 1, true)
    or err:find("LeakSanitizer", 1, true) then
    return true
  end
  return not F.parse_log(text).done
end

-- Fuzz one area to its end, past every crash. Returns a result:
-- { crashes = {{id, desc, kind, where, alone = bool|nil, pending = {...}}},
--   hangs, names (misuse error stats), count, skipped, setup, runs }.
function F.run_area(opts)
  local green_ = require "green"
  local started = green_.now()
  local result = { crashes = {}, hangs = {}, names = {}, skipped = {}, setup = {}, runs = 0,
    groups_cut = {}, probes = 0 }
  local from = 1
  -- a group (one function, one argument position) that crashed twice is
  -- not tried further: its values are likely to crash the same way
  local group_limit = opts.group_limit or 2
  local group_crashes, cut, fn_groups, kind_groups = {}, {}, {}, {}
  opts.skip_groups = os.tmpname()
  local function write_cut()
    local f = assert(io.open(opts.skip_groups, "w"))
    for g in pairs(cut) do f:write(g, "\n") end
    f:close()
  end
  write_cut()
  local max_crashes = opts.max_crashes or 40
  -- a time budget: past it, no more resuming or bisecting (the spec file
  -- must end within spec/run.sh's limit even on a host full of crashes)
  local budget_end = started + (opts.budget or 100)
  local function time_left() return budget_end - green_.now() end
  for _ = 1, max_crashes + 1 do
    result.runs = result.runs + 1
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.from = from
    local rc, text, err, stalled = F.run_driver(o)
    local log = F.parse_log(text)
    result.count = result.count or log.count
    for _, n in ipairs(log.names) do result.names[#result.names + 1] = n end
    for _, h in ipairs(log.hangs) do
      result.hangs[#result.hangs + 1] = { id = h.id, desc = log.started[h.id], why = h.why }
    end
    for _, s in ipairs(log.skipped) do result.skipped[#result.skipped + 1] = s end
    for _, s in ipairs(log.setup) do result.setup[#result.setup + 1] = s end
    if not died(rc, text, err, stalled) then break end
    local id = log.last_started
    local sig = stalled and { kind = "stall: no progress for " .. (opts.stall or 20) .. " s" }
      or F.signature(err, rc)
    local crash = { id = id, desc = id and log.started[id] or "(before the first call)",
      kind = sig.kind, where = sig.where, after = log.last_line ~= "S" and log.last_line or nil,
      stderr = err:sub(-3000) }
    -- the calls that had started and not ended: suspects besides the last
    crash.pending = {}
    for pid in pairs(log.blocked) do
      if not log.ended[pid] and pid ~= id then crash.pending[#crash.pending + 1] = pid end
    end
    table.sort(crash.pending)
    crash.pending_desc = {}
    for i = 1, math.min(#crash.pending, 4) do
      crash.pending_desc[i] = ("#%d %s"):format(crash.pending[i], log.started[crash.pending[i]])
    end
    local group = id and log.group[id]
    crash.group = group
    -- counted per group and crash site: another site in the same group is news
    local site = sig.where or sig.kind
    local gkey = group and (group .. " " .. tostring(site))
    if id and not opts.no_confirm and not group_crashes[gkey] and time_left() > 10 then
      local o2 = {}
      for k, v in pairs(opts) do o2[k] = v end
      o2.only = id
      o2.skip_groups = ""  -- the call itself may be in a group cut just now
      o2.stall = math.min(opts.stall or 20, 10)
      result.probes = result.probes + 1
      local rc2, text2, err2, stalled2 = F.run_driver(o2)
      crash.alone = died(rc2, text2, err2, stalled2)
      if crash.alone and not crash.where and not stalled2 then
        crash.where = F.signature(err2, rc2).where
      end
    end
    -- cuts count only crashes that the call makes alone: a call that merely
    -- met earlier damage says nothing about its group
    if gkey and crash.alone ~= false then
      group_crashes[gkey] = (group_crashes[gkey] or 0) + 1
      if gkey and group_crashes[gkey] >= group_limit and not cut[group] then
        cut[group] = true
        result.groups_cut[#result.groups_cut + 1] = group
        write_cut()
      end
      -- a function that crashed the same way in two positions: cut all of it
      -- and a method that crashed the same way for two kinds of self: cut
      -- that position for every kind
      local generic = group and group:find("%[") and group:gsub("%[.-%]", "[*]")
      if generic then
        local key = generic .. " " .. tostring(site)
        kind_groups[key] = kind_groups[key] or {}
        kind_groups[key][group] = true
        local n = 0
        for _ in pairs(kind_groups[key]) do n = n + 1 end
        if n >= 2 and not cut[generic] then
          cut[generic] = true
          result.groups_cut[#result.groups_cut + 1] = generic
          write_cut()
        end
      end
      local fname = group and group:match("^(.*)#")
      if fname and site then
        local key = fname .. " " .. site
        fn_groups[key] = fn_groups[key] or {}
        fn_groups[key][group] = true
        local n = 0
        for _ in pairs(fn_groups[key]) do n = n + 1 end
        if n >= 2 and not cut[fname .. "#*"] then
          cut[fname .. "#*"] = true
          result.groups_cut[#result.groups_cut + 1] = fname .. "#*"
          write_cut()
        end
      end
    end
    if crash.alone == false then
      -- not alone: a call before it may have left the damage (a thread it
      -- spawned, a handle it freed); the first that crashes alone is named
      local candidates = {}
      for pid = id - 1, math.max(1, id - 6), -1 do
        if log.started[pid] then candidates[#candidates + 1] = pid end
      end
      for _, pid in ipairs(crash.pending) do
        if #candidates < 12 and pid < id - 6 then candidates[#candidates + 1] = pid end
      end
      local function probe(o3)
        for k, v in pairs(opts) do if o3[k] == nil then o3[k] = v end end
        o3.stall = 10
        o3.skip_groups = ""
        result.probes = result.probes + 1
        local rc3, text3, err3, stalled3 = F.run_driver(o3)
        return died(rc3, text3, err3, stalled3), F.signature(err3, rc3)
      end
      for _, pid in ipairs(candidates) do
        if time_left() < 10 then break end
        local dead, sig3 = probe({ only = pid })
        if dead then
          crash.culprit = ("#%d %s"):format(pid, log.started[pid])
          crash.culprit_sig = sig3
          break
        end
      end
      if not crash.culprit and time_left() > 40 then
        -- bisect: the latest start s for which calls s..id still crash,
        -- within the 400 calls before it (what lingers after a call, a timer
        -- or a thread it armed, shows up within a second or so)
        local lo, hi = math.max(from, id - 400), id  -- if lo..id crashes, the invariant holds
        if probe({ from = lo, to = id }) then
          while lo < hi and time_left() > 5 do
            local mid = (lo + hi + 1) // 2
            if probe({ from = mid, to = id }) then lo = mid else hi = mid - 1 end
          end
          local dead, sig3 = probe({ only = lo })
          crash.culprit = ("#%d %s%s"):format(lo, log.started[lo] or "?",
            dead and "" or (" (not alone either: calls #%d..#%d crash together)"):format(lo, id))
          crash.culprit_sig = sig3
        end
      end
    end
    result.crashes[#result.crashes + 1] = crash
    if not id then break end
    from = id + 1
    if time_left() < 5 then
      result.budget_cut = from
      break
    end
  end
  os.remove(opts.skip_groups)
  result.seconds = green_.now() - started
  return result
end

-- A readable report of an area's result.
function F.format(area, result)
  local out = {}
  out[#out + 1] = ("area %s: %s calls, %d driver runs (+%d probes), %.1f s, %d crash(es), %d hang(s)")
    :format(area, tostring(result.count), result.runs, result.probes, result.seconds or 0,
      #result.crashes, #result.hangs)
  for _, c in ipairs(result.crashes) do
    out[#out + 1] = ("  CRASH #%s %s\n      %s at %s%s%s"):format(tostring(c.id), c.desc,
      c.kind or "?", c.where or "?",
      c.alone == true and " [reproduced alone]" or c.alone == false and " [NOT reproduced alone]" or "",
      (#c.pending > 0) and ("\n      pending: " .. table.concat(c.pending_desc, "; ")
        .. (#c.pending > 4 and (" and %d more"):format(#c.pending - 4) or "")) or "")
  end
  for i, c in ipairs(result.crashes) do
    if c.culprit then
      out[#out + 1] = ("  (crash %d: the call that crashes alone is %s: %s at %s)"):format(i, c.culprit,
        c.culprit_sig.kind or "?", c.culprit_sig.where or "?")
    end
  end
  for _, h in ipairs(result.hangs) do
    out[#out + 1] = ("  HANG #%s %s\n      %s"):format(tostring(h.id), tostring(h.desc), h.why or "")
  end
  for _, s in ipairs(result.setup) do out[#out + 1] = "  SETUP " .. s end
  if result.budget_cut then
    out[#out + 1] = ("  (time budget spent: calls from #%d on were not run)"):format(result.budget_cut)
  end
  for _, g in ipairs(result.groups_cut) do
    out[#out + 1] = "  (not run further after its crashes: " .. g .. ")"
  end
  return table.concat(out, "\n")
end

-- Misuse errors that do not name the function the user called.
function F.name_report(results)
  local per = {}
  local total, named, internal = 0, 0, 0
  for _, r in ipairs(results) do
    for _, n in ipairs(r.names) do
      total = total + 1
      if n.named then named = named + 1 end
      if n.internal then internal = internal + 1 end
      local e = per[n.fname] or { total = 0, named = 0, example = nil }
      per[n.fname] = e
      e.total = e.total + 1
      if n.named then e.named = e.named + 1 elseif not e.example then e.example = n.msg end
    end
  end
  local out = { ("misuse errors: %d, naming the function: %d, naming green.core: %d")
    :format(total, named, internal) }
  for _, k in ipairs(sorted_keys(per)) do
    local e = per[k]
    if e.named < e.total then
      out[#out + 1] = ("  %-44s %4d/%-4d unnamed, e.g. %s"):format(k, e.total - e.named, e.total,
        oneline(e.example or "", 110))
    end
  end
  return table.concat(out, "\n"), total, named
end


-- watchdog (host/core/watchdog.c): core.watchdog, in the threads area. The
-- valid call turns it on with a threshold nothing reaches, and the call's
-- cleanup turns it off again; the bad values go into its options table's
-- place (misuse raises naming 'watchdog').
FUNC_AREA.watchdog = "threads"
FUNC_TEMPLATES.watchdog = function(env)
  env:track({ close = function() require("green.core").watchdog(false) end })
  return A({ threshold = 1e6, action = "report" })
end
-- http area, issue 11: the PROXY protocol reader and parser and the
-- address parser behind wsgi's trusted_proxies (host/http/proxy.c).
for _, n in ipairs({ "proxy_read", "proxy_parse", "ip_bytes" }) do FUNC_AREA[n] = "http" end
FUNC_TEMPLATES.proxy_read = function(env) return A(env:get("tcp_server"), 0.05) end
FUNC_TEMPLATES.proxy_parse = function() return A("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n") end
FUNC_TEMPLATES.ip_bytes = function() return A("::ffff:10.0.0.1") end
-- issue 11, see inside (host/core/debug.c, lib/green/debug.lua): dump,
-- header, top and its sampling counter, in area "threads"; gt.name's
-- __newindex and gt:status() are reached through the thread kinds.
MODULES[#MODULES + 1] = "green.debug"
for _, n in ipairs({ "debug_dump", "debug_header", "debug_cpu", "debug_sample", "dump",
  "header", "top" }) do
  FUNC_AREA[n] = "threads"
end
FUNC_TEMPLATES.top = function() return A(0) end
FUNC_TEMPLATES.debug_sample = function() return A(1) end
FUNC_TEMPLATES.debug_header = function() return A(green.getcurrent()) end
FUNC_TEMPLATES.header = function() return A(green.getcurrent()) end
METHOD_TEMPLATES["thread.__newindex"] = function() return A("name", "fuzz") end

return F
