-- LuaSocket's own upstream test suite (its test/ directory, from Debian's
-- source package luasocket 3.1.0, fetched at test time by
-- spec/luasocket_suite/fetch.sh into build/luasocket-src/: never committed)
-- run under plain lua5.4 with Debian's real LuaSocket and under greenlua
-- (the green socket.core once it is patched in), each test file the same
-- way (spec/luasocket_suite/run.sh). They must agree: the same output,
-- normalised for timings, ports, addresses and the interpreter's name, and
-- the same exit status. The reference run must also reach the point that
-- shows the test itself passed (or, for utestclnt, the point where upstream
-- itself stops under the real library), so an agreement on a broken setup
-- cannot pass.
-- Left out, as they need hosts or services the machine does not have:
--   httptest.lua  (a web server on localhost with upstream's cgi scripts,
--                  auth realm and files, and a proxy), ftptest.lua (an FTP
--                  server with anonymous and user accounts), smtptest.lua
--                  and testmesg.lua (real SMTP hosts, mail to real people),
--                  tftptest.lua (a TFTP server at a Princeton host),
--                  dicttest.lua (a DICT server; socket.dict is gone from
--                  3.x), find-connect-limit (opens connections to
--                  google.com until it fails: unbounded, internet),
--                  testsupport.lua (a helper the others load, not a test).
-- Debian's own modules are covered on 127.0.0.1 in luasocket_http_spec,
-- luasocket_smtp_spec and luasocket_modules_spec instead.
local green = require "green"
local helpers = require "spec.helpers"
local T = require "spec.tls_helpers"
local q = helpers.quote

local RUN = "spec/luasocket_suite/run.sh"
local GREEN = helpers.greenlua()
local REF = "lua5.4"

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- What the reference output must contain (plain text) for the test to
-- count as passed under the real LuaSocket.
local cases = {
  { "hello", "Hello from LuaSocket" },
  { "ltn12test", "testing filter.chain (and source.chain, a bunch): ok" },
  { "mimetest", "done in Ts" },
  { "urltest", "the library passed all tests" },
  { "excepttest", "OK\n" },
  { "stufftest", "ok\nexit=0" },
  { "test_bind", "done!" },
  { "test_getaddrinfo", "done!" },
  { "test_socket_error", "Passed! Error is 'connection refused'." },
  { "udp-zero-length-send", "OK\tsend:(\"\")\t0" },
  { "udp-zero-length-send-recv", "ok\nexit=0" },
  { "tcp-getoptions", "options for\ttcp{client}" },
  -- server + client pairs
  { "testclnt", "testing: done in Ts", long = true, no_error = true },
  -- upstream's unix client predates 3.x's lazy socket.udp() (no fd until
  -- first use): its active_close stops there under the real library too
  { "utestclnt", "ERROR: should not be closed!", long = true },
  { "udpconnect", "this is a test from sc" },
  { "unixstream", "another line\tnil\tnil" },
  { "unixdgram", ">another line\t/tmp/foo" },
}

-- tests that use fixed ports or paths: the two interpreters take turns
local parallel_ok = {
  hello = true, ltn12test = true, mimetest = true, urltest = true, excepttest = true,
  stufftest = true, test_getaddrinfo = true, testclnt = true, utestclnt = true,
}

local function start(interp, tag, name)
  return T.bg(("exec sh %s %s %s %s"):format(RUN, q(interp), tag, name))
end

local function result(tag, name)
  return slurp(("build/luasocket-suite/%s/%s.out"):format(tag, name))
end

describe("LuaSocket's upstream test suite (Debian's luasocket 3.1.0 source)", function()
  local long = {}

  setup(function()
    local ok, _, rc = os.execute("sh spec/luasocket_suite/fetch.sh")
    assert(ok, ("LuaSocket's upstream test suite could not be fetched (fetch.sh exited %s): "
      .. "it comes from Debian's source package luasocket through deb.debian.org; "
      .. "see build/luasocket-src/fetch.log"):format(tostring(rc)))
    assert(io.open("build/luasocket-src/test/testclnt.lua"), "build/luasocket-src/test is incomplete")
    -- the long client/server runs (about a minute each: upstream's timeout
    -- tests sleep) all start now, side by side
    for _, c in ipairs(cases) do
      if c.long then
        long[c[1]] = { ref = start(REF, "ref", c[1]), green = start(GREEN, "green", c[1]) }
      end
    end
  end)

  teardown(function()
    for _, pair in pairs(long) do
      pair.ref:stop()
      pair.green:stop()
    end
  end)

  it("is fetched (a failure to fetch fails here, it never skips)", function()
    assert.is_truthy(io.open("build/luasocket-src/.fetched"))
  end)

  it("runs under greenlua with the green socket.core, under lua5.4 with the real one", function()
    local out, err, rc = helpers.run_chunk([[
      local green = require "green"
      local core = require "socket.core"
      print(core ~= green.original("socket.core"), package.searchpath("socket.core", package.cpath) ~= nil)]])
    assert.equal(0, rc, err)
    assert.equal("true\ttrue\n", out)
  end)

  for _, c in ipairs(cases) do
    local name, mark = c[1], c[2]
    it(name .. ": the same under greenlua as under lua5.4 with the real LuaSocket", function()
      local ref, grn
      if c.long then
        ref, grn = long[name].ref, long[name].green
      else
        ref = start(REF, "ref", name)
        if not parallel_ok[name] then assert.is_not_nil(ref:wait(100), ref:describe()) end
        grn = start(GREEN, "green", name)
        finally(function()
          ref:stop()
          grn:stop()
        end)
      end
      assert.is_not_nil(ref:wait(c.long and 290 or 100), "reference run did not end: " .. ref:describe())
      assert.is_not_nil(grn:wait(c.long and 290 or 100), "greenlua run did not end: " .. grn:describe())
      assert.equal(0, ref.rc, ref:describe())
      assert.equal(0, grn.rc, grn:describe())
      local r, g = result("ref", name), result("green", name)
      assert.is_truthy(r, "no output from the reference run")
      assert.is_truthy(r:find(mark, 1, true),
        "the reference run (lua5.4, real LuaSocket) did not pass by itself:\n" .. r)
      if c.no_error then assert.is_falsy(r:find("ERROR:", 1, true), r) end
      assert.equal(r, g)
    end)
  end
end)
