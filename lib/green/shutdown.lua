-- green.shutdown: the graceful stop, run by SIGTERM or green.shutdown(timeout).
--
-- One deadline, 'timeout' seconds after the stop begins, bounds it all:
--   1. exiting() turns true; the on_shutdown hooks run one after the
--      other, each in its own green thread (servers still serve meanwhile:
--      a hook may take the process out of a load balancer first);
--   2. every registered server stops: its listener closes (wsgi.server
--      also closes its idle keep-alive connections), so it accepts nothing;
--   3. the wait: until every server call has returned, which each does
--      once its own handlers have ended;
--   4. at the deadline (or at once on a second SIGTERM/SIGINT), each hook
--      or handler thread still running is listed on stderr (header and
--      traceback) and killed with ShutdownTimeout, so its <close>
--      variables run;
--   5. os.exit(0 if nothing had to be killed else 1, true).
-- Only hooks and server handlers are waited for; other threads run on
-- until the exit. green.cli installs the SIGTERM handler at start-up
-- (install) and, when the main chunk ends during a stop, waits for the
-- stop to complete (main_ended).
--
-- Servers take part through register(stop, threads) -> a to-be-closed
-- registration: 'stop()' makes the server stop accepting, 'threads()'
-- returns its live handler threads; closing it (the server call
-- returning) says the server is done. reg.stopped is true once the stop
-- asked it to stop: the server then waits for its handlers before
-- returning.
local core = require "green.core"

local M = { shutdown_timeout = 10 }

-- Raised in the threads the stop had to kill.
M.ShutdownTimeout = setmetatable({}, { __tostring = function() return "ShutdownTimeout" end })

local ShutdownTimeout = M.ShutdownTimeout
local hooks = {}            -- on_shutdown functions, in order
local regs = {}             -- the registered servers, in order (closed ones removed)
local phase = nil           -- nil, "hooks", "servers", "ending"
local skip = false          -- a second signal: stop waiting
local changed = core.WaitQueue()  -- a hook ended, a server returned, a skip
local main, main_done = nil, false
local main_returned = false -- a server call in the main thread returned during the drain

local function callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__call") ~= nil
end

local function say(s)
  pcall(io.stderr.write, io.stderr, s)
end

local header = require("green.debug").header

local function traceback(gt)
  local ok, tb = pcall(gt.traceback, gt)
  if not ok or type(tb) ~= "string" then return "" end
  return (tb:gsub("^[^\n]*\n?", ""))   -- its first line: the header says it better
end

------------------------------------------------------------ registration

local Reg = {}
Reg.__index = Reg

function Reg:__close()
  for i = #regs, 1, -1 do
    if regs[i] == self then
      table.remove(regs, i)
      if phase and self.caller == main then main_returned = true end
      changed:wake_all()
      return
    end
  end
end

local function stop_server(reg)
  if reg.stopped then return end
  reg.stopped = true
  local ok, err = pcall(reg.stop)
  if not ok then say("greenlua: shutdown: stopping a server: " .. tostring(err) .. "\n") end
end

