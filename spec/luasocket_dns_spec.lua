-- socket.dns of the green socket.core (host/luasocket/dns.c): 3.1.0's
-- results and strings (the reference: Debian's LuaSocket under lua5.4), and
-- green: a lookup blocks only its own thread, a numeric one does not switch,
-- an interrupted one leaves nothing behind.
local green = require "green"
local diff = require "spec.luasocket_diff_helpers"
local socket = require "socket"
local dns = socket.dns

describe("green socket.dns", function()
  it("matches Debian's LuaSocket result for result and string for string", function()
    diff.compare("spec/luasocket_dns_diff.lua", nil, 80)
  end)

  it("lets other green threads run while a name is looked up", function()
    for _, f in ipairs({"toip", "tohostname", "getnameinfo"}) do
      local order = {}
      green.spawn(function() order[#order + 1] = "other" end)
      local r = dns[f]("localhost")
      order[#order + 1] = f
      assert.is_truthy(r)
      assert.same({"other", f}, order)
    end
    local order = {}
    green.spawn(function() order[#order + 1] = "other" end)
    assert.is_truthy(dns.getaddrinfo("localhost"))
    order[#order + 1] = "getaddrinfo"
    assert.same({"other", "getaddrinfo"}, order)
  end)

  it("answers a numeric getaddrinfo at once, without a switch", function()
    local n = green.stats().switches
    local r = dns.getaddrinfo("127.0.0.1")
    assert.equal(n, green.stats().switches)
    assert.same({{family = "inet", addr = "127.0.0.1"}}, r)
  end)

  it("runs many lookups at once, each answered", function()
    local threads = {}
    for i = 1, 30 do
      threads[i] = green.spawn(function()
        if i % 3 == 0 then return (dns.toip("localhost")) end
        if i % 3 == 1 then return dns.getaddrinfo("localhost")[1].addr end
        return dns.getnameinfo("127.0.0.1")[1]
      end)
    end
    for i = 1, 30 do
      local r = threads[i]:wait()
      assert.equal(i % 3 == 2 and "localhost" or "127.0.0.1", r)
    end
  end)

  it("leaves nothing behind when a waiting lookup is killed or times out", function()
    local threads = {}
    for i = 1, 10 do
      threads[i] = green.spawn(function()
        if i % 2 == 0 then return dns.toip("localhost") end
        return dns.getnameinfo("localhost", "http")
      end)
    end
    green.sleep(0)  -- every one is waiting for the pool now
    for i = 1, 10 do threads[i]:kill() end
    local ok, err = pcall(function()
      local t <close> = green.Timeout(0)
      return dns.tohostname("localhost")
    end)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("Timeout") or (green.is_timeout and green.is_timeout(err)))
    green.sleep(0.2)  -- the abandoned requests finish and free themselves
    assert.equal("127.0.0.1", (dns.toip("localhost")))
  end)

  it("leaves nothing behind when a lookup is killed just after its answer came", function()
    -- the kill lands at varying moments: some while the lookup runs, some
    -- after the pool answered and woke the thread, before it ran
    for attempt = 0, 29 do
      local t = green.spawn(function() return dns.toip("localhost") end)
      green.sleep(0)
      for _ = 1, attempt % 10 do green.sleep(0) end
      t:kill()
    end
    green.sleep(0.2)
    assert.equal("127.0.0.1", (dns.toip("localhost")))
  end)

  it("is what socket.core.dns is, and gethostname answers at once", function()
    assert.equal(require("socket.core").dns, dns)
    local n = green.stats().switches
    assert.equal("string", type(dns.gethostname()))
    assert.equal(n, green.stats().switches)
  end)
end)
