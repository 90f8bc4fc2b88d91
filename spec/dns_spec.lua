-- green.getaddrinfo (API.md, "Network"): name resolution through the hub,
-- never blocking the process. Only local names are looked up.
local green = require "green"
local helpers = require "spec.helpers"
local N = require "spec.net_helpers"

local function contains(list, value)
  for _, v in ipairs(list) do
    if v == value then return true end
  end
  return false
end

-- Names /etc/hosts maps to a loopback address: { name = address, ... }.
local function hosts_loopback_names()
  local names = {}
  local f = io.open("/etc/hosts", "r")
  if not f then return names end
  for line in f:lines() do
    line = line:gsub("#.*", "")
    local addr, rest = line:match("^%s*(%S+)%s+(.+)$")
    if addr == "127.0.0.1" or addr == "::1" then
      for name in rest:gmatch("%S+") do
        if name ~= "localhost" and not names[name] and name:match("^[%w%.%-]+$") then
          names[name] = addr
        end
      end
    end
  end
  f:close()
  return names
end

describe("green.getaddrinfo", function()
  after_each(N.run_deferred)
  it("resolves localhost to a loopback address", function()
    local addrs, err = green.getaddrinfo("localhost")
    assert.is_truthy(addrs, err)
    assert.equal("table", type(addrs))
    assert.is_true(#addrs >= 1)
    assert.is_true(contains(addrs, "127.0.0.1") or contains(addrs, "::1"),
      "got " .. table.concat(addrs, ", "))
    for _, a in ipairs(addrs) do assert.equal("string", type(a)) end
  end)

  it("returns each address once", function()
    local addrs = assert(green.getaddrinfo("localhost"))
    local seen = {}
    for _, a in ipairs(addrs) do
      assert.is_nil(seen[a], "duplicate " .. a)
      seen[a] = true
    end
  end)

  it("resolves a name from /etc/hosts", function()
    local names = hosts_loopback_names()
    local name, addr = next(names)
    if not name then
      print("# /etc/hosts maps no other name to a loopback address: nothing to check")
      return
    end
    local addrs, err = green.getaddrinfo(name)
    assert.is_truthy(addrs, err)
    assert.is_true(contains(addrs, addr) or contains(addrs, "127.0.0.1") or contains(addrs, "::1"),
      name .. " -> " .. table.concat(addrs, ", ") .. " (hosts says " .. addr .. ")")
    -- and connect uses it
    local l = assert(green.listen("127.0.0.1", 0))
    N.defer(function() l:close() end)
    local _, port = l:getsockname()
    if addr == "127.0.0.1" then
      local c, cerr = green.connect(name, port)
      assert.is_truthy(c, cerr)
      c:close()
    end
  end)

  it("returns numeric addresses as they are, without switching", function()
    for _, a in ipairs({ "127.0.0.1", "10.1.2.3", "::1", "fe80::1", "0.0.0.0" }) do
      local ran = false
      green.spawn(function() ran = true end)
      local addrs = green.getaddrinfo(a)
      assert.same({ a }, addrs)
      assert.is_false(ran, a .. " switched to the hub")
      green.sleep(0)
    end
  end)

  it("returns nil, err quickly for a name that cannot resolve", function()
    local dt, r = helpers.timed(green.getaddrinfo, "nonexistent.invalid")
    assert.is_nil(r[1])
    assert.equal("string", type(r[2]))
    assert.is_true(#r[2] > 0)
    assert.is_true(dt < 5, "took " .. dt)
  end)

  it("connect to a name that cannot resolve returns nil, err", function()
    local c, err = green.connect("nonexistent.invalid", 80)
    assert.is_nil(c)
    assert.equal("string", type(err))
  end)

  it("does not block other green threads while it resolves", function()
    local ticks, stop = 0, false
    local ticker = green.spawn(function()
      for _ = 1, 100000 do
        if stop then return end
        ticks = ticks + 1
        green.sleep(0.001)
      end
    end)
    N.defer(function() stop = true; ticker:kill() end)
    green.sleep(0.01)
    local results = {}
    for _, name in ipairs({ "nonexistent.invalid", "localhost", "nonexistent.invalid" }) do
      local t0, k0 = green.now(), ticks
      local r = table.pack(green.getaddrinfo(name))
      local dt, dk = green.now() - t0, ticks - k0
      results[#results + 1] = r
      -- the ticker kept running: about one tick a millisecond, allow slack
      if dt > 0.02 then
        assert.is_true(dk >= dt / 0.001 / 10, ("%d ticks in %.3f s resolving %s"):format(dk, dt, name))
      end
    end
    assert.is_nil(results[1][1])
    assert.is_truthy(results[2][1])
    assert.is_nil(results[3][1])
  end)

  it("suspends the caller: another thread runs before the lookup returns", function()
    local order = {}
    green.spawn(function() order[#order + 1] = "other" end)
    local addrs = green.getaddrinfo("localhost")
    order[#order + 1] = "lookup"
    assert.is_truthy(addrs)
    assert.same({ "other", "lookup" }, order)
  end)

  it("a killed lookup leaves nothing behind; later lookups work", function()
    local gt = green.spawn(green.getaddrinfo, "nonexistent.invalid")
    green.sleep(0)
    gt:kill()
    assert.is_true(gt:dead())
    green.sleep(0.05)
    local addrs = green.getaddrinfo("localhost")
    assert.is_truthy(addrs)
  end)

  it("raises on a host that is not a string", function()
    assert.has_error(function() green.getaddrinfo(nil) end)
    assert.has_error(function() green.getaddrinfo({}) end)
  end)
end)
