-- The greenlua command (API.md, "Process model and the `greenlua` command",
-- and the console section's REPL paragraph): it behaves like the stock lua5.4
-- command, plus the main green thread, deadlock detection and a REPL that
-- keeps the hub running. Every case spawns the binary through `sh -c` under
-- `timeout`, so none can hang the suite.
local H = require "spec.cli_helpers"

local run, run_lua, show, q = H.run, H.run_lua, H.show, H.quote

local function starts_with(s, prefix) return s:sub(1, #prefix) == prefix end
local function has(s, needle) return s:find(needle, 1, true) ~= nil end
local function first_line(s) return s:match("^[^\n]*") end

-- Lines of s (without the final newline).
local function lines(s)
  local t = {}
  for l in (s .. "\n"):gmatch("([^\n]*)\n") do t[#t + 1] = l end
  if t[#t] == "" then t[#t] = nil end
  return t
end

-- A module directory for -l and LUA_PATH.
local MODS = H.tmp .. "/mods"
os.execute("mkdir -p " .. q(MODS))
H.file("mods/mymod.lua", [[
io.write("loading mymod\n")
return { name = "mymod" }
]])
local MODPATH = MODS .. "/?.lua;;"

-- Feed lines to `greenlua -i` (prompts made empty first, as lua's own
-- testes/main.lua does) and return the result and the REPL's output after
-- the banner line and the first prompt.
local function repl(text, env, opts, args)
  local input = "_PROMPT=''\n_PROMPT2=''\n" .. text
  local r = run(args or { "-i" }, not (opts and opts.pipe) and input or nil, env, opts)
  local body = r.stdout:gsub("^[^\n]*\n", "", 1):gsub("^> ", "", 1)
  return r, body
end

describe("greenlua command", function()
  teardown(function() H.cleanup() end)

  describe("exit status and uncaught errors", function()
    it("exits 0 on success with nothing on stderr", function()
      local r = run({ "-e", "print('hi')" })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("hi\n", r.stdout)
      assert.are.equal("", r.stderr)
    end)

    it("exits 1 on an uncaught error: 'greenlua: ' + message, then a traceback", function()
      local r = run({ "-e", "error('boom')" })
      assert.are.equal(1, r.status, show(r))
      assert.is_true(starts_with(r.stderr, "greenlua: (command line):1: boom\n"), show(r))
      assert.is_true(has(r.stderr, "stack traceback"), show(r))
    end)

    it("names the script file and line of an error in a script", function()
      local s = H.file("err.lua", "local x = 1\nerror('in script')\n")
      local r = run({ s })
      assert.are.equal(1, r.status, show(r))
      assert.is_true(starts_with(r.stderr, "greenlua: " .. s .. ":2: in script\n"), show(r))
      assert.is_true(has(r.stderr, "stack traceback"), show(r))
    end)

    it("says '(error object is a table value)' for a table without __tostring", function()
      local r = run({ "-e", "error({})" })
      assert.are.equal(1, r.status, show(r))
      assert.is_true(starts_with(r.stderr, "greenlua: (error object is a table value)"), show(r))
    end)

    it("uses __tostring of an error object", function()
      local r = run({ "-e", "error(setmetatable({}, {__tostring = function() return 'custom err' end}))" })
      assert.are.equal(1, r.status, show(r))
      assert.is_true(starts_with(r.stderr, "greenlua: custom err"), show(r))
    end)

    it("reports nil and number error objects as lua5.4 does", function()
      local r = run({ "-e", "error(nil)" })
      assert.are.equal(1, r.status, show(r))
      assert.is_true(starts_with(r.stderr, "greenlua: (error object is a nil value)"), show(r))
      r = run({ "-e", "error(42)" })
      assert.are.equal(1, r.status, show(r))
      assert.is_true(starts_with(r.stderr, "greenlua: 42\n"), show(r))
    end)

    it("gives the same first error line as lua5.4 for a syntax error in -e", function()
      local r = run({ "-e", "x = = 1" })
      local l = run_lua({ "-e", "x = = 1" })
      assert.are.equal(1, r.status, show(r))
      assert.are.equal(first_line(l.stderr):gsub("^lua5%.4: ", ""),
        (first_line(r.stderr):gsub("^greenlua: ", "")), show(r))
    end)

    it("stops at the first failing -e: later options do not run", function()
      local r = run({ "-e", "error('first')", "-e", "print('second')" })
      assert.are.equal(1, r.status, show(r))
      assert.are.equal("", r.stdout)
    end)
  end)

  describe("options", function()
    it("-e runs each statement in command-line order", function()
      local r = run({ "-e", "x = 1 print('a', x)", "-e", "x = x + 1 print('b', x)", "-eprint('c', x)" })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("a\t1\nb\t2\nc\t2\n", r.stdout)
    end)

    it("-l mod requires mod into global mod", function()
      local r = run({ "-l", "mymod", "-e", "print(mymod.name, package.loaded.mymod == mymod)" },
        nil, { LUA_PATH = MODPATH })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("loading mymod\nmymod\ttrue\n", r.stdout)
    end)

    it("-l g=mod requires mod into global g", function()
      local r = run({ "-l", "g=mymod", "-e", "print(g.name, rawget(_G, 'mymod'))" },
        nil, { LUA_PATH = MODPATH })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("loading mymod\nmymod\tnil\n", r.stdout)
    end)

    it("-l also works attached (-lmod) and for standard libraries", function()
      local r = run({ "-lmymod", "-l", "s=string", "-e", "print(mymod.name, s == string)" },
        nil, { LUA_PATH = MODPATH })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("loading mymod\nmymod\ttrue\n", r.stdout)
    end)

    it("runs -e and -l interleaved, in command-line order", function()
      local r = run({ "-e", "print(1)", "-l", "mymod", "-e", "print(3)" }, nil, { LUA_PATH = MODPATH })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("1\nloading mymod\n3\n", r.stdout)
    end)

    it("-l of a missing module fails with lua5.4's message (no internal position)", function()
      local r = run({ "-l", "no_such_mod_xyz", "-e", "print('ran')" })
      assert.are.equal(1, r.status, show(r))
      assert.are.equal("", r.stdout)
      assert.is_true(starts_with(r.stderr, "greenlua: module 'no_such_mod_xyz' not found"), show(r))
    end)

    it("-v prints a version line naming greenlua and Lua 5.4, and does not read stdin", function()
      local r = run({ "-v" }, "print('stdin ran')\n")
      assert.are.equal(0, r.status, show(r))
      local l = first_line(r.stdout)
      assert.is_truthy(l:find("greenlua", 1, true), show(r))
      assert.is_truthy(l:find("Lua 5.4", 1, true), show(r))
      assert.is_false(has(r.stdout, "stdin ran"), show(r))
    end)

    it("-v with a script prints the version, then runs the script", function()
      local s = H.file("v.lua", "print('script ran')\n")
      local r = run({ "-v", s })
      assert.are.equal(0, r.status, show(r))
      local ls = lines(r.stdout)
      assert.is_truthy(ls[1]:find("greenlua", 1, true), show(r))
      assert.are.equal("script ran", ls[2], show(r))
    end)

    it("LUA_INIT (a string) runs before -e and the script", function()
      local s = H.file("after_init.lua", "print('script', init_ran)\n")
      local r = run({ "-e", "print('e', init_ran)", s }, nil, { LUA_INIT = "init_ran = true print('init')" })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("init\ne\ttrue\nscript\ttrue\n", r.stdout)
    end)

    it("LUA_INIT=@file runs that file before the script", function()
      local init = H.file("init.lua", "print('init file') init_ran = 'file'\n")
      local s = H.file("after_init2.lua", "print('script', init_ran)\n")
      local r = run({ s }, nil, { LUA_INIT = "@" .. init })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("init file\nscript\tfile\n", r.stdout)
    end)

    it("LUA_INIT_5_4 takes precedence over LUA_INIT", function()
      local r = run({ "-e", "print('e')" }, nil,
        { LUA_INIT = "print('plain')", LUA_INIT_5_4 = "print('versioned')" })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("versioned\ne\n", r.stdout)
    end)

    it("an error in LUA_INIT is reported and exits 1", function()
      local r = run({ "-e", "print('e')" }, nil, { LUA_INIT = "error('init failed')" })
      assert.are.equal(1, r.status, show(r))
      assert.are.equal("", r.stdout)
      assert.is_true(starts_with(r.stderr, "greenlua: LUA_INIT:1: init failed"), show(r))
    end)

    it("-E ignores LUA_INIT and LUA_INIT_5_4", function()
      local r = run({ "-E", "-e", "print('e')" }, nil,
        { LUA_INIT = "print('plain')", LUA_INIT_5_4 = "print('versioned')" })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("e\n", r.stdout)
    end)

    it("-E ignores LUA_PATH (and LUA_PATH_5_4)", function()
      local code = "print(package.path:find('mods', 1, true) ~= nil, pcall(require, 'mymod'))"
      local with = run({ "-e", code }, nil, { LUA_PATH = MODPATH })
      assert.are.equal(0, with.status, show(with))
      assert.is_true(starts_with(with.stdout, "loading mymod\ntrue\ttrue"), show(with))
      local without = run({ "-E", "-e", code }, nil, { LUA_PATH = MODPATH, LUA_PATH_5_4 = MODPATH })
      assert.are.equal(0, without.status, show(without))
      assert.is_true(starts_with(without.stdout, "false\tfalse"), show(without))
    end)

    it("-W turns warnings on: warn('x') prints 'Lua warning: x' to stderr", function()
      local r = run({ "-W", "-e", "warn('x')" })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("Lua warning: x\n", r.stderr)
    end)

    it("without -W, warn prints nothing", function()
      local r = run({ "-e", "warn('x')" })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("", r.stderr)
    end)

    it("-- stops option handling: what follows is the script and its arguments", function()
      local s = H.file("dd.lua", "print(#arg, ...)\n")
      local r = run({ "--", s, "-x", "-e", "--" })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("3\t-x\t-e\t--\n", r.stdout)
    end)

    it("-- lets a script name start with '-'", function()
      H.file("-dash.lua", "print('dash script', ...)\n")
      local r = run({ "--", "-dash.lua", "a" })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("dash script\ta\n", r.stdout)
    end)

    it("- runs stdin as the script, with the following arguments", function()
      local r = run({ "-", "a", "b" }, "print('stdin', arg[0], ...)\n")
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("stdin\t-\ta\tb\n", r.stdout)
    end)

    it("builds the arg table: arg[0] the script, options below 0, arguments from 1", function()
      local s = H.file("args.lua", [[
for i = -3, #arg do print(i, arg[i]) end
print("n", #arg)
]])
      local r = run({ "-e", "x=1", s, "a", "b" })
      assert.are.equal(0, r.status, show(r))
      assert.are.same({
        "-3\t" .. H.bin, "-2\t-e", "-1\tx=1", "0\t" .. s, "1\ta", "2\tb", "n\t2",
      }, lines(r.stdout))
    end)

    it("builds the same arg table as lua5.4 (interpreter name aside)", function()
      local s = H.file("args2.lua", [[
local lo, hi = 0, 0
while arg[lo - 1] ~= nil do lo = lo - 1 end
while arg[hi + 1] ~= nil do hi = hi + 1 end
for i = lo + 1, hi do print(i, arg[i]) end
print(lo, select("#", ...), ...)
]])
      for _, args in ipairs({ { s }, { "-W", s, "x" }, { "--", s, "-", "--" }, { "-e", "y=2", "-l", "string", s } }) do
        local r, l = run(args), run_lua(args)
        assert.are.equal(0, r.status, show(r))
        assert.are.equal(l.stdout, r.stdout, show(r))
      end
    end)

    it("passes the arguments as ... to the main chunk", function()
      local s = H.file("dots.lua", "print(select('#', ...), ...)\n")
      local r = run({ s, "one", "two", "" })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("3\tone\ttwo\t\n", r.stdout)
    end)

    it("a script that does not exist: status 1 and 'cannot open'", function()
      local r = run({ "no/such/script.lua" })
      assert.are.equal(1, r.status, show(r))
      assert.is_true(starts_with(r.stderr, "greenlua: cannot open no/such/script.lua"), show(r))
    end)

    it("a syntax error in a script: status 1 and the message", function()
      local s = H.file("syntax.lua", "x =\n")
      local r = run({ s })
      assert.are.equal(1, r.status, show(r))
      assert.is_true(starts_with(r.stderr, "greenlua: " .. s .. ":2: unexpected symbol near <eof>"), show(r))
    end)

    it("a bad option prints the usage message on stderr and exits 1", function()
      local r = run({ "-x" })
      assert.are.equal(1, r.status, show(r))
      assert.are.equal("", r.stdout)
      assert.is_true(starts_with(r.stderr, "greenlua: unrecognized option '-x'\nusage: "), show(r))
      assert.is_true(has(r.stderr, "-e stat"), show(r))
      assert.is_false(has(r.stderr, "Assertion"), show(r))
    end)

    it("a bad long option (-ix, --foo) is refused the same way", function()
      for _, opt in ipairs({ "-ix", "--foo" }) do
        local r = run({ opt, "-e", "print('ran')" })
        assert.are.equal(1, r.status, show(r))
        assert.are.equal("", r.stdout)
        assert.is_true(starts_with(r.stderr, "greenlua: unrecognized option '" .. opt .. "'"), show(r))
      end
    end)

    it("-e without an argument is an error: message, usage, status 1", function()
      local r = run({ "-e" })
      assert.are.equal(1, r.status, show(r))
      assert.is_true(starts_with(r.stderr, "greenlua: '-e' needs argument\nusage: "), show(r))
    end)

    it("-l without an argument is an error too", function()
      local r = run({ "-l" })
      assert.are.equal(1, r.status, show(r))
      assert.is_true(starts_with(r.stderr, "greenlua: '-l' needs argument\nusage: "), show(r))
    end)
  end)

  describe("script from stdin", function()
    it("runs piped stdin when no script is given", function()
      local r = run({}, nil, nil, { pipe = "echo 'print(1)'" })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("1\n", r.stdout)
    end)

    it("runs a redirected file on stdin, without a REPL banner or prompt", function()
      local r = run({}, "print('from file')\nprint(select('#', ...))\n")
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("from file\n0\n", r.stdout)
    end)

    it("does not read stdin after -e when no script is given", function()
      local r = run({ "-e", "print('e')" }, nil, nil, { pipe = "echo 'print(\"stdin\")'" })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("e\n", r.stdout)
    end)

    it("reports an error in a piped script with status 1", function()
      local r = run({}, nil, nil, { pipe = "echo 'error(\"piped\")'" })
      assert.are.equal(1, r.status, show(r))
      assert.is_true(starts_with(r.stderr, "greenlua: stdin:1: piped"), show(r))
    end)
  end)

  describe("the main green thread", function()
    it("runs -e code in a green thread", function()
      local r = run({ "-e", "print(require('green').getcurrent() ~= nil)" })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("true\n", r.stdout)
    end)

    it("runs a script in a green thread, which may block", function()
      local s = H.file("gt.lua", [[
local green = require "green"
print(green.getcurrent() ~= nil)
green.sleep(0.01)
print("slept")
]])
      local r = run({ s })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("true\nslept\n", r.stdout)
    end)

    it("runs a piped stdin script and LUA_INIT in a green thread", function()
      local r = run({}, nil, { LUA_INIT = "print('init', require('green').getcurrent() ~= nil)" },
        { pipe = "echo 'print(require(\"green\").getcurrent() ~= nil)'" })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("init\ttrue\ntrue\n", r.stdout)
    end)

    it("exits 0, quickly, when the main chunk returns while other threads live", function()
      local r = run({ "-e", [[
local green = require "green"
green.spawn(function() green.sleep(100) end)
green.spawn(function() while true do green.sleep(0.01) end end)
green.sleep(0.05)
print("main done")
]] })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("main done\n", r.stdout)
      assert.is_true(r.secs < 5, "took " .. r.secs .. " s")
    end)

    it("prints an error in a spawned thread to stderr, and the status stays 0", function()
      local r = run({ "-e", [[
local green = require "green"
green.spawn(function() error("thread boom") end)
green.sleep(0.05)
print("main goes on")
]] })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("main goes on\n", r.stdout)
      assert.is_true(has(r.stderr, "thread boom"), show(r))
    end)

    it("exits 1 at once on an uncaught error in main while other threads live", function()
      local r = run({ "-e", [[
local green = require "green"
green.spawn(function() green.sleep(100) end)
green.sleep(0.01)
error("main boom")
]] })
      assert.are.equal(1, r.status, show(r))
      assert.is_true(starts_with(r.stderr, "greenlua: (command line):4: main boom"), show(r))
      assert.is_true(r.secs < 5, "took " .. r.secs .. " s")
    end)
  end)

  describe("deadlock detection", function()
    local MSG = "greenlua: deadlock: all green threads are blocked"

    it("main waiting on a queue nobody wakes: message, traceback, status 1, fast", function()
      local r = run({ "-e", "require('green.core').WaitQueue():wait()" })
      assert.are.equal(1, r.status, show(r))
      assert.is_true(has(r.stderr, MSG), show(r))
      assert.is_true(has(r.stderr, "stack traceback"), show(r))
      assert.is_true(r.secs < 5, "took " .. r.secs .. " s")
    end)

    it("main waiting on a spawned thread that itself waits forever", function()
      local r = run({ "-e", [[
local green = require "green"
local t = green.spawn(function() require("green.core").WaitQueue():wait() end)
t:wait()
]] })
      assert.are.equal(1, r.status, show(r))
      assert.is_true(has(r.stderr, MSG), show(r))
      assert.is_true(has(r.stderr, "stack traceback"), show(r))
      assert.is_true(r.secs < 5, "took " .. r.secs .. " s")
    end)

    it("is detected once the last timer has fired and nothing is left to wake main", function()
      local r = run({ "-e", [[
local green = require "green"
green.spawn(function() green.sleep(0.1) print("sleeper done") end)
require("green.core").WaitQueue():wait()
]] })
      assert.are.equal(1, r.status, show(r))
      assert.are.equal("sleeper done\n", r.stdout)
      assert.is_true(has(r.stderr, MSG), show(r))
      assert.is_true(r.secs < 5, "took " .. r.secs .. " s")
    end)

    it("is not reported while a sleeping thread can still wake main", function()
      local r = run({ "-e", [[
local green = require "green"
local t = green.spawn(function() green.sleep(0.1) return 7 end)
print(t:wait())
]] })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("7\n", r.stdout)
      assert.are.equal("", r.stderr)
    end)
  end)

  describe("os.exit", function()
    it("os.exit(3) exits with status 3", function()
      local r = run({ "-e", "os.exit(3) print('not reached')" })
      assert.are.equal(3, r.status, show(r))
      assert.are.equal("", r.stdout)
    end)

    it("os.exit(true) exits 0, os.exit(false) exits 1", function()
      assert.are.equal(0, run({ "-e", "os.exit(true)" }).status)
      assert.are.equal(1, run({ "-e", "os.exit(false)" }).status)
    end)

    it("os.exit in a spawned thread ends the process with that status", function()
      local r = run({ "-e", [[
local green = require "green"
green.spawn(function() os.exit(5) end)
green.sleep(10)
]] })
      assert.are.equal(5, r.status, show(r))
      assert.is_true(r.secs < 5, "took " .. r.secs .. " s")
    end)

    it("flushes buffered stdout", function()
      local r = run({ "-e", "io.write('partial') os.exit(0)" }, nil, nil, { pipe = "true" })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("partial", r.stdout)
    end)

    it("os.exit(0, true) closes the main chunk's to-be-closed variables, as lua5.4 does", function()
      local code = "local t <close> = setmetatable({}, {__close = function() print('closed') end}) os.exit(0, true)"
      local l = run_lua({ "-e", code })
      assert.are.equal("closed\n", l.stdout, show(l))
      local r = run({ "-e", code })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("closed\n", r.stdout, show(r))
    end)
  end)

  describe("SIGINT", function()
    it("interrupts a busy main thread as lua5.4 does: 'interrupted!', status 1", function()
      -- the signal is sent only after the script has said it runs, so a slow
      -- start on a loaded machine cannot turn this into a start-up race
      local dir = H.tmp
      local ready = dir .. "/sigint.ready"
      os.remove(ready)
      local code = ("io.open(%q, 'w'):close() while true do end"):format(ready)
      local out = dir .. "/sigint.out"
      local cmd = ("cd %s && { %s -e %s 2>%s & pid=$!; "
        .. "for i in $(seq 1 100); do [ -e %s ] && break; sleep 0.05; done; "
        .. "kill -INT $pid; wait $pid; echo $? >>%s; }")
        :format(q(dir), q(H.bin), q(code), q(out), q(ready), q(out))
      os.execute("timeout 15 sh -c " .. q(cmd))
      local text = H.slurp(out)
      assert.is_true(has(text, "interrupted!"), text)
      assert.is_truthy(text:match("\n1\n$"), text)
    end)
  end)

  describe("REPL on piped stdin (-i)", function()
    it("prints an expression's value", function()
      local r, body = repl("1 + 1\n")
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("2\n\n", body, show(r))
    end)

    it("prints the banner naming greenlua, then the prompt '> '", function()
      local r = run({ "-i" }, "")
      assert.are.equal(0, r.status, show(r))
      local ls = lines(r.stdout)
      assert.is_truthy(ls[1]:find("greenlua", 1, true), show(r))
      assert.is_truthy(ls[1]:find("Lua 5.4", 1, true), show(r))
      assert.are.equal("> ", ls[2], show(r))
    end)

    it("prints several values tab-separated, and nil", function()
      local r, body = repl("1, nil, 'x'\nnil\n")
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("1\tnil\tx\nnil\n\n", body, show(r))
    end)

    it("runs statements and keeps globals between lines", function()
      local r, body = repl("x = 40\nx = x + 2\nprint(x)\nx\n")
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("42\n42\n\n", body, show(r))
    end)

    it("continues an incomplete chunk on the following lines", function()
      local r, body = repl("for i = 1, 2 do\nprint(i) end\nfunction f()\nreturn 'f'\nend\nf()\n")
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("1\n2\nf\n\n", body, show(r))
    end)

    it("prints an error with a traceback and goes on", function()
      local r, body = repl("error('oops')\nprint('after')\n")
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("after\n\n", body, show(r))
      assert.is_true(has(r.stderr, "stdin:1: oops"), show(r))
      assert.is_true(has(r.stderr, "stack traceback"), show(r))
    end)

    it("reports a syntax error and goes on", function()
      local r, body = repl("x = = 1\nprint('after')\n")
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("after\n\n", body, show(r))
      assert.is_true(has(r.stderr, "unexpected symbol"), show(r))
    end)

    it("says '(error object is a table value)' for a table error, as lua5.4", function()
      local r, body = repl("error({})\nprint('after')\n")
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("after\n\n", body, show(r))
      assert.is_true(has(r.stderr, "(error object is a table value)"), show(r))
    end)

    it("uses __tostring of an error object", function()
      local r = repl("error(setmetatable({}, {__tostring = function() return 'custom err' end}))\n")
      assert.are.equal(0, r.status, show(r))
      assert.is_true(has(r.stderr, "custom err"), show(r))
    end)

    it("takes its prompts from _PROMPT and _PROMPT2", function()
      local r = run({ "-i" }, "_PROMPT = 'P> '\n_PROMPT2 = 'C> '\n1\nif true then\nend\n")
      assert.are.equal(0, r.status, show(r))
      assert.is_true(has(r.stdout, "P> 1\nP> C> P> \n"), show(r))
    end)

    it("exits 0 at end of input, after a newline", function()
      local r, body = repl("")
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("\n", body, show(r))
    end)

    it("os.exit(4) at the prompt exits with status 4", function()
      local r, body = repl("print('before')\nos.exit(4)\nprint('after')\n")
      assert.are.equal(4, r.status, show(r))
      assert.are.equal("before\n", body, show(r))
    end)

    it("runs -e first, then the REPL sees its globals", function()
      local r, body = repl("x\n", nil, nil, { "-e", "x = 42", "-i" })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("42\n\n", body, show(r))
    end)

    it("runs the script first, with its arguments, then the REPL", function()
      local s = H.file("pre_repl.lua", "y = ... print('script', ...)\n")
      local r = run({ "-i", s, "arg1" }, "_PROMPT=''\ny\n")
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("script\targ1", lines(r.stdout)[2], show(r))
      assert.is_true(has(r.stdout, "arg1\n\n"), show(r))
    end)

    it("pre-binds the global green and runs lines in a green thread", function()
      local r, body = repl("green == require('green'), green.getcurrent() ~= nil\n")
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("true\ttrue\n\n", body, show(r))
    end)

    it("lets a blocking call at the prompt sleep", function()
      local r, body = repl("green.sleep(0.05) print('woke')\n")
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("woke\n\n", body, show(r))
    end)

    it("keeps spawned green threads running while it waits for input", function()
      -- the thread makes a file when it is done; only then does the next
      -- line come (a wait of at most 10 s): it ran while the REPL waited
      local done = H.path("ticked")
      local r, body = repl("", nil, { pipe = table.concat({
        "echo \"_PROMPT=''\"",
        ("echo 'g=require\"green\"; n=0; g.spawn(function() for i=1,5 do n=n+1 g.sleep(0.02) end "
          .. "io.open(\"%s\", \"w\"):close() end)'"):format(done),
        ("i=0; while [ ! -e %s ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done"):format(q(done)),
        "echo 'print(n)'",
      }, "; ") })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("5\n\n", body, show(r))
    end)
  end)

  describe("make install", function()
    it("installs a binary that works from another directory (library built in)", function()
      local prefix = H.path("prefix")
      local m = H.sh(("timeout 300 make -s -C %s install PREFIX=%s"):format(q(H.repo), q(prefix)))
      assert.are.equal(0, m.status, show(m))
      local r = run({ "-e", "print(require'green'.spawn ~= nil)" }, nil,
        { LUA_PATH = false, LUA_PATH_5_4 = false, LUA_CPATH = false, LUA_CPATH_5_4 = false },
        { bin = prefix .. "/bin/greenlua", cwd = "/" })
      assert.are.equal(0, r.status, show(r))
      assert.are.equal("true\n", r.stdout)
      assert.are.equal("", r.stderr)
    end)
  end)
end)
