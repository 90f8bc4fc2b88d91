-- os.execute and io.popen, green (green.process.execute / popen; part C
-- installs them in os and io): exactly Lua 5.4's results. Each case runs
-- the same script under plain lua5.4 (the real functions) and under
-- greenlua (the green ones), and the two outputs must be the same, byte for
-- byte, stderr included. Then what only greenlua has: other threads run
-- while they wait.
local green = require "green"
local helpers = require "spec.helpers"
local process = require "green.process"

-- The script: under greenlua 'execute' and 'popen' are green.process's,
-- under lua5.4 the real ones. Locals with the real names, so that misuse
-- messages name them the same way. Addresses are masked.
local PRELUDE = [==[
local okp, P = pcall(require, "green.process")
local execute = okp and P.execute or os.execute
local popen = okp and P.popen or io.popen
io.stdout:setvbuf("no")
local function show(label, ...)
  local t = table.pack(...)
  local parts = {}
  for i = 1, t.n do
    local v = t[i]
    local s = math.type(v) == "float" and string.format("float:%.17g", v)
      or type(v) == "string" and string.format("%q", v) or tostring(v)
    parts[i] = (s:gsub("0x%x+", "ADDR"))
  end
  print(label, t.n, table.concat(parts, " "))
end
local function try(label, f, ...) show(label, pcall(f, ...)) end
]==]

