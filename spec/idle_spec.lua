-- An idle greenlua process (every green thread asleep or waiting for input)
-- sleeps in the kernel: it burns almost no CPU (the hub waits in libuv
-- rather than polling).
--
-- The CPU time is read inside the child, with os.clock() (the whole
-- process's CPU time, every thread included) before and after the idle
-- period, so start-up (ASan's is 0.05 s and more) and exit are not counted:
-- the spec checks idling and nothing else, on any machine.
local H = require "spec.cli_helpers"

-- Seconds of CPU allowed for about 1 s of idling. Measured: under 0.001 s
-- (ASan build included); a thread polling every millisecond costs 0.02-0.05.
local LIMIT = 0.02

-- The child prints this line once it has idled: CPU seconds, wall seconds.
local REPORT = [[print(("idle-cpu %.6f wall %.6f"):format(os.clock() - c0, green.now() - t0))]]

local function check(r)
  assert.are.equal(0, r.status, H.show(r))
  local cpu, wall = r.stdout:match("idle%-cpu ([%d.]+) wall ([%d.]+)")
  cpu, wall = tonumber(cpu), tonumber(wall)
  assert.is_number(cpu, "no idle report in the output\n" .. H.show(r))
  assert.is_true(wall >= 0.9, ("it did not idle: wall %.3f s"):format(wall))
  assert.is_true(cpu < LIMIT, ("idling used %.3f s CPU in %.3f s"):format(cpu, wall))
end

describe("an idle greenlua process", function()
  teardown(function() H.cleanup() end)

  it("uses almost no CPU while main sleeps 1 s", function()
    check(H.run({ "-e", [[
local green = require "green"
c0, t0 = os.clock(), green.now()
green.sleep(1)
]] .. REPORT }))
  end)

  it("uses almost no CPU while 100 threads sleep and main waits on one", function()
    check(H.run({ "-e", [[
local green = require "green"
local last
for i = 1, 100 do green.spawn(green.sleep, 0.5 + i / 200) end
last = green.spawn(green.sleep, 1)
c0, t0 = os.clock(), green.now()
last:wait()
]] .. REPORT }))
  end)

  it("uses almost no CPU while the REPL waits for input on a pipe", function()
    -- the first line starts the measure and makes a file; the pipe waits
    -- for that file (the REPL is up), then the REPL waits 1 s for the second
    -- line (the REPL pre-binds the global green)
    local ready = H.path("ready")
    local first = ("c0, t0 = os.clock(), green.now(); io.open(%q, 'w'):close()"):format(ready)
    local pipe = ("printf '%%s\\n' %s; i=0; while [ ! -e %s ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; "
      .. "sleep 1; printf '%%s\\n' %s"):format(H.quote(first), H.quote(ready), H.quote(REPORT))
    check(H.run({ "-i" }, nil, nil, { pipe = pipe }))
  end)
end)
