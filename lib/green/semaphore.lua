-- green.semaphore: Semaphore and BoundedSemaphore (C, host/sync/semaphore.c),
-- plus guard(), the to-be-closed form of acquire/release.
local core = require "green.core"

local error, getmetatable, setmetatable, type, rawget = error, getmetatable, setmetatable, type, rawget
local acquire = core.SemaphoreMethods.acquire

local Guard = { __name = "green.SemaphoreGuard" }

local function typename(v)
  local mt = getmetatable(v)
  local name = type(mt) == "table" and rawget(mt, "__name")
  return type(name) == "string" and name or type(v)
end

-- Closing a guard releases its permit, once: closing it again (by hand)
-- does nothing.
function Guard.__close(guard)
  if getmetatable(guard) ~= Guard then
    error(("bad argument #1 to '__close' (SemaphoreGuard expected, got %s)"):format(typename(guard)), 2)
  end
  local sem = guard.sem
  if sem then
    guard.sem = nil
    sem:release()
  end
end

local sem_mt = getmetatable(core.Semaphore(0))

-- local g <close> = sem:guard([timeout]): holds a permit until the scope
-- ends; nil if the timeout elapsed first.
function core.SemaphoreMethods.guard(sem, timeout)
  if getmetatable(sem) ~= sem_mt then
    error(("bad argument #1 to 'guard' (Semaphore expected, got %s)"):format(typename(sem)), 2)
  end
  if timeout ~= nil and not tonumber(timeout) then
    error(("bad argument #1 to 'guard' (number expected, got %s)"):format(typename(timeout)), 2)
  end
  if not acquire(sem, true, timeout) then return nil end
  return setmetatable({ sem = sem }, Guard)
end

return {
  Semaphore = core.Semaphore,
  BoundedSemaphore = core.BoundedSemaphore,
}
