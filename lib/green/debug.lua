-- green.debug: seeing inside a live process (API.md, "Operability").
--   dump() -> text: every live thread, Go-like: a header line
--     green thread 12 "worker" [blocked in Queue:get, 3.2 s]:
--   then its traceback and a blank line. SIGQUIT prints it to stderr.
--   header(gt) -> that first line without the colon (shutdown's list, the
--     deadlock report).
--   top(seconds) -> array, most CPU first, of {thread=, id=, name=, share=}:
--     blocks the caller for 'seconds'; 'share' is the fraction of the
--     window's wall time each live thread ran. Switches are timed only while
--     a top() samples.
--   watchdog{threshold=, action=} / watchdog(false): core.watchdog (host/core/watchdog.c).
local core = require "green.core"
local green = require "green"

local M = {
  dump = core.debug_dump,
  header = core.debug_header,
  watchdog = core.watchdog,
}

local Sampling = { __close = function() core.debug_sample(-1) end }

function M.top(seconds)
  if type(seconds) ~= "number" or seconds ~= seconds then
    error(("bad argument #1 to 'top' (number expected, got %s)")
      :format(seconds ~= seconds and "NaN" or type(seconds)), 2)
  end
  if seconds < 0 then seconds = 0 end
  core.debug_sample(1)
  local sampling <close> = setmetatable({}, Sampling)
  local cpu = core.debug_cpu
  local before = {}
  for _, gt in ipairs(green.threads()) do before[gt] = cpu(gt) end
  local t0 = green.now()
  green.sleep(seconds)
  local wall = green.now() - t0
  local out = {}
  for _, gt in ipairs(green.threads()) do
    local ran = cpu(gt) - (before[gt] or 0)
    out[#out + 1] = { thread = gt, id = gt.id, name = gt.name,
      share = wall > 0 and math.min(ran / wall, 1) or 0 }
  end
  table.sort(out, function(a, b)
    if a.share ~= b.share then return a.share > b.share end
    return a.id < b.id
  end)
  return out
end

return M
