-- Switch cost: two green threads alternating with sleep(0), 1,000,000
-- iterations each; ns per switch (one switch = one thread giving way to the
-- other: a yield to the hub and the hub resuming the other thread).
-- Prints one number.
--   greenlua switch.lua green
--   lua5.4   switch.lua bare    one coroutine.resume/yield round trip per
--                               iteration; ns per round trip
--   greenlua switch.lua bare    the same plain coroutine inside greenlua,
--                               where coroutine.resume is boot.lua's wrapper
-- Optional second argument: iterations (default 1e6). Clock: os.clock
-- (process CPU time) on both sides, see spawn.lua.
local mode = arg[1]
local N = math.tointeger(tonumber(arg[2] or 1e6))
local clock = os.clock
local per

if mode == "bare" then
  local yield, resume = coroutine.yield, coroutine.resume
  local co = coroutine.create(function() while true do yield() end end)
  resume(co)
  local t0 = clock()
  for _ = 1, N do resume(co) end
  per = (clock() - t0) / N
elseif mode == "green" then
  local green = require "green"
  local sleep = green.sleep
  local function loop() for _ = 1, N do sleep(0) end end
  local a, b = green.spawn(loop), green.spawn(loop)
  local s0 = green.stats().switches
  local t0 = clock()
  a:wait()   -- main is out of the ready queue: only a and b alternate
  b:wait()
  local t1 = clock()
  local switches = green.stats().switches - s0
  -- 2N sleeps, plus the starts of a and b and main's own resume
  assert(switches >= 2 * N and switches <= 2 * N + 4, "switches: " .. switches)
  per = (t1 - t0) / (2 * N)
else
  error("unknown mode: " .. tostring(mode))
end

print(string.format("%.1f", per * 1e9))
