-- A C module waiting on a pipe, green: scripts/examples/pipewait/pipewait.c
-- waits through include/greenlua.h's greenlua_wait. While its read waits,
-- a ticker keeps ticking; a writer fills the pipe 0.3 s later.
-- Run: make examples && build/greenlua scripts/examples/pipewait/example.lua
package.cpath = "build/examples/?.so;" .. package.cpath
local green = require "green"
local pipewait = require "pipewait"

local rfd, wfd = assert(pipewait.pipe())
local ticks = 0
local ticker = green.spawn(function()
  while true do ticks = ticks + 1; green.sleep(0.05) end
end)
green.spawn(function()
  green.sleep(0.3)
  pipewait.write(wfd, "hello from the writer")
end)
local data = assert(pipewait.read(rfd, 100, 5))
ticker:kill()
print(("read %q while the ticker ticked %d times"):format(data, ticks))
print("with a timeout:", pipewait.read(rfd, 100, 0.1))
pipewait.close(wfd)
print("at end of file:", ("%q"):format(pipewait.read(rfd, 100, 1)))
pipewait.close(rfd)
