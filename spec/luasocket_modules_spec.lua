-- Debian's socket.url, ltn12, mime, socket.tp and socket.ftp, unmodified,
-- over greenlua's socket.core. Scripts that print what the modules return
-- (spec/luasocket/modules_script.lua, spec/luasocket/ftp_script.lua against
-- spec/servers/fake_ftpd.py) must print the same under plain lua5.4 with the
-- real LuaSocket; socket.tp and socket.ftp in-process are green, socket.tp
-- against a green LuaSocket server in this same process.
local green = require "green"
local helpers = require "spec.helpers"
local S = require "spec.luasocket.servers"
local q = helpers.quote

-- A line server written with LuaSocket's API, in a green thread here: the
-- greeting "220-hello" / "220 ready", then per command line "X arg": a
-- reply "250 got X arg" (a "QUIT" gets "221 bye" and the close; "DATA"
-- reads lines until "." and answers "250 <n> lines").
local function tp_server()
  local socket = require "socket"
  local srv = assert(socket.bind("127.0.0.1", 0))
  local _, port = srv:getsockname()
  local threads = {}
  threads[1] = green.spawn(function()
    for _ = 1, 100 do
      local c = srv:accept()
      if not c then return end
      threads[#threads + 1] = green.spawn(function()
        c:settimeout(10)
        c:send("220-hello\r\n220-second line\r\n220 ready\r\n")
        for _ = 1, 1000 do
          local line = c:receive("*l")
          if not line then break end
          if line == "QUIT" then c:send("221 bye\r\n") break end
          if line == "DATA" then
            c:send("354 go on\r\n")
            local n = 0
            for _ = 1, 100000 do
              local l = c:receive("*l")
              if not l or l == "." then break end
              n = n + 1
            end
            c:send(("250 %d lines\r\n"):format(n))
          else
            c:send("250 got " .. line .. "\r\n")
          end
        end
        c:close()
      end)
    end
  end)
  return tonumber(port), function()
    srv:close()
    for _, t in ipairs(threads) do if not t:dead() then t:kill() end end
  end
end

describe("Debian's url, ltn12, mime, tp and ftp over the green socket.core", function()
  it("url, ltn12 and mime print the same under greenlua as under lua5.4", function()
    local ro, re, rrc = S.run("lua5.4", "spec/luasocket/modules_script.lua")
    local go, ge, grc = S.run(q(helpers.greenlua()), "spec/luasocket/modules_script.lua")
    assert.equal(0, rrc, re)
    assert.equal(0, grc, ge)
    assert.truthy(ro:find("\ndone\n$"), ro)
    assert.truthy(ro:find("absolute\thttp://a/g | ", 1, true), ro)
    assert.equal(ro, go)
  end)

  it("socket.ftp prints the same under greenlua as under lua5.4 (fake_ftpd.py)", function()
    local function run(interp)
      local h, port, root, cleanup = S.ftp()
      local out, err, rc = S.run(interp, "spec/luasocket/ftp_script.lua", ("%d %s"):format(port, q(root)))
      h:stop()
      cleanup()
      return out, err, rc
    end
    local ro, re, rrc = run("lua5.4")
    local go, ge, grc = run(q(helpers.greenlua()))
    assert.equal(0, rrc, re)
    assert.equal(0, grc, ge)
    assert.truthy(ro:find("\ndone\n$"), ro)
    assert.truthy(ro:find("get\thello over ftp\n", 1, true), ro)
    assert.truthy(ro:find("put generic stored\ttrue\n", 1, true), ro)
    assert.equal(ro, go)
  end)

  it("socket.tp talks to a green LuaSocket server in this same process", function()
    local tp = require "socket.tp"
    local ltn12 = require "ltn12"
    local port, stop = tp_server()
    finally(stop)
    local c = assert(tp.connect("127.0.0.1", port, 5))
    -- a multi-line reply: the code, then the whole reply text
    local code, reply = c:check("2..")
    assert.equal(220, code)
    assert.equal("220-hello\n220-second line\n220 ready", reply)  -- tp joins lines with \n
    assert.truthy(c:command("NOOP", "x"))
    assert.same({ 250, "250 got NOOP x" }, { c:check(250) })
    -- check with a function and with a table of patterns
    assert.truthy(c:command("HELP"))
    assert.same({ 250, "250 got HELP" }, { c:check({ "1..", "2.." }) })
    assert.truthy(c:command("DATA"))
    assert.equal(354, (c:check("3..")))
    local lines = {}
    for i = 1, 500 do lines[i] = "line " .. i .. "\r\n" end
    assert.truthy(c:source(ltn12.source.string(table.concat(lines) .. ".\r\n")))
    assert.same({ 250, "250 500 lines" }, { c:check("2..") })
    -- a wrong code is an error return, not a raise
    assert.truthy(c:command("X"))
    local r, e = c:check("3..")
    assert.is_nil(r)
    assert.equal("250 got X", e)
    assert.is_truthy(c:getcontrol():getfd() >= 0)
    assert.truthy(c:command("QUIT"))
    assert.equal(221, (c:check("2..")))
    c:close()
  end)

  it("socket.ftp in-process is green: a ticker runs during the transfers", function()
    local ftp = require "socket.ftp"
    local h, port, root, cleanup = S.ftp()
    finally(function() h:stop() cleanup() end)
    local ticks = 0
    local ticker = green.spawn(function()
      for _ = 1, 100000 do
        green.sleep(0)
        ticks = ticks + 1
      end
    end)
    local got = {}
    for i = 1, 5 do
      got[i] = ftp.get(("ftp://127.0.0.1:%d/dir/data.bin;type=i"):format(port))
    end
    ticker:kill()
    for i = 1, 5 do assert.equal(76800, #got[i]) end
    -- each get waits on the server several times (greeting, replies, data);
    -- a blocking core would let the ticker run only between the gets
    assert.is_true(ticks > 50, "ticks: " .. ticks)
    local f = io.open(root .. "/dir/data.bin", "rb")
    assert.equal(f:read("a"), got[1])
    f:close()
  end)
end)
