-- Shared helpers for the specs. Every spec runs inside greenlua, in the main
-- green thread, so these may block (sleep) like any green code.
local green = require "green"

local helpers = {}

-- The greenlua binary running this spec (busted is its script, so arg[-1]).
function helpers.greenlua()
  return os.getenv("GREENLUA") or (arg and arg[-1]) or "build/greenlua"
end

-- A file's whole contents ("" if it cannot be opened: not written yet).
function helpers.slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end
local slurp = helpers.slurp

-- `s` quoted for the shell as one word, whatever it holds (newlines, $,
-- quotes): in single quotes, each ' written as '\''.
function helpers.quote(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end
local q = helpers.quote

-- Run a Lua chunk in a fresh greenlua process (`greenlua -e code`).
-- Returns stdout, stderr, exit code. The chunk goes through a temporary
-- file (removed afterwards) and reaches -e byte for byte, newlines
-- included. The chunk must finish quickly: this waits for the child
-- (through the shell's `timeout`, so never forever).
function helpers.run_chunk(code)
  local src, out, err = os.tmpname(), os.tmpname(), os.tmpname()
  helpers.write(src, code)
  -- "$(cat f)" keeps every byte but trailing newlines, which a chunk does not need
  local cmd = ("timeout -k 2 10 %s -e \"$(cat %s)\" >%s 2>%s"):format(
    q(helpers.greenlua()), q(src), q(out), q(err))
  local _, _, rc = os.execute(cmd)
  local o, e = slurp(out), slurp(err)
  os.remove(src)
  os.remove(out)
  os.remove(err)
  return o, e, rc
end

-- Poll `pred` every few milliseconds until it is true or `limit` seconds
-- (default 5: it returns as soon as pred holds, so only a failure waits)
-- pass. Returns whether it became true.
function helpers.wait_until(pred, limit)
  local deadline = green.now() + (limit or 5)
  for _ = 1, 10000 do
    if pred() then return true end
    if green.now() >= deadline then return false end
    green.sleep(0.002)
  end
  return pred() and true or false
end

-- Seconds `fn(...)` took, then its results (packed).
function helpers.timed(fn, ...)
  local t0 = green.now()
  local r = table.pack(fn(...))
  return green.now() - t0, r
end

-- How many times the hub resumed a green thread while `fn(...)` ran
-- (green.stats().switches), then fn's results (packed). 0 means fn returned
-- without blocking or yielding: "at once", whatever the machine's speed.
function helpers.switches(fn, ...)
  local s0 = green.stats().switches
  local r = table.pack(fn(...))
  return green.stats().switches - s0, r
end

-- A fresh empty directory; the second result removes it and what is in it.
function helpers.tmpdir()
  local base = os.tmpname()
  os.remove(base)
  local dir = base .. ".d"
  assert(os.execute("mkdir -p " .. q(dir)))
  return dir, function() os.execute("rm -rf " .. q(dir)) end
end

-- Write `text` to `path`.
function helpers.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- Kill every thread in `list` that is still alive (for `finally`).
function helpers.killall(list)
  for _, gt in ipairs(list) do
    if not gt:dead() then gt:kill() end
  end
end

-- pcall, but returns only the error (nil if `fn` did not raise).
function helpers.error_of(fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then return nil end
  return err
end

-- Cleanups for the running test: busted keeps only the last `finally` of a
-- test, so specs call defer(fn) any number of times and each top-level
-- describe has after_each(run_deferred), which runs them newest first.
local deferred = {}
function helpers.defer(fn)
  deferred[#deferred + 1] = fn
end

function helpers.run_deferred()
  for i = #deferred, 1, -1 do
    local fn = deferred[i]
    deferred[i] = nil
    pcall(fn)
  end
end

-- Are none of these pids a zombie (each one gone or reaped)? Waits for it
-- as wait_until does; for specs of processes dropped without wait().
function helpers.all_reaped(pids, limit)
  return helpers.wait_until(function()
    for _, pid in ipairs(pids) do
      local f = io.open("/proc/" .. pid .. "/stat")
      if f then
        local state = f:read("a"):match("^%d+ %b() (%a)")
        f:close()
        if state == "Z" then return false end
      end
    end
    return true
  end, limit)
end

return helpers
