-- green.pool: GreenPool and GreenPile, composed from green threads, a
-- Semaphore for the slots and a Queue for results in input order.
local core = require "green.core"

local spawn, getcurrent = core.spawn, core.getcurrent
local pack, unpack = table.pack, table.unpack
local error, type, getmetatable, setmetatable = error, type, getmetatable, setmetatable

local function check_callable(fn, what)
  if type(fn) == "function" then return end
  local mt = getmetatable(fn)
  if not (mt and mt.__call) then
    error(("bad argument #1 to '%s' (function expected, got %s)"):format(what, type(fn)), 3)
  end
end

local function check_size(size, what)
  if size == nil then return 1000 end
  if math.type(size) ~= "integer" or size < 0 then
    error(("bad argument #1 to '%s' (non-negative integer expected, got %s)")
      :format(what, tostring(size)), 3)
  end
  return size
end

--------------------------------------------------------------- GreenPool

local GreenPool = {}
GreenPool.__index = GreenPool
GreenPool.__name = "green.GreenPool"

local function new_pool(size)
  size = check_size(size, "GreenPool")
  return setmetatable({
    size = size,
    slots = core.Semaphore(size),  -- one permit a member; FIFO for spawners
    members = {},                  -- GreenThread -> true while it holds a slot
    count = 0,
    debt = 0,                      -- slots to retire as members end (resize down)
    idle = core.WaitQueue(),       -- waitall() sleepers
  }, GreenPool)
end

-- A member ended (any way, even killed before it started): free its slot.
local function member_done(gt, pool)
  pool.members[gt] = nil
  pool.count = pool.count - 1
  if pool.debt > 0 then
    pool.debt = pool.debt - 1
  else
    pool.slots:release()
  end
  if pool.count == 0 then pool.idle:wake_all() end
end

-- pool:spawn(fn, ...) -> GreenThread, waiting for a free slot. A member
-- spawning into its own full pool would wait for itself: it runs fn inline
-- instead (as eventlet does), and gets back a thread that has ended.
function GreenPool:spawn(fn, ...)
  check_callable(fn, "spawn")
  if self.members[getcurrent()] and self.slots:locked() then
    return core.finished(fn(...))
  end
  self.slots:acquire()
  local gt = spawn(fn, ...)
  self.count = self.count + 1
  self.members[gt] = true
  gt:link(member_done, self)
  return gt
end

-- pool:spawn_n(fn, ...): the same without a handle.
function GreenPool:spawn_n(fn, ...)
  self:spawn(fn, ...)
end

function GreenPool:waitall()
  if self.members[getcurrent()] then
    error("waitall: a member of the pool would wait for itself", 2)
  end
  while self.count > 0 do self.idle:wait() end
end

function GreenPool:running() return self.count end
function GreenPool:free() return math.max(0, self.slots:counter()) end
function GreenPool:waiting() return self.slots:counter() - self.slots:balance() end

-- pool:resize(n): more slots free waiting spawners at once; fewer retire
-- slots as members end (running members are never interrupted).
function GreenPool:resize(n)
  n = check_size(n, "resize")
  local delta = n - self.size
  self.size = n
  if delta > 0 then
    local paid = math.min(delta, self.debt)
    self.debt = self.debt - paid
    for _ = 1, delta - paid do self.slots:release() end
  else
    for _ = 1, -delta do
      if not self.slots:acquire(false) then self.debt = self.debt + 1 end
    end
  end
end

-- The generic-for protocol over jobs spawned by a feeder thread, results in
-- input order. Breaking out of the loop closes it: the feeder stops.
local Feed = { __close = function(feed) feed.feeder:kill() end }
Feed.__index = Feed

local function iterate(pool, count, job)
  local jobs = core.Queue(math.max(pool.size, 1))
  local feed = setmetatable({}, Feed)
  feed.feeder = spawn(function()
    for i = 1, count do jobs:put(job(i)) end
  end)
  local i = 0
  local function step(_, _)
    if i >= count then return nil end
    i = i + 1
    return i, jobs:get():wait()
  end
  return step, nil, nil, feed
end

-- for i, ... in pool:imap(fn, a1, a2, ...): fn(a1[i], a2[i], ...) for each
-- i up to the shortest array, results in input order; an error in fn is
-- raised when its result is reached.
function GreenPool:imap(fn, ...)
  check_callable(fn, "imap")
  local lists = pack(...)
  local count = lists.n == 0 and 0 or math.huge
  for k = 1, lists.n do
    if type(lists[k]) ~= "table" then
      error(("bad argument #%d to 'imap' (table expected, got %s)"):format(k + 1, type(lists[k])), 2)
    end
    count = math.min(count, #lists[k])
  end
  local a, b = lists[1], lists[2]
  local job
  if lists.n == 1 then
    job = function(i) return self:spawn(fn, a[i]) end
  elseif lists.n == 2 then
    job = function(i) return self:spawn(fn, a[i], b[i]) end
  else
    job = function(i)
      local args = {}
      for k = 1, lists.n do args[k] = lists[k][i] end
      return self:spawn(fn, unpack(args, 1, lists.n))
    end
  end
  return iterate(self, count, job)
end

-- for i, ... in pool:starmap(fn, arglists): fn(unpack(arglists[i])).
function GreenPool:starmap(fn, arglists)
  check_callable(fn, "starmap")
  if type(arglists) ~= "table" then
    error(("bad argument #2 to 'starmap' (table expected, got %s)"):format(type(arglists)), 2)
  end
  return iterate(self, #arglists, function(i)
    local args = arglists[i]
    return self:spawn(fn, unpack(args, 1, args.n or #args))
  end)
end

function GreenPool:__tostring()
  return ("GreenPool (%d running, %d free, %d waiting)"):format(self:running(), self:free(), self:waiting())
end

--------------------------------------------------------------- GreenPile

local GreenPile = {}
GreenPile.__index = GreenPile
GreenPile.__name = "green.GreenPile"

local function new_pile(size_or_pool)
  local pool = getmetatable(size_or_pool) == GreenPool and size_or_pool or new_pool(size_or_pool)
  return setmetatable({ pool = pool, jobs = {}, first = 1, last = 0 }, GreenPile)
end

-- pile:spawn(fn, ...): a job, in spawn order. Recorded only once spawned:
-- one that raises or is interrupted while waiting for a slot leaves nothing.
function GreenPile:spawn(fn, ...)
  local gt = self.pool:spawn(fn, ...)
  self.last = self.last + 1
  self.jobs[self.last] = gt
end

-- pile:next() -> the next job's results (raises its error).
function GreenPile:next()
  if self.first > self.last then error("next: no job is pending", 2) end
  local gt = self.jobs[self.first]
  self.jobs[self.first] = nil
  self.first = self.first + 1
  return gt:wait()
end

-- for i, ... in pile:results(): every pending job's results, in spawn order.
function GreenPile:results()
  local i = 0
  return function()
    if self.first > self.last then return nil end
    i = i + 1
    return i, self:next()
  end
end

function GreenPile:__tostring()
  return ("GreenPile (%d pending)"):format(self.last - self.first + 1)
end

return {
  GreenPool = new_pool,
  GreenPile = new_pile,
}
