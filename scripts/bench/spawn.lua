-- Spawn cost: ns per thread for 1,000,000 trivial functions, all run to
-- completion. Prints one number.
--   greenlua spawn.lua spawn_n          spawn_n all, then let them run
--   greenlua spawn.lua spawn_wait_all   spawn all (handles kept), then wait each
--   greenlua spawn.lua spawn_wait_loop  spawn(f):wait() in a loop
--   lua5.4   spawn.lua bare             coroutine.create(f) + resume, in a loop
--   lua5.4   spawn.lua bare_all         create all into a table, then resume each
-- Optional second argument: the count (default 1e6).
-- Clock: os.clock (process CPU time, user + system) on both sides: all of
-- these are single-threaded and never wait, and CPU time is less sensitive
-- to being descheduled on a shared machine than the wall clock.
local mode = arg[1]
local N = math.tointeger(tonumber(arg[2] or 1e6))
local f = function() end
local clock = os.clock
local t0, t1

if mode == "bare" then
  local create, resume = coroutine.create, coroutine.resume
  t0 = clock()
  for _ = 1, N do
    local co = create(f)
    resume(co)
  end
  t1 = clock()
elseif mode == "bare_all" then
  local create, resume = coroutine.create, coroutine.resume
  local all = {}
  t0 = clock()
  for i = 1, N do all[i] = create(f) end
  for i = 1, N do resume(all[i]) end
  t1 = clock()
else
  local green = require "green"
  local s0 = green.stats()
  if mode == "spawn_n" then
    local spawn_n = green.spawn_n
    t0 = clock()
    for _ = 1, N do spawn_n(f) end
    green.sleep(0)             -- behind all of them: they all run now (FIFO)
    while green.stats().threads > s0.threads do green.sleep(0) end
    t1 = clock()
  elseif mode == "spawn_wait_all" then
    local spawn = green.spawn
    local all = {}
    t0 = clock()
    for i = 1, N do all[i] = spawn(f) end
    for i = 1, N do all[i]:wait() end
    t1 = clock()
  elseif mode == "spawn_wait_loop" then
    local spawn = green.spawn
    t0 = clock()
    for _ = 1, N do spawn(f):wait() end
    t1 = clock()
  else
    error("unknown mode: " .. tostring(mode))
  end
  local s1 = green.stats()
  -- every one of them ran and ended
  assert(s1.threads == s0.threads, "threads left: " .. s1.threads - s0.threads)
  assert(s1.switches - s0.switches >= N, "too few switches")
end

print(string.format("%.1f", (t1 - t0) / N * 1e9))
os.exit(0)  -- skip freeing the heap: not measured, only slow
