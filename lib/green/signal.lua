-- green.signal: signals as green events (host/io/signal.c, uv_signal_t).
--   signal(name, fn) -> handle: fn(name) runs in a new green thread at each
--     delivery of signal 'name' ("TERM", "SIGHUP", "USR1", or a number);
--     handle:cancel() puts back what was there before (for "INT": Ctrl-C's
--     "interrupted!"; for "QUIT": greenlua's dump; for "TERM"/"HUP": the default, which restores
--     the terminal and dies of the signal). A handler does not keep the
--     program alive.
--   wait_signal(name [, timeout]) -> name | nil (timeout).
-- CHLD (green.process needs it), KILL, STOP, SEGV, BUS, FPE, ILL are refused.
local core = require "green.core"

local M = {}

function M.signal(name, fn)
  return core.signal_handle(name, fn)
end

function M.wait_signal(name, timeout)
  return core.signal_wait(name, timeout)
end

return M
