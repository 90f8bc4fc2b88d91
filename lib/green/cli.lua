-- green.cli: what the command line asked for, run in the main green thread
-- in lua's order: LUA_INIT, then -e/-l/-W as given, then the script, then
-- the REPL. Errors propagate: the hub reports them and the process exits 1.
-- SIGTERM is a graceful stop (green.shutdown) from the start; if the main
-- chunk ends while one is in progress, the process exits when it completes.
local core = require "green.core"
local shutdown = require "green.shutdown"

-- A chunk that does not load (no such file, a syntax error) is reported as
-- lua reports it: the message alone, status 1.
local function loaded(chunk, err)
  if chunk then return chunk end
  io.stderr:write("greenlua: ", tostring(err), "\n")
  os.exit(1)
end

local function require_into_global(spec)
  local global, module = spec:match("^([^=]+)=(.+)$")
  if not global then
    global, module = spec, spec
    global = global:gsub("%-.*$", "")  -- as lua: 'mod-v2' sets 'mod'
  end
  -- through pcall, so a failure reads like lua's: no position inside cli.lua
  local ok, result = pcall(require, module)
  if not ok then error(result, 0) end
  _G[global] = result
end

local function script_args()
  local args = {}
  for i = 1, #arg do args[i] = arg[i] end
  return table.unpack(args)
end

local function run(plan)
  -- existing Lua code runs green (green.patch): before LUA_INIT and -l
  if not plan.no_patch then require("green.patch").monkey_patch() end
  if plan.init then
    if plan.init:sub(1, 1) == "@" then
      loaded(loadfile(plan.init:sub(2)))()
    else
      loaded(load(plan.init, plan.init_name))()
    end
  end
  for _, action in ipairs(plan.actions) do
    local opt, value = action[1], action[2]
    if opt == "e" then
      loaded(load(value, "=(command line)"))()
    elseif opt == "l" then
      require_into_global(value)
    elseif opt == "W" then
      warn("@on")
    elseif opt == "c" then
      return require("green.connect").run(value)
    end
  end
  if plan.script then
    local file = plan.script
    if file == "-" and arg[-1] ~= "--" then file = nil end
    loaded(loadfile(file))(script_args())
  end
  if plan.interactive then
    require("green.repl").console()
  elseif not plan.script and not plan.did_something then
    if plan.stdin_tty then
      io.write(("greenlua (%s)\n"):format(_VERSION))
      require("green.repl").console()
    else
      loaded(loadfile(nil))()
    end
  end
end

return function(plan)
  shutdown.install(core.getcurrent())
  local results = table.pack(run(plan))
  shutdown.main_ended()
  return table.unpack(results, 1, results.n)
end
