-- Hardening of the network modules (issue 8): host/io/net.c, host/io/udp.c,
-- lib/green/net.lua. Loopback only. What needs an environment of its own
-- runs in a child greenlua: a resolver that never answers (HOSTALIASES
-- naming a FIFO nobody writes: glibc opens it for a name without dots),
-- a private /etc/hosts where localhost is ::1 first (a mount namespace),
-- a low open-file limit, and calls that crashed the host before.
local green = require "green"
local core = require "green.core"
local helpers = require "spec.helpers"
local H = require "spec.cli_helpers"
local N = require "spec.net_helpers"

-- Run `source` as a script in a child greenlua; args are its arguments.
local function child(source, args, env, opts)
  local script = H.file(("child-%d.lua"):format(math.random(1e9)), source)
  local argv = { script }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  return H.run(argv, nil, env, opts)
end

-- The child's "key=value" lines as a table.
local function said(r)
  local t = {}
  for k, v in r.stdout:gmatch("([%w_]+)=([^\n]*)") do t[k] = v end
  return t
end

local function clean(r)
  assert.is_nil(r.stderr:find("Sanitizer") or r.stderr:find("runtime error"), H.show(r))
  assert.equal(0, r.status, H.show(r))
end

local function port_of(sock)
  local _, port = sock:getsockname()
  return port
end

teardown(H.cleanup)

describe("green.udp binds", function()
  after_each(N.run_deferred)

  it("a second bind to a port in use returns nil, 'address already in use'", function()
    local a = assert(green.udp({ host = "127.0.0.1", port = 0 }))
    N.defer(function() a:close() end)
    local b, err = green.udp({ host = "127.0.0.1", port = port_of(a) })
    if b then b:close() end
    assert.is_nil(b)
    assert.equal("address already in use", err)
  end)

  it("opts.reuse_addr on both lets two sockets share a port", function()
    local a = assert(green.udp({ host = "127.0.0.1", port = 0, reuse_addr = true }))
    N.defer(function() a:close() end)
    local b, err = green.udp({ host = "127.0.0.1", port = port_of(a), reuse_addr = true })
    assert.is_truthy(b, err)
    b:close()
  end)
end)

describe("Unix socket paths", function()
  after_each(N.run_deferred)
  local dir, rm = helpers.tmpdir()
  teardown(rm)

  -- A path of exactly n bytes in dir.
  local function path_of(n)
    local base = dir .. "/"
    return base .. ("p"):rep(n - #base)
  end

  it("a path longer than sun_path returns nil, 'name too long' and binds nothing", function()
    local long = path_of(200)
    local l, err = green.listen_unix(long)
    if l then l:close() end
    assert.is_nil(l)
    assert.equal("name too long", err)
    local cut = long:sub(1, 107)
    assert.is_nil(io.open(cut, "r"), "bound the truncated path " .. cut)
    assert.is_nil(io.open(long:sub(1, 108), "r"))
    local c, cerr = green.connect_unix(long)
    assert.is_nil(c)
    assert.equal("name too long", cerr)
    assert.same({ nil, "name too long" }, { green.listen_unix(path_of(108)) })
  end)

  it("the longest path that fits (107 bytes) works", function()
    local p = path_of(107)
    local l = assert(green.listen_unix(p))
    N.defer(function() l:close() end)
    local c = assert(green.connect_unix(p))
    c:close()
  end)

  it("a path with a zero byte returns nil, err and binds nothing", function()
    local p = dir .. "/zero"
    local l, err = green.listen_unix(p .. "\0tail")
    if l then l:close() end
    assert.is_nil(l)
    assert.equal("invalid argument", err)
    assert.is_nil(io.open(p, "r"))
  end)
end)
