-- green.fs: files on libuv's thread pool (host/io/fs.c). A green thread
-- blocks while its call runs; the others keep running.
--   open(path, mode) -> file (green.fileobj: Lua's file methods, buffered)
--   readfile(path) -> string;  writefile(path, data) -> true
--   stat(path) -> {size=, type=, mode=, mtime=, atime=, ctime=, nlink=, ino=}
--       (follows links; lstat(path) does not, and gives type "link")
--   remove(path) (a file or an empty directory, as os.remove), rename(from, to)
--   (its message names no file, as os.rename's),
--   mkdir(path[, mode]), readdir(path) -> array of names (no . or ..)
-- Each returns nil, "path: message", errno on failure, as io and os do.
local core = require "green.core"
local fileobj = require "green.fileobj"

local type, tostring, error, format = type, tostring, error, string.format
local fs_open, fs_stat = core.fs_open, core.fs_stat

local M = {}

local ESPIPE, EISDIR = 29, 21
local CHUNK = 1 << 20   -- readfile's pieces

local function typename(v)
  local mt = getmetatable(v)
  local name = type(mt) == "table" and rawget(mt, "__name")
  return type(name) == "string" and name or type(v)
end

local function check_path(path, fname, arg)
  local t = type(path)
  if t == "number" then return tostring(path) end
  if t ~= "string" then
    error(format("bad argument #%d to '%s' (string expected, got %s)", arg or 1, fname, typename(path)), 3)
  end
  return path
end

local function fail(path, err, code)
  return nil, path .. ": " .. tostring(err), code
end

-- The source of a file object over the fs_file 'h' (see green.fileobj).
-- Reads and writes go at an offset kept here (pread/pwrite), so the
-- buffer's seeks cost nothing; a descriptor that cannot seek (a FIFO)
-- switches to plain reads and writes.
local function source(h, path, base)
  local pos = 0
  local stream = false
  local append = base:sub(1, 1) == "a"
  local src = { name = path, bufsize = CHUNK }
  local function where()
    if stream then return -1 end
    if pos == nil then   -- after an append: the end
      local st, err, code = h:stat()
      if not st then return nil, err, code end
      pos = st.size
    end
    return pos
  end
  if base == "r" or base:find("+", 1, true) then
    src.fill = function(hint)
      local at, err, code = where()
      if not at then return nil, err, code end
      local s
      s, err, code = h:read(hint, at)
      if s == nil and code == ESPIPE and not stream then
        stream = true
        s, err, code = h:read(hint, -1)
      end
      if s == nil then return nil, err, code end
      if s == "" then return nil end
      if not stream then pos = pos + #s end
      return s
    end
  end
  if base ~= "r" then
    src.write = function(data)
      local at, err, code = -1, nil, nil
      if not append then
        at, err, code = where()
        if not at then return nil, err, code end
      end
      local ok
      ok, err, code = h:write(data, at)
      if ok == nil and code == ESPIPE and not stream then
        stream = true
        ok, err, code = h:write(data, -1)
      end
      if not ok then return nil, err, code end
      if append then pos = nil elseif not stream then pos = pos + #data end
      return true
    end
  end
  src.seek = function(whence, offset)
    if stream then return nil, "Illegal seek", ESPIPE end
    local base_pos
    if whence == "set" then base_pos = 0
    elseif whence == "cur" then
      local err, code
      base_pos, err, code = where()
      if not base_pos then return nil, err, code end
    else
      local st, err, code = h:stat()
      if not st then return nil, err, code end
      if st.type ~= "file" then return nil, "Illegal seek", ESPIPE end
      base_pos = st.size
    end
    local new = base_pos + offset
    if new < 0 then return nil, "Invalid argument", 22 end
    pos = new
    return new
  end
  src.close = function() return h:close() end
  src.gc = function(pending)
    if pending then h:write_now(pending, append and -1 or (stream and -1 or pos or -1)) end
    h:close()
  end
  return src
end

-- open(path[, mode]) -> file | nil, err, code (as io.open)
function M.open(path, mode)
  path = check_path(path, "open")
  if mode == nil then mode = "r"
  elseif type(mode) == "number" then mode = tostring(mode)
  elseif type(mode) ~= "string" then
    error(format("bad argument #2 to 'open' (string expected, got %s)", typename(mode)), 2)
  end
  local base = mode:match("^([rwa]%+?)b*$")
  if not base then error("bad argument #2 to 'open' (invalid mode)", 2) end
  if path:find("\0", 1, true) then return fail(path, "Invalid argument", 22) end
  local h, err, code = fs_open(path, base)
  if not h then return fail(path, err, code) end
  return fileobj.new(source(h, path, base))
end

-- readfile(path) -> the whole file | nil, err, code
function M.readfile(path)
  path = check_path(path, "readfile")
  if path:find("\0", 1, true) then return fail(path, "Invalid argument", 22) end
  local h, err, code = fs_open(path, "r")
  if not h then return fail(path, err, code) end
  local parts, n, pos = {}, 0, 0
  while true do
    local s
    s, err, code = h:read(CHUNK, pos)
    if s == nil then
      h:close()
      return fail(path, err, code)
    end
    if s == "" then break end
    n = n + 1
    parts[n] = s
    pos = pos + #s
  end
  h:close()
  return table.concat(parts, "", 1, n)
end

-- writefile(path, data) -> true | nil, err, code (the file is replaced)
function M.writefile(path, data)
  path = check_path(path, "writefile")
  if type(data) == "number" then data = tostring(data)
  elseif type(data) ~= "string" then
    error(format("bad argument #2 to 'writefile' (string expected, got %s)", typename(data)), 2)
  end
  if path:find("\0", 1, true) then return fail(path, "Invalid argument", 22) end
  local h, err, code = fs_open(path, "w")
  if not h then return fail(path, err, code) end
  local ok
  ok, err, code = h:write(data, 0)
  if not ok then
    h:close()
    return fail(path, err, code)
  end
  ok, err, code = h:close()
  if not ok then return fail(path, err, code) end
  return true
end

local function path_call(fname, f, ...)
  return function(path, ...)
    path = check_path(path, fname)
    if path:find("\0", 1, true) then return fail(path, "Invalid argument", 22) end
    local r, err, code = f(path, ...)
    if r == nil then return fail(path, err, code) end
    return r
  end
end

M.stat = path_call("stat", function(path) return fs_stat(path, false) end)
M.lstat = path_call("lstat", function(path) return fs_stat(path, true) end)
M.readdir = path_call("readdir", core.fs_scandir)

-- remove(path): a file, or an empty directory (as os.remove / remove(3))
M.remove = path_call("remove", function(path)
  local ok, err, code = core.fs_unlink(path)
  if ok == nil and code == EISDIR then return core.fs_rmdir(path) end
  return ok, err, code
end)

function M.mkdir(path, mode)
  path = check_path(path, "mkdir")
  if mode ~= nil and math.tointeger(mode) == nil then
    error(format("bad argument #2 to 'mkdir' (integer expected, got %s)", typename(mode)), 2)
  end
  if path:find("\0", 1, true) then return fail(path, "Invalid argument", 22) end
  local ok, err, code = core.fs_mkdir(path, mode or 511)
  if ok == nil then return fail(path, err, code) end
  return true
end

-- rename(from, to): as Lua 5.4's os.rename, the message names no file
function M.rename(from, to)
  from = check_path(from, "rename", 1)
  to = check_path(to, "rename", 2)
  if from:find("\0", 1, true) or to:find("\0", 1, true) then return nil, "Invalid argument", 22 end
  return core.fs_rename(from, to)
end

return M
