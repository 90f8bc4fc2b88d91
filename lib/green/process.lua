-- green.process: child processes as green objects, over posix_spawn and a
-- libuv SIGCHLD handle (host/io/process.c), and os.execute / io.popen with Lua 5.4's exact
-- results, green (part C installs them as os.execute and io.popen).
--
--   spawn(cmd, opts) -> Process | nil, err. cmd: an array (no shell) or a
--     string (/bin/sh -c). opts: stdin, stdout, stderr ("inherit" default,
--     "null", "pipe"), cwd, env (a table: {NAME = value} and/or
--     {"NAME=value"}; replaces the environment), detached.
--   Process: pid; stdin/stdout/stderr (green pipes with the socket methods,
--     nil unless "pipe"); wait(timeout) -> code, nil | nil, "TERM" |
--     nil, "timeout"; kill(sig = "TERM") -> true | nil, err.
--   run(cmd, opts) -> {code=, signal=, stdout=, stderr=[, timeout=true]} |
--     nil, err. opts as spawn's, plus input (a string for stdin) and
--     timeout (then TERM, and the result says timeout = true; KILL 2 s
--     later if TERM did not end it).
--   execute(cmd), popen(prog, mode): os.execute and io.popen.
-- Children start with default signal dispositions and an empty mask.
local core = require "green.core"
require "green.net"  -- the socket methods' Lua half (lines)

local error, type, tostring, setmetatable, getmetatable, pairs, ipairs =
  error, type, tostring, setmetatable, getmetatable, pairs, ipairs
local format, concat, sort = string.format, table.concat, table.sort
local spawn_thread, kill_thread = core.spawn, core.kill

local M = {}

-- The real, blocking functions, for where a green thread cannot block
-- (outside one, or in a C call Lua cannot yield across: __gc, a sort
-- comparator). Taken as this module loads; if the patch got there first
-- (a Lua wrapper), green.original has them.
local function real(lib, name)
  local f = _G[lib] and _G[lib][name]
  if type(f) == "function" and debug.getinfo(f, "S").what == "C" then return f end
  local ok, patch = pcall(require, "green.patch")
  if ok and type(patch) == "table" and patch.original then
    local t = patch.original(lib)
    if type(t) == "table" and t[name] then return t[name] end
  end
  return f
end
local real_execute, real_popen = real("os", "execute"), real("io", "popen")

local can_block = core.process_can_block

local function typename(v)
  local mt = getmetatable(v)
  local name = type(mt) == "table" and rawget(mt, "__name")
  return type(name) == "string" and name or type(v)
end

local function argerror(n, fname, msg, level)
  error(format("bad argument #%d to '%s' (%s)", n, fname, msg), (level or 2) + 1)
end

-- ------------------------------------------------------------ spawning

local MODES = { inherit = true, null = true, pipe = true }

local function argv_of(cmd, fname)
  if type(cmd) == "string" then return { "/bin/sh", "-c", cmd } end
  if type(cmd) ~= "table" then
    argerror(1, fname, "table or string expected, got " .. typename(cmd), 3)
  end
  local argv = {}
  for i = 1, #cmd do
    local a = cmd[i]
    if type(a) == "number" then a = tostring(a) end
    if type(a) ~= "string" then
      argerror(1, fname, format("cmd[%d] must be a string, got %s", i, typename(a)), 3)
    end
    argv[i] = a
  end
  if #argv == 0 then argerror(1, fname, "empty command", 3) end
  return argv
end

local function check_opts(opts, fname, n)
  if opts == nil then return {} end
  if type(opts) ~= "table" then argerror(n, fname, "table expected, got " .. typename(opts), 3) end
  return opts
end

