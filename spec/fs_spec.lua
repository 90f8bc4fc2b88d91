-- green.fs (API.md "Processes, signals, files, ..."): open, readfile,
-- writefile, stat, remove, rename, mkdir, readdir on libuv's thread pool,
-- each nil, err on failure with io's and os's messages; other green threads
-- run while a call waits; a waiter killed or timed out mid-request leaves
-- nothing dangling (make sanitize is the judge) and no descriptor behind.
local green = require "green"
local helpers = require "spec.helpers"
local fs = require "green.fs"
local fileobj = require "green.fileobj"

local function fd_count()
  local p = io.popen("ls /proc/" .. require("green.core").getpid() .. "/fd | wc -l")
  local n = tonumber(p:read("a"))
  p:close()
  return n
end

describe("green.fs", function()
  local dir, cleanup
  setup(function() dir, cleanup = helpers.tmpdir() end)
  teardown(function() cleanup() end)
  after_each(helpers.run_deferred)

  it("open gives a file with Lua's methods; io.type knows it once green.stdin patched io", function()
    local f = assert(fs.open(dir .. "/a.txt", "w"))
    assert.truthy(fileobj.is(f))
    assert.truthy(tostring(f):match("^file %(0x%x+%)$"))
    assert.are.equal(f, f:write("one\n", 2, "\n"))
    assert.is_true(f:close())
    local g = assert(fs.open(dir .. "/a.txt"))
    assert.are.same({ "one", 2 }, { g:read("l", "n") })
    g:close()
    local real = io.type
    require("green.stdin").patch(io)
    assert.are.equal("closed file", io.type(g))
    assert.are.equal("file", io.type(io.stdout))
    assert.is_nil(io.type(42))
    assert.truthy(real)
  end)

  it("failures read like io's and os's", function()
    local cases = {
      { { fs.open("nope.txt") }, { io.open("nope.txt") } },
      { { fs.open(dir .. "/no/such/x", "w") }, { io.open(dir .. "/no/such/x", "w") } },
      { { fs.remove(dir .. "/nope") }, { os.remove(dir .. "/nope") } },
      { { fs.rename(dir .. "/nope", dir .. "/x") }, { os.rename(dir .. "/nope", dir .. "/x") } },
    }
    for _, c in ipairs(cases) do assert.are.same(c[2], c[1]) end
    assert.are.same({ nil, "nope.txt: No such file or directory", 2 }, { fs.stat("nope.txt") })
    assert.are.same({ nil, "nope.txt: No such file or directory", 2 }, { fs.readfile("nope.txt") })
    assert.are.same({ nil, "nope.txt: No such file or directory", 2 }, { fs.readdir("nope.txt") })
    assert.are.same({ nil, dir .. "/no/x: No such file or directory", 2 }, { fs.writefile(dir .. "/no/x", "") })
    assert.are.same({ nil, dir .. ": File exists", 17 }, { fs.mkdir(dir) })
    -- misuse raises, as io.open does
    assert.truthy(helpers.error_of(fs.open, dir .. "/a", "rw"):find("bad argument #2 to 'open' (invalid mode)", 1, true))
    assert.truthy(helpers.error_of(fs.open, {}):find("bad argument #1 to 'open' (string expected, got table)", 1, true))
  end)

  it("reading a directory: open works, read fails, as io", function()
    local f = assert(fs.open(dir))
    local r = io.open(dir)
    assert.are.same({ r:read("l") }, { f:read("l") })
    assert.are.same({ nil, "Is a directory", 21 }, { f:read("a") })
    r:close()
    f:close()
  end)

  it("readfile and writefile, binary safe and large", function()
    local data = {}
    for i = 0, 255 do data[#data + 1] = string.char(i) end
    local s = table.concat(data):rep(20000)   -- 5 MB, every byte value
    assert.is_true(fs.writefile(dir .. "/b.bin", s))
    assert.are.equal(s, fs.readfile(dir .. "/b.bin"))
    assert.is_true(fs.writefile(dir .. "/b.bin", "short"))
    assert.are.equal("short", fs.readfile(dir .. "/b.bin"))
    assert.is_true(fs.writefile(dir .. "/empty", ""))
    assert.are.equal("", fs.readfile(dir .. "/empty"))
  end)

  it("read(huge) on a small file gives what there is", function()
    fs.writefile(dir .. "/small", "tiny")
    local f = assert(fs.open(dir .. "/small"))
    assert.are.equal("tiny", f:read(1 << 40))
    assert.is_nil(f:read(1 << 40))
    f:close()
  end)

  it("stat, lstat: size, type, mode, mtime", function()
    fs.writefile(dir .. "/s.txt", "12345")
    local st = assert(fs.stat(dir .. "/s.txt"))
    assert.are.equal(5, st.size)
    assert.are.equal("file", st.type)
    assert.are.equal("number", math.type(st.mode) and "number")
    assert.truthy(math.abs(st.mtime - os.time()) < 3600)
    assert.are.equal("directory", fs.stat(dir).type)
    assert.is_true(os.execute(("ln -s s.txt %s/link"):format(helpers.quote(dir))))
    assert.are.equal("file", fs.stat(dir .. "/link").type)
    assert.are.equal("link", fs.lstat(dir .. "/link").type)
    assert.are.equal("char device", fs.stat("/dev/null").type)
    assert.is_true(fs.mkdir(dir .. "/m", tonumber("700", 8)))
    assert.are.equal(tonumber("700", 8), fs.stat(dir .. "/m").mode & tonumber("777", 8))
  end)

  it("mkdir, readdir (no . or ..), rename, remove (files and empty directories)", function()
    local d = dir .. "/tree"
    assert.is_true(fs.mkdir(d))
    for _, n in ipairs({ "c", "a", "b" }) do fs.writefile(d .. "/" .. n, n) end
    assert.is_true(fs.mkdir(d .. "/sub"))
    local names = assert(fs.readdir(d))
    table.sort(names)
    assert.are.same({ "a", "b", "c", "sub" }, names)
    assert.is_true(fs.rename(d .. "/a", d .. "/z"))
    assert.are.equal("a", fs.readfile(d .. "/z"))
    assert.is_nil(fs.stat(d .. "/a"))
    assert.is_true(fs.remove(d .. "/z"))
    assert.is_true(fs.remove(d .. "/sub"))
    local r = { fs.remove(d) }        -- not empty
    local want = { os.remove(d) }
    assert.are.same(want, r)
    assert.are.same({}, fs.readdir(dir .. "/m2") or (fs.mkdir(dir .. "/m2") and fs.readdir(dir .. "/m2")))
  end)

  it("a ticker keeps ticking through a 50 MB write (in 4 KiB pieces, then in one piece)", function()
    local running, ticks = true, 0
    local ticker = green.spawn(function()
      while running do
        ticks = ticks + 1
        green.sleep(0)
      end
    end)
    helpers.defer(function() running = false; ticker:kill() end)
    local piece = ("x"):rep(4095) .. "\n"
    local f = assert(fs.open(dir .. "/big", "w"))
    local before = ticks
    for _ = 1, 50 * 256 do f:write(piece) end
    assert.is_true(f:close())
    local during_pieces = ticks - before
    before = ticks
    assert.is_true(fs.writefile(dir .. "/big2", piece:rep(50 * 256)))
    local during_one = ticks - before
    running = false
    ticker:wait()
    assert.are.equal(50 * 1024 * 1024, fs.stat(dir .. "/big").size)
    assert.are.equal(50 * 1024 * 1024, fs.stat(dir .. "/big2").size)
    -- 50 requests of 1 MiB: the ticker ran while each was on the pool
    assert.truthy(during_pieces >= 50, "ticks during the 4 KiB writes: " .. during_pieces)
    assert.truthy(during_one >= 1, "ticks during the one write: " .. during_one)
    local timed_ticks = 0
    local t2 = green.spawn(function()
      for _ = 1, 1e6 do timed_ticks = timed_ticks + 1; green.sleep(0.01) end
    end)
    helpers.defer(function() t2:kill() end)
    local s = fs.readfile(dir .. "/big")
    assert.are.equal(50 * 1024 * 1024, #s)
    assert.truthy(timed_ticks >= 1)
  end)

  it("a reader killed or timed out mid-request: the request finishes alone, nothing leaks", function()
    local path = dir .. "/kill.bin"
    fs.writefile(path, ("k"):rep(8 * 1024 * 1024))
    local fds = fd_count()
    for _ = 1, 20 do
      local gt = green.spawn(fs.readfile, path)
      green.sleep(0)       -- it is on the pool now
      gt:kill()
      local ok, err = pcall(green.with_timeout, 0.0001, fs.readfile, path)
      assert.truthy(ok or green.is_timeout(err), err)
      local w = green.spawn(function()
        local f = fs.open(dir .. "/w.bin", "w")
        f:write(("w"):rep(3 * 1024 * 1024))
        f:close()
      end)
      green.sleep(0)
      w:kill()
    end
    -- opens killed at once: their fds are closed by the callback
    for _ = 1, 20 do
      local gt = green.spawn(fs.open, path)
      gt:kill()
    end
    collectgarbage()
    collectgarbage()
    assert.truthy(helpers.wait_until(function()
      collectgarbage()
      return fd_count() <= fds
    end, 10), "descriptors left open: " .. fd_count() .. " > " .. fds)
    assert.are.equal(8 * 1024 * 1024, #fs.readfile(path))
  end)

  it("a file closed (or collected) while a killed reader's request runs", function()
    local path = dir .. "/c.bin"
    fs.writefile(path, ("c"):rep(4 * 1024 * 1024))
    for _ = 1, 10 do
      local f = assert(fs.open(path))
      local gt = green.spawn(function() return f:read("a") end)
      green.sleep(0)
      gt:kill()
      assert.is_true(f:close())
      local g = assert(fs.open(path))
      local gt2 = green.spawn(function() return g:read("a") end)
      green.sleep(0)
      gt2:kill()
      g = nil
      collectgarbage()
    end
    green.sleep(0.2)
    assert.are.equal(4 * 1024 * 1024, #fs.readfile(path))
  end)

  it("1,000 opens and closes leave no descriptor behind", function()
    fs.writefile(dir .. "/many", "x")
    local fds = fd_count()
    for _ = 1, 1000 do
      local f = assert(fs.open(dir .. "/many"))
      assert.are.equal("x", f:read("a"))
      f:close()
    end
    for _ = 1, 200 do local _ = fs.open(dir .. "/many") end   -- left to __gc
    collectgarbage()
    collectgarbage()
    assert.are.equal(fds, fd_count())
  end)

  it("buffered output of a file left to the collector is written", function()
    do
      local f = assert(fs.open(dir .. "/gc.txt", "w"))
      f:write("kept")
    end
    collectgarbage()
    collectgarbage()
    assert.are.equal("kept", fs.readfile(dir .. "/gc.txt"))
  end)

  it("a FIFO opened with green.fs reads as a stream", function()
    local fifo = dir .. "/fifo"
    assert.is_true(os.execute("mkfifo " .. helpers.quote(fifo)))
    local bg = io.popen(("sh -c 'printf \"p1\\np2\\n\" > %s' &"):format(helpers.quote(fifo)))
    local f = assert(fs.open(fifo))
    assert.are.same({ "p1", "p2" }, { f:read("l", "l") })
    assert.are.same({ nil, "Illegal seek", 29 }, { f:seek("set", 0) })
    f:close()
    bg:close()
  end)
end)
