-- SIGQUIT (API.md, "Operability"): a real greenlua process gets the signal
-- from kill(1), prints green.debug.dump() to stderr, and goes on. Installed
-- at start-up even when the signal was inherited as ignored; green.signal
-- ("QUIT") takes it over and its cancel puts the dump back.
local green = require "green"
local helpers = require "spec.helpers"
local q = helpers.quote

-- The target: names a thread, blocks it in Queue:get, says "up", then waits
-- for lines on stdin: "go" prints "alive N" (it went on), "end" exits 0.
local TARGET = [[
local green = require "green"
local q = green.Queue()
local w = green.spawn(function() q:get() end)
w.name = "stuck worker"
local mode = ...
local handle
if mode == "take" then
  handle = green.signal("QUIT", function() io.stdout:write("user handler\n") io.stdout:flush() end)
end
io.stdout:write("up\n") io.stdout:flush()
local n = 0
for line in io.lines() do
  n = n + 1
  if line == "cancel" and handle then handle:cancel() end
  io.stdout:write("alive ", n, "\n") io.stdout:flush()
  if line == "end" then break end
end
os.exit(0)
]]

local dir = helpers.tmpdir()
local script = dir .. "/target.lua"
helpers.write(script, TARGET)

local function start(prefix, mode)
  local cmd = (prefix or "") .. "exec " .. q(helpers.greenlua()) .. " " .. q(script) .. " " .. (mode or "plain")
  local p = assert(green.process.spawn(cmd, { stdin = "pipe", stdout = "pipe", stderr = "pipe" }))
  p.stdout:settimeout(20)
  p.stderr:settimeout(20)
  assert.equal("up", p.stdout:receive("*l"))
  return p
end

local function kill_quit(p)
  local r = green.process.run({ "kill", "-QUIT", tostring(p.pid) })
  assert.equal(0, r.code)
end

-- stderr up to the line matching 'pat' (nil if the pipe ends first)
local function read_until(sock, pat)
  local got = {}
  while true do
    local l = sock:receive("*l")
    if l == nil then return nil, table.concat(got, "\n") end
    got[#got + 1] = l
    if l:find(pat) then return table.concat(got, "\n") end
  end
end

local function finish(p)
  p.stdin:send("end\n")
  local code = p:wait(20)
  return code
end

describe("SIGQUIT", function()
  it("prints the dump to stderr and the process goes on", function()
    local p = start()
    kill_quit(p)
    local err = assert(read_until(p.stderr, 'stuck worker" %[blocked in Queue:get, [%d.]+ s%]:'))
    assert.matches("greenlua: SIGQUIT: dump of %d+ green threads", err)
    assert.matches("green thread 1 %(main%) %[blocked in ", err)
    local rest = assert(read_until(p.stderr, "target%.lua:3:"))
    assert.matches("stack traceback", rest)
    -- it goes on: it still answers, and a second QUIT dumps again
    p.stdin:send("go\n")
    assert.equal("alive 1", p.stdout:receive("*l"))
    kill_quit(p)
    assert(read_until(p.stderr, "SIGQUIT: dump"))
    p.stdin:send("go\n")
    assert.equal("alive 2", p.stdout:receive("*l"))
    assert.equal(0, finish(p))
  end)

  it("is installed even when the signal was inherited as ignored", function()
    local p = start("trap '' QUIT; ")
    kill_quit(p)
    assert(read_until(p.stderr, 'stuck worker" %[blocked in Queue:get'))
    p.stdin:send("go\n")
    assert.equal("alive 1", p.stdout:receive("*l"))
    assert.equal(0, finish(p))
  end)

  it("green.signal('QUIT') takes it over; its cancel puts the dump back", function()
    local p = start(nil, "take")
    kill_quit(p)
    assert.equal("user handler", p.stdout:receive("*l"))
    p.stdin:send("cancel\n")
    assert.equal("alive 1", p.stdout:receive("*l"))
    kill_quit(p)
    assert(read_until(p.stderr, "SIGQUIT: dump"))
    p.stdin:send("go\n")
    assert.equal("alive 2", p.stdout:receive("*l"))
    assert.equal(0, finish(p))
  end)
end)
