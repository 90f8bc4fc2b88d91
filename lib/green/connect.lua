-- green.connect: `greenlua --connect HOST:PORT` (or a Unix socket path), an
-- interactive client for a running process's backdoor: line editing and
-- history on a terminal, plain lines from a pipe, so scripts can drive it.
-- It asks the backdoor for frames (see green.backdoor: HELLO, ACK), so it
-- knows a prompt from output exactly, whatever the output holds and however
-- it is split across reads. It ends when the process goes away or input
-- ends. The pieces are exported for other clients (scripts/demo.lua):
--   open(address) -> socket | nil, err
--   handshake(sock, timeout) -> true | nil, err, what came instead
--   frame(sock) -> "output" | "prompt", text | nil, err
local core = require "green.core"
local net = require "green.net"
local backdoor = require "green.backdoor"

local connect = {}

local function check_socket(x, fname)
  if not pcall(core.is_closed, x) then
    error(("bad argument #1 to '%s' (stream socket expected, got %s)"):format(fname, type(x)), 3)
  end
end

function connect.open(address)
  if type(address) ~= "string" then
    error(("bad argument #1 to 'open' (string expected, got %s)"):format(type(address)), 2)
  end
  if address:find("/", 1, true) then return net.connect_unix(address, { timeout = 10 }) end
  local host, port = address:match("^%[(.+)%]:(%d+)$")
  if not host then host, port = address:match("^(.*):(%d+)$") end
  port = port and math.tointeger(tonumber(port))
  if not host or not port or port < 1 or port > 65535 then
    return nil, "expected HOST:PORT or a socket path, got '" .. address .. "'"
  end
  if host == "" then host = "127.0.0.1" end
  return net.connect(host, port, { timeout = 10 })
end

-- Ask for frames. What the backdoor sent before its ACK (the banner and the
-- first prompt, in plain text) is dropped: it sends the banner again as its
-- first frame. The socket's timeout is left unset.
function connect.handshake(sock, timeout)
  check_socket(sock, "handshake")
  if timeout ~= nil and type(timeout) ~= "number" then
    error(("bad argument #2 to 'handshake' (number expected, got %s)"):format(type(timeout)), 2)
  end
  sock:settimeout(timeout or 10)
  local ok, err = sock:send(backdoor.HELLO .. "\n")
  local before = {}
  while ok do
    local line
    line, err = sock:receive("*l")
    if not line then break end
    local nul = line:find("\0", 1, true)
    if nul then
      sock:settimeout(nil)
      if line:sub(nul) == backdoor.ACK then return true end
      before[#before + 1] = line
      return nil, "not a greenlua backdoor", table.concat(before, "\n") .. "\n"
    end
    before[#before + 1] = line
  end
  sock:settimeout(nil)
  -- closed before it answered (a refused peer), or it never did
  if #before > 0 then before[#before + 1] = "" end
  return nil, err, table.concat(before, "\n")
end

local KINDS = { o = "output", p = "prompt" }

-- The next frame: its kind and its text.
function connect.frame(sock)
  check_socket(sock, "frame")
  local head, err = sock:receive("*l")
  if not head then return nil, err end
  local kind, n = KINDS[head:sub(1, 1)], head:match("^.(%d+)$")
  n = n and math.tointeger(tonumber(n))
  if not kind or not n then return nil, "bad frame from the backdoor" end
  local text, err2 = sock:receive(n)
  if not text then return nil, err2 end
  return kind, text
end

-- A scripted session: type each line of 'lines' at the backdoor at
-- 'address' and write what it answers to 'out' (a function; io.write by
-- default) as a terminal would show it. For demos and examples.
function connect.session(address, lines, out)
  out = out or io.write
  local sock = assert(connect.open(address))
  assert(connect.handshake(sock))
  local function upto_prompt()
    local text = {}
    while true do
      local kind, piece = assert(connect.frame(sock))
      if kind == "prompt" then return table.concat(text) end
      text[#text + 1] = piece
    end
  end
  out(upto_prompt())
  for _, line in ipairs(lines) do
    sock:send(line .. "\n")
    out("> " .. line .. "\n" .. upto_prompt())
  end
  sock:close()
end

-- The --connect command itself: it exits the process.
function connect.run(address)
  if type(address) ~= "string" then
    error(("bad argument #1 to 'run' (string expected, got %s)"):format(type(address)), 2)
  end
  local sock, err = connect.open(address)
  if not sock then
    io.stderr:write("greenlua: cannot connect to ", address, ": ", tostring(err), "\n")
    os.exit(1)
  end
  local ok, herr, before = connect.handshake(sock)
  if not ok then
    io.stdout:write(before or "")
    io.stdout:flush()
    io.stderr:write("greenlua: ", address, ": ", tostring(herr), "\n")
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

  local reader = core.spawn(function()
    while true do
      local kind, text = connect.frame(sock)
      if not kind then break end
      if kind == "output" then core.console_write(text) else prompts:put(text) end
    end
    ended = true
    prompts:put(false)
    core.kill(main, Gone)  -- it may be waiting for a line: the process is gone
  end)

  local function converse()
    while true do
      local prompt = prompts:get()
      if not prompt then return end
      local read, line = pcall(core.readline, terminal and prompt or "")
      if read and line == nil then         -- end of input: let the session finish
        sock:shutdown("send")
        reader:wait()
        return
      end
      if not read and line ~= "interrupted!" then error(line, 0) end
      if read then
        if not sock:send(line .. "\n") then return end
      else
        sock:send("\n")                  -- Ctrl-C: the line is dropped, a fresh prompt
      end
    end
  end
  local conversed, cerr = pcall(converse)
  if not conversed and cerr ~= Gone then error(cerr, 0) end
  if ended and terminal then io.write("connection closed\n") end
  sock:close()
  os.exit(0)  -- stdin may still be open: nothing more to read from it
end

return connect
