-- Resource leaks: connect/close cycles leave fds and RSS flat (the TCP
-- case is spec/leak_helpers.lua's, shared with make soak's 100,000 cycles).
local green = require "green"
local N = require "spec.net_helpers"
local helpers = require "spec.helpers"

local LH = require "spec.leak_helpers"
local settle = LH.settle

describe("leaks", function()
  after_each(N.run_deferred)

  -- 5,000 cycles here; the 100,000 the network issue asks for are in
  -- spec/soak/leak_soak_spec.lua (make soak)
  local TOTAL = 5000

  it(("%d TCP connect/close cycles leave fds and RSS flat"):format(TOTAL), function()
    LH.tcp_cycles_stay_flat(TOTAL)
  end)

  it("2,000 Unix-socket connect/close cycles leave fds flat", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. helpers.quote(dir)))
    N.defer(function() os.execute("rm -rf " .. helpers.quote(dir)) end)
    local path = dir .. "/leak.sock"
    local l = assert(green.listen_unix(path))
    N.defer(function() l:close() end)
    green.spawn(green.serve, l, function() end)
    local function unix_cycles(count)
      local good = 0
      for _ = 1, count do
        local c = green.connect_unix(path)
        if c then
          if c:recv(16) == nil then good = good + 1 end
          c:close()
        end
      end
      return good
    end
    assert.equal(200, unix_cycles(200))
    settle()
    local fds0 = N.own_fds()
    assert.equal(1800, unix_cycles(1800))
    settle()
    local fds1 = N.own_fds()
    assert.is_true(fds1 <= fds0 + 2, ("fds %d -> %d"):format(fds0, fds1))
  end)

  it("receive timeouts, kills and closes of blocked readers leave fds flat", function()
    local c, s = N.pair()
    c:close(); s:close()
    settle()
    local fds0 = N.own_fds()
    for i = 1, 300 do
      local a, b = N.pair()
      if i % 3 == 0 then
        b:settimeout(0.001)
        b:receive()
      elseif i % 3 == 1 then
        local gt = green.spawn(function() return b:receive() end)
        green.sleep(0)
        gt:kill()
      else
        local gt = green.spawn(function() return b:recv(10) end)
        green.sleep(0)
        b:close()
        gt:wait()
      end
      a:close()
      b:close()
    end
    settle()
    local fds1 = N.own_fds()
    assert.is_true(fds1 <= fds0 + 2, ("fds %d -> %d"):format(fds0, fds1))
  end)

  it("dropping sockets without closing them frees them once collected", function()
    local l, port = N.listener()
    N.defer(function() l:close() end)
    local held = {}
    green.spawn(green.serve, l, function(c) c:receive() end)   -- until the peer goes
    settle()
    local fds0 = N.own_fds()
    for i = 1, 200 do
      held[i] = green.connect("127.0.0.1", port)
    end
    held = nil   -- never closed: only the garbage collector closes them
    settle()
    green.sleep(0.1)
    settle()
    local fds1 = N.own_fds()
    assert.is_true(fds1 <= fds0 + 2, ("fds %d -> %d"):format(fds0, fds1))
  end)
end)
