-- The green socket.core (API.md, "LuaSocket and LuaSec, green"): Debian's
-- own socket.lua and socket.http on top of it, LuaSocket 3.1.0's exact
-- conventions (the reference: Debian's real LuaSocket under plain lua5.4),
-- and green waits: other threads run while a LuaSocket call waits.
local green = require "green"
local helpers = require "spec.helpers"
local socket = require "socket"

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

-- Output of a script with what differs between runs masked.
local function normalize(out)
  return (out:gsub("0x%x+", "ADDR"):gsub('"%d%d%d%d%d?"', "PORT"):gsub("socket%.core%.", "socket."))
end

-- A green HTTP/1.0 server in this process that sleeps 'delay' before
-- answering "hello"; returns its port and a stop function.
local function slow_server(delay)
  local srv = green.listen("127.0.0.1", 0)
  local _, port = srv:getsockname()
  local served = 0
  local acceptor = green.spawn(function()
    while true do
      local c = srv:accept()
      if not c then return end
      green.spawn(function()
        while true do
          local l = c:receive("*l")
          if not l or l == "" then break end
        end
        green.sleep(delay)
        c:send("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        c:close()
        served = served + 1
      end)
    end
  end)
  return port, function() acceptor:kill(); srv:close() end, function() return served end
end

-- A connected pair of green socket.core sockets.
local function pair()
  local srv = assert(socket.bind("127.0.0.1", 0))
  local _, port = srv:getsockname()
  local c = assert(socket.connect("127.0.0.1", port))
  local a = assert(srv:accept())
  srv:close()
  return c, a
end

describe("green socket.core", function()
  it("is what require 'socket.core' gives at start-up", function()
    assert.equal(package.preload["socket.core"] ~= nil, true)
    assert.is_truthy(debug.getregistry()["greenlua.tcp{master}"])
    assert.equal("LuaSocket 3.0.0", socket._VERSION)
  end)

  it("prints what Debian's LuaSocket prints under lua5.4, line for line", function()
    local script = "spec/luasocket_core_diff.lua"
    local ref = sh("cd " .. helpers.quote(".") .. " && timeout 20 lua5.4 " .. script .. " 2>&1")
    local got = sh("timeout 20 " .. helpers.quote(helpers.greenlua()) .. " " .. script .. " 2>&1")
    assert.is_true(#ref > 500, "lua5.4 with Debian's LuaSocket did not run: " .. ref)
    local r, g = {}, {}
    for l in normalize(ref):gmatch("[^\n]*") do r[#r + 1] = l end
    for l in normalize(got):gmatch("[^\n]*") do g[#g + 1] = l end
    for i = 1, math.max(#r, #g) do
      assert.equal(r[i], g[i], "line " .. i)
    end
  end)

  it("runs 50 concurrent socket.http requests to a 0.2 s server in well under 1 s", function()
    local http = require "socket.http"
    local port, stop = slow_server(0.2)
    local url = "http://127.0.0.1:" .. port .. "/"
    local t0 = green.now()
    local threads = {}
    for i = 1, 50 do
      threads[i] = green.spawn(function() return http.request(url) end)
    end
    local ok = 0
    for i = 1, 50 do
      local body, code = threads[i]:wait()
      if body == "hello" and code == 200 then ok = ok + 1 end
    end
    local took = green.now() - t0
    stop()
    assert.equal(50, ok)
    assert.is_true(took < 1, "took " .. took)
  end)

  it("lets other threads run while receive waits", function()
    local c, a = pair()
    local order = {}
    local reader = green.spawn(function()
      order[#order + 1] = "reading"
      local line = a:receive()
      order[#order + 1] = line
    end)
    green.sleep(0)
    order[#order + 1] = "sending"
    c:send("hello\n")
    reader:wait()
    assert.same({ "reading", "sending", "hello" }, order)
    c:close(); a:close()
  end)

  it("bounds a whole call with 'b' alone (3.1.0), even if bytes keep coming", function()
    local c, a = pair()
    local dribbler = green.spawn(function()
      for _ = 1, 100 do
        c:send("x")
        green.sleep(0.05)
      end
    end)
    a:settimeout(0.3)
    local t0 = green.now()
    local data, err, partial = a:receive(1000)
    local took = green.now() - t0
    dribbler:kill()
    assert.is_nil(data)
    assert.equal("timeout", err)
    assert.is_true(#partial >= 1)
    assert.is_true(took < 2.5, "took " .. took)  -- the dribble alone lasts 5 s
    c:close(); a:close()
  end)

  it("a 't' timeout bounds the call; 0 never waits", function()
    local c, a = pair()
    a:settimeout(0)
    local n = green.stats().switches
    assert.same({ nil, "timeout", "" }, { a:receive(1) })
    assert.equal(n, green.stats().switches)
    a:settimeout(nil)
    a:settimeout(0.1, "t")
    local data, err = a:receive(1)
    assert.is_nil(data); assert.equal("timeout", err)
    c:close(); a:close()
  end)

  it("send keeps its progress across waits and returns the last index", function()
    local c, a = pair()
    local big = string.rep("0123456789", 400000)  -- 4 MB: fills the kernel buffers
    local got = {}
    local reader = green.spawn(function()
      local n = 0
      while n < #big do
        local s = assert(a:receive(math.min(65536, #big - n)))
        got[#got + 1] = s
        n = n + #s
      end
    end)
    assert.equal(#big, c:send(big))
    reader:wait()
    assert.equal(big, table.concat(got))
    assert.equal(#big, select(2, c:getstats()))
    c:close(); a:close()
  end)

  it("raises for a second reader of one socket, and gives the first 'closed' on close", function()
    local c, a = pair()
    local first = green.spawn(function() return a:receive() end)
    green.sleep(0)
    local ok, err = pcall(a.receive, a)
    assert.is_false(ok)
    assert.matches("another green thread is waiting to read fd", err)
    a:close()
    local r1, r2 = first:wait()
    assert.is_nil(r1); assert.equal("closed", r2)
    c:close()
  end)

  it("leaves nothing behind when a waiting receive is killed", function()
    local c, a = pair()
    local t = green.spawn(function() return a:receive() end)
    green.sleep(0)
    t:kill()
    c:send("after\n")
    a:settimeout(1)
    assert.equal("after", a:receive())
    c:close(); a:close()
  end)

  it("lets a green Timeout and a kill through protect; try errors stay caught", function()
    local c, a = pair()
    local f = socket.protect(function()
      local t <close> = green.Timeout(0.1)
      return a:receive()
    end)
    local ok, err = pcall(f)
    assert.is_false(ok)
    assert.is_true(green.is_timeout and green.is_timeout(err) or tostring(err):find("Timeout") ~= nil,
      "not a Timeout: " .. tostring(err))
    local g = socket.protect(function() return a:receive() end)
    local t = green.spawn(g)
    green.sleep(0)
    t:kill()
    local ok2 = pcall(t.wait, t)
    assert.is_true(t:dead())
    local try = socket.newtry()
    assert.same({ nil, "boom" }, { socket.protect(function() try(nil, "boom") end)() })
    c:close(); a:close()
    assert.is_true(ok2 ~= nil)
  end)

  it("select is green and finds a ready socket among more than FD_SETSIZE fds", function()
    local limit = tonumber(sh("ulimit -n"))
    if not limit or limit < 1400 then
      error("this spec needs `ulimit -n` of at least 1400, got " .. tostring(limit))
    end
    local srv = assert(socket.bind("127.0.0.1", 0))
    local _, port = srv:getsockname()
    local clients, servers = {}, {}
    for i = 1, 600 do
      clients[i] = assert(socket.connect("127.0.0.1", port))
      servers[i] = assert(srv:accept())
    end
    local last = servers[600]
    assert.is_true(last:getfd() >= 1024)  -- FD_SETSIZE
    local ticks = 0
    local ticker = green.spawn(function() while true do ticks = ticks + 1; green.sleep(0.01) end end)
    green.spawn(function() green.sleep(0.1); clients[600]:send("z\n") end)
    local r, w, err = socket.select(servers, nil, 5)
    ticker:kill()
    assert.is_nil(err)
    assert.equal(1, #r)
    assert.equal(last, r[1])
    assert.equal(1, r[last])
    assert.is_true(ticks >= 2, "other threads ran: " .. ticks)
    for i = 1, 600 do clients[i]:close(); servers[i]:close() end
    srv:close()
  end)

  it("a killed or timed-out select leaves no waiter behind", function()
    local c, a = pair()
    local t = green.spawn(function() return socket.select({ a }, { }, nil) end)
    green.sleep(0)
    t:kill()
    local ok, err = pcall(function()
      local to <close> = green.Timeout(0.05)
      return socket.select({ a, c }, nil, nil)
    end)
    assert.is_false(ok)
    assert.is_true(green.is_timeout(err))
    a:settimeout(1)
    c:send("ok\n")
    assert.equal("ok", a:receive())  -- not "another green thread is waiting"
    local r = socket.select({ a }, nil, 0.05)
    assert.same({}, r)
    c:close(); a:close()
  end)

  it("a Timeout around a green name lookup in connect leaves nothing broken", function()
    -- timeouts of 0 to 0.6 ms: some fire while the lookup runs, some as it
    -- answers (the answer then meets a thread interrupted, not yet run)
    for i = 1, 300 do
      pcall(function()
        local to <close> = green.Timeout(0.0001 * (i % 7))
        local s = socket.tcp()
        s:connect("localhost", 1)
        s:close()
      end)
    end
    green.sleep(0.1)
    assert.same({ nil, "connection refused" }, { socket.connect("localhost", 1) })
  end)

  it("sleep is green", function()
    local ticks = 0
    local ticker = green.spawn(function() while true do ticks = ticks + 1; green.sleep(0.01) end end)
    socket.sleep(0.2)
    ticker:kill()
    assert.is_true(ticks >= 3, "ticks: " .. ticks)
  end)

  it("connect to a closed port fails with LuaSocket's string; resolving is green", function()
    assert.same({ nil, "connection refused" }, { socket.connect("127.0.0.1", 1) })
    local c = socket.tcp()
    assert.same({ nil, "connection refused" }, { c:connect("localhost", 1) })
    assert.equal("tcp{client}", getmetatable(c).__index.class)
  end)

  it("a non-blocking connect completes through select", function()
    local srv = assert(socket.bind("127.0.0.1", 0))
    local _, port = srv:getsockname()
    local c = socket.tcp()
    c:settimeout(0)
    local ok, err = c:connect("127.0.0.1", port)
    assert.is_true(ok == 1 or err == "timeout")
    local _, w = socket.select(nil, { c }, 2)
    assert.equal(c, w[1])
    assert.is_truthy(c:getpeername())
    c:close(); srv:close()
  end)

  it("getfd/setfd hand the fd over (as LuaSec does)", function()
    local c, a = pair()
    local fd = c:getfd()
    assert.equal("float", math.type(fd))
    c:setfd(-1)
    assert.equal(-1, c:getfd())
    assert.same({ nil, "closed", 0 }, { c:send("x") })
    c:close()
    local c2 = socket.tcp()
    assert.has_error(function() c2:setfd(fd) end,
      "setfd: not supported (fd " .. math.tointeger(fd) .. " is not a green socket's)")
    assert.has_error(function() c2:setfd(1) end, "setfd: not supported (fd 1 is not a green socket's)")
    c2:close()
    -- adopting another green socket's fd works (LuaSocket's testclnt does it)
    local d, e = socket.tcp4(), socket.tcp4()
    d:setfd(e:getfd())
    assert.equal(e:getfd(), d:getfd())
    d:close()
    e:close()  -- closed already through d: not closed again
    os.execute("true")  -- the fd given away is the taker's to close: here, nobody's
    a:settimeout(0.05)
    assert.same({ nil, "timeout", "" }, { a:receive() })
    a:close()
  end)

  it("does not leak fds over many connections", function()
    local port, stop = slow_server(0)
    local http = require "socket.http"
    local function nfds()
      local pid = assert(io.open("/proc/self/stat")):read("l"):match("^(%d+)")
      return #sh("ls /proc/" .. pid .. "/fd"):gsub("[^\n]", "")
    end
    http.request("http://127.0.0.1:" .. port .. "/")
    local before = nfds()
    for _ = 1, 300 do assert(http.request("http://127.0.0.1:" .. port .. "/")) end
    collectgarbage(); collectgarbage()
    green.sleep(0.05)
    local after = nfds()
    stop()
    assert.is_true(after <= before + 2, before .. " -> " .. after)
  end)
end)
