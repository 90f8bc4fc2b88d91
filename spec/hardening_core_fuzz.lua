-- Run by hardening_core_spec.lua in a child greenlua: every C function of
-- host/core reachable from Lua (functions, GreenThread methods and
-- metamethods, the coroutine library, the internal ones) called with bad
-- values in each of its first three argument positions. Each call runs in
-- its own green thread under a Timeout; it may return or raise, and the
-- process must survive all of them. Prints "calls N" and "done".
local green = require "green"
local internal = select(2, debug.getupvalue(package.preload["green"], 2))

local dead = green.spawn(function() end)
dead:wait()
local values = {
  false, true, 0, -1, 2^53, 1e300, -1e300, 0 / 0, math.huge, -math.huge, math.mininteger,
  "", ("x"):rep(100000), {}, setmetatable({}, { __index = function() error("index") end }),
  function() end, coroutine.create(function() end), io.stdout, dead, green.GreenThreadExit,
  setmetatable({}, { __tostring = function() error("tostring") end }),
}
-- a green thread's own coroutine, and a script's coroutine blocked in the hub
local held, blocked = {}, nil
held.gt = green.spawn(function()
  held.co = coroutine.running()
  blocked = coroutine.create(function() green.sleep(1e6) end)
  coroutine.resume(blocked)
end)
green.sleep(0)
values[#values + 1] = held.co
values[#values + 1] = blocked
values[#values + 1] = held.gt
values[#values + 1] = "nil"  -- stands for nil

local gt_mt = debug.getmetatable(dead)
local exit_mt = debug.getmetatable(green.GreenThreadExit)
local targets = {
  spawn = green.spawn, spawn_n = green.spawn_n, spawn_after = green.spawn_after,
  sleep = green.sleep, getcurrent = green.getcurrent, kill = green.kill,
  threads = green.threads, stats = green.stats, now = green.now,
  with_timeout = green.with_timeout, Local = green.Local,
  wait = dead.wait, ["gt.kill"] = dead.kill, cancel = dead.cancel, dead = dead.dead,
  traceback = dead.traceback, link = dead.link, unlink = dead.unlink,
  __index = gt_mt.__index, __tostring = gt_mt.__tostring, exit_tostring = exit_mt.__tostring,
  resume = coroutine.resume, wrap = coroutine.wrap, yield = coroutine.yield,
  isyieldable = coroutine.isyieldable, running = coroutine.running,
  close = coroutine.close, status = coroutine.status,
  extra = internal.extra, finished = internal.finished, on_exit = internal.on_exit,
  check_timers = internal.check_timers,
}
-- internal.set_link_runner and fail_allocations change the process for good:
-- only with values they must refuse
local refusing = { set_link_runner = internal.set_link_runner }

local names = {}
for name in pairs(targets) do names[#names + 1] = name end
table.sort(names)

local calls, live = 0, {}
local function call(fn, args)
  calls = calls + 1
  live[#live + 1] = green.spawn(function()
    local t <close> = green.Timeout(0.01)
    pcall(fn, table.unpack(args, 1, args.n))
  end)
  if #live >= 64 then
    green.sleep(0.02)
    for _, gt in ipairs(live) do if not gt:dead() then gt:kill() end end
    live = {}
  end
end

local function arg(v) if v == "nil" then return nil end return v end
for _, name in ipairs(names) do
  local fn = targets[name]
  call(fn, { n = 0 })
  for pos = 1, 3 do
    for _, v in ipairs(values) do
      local args = { n = pos }
      for i = 1, pos - 1 do args[i] = dead end   -- a valid-looking self before it
      args[pos] = arg(v)
      call(fn, args)
    end
  end
end
for _, v in ipairs(values) do
  if type(v) ~= "function" then
    assert(not pcall(refusing.set_link_runner, arg(v)))
    calls = calls + 1
  end
end
green.sleep(0.05)
for _, gt in ipairs(live) do if not gt:dead() then gt:kill() end end
collectgarbage()
held.gt:kill()
assert(held.gt:dead() and coroutine.status(blocked) == "dead")
-- the hub is fine afterwards
assert(green.spawn(function() return 7 end):wait() == 7)
local linked
local gt = green.spawn(function() end)
gt:link(function() linked = true end)
gt:wait()
green.sleep(0)
assert(linked, "links still run")
assert(internal.check_timers())
print("calls " .. calls)
print("done")
