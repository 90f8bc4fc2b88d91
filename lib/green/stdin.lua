-- green.stdin: io.read, io.lines(), io.stdin green when stdin is a pipe, a
-- socket or a terminal (a regular file stays plain io: reading it never
-- waits long). patch(io) is what green.patch calls at start-up, so it is
-- cheap: one fstat of fd 0 and a few closures; green.fileobj itself loads
-- only when a green file is first used (io.stdin is made as an empty table
-- that becomes the file then).
--
-- The green stdin is a green.fileobj over core.stdin_read, which waits on
-- the console's own poll of fd 0 (host/console/console.c): one reader of
-- stdin at a time. While another green thread reads stdin (the REPL's
-- prompt, or a second io.read), io.read returns nil, "stdin is being read
-- by another green thread", EBUSY at once instead of taking input from
-- under it. Where Lua cannot yield (a gsub callback, __gc), it reads
-- plainly, blocking, as stock Lua does.
--
-- What patch(io) replaces: io.stdin (the green file), io.read and
-- io.lines() (they follow io.input(): only while the default input is
-- stdin do they read the green file; io.input(f) switches them to f as
-- Lua does), io.input (so io.input(io.stdin) and io.input() work with the
-- green file), io.type (it knows every green.fileobj: green.fs files,
-- io.popen's), io.close (io.close(f) closes one of them too). The real
-- ones stay in M.original.
local core = require "green.core"

local M = {}
local patched

-- core.fs_wrap keeps the caller on the stack under a tail call, as
-- green.fileobj's methods are kept (see there): the same levels.
local wrap = core.fs_wrap or function(f) return f end

local function fileobj_loaded() return package.loaded["green.fileobj"] end

function M.patch(io)
  if patched == io then return io end
  patched = io
  local orig = { read = io.read, lines = io.lines, stdin = io.stdin, type = io.type,
    input = io.input, close = io.close }
  M.original = orig
  local real_type, real_close = orig.type, orig.close
  local green_stdin, pending_src   -- the lazy io.stdin and its source, until adopted

  local function adopt()
    if pending_src then
      local src = pending_src
      pending_src = nil
      require("green.fileobj").adopt(green_stdin, src)
    end
    return green_stdin
  end

  io.type = function(x)
    if x ~= nil and x == green_stdin and pending_src then return "file" end
    local fo = fileobj_loaded()
    if fo then
      local t = fo.type(x)
      if t then return t end
    end
    return real_type(x)
  end
  io.close = wrap(function(file, ...)
    if file ~= nil and file == green_stdin then adopt() end
    local fo = fileobj_loaded()
    if fo and fo.is(file) then return file:close(...) end
    return real_close(file, ...)
  end)

  local kind = core.fs_fdtype(0)
  if kind ~= "fifo" and kind ~= "socket" and kind ~= "char" then return io end

  local stdin_read = core.stdin_read
  pending_src = {
    name = "stdin",
    noclose = true,
    fill = function(hint) return stdin_read(hint) end,
  }
  -- until first used: any field or tostring turns it into the file
  green_stdin = setmetatable({}, {
    __name = "FILE*",
    __index = function(t, k) adopt(); return t[k] end,
    __tostring = function(t) adopt(); return tostring(t) end,
  })
  M.stdin = green_stdin
  local real_stdin, real_input, real_read, real_lines = orig.stdin, orig.input, orig.read, orig.lines
  io.stdin = green_stdin
  io.input = function(file)
    if file ~= nil and file == green_stdin then
      real_input(real_stdin)
      return green_stdin
    end
    local f = real_input(file)
    if f == real_stdin then return green_stdin end
    return f
  end
  io.read = wrap(function(...)
    if real_input() == real_stdin then
      return require("green.fileobj").read_of(adopt(), "read", ...)
    end
    return real_read(...)
  end)
  io.lines = wrap(function(filename, ...)
    if filename == nil and real_input() == real_stdin then
      return require("green.fileobj").lines_of(adopt(), false, ...)
    end
    return real_lines(filename, ...)
  end)
  return io
end

return M
