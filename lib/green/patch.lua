-- green.patch: existing Lua code runs green (eventlet's monkey_patch and
-- import_patched). At start-up greenlua calls monkey_patch() (unless
-- `greenlua --no-patch`): it only installs package.preload entries and
-- small lazy wrappers, so nothing heavy loads until used.
--
--   monkey_patch(opts)   opts.socket, .ssl, .os, .io (each default true):
--                        socket.core/socket.unix -> the green C modules,
--                        ssl/ssl.https -> green.luasec(_https), os.execute,
--                        io.popen -> green.process, io.read/lines/stdin/type
--                        -> green.stdin. Idempotent. A module already loaded
--                        the real way (package.loaded) stays as it is.
--   import_patched(name) a fresh copy of 'name' and of every module it
--                        requires, with the green replacements, whatever
--                        was patched; package.loaded is left alone.
--   original(name)       the real, blocking module ("socket.core", "ssl",
--                        "socket", "socket.http", ...: it and everything it
--                        requires real); "os" / "io": a table of the real
--                        functions.
local internal = select(2, ...)

local patch = {}
local package, type, pairs, error, select = package, type, pairs, error, select
local require_ = require  -- green.boot's, the one every module shares

-- The real functions, as they were before any patching (this module loads
-- at start-up, before monkey_patch runs).
local real_os, real_io = {}, {}
for k, v in pairs(os) do real_os[k] = v end
for k, v in pairs(io) do real_io[k] = v end

-- Modules every copy shares: the standard library and greenlua's own.
local shared = { _G = true, package = true, coroutine = true, table = true, io = true,
  os = true, string = true, math = true, utf8 = true, debug = true }
local function is_shared(name)
  return shared[name] or name == "green" or name:sub(1, 6) == "green."
end

-- What the green replacements make, so original() can tell them apart.
local made_green = setmetatable({}, { __mode = "k" })

local function green_socket_core()
  local m = internal.luaopen_socket_core()
  made_green[m] = true
  return m
end
local function green_socket_unix()
  local m = internal.luaopen_socket_unix()
  made_green[m] = true
  return m
end

-- name -> loader of the green replacement.
local replacements = {
  ["socket.core"] = green_socket_core,
  ["socket.unix"] = green_socket_unix,
  ["ssl"] = function()
    local m = require_("green.luasec")
    made_green[m] = true
    return m
  end,
  ["ssl.https"] = function()
    local m = require_("green.luasec_https")
    made_green[m] = true
    return m
  end,
}
local groups = { socket = { "socket.core", "socket.unix" }, ssl = { "ssl", "ssl.https" } }

local applied = {}

-- require(modname), or nil when the module does not exist (a build
-- without it); any other error raises.
local function optional(modname)
  local ok, m = pcall(require_, modname)
  if ok then return m end
  if type(m) == "string" and m:find("module '" .. modname .. "' not found", 1, true) then return nil end
  error(m, 0)
end

-- A function that calls module(name)[field] on first use, or 'fallback'
-- when the module is not there.
local function lazy(modname, field, fallback)
  local fn
  return function(...)
    if fn == nil then
      local m = optional(modname)
      fn = type(m) == "table" and m[field] or fallback
    end
    return fn(...)
  end
end

local appliers = {
  socket = function()
    for _, name in ipairs(groups.socket) do package.preload[name] = replacements[name] end
  end,
  ssl = function()
    for _, name in ipairs(groups.ssl) do package.preload[name] = replacements[name] end
  end,
  os = function()
    os.execute = lazy("green.process", "execute", real_os.execute)
  end,
  io = function()
    io.popen = lazy("green.process", "popen", real_io.popen)
    local stdin = optional("green.stdin")
    if type(stdin) == "table" and stdin.patch then stdin.patch(io) end
  end,
}
local order = { "socket", "ssl", "os", "io" }

function patch.monkey_patch(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #1 to 'monkey_patch' (table expected, got %s)"):format(type(opts)), 2)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if appliers[k] == nil then
      error(("bad argument #1 to 'monkey_patch' (unknown key '%s')"):format(tostring(k)), 2)
    end
  end
  for _, key in ipairs(order) do
    if opts[key] ~= false and not applied[key] then
      appliers[key]()
      applied[key] = true
    end
  end
  return true
end

-- ---------------------------------------------------------------- private trees
-- A require of its own, for a tree of modules loaded apart from
-- package.loaded: 'loaded' holds the tree, 'swap' the loaders that replace
-- a name (the green ones), and Lua modules run with an environment whose
-- require is this one.

local function searcher_path(name, path)
  return package.searchpath(name, path)
end

local function find_c(name)
  local file = searcher_path(name, package.cpath)
  local sym = "luaopen_" .. name:gsub("^[^%-]*%-", ""):gsub("%.", "_")
  if file then
    local f, err = package.loadlib(file, sym)
    if not f then error(err, 0) end
    return f, file
  end
  local root = name:match("^([^%.]+)%.")
  if root then
    file = searcher_path(root, package.cpath)
    if file then
      local f = package.loadlib(file, sym)
      if f then return f, file end
    end
  end
end

local function new_tree(swap, real_c)
  local loaded = {}
  local env
  local function private_require(name)
    if type(name) ~= "string" and type(name) ~= "number" then
      error(("bad argument #1 to 'require' (string expected, got %s)"):format(type(name)), 2)
    end
    name = tostring(name)
    if loaded[name] ~= nil then return loaded[name] end
    if is_shared(name) then return require_(name) end
    local loader, data
    if swap[name] then
      loader = swap[name]
    elseif not real_c[name] and package.preload[name] and replacements[name] ~= package.preload[name] then
      loader, data = package.preload[name], ":preload:"
    else
      local file = searcher_path(name, package.path)
      if file then
        local chunk, err = loadfile(file, "bt", env)
        if not chunk then
          error(("error loading module '%s' from file '%s':\n\t%s"):format(name, file, err), 2)
        end
        loader, data = chunk, file
      else
        loader, data = find_c(name)
      end
    end
    if not loader then
      return require_(name)  -- anything else: as the program would get it
    end
    local result = loader(name, data)
    if result == nil then result = true end
    if loaded[name] == nil then loaded[name] = result end
    return loaded[name]
  end
  env = setmetatable({ require = private_require }, { __index = _G, __newindex = _G })
  return private_require, loaded
end

function patch.import_patched(name)
  if type(name) ~= "string" then
    error(("bad argument #1 to 'import_patched' (string expected, got %s)"):format(type(name)), 2)
  end
  local req = new_tree(replacements, {})
  return req(name)
end

-- One real tree, shared by every original() call, so original("socket")
-- and original("socket.http") use the same real socket.core.
local real_require
local real_c = { ["socket.core"] = true, ["socket.unix"] = true, ["ssl"] = true, ["ssl.https"] = true }

function patch.original(name)
  if type(name) ~= "string" then
    error(("bad argument #1 to 'original' (string expected, got %s)"):format(type(name)), 2)
  end
  if name == "os" then
    local t = {}
    for k, v in pairs(real_os) do t[k] = v end
    return t
  elseif name == "io" then
    local t = {}
    for k, v in pairs(real_io) do t[k] = v end
    return t
  end
  local have = package.loaded[name]
  if have ~= nil and not made_green[have] and (real_c[name] or not applied.socket) then
    return have
  end
  real_require = real_require or new_tree({}, real_c)
  return real_require(name)
end

return patch
