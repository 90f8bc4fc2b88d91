-- green.patch (API.md, "LuaSocket and LuaSec, green"): monkey_patch at
-- start-up unless --no-patch, import_patched, original.
local green = require "green"
local helpers = require "spec.helpers"

-- Run 'code' in a fresh greenlua with extra options; stdout, stderr, code.
local function run(opts, code)
  local src, out, err = os.tmpname(), os.tmpname(), os.tmpname()
  helpers.write(src, code)
  local _, _, rc = os.execute(("timeout -k 2 20 %s %s %s >%s 2>%s"):format(
    helpers.quote(helpers.greenlua()), opts, helpers.quote(src), helpers.quote(out), helpers.quote(err)))
  local function slurp(p)
    local f = io.open(p, "rb")
    local s = f and f:read("a") or ""
    if f then f:close() end
    os.remove(p)
    return s
  end
  os.remove(src)
  return slurp(out), slurp(err), rc
end

-- Lua for a child: a slow green HTTP server, and a ticker counting while
-- 'fn' runs; prints the tick count.
local PRELUDE = [[
local green = require "green"
local srv = green.listen("127.0.0.1", 0)
local _, PORT = srv:getsockname()
green.spawn(function()
  while true do
    local c = srv:accept()
    green.spawn(function()
      while true do local l = c:receive("*l") if not l or l == "" then break end end
      green.sleep(0.3)
      c:send("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
      c:close()
    end)
  end
end)
local function ticks_during(fn)
  local n = 0
  local t = green.spawn(function() while true do n = n + 1 green.sleep(0.02) end end)
  green.sleep(0)
  local r = table.pack(fn())
  t:kill()
  return n, table.unpack(r, 1, r.n)
end
local function is_green_core(core)
  return getmetatable(core.tcp()) == debug.getregistry()["greenlua.tcp{master}"]
end
]]

describe("green.patch", function()
  it("is in place at start-up: preload entries for socket.core, socket.unix, ssl, ssl.https", function()
    for _, name in ipairs({ "socket.core", "socket.unix", "ssl", "ssl.https" }) do
      assert.equal("function", type(package.preload[name]), name)
    end
    assert.equal(green.monkey_patch, require("green.patch").monkey_patch)
    assert.equal("function", type(green.import_patched))
    assert.equal("function", type(green.original))
  end)

  it("monkey_patch is idempotent and checks its argument", function()
    local before = package.preload["socket.core"]
    assert.is_true(green.monkey_patch())
    assert.is_true(green.monkey_patch({ socket = true, ssl = true, os = true, io = true }))
    assert.equal(before, package.preload["socket.core"])
    assert.has_error(function() green.monkey_patch(1) end,
      "bad argument #1 to 'monkey_patch' (table expected, got number)")
    assert.has_error(function() green.monkey_patch({ sockets = true }) end,
      "bad argument #1 to 'monkey_patch' (unknown key 'sockets')")
  end)

  it("--no-patch leaves the real modules, and the real one blocks every thread", function()
    local out, err = run("--no-patch", PRELUDE .. [[
      print(package.preload["socket.core"], package.preload["ssl"])
      local socket = require "socket"
      print(is_green_core(socket))
      print(ticks_during(function() socket.sleep(0.3) end))
    ]])
    assert.equal("nil\tnil\nfalse\t\n1\n", out:gsub("false\n", "false\t\n"), err)
  end)

  it("the default: require 'socket' is green, other threads run through socket.sleep and socket.http", function()
    local out, err = run("", PRELUDE .. [[
      local socket = require "socket"
      local http = require "socket.http"
      print(is_green_core(socket))
      local n = ticks_during(function() socket.sleep(0.3) end)
      print(n >= 5)
      local m, body, code = ticks_during(function() return http.request("http://127.0.0.1:" .. PORT .. "/") end)
      print(m >= 5, body, code)
    ]])
    assert.equal("true\ntrue\ntrue\tok\t200\n", out, err)
  end)

  it("import_patched gives a fresh green copy even under --no-patch, leaving package.loaded alone", function()
    local out, err = run("--no-patch", PRELUDE .. [[
      local real_http = require "socket.http"
      local ghttp = green.import_patched("socket.http")
      print(ghttp ~= real_http, package.loaded["socket.http"] == real_http)
      print(is_green_core(require "socket.core"))
      local n, body, code = ticks_during(function() return ghttp.request("http://127.0.0.1:" .. PORT .. "/") end)
      print(n >= 5, body, code)
    ]])
    assert.equal("true\ttrue\nfalse\ntrue\tok\t200\n", out, err)
  end)

  it("original gives the real module and its real dependencies, package.loaded untouched", function()
    local out, err = run("", PRELUDE .. [[
      local green_socket = require "socket"
      local core = green.original("socket.core")
      print(is_green_core(core), package.loaded["socket.core"] == green_socket)
      local rs = green.original("socket")
      print(rs ~= green_socket, rs.tcp == core.tcp, is_green_core(rs))
      print(ticks_during(function() core.sleep(0.2) end))
      print(green.original("os").execute ~= os.execute, green.original("io").popen ~= io.popen)
      print(type(green.original("io").read), green.original("socket.core") == core)
    ]])
    assert.equal("false\ttrue\ntrue\ttrue\tfalse\n1\ntrue\ttrue\nfunction\ttrue\n", out, err)
  end)

  it("a module loaded the real way before monkey_patch stays real", function()
    local out, err = run("--no-patch", PRELUDE .. [[
      local real = require "socket.core"
      green.monkey_patch()
      print(package.loaded["socket.core"] == real, is_green_core(require "socket.core"))
      print(type(package.preload["socket.core"]), green.original("socket.core") == real)
      print(green.original("os").execute == green.original("os").execute)
    ]])
    assert.equal("true\tfalse\nfunction\ttrue\ntrue\n", out, err)
  end)
end)
