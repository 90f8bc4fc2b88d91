-- The green side of the process bench: N times green.process.run{"true"}
-- (output captured: two pipes, as run always makes them), one after the
-- other. Prints the seconds taken. Usage: greenlua bench.lua [N]
local green = require "green"
local process = require "green.process"
local n = tonumber(arg[1]) or 1000
local t0 = green.now()
for _ = 1, n do
  local r = assert(process.run { "true" })
  if r.code ~= 0 then error("true failed: " .. tostring(r.code) .. " " .. tostring(r.signal)) end
end
print(string.format("%.6f", green.now() - t0))
