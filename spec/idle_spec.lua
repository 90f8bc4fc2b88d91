-- An idle greenlua process (every green thread asleep or waiting for input)
-- sleeps in the kernel: it burns almost no CPU (API.md: nothing blocks the
-- process, and the hub waits in libuv rather than polling).
local H = require "spec.cli_helpers"

local LIMIT = 0.05  -- seconds of user+sys CPU allowed for about 1 s of idling

local have_time = os.execute("test -x /usr/bin/time") == true

-- Run greenlua with `args` (and `opts` as for H.run) and measure the wall and
-- CPU (user + sys) time of that process alone.
local function measure(args, opts)
  opts = opts or {}
  local tf = H.path("time")
  local r
  if have_time then
    opts.wrap = "/usr/bin/time -o " .. H.quote(tf) .. " -f '%e %U %S'"
    r = H.run(args, nil, nil, opts)
  else
    -- the shell's `times`: second line, the children's user and sys times
    local words = {}
    for i = 1, #args do words[i] = H.quote(args[i]) end
    local script = ("%s%s %s </dev/null >/dev/null; times >%s"):format(
      opts.pipe and ("( " .. opts.pipe .. " ) | ") or "",
      H.quote(H.bin), table.concat(words, " "), H.quote(tf))
    r = H.run("-c " .. H.quote(script), nil, nil, { bin = "sh" })
  end
  local text = H.slurp(tf)
  local wall, user, sys
  if have_time then
    wall, user, sys = text:match("([%d.]+)%s+([%d.]+)%s+([%d.]+)%s*$")
    wall, user, sys = tonumber(wall), tonumber(user), tonumber(sys)
  else
    local l2 = text:match("\n([^\n]*)")
    local um, us, sm, ss = (l2 or ""):match("(%d+)m([%d.]+)s%s+(%d+)m([%d.]+)s")
    if um then user, sys = um * 60 + us, sm * 60 + ss end
    wall = r.secs
  end
  return r, wall, user, sys, text
end

local function check(args, opts, min_wall)
  local r, wall, user, sys, text = measure(args, opts)
  assert.are.equal(0, r.status, H.show(r))
  assert.is_number(user, "could not read CPU times from: " .. text)
  assert.is_true(wall >= min_wall, ("it did not idle: wall %.3f s"):format(wall))
  assert.is_true(user + sys < LIMIT,
    ("idle process used %.3f s CPU (user %.3f, sys %.3f) in %.3f s"):format(user + sys, user, sys, wall))
end

describe("an idle greenlua process", function()
  teardown(function() H.cleanup() end)

  it("uses almost no CPU while main sleeps 1 s", function()
    check({ "-e", "require'green'.sleep(1)" }, nil, 0.9)
  end)

  it("uses almost no CPU while 100 threads sleep and main waits on one", function()
    check({ "-e", [[
local green = require "green"
for i = 1, 100 do green.spawn(green.sleep, 0.5 + i / 200) end
green.spawn(green.sleep, 1):wait()
]] }, nil, 0.9)
  end)

  it("uses almost no CPU while the REPL waits for input on a pipe", function()
    check({ "-i" }, { pipe = "sleep 1; echo 'x = 1'" }, 0.9)
  end)
end)
