-- green.event: Event (C, host/sync/event.c) and gevent's AsyncResult,
-- composed here from an Event and a Timeout.
local core = require "green.core"

local error, getmetatable, setmetatable, type, rawget = error, getmetatable, setmetatable, type, rawget

local AsyncResult = {}
AsyncResult.__index = AsyncResult
AsyncResult.__name = "green.AsyncResult"

local function new_async_result()
  return setmetatable({ event = core.Event() }, AsyncResult)
end

local function typename(v)
  local mt = getmetatable(v)
  local name = type(mt) == "table" and rawget(mt, "__name")
  return type(name) == "string" and name or type(v)
end

-- Raise unless self is an AsyncResult (methods may be called on anything).
local function check_self(self, what)
  if getmetatable(self) ~= AsyncResult then
    error(("bad argument #1 to '%s' (AsyncResult expected, got %s)"):format(what, typename(self)), 3)
  end
end

local function check_unset(self, what)
  check_self(self, what)
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
  check_self(self, "get")
  if timeout ~= nil and not tonumber(timeout) then
    error(("bad argument #1 to 'get' (number expected, got %s)"):format(typename(timeout)), 2)
  end
  if timeout == nil or self.event:ready() then return self.event:wait() end
  local t <close> = core.Timeout(timeout)
  return self.event:wait()
end

function AsyncResult:ready()
  check_self(self, "ready")
  return self.event:ready()
end

function AsyncResult:successful()
  check_self(self, "successful")
  return self.event:has_result()
end

function AsyncResult:__tostring()
  check_self(self, "__tostring")
  if not self.event:ready() then return "AsyncResult (unset)" end
  return self.event:has_result() and "AsyncResult (value)" or "AsyncResult (exception)"
end

return {
  Event = core.Event,
  AsyncResult = new_async_result,
}