local function env_of(env, fname)
  if env == nil then return nil end
  if type(env) ~= "table" then argerror(2, fname, "opts.env must be a table", 4) end
  local list, n = {}, 0
  for k, v in pairs(env) do
    if type(k) == "string" then
      if type(v) == "number" then v = tostring(v) end
      if type(v) ~= "string" then argerror(2, fname, "opts.env values must be strings", 4) end
      if k == "" or k:find("=", 1, true) then
        argerror(2, fname, "opts.env names must be non-empty, without '='", 4)
      end
      n = n + 1
      list[n] = k .. "=" .. v
    elseif math.type(k) == "integer" and type(v) == "string" then
      n = n + 1
      list[n] = v
    else
      argerror(2, fname, "opts.env must map names to strings", 4)
    end
  end
  sort(list)  -- a stable order for the child
  return list
end

local function start(cmd, opts, fname)
  local argv = argv_of(cmd, fname)
  opts = check_opts(opts, fname, 2)
  local stdio = {}
  for i, key in ipairs { "stdin", "stdout", "stderr" } do
    local m = opts[key]
    if m == nil then m = "inherit" end
    if not MODES[m] then
      argerror(2, fname, format("opts.%s must be \"inherit\", \"null\" or \"pipe\"", key), 3)
    end
    stdio[i] = m
  end
  if opts.cwd ~= nil and type(opts.cwd) ~= "string" then
    argerror(2, fname, "opts.cwd must be a string", 3)
  end
  local env = env_of(opts.env, fname)
  local h, stdin, stdout, stderr = core.process_spawn(argv, stdio, opts.cwd, env,
    opts.detached and true or false)
  if not h then return nil, stdin end
  return setmetatable({ pid = h:pid(), stdin = stdin or nil, stdout = stdout or nil,
    stderr = stderr or nil, _h = h }, M.Process)
end

local Process = { __name = "green.Process" }
Process.__index = Process
M.Process = Process

local function check_process(self, fname)
  if getmetatable(self) ~= Process then
    argerror(1, fname, "green.Process expected, got " .. typename(self), 3)
  end
  return self._h
end

-- p:wait([timeout]) -> code, nil | nil, signal | nil, "timeout"
function Process.wait(self, timeout)
  return check_process(self, "wait"):wait(timeout)
end

-- p:kill([sig]) -> true | nil, err; sig a name ("TERM", "SIGKILL") or number
function Process.kill(self, sig)
  return check_process(self, "kill"):kill(sig)
end

function Process.__tostring(self)
  return tostring(check_process(self, "__tostring"))
end

function M.spawn(cmd, opts)
  return start(cmd, opts, "spawn")
end

-- ------------------------------------------------------------------ run

