-- green.semaphore: Semaphore and BoundedSemaphore (C, host/semaphore.c),
-- plus guard(), the to-be-closed form of acquire/release.
local core = require "green.core"

local Guard = {
  __name = "green.SemaphoreGuard",
  __close = function(guard) guard.sem:release() end,
}

-- local g <close> = sem:guard([timeout]): holds a permit until the scope
-- ends; nil if the timeout elapsed first.
function core.SemaphoreMethods.guard(sem, timeout)
  if not sem:acquire(true, timeout) then return nil end
  return setmetatable({ sem = sem }, Guard)
end

return {
  Semaphore = core.Semaphore,
  BoundedSemaphore = core.BoundedSemaphore,
}
