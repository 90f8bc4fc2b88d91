-- green: the module scripts require. Green threads, Timeout and green-local
-- storage; the hub and the objects' hot paths are C (green.core), this file
-- composes them.
local core = require "green.core"
local internal = select(2, ...)  -- the hub's private hooks (host/embedded.h)

local green = {
  spawn = core.spawn,
  spawn_n = core.spawn_n,
  spawn_after = core.spawn_after,
  sleep = core.sleep,
  getcurrent = core.getcurrent,
  kill = core.kill,
  threads = core.threads,
  stats = core.stats,
  now = core.now,
  GreenThreadExit = core.GreenThreadExit,
  Timeout = core.Timeout,
  is_timeout = core.is_timeout,
  VERSION = core.VERSION,
  worker = core.worker,  -- the slot under `greenlua --workers N` (1..N), else nil
}

-- The synchronisation primitives load on first use, keeping start-up lean.
local lazy = {
  Event = "green.event", AsyncResult = "green.event",
  Queue = "green.queue", LightQueue = "green.queue", LifoQueue = "green.queue",
  PriorityQueue = "green.queue",
  Semaphore = "green.semaphore", BoundedSemaphore = "green.semaphore",
  GreenPool = "green.pool", GreenPile = "green.pool",
  queue = "green.queue", backdoor = "green.backdoor",
  listen = "green.net", connect = "green.net", listen_unix = "green.net",
  connect_unix = "green.net", getaddrinfo = "green.net", serve = "green.net",
  StopServe = "green.net", udp = "green.net", wrap_ssl = "green.net",
  wsgi = "green.wsgi", http = "green.http",
  -- existing Lua code run green (socket.core, ssl, os.execute, io.popen, stdin)
  monkey_patch = "green.patch", import_patched = "green.patch", original = "green.patch",
  process = "green.process", signal = "green.signal", wait_signal = "green.signal",
  fs = "green.fs", hub = "green.hub", debug = "green.debug",
  -- the graceful stop (SIGTERM)
  shutdown = "green.shutdown", shutdown_timeout = "green.shutdown",
  on_shutdown = "green.shutdown", exiting = "green.shutdown",
  ShutdownTimeout = "green.shutdown",
}

-- Keys that are whole modules, not one of their fields.
local whole = { queue = true, backdoor = true, wsgi = true, http = true,
  process = true, fs = true, hub = true, debug = true }

setmetatable(green, {
  __index = function(t, key)
    local module = lazy[key]
    if module == nil then return nil end
    local m = require(module)
    local value = whole[key] and m or m[key]
    rawset(t, key, value)
    return value
  end,
})

local GreenThread = internal.GreenThread  -- the method table

local function callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__call") ~= nil
end

-- The extra table of a GreenThread (nil once it is gone), or raise at the
-- caller's caller naming 'fname' if 'gt' is not one.
local function extra_of(gt, fname)
  local ok, extra = pcall(internal.extra, gt, fname)
  if not ok then error(extra, 3) end
  return extra
end

-- gt:link(fn, ...): call fn(gt, ...) in the dying thread when gt ends.
function GreenThread:link(fn, ...)
  local extra = extra_of(self, "link")
  if not callable(fn) then
    error(("bad argument #2 to 'link' (function expected, got %s)"):format(type(fn)), 2)
  end
  if extra == nil then return fn(self, ...) end   -- ended and unlinked: call at once
  local links = extra.links
  if not links then
    links = {}
    extra.links = links
  end
  links[#links + 1] = table.pack(...)
  links[#links].fn = fn
end

-- gt:unlink(fn) -> true if fn was linked (the first such link goes).
function GreenThread:unlink(fn)
  local links = (extra_of(self, "unlink") or {}).links
  if not links then return false end
  for i = 1, #links do
    if links[i].fn == fn then
      table.remove(links, i)
      return true
    end
  end
  return false
end

-- with_timeout(seconds, fn, ...) -> fn's results, or raises the Timeout.
function green.with_timeout(seconds, fn, ...)
  if seconds ~= nil and tonumber(seconds) == nil then
    error(("bad argument #1 to 'with_timeout' (number expected, got %s)"):format(type(seconds)), 2)
  end
  if not callable(fn) then
    error(("bad argument #2 to 'with_timeout' (function expected, got %s)"):format(type(fn)), 2)
  end
  local t <close> = core.Timeout(seconds)
  return fn(...)
end

-- Local(): fields private to each green thread, dropped when it ends.
local Local = {}

local function storage(self, create)
  local me = core.getcurrent()
  if me == nil then error("green.Local: not inside a green thread", 3) end
  local extra = internal.extra(me)
  local all = extra.locals
  if all == nil then
    if not create then return nil end
    all = setmetatable({}, { __mode = "k" })
    extra.locals = all
  end
  local mine = all[self]
  if mine == nil and create then
    mine = {}
    all[self] = mine
  end
  return mine
end

-- The metamethods can be fetched and called with anything: check.
local function check_local(self, fname)
  if getmetatable(self) ~= Local then
    local got = type(self) == "table" and "table" or type(self)
    error(("bad argument #1 to '%s' (green.Local expected, got %s)"):format(fname, got), 3)
  end
end

function Local:__index(key)
  check_local(self, "__index")
  local mine = storage(self, false)
  return mine and mine[key]
end

function Local:__newindex(key, value)
  check_local(self, "__newindex")
  if key == nil or key ~= key then
    error(("bad argument #2 to '__newindex' (%s cannot be a field name)"):format(tostring(key)), 2)
  end
  storage(self, true)[key] = value
end

Local.__name = "green.Local"

function green.Local()
  return setmetatable({}, Local)
end

return green
