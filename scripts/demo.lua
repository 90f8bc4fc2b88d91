-- The demo: a handful of green threads sharing one process.
--   make run        (or: build/greenlua scripts/demo.lua)
local green = require "green"

local start = green.now()
local function say(fmt, ...)
  print(("[%5.2fs] " .. fmt):format(green.now() - start, ...))
end

-- Three "downloads" that take different times run side by side: the whole
-- batch takes as long as the slowest one, not the sum.
local function fetch(name, seconds)
  say("%s: started", name)
  green.sleep(seconds)
  say("%s: done after %.1fs", name, seconds)
  return #name * 100
end

local jobs = {}
for _, job in ipairs { { "alpha", 0.3 }, { "beta", 0.1 }, { "gamma", 0.2 } } do
  jobs[#jobs + 1] = green.spawn(fetch, job[1], job[2])
end

-- A ticker keeps running while the others wait.
local ticker = green.spawn(function()
  local cleanup <close> = setmetatable({}, { __close = function() say("ticker: cleaning up") end })
  for i = 1, math.huge do
    green.sleep(0.05)
    say("tick %d (%d green threads alive)", i, green.stats().threads)
  end
end)

local total = 0
for _, gt in ipairs(jobs) do total = total + gt:wait() end
say("all fetched: %d bytes", total)

-- A Timeout bounds a slow call without touching its code.
local ok, err = pcall(green.with_timeout, 0.1, fetch, "slowpoke", 5)
say("slowpoke: %s", ok and "finished" or tostring(err))

-- kill() ends a thread at its suspension point; its cleanup still runs.
green.kill(ticker)
say("ticker killed: dead=%s", tostring(ticker:dead()))
local s = green.stats()
say("switches=%d, threads=%d, uptime=%.2fs", s.switches, s.threads, s.uptime)
