-- Hardening of the command, the console and --connect (issue 8): what a
-- child inherits from greenlua, the terminal left as it was found on every
-- way out, --connect's framing, the command line's edges, and the console
-- functions' argument checks. Every process runs under `timeout`; terminals
-- are tmux panes on a private server, killed after each test.
local green = require "green"
local C = require "spec.console_helpers"

local H = C.H
local run, show = H.run, H.show

local function has(s, needle) return s:find(needle, 1, true) ~= nil end

local function have(tool)
  return os.execute("command -v " .. tool .. " >/dev/null 2>&1") == true
end

teardown(H.cleanup)  -- the temp dir, once every describe below is done

describe("children of greenlua", function()

  it("get SIGPIPE at its default: `yes | head -n1` says nothing on stderr", function()
    local r = run({ "-e", "io.stdout:write(tostring(os.execute('yes | head -n1')), '\\n')" })
    assert.are.equal(0, r.status, show(r))
    assert.are.equal("y\ntrue\n", r.stdout, show(r))
    assert.are.equal("", r.stderr, show(r))
  end)

  it("get SIGPIPE at its default: not in the ignored mask, and a SIGPIPE ends them", function()
    local r = run({ "-e", [[
local p = io.popen("sh -c 'grep SigIgn /proc/$$/status; kill -PIPE $$; echo survived'")
io.stdout:write(p:read("a"))
p:close()
]] })
    assert.are.equal(0, r.status, show(r))
    local mask = r.stdout:match("SigIgn:%s*(%x+)")
    assert.is_truthy(mask, show(r))
    assert.are.equal(0, tonumber(mask:sub(-8), 16) & (1 << 12), "SIGPIPE ignored in the child\n" .. show(r))
    assert.is_falsy(has(r.stdout, "survived"), show(r))
  end)

  it("while greenlua itself still sees a closed pipe as an I/O error, not death", function()
    local r = run({ "-e", [[
local f = io.popen("true", "w")
green = require "green"
green.sleep(0.2)                 -- the reader is gone
local ok, err
for _ = 1, 100 do                -- more than the pipe buffer holds
  ok, err = f:write(("x"):rep(65536))
  if not ok then break end
  ok, err = f:flush()
  if not ok then break end
end
print(ok, err)
]] })
    assert.are.equal(0, r.status, show(r))
    assert.is_truthy(has(r.stdout, "Broken pipe"), show(r))
  end)
end)

