-- green.connect: `greenlua --connect HOST:PORT` (or a Unix socket path), an
-- interactive client for a running process's backdoor: line editing and
-- history on a terminal, plain lines from a pipe, so scripts can drive it.
-- The backdoor sends its prompt without a newline; the client shows it as
-- its own prompt and sends each line it reads. It ends when the process
-- goes away or input ends.
local core = require "green.core"
local net = require "green.net"

local function open(address)
  if address:find("/", 1, true) then return net.connect_unix(address, { timeout = 10 }) end
  local host, port = address:match("^%[(.+)%]:(%d+)$")
  if not host then host, port = address:match("^(.*):(%d+)$") end
  if not host then return nil, "expected HOST:PORT or a socket path, got '" .. address .. "'" end
  if host == "" then host = "127.0.0.1" end
  return net.connect(host, math.tointeger(tonumber(port)), { timeout = 10 })
end

return function(address)
  local sock, err = open(address)
  if not sock then
    io.stderr:write("greenlua: cannot connect to ", address, ": ", tostring(err), "\n")
    os.exit(1)
  end
  local terminal = core.is_terminal()
  if terminal then
    local home = os.getenv("HOME")
    if home then core.history(home .. "/.greenlua_connect_history") end
  end
  local prompts = core.Queue()  -- each prompt the server sends: time to read a line
  local ended = false
  local main = core.getcurrent()
  local Gone = setmetatable({}, { __tostring = function() return "connection closed" end })

  -- Server output: whole lines are printed as they come; what is left
  -- without a newline is the prompt.
  local reader = core.spawn(function()
    local pending = ""
    while true do
      local data = sock:recv(65536)
      if not data then break end
      pending = pending .. data
      local last = pending:match(".*\n()") or 1
      if last > 1 then
        core.console_write(pending:sub(1, last - 1))
        pending = pending:sub(last)
      end
      if pending ~= "" and not pending:find("\n") then
        prompts:put(pending)
        pending = ""
      end
    end
    if pending ~= "" then core.console_write(pending .. "\n") end
    ended = true
    prompts:put(false)
    core.kill(main, Gone)  -- it may be waiting for a line: the process is gone
  end)

  local function converse()
    while true do
      local prompt = prompts:get()
      if not prompt then return end
      local ok, line = pcall(core.readline, terminal and prompt or "")
      if ok and line == nil then         -- end of input: let the session finish
        sock:shutdown("send")
        reader:wait()
        return
      end
      if not ok and line ~= "interrupted!" then error(line, 0) end
      if ok then
        if not sock:send(line .. "\n") then return end
      else
        sock:send("\n")                  -- Ctrl-C: the line is dropped, a fresh prompt
      end
    end
  end
  local ok, err = pcall(converse)
  if not ok and err ~= Gone then error(err, 0) end
  if ended and terminal then io.write("connection closed\n") end
  sock:close()
  os.exit(0)  -- stdin may still be open: nothing more to read from it
end
