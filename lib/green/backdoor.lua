-- green.backdoor: the REPL served on a socket inside a running process, so
-- an operator can look at and poke a live server.
--
-- A backdoor is remote code execution by design: whoever connects runs Lua
-- as this process. So backdoor_server refuses an address other than the
-- loopback unless opts.allow_remote, and on a Unix socket it makes the
-- socket file 0600 and serves only peers running as this same user.
local core = require "green.core"
local net = require "green.net"
local repl = require "green.repl"
local green = require "green"
local shutdown = require "green.shutdown"

local backdoor = {}

local HELP = [[
greenlua backdoor: Lua runs here, inside the process, one green thread per
session; your globals stay in your session and read through to _G.
  green.threads()   live green threads: tostring(gt) gives id and state
  gt:traceback()    where a thread waits
  green.stats()     threads, runnable, timers, switches, uptime, memory_kb
  ps()              every thread: id, name, state, what it waits in and for
                    how long, its traceback (green.debug.dump())
  help()            this text
  exit()            end the session (or end of input: Ctrl-D)
]]

local function is_loopback(ip)
  return ip == "::1" or ip:match("^127%.") ~= nil or ip == "localhost"
end

-- Misuse raises naming the function the user called.
local function arg_error(n, fname, expected, got)
  error(("bad argument #%d to '%s' (%s expected, got %s)"):format(n, fname, expected, got), 4)
end

local function check_socket(x, n, fname)
  if not pcall(core.is_closed, x) then arg_error(n, fname, "stream socket", type(x)) end
  if core.is_closed(x) then error(("bad argument #%d to '%s' (socket is closed)"):format(n, fname), 3) end
end

local function check_opt_table(x, n, fname)
  if x ~= nil and type(x) ~= "table" then arg_error(n, fname, "table or nil", type(x)) end
end

-- Releases the semaphore it holds when it goes out of scope.
local Release = { __close = function(held) held[1]:release() end }

-- A session's end, raised by exit() and caught by the session.
local Exit = setmetatable({}, { __tostring = function() return "exit" end })

-- The wire. For nc, socat and telnet a session is plain text: output as it
-- comes, each prompt without a newline. A client cannot tell a prompt from
-- output that happens to end the same way, so greenlua --connect asks for
-- frames: its first line is HELLO (a NUL byte first: no one types it, and
-- it is no Lua chunk), answered by ACK (a line starting with a NUL; a
-- prompt sent before it never holds one, see plain_prompt). From then on
-- the session sends frames only: a kind letter, the payload's length in
-- decimal, a newline, the payload: "o" output, "p" a prompt, the first
-- frame being the banner again. Lengths, not delimiters: nothing in the
-- output can end a frame early.
backdoor.HELLO = "\0greenlua-connect 1"
backdoor.ACK = "\0greenlua-framed 1"

-- A prompt for a plain client: shown as is, but never with a NUL byte.
local function plain_prompt(p)
  return (p:gsub("\0", "\\0"))
end

-- A graceful stop (green.shutdown) ends the sessions: one waiting at its
-- prompt at once (its client is closed), one running a statement when that
-- is done. Both weak, keyed by the client socket.
local at_prompt = setmetatable({}, { __mode = "k" })
local ending = setmetatable({}, { __mode = "k" })

-- backdoor(client, ip, port, env): serve one session on a connection.
function backdoor.backdoor(client, ip, port, env)
  check_socket(client, 1, "backdoor")
  check_opt_table(env, 4, "backdoor")
  local framed = false
  -- Threads the session spawned print too: one write at a time (a socket
  -- takes one sender at a time), each whole, so frames never interleave.
  local writing = core.Semaphore(1)
  -- A thread may print after the session ended: then there is nobody to
  -- print to, which is no error.
  local function send(s)
    if core.is_closed(client) then return nil, "closed" end
    writing:acquire()
    local held <close> = setmetatable({ writing }, Release)
    if core.is_closed(client) then return nil, "closed" end
    return client:send(s)
  end
  local function frame(kind, s)
    return send(kind .. #s .. "\n" .. s)
  end
  local function write(s)
    if framed then return frame("o", s) end
    return send(s)
  end
  local function print_(...)
    local n, parts = select("#", ...), {}
    for i = 1, n do parts[i] = tostring((select(i, ...))) end
    write(table.concat(parts, "\t") .. "\n")
  end
  local session = { print = print_ }
  -- The session's own names come first; everything else is env's (or _G's).
  local own = {
    print = print_,
    exit = function() session.stop = true; error(Exit, 0) end,
    help = function() write(HELP) end,
    ps = function() write(green.debug.dump()) end,
    green = green,
  }
  local shared = env
  session.env = setmetatable(own, {
    __index = shared or _G,
    __newindex = shared,  -- nil: assignments stay in the session
  })
  local banner = ("greenlua %s backdoor, pid %d (%s); help() lists what is here\n")
    :format(core.VERSION, core.getpid(), _VERSION)
  local first = true  -- only the first line may ask for frames
  function session.read(prompt)
    local sent
    if ending[client] then return nil end
    if framed then sent = frame("p", prompt) else sent = send(plain_prompt(prompt)) end
    if not sent then return nil end
    at_prompt[client] = true
    local line = client:receive("*l")
    at_prompt[client] = nil
    if first then
      first = false
      if line == backdoor.HELLO then
        framed = true
        if not send(backdoor.ACK .. "\n") or not write(banner) then return nil end
        return session.read(prompt)
      end
    end
    return line
  end
  session.error = function(msg)
    if not session.stop then write(tostring(msg) .. "\n") end  -- exit() is no error
  end
  write(banner)
  repl.run(session)
  client:close()
end

-- backdoor_server(sock, env, opts): serve a session to every connection.
-- It blocks its caller (spawn it), never the application.
function backdoor.backdoor_server(sock, env, opts)
  check_socket(sock, 1, "backdoor_server")
  check_opt_table(env, 2, "backdoor_server")
  check_opt_table(opts, 3, "backdoor_server")
  opts = opts or {}
  local concurrency = opts.concurrency or 100
  if math.type(concurrency) ~= "integer" or concurrency < 1 then
    error("bad argument #3 to 'backdoor_server' (opts.concurrency: positive integer expected)", 2)
  end
  local ip = sock:getsockname()
  if ip == nil then
    error("bad argument #1 to 'backdoor_server' (a bound, listening socket expected)", 2)
  end
  local unix = type(ip) == "string" and ip:sub(1, 1) == "/"
  if unix then
    core.chmod(ip, tonumber("600", 8))
  elseif not opts.allow_remote and not is_loopback(ip) then
    error(("backdoor_server: refusing to serve %s: a backdoor runs any code sent to it; "
      .. "bind it to 127.0.0.1 or a Unix socket, or pass { allow_remote = true }"):format(ip), 2)
  end
  local me = core.getuid()
  local clients = setmetatable({}, { __mode = "k" })
  local reg <close> = shutdown.register(function()
    for client in pairs(clients) do
      ending[client] = true
      if at_prompt[client] then client:close() end
    end
  end, function() return {} end)   -- net.serve's registration has the threads
  net.serve(sock, function(client, cip, cport)
    clients[client] = true
    if reg.stopped then ending[client] = true end
    if unix and core.peer_uid(client) ~= me then
      client:send("backdoor: only the user running this process may connect\n")
      return
    end
    backdoor.backdoor(client, cip, cport, env)
  end, concurrency)
end

return backdoor
