-- Helpers for the specs of the synchronisation primitives (events, queues,
-- semaphores, pools). Like spec/helpers.lua, these run inside greenlua and
-- may block.
local green = require "green"

local pack, unpack = table.pack, table.unpack

local sync = {}

-- Busy-wait `seconds` without ever yielding to the hub: timers come due but
-- cannot fire until the caller blocks. Bounded in time and iterations.
function sync.spin(seconds)
  local deadline = green.now() + seconds
  for _ = 1, 1e9 do
    if green.now() >= deadline then return end
  end
end

-- Let every ready thread run a few rounds (sleep(0) `rounds` times).
function sync.settle(rounds)
  for _ = 1, rounds or 5 do green.sleep(0) end
end

-- Spawn fn(...) in a green thread that records how it ended. Returns the
-- thread and its record: { done, ok, values (packed), err }. The record is
-- filled only once fn returns or raises (a kill is caught and recorded too).
function sync.track(fn, ...)
  local rec = { done = false }
  local gt = green.spawn(function(...)
    local r = pack(pcall(fn, ...))
    rec.ok = r[1]
    if r[1] then
      rec.values = pack(unpack(r, 2, r.n))
    else
      rec.err = r[2]
    end
    rec.done = true
  end, ...)
  return gt, rec
end

-- sync.track, with fn under a green.Timeout of `seconds` made in that
-- thread (cancelled when fn ends): an expiry is recorded as rec.err.
function sync.track_timeout(seconds, fn, ...)
  return sync.track(function(...)
    local t <close> = green.Timeout(seconds)
    return fn(...)
  end, ...)
end

-- A getter thread on queue `q`: appends what it got to `log` as {name, item}
-- (or {name, "error", err}).
function sync.getter(q, name, log, ...)
  local args = pack(...)
  return green.spawn(function()
    local ok, item = pcall(q.get, q, unpack(args, 1, args.n))
    if ok then
      log[#log + 1] = { name, item }
    else
      log[#log + 1] = { name, "error", item }
    end
  end)
end

-- Drain queue `q` without blocking: an array of its items in get order.
function sync.drain(q)
  local items = {}
  for _ = 1, 10000 do
    if q:qsize() == 0 and q:putting() == 0 then break end
    local ok, item = pcall(q.get_nowait, q)
    if not ok then break end
    items[#items + 1] = item
  end
  return items
end

-- Block until every thread in `list` is dead, at most `limit` seconds
-- (default 5: only a failure waits that long). Returns whether they all ended.
function sync.all_dead(list, limit)
  local deadline = green.now() + (limit or 5)
  for _ = 1, 10000 do
    local alive = false
    for _, gt in ipairs(list) do
      if not gt:dead() then alive = true break end
    end
    if not alive then return true end
    if green.now() >= deadline then return false end
    green.sleep(0.002)
  end
  return false
end

-- Is `err` the error a default kill raises?
function sync.is_exit(err)
  return rawequal(err, green.GreenThreadExit)
end

return sync
