-- Debian's socket.http is green over greenlua's socket.core: 50 requests
-- from 50 green threads are at the server at once; a green LuaSocket
-- server in this process answers socket.http calls from this process; 1,000
-- requests leave no descriptor behind. Against plain LuaSocket (greenlua
-- --no-patch, or before the green core existed) each of these fails: the
-- first request blocks the process, so the server sees one at a time, and
-- the in-process server never runs (bounded by socket.http's TIMEOUT).
local green = require "green"
local net = require "spec.net_helpers"
local S = require "spec.luasocket.servers"

-- A LuaSocket-API HTTP server in a green thread of this process: one green
-- thread per connection, answers "hello <path>" and closes (socket.http
-- sends Connection: close). Returns the port and a stop function.
local function green_server()
  local socket = require "socket"
  local srv = assert(socket.bind("127.0.0.1", 0))
  local _, port = srv:getsockname()
  local handlers = {}
  local acceptor = green.spawn(function()
    for _ = 1, 100000 do
      local c = srv:accept()
      if not c then break end
      handlers[#handlers + 1] = green.spawn(function()
        c:settimeout(10)
        local line = c:receive("*l")
        local path = line and line:match("^%u+ (%S+)") or "?"
        repeat
          local h = c:receive("*l")
        until not h or h == ""
        local code, body = "200 OK", "hello " .. path
        if path:find("^/missing") then code, body = "404 Not Found", "no" end
        c:send(("HTTP/1.1 %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"):format(code, #body, body))
        c:close()
      end)
      if #handlers > 200 then
        local live = {}
        for _, h in ipairs(handlers) do if not h:dead() then live[#live + 1] = h end end
        handlers = live
      end
    end
  end)
  return tonumber(port), function()
    srv:close()
    if not acceptor:dead() then acceptor:kill() end
    for _, h in ipairs(handlers) do if not h:dead() then h:kill() end end
  end
end

-- the fd count returns to `before` (the last handlers may still be closing)
local function helpers_wait_fds(before)
  for _ = 1, 100 do
    if net.own_fds() <= before then return true end
    green.sleep(0.02)
  end
  return false
end

describe("socket.http (Debian's) is green", function()
  it("50 concurrent requests to a server that sleeps 0.2 s finish together", function()
    local http = require "socket.http"
    local app, port = S.app()
    finally(function() app:stop() end)
    local base = ("http://127.0.0.1:%d"):format(port)
    assert.equal(200, select(2, http.request(base .. "/stats")))  -- resets the counters
    local results, threads = {}, {}
    local t0 = green.now()
    for i = 1, 50 do
      threads[i] = green.spawn(function()
        results[i] = table.pack(http.request(base .. "/sleep?s=0.2"))
      end)
    end
    for i = 1, 50 do threads[i]:wait() end
    local elapsed = green.now() - t0
    for i = 1, 50 do
      assert.equal("slept", results[i][1], tostring(results[i][2]))
      assert.equal(200, results[i][2])
    end
    assert.equal("total 50", (http.request(base .. "/stats")):match("total %d+"))
    -- one after the other they would take 10 s; together, about 0.2 s
    -- plus 50 connections' set-up on a loaded machine (the ordering proof
    -- is the next test's)
    assert.is_true(elapsed < 3, ("50 requests took %.2f s"):format(elapsed))
  end)

  it("50 concurrent requests: the server holds each until all 50 are there", function()
    local http = require "socket.http"
    local app, port = S.app()
    finally(function() app:stop() end)
    local url = ("http://127.0.0.1:%d/barrier?n=50&limit=10"):format(port)
    local old = http.TIMEOUT
    http.TIMEOUT = 20
    finally(function() http.TIMEOUT = old end)
    local results, threads = {}, {}
    local failed = false
    for i = 1, 50 do
      threads[i] = green.spawn(function()
        -- with a blocking core the threads run one after the other: after
        -- the first one's "alone 1" (10 s) the rest give up at once
        if failed then results[i] = { "not tried" } return end
        results[i] = table.pack(http.request(url))
        if results[i][1] ~= "together 50" then failed = true end
      end)
    end
    for i = 1, 50 do threads[i]:wait() end
    for i = 1, 50 do
      assert.equal("together 50", results[i][1], tostring(results[i][2]))
    end
  end)

  it("a green LuaSocket server in this process answers socket.http from this process", function()
    local http = require "socket.http"
    local port, stop = green_server()
    finally(stop)
    local old = http.TIMEOUT
    http.TIMEOUT = 5  -- a blocking core would wait this long, then fail
    finally(function() http.TIMEOUT = old end)
    local body, code = http.request(("http://127.0.0.1:%d/one"):format(port))
    assert.equal("hello /one", body)
    assert.equal(200, code)
    -- and ten at once, from ten green threads
    local got, threads = {}, {}
    for i = 1, 10 do
      threads[i] = green.spawn(function()
        got[i] = http.request(("http://127.0.0.1:%d/n%d"):format(port, i))
      end)
    end
    for i = 1, 10 do
      threads[i]:wait()
      assert.equal("hello /n" .. i, got[i])
    end
  end)

  it("1,000 requests (answers, 404s, refusals) leave no descriptor open", function()
    local http = require "socket.http"
    local port, stop = green_server()
    finally(stop)
    local old = http.TIMEOUT
    http.TIMEOUT = 5
    finally(function() http.TIMEOUT = old end)
    local base = ("http://127.0.0.1:%d"):format(port)
    for i = 1, 20 do assert.equal("hello /warm" .. i, (http.request(base .. "/warm" .. i))) end
    http.request("http://127.0.0.1:1/")
    green.sleep(0.05)  -- the server's handlers finish closing
    local before = net.own_fds()
    local ok, missing, errs = 0, 0, 0
    for i = 1, 1000 do
      if i % 20 == 0 then
        local r, e = http.request("http://127.0.0.1:1/")
        if r == nil and e == "connection refused" then errs = errs + 1 end
      elseif i % 20 == 1 then
        local _, code = http.request(base .. "/missing" .. i)
        if code == 404 then missing = missing + 1 end
      else
        if http.request(base .. "/r" .. i) == "hello /r" .. i then ok = ok + 1 end
      end
    end
    assert.same({ 900, 50, 50 }, { ok, missing, errs })
    assert.is_true(helpers_wait_fds(before), "fds: before " .. before .. ", after " .. net.own_fds())
  end)
end)

