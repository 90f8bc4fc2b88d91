-- green.boot: runs once at start-up, before any script. It makes require
-- a Lua function, so a module's top level may block (stock require calls
-- loaders from C, where Lua cannot yield). The coroutine library's part is
-- C (host/core/coro.c), installed just before this runs.
local core = require "green.core"
local internal = select(2, ...)  -- the hub's private hooks (host/embedded.h)

local error, type = error, type

-- require, as stock Lua's, with the loader called from Lua. While one green
-- thread runs a module's top level, others requiring it wait for it.
local package = package
local loading = {}  -- module name -> { by = GreenThread, done = WaitQueue }

local function find_loader(name)
  local notes = {}
  local searchers = package.searchers
  if type(searchers) ~= "table" then error("'package.searchers' must be a table", 3) end
  for i = 1, #searchers do
    local loader, data = searchers[i](name)
    if type(loader) == "function" then return loader, data end
    if type(loader) == "string" then notes[#notes + 1] = loader end
  end
  error(("module '%s' not found:\n\t%s"):format(name, table.concat(notes, "\n\t")), 3)
end

-- Closing it (on return or error) lets the waiters of a module go.
local Loading = {}
Loading.__index = Loading
function Loading:__close()
  loading[self.name] = nil
  self.done:wake_all()
end

function require(name)
  if type(name) ~= "string" and type(name) ~= "number" then
    error(("bad argument #1 to 'require' (string expected, got %s)")
      :format(name == nil and "no value" or type(name)), 2)
  end
  name = tostring(name)
  local loaded = package.loaded
  if loaded[name] then return loaded[name] end
  local busy = loading[name]
  local me = core.getcurrent()
  if busy and busy.by ~= me and me then
    busy.done:wait()
    return require(name)
  end
  local loader, data = find_loader(name)
  local mark <close> = me and setmetatable({ name = name, by = me, done = core.WaitQueue() }, Loading)
  loading[name] = mark or nil
  local result = loader(name, data)
  if result ~= nil then loaded[name] = result end
  if loaded[name] == nil then loaded[name] = true end
  return loaded[name], data
end

-- Links run in the dying thread, in order; one that raises is reported and
-- the next still runs.
internal.set_link_runner(function(gt)
  local links = internal.extra(gt).links
  local i = 1
  while links[i] do
    local link = links[i]
    local ok, err = xpcall(link.fn, debug.traceback, gt, table.unpack(link, 1, link.n))
    if not ok and err ~= core.GreenThreadExit then
      local shown, text = pcall(tostring, err)  -- a __tostring may raise
      if not shown or type(text) ~= "string" then text = "(error object is a " .. type(err) .. " value)" end
      io.stderr:write("greenlua: link of ", tostring(gt), ": ", text, "\n")
    end
    i = i + 1
  end
end)
