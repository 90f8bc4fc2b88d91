-- Unix-domain stream sockets: green.listen_unix, green.connect_unix and
-- green.core.peer_uid (API.md, "Network").
local green = require "green"
local core = require "green.core"
local helpers = require "spec.helpers"
local sync = require "spec.sync_helpers"
local N = require "spec.net_helpers"

local function capture(cmd)
  local p = assert(io.popen(cmd))
  local s = p:read("a")
  p:close()
  return (s:gsub("%s+$", ""))
end

describe("Unix sockets", function()
  after_each(N.run_deferred)
  local dir, cleanup
  before_each(function() dir, cleanup = helpers.tmpdir() end)
  after_each(function() cleanup() end)

  it("listen_unix and connect_unix make a working pair", function()
    local path = dir .. "/s.sock"
    local l = assert(green.listen_unix(path))
    N.defer(function() l:close() end)
    local c, err = green.connect_unix(path)
    assert.is_truthy(c, err)
    N.defer(function() c:close() end)
    local s = l:accept()
    assert.is_truthy(s)
    N.defer(function() s:close() end)
    assert.equal(6, c:send("hello\n"))
    assert.equal("hello", s:receive())
    s:send("back\r\n")
    assert.equal("back", c:receive("*l"))
    s:close()
    assert.equal("", c:receive("*a"))
  end)

  it("echoes lines through a served Unix socket", function()
    local path = dir .. "/echo.sock"
    local l = N.unix_echo_server(path)
    N.defer(function() l:close() end)
    local c = assert(green.connect_unix(path))
    N.defer(function() c:close() end)
    for i = 1, 20 do
      local msg = ("line %d %s"):format(i, ("u"):rep(i * 10))
      assert.equal(#msg + 1, c:send(msg .. "\n"))
      assert.equal(msg, c:receive())
    end
  end)

  it("getsockname returns the path", function()
    local path = dir .. "/named.sock"
    local l = assert(green.listen_unix(path))
    N.defer(function() l:close() end)
    assert.equal(path, l:getsockname())
    local c = assert(green.connect_unix(path))
    N.defer(function() c:close() end)
    assert.equal(path, c:getpeername())
  end)

  it("connecting to a missing path returns nil, err", function()
    local dt, r = helpers.timed(green.connect_unix, dir .. "/missing.sock")
    assert.is_nil(r[1])
    assert.equal("string", type(r[2]))
    assert.is_true(#r[2] > 0)
    assert.is_true(dt < 1, "took " .. dt)
  end)

  it("connecting to a path nobody listens on any more returns nil, err", function()
    local path = dir .. "/gone.sock"
    local l = assert(green.listen_unix(path))
    l:close()
    local c, err = green.connect_unix(path)
    assert.is_nil(c)
    assert.equal("string", type(err))
  end)

  it("listen_unix on a path in use returns nil, err", function()
    local path = dir .. "/busy.sock"
    local l = assert(green.listen_unix(path))
    N.defer(function() l:close() end)
    local l2, err = green.listen_unix(path)
    assert.is_nil(l2)
    assert.equal("string", type(err))
  end)

  it("opts.mode creates the socket file with that mode (0600)", function()
    local path = dir .. "/private.sock"
    local l = assert(green.listen_unix(path, { mode = tonumber("600", 8) }))
    N.defer(function() l:close() end)
    assert.equal("600", capture("stat -c %a " .. helpers.quote(path)))
    -- and it still works
    local c = assert(green.connect_unix(path))
    c:close()
  end)

  it("opts.mode 0666 gives a world-writable socket file", function()
    local path = dir .. "/open.sock"
    local l = assert(green.listen_unix(path, { mode = tonumber("666", 8) }))
    N.defer(function() l:close() end)
    assert.equal("666", capture("stat -c %a " .. helpers.quote(path)))
  end)

  it("core.peer_uid(client) is this process's uid", function()
    local uid = tonumber(capture("id -u"))
    local path = dir .. "/uid.sock"
    local l = assert(green.listen_unix(path))
    N.defer(function() l:close() end)
    local c = assert(green.connect_unix(path))
    N.defer(function() c:close() end)
    local s = assert(l:accept())
    N.defer(function() s:close() end)
    assert.equal(uid, core.peer_uid(s))
    assert.equal(uid, core.peer_uid(c))
    assert.equal("integer", math.type(core.peer_uid(s)))
  end)

  it("closing a Unix socket wakes a thread blocked in receive with nil, 'closed'", function()
    local path = dir .. "/wake.sock"
    local l = assert(green.listen_unix(path))
    N.defer(function() l:close() end)
    local c = assert(green.connect_unix(path))
    local s = assert(l:accept())
    N.defer(function() c:close() end)
    local gt, rec = sync.track(function() return s:receive() end)
    green.sleep(0.02)
    assert.is_false(rec.done)
    s:close()
    assert.is_true(sync.all_dead({ gt }, 1))
    assert.is_nil(rec.values[1])
    assert.equal("closed", rec.values[2])
  end)
end)
