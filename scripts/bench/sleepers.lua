-- Many sleepers: N threads each in sleep(1) at once. Prints two numbers:
--   <peak RSS per thread, bytes> <seconds>
--   greenlua sleepers.lua green N   seconds = wall clock (green.now) from
--       just before the first spawn_n until the last thread woke from its
--       sleep(1); so it includes spawning and starting all N, the 1 s sleep,
--       and waking them.
--   lua5.4   sleepers.lua bare N    N coroutines each suspended in
--       coroutine.yield(), all held at once; seconds = os.clock (CPU) to
--       create and park them all and then resume them all to their end,
--       the same work without a scheduler or a clock (no sleep).
-- Peak RSS: VmHWM from /proc/self/status at the end minus VmHWM read in the
-- same process just before the first coroutine/thread was made.
local mode = arg[1]
local N = math.tointeger(tonumber(arg[2] or 1e5))

local function hwm()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s*(%d+)%s*kB")
    if kb then return tonumber(kb) * 1024 end
  end
  error("no VmHWM in /proc/self/status")
end

local before, seconds
if mode == "bare" then
  local create, resume, yield = coroutine.create, coroutine.resume, coroutine.yield
  local f = function() yield() end
  local all = {}
  before = hwm()
  local t0 = os.clock()
  for i = 1, N do
    local co = create(f)
    resume(co)
    all[i] = co
  end
  for i = 1, N do resume(all[i]) end
  seconds = os.clock() - t0
elseif mode == "green" then
  local green = require "green"
  local sleep, now, spawn_n = green.sleep, green.now, green.spawn_n
  local woke, last = 0, nil
  local function sleeper()
    sleep(1)
    woke = woke + 1
    if woke == N then last = now() end
  end
  before = hwm()
  local t0 = now()
  for _ = 1, N do spawn_n(sleeper) end
  -- Main polls; the time is taken by the last sleeper itself.
  repeat sleep(0.05) until woke == N
  seconds = last - t0
else
  error("unknown mode: " .. tostring(mode))
end

print(string.format("%.1f %.4f", (hwm() - before) / N, seconds))
os.exit(0)  -- skip freeing the heap: not measured, only slow
