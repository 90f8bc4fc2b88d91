-- green.stdin (API.md: io.read/io.lines()/io.stdin do not block other
-- threads when stdin is a pipe, socket or terminal): a child greenlua with
-- a pipe, a socket, a regular file, a terminal (tmux) on stdin. Each
-- script calls require("green.stdin").patch(io) itself (green.patch does
-- at start-up; calling it again is a no-op), so these hold on either side
-- of that merge.
local C = require "spec.console_helpers"
local H = C.H
local q = C.q

local function have(tool)
  return os.execute("command -v " .. tool .. " >/dev/null 2>&1") == true
end
local it_tmux = (have("tmux") and have("bash")) and it
  or function(name) pending(name .. " (needs tmux and bash)") end

local PATCH = [[
local ok, st = pcall(require, "green.stdin")
if ok then st.patch(io) end
]]

-- A ticker that counts while the main thread reads.
local TICKER = [[
local green = require "green"
ticks = 0
green.spawn(function() while true do ticks = ticks + 1; green.sleep(0.02) end end)
]]

local function script(name, body)
  return H.file(name, PATCH .. body)
end

local function norm(s) return (s:gsub("0x%x+", "ADDR")) end

describe("green stdin", function()
  after_each(C.run_deferred)
  teardown(H.cleanup)

  it("a ticker keeps ticking while io.read waits on a slow pipe", function()
    local path = script("slow.lua", TICKER .. [[
local line = io.read()
print("got", line, ticks >= 5 and "ticked" or ("ticks " .. ticks))
print("next", io.read("L"), ticks)
os.exit(0)
]])
    local r = H.run({ path }, nil, nil, { pipe = "sleep 0.5; echo hello; echo world" })
    assert.are.equal(0, r.status, H.show(r))
    assert.truthy(r.stdout:find("got\thello\tticked\n", 1, true), H.show(r))
    assert.truthy(r.stdout:find("next\tworld\n", 1, true), H.show(r))
  end)

  -- The same script under plain lua5.4 and greenlua: the same output.
  local SAME = [[
print(io.type(io.stdin), type(io.stdin) == "userdata" or "green")
print(io.read("n", "n"))
print(io.read("l"))
print(io.read(3), io.read(0))
local n = 0
for a, b in io.lines(nil, 1, "l") do n = n + 1; print("lines", a, b); if n == 2 then break end end
for l in io.lines() do print("line", l) end
print(io.read("a"), io.read("l"), io.read(0), io.read("n"))
print(io.stdin:close())
print(io.stdin:seek("set", 0))
print(io.stdin:write("x"))
print(io.type(io.stdin), io.type(io.stdout), io.type(42))
print(pcall(function() return io.read("x") end))
print(pcall(function() for _ in io.lines(nil, "x") do end end))
]]
  local INPUT = "12 0x10 rest of line\nabcdef\nxy\nl3\nl4\nl5\n\nlast"

  it("io.read, io.lines(), io.stdin on a pipe: what lua5.4 gives", function()
    local path = script("same.lua", SAME)
    local want = H.run_lua({ path }, nil, nil, { pipe = "printf " .. q(INPUT) })
    local got = H.run({ path }, nil, nil, { pipe = "printf " .. q(INPUT) })
    assert.are.equal(0, got.status, H.show(got))
    -- the one difference: the green stdin is not a userdata
    local w = norm(want.stdout):gsub("^file\ttrue\n", "file\tgreen\n")
    assert.are.equal(w, norm(got.stdout), H.show(want) .. "\n" .. H.show(got))
  end)

  it("a Timeout ends a waiting io.read; the next io.read reads on", function()
    local path = script("timeout.lua", [[
local green = require "green"
local ok, err = pcall(green.with_timeout, 0.1, io.read)
print(ok, green.is_timeout(err))
print(io.read())
]])
    local r = H.run({ path }, nil, nil, { pipe = "sleep 0.6; echo later" })
    assert.are.equal("false\ttrue\nlater\n", r.stdout, H.show(r))
  end)

  it("a regular file on stdin stays plain io", function()
    local path = script("plain.lua", [[
print(type(io.stdin), io.read("l"), io.read("a"))
]])
    local r = H.run({ path }, "first\nsecond\n")
    assert.are.equal("userdata\tfirst\tsecond\n\n", r.stdout, H.show(r))
  end)

  it("io.input(file) switches io.read and io.lines() to it, io.input(io.stdin) back", function()
    local other = H.file("other.txt", "from file\nfile 2\n")
    local path = script("input.lua", ([[
local f = assert(io.open(%q))
print(io.input() == io.stdin)
io.input(f)
print(io.input() == f, io.read())
for l in io.lines() do print("f", l) end
io.input(io.stdin)
print(io.input() == io.stdin, io.read())
io.input(%q)
print(io.read())
]]):format(other, other))
    local r = H.run({ path }, nil, nil, { pipe = "echo from pipe" })
    assert.are.equal("true\ntrue\tfrom file\nf\tfile 2\ntrue\tfrom pipe\nfrom file\n", r.stdout, H.show(r))
    local r2 = H.run_lua({ path }, nil, nil, { pipe = "echo from pipe" })
    assert.are.equal(r2.stdout, r.stdout, H.show(r2))
  end)

  it("a second green thread reading stdin gets nil, err at once instead of stealing input", function()
    local path = script("two.lua", [[
local green = require "green"
local got = {}
local a = green.spawn(function() got.a = io.read() end)
green.sleep(0)
print(io.read())
a:wait()
print("a", got.a)
]])
    local r = H.run({ path }, nil, nil, { pipe = "sleep 0.3; echo one" })
    assert.are.equal("nil\tstdin is being read by another green thread\t16\na\tone\n", r.stdout, H.show(r))
  end)

  it("where Lua cannot yield (a gsub callback), io.read still reads, blocking as stock Lua", function()
    local path = script("noyield.lua", [[
print(string.gsub("ab", "%w", function() return io.read(1) end))
print(io.read("a"))
]])
    local r = H.run({ path }, nil, nil, { pipe = "sleep 0.2; printf XYZrest" })
    assert.are.equal("XY\t2\nZrest\n", r.stdout, H.show(r))
  end)

  it("io.close(f) closes a green file; io.type knows it", function()
    local path = script("close.lua", [[
local f = require("green.fs").open(arg[0])
print(io.type(f), io.close(f), io.type(f))
print(io.close(io.open(arg[0])))
]])
    local r = H.run({ path })
    assert.are.equal("file\ttrue\tclosed file\ntrue\n", r.stdout, H.show(r))
  end)

  it("a socket on stdin: green too", function()
    if not have("python3") then return pending("needs python3") end
    local path = script("sock.lua", TICKER .. [[
print(io.read(), ticks >= 5 and "ticked" or ("ticks " .. ticks))
os.exit(0)
]])
    local py = H.file("sock.py", ([[
import socket, subprocess, time
a, b = socket.socketpair()
p = subprocess.Popen([%q, %q], stdin=b, stdout=subprocess.PIPE)
b.close()
time.sleep(0.5)
a.sendall(b"over a socket\n")
out = p.communicate(timeout=10)[0]
a.close()
print(out.decode(), end="")
]]):format(H.bin, path))
    local r = H.sh("timeout 20 python3 " .. q(py))
    assert.are.equal("over a socket\tticked\n", r.stdout, H.show(r))
  end)

  it_tmux("on a terminal: io.read waits green for the typed line", function()
    local path = script("tty.lua", TICKER .. [[
io.write("ready\n")
local line = io.read()
print("got [" .. tostring(line) .. "] " .. (ticks >= 5 and "ticked" or ("ticks " .. ticks)))
io.read()
]])
    local home = C.dir("home")
    local t = C.tmux(q(C.bin) .. " " .. q(path), home)
    C.defer(function() t:kill() end)
    assert.is_true(t:wait_for("ready"), t:show())
    require("green").sleep(0.4)
    t:line("typed here")
    assert.is_true(t:wait_for("got [typed here] ticked"), t:show())
  end)

  it_tmux("with the REPL's prompt up: io.read in another thread returns nil, err; at the REPL's own turn it reads", function()
    local home = C.dir("home")
    local t = C.tmux(q(C.bin), home)
    C.defer(function() t:kill() end)
    assert.is_true(t:wait_prompt(), t:show())
    t:line('require("green.stdin").patch(io)')
    assert.is_true(t:wait_prompt(), t:show())
    t:line('require("green").spawn(function() print(("bg %s|%s|%s"):format(io.read())) end)')
    assert.is_true(t:wait_for("bg nil|stdin is being read by another green thread|16"), t:show())
    assert.is_true(t:wait_prompt(), t:show())
    t:line('print("mine: " .. io.read())')
    require("green").sleep(0.2)
    t:line("a typed line")
    assert.is_true(t:wait_for("mine: a typed line"), t:show())
    assert.is_true(t:wait_prompt(), t:show())
    t:line("1 + 1")
    assert.is_true(t:wait_lines("2"), t:show())
  end)
end)
