-- green.fileobj (DESIGN10 part F): Lua 5.4's file methods with exact results.
-- Differential: every snippet of spec/fileobj_cases.lua runs on a real io
-- file under plain lua5.4 and on a green.fs file here; the records (values,
-- counts, error returns, raised messages with their "file:line:") must be
-- identical. Then what only a source can do: pipes that cannot seek, read
-- and write errors, close results passed through, stdin's noclose, __gc.
local green = require "green"
local helpers = require "spec.helpers"
local fs = require "green.fs"
local fileobj = require "green.fileobj"

local q = helpers.quote

local function abspath(p)
  if p:sub(1, 1) == "/" then return p end
  return (os.getenv("PWD") or ".") .. "/" .. p
end
local CASES = abspath("spec/fileobj_cases.lua")

local function run_lua54(dir, name)
  local p = io.popen(("lua5.4 %s %s %s 2>&1"):format(q(CASES), q(dir), q(name)))
  local s = p:read("a")
  p:close()
  return s
end

-- A source over a string; opts: chunk (bytes per fill), seekable, fill_error
-- (after that many fills), write (collects into opts.out), close results.
local function memsrc(data, opts)
  opts = opts or {}
  local pos, fills = 0, 0
  local src = { name = "mem" }
  src.fill = function(hint)
    fills = fills + 1
    if opts.fill_error and fills > opts.fill_error then return nil, "Input/output error", 5 end
    if pos >= #data then return nil end
    local s = data:sub(pos + 1, pos + math.min(hint, opts.chunk or hint))
    pos = pos + #s
    return s
  end
  if opts.seekable then
    src.seek = function(whence, off)
      local base = whence == "set" and 0 or whence == "cur" and pos or #data
      pos = base + off
      return pos
    end
  end
  if opts.out then
    src.write = function(s)
      if opts.write_error then return nil, "No space left on device", 28 end
      opts.out[#opts.out + 1] = s
      return true
    end
  end
  src.close = opts.close
  src.gc = opts.gc
  src.noclose = opts.noclose
  return src
end

describe("green.fileobj", function()
  local dir, cleanup
  setup(function() dir, cleanup = helpers.tmpdir() end)
  teardown(function() cleanup() end)

  describe("gives what io gives (lua5.4 on a real file vs green.fs)", function()
    local C = dofile(CASES)
    for _, case in ipairs(C.cases) do
      local name = case[1]
      it(name, function()
        local want = run_lua54(dir, name)
        assert.truthy(want:find("== " .. name, 1, true), want)
        local got = C.run_all(fs.open, dir, fileobj.type, name)
        assert.are.equal(want, got)
      end)
    end
  end)

  it("a source that cannot seek: Illegal seek, as a pipe's file", function()
    local f = fileobj.new(memsrc("a\nb\n", { chunk = 1 }))
    assert.are.same({ nil, "Illegal seek", 29 }, { f:seek() })
    assert.are.same({ nil, "Illegal seek", 29 }, { f:seek("set", 0) })
    assert.are.equal("a", f:read("l"))
    assert.are.same({ nil, "Bad file descriptor", 9 }, { f:write("x") })
    assert.are.equal("b\n", f:read("a"))
    assert.are.equal(true, f:close())
  end)

  it("a read error returns nil, message, code; lines raises it", function()
    local f = fileobj.new(memsrc("abc\ndef", { chunk = 2, fill_error = 1 }))
    assert.are.same({ nil, "Input/output error", 5 }, { f:read("l") })
    local g = fileobj.new(memsrc("abc\ndef", { chunk = 4, fill_error = 1 }))
    local err = helpers.error_of(function() for _ in g:lines() do end end)
    assert.truthy(tostring(err):find("Input/output error", 1, true), err)
  end)

  it("a write error comes back from write, flush or close", function()
    local out = {}
    local f = fileobj.new(memsrc("", { out = out, write_error = true }))
    assert.are.equal(f, f:write("buffered"))          -- still in the buffer
    assert.are.same({ nil, "No space left on device", 28 }, { f:flush() })
    f:setvbuf("no")
    assert.are.same({ nil, "No space left on device", 28 }, { f:write("x") })
    f:setvbuf("full")
    f:write("y")
    assert.are.same({ nil, "No space left on device", 28 }, { f:close() })
    assert.are.equal("file (closed)", tostring(f))
  end)

  it("close returns what the source's close returns (io.popen: os.execute's results)", function()
    local f = fileobj.new(memsrc("x", { close = function() return nil, "exit", 3 end }))
    assert.are.same({ nil, "exit", 3 }, { f:close() })
    local g = fileobj.new(memsrc("x", { close = function() return true, "exit", 0 end }))
    assert.are.same({ true, "exit", 0 }, { g:close() })
  end)

  it("noclose: a standard file cannot be closed and stays usable", function()
    local f = fileobj.new(memsrc("line\n", { noclose = true }))
    assert.are.same({ nil, "cannot close standard file" }, { f:close() })
    assert.are.equal("file", fileobj.type(f))
    assert.are.equal("line", f:read())
  end)

  it("line buffering writes at each newline; full buffering holds small writes", function()
    local out = {}
    local f = fileobj.new(memsrc("", { out = out }))
    f:write("a", "b")
    assert.are.equal(0, #out)
    f:setvbuf("line")
    f:write("c\nd")
    assert.are.equal("abc\nd", table.concat(out))
    f:close()
  end)

  it("__gc hands buffered output to the source's gc, without blocking", function()
    local got = {}
    do
      local f = fileobj.new(memsrc("", { out = {}, gc = function(p) got.pending = p; got.called = true end }))
      f:write("tail")
    end
    collectgarbage()
    collectgarbage()
    assert.is_true(got.called)
    assert.are.equal("tail", got.pending)
  end)

  it("a to-be-closed file is closed at the end of its block", function()
    local closed = 0
    local f = fileobj.new(memsrc("x", { close = function() closed = closed + 1; return true end }))
    do local g <close> = f end
    assert.are.equal(1, closed)
    assert.are.equal("closed file", fileobj.type(f))
  end)

  it("reading from a green thread lets the others run (the source may block)", function()
    local ev = green.Event()
    local src = memsrc("")
    src.fill = function() return ev:wait() end
    local f = fileobj.new(src)
    local order = {}
    local reader = green.spawn(function()
      local line = f:read("l")
      order[#order + 1] = line
    end)
    green.sleep(0)
    order[#order + 1] = "other"
    ev:send("late\n")
    reader:wait()
    assert.are.same({ "other", "late" }, order)
  end)
end)