local function drain(sock, into)
  while true do
    local data = sock:recv(65536)
    if not data then return end
    into[#into + 1] = data
  end
end

local function close_pipes(p)
  if p.stdin then p.stdin:close() end
  if p.stdout then p.stdout:close() end
  if p.stderr then p.stderr:close() end
end

-- A child that outlives its TERM by this much (it ignores or handles it
-- and goes on) gets KILL; the result then says signal = "KILL".
local KILL_AFTER = 2

function M.run(cmd, opts)
  opts = check_opts(opts, "run", 2)
  local input, timeout = opts.input, opts.timeout
  if input ~= nil and type(input) ~= "string" then argerror(2, "run", "opts.input must be a string") end
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout) then
    argerror(2, "run", "opts.timeout must be a number")
  end
  local sopts = { cwd = opts.cwd, env = opts.env, detached = opts.detached,
    stdin = input and "pipe" or opts.stdin, stdout = opts.stdout or "pipe",
    stderr = opts.stderr or "pipe" }
  local p, err = start(cmd, sopts, "run")
  if not p then return nil, err end
  local out, errs, helpers = {}, {}, {}
  -- Interrupted (killed, a Timeout): the child and the helpers go too.
  local done = false
  local guard <close> = setmetatable({}, { __close = function()
    if done then return end
    p:kill("KILL")
    close_pipes(p)
    for _, t in ipairs(helpers) do kill_thread(t) end
  end })
  if p.stdout then helpers[#helpers + 1] = spawn_thread(drain, p.stdout, out) end
  if p.stderr then helpers[#helpers + 1] = spawn_thread(drain, p.stderr, errs) end
  if p.stdin and not input then p.stdin:close() end  -- a "pipe" with nothing to say: the end
  if input then
    helpers[#helpers + 1] = spawn_thread(function()
      p.stdin:send(input)  -- a child that does not read it: "closed", fine
      p.stdin:close()
    end)
  end
  local code, sig = p:wait(timeout)
  local timed_out = false
  if code == nil and sig == "timeout" then
    timed_out = true
    p:kill("TERM")
    code, sig = p:wait(KILL_AFTER)
    if code == nil and sig == "timeout" then  -- it ignores TERM
      p:kill("KILL")
      code, sig = p:wait()
    end
    close_pipes(p)  -- what a grandchild still holds open is not waited for
  end
  for _, t in ipairs(helpers) do t:wait() end
  close_pipes(p)
  done = true
  local result = { code = code, signal = sig,
    stdout = p.stdout and concat(out) or nil, stderr = p.stderr and concat(errs) or nil }
  if timed_out then result.timeout = true end
  return result
end

-- ---------------------------------------------- os.execute and io.popen

-- os.execute's results from how the child ended (Lua 5.4's l_inspectstat).
local function exec_result(h)
  local code, termsig = h:status()
  if termsig ~= 0 then return nil, "signal", termsig end
  if code == 0 then return true, "exit", 0 end
  return nil, "exit", code
end

-- A failure to start, as luaL_fileresult gives it: nil, message, errno.
local ERRNO = { ["no such file or directory"] = 2, ["not enough memory"] = 12,
  ["permission denied"] = 13, ["resource temporarily unavailable"] = 11 }
local function start_failure(err, prefix)
  local reason = err:match(": (.*)$") or err
  local msg = reason:sub(1, 1):upper() .. reason:sub(2)
  if prefix then msg = prefix .. ": " .. msg end
  return nil, msg, ERRNO[reason] or 0
end

local function shell(cmd, stdio)
  -- system() and popen() run "sh -c" and hand the C string over: it ends
  -- at a zero byte
  cmd = cmd:match("^[^%z]*")
  return core.process_spawn({ "sh", "-c", cmd }, stdio, nil, nil, false, "/bin/sh")
end

-- os.execute([command]), green: true/nil, "exit"/"signal", code. The
-- argument was checked (and a number made a string) by process_exact.
local function execute(cmd)
  if not can_block() then return real_execute(cmd) end
  if cmd == nil then  -- is a shell available? (system(NULL) runs "exit 0")
    local h = shell("exit 0", { "null", "null", "null" })
    if not h then return false end
    h:wait()
    local code, termsig = h:status()
    return code == 0 and termsig == 0
  end
  local h, err = shell(cmd, { "inherit", "inherit", "inherit" })
  if not h then return start_failure(err) end
  h:wait()
  return exec_result(h)
end
M.execute = core.process_exact(execute, "execute")

-- io.popen(prog [, mode]), green: a file object (green.fileobj) whose
-- close() waits for the child and returns os.execute's results.
local function popen(prog, mode)
  if not can_block() then return real_popen(prog, mode) end
  local reading = mode == "r"
  local h, stdin, stdout = shell(prog, { reading and "inherit" or "pipe",
    reading and "pipe" or "inherit", "inherit" })
  if not h then return start_failure(stdin, prog) end
  local pipe = reading and stdout or stdin
  local src = { name = prog }
  if reading then
    src.fill = function(hint)
      local data, err = pipe:recv(hint)
      if data then return data end
      if err == "closed" then return nil end
      return nil, err
    end
  else
    src.write = function(data)
      local ok, err = pipe:send(data)
      if ok then return true end
      if err == "closed" then return nil, "Broken pipe", 32 end
      return nil, err
    end
  end
  src.close = function()
    pipe:close()
    if not can_block() then return true end  -- the SIGCHLD handler reaps it
    h:wait()
    return exec_result(h)
  end
  src.gc = function() pipe:close() end  -- the SIGCHLD handler reaps the child
  return require("green.fileobj").new(src)
end
M.popen = core.process_exact(popen, "popen")

return M
