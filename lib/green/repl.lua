-- green.repl: lua's read-eval-print loop, for the console and for backdoor
-- sessions alike. It reads through the hub, so green threads keep running
-- at the prompt. Prompts come from _PROMPT/_PROMPT2 as in lua.
local core = require "green.core"

local repl = {}

local function incomplete(err)
  return type(err) == "string" and err:sub(-5) == "<eof>"
end

-- The message of an error raised while running, with a traceback, as lua's
-- REPL shows it; a table error without __tostring says what it is.
local function message_with_traceback(err)
  if type(err) ~= "string" then
    local mt = getmetatable(err)
    local text = mt and mt.__tostring and tostring(err)
    if type(text) == "string" then return text end
    err = ("(error object is a %s value)"):format(type(err))
  end
  -- the frames below the chunk are the REPL's own: leave them out
  return (debug.traceback(err, 2):gsub("\n%s*%[C%]: in function 'xpcall'.*$", ""))
end

local function prompt(s, continued)
  local p = rawget(s.env, continued and "_PROMPT2" or "_PROMPT")
  if p == nil then p = rawget(_G, continued and "_PROMPT2" or "_PROMPT") end
  if p == nil then return continued and ">> " or "> " end
  return tostring(p)
end

-- Read one chunk: an expression first (so `1 + 1` prints 2), else a
-- statement, asking for more lines while the syntax error is at <eof>.
-- Returns the function, or false and a message, or nil at end of input.
local function read_chunk(s)
  local line = s.read(prompt(s, false))
  if line == nil then return nil end
  local fn = load("return " .. line, "=stdin", "t", s.env)
  if fn then return fn end
  local source = line
  while true do
    local chunk, err = load(source, "=stdin", "t", s.env)
    if chunk then return chunk end
    if not incomplete(err) then return false, err end
    local more = s.read(prompt(s, true))
    if more == nil then return false, err end
    source = source .. "\n" .. more
  end
end

local function show(s, ok, ...)
  if not ok then return s.error((...)) end
  if select("#", ...) > 0 then
    local printed, err = pcall(s.print, ...)
    if not printed then s.error("error calling 'print' (" .. tostring(err) .. ")") end
  end
end

-- repl.run(s): s.read(prompt) -> line or nil; s.print(...); s.error(msg);
-- s.env, the chunks' environment; s.stop, set true to end after a chunk.
-- Ctrl-C ("interrupted!") at the prompt drops the line; while a chunk runs,
-- it ends the chunk; the session goes on.
function repl.run(s)
  if type(s) ~= "table" then
    error(("bad argument #1 to 'run' (table expected, got %s)"):format(type(s)), 2)
  end
  for _, name in ipairs({ "read", "print", "error" }) do
    local f = rawget(s, name)
    if type(f) ~= "function" and not (getmetatable(f) or {}).__call then
      error(("bad argument #1 to 'run' (field '%s': function expected, got %s)"):format(name, type(f)), 2)
    end
  end
  if type(rawget(s, "env")) ~= "table" then
    error(("bad argument #1 to 'run' (field 'env': table expected, got %s)"):format(type(rawget(s, "env"))), 2)
  end
  while not s.stop do
    local read_ok, chunk, err = pcall(read_chunk, s)
    if not read_ok then
      if chunk ~= "interrupted!" then error(chunk, 0) end
    elseif chunk == nil then
      break
    elseif chunk then
      show(s, xpcall(chunk, message_with_traceback))
    else
      s.error(err)
    end
  end
end

-- The console: the REPL on stdin and stdout, with line editing and history
-- on a terminal. While a line is being edited, print and io.write from any
-- green thread redraw it instead of garbling it.
function repl.console()
  _G.green = _G.green or require("green")
  local terminal = core.is_terminal()
  local saved_print, saved_io_write = print, io.write
  local file_methods = getmetatable(io.stdout).__index
  local saved_file_write = file_methods.write
  if terminal then
    local home = os.getenv("HOME")
    if home then core.history(home .. "/.greenlua_history") end
    _G.print = function(...)
      local n, parts = select("#", ...), {}
      for i = 1, n do parts[i] = tostring((select(i, ...))) end
      core.console_write(table.concat(parts, "\t") .. "\n")
    end
    local stdout = io.stdout
    file_methods.write = function(f, ...)
      if f ~= stdout then return saved_file_write(f, ...) end
      local parts = table.pack(...)
      for i = 1, parts.n do
        local v = parts[i]
        if type(v) == "number" then parts[i] = tostring(v)
        elseif type(v) ~= "string" then
          error(("bad argument #%d to 'write' (string expected, got %s)"):format(i, type(v)), 2)
        end
      end
      core.console_write(table.concat(parts, "", 1, parts.n))
      return f
    end
    io.write = function(...) return stdout:write(...) end
  end
  repl.run {
    read = core.readline,
    print = function(...) return _G.print(...) end,
    error = function(msg)
      io.stderr:write(tostring(msg), "\n")
      io.stderr:flush()
    end,
    env = _G,
  }
  if terminal then
    _G.print, io.write, file_methods.write = saved_print, saved_io_write, saved_file_write
  end
  io.write("\n")
  io.flush()
end

return repl
