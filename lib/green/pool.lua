-- green.pool: GreenPool and GreenPile, composed from green threads, a
-- Semaphore for the slots and a Queue for results in input order.
local core = require "green.core"
local internal = select(2, ...)  -- finished, on_exit: private to the Lua half

local spawn, getcurrent, semaphore_adjust = core.spawn, core.getcurrent, core.semaphore_adjust
local pack, unpack = table.pack, table.unpack
local error, type, getmetatable, setmetatable, select = error, type, getmetatable, setmetatable, select

-- The name of v's type as Lua's own argument errors give it.
local function typename(v)
  local mt = getmetatable(v)
  local name = type(mt) == "table" and rawget(mt, "__name")
  return type(name) == "string" and name or type(v)
end

local function argerror(arg, what, msg)
  error(("bad argument #%d to '%s' (%s)"):format(arg, what, msg), 4)
end

-- Raise unless fn can be called (a function, or a value whose metatable has
-- __call).
local function check_callable(fn, what)
  if type(fn) == "function" then return end
  local mt = getmetatable(fn)
  if not (type(mt) == "table" and rawget(mt, "__call")) then
    argerror(1, what, "function expected, got " .. typename(fn))
  end
end

-- Raise unless self is an object of 'class' (methods may be called on
-- anything: getmetatable(pool).spawn(io.stdout)).
local function check_self(self, class, what)
  if getmetatable(self) ~= class then
    argerror(1, what, class.__name:sub(7) .. " expected, got " .. typename(self))
  end
end

-- A pool size, as luaL_checkinteger takes it (integral floats and numeric
-- strings too), not negative; nil is the default.
local function check_size(size, what)
  if size == nil then return 1000 end
  local n = math.tointeger(size)
  if n == nil then
    argerror(1, what, tonumber(size) and "number has no integer representation"
      or "number expected, got " .. typename(size))
  end
  if n < 0 then argerror(1, what, "must not be negative") end
  return n
end

--------------------------------------------------------------- GreenPool

local GreenPool = {}
GreenPool.__index = GreenPool
GreenPool.__name = "green.GreenPool"

local member_done

local function new_pool(size)
  size = check_size(size, "GreenPool")
  local pool
  pool = setmetatable({
    member_exit = function(gt) member_done(gt, pool) end,
    size = size,
    slots = core.Semaphore(size),  -- one permit a member; FIFO for spawners
    members = {},                  -- GreenThread -> true while it holds a slot
    count = 0,
    debt = 0,                      -- slots to retire as members end (resize down)
    idle = core.WaitQueue(),       -- waitall() sleepers
  }, GreenPool)
  return pool
end

-- A slot is free again: retire it if resize asked for fewer, else give it
-- to the next spawner.
local function free_slot(pool)
  if pool.debt > 0 then
    pool.debt = pool.debt - 1
  else
    pool.slots:release()
  end
end

-- A member ended (any way, even killed before it started): free its slot.
function member_done(gt, pool)
  pool.members[gt] = nil
  pool.count = pool.count - 1
  free_slot(pool)
  if pool.count == 0 then pool.idle:wake_all() end
end

-- pool:spawn(fn, ...) -> GreenThread, waiting for a free slot. A member
-- spawning into its own full pool would wait for itself: it runs fn inline
-- instead (as eventlet does), and gets back a thread that has ended.
function GreenPool:spawn(fn, ...)
  check_self(self, GreenPool, "spawn")
  check_callable(fn, "spawn")
  if self.members[getcurrent()] and self.slots:locked() then
    return internal.finished(fn(...))
  end
  self.slots:acquire()
  local ok, gt = pcall(spawn, fn, ...)
  if not ok then       -- the slot was taken for nothing: give it back
    free_slot(self)
    error(gt, 0)
  end
  self.count = self.count + 1
  self.members[gt] = true
  internal.on_exit(gt, self.member_exit)
  return gt
end

-- pool:spawn_n(fn, ...): the same without a handle.
function GreenPool:spawn_n(fn, ...)
  check_self(self, GreenPool, "spawn_n")
  check_callable(fn, "spawn_n")
  self:spawn(fn, ...)
end

function GreenPool:waitall()
  check_self(self, GreenPool, "waitall")
  if self.members[getcurrent()] then
    error("waitall: a member of the pool would wait for itself", 2)
  end
  while self.count > 0 do self.idle:wait() end
end

function GreenPool:running()
  check_self(self, GreenPool, "running")
  return self.count
end
function GreenPool:free()
  check_self(self, GreenPool, "free")
  return math.max(0, self.slots:counter())
end
function GreenPool:waiting()
  check_self(self, GreenPool, "waiting")
  return self.slots:counter() - self.slots:balance()
end

-- pool:resize(n): more slots free waiting spawners at once; fewer retire
-- slots as members end (running members are never interrupted).
function GreenPool:resize(n)
  check_self(self, GreenPool, "resize")
  n = check_size(n, "resize")
  local delta = n - self.size
  self.size = n
  if delta > 0 then
    local paid = math.min(delta, self.debt)
    self.debt = self.debt - paid
    if delta > paid then semaphore_adjust(self.slots, delta - paid) end
  elseif delta < 0 then
    self.debt = self.debt + semaphore_adjust(self.slots, delta)
  end
end

-- imap and starmap: up to 'size' workers, each a pool member, take the
-- next index, run job(i) and keep its outcome; the loop hands the outcomes
-- over in input order, waiting for the next one if it is not in yet.
-- Outcomes not taken yet are kept: at most one per input item, so memory
-- stays proportional to the input arrays themselves. Breaking out of the
-- loop closes it: workers stop after their current job.
local Run = {}
Run.__index = Run
function Run.__close(run) run.stopped = true end

