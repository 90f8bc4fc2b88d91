-- usage: lua5.4 hyperfine_times.lua RESULT.json OUT1 OUT2 ...
-- Write the "times" (seconds, one per line) of hyperfine's i-th result to
-- OUTi; the results are in the order the commands were given.
local text = assert(io.open(arg[1])):read("a")
local n = 0
for times in text:gmatch('"times"%s*:%s*(%b[])') do
  n = n + 1
  local f = assert(io.open(assert(arg[n + 1], "more results than outputs"), "w"))
  for x in times:gmatch("[%d.eE+-]+") do f:write(x, "\n") end
  f:close()
end
assert(n == #arg - 1, ("hyperfine JSON: %d results, expected %d"):format(n, #arg - 1))
