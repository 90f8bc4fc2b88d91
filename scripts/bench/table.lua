-- Turn the samples run.sh collected into the Markdown results table.
-- usage: lua5.4 table.lua SAMPLES_DIR
-- SAMPLES_DIR holds one file per measurement (named by key below), one run
-- per line, numbers separated by spaces; plus meta.txt (KEY=VALUE lines).
-- Every figure is the median over its runs; a ratio is median(greenlua) /
-- median(baseline), both measured in the same `make bench`.
local dir = assert(arg[1], "usage: table.lua SAMPLES_DIR")

-- The samples of one figure; 'fn', if given, converts each (ns/item to
-- items/s, say) before the median is taken.
local function samples(key, field, fn)
  local f = io.open(dir .. "/" .. key)
  if not f then return {} end
  local out = {}
  for line in f:lines() do
    local i = 0
    for word in line:gmatch("%S+") do
      i = i + 1
      if i == (field or 1) then
        local x = tonumber(word)
        out[#out + 1] = fn and x and fn(x) or x
      end
    end
  end
  f:close()
  return out
end

local function median(xs)
  if #xs == 0 then return nil end
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local m = (#s + 1) // 2
  if #s % 2 == 1 then return s[m] end
  return (s[m] + s[m + 1]) / 2
end

local meta = {}
do
  local f = io.open(dir .. "/meta.txt")
  if f then
    for line in f:lines() do
      local k, v = line:match("^([%w_]+)=(.*)$")
      if k then meta[k] = v end
    end
    f:close()
  end
end

-- How to print a value of each unit.
local fmt = {
  ns = function(x) return x >= 100 and ("%.0f"):format(x) or ("%.1f"):format(x) end,
  B = function(x) return ("%.0f"):format(x) end,
  s = function(x) return ("%.3f"):format(x) end,
  ms = function(x) return ("%.2f"):format(x * 1e3) end,  -- samples are in seconds
  items = function(x) return ("%.1fM"):format(x / 1e6) end,  -- items/s
}

local function per_second(ns) return 1e9 / ns end

-- One row per figure. green/base: {key, field, fn} (fn converts each
-- sample); base_fn adjusts the baseline's median; no_ratio: the baseline is
-- for reference only; target: {ratio = max}, {abs = max, text = ...} or
-- {min = least, text = ...}.
local rows = {
  { "spawn_n ×1M, all spawned then run", "ns/thread",
    green = { "spawn_n" }, base = { "spawn_bare" },
    base_what = "create+resume each", target = { ratio = 2.5 } },
  { "the same, against the same shape", "ns/thread",
    green = { "spawn_n" }, base = { "spawn_bare_all" },
    base_what = "create all, then resume each", target = nil },
  { "spawn ×1M with handles, then wait each", "ns/thread",
    green = { "spawn_wait_all" }, base = { "spawn_bare" },
    base_what = "create+resume each", target = { ratio = 4 } },
  { "spawn(f):wait() ×1M, in a loop", "ns/thread",
    green = { "spawn_wait_loop" }, base = { "spawn_bare" },
    base_what = "create+resume each", target = { ratio = 4 } },
  { "switch: 2 threads × 1M sleep(0)", "ns/switch",
    green = { "switch_green" }, base = { "switch_bare" },
    base_what = "resume/yield round trip", target = { ratio = 3 } },
  { "plain coroutine resume/yield, in greenlua", "ns/round trip",
    green = { "switch_bare_hosted" }, base = { "switch_bare" },
    base_what = "the same in lua5.4", target = nil },
  { "Event ping-pong: 2 threads × 1M round trips (send, wait, reset)", "ns/switch",
    green = { "sync_event" }, base = { "switch_bare" },
    base_what = "resume/yield round trip", target = { ratio = 4 } },
  { "Queue(100): 1 producer → 1 consumer, 1M items", "items/s",
    green = { "sync_queue", 1, per_second }, base = { "sync_ring", 1, per_second },
    base_what = "table ring of 100 slots, 2 coroutines", no_ratio = true,
    target = { min = 8e6, text = "≥ 8M items/s" } },
  { "the same, per item", "ns/item",
    green = { "sync_queue" }, base = { "sync_ring" },
    base_what = "table ring of 100 slots, 2 coroutines", target = { ratio = 4 } },
  { "2 Queues ping-pong: 2 threads × 1M round trips", "ns/hop",
    green = { "sync_pingpong" }, base = { "switch_bare" },
    base_what = "resume/yield round trip", target = { abs = 150, text = "≤ 150 ns" } },
  { "GreenPool(1000):imap ×100k, f(x) = x: overhead", "ns/item",
    green = { "sync_imap", 1 }, base = { "sync_imap", 3 },
    base_what = "plain loop calling f, in greenlua: subtracted", no_ratio = true,
    target = { abs = 1000, text = "≤ 1 µs" } },
  { "100k sleepers in sleep(1): peak RSS", "B/thread",
    green = { "sleep100k_green", 1 }, base = { "sleep100k_bare", 1 },
    base_what = "coroutine parked in yield()", target = { abs = 1600, text = "≤ 1.6 KB" } },
  { "100k sleepers: start → all awake", "s",
    green = { "sleep100k_green", 2 }, base = { "sleep100k_bare", 2 },
    base_fn = function(x) return 1 + x end,
    base_what = "1 s + create, park, resume all", target = { abs = 1.2, text = "≤ 1.2 s" } },
  { "1M sleepers in sleep(1): peak RSS", "B/thread",
    green = { "sleep1m_green", 1 }, base = { "sleep1m_bare", 1 },
    base_what = "coroutine parked in yield()", target = { abs = 1600, text = "≤ 1.6 KB" } },
  { "1M sleepers: start → all awake", "s",
    green = { "sleep1m_green", 2 }, base = { "sleep1m_bare", 2 },
    base_fn = function(x) return 1 + x end,
    base_what = "1 s + create, park, resume all", target = { abs = 2, text = "≤ 2 s" } },
  { "startup: `-e ''`", "ms",
    green = { "startup_green" }, base = { "startup_bare" },
    base_what = "`lua5.4 -e ''`", target = { ratio = 2 } },
}

local out = {}
local function emit(s) out[#out + 1] = s end

emit(("greenlua benchmarks, %s: %s × %s, %s; %s."):format(
  meta.date or os.date("!%Y-%m-%d"), meta.nproc or "?", meta.cpu or "?",
  meta.lua or "lua5.4", meta.greenlua or "greenlua"))
emit(("Medians of %s runs (%s for the 1M sleepers, after a discarded warm-up run; startup: %s runs each, %s), "
  .. "each run a fresh process; load average %s at the start, %s at the end.")
  :format(meta.runs or "?", meta.runs_big or "?", meta.startup_runs or "?",
    meta.startup_tool or "?", meta.load_start or "?", meta.load_end or "?"))
emit("")
emit("| benchmark | unit | greenlua | range (greenlua) | baseline: plain lua5.4 | ratio | target | met? |")
emit("|---|---|--:|--:|---|--:|---|:-:|")

local missing = false
for _, r in ipairs(rows) do
  local name, unit = r[1], r[2]
  local f = fmt[unit] or fmt[unit:match("^(%a+)")] or fmt.ns
  local gs = samples(r.green[1], r.green[2], r.green[3])
  local bs = samples(r.base[1], r.base[2], r.base[3])
  local g, b = median(gs), median(bs)
  if b and r.base_fn then b = r.base_fn(b) end
  local gcell, range, bcell, ratio, target, met = "error", "", "error", "—", "—", "—"
  if g then
    gcell = f(g)
    range = #gs > 1 and (f(math.min(table.unpack(gs))) .. "–" .. f(math.max(table.unpack(gs)))) or ""
  end
  if b then bcell = f(b) .. " (" .. r.base_what .. ")" end
  if g and b and not r.no_ratio then ratio = ("%.2fx"):format(g / b) end
  if r.target then
    local ok
    if r.target.ratio then
      target = ("≤ %gx"):format(r.target.ratio)
      ok = g and b and g / b <= r.target.ratio
    elseif r.target.min then
      target = r.target.text
      ok = g and g >= r.target.min
    else
      target = r.target.text
      ok = g and g <= r.target.abs
    end
    met = ok and "yes" or "**no**"
  end
  if not (g and b) then missing = true end
  emit(("| %s | %s | %s | %s | %s | %s | %s | %s |"):format(
    name, unit, gcell, range, bcell, ratio, target, met))
end

emit("")
emit("spawn/switch: process CPU time (os.clock) on both sides. Sleepers: peak "
  .. "RSS = VmHWM at the end minus VmHWM just before the first spawn, same "
  .. "process; greenlua's time is wall clock (green.now) from the first spawn_n "
  .. "until the last thread woke; the baseline's is 1 s plus the CPU time bare "
  .. "lua5.4 takes to create, park and finish as many coroutines. "
  .. "Startup: wall time per run. "
  .. "Event/Queue/imap (sync.lua): process CPU time too. A switch or hop is "
  .. "one thread handing over to the other (a yield to the hub, the hub "
  .. "resuming the other: one resume and one yield, as in the baseline's "
  .. "round trip); the Event round trip is 2 switches, the 2-Queue one 2 hops. "
  .. "The Queue(100) producer fills the queue and blocks, the consumer drains it and "
  .. "blocks: a switch per ~100 items each way, as the baseline's ring of 100 "
  .. "slots (nil'ed when taken) driven by a loop resuming its two coroutines "
  .. "in turn. imap: the whole `for i, r in pool:imap(f, items)` loop per "
  .. "item, minus a plain `f(items[i])` loop per item.")

local text = table.concat(out, "\n") .. "\n"
io.write(text)
if meta.out then
  local f = assert(io.open(meta.out, "w"))
  f:write(text)
  f:close()
end
if missing then os.exit(2) end
