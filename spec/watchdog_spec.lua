-- The stall watchdog (green.debug.watchdog, GREENLUA_WATCHDOG;
-- host/core/watchdog.c): each case runs a script in a fresh greenlua
-- process, its stderr in a file the script itself reads, so a busy loop
-- runs until its own report has appeared (proof that the report came while
-- it still ran) and not for a guessed time. Bounds are CPU seconds
-- (os.clock) far above what is needed: only a failure reaches them.
local green = require "green"
local helpers = require "spec.helpers"
local q = helpers.quote

local slurp = helpers.slurp

-- Every script starts with this: 'wd' is the watchdog function, 'ERR' the
-- path of its own stderr, 'rio' the real io (reading it must not yield).
local PRELUDE = [==[
local green = require("green")
local wd = green.debug.watchdog
local ERR = arg[1]
local rio = green.original("io")
io.stdout:setvbuf("no")
]==]

-- A loop on one line (so every position in it is that line) that runs
-- until stderr holds 'pat' or LIMIT CPU seconds have gone.
local function loop(pat, limit)
  return ("local n = 0 while true do n = n + 1 if n %% 20000 == 0 then local f = rio.open(ERR) "
    .. "local s = f:read('a') f:close() if s:find(%q, 1, true) or os.clock() > %d then break end end end -- LOOP\n")
    :format(pat, limit or 20)
end