describe("the terminal, however the process ends while a prompt is up", function()
  after_each(C.run_deferred)

  local it_tmux = (have("tmux") and have("bash") and have("stty")) and it
    or function(name) pending(name .. " (needs tmux, bash and stty)") end

  -- greenlua `args` in a terminal; it first writes its pid to a file. When
  -- it has ended, the same pane runs `stty -a` into another file, and the
  -- pane's status is greenlua's. t:go() creates the file the scripts below
  -- wait for before they end the process.
  local function terminal(args)
    local home = C.dir("home")
    local pidf, sttyf, gof = home .. "/pid", home .. "/stty", home .. "/go"
    local pid_code = ("local f = io.open(%q, 'w') f:write(io.open('/proc/self/stat'):read('l'):match('%%d+')) f:close() GO = %q")
      :format(pidf, gof)
    local words = ("%s -e %s %s; rc=$?; stty -a >%s 2>&1; (exit $rc)")
      :format(C.q(C.bin), C.q(pid_code), args, C.q(sttyf))
    local t = C.tmux(words, home)
    C.defer(function() t:kill() end)
    function t.pid() return tonumber(H.slurp(pidf)) end
    function t.stty() return H.slurp(sttyf) end
    function t.go() H.write(gof, "go\n") end
    function t.ended()
      assert.is_truthy(C.poll(function() return t:dead() ~= nil and t.stty() ~= "" end, 5),
        "still running\n" .. t:show())
      return t:dead()
    end
    return t
  end

  -- What `stty -a` printed says canonical mode and echo (not -icanon, -echo).
  local function assert_cooked(t)
    local flags = {}
    for w in t.stty():gmatch("%S+") do flags[w] = true end
    assert.is_true(flags.icanon and flags.echo or false,
      "the terminal was left in raw mode:\n" .. t.stty() .. "\n" .. t:show())
  end

  -- A line for the REPL: a thread that waits for t.go(), then runs `code`.
  local function on_go(code)
    return ("green.spawn(function() while not io.open(GO) do green.sleep(0.05) end %s end)"):format(code)
  end

  it_tmux("os.exit(3) from a green thread", function()
    local t = terminal("-i")
    assert.is_true(t:wait_prompt(), t:show())
    t:line(on_go("os.exit(3)"))
    assert.is_true(t:wait_for(function() return t:last_line() == ">" end), t:show())
    t.go()
    assert.are.equal(3, t.ended(), t:show())
    assert_cooked(t)
  end)

  it_tmux("os.exit(4, true) from a green thread (the hub closes the threads)", function()
    local t = terminal("-i")
    assert.is_true(t:wait_prompt(), t:show())
    t:line(on_go("os.exit(4, true)"))
    assert.is_true(t:wait_for(function() return t:last_line() == ">" end), t:show())
    t.go()
    assert.are.equal(4, t.ended(), t:show())
    assert_cooked(t)
  end)

  it_tmux("SIGTERM: the graceful stop (exit 0), and the terminal is restored", function()
    local t = terminal("-i")
    assert.is_true(t:wait_prompt(), t:show())
    C.kill(t.pid(), "TERM")
    assert.are.equal(0, t.ended(), t:show())
    assert_cooked(t)
  end)

  it_tmux("SIGHUP (the terminal went away): restored, and death by SIGHUP", function()
    local t = terminal("-i")
    assert.is_true(t:wait_prompt(), t:show())
    C.kill(t.pid(), "HUP")
    assert.are.equal(128 + 1, t.ended(), t:show())
    assert_cooked(t)
  end)

  it_tmux("an uncaught error in main while another thread's prompt is up", function()
    local t = terminal("-e " .. C.q("green = require 'green' green.spawn(require('green.repl').console) "
      .. "while not io.open(GO) do green.sleep(0.05) end error('main boom')"))
    assert.is_true(t:wait_prompt(), t:show())
    t.go()
    assert.are.equal(1, t.ended(), t:show())
    assert.is_truthy(has(t:screen(), "main boom"), t:show())
    assert_cooked(t)
  end)
end)

