-- Hardening of the socket and stream layer (issue 8): nothing a script
-- does to a socket may crash the host, and the stream's limits hold (line
-- length, buffers that shrink, line searches that stay linear). What could
-- crash runs in a child greenlua, so a crash fails one test, not the file.
local green = require "green"
local helpers = require "spec.helpers"
local N = require "spec.net_helpers"
local T = require "spec.tls_helpers"

local asan = (os.getenv("GREENLUA") or (arg and arg[-1]) or ""):match("asan") ~= nil

-- Run a Lua script in a fresh greenlua (from a file: any text survives);
-- returns stdout, stderr, exit status. Bounded by `timeout`.
local function run_script(code, env, limit)
  local dir, cleanup = helpers.tmpdir()
  helpers.write(dir .. "/script.lua", code)
  local cmd = ("cd %s && %s timeout -k 2 %d %s %s/script.lua >%s/out 2>%s/err")
    :format(T.q(os.getenv("PWD") or "."), env or "", limit or 30, T.q(helpers.greenlua()),
            dir, dir, dir)
  local _, _, rc = os.execute(cmd)
  local out, err = T.slurp(dir .. "/out") or "", T.slurp(dir .. "/err") or ""
  cleanup()
  return out, err, rc
end

describe("socket methods and metamethods check their arguments", function()
  after_each(N.run_deferred)

  -- Each line of the child's output is "ok <name>" when calling it raised a
  -- Lua error (as it must), "NO <name>" when it returned.
  local probe = [[
    local green = require "green"
    local l = assert(green.listen("127.0.0.1", 0))
    local mt = getmetatable(l)
    local methods = mt.__index
    local wrong = { io.stdout, "x", 42, {}, print, coroutine.create(print), true, 0/0 }
    local function try(name, f, ...)
      local ok = pcall(f, ...)
      print((ok and "NO " or "ok ") .. name)
    end
    for _, w in ipairs(wrong) do
      try("__tostring", mt.__tostring, w)
      try("__gc", mt.__gc, w)
      try("__close", mt.__close, w)
      for name, f in pairs(methods) do try(name, f, w) end
    end
    print("end")
    os.exit(0)
  ]]

  it("every one, called with a value that is not a socket, raises (never crashes)", function()
    local out, err, rc = run_script(probe)
    assert.equal(0, rc, err)
    assert.matches("\nend\n$", "\n" .. out)
    assert.is_nil(out:find("NO ", 1, true), out)
    local _, n = out:gsub("ok ", "")
    assert.is_true(n >= 8 * 13, out)
  end)

  it("__tostring and __gc on a real socket still work, and __gc twice is harmless", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    local mt = getmetatable(c)
    assert.matches("^tcp socket %(connected%)$", mt.__tostring(c))
    mt.__gc(c)
    mt.__gc(c)
    assert.matches("closed", tostring(c))
  end)

  it("receive, recv and handshake on a wrap_ssl'd listening socket raise", function()
    local out, err, rc = run_script([[
      local green = require "green"
      local T = require "spec.tls_helpers"
      local l = assert(green.listen("127.0.0.1", 0))
      assert(green.wrap_ssl(l, T.server_opts()))
      for _, m in ipairs({ "receive", "recv", "handshake", "send", "shutdown" }) do
        local ok, e = pcall(l[m], l, m == "send" and "x" or nil)
        print(m, ok, e)
      end
      os.exit(0)
    ]])
    assert.equal(0, rc, err)
    for _, m in ipairs({ "receive", "recv", "handshake", "send", "shutdown" }) do
      assert.matches(m .. "\tfalse\t[^\n]*" .. m .. ": ", out, 1)
    end
    assert.matches("receive\tfalse\t[^\n]*listening", out)
    assert.matches("recv\tfalse\t[^\n]*listening", out)
  end)

  it("settimeout(NaN) raises; a huge timeout means none; receive(4.0) is receive(4)", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    assert.is_truthy(helpers.error_of(c.settimeout, c, 0 / 0))
    assert.is_true(c:settimeout(1e300))
    assert(s:send("abcdef"))
    assert.equal("abcd", c:receive(4.0))
    assert.equal("ef", c:recv(2.0))
    assert.is_truthy(helpers.error_of(c.receive, c, 4.5))
    assert.is_truthy(helpers.error_of(c.receive, c, -1))
    assert.is_truthy(helpers.error_of(c.recv, c, 0))
  end)
end)