local CASES = {
  execute_results = [==[
    for _, cmd in ipairs { "exit 0", "exit 1", "exit 255", "exit 256", "true", "false", "",
      "kill -9 $$", "kill -TERM $$", "kill -PIPE $$", "trap '' TERM; kill -TERM $$; exit 5",
      "echo hello from the child", "echo to stderr >&2; exit 2", "a\0b", "sleep 0.05; exit 9" } do
      show(string.format("%q", cmd), execute(cmd))
    end
    show("no argument", execute())
    show("nil", execute(nil))
    show("number", execute(42))
    show("float", execute(1.5))
  ]==],
  execute_misuse = [==[
    try("table", function() return execute({}) end)
    try("boolean", function() return execute(true) end)
    try("function", function() return execute(print) end)
    try("extra arguments", function() return execute("exit 4", "ignored", {}) end)
  ]==],
  popen_read = [==[
    local f = popen("printf 'a\\nb\\n12 3.5 0x1F junk'")
    show("type", io.type(f) or (okp and require("green.fileobj").type(f)))
    show("l", f:read("l"))
    show("L", f:read("L"))
    show("n n n", f:read("n", "n", "n"))
    show("n fail", f:read("n"))
    show("a", f:read("a"))
    show("a again", f:read("a"))
    show("0 at end", f:read(0))
    show("l at end", f:read("l"))
    show("seek", f:seek())
    show("seek set", f:seek("set", 0))
    show("setvbuf", f:setvbuf("no"))
    show("write on r", f:write("x"))
    show("close", f:close())
    show("tostring", tostring(f))
    -- (not tail calls: green.fileobj's methods are Lua functions, whose
    -- error positions cannot see through a caller's tail call)
    try("read closed", function() local r = f:read("l") return r end)
    try("close closed", function() local r = f:close() return r end)
    local g = popen("seq 3")
    local lines = {}
    for l in g:lines() do lines[#lines + 1] = l end
    show("lines", table.concat(lines, ","), g:close())
    g = popen("printf '1 2 3'")
    for a, b in g:lines("n", "n") do show("lines n", a, b) end
    show("close", g:close())
    g = popen("yes | head -c 200000")
    show("big", #g:read("a"), g:close())
    -- A child still writing when the pipe closes dies of SIGPIPE. (A child
    -- that writes once races the close, so "yes", which never stops.)
    show("unread", popen("yes"):close())
    show("read count", popen("printf abcdef"):read(4))
  ]==],
  popen_close_results = [==[
    for _, cmd in ipairs { "exit 0", "exit 3", "kill -9 $$", "kill -USR1 $$", "nonexistent-cmd-xyz 2>/dev/null",
      "echo to stderr >&2" } do
      local f = popen(cmd)
      show(cmd, f:read("a"), f:close())
    end
    local w = popen("exit 6", "w")
    show("w exit", w:close())
  ]==],
  popen_write = [==[
    local f = popen("cat; echo done", "w")
    show("write", f:write("x", 1, 2.5, "\n"))
    show("write more", f:write("second line\n"))
    show("flush", f:flush())
    show("read on w", f:read("l"))
    show("lines on w", pcall(function() for l in f:lines() do return l end end))
    show("seek on w", f:seek("cur"))
    show("close", f:close())
    local g = popen("tr a-z A-Z", "w")
    for i = 1, 3 do g:write("line ", i, "\n") end
    show("close tr", g:close())
    local h = popen("wc -c", "w")
    h:setvbuf("full", 1024)
    h:write(string.rep("z", 100000))
    show("close wc", h:close())
  ]==],
  popen_misuse = [==[
    try("no argument", function() return popen() end)
    try("nil", function() return popen(nil) end)
    try("table", function() return popen({}) end)
    try("mode rw", function() return popen("true", "rw") end)
    try("mode number", function() return popen("true", 1) end)
    try("mode table", function() return popen("true", {}) end)
    try("mode empty", function() return popen("true", "") end)
    try("mode rb", function() return popen("true", "rb") end)
    local f = popen("true", "r")
    try("bad format", function() local r = f:read("x") return r end)
    try("bad self", function() local r = f.read(42) return r end)
    show("close", f:close())
  ]==],
}

local function run_under(cmd, path)
  local r = assert(process.run({ cmd, path }, { timeout = 60 }))
  return r
end

describe("os.execute and io.popen, green", function()
  local lua = io.popen("command -v lua5.4"):read("l")

  for name, body in pairs(CASES) do
    it("give Lua 5.4's exact results: " .. name, function()
      assert(lua, "lua5.4 is needed (Debian's lua5.4 package)")
      local path = os.tmpname()
      helpers.write(path, PRELUDE .. body)
      local real = run_under(lua, path)
      local ours = run_under(helpers.greenlua(), path)
      os.remove(path)
      assert.truthy(real.stdout:match("\n"), "the reference printed nothing: " .. real.stderr)
      assert.equal(real.stdout, ours.stdout)
      assert.equal(real.stderr, ours.stderr)
      assert.equal(real.code, ours.code)
    end)
  end

  it("other threads run while os.execute waits for sleep 0.3", function()
    local ticks = 0
    local t = green.spawn(function()
      for _ = 1, 1000 do green.sleep(0.02) ticks = ticks + 1 end
    end)
    assert.same({ true, "exit", 0 }, { process.execute("sleep 0.3") })
    t:kill()
    assert.is_true(ticks >= 3, "ticks: " .. ticks)  -- 15 if nothing else runs, 0 if it blocked
  end)

  it("other threads run while a popen read waits for a slow child", function()
    local ticks = 0
    local t = green.spawn(function()
      for _ = 1, 1000 do green.sleep(0.02) ticks = ticks + 1 end
    end)
    local f = process.popen("sleep 0.3; echo late")
    assert.equal("late", f:read("l"))
    assert.same({ true, "exit", 0 }, { f:close() })
    t:kill()
    assert.is_true(ticks >= 3, "ticks: " .. ticks)
  end)

  it("where a thread cannot block (a sort comparator) they are the real, blocking ones", function()
    local results = {}
    table.sort({ 3, 1, 2 }, function(a, b)
      if #results == 0 then
        results[1] = table.pack(process.execute("exit 3"))
        local f = process.popen("echo real")
        results[2] = f:read("l")
        results[3] = io.type(f)  -- a real file
        f:close()
      end
      return a < b
    end)
    assert.same({ nil, "exit", 3, n = 3 }, results[1])
    assert.equal("real", results[2])
    assert.equal("file", results[3])
  end)

  it("a popen file dropped unclosed is reaped: no zombie, no fd left", function()
    local p = io.popen("ls /proc/self/fd | wc -l")  -- counts its own: the same each time
    p:close()
    local pids = {}
    for i = 1, 20 do
      local f = process.popen("echo $$")
      pids[i] = f:read("l")
    end
    collectgarbage()
    collectgarbage()
    assert.is_true(helpers.all_reaped(pids))
  end)
end)
