-- green.hub.wait / wait_readable / wait_writable (API.md, "anything with a
-- file descriptor"): green waits on raw fds, here those of Debian's real,
-- blocking LuaSocket C module used non-blocking (the trampoline case).
local green = require "green"

local REAL = "/usr/lib/x86_64-linux-gnu/lua/5.4/socket/core.so"
local real = assert(package.loadlib(REAL, "luaopen_socket_core"))()

-- A connected pair of real LuaSocket sockets, non-blocking.
local function pair()
  local srv = assert(real.tcp())
  assert(srv:bind("127.0.0.1", 0))
  assert(srv:listen())
  local _, port = srv:getsockname()
  local c = assert(real.tcp())
  c:settimeout(0)
  c:connect("127.0.0.1", port)
  srv:settimeout(0)
  local a
  for _ = 1, 100 do
    a = srv:accept()
    if a then break end
    green.hub.wait(srv, "r", 1)
  end
  srv:close()
  assert(a, "accept")
  a:settimeout(0)
  return c, a
end

describe("green.hub.wait", function()
  it("is green.hub's, with the short names", function()
    assert.equal("function", type(green.hub.wait))
    assert.equal("function", type(green.hub.wait_readable))
    assert.equal("function", type(green.hub.wait_writable))
  end)

  it("waits for readability while other threads run", function()
    local c, a = pair()
    local order = {}
    local t = green.spawn(function()
      order[#order + 1] = "waiting"
      local r = green.hub.wait(a:getfd(), "r", 5)
      order[#order + 1] = r
      return a:receive(5)
    end)
    green.sleep(0)
    order[#order + 1] = "send"
    c:send("hello")
    assert.equal("hello", t:wait())
    assert.same({ "waiting", "send", "r" }, order)
    c:close(); a:close()
  end)

  it("takes an object with getfd()", function()
    local c, a = pair()
    assert.equal("w", green.hub.wait(c, "w", 1))
    assert.equal("w", green.hub.wait_writable(c, 1))
    c:send("x")
    assert.equal("r", green.hub.wait_readable(a, 1))
    assert.equal("rw", green.hub.wait(a, "rw", 1))
    c:close(); a:close()
  end)

  it("times out with nil, 'timeout'", function()
    local c, a = pair()
    local n = green.stats().switches
    local r, err = green.hub.wait(a, "r", 0.1)
    assert.is_nil(r); assert.equal("timeout", err)
    assert.is_nil(green.hub.wait_readable(a:getfd(), 0))
    assert.is_true(green.stats().switches > n)
    c:close(); a:close()
  end)

  it("gives nil, 'closed' for a closed object or fd", function()
    local c, a = pair()
    a:close()
    local r, err = green.hub.wait(a, "r", 1)
    assert.is_nil(r); assert.equal("closed", err)
    c:close()
  end)

  it("raises for a second waiter in the same direction, not the other", function()
    local c, a = pair()
    local t = green.spawn(function() return green.hub.wait(a, "r", 5) end)
    green.sleep(0)
    local ok, err = pcall(green.hub.wait, a, "r", 1)
    assert.is_false(ok)
    assert.matches("another green thread is waiting to read fd " .. math.tointeger(a:getfd()), err)
    assert.equal("w", green.hub.wait(a, "w", 1))
    c:send("x")
    assert.equal("r", t:wait())
    c:close(); a:close()
  end)

  it("leaves no waiter behind when killed or timed out", function()
    local c, a = pair()
    local t = green.spawn(function() return green.hub.wait(a, "r") end)
    green.sleep(0)
    t:kill()
    assert.is_nil(green.hub.wait(a, "r", 0.05))  -- not "another green thread"
    local ok = pcall(function()
      local to <close> = green.Timeout(0.05)
      green.hub.wait(a, "r")
    end)
    assert.is_false(ok)
    c:send("y")
    assert.equal("r", green.hub.wait(a, "r", 1))
    c:close(); a:close()
  end)

  it("a waiter woken and then killed before it runs leaves nothing behind", function()
    local c, a = pair()
    for _ = 1, 20 do
      local t = green.spawn(function() return green.hub.wait(a, "r", 5) end)
      green.sleep(0)
      c:send("x")
      green.sleep(0)  -- the hub polls: t may be woken, not yet run
      t:kill()
      assert.equal("r", green.hub.wait(a, "r", 1))
      assert.equal("x", a:receive(1))
    end
    c:close(); a:close()
  end)

  it("checks its arguments", function()
    assert.has_error(function() green.hub.wait(0, "x") end,
      "bad argument #2 to 'wait' (mode must be \"r\", \"w\" or \"rw\")")
    assert.has_error(function() green.hub.wait("x", "r") end)
    assert.has_error(function() green.hub.wait(-1, "r") end)
    assert.has_error(function() green.hub.wait(1.5, "r") end)
    assert.has_error(function() green.hub.wait_readable(0, "soon") end)
    assert.has_error(function() green.hub.wait({}, "r") end)
  end)

  it("refuses an fd libuv watches already", function()
    -- a green.net listener whose accept is waiting: libuv polls its fd
    local srv = green.listen("127.0.0.1", 0)
    local t = green.spawn(function() srv:accept() end)
    green.sleep(0)
    local fd = srv:getfd()
    assert.is_truthy(math.type(fd) == "integer" and fd > 2)
    local ok, err = pcall(green.hub.wait, fd, "r", 0.05)
    assert.is_false(ok)
    assert.matches("watched by the host already", err)
    t:kill(); srv:close()
  end)

  it("is in the registry for C modules as greenlua.wait", function()
    assert.equal("function", type(debug.getregistry()["greenlua.wait"]))
  end)
end)
