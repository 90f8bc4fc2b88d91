-- include/greenlua.h and its example (API.md: "A C header installed with
-- greenlua offers the same wait to C modules"): scripts/examples/pipewait,
-- a tiny C module of ours that waits on a pipe through greenlua_wait.
-- `make test` builds it (build/examples/pipewait.so).
local green = require "green"

local SO = "build/examples/pipewait.so"

local function load_pipewait()
  local f = io.open(SO, "rb")
  assert(f, SO .. " is missing: build it with `make examples` (make test does)")
  f:close()
  return assert(package.loadlib(SO, "luaopen_pipewait"))()
end

describe("greenlua.h's greenlua_wait (scripts/examples/pipewait)", function()
  local pw = load_pipewait()

  it("waits green: other threads run while a C read waits on a pipe", function()
    local r, w = assert(pw.pipe())
    local order = {}
    local reader = green.spawn(function()
      order[#order + 1] = "reading"
      local data = pw.read(r, 100, 5)
      order[#order + 1] = data
    end)
    green.sleep(0)
    order[#order + 1] = "other thread"
    pw.write(w, "ping")
    reader:wait()
    assert.same({ "reading", "other thread", "ping" }, order)
    pw.close(r); pw.close(w)
  end)

  it("times out with nil, 'timeout', and sees the end of the pipe", function()
    local r, w = assert(pw.pipe())
    assert.same({ nil, "timeout" }, { pw.read(r, 10, 0.05) })
    pw.close(w)
    assert.equal("", pw.read(r, 10, 1))
    pw.close(r)
  end)

  it("raises for a second reader of the same pipe; a killed reader leaves no trace", function()
    local r, w = assert(pw.pipe())
    local first = green.spawn(function() return pw.read(r, 10, 5) end)
    green.sleep(0)
    local ok, err = pcall(pw.read, r, 10, 1)
    assert.is_false(ok)
    assert.matches("another green thread is waiting to read fd " .. r, err)
    first:kill()
    pw.write(w, "after")
    assert.equal("after", pw.read(r, 10, 1))
    pw.close(r); pw.close(w)
  end)

  it("works under plain lua5.4 too (a blocking poll)", function()
    local p = assert(io.popen(([[lua5.4 -e 'local p = assert(package.loadlib(%q, "luaopen_pipewait"))()
      local r, w = p.pipe() p.write(w, "x") print(p.read(r, 10, 1)) print(p.read(r, 10, 0.05))' 2>&1]]):format(SO)))
    local out = p:read("a")
    p:close()
    assert.equal("x\nnil\ttimeout\n", out)
  end)

  it("the example script runs", function()
    local p = assert(io.popen((os.getenv("GREENLUA") or "build/greenlua") .. " scripts/examples/pipewait/example.lua 2>&1"))
    local out = p:read("a")
    p:close()
    assert.matches('^read "hello from the writer" while the ticker ticked %d+ times\n', out)
    assert.matches("with a timeout:\tnil\ttimeout\n", out, 1, true)
  end)
end)