describe("greenlua --connect", function()
  after_each(C.run_deferred)

  -- One target process: a backdoor, and an echo server (not a backdoor).
  local TARGET = [[
local l = assert(green.listen("127.0.0.1", 0))
green.spawn(green.backdoor.backdoor_server, l)
local e = assert(green.listen("127.0.0.1", 0))
green.spawn(green.serve, e, function(c) for line in c:lines() do c:send(line .. "\n") end end)
ready({ port = select(2, l:getsockname()), echo = select(2, e:getsockname()) })
green.sleep(28)
]]
  local target
  local function port()
    target = target or C.start_target(TARGET, 30)
    return target.info.port
  end
  teardown(function()
    if target then target.stop() end
  end)

  -- The client's output after the banner line.
  local function body(r) return (r.stdout:gsub("^[^\n]*\n", "", 1)) end

  -- The same text made here and in the session: 1 MB of short pieces, some
  -- lines ending in "> ", some pieces split by newlines.
  local GEN = "function gen() local t = {} for i = 1, 125000 do t[i] = ('%06d> '):format(i) "
    .. ".. (i % 7 == 0 and '\\n' or '') end return table.concat(t) end"
  local gen = load(GEN .. " return gen()")

  it("shows 1 MB printed in a session, every byte in order, and goes on", function()
    local expected = gen()
    assert.is_true(#expected > 1000000)
    local r = run({ "--connect", "127.0.0.1:" .. port() }, GEN .. "\nprint(gen())\nprint('after')\n",
      nil, { timeout = 30 })
    assert.are.equal(0, r.status, H.show({ cmd = r.cmd, status = r.status, stdout = r.stdout:sub(1, 300), stderr = r.stderr }))
    local got = body(r)
    assert.are.equal(#expected + #"\nafter\n", #got)
    assert.is_true(got == expected .. "\nafter\n", "the output differs")
    assert.are.equal("", r.stderr)
  end)

  it("does not take output that ends like a prompt for one, wherever a read splits it", function()
    local input, expected = {}, {}
    for _, n in ipairs({ 1, 100, 4094, 4095, 8190, 16382, 65533, 65534, 65535, 65536, 131070 }) do
      input[#input + 1] = ("print(('a'):rep(%d) .. '> ')"):format(n)
      input[#input + 1] = "print('>> ')"
      expected[#expected + 1] = ("a"):rep(n) .. "> \n>> \n"
    end
    input[#input + 1] = "print('last')"
    expected[#expected + 1] = "last\n"
    local r = run({ "--connect", "127.0.0.1:" .. port() }, table.concat(input, "\n") .. "\n", nil, { timeout = 20 })
    assert.are.equal(0, r.status, r.stderr)
    assert.is_true(body(r) == table.concat(expected), "the output differs:\n" .. body(r):sub(1, 400))
  end)

  it("keeps each print whole while threads of the session print at once", function()
    -- the large print waits for the reader (16 MB is more than the kernel
    -- buffers hold), the ticker prints meanwhile; the client reads late
    local s = assert(C.session(port()))
    C.defer(function() s:close() end)
    assert.is_truthy(s:send("ticker = green.spawn(function() for i = 1, 50 do print('tick ' .. i) green.sleep(0) end end) "
      .. "print(('x'):rep(16 * 1024 * 1024)) ticker:wait() print('done')"))
    green.sleep(0.3)
    local parts, tail = {}, ""
    local deadline = green.now() + 30
    for _ = 1, 100000 do
      if tail:sub(-7) == "done\n> " or green.now() > deadline then break end
      s.sock:settimeout(10)
      local data, err = s.sock:recv(1024 * 1024)
      assert(data, err)
      parts[#parts + 1] = data
      tail = (tail .. data):sub(-16)
    end
    local got = table.concat(parts):gsub("> $", "")
    local big = ("x"):rep(16 * 1024 * 1024) .. "\n"
    local at = got:find(big, 1, true)
    assert.is_truthy(at, "the large print was cut or interleaved")
    local rest = got:sub(1, at - 1) .. got:sub(at + #big)
    local ticks = {}
    for i = 1, 50 do ticks[i] = "tick " .. i .. "\n" end
    assert.are.equal(table.concat(ticks) .. "done\n", rest)
    assert.is_falsy(has(target.err(), "another green thread"), target.err())
  end)

  it("shows a prompt with a NUL byte to plain clients as \\0, and frames stay exact", function()
    local r = run({ "--connect", "127.0.0.1:" .. port() }, "_PROMPT = 'a\\0b> '\nprint('x\\0y')\n")
    assert.are.equal(0, r.status, show(r))
    assert.are.equal("x\0y\n", body(r), show(r))
    local s = assert(C.session(port()))
    C.defer(function() s:close() end)
    -- what comes until it ends with `suffix` (at most 5 s)
    local function upto(suffix)
      local got = ""
      C.poll(function()
        s.sock:settimeout(0.05)
        local data, _, part = s.sock:recv(65536)
        got = got .. (data or part or "")
        return got:sub(-#suffix) == suffix
      end, 5, 0.01)
      return got
    end
    assert.is_truthy(s:send("_PROMPT = 'a\\0b> '"))
    assert.are.equal("a\\0b> ", upto("> "))
    assert.is_truthy(s:send("1"))
    assert.are.equal("1\na\\0b> ", upto("> "))
  end)

  it("a server that is not a backdoor: a message on stderr, status 1", function()
    port()
    local r = run({ "--connect", "127.0.0.1:" .. target.info.echo }, "1\n")
    assert.are.equal(1, r.status, show(r))
    assert.is_truthy(has(r.stderr, "not a greenlua backdoor"), show(r))
  end)

  it("a bad address: a message on stderr, status 1", function()
    for _, address in ipairs({ "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "host:port" }) do
      local r = run({ "--connect", address }, "1\n")
      assert.are.equal(1, r.status, show(r))
      assert.is_truthy(has(r.stderr, "expected HOST:PORT"), show(r))
    end
  end)
end)

describe("the command line's edges", function()

  local function usage_error(r, first)
    assert.are.equal(1, r.status, show(r))
    assert.are.equal("", r.stdout, show(r))
    assert.is_true(r.stderr:sub(1, #first + 1) == first .. "\n", show(r))
    assert.is_truthy(has(r.stderr, "\nusage: "), show(r))
  end

  it("an option's missing value names the option as typed, as lua does", function()
    usage_error(run({ "-e" }), "greenlua: '-e' needs argument")
    usage_error(run({ "-e", "-x" }), "greenlua: '-e' needs argument")
    usage_error(run({ "-l", "-" }), "greenlua: '-l' needs argument")
    usage_error(run({ "-c" }), "greenlua: '-c' needs argument")
    usage_error(run({ "--connect" }), "greenlua: '--connect' needs argument")
  end)

  it("an unknown option is refused before anything runs, even after good ones", function()
    usage_error(run({ "-e", "print('ran')", "-x" }), "greenlua: unrecognized option '-x'")
    usage_error(run({ "--connect=127.0.0.1:1" }), "greenlua: unrecognized option '--connect=127.0.0.1:1'")
    usage_error(run({ "-vi" }), "greenlua: unrecognized option '-vi'")
    usage_error(run({ "-W2" }), "greenlua: unrecognized option '-W2'")
  end)

  it("- runs stdin with the following arguments; -- - runs a file named '-', as lua does", function()
    local r = run({ "-e", "x = 5", "-", "a" }, "print('stdin', x, ...)\n")
    assert.are.equal(0, r.status, show(r))
    assert.are.equal("stdin\t5\ta\n", r.stdout, show(r))
    H.file("-", "print('the file', ...)\n")
    local g, l = run({ "--", "-", "b" }, "print('stdin')\n"), H.run_lua({ "--", "-", "b" }, "print('stdin')\n")
    assert.are.equal(0, g.status, show(g))
    assert.are.equal("the file\tb\n", g.stdout, show(g))
    assert.are.equal(l.stdout, g.stdout)
  end)

  it("gives what lua gives for empty -e, repeated -v, late -W and options after the script", function()
    local s = H.file("after.lua", "print(...)\n")
    for _, args in ipairs({
      { "-e", "" }, { "-e", "warn('a')", "-W", "-e", "warn('b')" }, { s, "-e", "x", "--", "-" },
      { "-lstring", "-e", "print(string ~= nil)" }, { "-W", "-E", "-e", "print(1)" },
    }) do
      local g, l = run(args), H.run_lua(args)
      assert.are.equal(l.status, g.status, show(g))
      assert.are.equal(l.stdout, g.stdout, show(g))
      assert.are.equal(l.stderr, g.stderr, show(g))
    end
    local g = run({ "-v", "-v" })
    assert.are.equal(0, g.status, show(g))
    assert.are.equal(1, select(2, g.stdout:gsub("\n", "")), show(g))
  end)

  it("-c takes its address attached too", function()
    local r = run({ "-c127.0.0.1:1" }, "1\n")
    assert.are.equal(1, r.status, show(r))
    assert.is_truthy(has(r.stderr, "cannot connect to 127.0.0.1:1"), show(r))
  end)
end)

describe("the Makefile's Debian packages", function()
  -- Fake dpkg-query (nothing installed), id and apt-get first on PATH, and
  -- stamps in a temp dir: make says what it would install, installs nothing.
  local function make(target, uid, stamps_ready)
    local bin = C.dir("fakebin")
    local stamps = C.dir("stamps")
    H.write(bin .. "/dpkg-query", "#!/bin/sh\nexit 1\n")
    H.write(bin .. "/id", ("#!/bin/sh\necho %d\n"):format(uid or 1000))
    H.write(bin .. "/apt-get", "#!/bin/sh\necho \"apt-get $*\" >&2\nexit 0\n")
    assert(os.execute("chmod +x " .. C.q(bin) .. "/*"))
    if stamps_ready then H.write(stamps .. "/.deps", "") end
    return H.sh(("PATH=%s:$PATH timeout 120 make -s -C %s %s STAMPS=%s 2>&1")
      :format(C.q(bin), C.q(H.repo), target, C.q(stamps)))
  end
  local BUILD = "build-essential pkg-config lua5.4 liblua5.4-dev libuv1-dev libssl-dev libedit-dev node-llhttp"

  it("make run asks only for what building needs, and stops before building", function()
    local r = make("run")
    assert.are_not.equal(0, r.status, show(r))
    assert.is_truthy(has(r.stdout, "missing Debian packages; run:\n  sudo apt-get install -y " .. BUILD .. "\n"), show(r))
    for _, tool in ipairs({ "lua-busted", "tmux", "socat", "curl", "hyperfine", "python3" }) do
      assert.is_falsy(has(r.stdout, tool), tool .. " asked for by make run\n" .. show(r))
    end
  end)

  -- The packages a target's recipes check: `make -n` prints them, runs nothing.
  local function checked(target)
    local r = make("-n " .. target, 1000, true)
    assert.are.equal(0, r.status, show(r))
    local lists = {}
    for list in r.stdout:gmatch("for p in ([^;]*); do") do lists[#lists + 1] = list end
    return table.concat(lists, " "), r
  end

  it("make test and make sanitize ask for the test tools, make bench for hyperfine", function()
    local r = make("test-deps", 1000, true)
    assert.are_not.equal(0, r.status, show(r))
    local line = r.stdout:match("sudo apt%-get install %-y([^\n]*)")
    assert.is_truthy(line, show(r))
    for _, target in ipairs({ "test", "sanitize" }) do
      local list, rn = checked(target)
      assert.are.equal(line:gsub("^ ", ""), list, show(rn))
    end
    for _, tool in ipairs({ "lua-busted", "tmux", "socat", "curl", "python3", "netcat-openbsd", "procps" }) do
      assert.is_truthy(has(line, tool), tool .. " missing\n" .. show(r))
    end
    assert.is_falsy(has(line, "hyperfine"), show(r))
    assert.is_truthy(has(checked("bench"), "hyperfine"))
  end)

  it("as root it installs them with apt-get instead", function()
    local r = make("deps", 0)
    assert.are.equal(0, r.status, show(r))
    assert.is_truthy(has(r.stdout, "installing: " .. BUILD), show(r))
    assert.is_truthy(has(r.stdout, "apt-get install -y -qq " .. BUILD), show(r))
  end)
end)

describe("the examples' usage lines", function()
  after_each(C.run_deferred)

  local FILES = { "scripts/demo.lua", "scripts/examples/backdoor_server.lua", "scripts/examples/chat_server.lua",
    "scripts/examples/echo_server.lua", "scripts/examples/port_forwarder.lua", "scripts/examples/tls_echo_server.lua" }

  it("name scripts that exist and give --connect a HOST:PORT", function()
    local seen = 0
    for _, f in ipairs(FILES) do
      local text = H.slurp(H.repo .. "/" .. f)
      assert.is_true(#text > 0, f)
      for script in text:gmatch("build/greenlua (scripts/%S+%.lua)") do
        assert.is_true(#H.slurp(H.repo .. "/" .. script) > 0, f .. " names " .. script)
      end
      for address in text:gmatch("greenlua %-%-connect (%S+)") do
        seen = seen + 1
        assert.is_truthy(address:match("^[%w.]+:%S+$"), f .. ": --connect " .. address)
      end
    end
    assert.is_true(seen >= 3)
  end)

  it("backdoor_server.lua: the --connect line it prints gets in", function()
    local h = C.background(("cd %s && exec %s scripts/examples/backdoor_server.lua 0 0")
      :format(C.q(H.repo), C.q(C.bin)), 20)
    C.defer(h.stop)
    local line = C.poll(function() return h.out():match("look inside: (build/greenlua %-%-connect %S+)") end, 8)
    assert.is_truthy(line, h.out() .. h.err())
    local address = line:match("%-%-connect (%S+)")
    local r = run({ "--connect", address }, "app.words\n")
    assert.are.equal(0, r.status, show(r))
    assert.are.equal("0\n", (r.stdout:gsub("^[^\n]*\n", "", 1)), show(r))
  end)

  it("doc/api.md says what still blocks the process", function()
    local doc = H.slurp(H.repo .. "/doc/api.md")
    assert.is_falsy(has(doc, "nothing blocks the process"))
    for _, name in ipairs({ "os.execute", "io.popen", "io.read", "LuaSocket" }) do
      assert.is_truthy(has(doc, name), name)
    end
  end)
end)

describe("the console functions' arguments", function()
  local core = require "green.core"
  local backdoor = require "green.backdoor"
  local repl = require "green.repl"
  local connect = require "green.connect"

  local function err_of(fn, ...)
    local ok, err = pcall(fn, ...)
    assert.is_false(ok, "no error")
    return tostring(err)
  end

  it("readline, console_write and history raise naming themselves, for every wrong type", function()
    for _, bad in ipairs({ {}, true, print, coroutine.create(print), io.stdout }) do
      local t = type(bad)
      assert.are.equal("bad argument #1 to 'readline' (string expected, got " .. t .. ")", err_of(core.readline, bad))
      assert.are.equal("bad argument #1 to 'console_write' (string expected, got " .. t .. ")", err_of(core.console_write, bad))
      assert.are.equal("bad argument #1 to 'history' (string expected, got " .. t .. ")", err_of(core.history, bad))
    end
    assert.are.equal("bad argument #1 to 'history' (path contains a zero byte)", err_of(core.history, "a\0b"))
  end)

  it("readline where it cannot wait raises before it shows its prompt or reads", function()
    local r = run({ "-e", [[
local core = require "green.core"
local msg
table.sort({ 1, 2 }, function() msg = select(2, pcall(core.readline, "PROMPT> ")) return false end)
io.stderr:write(msg, "\n")
io.stdout:write(core.readline("real> "), "\n")
]] }, nil, nil, { pipe = "echo typed" })
    assert.are.equal(0, r.status, show(r))
    assert.are.equal("real> typed\n", r.stdout, show(r))
    assert.is_truthy(has(r.stderr, "readline: cannot block here"), show(r))
  end)

  it("a second reader raises while the first waits, and the first gets the line", function()
    local r = run({ "-e", [[
local core, green = require "green.core", require "green"
local first = green.spawn(core.readline, "")
green.sleep(0.05)
print(pcall(core.readline, ""))
print("first:", first:wait())
]] }, nil, nil, { pipe = "sleep 0.5; echo the-line" })
    assert.are.equal(0, r.status, show(r))
    assert.are.equal("false\treadline: another green thread is reading stdin\nfirst:\tthe-line\n", r.stdout, show(r))
  end)

  it("backdoor_server, backdoor, repl.run and the connect pieces check theirs", function()
    local l = assert(green.listen("127.0.0.1", 0))
    local closed = assert(green.listen("127.0.0.1", 0))
    closed:close()
    local u = assert(green.udp())
    local cases = {
      { backdoor.backdoor_server, { 1 }, "bad argument #1 to 'backdoor_server' (stream socket expected, got number)" },
      { backdoor.backdoor_server, { u }, "bad argument #1 to 'backdoor_server' (stream socket expected, got userdata)" },
      { backdoor.backdoor_server, { closed }, "bad argument #1 to 'backdoor_server' (socket is closed)" },
      { backdoor.backdoor_server, { l, 5 }, "bad argument #2 to 'backdoor_server' (table or nil expected, got number)" },
      { backdoor.backdoor_server, { l, nil, "x" }, "bad argument #3 to 'backdoor_server' (table or nil expected, got string)" },
      { backdoor.backdoor_server, { l, nil, { concurrency = 0 } }, "bad argument #3 to 'backdoor_server' (opts.concurrency: positive integer expected)" },
      { backdoor.backdoor, { nil }, "bad argument #1 to 'backdoor' (stream socket expected, got nil)" },
      { backdoor.backdoor, { l, "127.0.0.1", 1, 7 }, "bad argument #4 to 'backdoor' (table or nil expected, got number)" },
      { repl.run, { nil }, "bad argument #1 to 'run' (table expected, got nil)" },
      { repl.run, { { read = print, print = print, error = print } }, "bad argument #1 to 'run' (field 'env': table expected, got nil)" },
      { repl.run, { { print = print, error = print, env = {} } }, "bad argument #1 to 'run' (field 'read': function expected, got nil)" },
      { connect.open, { 5 }, "bad argument #1 to 'open' (string expected, got number)" },
      { connect.frame, { {} }, "bad argument #1 to 'frame' (stream socket expected, got table)" },
      { connect.handshake, { l, "x" }, "bad argument #2 to 'handshake' (number expected, got string)" },
      { connect.run, { false }, "bad argument #1 to 'run' (string expected, got boolean)" },
    }
    for i, case in ipairs(cases) do
      assert.are.equal(case[3], err_of(case[1], table.unpack(case[2], 1, 4)), "case " .. i)
    end
    u:close()
    l:close()
  end)
end)
