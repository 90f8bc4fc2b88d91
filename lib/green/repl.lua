-- green.repl: lua's REPL, reading through the hub so green threads keep
-- running at the prompt. Prompts come from _PROMPT/_PROMPT2 as in lua.
local core = require "green.core"

local function prompt(continued)
  local p = rawget(_G, continued and "_PROMPT2" or "_PROMPT")
  if p == nil then return continued and ">> " or "> " end
  return tostring(p)
end

local function incomplete(err)
  return type(err) == "string" and err:sub(-5) == "<eof>"
end

-- Read one chunk: an expression first (so `1 + 1` prints 2), else a
-- statement, asking for more lines while the syntax error is at <eof>.
local function read_chunk()
  local line = core.readline(prompt(false))
  if line == nil then return nil end
  local fn = load("return " .. line, "=stdin")
  if fn then return fn end
  local source = line
  while true do
    local chunk, err = load(source, "=stdin")
    if chunk then return chunk end
    if not incomplete(err) then return false, err end
    local more = core.readline(prompt(true))
    if more == nil then return false, err end
    source = source .. "\n" .. more
  end
end

-- As lua's REPL: the message alone (no program name), with a traceback for
-- errors raised while running.
local function report(err)
  io.stderr:write(tostring(err), "\n")
  io.stderr:flush()
end

local function message_with_traceback(err)
  if type(err) ~= "string" then
    local mt = getmetatable(err)
    local text = mt and mt.__tostring and tostring(err)
    if type(text) == "string" then return text end
    err = ("(error object is a %s value)"):format(type(err))
  end
  return debug.traceback(err, 2)
end

local function show(ok, ...)
  if not ok then return report(...) end
  if select("#", ...) > 0 then
    local printed, err = pcall(print, ...)
    if not printed then report("error calling 'print' (" .. tostring(err) .. ")") end
  end
end

return function()
  _G.green = _G.green or require("green")
  while true do
    local chunk, err = read_chunk()
    if chunk == nil then break end
    if chunk then
      show(xpcall(chunk, message_with_traceback))
    else
      report(err)
    end
  end
  io.write("\n")
  io.flush()
end