-- Run 'body' (after PRELUDE) in a fresh greenlua; env: "NAME=value ...".
-- Returns stdout, stderr, exit code, and the line of "-- LOOP" in it.
local function run(body, env)
  local dir, rm = helpers.tmpdir()
  local text = PRELUDE .. body
  local script, out, err = dir .. "/s.lua", dir .. "/out", dir .. "/err"
  helpers.write(script, text)
  helpers.write(err, "")
  local cmd = ("env %s timeout -k 2 60 %s %s %s >%s 2>%s"):format(env or "", q(helpers.greenlua()),
    q(script), q(err), q(out), q(err))
  local _, _, rc = os.execute(cmd)
  local o, e = slurp(out), slurp(err)
  rm()
  local line, n = nil, 0
  for l in (text .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    if l:find("-- LOOP", 1, true) then line = n break end
  end
  return o, e, rc, line
end

local function count(s, pat)
  local n = 0
  for _ in s:gmatch(pat) do n = n + 1 end
  return n
end

describe("watchdog", function()
  it("reports a busy loop with its file:line while it runs, once, and leaves no hook", function()
    local out, err, rc, line = run([[
wd{threshold = 0.2}
]] .. loop("watchdog") .. [[
print("hook after report:", type(debug.gethook()))
local t0 = os.clock() while os.clock() - t0 < 0.6 do end  -- the same stall goes on: no second report
print("done")
]])
    assert.equal(0, rc, err)
    assert.matches("green thread 1 %(main%) has run [%d.]+ s without yielding, at [^\n]*s%.lua:" .. line .. "\n", err)
    assert.equal(1, count(err, "watchdog:"), err)
    assert.matches("hook after report:\tnil", out)
    assert.matches("done", out)
  end)

  it("catches a loop inside a script's nested coroutine, in a spawned thread", function()
    local out, err, rc, line = run([[
wd{threshold = 0.2}
local t = green.spawn(function()
  local outer = coroutine.wrap(function()
    local inner = coroutine.create(function()
]] .. loop("watchdog") .. [[
      return type(debug.gethook())
    end)
    return coroutine.resume(inner)
  end)
  return outer()
end)
print("inner:", t:wait())
]])
    assert.equal(0, rc, err)
    assert.matches("green thread 2 has run [%d.]+ s without yielding, at [^\n]*s%.lua:" .. line .. "\n", err)
    assert.equal(1, count(err, "watchdog:"), err)
    assert.matches("inner:\ttrue\tnil", out)
  end)

  it("reports a long real C call during the stall, naming the thread, then the C function", function()
    local _, err, rc = run([[
wd{threshold = 0.2}
local t = green.spawn(function()
  io.stderr:write("before\n")
  green.original("os").execute("sleep 2")
  io.stderr:write("after\n")
end)
t.name = "sleeper"
t:wait()
]])
    assert.equal(0, rc, err)
    local b = err:find("before\n", 1, true)
    local during = err:find('watchdog: green thread 2 "sleeper" has run [%d.]+ s without yielding, inside a C function\n')
    local named = err:find('watchdog: green thread 2 "sleeper" was in C function os%.execute for [%d.]+ s')
    local a = err:find("after\n", 1, true)
    assert.is_truthy(b and during and named and a, err)
    assert.is_true(b < during and during < named and named < a, err)
    assert.equal(2, count(err, "watchdog:"), err)
  end)

  it("reports a spawn_n thread (one with no handle yet) and takes new settings while on", function()
    local out, err, rc, line = run([[
wd{threshold = 30}
assert(wd{threshold = 0.2, action = "error"})
local res
green.spawn_n(function()
  res = table.pack(pcall(function()
    local t0 = os.clock() while os.clock() - t0 < 20 do end -- LOOP
  end))
end)
green.sleep(0)
print(res and res[1], res and res[2])
]])
    assert.equal(0, rc, err)
    assert.matches("^false\t[^\n]*s%.lua:" .. line .. ": watchdog: green thread %d+ has run [%d.]+ s without yielding\n", out)
  end)

  it("calls made green (os.execute, io.popen) are not stalls", function()
    local _, err, rc = run([[
wd{threshold = 0.2}
assert(os.execute("sleep 0.5"))
local p = io.popen("sleep 0.5; echo x") assert(p:read("a") == "x\n") p:close()
]])
    assert.equal(0, rc, err)
    assert.equal(0, count(err, "watchdog"), err)
  end)

  it("action 'error' raises in the culprit at its next instruction, and reports nothing", function()
    local out, err, rc, line = run([[
wd{threshold = 0.2, action = "error"}
local ok, e = pcall(function()
  local t0 = os.clock() while os.clock() - t0 < 20 do end -- LOOP
end)
print(ok, e)
print("hook:", type(debug.gethook()))
]])
    assert.equal(0, rc, err)
    assert.matches("^false\t[^\n]*s%.lua:" .. line .. ": watchdog: green thread 1 has run [%d.]+ s without yielding\n", out)
    assert.matches("hook:\tnil", out)
    assert.equal(0, count(err, "watchdog"), err)
  end)

  it("action 'error' in a real C call raises as it returns", function()
    local out, err, rc = run([[
wd{threshold = 0.2, action = "error"}
print(pcall(green.original("os").execute, "sleep 1"))
]])
    assert.equal(0, rc, err)
    assert.matches("^false\t[^\n]*watchdog: green thread 1 was in C function os%.execute for [%d.]+ s", out)
    assert.matches("inside a C function", err)
  end)

  it("never reports a heavy workload that keeps yielding, for several thresholds", function()
    for _, th in ipairs({ 0.2, 0.5, 1 }) do
      local out, err, rc = run(([[
wd{threshold = %s}
local stop = false
local qu = require("green.queue").Queue(10)
for i = 1, 50 do
  green.spawn(function()
    local x = 0
    while not stop do
      for j = 1, 3000 do x = x + j end
      green.sleep(0)
    end
  end)
end
green.spawn(function() while not stop do qu:put(1) end end)
green.spawn(function() while not stop do qu:get() end end)
local t0 = green.now()
while green.now() - t0 < 1.5 do green.sleep(0.01) end
stop = true
print("switches", green.stats().switches)
]]):format(th))
      assert.equal(0, rc, err)
      assert.equal(0, count(err, "watchdog"), "threshold " .. th .. ": " .. err)
      assert.matches("switches\t%d+", out)
    end
  end)

  it("GREENLUA_WATCHDOG=seconds turns it on at start-up", function()
    local _, err, rc, line = run(loop("watchdog"), "GREENLUA_WATCHDOG=0.2")
    assert.equal(0, rc, err)
    assert.matches("green thread 1 %(main%) has run [%d.]+ s without yielding, at [^\n]*s%.lua:" .. line, err)
  end)

  it("GREENLUA_WATCHDOG with a bad value stops at start-up with a clear error", function()
    for _, v in ipairs({ "abc", "0", "-1", "1x", "nan" }) do
      local out, err, rc = run("print('ran')\n", "GREENLUA_WATCHDOG=" .. v)
      assert.are_not.equal(0, rc)
      assert.equal("", out)
      assert.matches("GREENLUA_WATCHDOG='" .. v:gsub("%p", "%%%0") .. "': expected a number of seconds > 0", err)
    end
    local out, err, rc = run("print('ran')\n", "GREENLUA_WATCHDOG=")
    assert.equal(0, rc, err)
    assert.equal("ran\n", out)
  end)

  it("is off again with false", function()
    local out, err, rc = run([[
wd{threshold = 0.2}
assert(wd(false) == true)
assert(wd(false) == true)
local t0 = os.clock() while os.clock() - t0 < 1 do end
wd{threshold = 0.2}
]] .. loop("watchdog") .. [[
print("ok")
]])
    assert.equal(0, rc, err)
    assert.equal("ok\n", out)
    assert.equal(1, count(err, "watchdog:"), err)
  end)

  it("leaves a user's debug.sethook alone and still reports", function()
    local out, err, rc = run([[
local function h() end
debug.sethook(h, "", 1e9)
wd{threshold = 0.2}
]] .. loop("watchdog") .. [[
print("same hook:", debug.gethook() == h)
]])
    assert.equal(0, rc, err)
    assert.matches("green thread 1 %(main%) has run [%d.]+ s without yielding, where is unknown %(a debug hook is set on it%)", err)
    assert.matches("same hook:\ttrue", out)
  end)

  it("Ctrl-C still interrupts a loop the watchdog reported", function()
    local _, err, rc = run([[
wd{threshold = 0.2}
]] .. loop("watchdog") .. [[
io.stderr:write("raising SIGINT\n")
-- in the background: the real system() ignores SIGINT while it waits
green.original("os").execute("(sleep 0.2; kill -INT " .. require("green.core").getpid() .. ") >/dev/null 2>&1 &")
local t0 = os.clock() while os.clock() - t0 < 20 do end
print("not interrupted")
]])
    assert.are_not.equal(0, rc)
    assert.matches("interrupted!", err)
  end)

  it("checks its arguments, naming watchdog", function()
    local wd = require("green.core").watchdog
    for _, bad in ipairs({ {}, { true }, { 1 }, { "x" }, { {} }, { { threshold = 0 } },
        { { threshold = -1 } }, { { threshold = 0 / 0 } }, { { threshold = "1" } },
        { { threshold = 1, action = "kill" } }, { { threshold = 1, action = 1 } } }) do
      local err = helpers.error_of(wd, table.unpack(bad, 1, 1))
      assert.matches("bad argument #1 to 'watchdog'", err)
    end
    assert.is_true(wd{ threshold = 1e300, action = "report" })
    assert.is_true(wd(false))
  end)
end)