-- register(stop, threads) -> registration (close it when the server returns)
function M.register(stop, threads)
  local reg = setmetatable({ stop = stop, threads = threads, caller = core.getcurrent(),
    stopped = false }, Reg)
  regs[#regs + 1] = reg
  if phase == "servers" or phase == "ending" then stop_server(reg) end
  return reg
end

------------------------------------------------------------------ the stop

-- Wait on 'changed' until done() or the deadline or (unless 'always') a skip.
local function wait_until(done, deadline, always)
  while not done() and (always or not skip) do
    local left = deadline - core.now()
    if left <= 0 then return end
    changed:wait(left)
  end
end

local function run_hook(fn)
  local ok, err = xpcall(fn, debug.traceback)
  if not ok and err ~= ShutdownTimeout and err ~= core.GreenThreadExit then
    say("greenlua: on_shutdown hook: " .. tostring(err) .. "\n")
  end
  changed:wake_all()
end

local function live_handlers()
  local all, seen = {}, {}
  for _, reg in ipairs(regs) do
    local ok, list = pcall(reg.threads)
    if ok and type(list) == "table" then
      for _, gt in ipairs(list) do
        if not seen[gt] and not gt:dead() then
          seen[gt] = true
          all[#all + 1] = gt
        end
      end
    end
  end
  return all
end

local function finish(unfinished, timeout)
  if #unfinished > 0 then
    local parts = { ("greenlua: shutdown: %d green thread%s did not finish %s; killed with ShutdownTimeout:\n")
      :format(#unfinished, #unfinished == 1 and "" or "s",
        skip and "(the wait was cut short by a second signal)" or ("within %g s"):format(timeout)) }
    for _, gt in ipairs(unfinished) do
      parts[#parts + 1] = header(gt) .. "\n" .. traceback(gt) .. "\n"
    end
    say(table.concat(parts))
    for _, gt in ipairs(unfinished) do pcall(core.kill, gt, ShutdownTimeout) end
  end
end

local function run(timeout)
  local deadline = core.now() + timeout
  local unfinished = {}
  -- 1. the hooks, one after the other
  local i = 1
  while hooks[i] do
    if skip or core.now() >= deadline then
      for j = i, #hooks do
        say(("greenlua: shutdown: on_shutdown hook #%d not run: %s\n")
          :format(j, skip and "second signal" or "no time left"))
      end
      unfinished.hooks_skipped = true
      break
    end
    local gt = core.spawn(run_hook, hooks[i])
    gt.name = "on_shutdown #" .. i
    wait_until(function() return gt:dead() end, deadline)
    if not gt:dead() then unfinished[#unfinished + 1] = gt end
    i = i + 1
  end
  -- 2. the servers stop accepting
  phase = "servers"
  for _, reg in ipairs({ table.unpack(regs) }) do stop_server(reg) end
  -- 3. their handlers finish
  wait_until(function() return regs[1] == nil end, deadline)
  -- 4. the rest are killed
  phase = "ending"
  for _, gt in ipairs(live_handlers()) do unfinished[#unfinished + 1] = gt end
  finish(unfinished, timeout)
  -- the servers return once their killed handlers are gone, and code
  -- after a server call in the main chunk runs: until the deadline, or
  -- for a second at most once it has passed or was skipped (a handler that
  -- catches the kill and blocks again does not hold the exit)
  local limit = math.max(deadline, core.now() + 1)
  if skip or #unfinished > 0 then limit = core.now() + 1 end
  wait_until(function() return regs[1] == nil end, limit, true)
  if main_returned and main and not main_done then
    wait_until(function() return main_done or main:dead() end, limit, true)
    core.sleep(0)
  end
  local failed = #unfinished > 0 or unfinished.hooks_skipped
  os.exit(failed and 1 or 0, true)
end

local function second_signal()
  skip = true
  changed:wake_all()
end

local function start(timeout)
  phase = "hooks"
  -- a second SIGTERM (install's handler) or a SIGINT skips the wait
  pcall(core.signal_fallback, "INT", second_signal)
  local gt = core.spawn(function()
    local ok, err = xpcall(run, debug.traceback, timeout)
    if not ok then
      say("greenlua: shutdown failed: " .. tostring(err) .. "\n")
      os.exit(1, true)
    end
  end)
  gt.name = "shutdown"
end

local function check_timeout(t, n, fname)
  if type(t) ~= "number" or t ~= t then
    error(("bad argument #%d to '%s' (number expected, got %s)")
      :format(n, fname, t ~= t and "NaN" or (t == nil and "no value" or type(t))), 3)
  end
  if t < 0 then error(("bad argument #%d to '%s' (non-negative number expected)"):format(n, fname), 3) end
  return t
end

-- The timeout SIGTERM uses: green.shutdown_timeout (settable), else 10.
local function default_timeout()
  local ok, green = pcall(require, "green")
  local t = ok and type(green) == "table" and green.shutdown_timeout
  if type(t) == "number" and t == t and t >= 0 then return t end
  if t ~= nil and t ~= M.shutdown_timeout then
    say("greenlua: green.shutdown_timeout is not a non-negative number; using 10\n")
  end
  return 10
end

------------------------------------------------------------------ the API

-- green.shutdown([timeout]) -> true if this call began the stop, false if
-- one was already in progress. It returns at once; the process exits when
-- the stop completes.
function M.shutdown(timeout)
  if timeout == nil then timeout = default_timeout()
  else check_timeout(timeout, 1, "shutdown") end
  if phase then return false end
  start(timeout)
  return true
end

-- green.on_shutdown(fn): fn() runs in its own green thread when a stop
-- begins, after the hooks registered before it.
function M.on_shutdown(fn)
  if not callable(fn) then
    error(("bad argument #1 to 'on_shutdown' (function expected, got %s)"):format(type(fn)), 2)
  end
  hooks[#hooks + 1] = fn
end

-- green.exiting() -> true once a stop has begun.
function M.exiting()
  return phase ~= nil
end

-- For green.cli: the SIGTERM handler, once, at start-up. It is a fallback
-- (core.signal_fallback): a script's green.signal("TERM", fn) replaces it
-- until cancelled.
local installed = false
function M.install(main_thread)
  if installed then return end
  installed = true
  main = main_thread
  core.signal_fallback("TERM", function()
    if phase then second_signal() else M.shutdown() end
  end)
end

-- For green.cli: the main chunk ended. During a stop, block until the stop
-- exits the process.
function M.main_ended()
  main_done = true
  if not phase then return end
  changed:wake_all()
  local forever = core.WaitQueue()
  while true do forever:wait() end
end

return M
