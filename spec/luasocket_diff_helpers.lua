-- Differential runs for the green LuaSocket specs (udp, unix, dns,
-- options): the same script under plain lua5.4 with Debian's LuaSocket (the
-- reference) and under greenlua with the green socket.core, outputs
-- compared line for line. Scripts mask what differs between runs (ports,
-- addresses, paths) themselves.
local helpers = require "spec.helpers"

local M = {}

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

local function lines(s)
  local t = {}
  for l in s:gmatch("[^\n]*") do t[#t + 1] = l end
  return t
end

-- Run 'script' (with the words in 'args' after it) under both; fail on the
-- first line that differs. 'min_lines': the reference must print at least
-- that many lines (a reference that did not run must not pass).
function M.compare(script, args, min_lines)
  local tail = ""
  for _, a in ipairs(args or {}) do tail = tail .. " " .. helpers.quote(a) end
  local ref = sh("timeout 60 lua5.4 " .. script .. tail .. " 2>&1")
  local got = sh("timeout 60 " .. helpers.quote(helpers.greenlua()) .. " " .. script .. tail .. " 2>&1")
  local r, g = lines(ref), lines(got)
  assert(#r >= (min_lines or 10), "lua5.4 with Debian's LuaSocket did not run " .. script .. ": " .. ref)
  for i = 1, math.max(#r, #g) do
    if r[i] ~= g[i] then
      error(("%s, line %d differs:\n  lua5.4:   %s\n  greenlua: %s"):format(script, i,
        tostring(r[i]), tostring(g[i])), 2)
    end
  end
  return #r
end

-- A fresh empty directory under /tmp, removed by the returned function.
function M.tmpdir()
  local d = sh("mktemp -d /tmp/greenlua-lsock.XXXXXX"):gsub("%s+$", "")
  assert(d:match("^/tmp/greenlua%-lsock%."), d)
  return d, function() os.execute("rm -rf " .. helpers.quote(d)) end
end

return M
