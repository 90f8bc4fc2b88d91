-- Debian's own socket.http (unmodified, /usr/share/lua/5.4/socket/http.lua)
-- over greenlua's socket.core, against `python3 -m http.server` and a small
-- Python app server (spec/servers/luasocket_http_server.py), all on
-- 127.0.0.1: GET (simple and generic forms), sinks, HEAD, POST with ltn12
-- sources (with a length and chunked), redirects, statuses, errors. The
-- same script (spec/luasocket/http_script.lua) must print the same under
-- plain lua5.4 with the real LuaSocket; in-process calls must be green.
local green = require "green"
local helpers = require "spec.helpers"
local S = require "spec.luasocket.servers"

describe("socket.http (Debian's) over the green socket.core", function()
  local files, fport, dir, cleanup, app, aport

  setup(function()
    files, fport, dir, cleanup = S.files()
    app, aport = S.app()
  end)

  teardown(function()
    if files then files:stop() end
    if app then app:stop() end
    if cleanup then cleanup() end
  end)

  it("prints the same under greenlua as under lua5.4 with the real LuaSocket", function()
    local args = ("%d %d %s"):format(fport, aport, helpers.quote(dir))
    local ro, re, rrc = S.run("lua5.4", "spec/luasocket/http_script.lua", args)
    local go, ge, grc = S.run(helpers.quote(helpers.greenlua()), "spec/luasocket/http_script.lua", args)
    assert.equal(0, rrc, re)
    assert.equal(0, grc, ge)
    assert.truthy(ro:find("\ndone\n$"), ro)
    -- the reference itself got what the servers serve
    assert.truthy(ro:find("get small\ta small file\n | 200 | ", 1, true), ro)
    assert.truthy(ro:find("hops 3\tarrived | 200", 1, true), ro)
    assert.equal(ro, go)
  end)

  it("GET in-process, green: another thread runs while the request waits", function()
    local http = require "socket.http"
    local ticks = 0
    local ticker = green.spawn(function()
      for _ = 1, 1000 do
        green.sleep(0.01)
        ticks = ticks + 1
      end
    end)
    local body, code = http.request(("http://127.0.0.1:%d/sleep?s=0.3"):format(aport))
    ticker:kill()
    assert.equal("slept", body)
    assert.equal(200, code)
    -- a blocking request would have let it tick at most once
    assert.is_true(ticks >= 5, "ticks: " .. ticks)
  end)

  it("GET of a 100 kB file, sinks, and a directory's 301 followed", function()
    local http, ltn12 = require "socket.http", require "ltn12"
    local f = io.open(dir .. "/big.txt", "rb")
    local want = f:read("a")
    f:close()
    local body, code, headers, status = http.request(("http://127.0.0.1:%d/big.txt"):format(fport))
    assert.equal(want, body)
    assert.equal(200, code)
    assert.equal(tostring(#want), headers["content-length"])
    assert.truthy(status:find("^HTTP/1%.%d 200"))
    local t = {}
    local one, code2 = http.request { url = ("http://127.0.0.1:%d/big.txt"):format(fport), sink = ltn12.sink.table(t) }
    assert.equal(1, one)
    assert.equal(200, code2)
    assert.equal(want, table.concat(t))
    body, code = http.request(("http://127.0.0.1:%d/sub"):format(fport))
    assert.equal("<html>the sub index</html>\n", body)
    assert.equal(200, code)
  end)

  it("POST with an ltn12 source, with a length and chunked", function()
    local http, ltn12 = require "socket.http", require "ltn12"
    local data = string.rep("0123456789", 10000)
    local t = {}
    local _, code = http.request { url = ("http://127.0.0.1:%d/echo"):format(aport), method = "POST",
      source = ltn12.source.string(data), headers = { ["content-length"] = #data },
      sink = ltn12.sink.table(t) }
    assert.equal(200, code)
    local echo = table.concat(t)
    assert.truthy(echo:find("METHOD POST\n", 1, true))
    assert.truthy(echo:find("BODY 100000\n", 1, true))
    assert.equal(data, echo:match("\n\n(.*)$"))
    t = {}
    local parts = { "a", "bb", "ccc" }
    local i = 0
    _, code = http.request { url = ("http://127.0.0.1:%d/echo"):format(aport), method = "POST",
      source = function() i = i + 1 return parts[i] end, sink = ltn12.sink.table(t) }
    assert.equal(200, code)
    echo = table.concat(t)
    assert.truthy(echo:find("H transfer-encoding: chunked\n", 1, true), echo)
    assert.equal("abbccc", echo:match("\n\n(.*)$"))
  end)

  it("redirects: followed up to 5 hops, not past them, not with redirect = false", function()
    local http = require "socket.http"
    local base = ("http://127.0.0.1:%d"):format(aport)
    local body, code, headers = http.request(base .. "/hops?n=5")
    assert.equal("arrived", body)
    assert.equal(200, code)
    body, code, headers = http.request(base .. "/hops?n=6")
    assert.equal(302, code)
    assert.equal("hop", body)
    assert.equal("/hops?n=0", headers.location)
    body, code = http.request { url = base .. "/hops?n=1", redirect = false }
    assert.equal(1, body)
    assert.equal(302, code)
  end)

  it("errors are LuaSocket's strings", function()
    local http = require "socket.http"
    assert.same({ nil, "connection refused" }, { http.request("http://127.0.0.1:1/") })
    local old = http.TIMEOUT
    http.TIMEOUT = 0.2
    local r, e = http.request(("http://127.0.0.1:%d/sleep?s=1"):format(aport))
    http.TIMEOUT = old
    assert.same({ nil, "timeout" }, { r, e })
  end)
end)
