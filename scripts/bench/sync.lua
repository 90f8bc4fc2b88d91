-- Synchronisation primitives: Event, Queue, GreenPool.imap. Prints one line.
--   greenlua sync.lua event     two threads ping-pong through two Events
--       (send the other's, wait on your own, reset it), N round trips;
--       ns per switch (2 switches per round trip)
--   greenlua sync.lua queue     Queue(100): one producer puts N items, one
--       consumer gets them; ns per item
--   lua5.4   sync.lua ring      the same with a plain Lua table as a ring of
--       100 slots and two bare coroutines: the producer fills it until full
--       and yields, the consumer drains it until empty and yields (a driver
--       loop resumes them in turn); ns per item
--   greenlua sync.lua pingpong  one value bounced between two threads through
--       two unbounded Queues (A: q1:put, q2:get; B: q1:get, q2:put), N round
--       trips; ns per one-way hop (2 hops per round trip)
--   greenlua sync.lua imap      for i, r in GreenPool(1000):imap(f, items)
--       over M items, f = function(x) return x end. Prints three numbers:
--       <overhead ns/item> <imap ns/item> <plain loop ns/item>, the overhead
--       being imap minus a plain loop calling f on each item, same process
-- Optional second argument: N (default 1e6) or, for imap, M (default 1e5).
-- Clock: os.clock (process CPU time) on both sides, see spawn.lua.
local mode = arg[1]
local clock = os.clock
local out

if mode == "ring" then
  local N = math.tointeger(tonumber(arg[2] or 1e6))
  local SIZE = 100
  local create, resume, yield, status = coroutine.create, coroutine.resume,
    coroutine.yield, coroutine.status
  local buf, head, tail, n = {}, 1, 1, 0
  for i = 1, SIZE do buf[i] = false end  -- the ring's 100 slots, preallocated
  local last
  local producer = create(function()
    for i = 1, N do
      if n == SIZE then yield() end      -- full: let the consumer drain it
      buf[tail] = i
      tail = tail == SIZE and 1 or tail + 1
      n = n + 1
    end
  end)
  local consumer = create(function()
    for _ = 1, N do
      if n == 0 then yield() end         -- empty: let the producer fill it
      last = buf[head]
      buf[head] = nil                    -- as a queue must: drop the reference
      head = head == SIZE and 1 or head + 1
      n = n - 1
    end
  end)
  local t0 = clock()
  repeat
    resume(producer)
    resume(consumer)
  until status(consumer) == "dead"
  local t1 = clock()
  assert(last == N and n == 0, "ring: lost items")
  out = ("%.1f"):format((t1 - t0) / N * 1e9)
else
  local green = require "green"
  if mode == "event" then
    local N = math.tointeger(tonumber(arg[2] or 1e6))
    local ea, eb = green.Event(), green.Event()
    -- a goes first; b starts by waiting, so each send finds the other's
    -- event reset
    local a = green.spawn(function()
      for _ = 1, N do
        eb:send()
        ea:wait()
        ea:reset()
      end
    end)
    local b = green.spawn(function()
      for _ = 1, N do
        eb:wait()
        eb:reset()
        ea:send()
      end
    end)
    local s0 = green.stats().switches
    local t0 = clock()
    a:wait()   -- main is out of the ready queue: only a and b alternate
    b:wait()
    local t1 = clock()
    local switches = green.stats().switches - s0
    assert(switches >= 2 * N and switches <= 2 * N + 4, "switches: " .. switches)
    out = ("%.1f"):format((t1 - t0) / (2 * N) * 1e9)
  elseif mode == "queue" then
    local N = math.tointeger(tonumber(arg[2] or 1e6))
    local q = green.Queue(100)
    local last
    local producer = green.spawn(function()
      for i = 1, N do q:put(i) end
    end)
    local consumer = green.spawn(function()
      for _ = 1, N do last = q:get() end
    end)
    local s0 = green.stats().switches
    local t0 = clock()
    producer:wait()
    consumer:wait()
    local t1 = clock()
    local switches = green.stats().switches - s0
    assert(last == N and q:qsize() == 0, "queue: lost items")
    -- a switch per batch of about 100 items each way, not per item
    assert(switches < N / 20, "queue: switches: " .. switches)
    out = ("%.1f"):format((t1 - t0) / N * 1e9)
  elseif mode == "pingpong" then
    local N = math.tointeger(tonumber(arg[2] or 1e6))
    local q1, q2 = green.Queue(), green.Queue()
    local v = 1
    local a = green.spawn(function()
      for _ = 1, N do
        q1:put(v)
        v = q2:get()
      end
    end)
    local b = green.spawn(function()
      for _ = 1, N do q2:put(q1:get() + 1) end
    end)
    local s0 = green.stats().switches
    local t0 = clock()
    a:wait()
    b:wait()
    local t1 = clock()
    local switches = green.stats().switches - s0
    assert(v == N + 1, "pingpong: lost the value")
    assert(switches >= 2 * N and switches <= 2 * N + 4, "switches: " .. switches)
    out = ("%.1f"):format((t1 - t0) / (2 * N) * 1e9)
  elseif mode == "imap" then
    local M = math.tointeger(tonumber(arg[2] or 1e5))
    local f = function(x) return x end
    local items = {}
    for i = 1, M do items[i] = i end
    local pool = green.GreenPool(1000)
    local sum = 0
    local t0 = clock()
    for _, r in pool:imap(f, items) do sum = sum + r end
    local t1 = clock()
    assert(sum == M * (M + 1) // 2, "imap: wrong results")
    -- the plain loop, repeated to be long enough for the clock
    local R = 20
    local sum2 = 0
    local t2 = clock()
    for _ = 1, R do
      for i = 1, M do sum2 = sum2 + f(items[i]) end
    end
    local t3 = clock()
    assert(sum2 == R * sum)
    local imap, plain = (t1 - t0) / M * 1e9, (t3 - t2) / (R * M) * 1e9
    out = ("%.1f %.1f %.1f"):format(imap - plain, imap, plain)
  else
    error("unknown mode: " .. tostring(mode))
  end
end

print(out)
os.exit(0)  -- skip freeing the heap: not measured, only slow
