-- The green socket.unix (host/luasocket/unix.c): the module as 3.1.0 ships
-- it, stream and dgram objects with every method, results and strings as
-- Debian's LuaSocket under lua5.4 gives them (line for line), and green
-- waits for accept, receive and send.
local green = require "green"
local diff = require "spec.luasocket_diff_helpers"
local unix = require "socket.unix"

describe("green socket.unix", function()
  it("matches Debian's LuaSocket method for method, line for line", function()
    local d1, rm1 = diff.tmpdir()
    local d2, rm2 = diff.tmpdir()
    -- each run gets its own directory; the scripts print it as DIR
    local ok, err = pcall(function()
      local helpers = require "spec.helpers"
      local function run(cmd)
        local p = assert(io.popen(cmd)); local out = p:read("a"); p:close(); return out
      end
      local ref = run("timeout 60 lua5.4 spec/luasocket_unix_diff.lua " .. helpers.quote(d1) .. " 2>&1")
      local got = run("timeout 60 " .. helpers.quote(helpers.greenlua()) ..
        " spec/luasocket_unix_diff.lua " .. helpers.quote(d2) .. " 2>&1")
      local r, g = {}, {}
      for l in ref:gmatch("[^\n]*") do r[#r + 1] = l end
      for l in got:gmatch("[^\n]*") do g[#g + 1] = l end
      assert(#r > 90, "lua5.4 with Debian's LuaSocket did not run: " .. ref)
      for i = 1, math.max(#r, #g) do assert.equal(r[i], g[i], "line " .. i) end
    end)
    rm1() rm2()
    assert(ok, err)
  end)

  it("accepts and receives green: the client runs while the server waits", function()
    local dir, rm = diff.tmpdir()
    local path = dir .. "/s.sock"
    local srv = assert(unix.stream())
    assert(srv:bind(path))
    assert(srv:listen())
    srv:settimeout(5)
    local order = {}
    local server = green.spawn(function()
      local c = assert(srv:accept())
      order[#order + 1] = "accepted"
      c:settimeout(5)
      local line = c:receive()
      order[#order + 1] = "line " .. tostring(line)
      c:send("bye\n")
      c:close()
    end)
    green.sleep(0)
    order[#order + 1] = "connecting"
    local cl = assert(unix.stream())
    assert.equal(1, cl:connect(path))
    green.sleep(0.05)
    order[#order + 1] = "sending"
    cl:send("hi\n")
    cl:settimeout(5)
    assert.equal("bye", cl:receive())
    server:wait()
    assert.same({"connecting", "accepted", "sending", "line hi"}, order)
    cl:close() srv:close()
    rm()
  end)

  it("receives datagrams green, and a killed receive leaves nothing behind", function()
    local dir, rm = diff.tmpdir()
    local p1, p2 = dir .. "/a.sock", dir .. "/b.sock"
    local a, b = assert(unix.dgram()), assert(unix.dgram())
    assert(a:bind(p1)) assert(b:bind(p2))
    local t = green.spawn(function() return b:receive() end)
    green.sleep(0)
    t:kill()
    local reader = green.spawn(function() b:settimeout(5); return b:receivefrom() end)
    green.sleep(0)
    assert.equal(4, a:sendto("ping", p2))
    local d, from = reader:wait()
    assert.equal("ping", d)
    assert.equal(p1, from)
    b:settimeout(0.1)
    local t0 = green.now()
    assert.same({nil, "timeout"}, {b:receive()})
    assert.is_true(green.now() - t0 >= 0.09)
    a:close() b:close()
    rm()
  end)

  it("waits green in sendto and send while the receiver's queue is full", function()
    local dir, rm = diff.tmpdir()
    local path = dir .. "/r.sock"
    local r = assert(unix.dgram())
    assert(r:bind(path))
    local s = assert(unix.dgram())
    s:settimeout(0)
    local n = 0
    for _ = 1, 100000 do
      if not s:sendto(string.rep("x", 1000), path) then break end
      n = n + 1
    end
    assert.is_true(n > 0 and n < 100000, "queue never filled: " .. n)
    assert.same({nil, "timeout"}, {s:sendto("x", path)})
    s:settimeout(5)
    local order = {}
    local sender = green.spawn(function()
      local sent = s:sendto("last", path)
      order[#order + 1] = "sent " .. tostring(sent)
    end)
    -- poll() cannot see the receiver's queue: the sender backs off on a
    -- timer instead of spinning on a writable fd (hundreds of switches)
    local switches = green.stats().switches
    green.sleep(0.2)
    local spent = green.stats().switches - switches
    assert.is_true(spent < 40, "the waiting sender spun: " .. spent .. " switches")
    order[#order + 1] = "draining"
    r:settimeout(1)
    for _ = 1, n do assert(r:receive()) end
    sender:wait()
    assert.same({"draining", "sent 4.0"}, order)
    assert.equal("last", r:receive())
    -- a connected sender waiting when the receiver goes away
    local c = assert(unix.dgram())
    assert(c:connect(path))
    c:settimeout(0)
    for _ = 1, 100000 do
      if not c:send(string.rep("y", 1000)) then break end
    end
    c:settimeout(5)
    local t = green.spawn(function() return c:send("w") end)
    green.sleep(0.05)
    r:close()
    assert.same({nil, "connection refused"}, {t:wait()})
    c:close() s:close()
    rm()
  end)

  it("keeps the old call form socket.unix() and the tcp/udp names", function()
    local s = unix()
    assert.matches("^unixstream{master}: 0x", tostring(s))
    assert.equal(unix.stream, unix.tcp)
    assert.equal(unix.dgram, unix.udp)
    s:close()
  end)
end)
