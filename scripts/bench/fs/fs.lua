-- green.fs vs io: sequential write then read of SIZE bytes (default 100 MB)
-- in 4 KiB pieces, in the same run, ROUNDS rounds each (default 5), medians
-- and the ratio (green time / io time: 1.0 = as fast as io; the goal is
-- under 2). Usage: greenlua scripts/bench/fs/fs.lua [MB] [rounds] [dir]
local green = require "green"
local fs = require "green.fs"

local MB = tonumber(arg[1]) or 100
local ROUNDS = tonumber(arg[2]) or 5
local DIR = arg[3] or os.getenv("TMPDIR") or "/tmp"
local PIECE = 4096
local SIZE = MB * 1024 * 1024
local N = SIZE // PIECE
local piece = string.rep("x", PIECE - 1) .. "\n"
local path = ("%s/greenlua-fsbench-%d"):format(DIR, require("green.core").getpid())

local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end

local function write_with(open)
  local f = assert(open(path, "wb"))
  for _ = 1, N do f:write(piece) end
  assert(f:close())
end

local function read_with(open)
  local f = assert(open(path, "rb"))
  local total = 0
  while true do
    local s = f:read(PIECE)
    if not s then break end
    total = total + #s
  end
  f:close()
  assert(total == SIZE, "read " .. total)
end

local function time(fn, open)
  local t0 = green.now()
  fn(open)
  return green.now() - t0
end

local results = { io_write = {}, fs_write = {}, io_read = {}, fs_read = {} }
for _ = 1, ROUNDS do
  -- alternate, so drift in the machine's load hits both alike
  table.insert(results.io_write, time(write_with, io.open))
  table.insert(results.fs_write, time(write_with, fs.open))
  table.insert(results.io_read, time(read_with, io.open))
  table.insert(results.fs_read, time(read_with, fs.open))
end
os.remove(path)

local function row(what)
  local io_t, fs_t = median(results["io_" .. what]), median(results["fs_" .. what])
  print(("%-6s %d MB in %d B pieces: io %.3f s (%.0f MB/s), green.fs %.3f s (%.0f MB/s), ratio %.2f")
    :format(what, MB, PIECE, io_t, MB / io_t, fs_t, MB / fs_t, fs_t / io_t))
end
print(("green.fs vs io, median of %d rounds, file in %s"):format(ROUNDS, DIR))
row("write")
row("read")
