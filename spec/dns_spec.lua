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

-- The IPv4 entries of /etc/hosts, in file order: { {name, address}, ... }.
-- Every system has one ("127.0.0.1 localhost"); IPv6 entries are left out,
-- as lookups (AI_ADDRCONFIG) may skip them on a host without IPv6.
local function hosts_ipv4_entries()
  local entries = {}
  local f = assert(io.open("/etc/hosts", "r"))
  for line in f:lines() do
    line = line:gsub("#.*", "")
    local addr, rest = line:match("^%s*(%d+%.%d+%.%d+%.%d+)%s+(.+)$")
    if addr then
      for name in rest:gmatch("%S+") do
        if name:match("^[%w%.%-]+$") then entries[#entries + 1] = { name, addr } end
      end
    end
  end
  f:close()
  return entries
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

  it("resolves the names of /etc/hosts to their addresses there, and connect uses them", function()
    local entries = hosts_ipv4_entries()
    assert.is_true(#entries > 0, "/etc/hosts has no IPv4 entry")
    local listed = {}                -- name -> { address = true }: a name may be listed twice
    for _, e in ipairs(entries) do
      listed[e[1]] = listed[e[1]] or {}
      listed[e[1]][e[2]] = true
    end
    local loopback_name
    for i = 1, math.min(#entries, 20) do
      local name, addr = entries[i][1], entries[i][2]
      local addrs, err = green.getaddrinfo(name)
      assert.is_truthy(addrs, name .. ": " .. tostring(err))
      local found = false
      for _, a in ipairs(addrs) do found = found or listed[name][a] == true end
      assert.is_true(found, name .. " -> " .. table.concat(addrs, ", ") .. " (/etc/hosts says " .. addr .. ")")
      if addr == "127.0.0.1" and not loopback_name then loopback_name = name end
    end
    assert.is_truthy(loopback_name, "/etc/hosts maps no name to 127.0.0.1")
    local l, port = N.listener()
    N.defer(function() l:close() end)
    local c, cerr = green.connect(loopback_name, port)
    assert.is_truthy(c, loopback_name .. ": " .. tostring(cerr))
    c:close()
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

  -- (how long that takes is the resolver's business: no time is checked)
  it("returns nil, err for a name that cannot resolve", function()
    local r = table.pack(green.getaddrinfo("nonexistent.invalid"))
    assert.is_nil(r[1])
    assert.equal("string", type(r[2]))
    assert.is_true(#r[2] > 0)
  end)

  it("connect to a name that cannot resolve returns nil, err", function()
    local c, err = green.connect("nonexistent.invalid", 80)
    assert.is_nil(c)
    assert.equal("string", type(err))
  end)

  it("does not block other green threads while it resolves, whether it finds the name or not", function()
    -- a thread that keeps yielding ticks at least once during each lookup:
    -- it is ready when the caller blocks, and the caller comes back behind it
    local ticks, stop = 0, false
    local ticker = green.spawn(function()
      for _ = 1, 1e7 do
        if stop then return end
        ticks = ticks + 1
        green.sleep(0)
      end
    end)
    N.defer(function() stop = true; ticker:kill() end)
    green.sleep(0)
    local results = {}
    for _, name in ipairs({ "nonexistent.invalid", "localhost", "nonexistent.invalid" }) do
      local k0 = ticks
      results[#results + 1] = table.pack(green.getaddrinfo(name))
      assert.is_true(ticks > k0, "no other thread ran while " .. name .. " resolved")
    end
    stop = true
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
