-- Turn the samples run.sh collected into the Markdown results table.
-- usage: lua5.4 table.lua SAMPLES_DIR
-- SAMPLES_DIR holds one file per measurement (named by key below), one run
-- per line, numbers separated by spaces; plus meta.txt (KEY=VALUE lines).
-- Every figure is the median over its runs; a ratio is median(greenlua) /
-- median(baseline), both measured in the same `make bench`.
local dir = assert(arg[1], "usage: table.lua SAMPLES_DIR")

local function samples(key, field)
  local f = io.open(dir .. "/" .. key)
  if not f then return {} end
  local out = {}
  for line in f:lines() do
    local i = 0
    for word in line:gmatch("%S+") do
      i = i + 1
      if i == (field or 1) then out[#out + 1] = tonumber(word) end
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
}

-- One row per figure. green/base: {key, field}; base_fn adjusts the
-- baseline's median; target: {ratio = max} or {abs = max, text = ...}.
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
  local gs = samples(r.green[1], r.green[2])
  local bs = samples(r.base[1], r.base[2])
  local g, b = median(gs), median(bs)
  if b and r.base_fn then b = r.base_fn(b) end
  local gcell, range, bcell, ratio, target, met = "error", "", "error", "—", "—", "—"
  if g then
    gcell = f(g)
    range = #gs > 1 and (f(math.min(table.unpack(gs))) .. "–" .. f(math.max(table.unpack(gs)))) or ""
  end
  if b then bcell = f(b) .. " (" .. r.base_what .. ")" end
  if g and b then ratio = ("%.2fx"):format(g / b) end
  if r.target then
    local ok
    if r.target.ratio then
      target = ("≤ %gx"):format(r.target.ratio)
      ok = g and b and g / b <= r.target.ratio
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
  .. "Startup: wall time per run.")

local text = table.concat(out, "\n") .. "\n"
io.write(text)
if meta.out then
  local f = assert(io.open(meta.out, "w"))
  f:write(text)
  f:close()
end
if missing then os.exit(2) end