-- An outcome is kept as the single non-nil result itself, NIL for a single
-- nil, else packed (several results, or an error), marked in run.packed.
local NIL = {}

local function keep(run, i, ok, ...)
  if ok and select("#", ...) == 1 then
    local v = ...
    run.results[i] = v == nil and NIL or v
  else
    run.results[i] = pack(ok, ...)
    run.packed[i] = true
  end
  if i == run.wanted then run.ready:wake() end
end

local function work(run, job)
  while not run.stopped and run.next_job <= run.count do
    local i = run.next_job
    run.next_job = i + 1
    keep(run, i, pcall(job, i))
  end
end

local function unpacked(i, outcome)
  if not outcome[1] then error(outcome[2], 0) end
  return i, unpack(outcome, 2, outcome.n)
end

local function iterate(pool, count, job)
  local workers = math.min(count, math.max(pool.size, 1))
  local run = setmetatable({
    count = count, next_job = 1, wanted = 1, stopped = false,
    results = {}, packed = {}, ready = core.WaitQueue(),
  }, Run)
  if count > 0 then
    spawn(function()  -- the spawner waits for slots, not the loop
      for _ = 1, workers do
        if run.stopped or run.next_job > count then break end
        pool:spawn(work, run, job)
      end
    end)
  end
  local function step()
    local i = run.wanted
    if i > count then return nil end
    local results = run.results
    while results[i] == nil do run.ready:wait() end
    local outcome = results[i]
    results[i] = nil
    run.wanted = i + 1
    if outcome == NIL then return i, nil end
    if run.packed[i] then
      run.packed[i] = nil
      return unpacked(i, outcome)
    end
    return i, outcome
  end
  return step, nil, nil, run
end

-- for i, ... in pool:imap(fn, a1, a2, ...): fn(a1[i], a2[i], ...) for each
-- i up to the shortest array, results in input order; an error in fn is
-- raised when its result is reached.
function GreenPool:imap(fn, ...)
  check_self(self, GreenPool, "imap")
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
    job = function(i) return fn(a[i]) end
  elseif lists.n == 2 then
    job = function(i) return fn(a[i], b[i]) end
  else
    job = function(i)
      local args = {}
      for k = 1, lists.n do args[k] = lists[k][i] end
      return fn(unpack(args, 1, lists.n))
    end
  end
  return iterate(self, count, job)
end

-- for i, ... in pool:starmap(fn, arglists): fn(unpack(arglists[i])).
function GreenPool:starmap(fn, arglists)
  check_self(self, GreenPool, "starmap")
  check_callable(fn, "starmap")
  if type(arglists) ~= "table" then
    error(("bad argument #2 to 'starmap' (table expected, got %s)"):format(type(arglists)), 2)
  end
  return iterate(self, #arglists, function(i)
    local args = arglists[i]
    return fn(unpack(args, 1, args.n or #args))
  end)
end

function GreenPool:__tostring()
  check_self(self, GreenPool, "__tostring")
  return ("GreenPool (%d running, %d free, %d waiting)"):format(self:running(), self:free(), self:waiting())
end

--------------------------------------------------------------- GreenPile

local GreenPile = {}
GreenPile.__index = GreenPile
GreenPile.__name = "green.GreenPile"

local function new_pile(size_or_pool)
  local pool = size_or_pool
  if getmetatable(pool) ~= GreenPool then
    check_size(size_or_pool, "GreenPile")
    pool = new_pool(size_or_pool)
  end
  return setmetatable({ pool = pool, jobs = {}, first = 1, last = 0 }, GreenPile)
end

-- pile:spawn(fn, ...): a job, in spawn order. Recorded only once spawned:
-- one that raises or is interrupted while waiting for a slot leaves nothing.
function GreenPile:spawn(fn, ...)
  check_self(self, GreenPile, "spawn")
  check_callable(fn, "spawn")
  local gt = self.pool:spawn(fn, ...)
  self.last = self.last + 1
  self.jobs[self.last] = gt
end

-- Did gt:wait() raise err because the job itself raised it (not because
-- the waiter was killed or timed out)?
local function job_raised(gt, err)
  if not gt:dead() then return false end
  local ok, own = pcall(gt.wait, gt)   -- a dead thread's outcome, at once
  return not ok and rawequal(own, err)
end

local function finish_next(ok, ...)
  if ok then return ... end
  error((...), 0)
end

-- pile:next() -> the next job's results (raises its error). A next that
-- is interrupted (killed, a Timeout) leaves the job pending.
function GreenPile:next()
  check_self(self, GreenPile, "next")
  if self.first > self.last then error("next: no job is pending", 2) end
  local gt = self.jobs[self.first]
  local outcome = pack(pcall(gt.wait, gt))
  if outcome[1] or job_raised(gt, outcome[2]) then
    self.jobs[self.first] = nil
    self.first = self.first + 1
  end
  return finish_next(unpack(outcome, 1, outcome.n))
end

-- for i, ... in pile:results(): every pending job's results, in spawn order.
function GreenPile:results()
  check_self(self, GreenPile, "results")
  local i = 0
  return function()
    if self.first > self.last then return nil end
    i = i + 1
    return i, self:next()
  end
end

function GreenPile:__tostring()
  check_self(self, GreenPile, "__tostring")
  return ("GreenPile (%d pending)"):format(self.last - self.first + 1)
end

return {
  GreenPool = new_pool,
  GreenPile = new_pile,
}
