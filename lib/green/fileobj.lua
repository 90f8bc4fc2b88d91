-- green.fileobj: a file object with Lua 5.4's file methods and their exact
-- results (read formats, lines, write, seek, setvbuf, flush, close,
-- tostring, __close, __gc), buffered here in Lua over a source that does
-- the I/O, so the source may block a green thread (green.fs on libuv's
-- thread pool, io.popen's pipes, stdin).
--
-- fileobj.new(src) -> file. The source's fields:
--   fill(hint)       -> string (at least 1 byte) | nil (end of input) | nil, err[, code]
--                       hint: how many bytes the reader would like
--   write(data)      -> true | nil, err[, code]      (nil field: read-only file)
--   seek(whence, n)  -> position | nil, err[, code]  (nil field: "Illegal seek")
--   close()          -> what file:close() returns    (nil field: true)
--   gc(pending)      optional, called by __gc instead of close (a finalizer
--                    cannot block): must close without yielding; 'pending'
--                    is buffered output not written yet (or nil)
--   noclose          true: close() answers nil, "cannot close standard file"
--                    and the file stays open (io.stdin)
--   name             for messages (optional)
--   bufsize          bytes per fill and per write (default 64 KiB; green.fs
--                    uses 1 MiB: each request is a thread-pool round trip)
-- fileobj.type(x) -> "file" | "closed file" | nil, as io.type for these objects.
-- fileobj.is(x) -> true if x is one of them.
local concat, find, sub, byte, format = table.concat, string.find, string.sub, string.byte, string.format
local error, getmetatable, setmetatable, type, select, tonumber = error, getmetatable, setmetatable, type, select, tonumber
local mtype, tointeger = math.type, math.tointeger

-- The methods run behind a C function (core.fs_wrap) where there is one,
-- so that `return f:read("x")` keeps its caller on the stack, as a call of
-- a C method does, and errors carry the caller's "file:line:" as io's do.
-- W: the extra level that adds.
local ok_core, core = pcall(require, "green.core")
local wrap = ok_core and type(core) == "table" and core.fs_wrap
local W = wrap and 1 or 0

local F = {}
local MT = { __index = F, __name = "FILE*" }

local BUFSIZE = 65536   -- bytes asked of the source per fill, and output kept
                        -- before it goes to it, unless src.bufsize says
local EBADF, ESPIPE = "Bad file descriptor", "Illegal seek"

local function typename(v)
  local mt = getmetatable(v)
  local name = type(mt) == "table" and rawget(mt, "__name")
  return type(name) == "string" and name or type(v)
end

-- The file at argument 1 of method 'fname', open. Raised at 'level' + 1.
local function check(self, fname, level)
  if getmetatable(self) ~= MT then
    error(format("bad argument #1 to '%s' (FILE* expected, got %s)", fname, typename(self)), level + 1)
  end
  if self._closed then error("attempt to use a closed file", level + 1) end
end

-- ------------------------------------------------------------ writing

-- Send the buffered output. true | nil, err, code
local function flush_out(self)
  local n = self._wn
  if n == 0 then return true end
  local data = n == 1 and self._wbuf[1] or concat(self._wbuf, "", 1, n)
  for i = 1, n do self._wbuf[i] = nil end
  self._wn, self._wlen = 0, 0
  local write = self._src.write
  if not write then return nil, EBADF, 9 end
  local ok, err, code = write(data)
  if not ok then return nil, err, code end
  return true
end

-- Unread input that was buffered ahead goes back to the source (a write
-- or a seek must happen where the reader is, not where the source is).
local function drop_input(self)
  local avail = #self._rbuf - self._rpos + 1
  self._rbuf, self._rpos = "", 1
  if avail > 0 and self._src.seek then
    return self._src.seek("cur", -avail)
  end
  return true
end

-- ------------------------------------------------------------ reading

-- More input into the buffer: true, or false at the end (self._eof), or
-- nil, err, code.
local function more(self, hint)
  if self._eof then return false end
  hint = hint or self._bufsize
  if hint > self._bufsize * 16 then hint = self._bufsize * 16 end   -- read(huge) on a small file
  local s, err, code = self._src.fill(hint)
  if s == nil or s == "" then
    if err ~= nil then return nil, err, code end
    self._eof = true
    return false
  end
  if self._rpos > #self._rbuf then
    self._rbuf, self._rpos = s, 1
  else
    self._rbuf, self._rpos = sub(self._rbuf, self._rpos) .. s, 1
  end
  return true
end

local function read_line(self, chop)
  local parts, np = nil, 0
  while true do
    local buf, pos = self._rbuf, self._rpos
    local i = find(buf, "\n", pos, true)
    if i then
      self._rpos = i + 1
      local piece = sub(buf, pos, chop and i - 1 or i)
      if np == 0 then return piece end
      np = np + 1; parts[np] = piece
      return concat(parts)
    end
    if pos <= #buf then
      parts = parts or {}
      np = np + 1; parts[np] = sub(buf, pos)
      self._rbuf, self._rpos = "", 1
    end
    local ok, err, code = more(self)
    if ok == nil then return nil, err, code end
    if not ok then
      if np == 0 then return false end
      return concat(parts)
    end
  end
end

local function read_chars(self, n)
  local buf, pos = self._rbuf, self._rpos
  if #buf - pos + 1 >= n then
    self._rpos = pos + n
    return sub(buf, pos, pos + n - 1)
  end
  local parts, np, got = {}, 0, 0
  while true do
    buf, pos = self._rbuf, self._rpos
    local avail = #buf - pos + 1
    if avail >= n - got then
      np = np + 1; parts[np] = sub(buf, pos, pos + n - got - 1)
      self._rpos = pos + n - got
      return concat(parts)
    end
    if avail > 0 then
      np = np + 1; parts[np] = sub(buf, pos)
      got = got + avail
      self._rbuf, self._rpos = "", 1
    end
    local want = n - got
    local ok, err, code = more(self, want > self._bufsize and want or self._bufsize)
    if ok == nil then return nil, err, code end
    if not ok then
      if got == 0 then return false end
      return concat(parts)
    end
  end
end

local function read_all(self)
  local parts, np = {}, 0
  while true do
    if self._rpos <= #self._rbuf then
      np = np + 1; parts[np] = sub(self._rbuf, self._rpos)
      self._rbuf, self._rpos = "", 1
    end
    local ok, err, code = more(self, self._bufsize * 4)
    if ok == nil then return nil, err, code end
    if not ok then return concat(parts) end
  end
end

local function test_eof(self)
  if self._rpos <= #self._rbuf then return "" end
  local ok, err, code = more(self)
  if ok == nil then return nil, err, code end
  return ok and "" or false
end

-- read "n": Lua's read_number, a byte at a time with one byte of look-ahead
-- (put back at the end), at most 200 characters.
local SPACE = { [32] = true, [9] = true, [10] = true, [11] = true, [12] = true, [13] = true }
local function isdigit(c) return c and c >= 48 and c <= 57 end
local function isxdigit(c)
  return c and ((c >= 48 and c <= 57) or (c >= 97 and c <= 102) or (c >= 65 and c <= 70))
end

local function read_number(self)
  local failed   -- an I/O error while reading
  local function getc()
    if self._rpos > #self._rbuf then
      local ok, err, code = more(self)
      if ok == nil then failed = { err, code } end
      if not ok then return nil end
    end
    local c = byte(self._rbuf, self._rpos)
    self._rpos = self._rpos + 1
    return c
  end
  local buff, n, c = {}, 0, nil
  local function nextc()
    if n >= 200 then buff = {}; n = 0; return false end
    n = n + 1; buff[n] = c
    c = getc()
    return true
  end
  local function test2(a, b)
    if c == a or c == b then return nextc() end
    return false
  end
  local function readdigits(hex)
    local count = 0
    while (hex and isxdigit(c) or not hex and isdigit(c)) and nextc() do count = count + 1 end
    return count
  end
  repeat c = getc() until not (c and SPACE[c])
  local count, hex = 0, false
  test2(45, 43)                         -- - +
  if test2(48, 48) then                 -- 0
    if test2(120, 88) then hex = true   -- x X
    else count = 1 end
  end
  count = count + readdigits(hex)
  if test2(46, 46) then count = count + readdigits(hex) end   -- .
  if count > 0 and (hex and test2(112, 80) or not hex and test2(101, 69)) then  -- p P / e E
    test2(45, 43)
    readdigits(false)
  end
  if c then self._rpos = self._rpos - 1 end   -- ungetc
  if failed then return nil, failed[1], failed[2] end
  local s = string.char(table.unpack(buff, 1, n))
  local v = tonumber(s)
  if v then return v end
  return false
end

-- One format at argument 'arg' (for messages). Returns the value, false
-- (this format failed: nil in the results), or nil, err, code.
local function read_one(self, fmt, arg, fname, level)
  if type(fmt) == "number" then
    local n = tointeger(fmt)
    if not n then
      error(format("bad argument #%d to '%s' (number has no integer representation)", arg, fname), level + 1)
    end
    if n < 0 then error("not enough memory", level + 1) end
    if n == 0 then return test_eof(self) end
    return read_chars(self, n)
  end
  if type(fmt) ~= "string" then
    error(format("bad argument #%d to '%s' (string expected, got %s)", arg, fname, typename(fmt)), level + 1)
  end
  local c = byte(fmt, 1)
  if c == 42 then c = byte(fmt, 2) end   -- '*'
  if c == 108 then return read_line(self, true)        -- l
  elseif c == 76 then return read_line(self, false)    -- L
  elseif c == 110 then return read_number(self)        -- n
  elseif c == 97 then return read_all(self)            -- a
  end
  error(format("bad argument #%d to '%s' (invalid format)", arg, fname), level + 1)
end

-- g_read: the formats in ..., results as Lua gives them. 'argbase': the
-- argument number of the first format, for messages.
local function g_read(self, fname, argbase, level, ...)
  if self._wn > 0 then
    local ok, err, code = flush_out(self)
    if not ok then return nil, err, code end
  end
  if self._src.fill == nil then return nil, EBADF, 9 end
  self._eof = false    -- clearerr: each call may read past an earlier end
  local nargs = select("#", ...)
  if nargs == 0 then
    local v, err, code = read_line(self, true)
    if v == nil then return nil, err, code end
    if v == false then return nil end
    return v
  end
  if nargs == 1 then
    local v, err, code = read_one(self, ..., argbase, fname, level + 1)
    if v == nil then return nil, err, code end
    if v == false then return nil end
    return v
  end
  local results = {}
  for i = 1, nargs do
    local v, err, code = read_one(self, (select(i, ...)), argbase + i - 1, fname, level + 1)
    if v == nil then return nil, err, code end
    if v == false then
      results[i] = nil
      return table.unpack(results, 1, i)
    end
    results[i] = v
  end
  return table.unpack(results, 1, nargs)
end

function F.read(self, ...)
  -- the common case first: f:read(n) with n bytes buffered
  if getmetatable(self) == MT and not self._closed and self._wn == 0 and select("#", ...) == 1 then
    local n = ...
    if mtype(n) == "integer" and n > 0 then
      local buf, pos = self._rbuf, self._rpos
      if #buf - pos + 1 >= n then
        self._rpos = pos + n
        return sub(buf, pos, pos + n - 1)
      end
    end
  end
  check(self, "read", 2 + W)
  return g_read(self, "read", 1, 1 + W, ...)   -- a tail call: the caller is one level up
end

-- The iterator of lines(...): 'toclose' closes the file at the end
-- (io.lines(filename)). Raises on an I/O error, as Lua does.
local function make_lines(self, toclose, ...)
  local n = select("#", ...)
  if n > 250 then error(format("bad argument #%d to 'lines' (too many arguments)", 252), 2 + W) end
  local fmts = { ... }
  return function()
    if self._closed then error("file is already closed", 2) end
    local r
    if n == 0 then r = table.pack(g_read(self, "for iterator", 2, 2))
    else r = table.pack(g_read(self, "for iterator", 2, 2, table.unpack(fmts, 1, n))) end
    if r[1] then return table.unpack(r, 1, r.n) end
    if r.n > 1 and r[2] ~= nil then error(tostring(r[2]), 2) end
    if toclose then self:close() end
    return nil
  end
end

function F.lines(self, ...)
  check(self, "lines", 2 + W)
  return make_lines(self, false, ...)
end

local function numstr(v)
  if mtype(v) == "integer" then return format("%d", v) end
  return format("%.14g", v)
end

function F.write(self, ...)
  check(self, "write", 2 + W)
  local nargs = select("#", ...)
  local status, err, code = true, nil, nil
  if self._rpos <= #self._rbuf then
    local ok, e, c = drop_input(self)
    if not ok then status, err, code = false, e, c end
  end
  for i = 1, nargs do
    local v = select(i, ...)
    local tv = type(v)
    if tv == "number" then v = numstr(v)
    elseif tv ~= "string" then
      error(format("bad argument #%d to 'write' (string expected, got %s)", i, typename(v)), 2 + W)
    end
    if status and #v > 0 then
      if self._src.write == nil then
        status, err, code = false, EBADF, 9
      else
        local wn = self._wn + 1
        self._wbuf[wn] = v
        self._wn = wn
        self._wlen = self._wlen + #v
        local mode = self._vbuf
        if self._wlen >= self._bufsize or mode == "no" or (mode == "line" and find(v, "\n", 1, true)) then
          local ok, e, c = flush_out(self)
          if not ok then status, err, code = false, e, c end
        end
      end
    end
  end
  if status then return self end
  return nil, err, code
end

local SEEK = { set = true, cur = true, ["end"] = true }

function F.seek(self, whence, offset)
  check(self, "seek", 2 + W)
  if whence == nil then whence = "cur"
  elseif type(whence) == "number" then whence = tostring(whence)
  elseif type(whence) ~= "string" then
    error(format("bad argument #1 to 'seek' (string expected, got %s)", typename(whence)), 2 + W)
  end
  if not SEEK[whence] then error(format("bad argument #1 to 'seek' (invalid option '%s')", whence), 2 + W) end
  if offset == nil then offset = 0
  else
    local n = tonumber(offset)
    if n == nil then
      error(format("bad argument #2 to 'seek' (number expected, got %s)", typename(offset)), 2 + W)
    end
    offset = tointeger(n)
    if offset == nil then error("bad argument #2 to 'seek' (number has no integer representation)", 2 + W) end
  end
  local ok, err, code = flush_out(self)
  if not ok then return nil, err, code end
  local seek = self._src.seek
  if seek == nil then return nil, ESPIPE, 29 end
  local avail = #self._rbuf - self._rpos + 1
  if whence == "cur" and offset == 0 then   -- a tell: keep the buffer
    local pos, e, c = seek("cur", 0)
    if pos == nil then return nil, e, c end
    return pos - avail
  end
  if whence == "cur" then offset = offset - avail end
  self._rbuf, self._rpos, self._eof = "", 1, false
  local pos, e, c = seek(whence, offset)
  if pos == nil then return nil, e, c end
  return pos
end

local VBUF = { no = true, full = true, line = true }

function F.setvbuf(self, mode, size)
  check(self, "setvbuf", 2 + W)
  if type(mode) ~= "string" then
    error(format("bad argument #1 to 'setvbuf' (string expected, got %s)", typename(mode)), 2 + W)
  end
  if not VBUF[mode] then error(format("bad argument #1 to 'setvbuf' (invalid option '%s')", mode), 2 + W) end
  if size ~= nil and not tointeger(tonumber(size) or 0.5) then
    error("bad argument #2 to 'setvbuf' (number expected, got " .. typename(size) .. ")", 2 + W)
  end
  local ok, err, code = flush_out(self)
  self._vbuf = mode
  if not ok then return nil, err, code end
  return true
end

function F.flush(self)
  check(self, "flush", 2 + W)
  local ok, err, code = flush_out(self)
  if not ok then return nil, err, code end
  return true
end

local function close(self)
  local src = self._src
  if src.noclose then return nil, "cannot close standard file" end
  local ok, err, code = flush_out(self)
  self._closed = true
  self._rbuf, self._rpos = "", 1
  if src.close == nil then
    if not ok then return nil, err, code end
    return true
  end
  if not ok then
    src.close()
    return nil, err, code
  end
  return src.close()
end

function F.close(self)
  check(self, "close", 2 + W)
  return close(self)
end

local function check_meta(self, fname)
  if getmetatable(self) ~= MT then
    error(format("bad argument #1 to '%s' (FILE* expected, got %s)", fname, typename(self)), 3)
  end
end

MT.__tostring = function(self)
  check_meta(self, "__tostring")
  if self._closed then return "file (closed)" end
  return format("file (%p)", self)
end

-- A to-be-closed variable: closed as close() would (this may block).
MT.__close = function(self)
  check_meta(self, "__close")
  if not self._closed and not self._src.noclose then close(self) end
end

-- A finalizer cannot block: the source's gc closes without yielding, with
-- the output still buffered.
MT.__gc = function(self)
  check_meta(self, "__gc")
  if self._closed or self._src.noclose then return end
  self._closed = true
  local gc = self._src.gc
  if gc then
    local pending = self._wn > 0 and concat(self._wbuf, "", 1, self._wn) or nil
    gc(pending)
  end
end

local M = {}

-- adopt(t, src): make the table t such a file (green.stdin makes io.stdin
-- before this module is loaded, and turns it into one on first use).
function M.adopt(t, src)
  if type(src) ~= "table" or type(src.fill) ~= "function" and src.fill ~= nil then
    error("bad argument #1 to 'new' (source table expected)", 3)
  end
  t._src, t._rbuf, t._rpos, t._eof = src, "", 1, false
  t._wbuf, t._wn, t._wlen = {}, 0, 0
  t._bufsize = math.tointeger(src.bufsize) or BUFSIZE
  t._vbuf, t._closed = "full", false
  return setmetatable(t, MT)
end

function M.new(src) return M.adopt({}, src) end

function M.is(x) return getmetatable(x) == MT end

function M.type(x)
  if getmetatable(x) ~= MT then return nil end
  return x._closed and "closed file" or "file"
end

-- For io.lines(filename) and io.read (green.stdin): the iterator, and a
-- read of 'f' named 'fname' in messages. Call them as tail calls from a
-- function behind M.wrap (as green.stdin's io.read and io.lines are).
M.lines_of = make_lines
function M.read_of(f, fname, ...)
  check(f, fname, 2 + W)
  return g_read(f, fname, 1, 1 + W, ...)
end
if wrap then
  for k, f in pairs(F) do F[k] = wrap(f) end
end
M.wrap = wrap or function(f) return f end

M.metatable = MT

return M
