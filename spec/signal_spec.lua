-- green.signal and green.wait_signal (API.md, "Processes, signals, files"):
-- a handler runs in a new green thread at each delivery; cancel() restores
-- exactly what was there before (the default, an inherited SIG_IGN, Ctrl-C's
-- "interrupted!", greenlua's graceful stop on TERM); wait_signal with a timeout.
local green = require "green"
local helpers = require "spec.helpers"
local process = require "green.process"

local function self_pid()
  return tonumber(io.open("/proc/self/stat"):read("l"):match("^(%d+)"))
end

-- Send 'sig' to this process (through kill(1), green).
local function send(sig)
  local r = process.run({ "kill", "-" .. sig, tostring(self_pid()) })
  assert(r.code == 0, r.stderr)
end

local function status_field(name)
  return io.open("/proc/self/status"):read("a"):match(name .. ":%s*(%x+)")
end

-- Run a chunk in a fresh greenlua, started by sh with 'prelude' (traps).
local function greenlua(code, prelude)
  return process.run({ "sh", "-c", (prelude or "") .. " exec \"$0\" -e \"$1\"", helpers.greenlua(), code },
    { timeout = 20 })
end

local PRELUDE = [[
  local green = require "green"
  local process = require "green.process"
  local pid = tonumber(io.open("/proc/self/stat"):read("l"):match("^(%d+)"))
  local function send(sig) process.run({ "kill", "-" .. sig, tostring(pid) }) green.sleep(0.2) end
  io.stdout:setvbuf("no")
]]

describe("green.signal", function()
  after_each(helpers.run_deferred)

  it("runs the handler with the name, in a new green thread at each delivery", function()
    local got, threads = {}, {}
    local h = green.signal("USR1", function(name)
      got[#got + 1] = name
      threads[#threads + 1] = green.getcurrent()
    end)
    helpers.defer(function() h:cancel() end)
    send("USR1")
    assert.is_true(helpers.wait_until(function() return #got == 1 end))
    send("USR1")
    assert.is_true(helpers.wait_until(function() return #got == 2 end))
    assert.same({ "USR1", "USR1" }, got)
    assert.not_equal(threads[1], threads[2])
    assert.not_equal(green.getcurrent(), threads[1])
  end)

  it("accepts SIG-prefixed names and numbers; every handler of a signal runs", function()
    local a, b = 0, 0
    local h1 = green.signal("SIGUSR2", function() a = a + 1 end)
    local h2 = green.signal(12, function() b = b + 1 end)  -- 12 is USR2 on Linux
    send("USR2")
    assert.is_true(helpers.wait_until(function() return a == 1 and b == 1 end))
    h1:cancel()
    send("USR2")
    assert.is_true(helpers.wait_until(function() return b == 2 end))
    assert.equal(1, a)
    h2:cancel()
    h2:cancel()  -- idempotent
  end)

  it("cancel restores the default: the signal kills the process again", function()
    local r = greenlua(PRELUDE .. [[
      local h = green.signal("USR1", function() print("handled") end)
      send("USR1")
      h:cancel()
      send("USR1")
      print("not reached")
    ]])
    assert.equal("handled\n", r.stdout)
    assert.equal("USR1", r.signal)
  end)

  it("cancel restores an inherited SIG_IGN", function()
    local r = greenlua(PRELUDE .. [[
      local function ign() return io.open("/proc/self/status"):read("a"):match("SigIgn:%s*(%x+)") end
      local before = ign()
      local h = green.signal("HUP", function() print("handled") end)
      send("HUP")
      h:cancel()
      print(before == ign(), before ~= "0000000000000000")
      send("HUP")
      print("alive")
    ]], "trap '' HUP;")
    assert.equal("handled\ntrue\ttrue\nalive\n", r.stdout)
    assert.equal(0, r.code)
  end)

  it("an INT handler replaces Ctrl-C's 'interrupted!' until cancelled", function()
    local r = greenlua(PRELUDE .. [[
      local h = green.signal("INT", function(name) print("handled", name) end)
      send("INT")
      print("still running")
      h:cancel()
      send("INT")
      print("not reached")
    ]])
    assert.equal("handled\tINT\nstill running\n", r.stdout)
    assert.truthy(r.stderr:match("interrupted!"), r.stderr)
    assert.equal(1, r.code)
  end)

  it("a TERM handler replaces the graceful stop until cancelled, which puts it back", function()
    local r = greenlua(PRELUDE .. [[
      local function cgt()  -- is TERM (15) caught?
        local mask = io.open("/proc/self/status"):read("a"):match("SigCgt:%s*(%x+)")
        return tonumber(mask:sub(-8), 16) & (1 << 14) ~= 0
      end
      green.on_shutdown(function() print("graceful stop") end)
      local before = cgt()   -- greenlua's own: the graceful stop (green.shutdown)
      local h = green.signal("TERM", function() print("handled") end)
      send("TERM")
      local during = cgt()
      h:cancel()
      print(before, during, cgt(), green.exiting())
      send("TERM")
      while true do green.sleep(10) end  -- the stop ends the process
    ]])
    assert.equal("handled\ntrue\ttrue\ttrue\tfalse\ngraceful stop\n", r.stdout)
    assert.equal(0, r.code)
  end)

  it("a handler does not keep the program alive", function()
    local r = greenlua([[require("green").signal("USR1", print) print("done")]])
    assert.equal("done\n", r.stdout)
    assert.equal(0, r.code)
    assert.is_nil(r.timeout)
  end)

  it("a handler that raises is reported; the next delivery still runs it", function()
    local r = greenlua(PRELUDE .. [[
      local n = 0
      local h = green.signal("USR1", function() n = n + 1 error("boom " .. n) end)
      send("USR1")
      send("USR1")
      print(n)
      h:cancel()
    ]])
    assert.equal("2\n", r.stdout)
    assert.truthy(r.stderr:match("boom 1"), r.stderr)
    assert.truthy(r.stderr:match("boom 2"), r.stderr)
  end)

  it("misuse raises naming the function", function()
    local function err(fn, ...) return tostring(helpers.error_of(fn, ...)) end
    assert.truthy(err(green.signal, "NOPE", print):match("bad argument #1 to 'signal' %(unknown signal 'NOPE'%)"))
    assert.truthy(err(green.signal, "USR1", 5):match("bad argument #2 to 'signal' %(function expected"))
    assert.truthy(err(green.signal, {}, print):match("bad argument #1 to 'signal'"))
    assert.truthy(err(green.signal, 0, print):match("bad argument #1 to 'signal'"))
    for _, s in ipairs { "CHLD", "KILL", "STOP", "SEGV" } do
      assert.truthy(err(green.signal, s, print):match("cannot be handled"), s)
    end
    assert.truthy(err(green.wait_signal, "KILL"):match("bad argument #1 to 'wait_signal'"))
    assert.truthy(err(green.wait_signal, "USR1", "soon"):match("bad argument #2 to 'wait_signal'"))
    local h = green.signal("USR1", print)
    h:cancel()
    assert.truthy(err(h.cancel, 5):match("bad argument #1 to 'cancel'"))
    assert.equal("signal handle (USR1, cancelled)", tostring(h))
  end)
end)

describe("green.wait_signal", function()
  after_each(helpers.run_deferred)

  it("returns the name when the signal comes", function()
    local sender = green.spawn(function() green.sleep(0.1) send("USR2") end)
    helpers.defer(function() sender:kill() end)
    assert.equal("USR2", green.wait_signal("USR2", 10))
  end)

  it("returns nil after the timeout, and leaves the disposition as it was", function()
    local before = status_field("SigCgt")
    assert.is_nil(green.wait_signal("USR2", 0.1))
    assert.equal(before, status_field("SigCgt"))
  end)

  it("a wait interrupted by a Timeout restores the disposition too", function()
    local before = status_field("SigCgt")
    local ok, e = pcall(green.with_timeout, 0.1, green.wait_signal, "USR2")
    assert.is_false(ok)
    assert.is_true(green.is_timeout(e))
    assert.equal(before, status_field("SigCgt"))
  end)

  it("keeps the program alive while it waits (no false deadlock)", function()
    local r = greenlua(PRELUDE .. [[
      process.spawn("sleep 0.2; kill -USR1 " .. pid)
      print(green.wait_signal("USR1"))
    ]])
    assert.equal("USR1\n", r.stdout)
    assert.equal(0, r.code)
  end)
end)
