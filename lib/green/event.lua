-- green.event: Event (C, host/event.c) and gevent's AsyncResult, composed
-- here from an Event and a Timeout.
local core = require "green.core"

local AsyncResult = {}
AsyncResult.__index = AsyncResult
AsyncResult.__name = "green.AsyncResult"

local function new_async_result()
  return setmetatable({ event = core.Event() }, AsyncResult)
end

local function check_unset(self, what)
  if self.event:ready() then
    error(what .. ": AsyncResult already set", 3)
  end
end

-- r:set(...): wake every waiter with these values.
function AsyncResult:set(...)
  check_unset(self, "set")
  self.event:send(...)
end

-- r:set_exception(err): waiters raise err.
function AsyncResult:set_exception(err)
  check_unset(self, "set_exception")
  self.event:send_exception(err)
end

-- r:get([timeout]) -> the values; raises the exception, or the Timeout.
function AsyncResult:get(timeout)
  if timeout == nil or self.event:ready() then return self.event:wait() end
  local t <close> = core.Timeout(timeout)
  return self.event:wait()
end

function AsyncResult:ready() return self.event:ready() end
function AsyncResult:successful() return self.event:has_result() end

function AsyncResult:__tostring()
  if not self.event:ready() then return "AsyncResult (unset)" end
  return self.event:has_result() and "AsyncResult (value)" or "AsyncResult (exception)"
end

return {
  Event = core.Event,
  AsyncResult = new_async_result,
}