describe("setoption('max-line', n)", function()
  after_each(N.run_deferred)

  it("a line longer than n: nil, 'line too long', nothing consumed", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    assert.is_true(c:setoption("max-line", 10))
    assert(s:send("0123456789\r\n" .. "0123456789A\nrest\n"))
    assert.equal("0123456789", c:receive())  -- exactly n, CRLF stripped: fine
    local line, err, partial = c:receive("*l")
    assert.is_nil(line)
    assert.equal("line too long", err)
    assert.is_nil(partial)
    -- refused again, and the bytes are still there for a counted read
    assert.same({ nil, "line too long" }, { c:receive() })
    assert.equal("0123456789A\n", c:receive(12))
    assert.equal("rest", c:receive())
    -- no limit again
    assert.is_true(c:setoption("max-line", false))
    assert(s:send(("x"):rep(100) .. "\n"))
    assert.equal(("x"):rep(100), c:receive())
  end)

  it("an endless line is refused as soon as it is too long, not when it ends", function()
    local c, s = N.pair()
    N.defer(function() c:close(); s:close() end)
    c:setoption("max-line", 1000)
    c:settimeout(5)
    local sent = false
    local sender = green.spawn(function()
      s:send(("y"):rep(8 * 1024 * 1024))  -- far more than the kernel buffers hold
      sent = true
    end)
    N.defer(function() if not sender:dead() then sender:kill() end end)
    local line, err = c:receive()
    assert.is_nil(line)
    assert.equal("line too long", err)
    assert.is_false(sent)  -- the sender still waits: the line was never read whole
  end)

  it("is a stream option: Unix sockets have it too; bad values raise", function()
    local dir, cleanup = helpers.tmpdir()
    N.defer(cleanup)
    local l = assert(green.listen_unix(dir .. "/s"))
    N.defer(function() l:close() end)
    local c = assert(green.connect_unix(dir .. "/s"))
    N.defer(function() c:close() end)
    assert.is_true(c:setoption("max-line", 4))
    assert.is_truthy(helpers.error_of(c.setoption, c, "max-line", -1))
    assert.is_truthy(helpers.error_of(c.setoption, c, "max-line", "x"))
    assert.is_truthy(helpers.error_of(c.setoption, c, "max-line", 1.5))
  end)
end)

describe("stream buffers", function()
  after_each(N.run_deferred)

  it("a long line arriving in 1 KB pieces is read in linear time (no rescans)", function()
    -- The CPU this process spends reading a line of n bytes that another
    -- process writes 1 KB at a time, pausing between pieces so that each
    -- arrives on its own. Rescanning the buffer for every piece makes it
    -- quadratic: 8x the bytes cost ~64x; linear, ~8x.
    local function cost(n)
      local l, port = N.listener()
      local py = T.bg(("timeout 60 python3 -c %s %d %d"):format(T.q([[
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
piece = b"z" * 1024
for _ in range(int(sys.argv[2]) // 1024):
    s.sendall(piece)
    time.sleep(0.0002)
s.sendall(b"\n")
s.recv(1)
]]), port, n))
      N.defer(function() py:stop() end)
      l:settimeout(10)
      local c = assert(l:accept())
      l:close()
      c:settimeout(60)
      local t0 = os.clock()
      local line, err = c:receive()
      local dt = os.clock() - t0
      c:close()
      assert.equal(n, line and #line, tostring(err) .. "\n" .. py:describe())
      return dt
    end
    local small = math.min(cost(1024 * 1024), cost(1024 * 1024))
    local big = cost(8 * 1024 * 1024)
    assert.is_true(big < 20 * small + 0.05,
      ("1 MB line: %.3f s CPU, 8 MB: %.3f s (ratio %.1f)"):format(small, big, big / small))
  end)

  it("after a 64 MB burst the buffer is given back (RSS falls again)", function()
    -- in a child: under ASan, freed memory is quarantined unless told not to
    local out, err, rc = run_script([[
      local green = require "green"
      local N = require "spec.net_helpers"
      local c, s = N.pair()
      collectgarbage()
      local before = N.rss_kb()
      local size = 64 * 1024 * 1024
      local sender = green.spawn(function() assert(s:send(("b"):rep(size))) end)
      local got = c:receive(size)
      assert(#got == size)
      sender:wait()
      got, sender = nil, nil
      for _ = 1, 3 do collectgarbage() end
      local after = N.rss_kb()
      print(before, after)
      os.exit(0)
    ]], asan and "ASAN_OPTIONS=quarantine_size_mb=0:detect_leaks=0" or "")
    assert.equal(0, rc, err)
    local before, after = out:match("(%d+)%s+(%d+)")
    before, after = tonumber(before), tonumber(after)
    assert.is_truthy(before, out .. err)
    assert.is_true(after < before + 24 * 1024,
      ("RSS %d kB before the burst, %d kB after it"):format(before, after))
  end)
end)
