-- green.stdin: io.read, io.lines(), io.stdin green when stdin is a pipe, a
-- socket or a terminal (a regular file stays plain io: reading it never
-- waits long). patch(io) is what green.patch calls at start-up: one fstat
-- of fd 0 and a few closures, nothing more.
--
-- The green stdin is a green.fileobj over core.stdin_read, which waits on
-- the console's own poll of fd 0 (host/console/console.c): one reader of
-- stdin at a time. While another green thread reads stdin (the REPL's
-- prompt, or a second io.read), io.read returns nil, "stdin is being read
-- by another green thread" at once instead of taking input from under it.
--
-- What patch(io) replaces: io.stdin (the green file), io.read and
-- io.lines() (they follow io.input(): only while the default input is
-- stdin do they read the green file; io.input(f) switches them to f as
-- Lua does), io.input (so io.input(io.stdin) and io.input() work with the
-- green file), io.type (it knows every green.fileobj: green.fs files,
-- io.popen's), io.close (io.close(f) closes one of them too). The real
-- ones stay in M.original.
local core = require "green.core"
local fileobj = require "green.fileobj"

local M = {}
local patched

function M.patch(io)
  if patched == io then return io end
  patched = io
  local orig = { read = io.read, lines = io.lines, stdin = io.stdin, type = io.type, input = io.input }
  M.original = orig
  local real_type = orig.type
  io.type = function(x)
    local t = fileobj.type(x)
    if t then return t end
    return real_type(x)
  end
  -- io.close(f) closes a green file too (io.popen's, green.fs's)
  local real_close = io.close
  orig.close = real_close
  io.close = fileobj.wrap(function(file, ...)
    if fileobj.is(file) then return file:close(...) end
    return real_close(file, ...)
  end)
  local kind = core.fs_fdtype(0)
  if kind ~= "fifo" and kind ~= "socket" and kind ~= "char" then return io end
  local stdin_read = core.stdin_read
  local green_stdin = fileobj.new({
    name = "stdin",
    noclose = true,
    fill = function(hint) return stdin_read(hint) end,
  })
  M.stdin = green_stdin
  local real_stdin, real_input, real_read, real_lines = orig.stdin, orig.input, orig.read, orig.lines
  local read_of, lines_of, wrap = fileobj.read_of, fileobj.lines_of, fileobj.wrap
  io.stdin = green_stdin
  io.input = function(file)
    if file == green_stdin then
      real_input(real_stdin)
      return green_stdin
    end
    local f = real_input(file)
    if f == real_stdin then return green_stdin end
    return f
  end
  -- behind wrap: errors name the script's line, as the real ones do
  io.read = wrap(function(...)
    if real_input() == real_stdin then return read_of(green_stdin, "read", ...) end
    return real_read(...)
  end)
  io.lines = wrap(function(filename, ...)
    if filename == nil and real_input() == real_stdin then
      return lines_of(green_stdin, false, ...)
    end
    return real_lines(filename, ...)
  end)
  return io
end

return M
