-- Helpers for the console specs (terminal, backdoor, connect): drive greenlua
-- in a real terminal with tmux, start target processes that serve a
-- backdoor, run background commands in their own process group, and talk to
-- a backdoor from the spec itself with green sockets. Like the other spec
-- helpers these run inside greenlua and may block; every wait is bounded in
-- count and time, every process started here runs under `timeout` and is
-- ended by its own id (or its own process group) by the caller's cleanup.
local green = require "green"
local H = require "spec.cli_helpers"

local C = {}
local q = H.quote
C.q, C.H, C.bin, C.slurp = q, H, H.bin, H.slurp

-- This spec process's pid: names unique to this run.
local self_pid do
  local f = io.open("/proc/self/stat", "r")
  self_pid = f and tonumber(f:read("l"):match("^(%d+)")) or math.random(1, 1e6)
  if f then f:close() end
end
C.self_pid = self_pid

local counter = 0
local function fresh(name)
  counter = counter + 1
  return ("%s/c%d-%s"):format(H.tmp, counter, name)
end
C.fresh = fresh

-- A fresh directory in the spec's temp dir (short: Unix socket paths are limited).
function C.dir(name)
  local d = fresh(name or "d")
  assert(os.execute("mkdir -p " .. q(d)))
  return d
end

-- Poll `fn` (returning a truthy value when done) every `step` seconds for at
-- most `limit` seconds; returns fn's last results.
function C.poll(fn, limit, step)
  step = step or 0.05
  local deadline = green.now() + (limit or 3)
  local n = math.ceil((limit or 3) / step) + 20
  for _ = 1, n do
    local r = table.pack(fn())
    if r[1] or green.now() >= deadline then return table.unpack(r, 1, r.n) end
    green.sleep(step)
  end
  return fn()
end

-- /proc/PID/stat's state letter, or nil if there is no such process.
local function proc_state(pid)
  local f = pid and io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return nil end
  local s = f:read("a") or ""
  f:close()
  return s:match("^%d+ %b() (%a)"), tonumber(s:match("^%d+ %b() %a (%d+)"))
end

-- Is process `pid` alive (and not a zombie)?
function C.alive(pid)
  local st = proc_state(pid)
  return st ~= nil and st ~= "Z" and st ~= "X"
end

-- The parent pid of `pid`.
function C.ppid(pid)
  local _, pp = proc_state(pid)
  return pp
end

-- Kill process `pid` (one process, by id) with `sig` (default TERM).
function C.kill(pid, sig)
  if pid then os.execute(("kill -%s %d 2>/dev/null"):format(sig or "TERM", pid)) end
end

-- Kill process group `pgid` (one we created with setsid), TERM then KILL.
function C.kill_group(pgid)
  if not pgid or pgid <= 1 then return end
  os.execute(("kill -TERM -%d 2>/dev/null"):format(pgid))
  C.poll(function() return not C.alive(pgid) end, 1, 0.02)
  os.execute(("kill -KILL -%d 2>/dev/null"):format(pgid))
end

------------------------------------------------------------------------------
-- Background shell commands

-- Run shell `script` (under `sh -c`, in `timeout secs`) in the background in a
-- new process group. Returns a handle: h:done() -> status or nil; h:wait(limit)
-- -> stdout, status, stderr (nil, "still running"); h:out(), h:err();
-- h:stop() kills the whole group. stdin is /dev/null unless the script
-- pipes something in itself.
function C.background(script, secs)
  local out, err, rc, pidf = fresh("out"), fresh("err"), fresh("rc"), fresh("pid")
  -- --foreground: timeout stays in our new process group (else it makes its
  -- own), so stop() reaches every process the script started
  local inner = ("timeout --foreground -k 1 %d sh -c %s >%s 2>%s; echo $? >%s.tmp; mv %s.tmp %s")
    :format(secs or 10, q(script), q(out), q(err), q(rc), q(rc), q(rc))
  assert(os.execute(("setsid sh -c %s </dev/null >/dev/null 2>&1 & echo $! >%s")
    :format(q(inner), q(pidf))))
  local pgid = tonumber(H.slurp(pidf))   -- written before os.execute returned
  local h = {}
  function h.pgid() return pgid end
  function h.out() return H.slurp(out) end
  function h.err() return H.slurp(err) end
  function h.done()
    local s = H.slurp(rc)
    return s ~= "" and tonumber(s) or nil
  end
  function h.wait(_, limit)
    local st = C.poll(h.done, limit or 8, 0.02)
    if not st then return nil, "still running" end
    return h.out(), st, h.err()
  end
  function h.stop() C.kill_group(h.pgid()) end
  return h
end

------------------------------------------------------------------------------
-- Target processes

-- The lines every target script starts with: `green`, `DIR` (its directory),
-- `PID`, unbuffered stdout, and ready(t), which publishes t (a table of
-- name -> value, with the pid added) in DIR/ready, atomically.
local PRELUDE = [[
local green = require "green"
local DIR = ...
io.stdout:setvbuf("no")
local PID do
  local f = assert(io.open("/proc/self/stat", "r"))
  PID = tonumber(f:read("l"):match("^(%d+)"))
  f:close()
end
local function ready(t)
  local f = assert(io.open(DIR .. "/ready.tmp", "w"))
  f:write("pid ", PID, "\n")
  for k, v in pairs(t or {}) do f:write(k, " ", tostring(v), "\n") end
  f:close()
  assert(os.rename(DIR .. "/ready.tmp", DIR .. "/ready"))
end
]]

C.PRELUDE = PRELUDE

-- Start `greenlua target.lua DIR` in the background (timeout `secs`,
-- default 20) with `body` appended to the prelude. Waits (at most 8 s) for
-- its ready file. Returns a target: t.info (the published table, numbers
-- converted), t.pid (greenlua's pid), t.dir, t.out(), t.err(), t.alive(),
-- t.kill(sig) (greenlua alone), t.stop() (the whole group).
function C.start_target(body, secs)
  local dir = C.dir("t")
  local script = dir .. "/target.lua"
  H.write(script, PRELUDE .. body)
  local h = C.background(("cd %s && exec %s %s %s"):format(q(dir), q(H.bin), q(script), q(dir)),
    secs or 20)
  local t = { dir = dir, out = h.out, err = h.err, stop = h.stop, handle = h }
  local ok = C.poll(function() return H.slurp(dir .. "/ready") ~= "" or h.done() end, 8, 0.02)
  local text = H.slurp(dir .. "/ready")
  if not ok or text == "" then
    h.stop()
    error(("target did not start (status %s)\n--- stdout:\n%s\n--- stderr:\n%s")
      :format(tostring(h.done()), h.out(), h.err()), 2)
  end
  t.info = {}
  for k, v in text:gmatch("(%S+) ([^\n]*)\n") do t.info[k] = tonumber(v) or v end
  t.pid = t.info.pid
  function t.alive() return C.alive(t.pid) end
  function t.kill(sig) C.kill(t.pid, sig) end
  return t
end

------------------------------------------------------------------------------
-- Backdoor sessions from the spec: a green socket to a backdoor.

local Session = {}
Session.__index = Session

-- Read until the server's output ends with a prompt ("> " or ">> " at the
-- start of a line). Returns the output before the prompt and the prompt, or
-- nil, err, what was read.
function Session:read_prompt(limit)
  local deadline = green.now() + (limit or 3)
  for _ = 1, 10000 do
    local body, p = self.buf:match("^(.-)(>>? )$")
    if body and (body == "" or body:sub(-1) == "\n") then
      self.buf = ""
      return body, p
    end
    local left = deadline - green.now()
    if left <= 0 then break end
    self.sock:settimeout(left)
    local data, err = self.sock:recv(65536)
    if not data then
      local got = self.buf
      self.buf = ""
      return nil, err, got
    end
    self.buf = self.buf .. data
  end
  local got = self.buf
  self.buf = ""
  return nil, "timeout", got
end

function Session:send(line)
  return self.sock:send(line .. "\n")
end

-- Send one line, return the output up to the next prompt (and the prompt).
function Session:eval(line, limit)
  assert(self:send(line), "send failed")
  return self:read_prompt(limit)
end

-- Read until the peer closes (at most `limit` s): what came, and how it ended
-- ("closed" or "timeout").
function Session:read_to_close(limit)
  local deadline = green.now() + (limit or 3)
  local parts = { self.buf }
  self.buf = ""
  for _ = 1, 10000 do
    local left = deadline - green.now()
    if left <= 0 then return table.concat(parts), "timeout" end
    self.sock:settimeout(left)
    local data, err = self.sock:recv(65536)
    if not data then return table.concat(parts), err end
    parts[#parts + 1] = data
  end
  return table.concat(parts), "timeout"
end

function Session:close()
  pcall(self.sock.close, self.sock)
end

-- Open a session: `where` is a port on 127.0.0.1 or a Unix socket path.
-- Reads the banner (s.banner) up to the first prompt.
function C.session(where)
  local sock, err
  if type(where) == "string" then
    sock, err = green.connect_unix(where)
  else
    sock, err = green.connect("127.0.0.1", where, { timeout = 3 })
  end
  if not sock then return nil, err end
  local s = setmetatable({ sock = sock, buf = "" }, Session)
  local banner, perr, got = s:read_prompt()
  if not banner then
    s:close()
    return nil, ("no banner: %s (got %q)"):format(tostring(perr), tostring(got))
  end
  s.banner = banner
  return s
end

------------------------------------------------------------------------------
-- tmux: a real terminal

local Tmux = {}
Tmux.__index = Tmux

local tmux_seq = 0

-- Start `words` (shell words, already quoted) in a new detached tmux
-- session on a private server (tmux -S, a socket of its own), 120x30,
-- with HOME = `home`, LUA_INIT unset. The pane runs `bash -c 'words; echo
-- $? >status'`: the status file tells when the command ended and how
-- (tmux's own #{pane_dead_status} is sometimes not there yet, its child
-- unreaped). bash, not sh: waiting for its child, bash survives a Ctrl-C
-- that the child handles (dash would die of it). remain-on-exit keeps the
-- pane, and what it showed, after the end.
function C.tmux(words, home, cwd)
  tmux_seq = tmux_seq + 1
  local name = ("glc%d_%d"):format(self_pid, tmux_seq)
  -- a private server whose socket lives in the spec's temp dir (removed with it)
  local socket = ("%s/%s.tmux"):format(H.tmp, name)
  local status = ("%s/%s.status"):format(H.tmp, name)
  local t = setmetatable({ name = name, socket = socket, status = status,
    base = "env -u TMUX tmux -S " .. q(socket) .. " -f /dev/null" }, Tmux)
  local script = ("%s; echo $? >%s.tmp; mv %s.tmp %s"):format(words, q(status), q(status), q(status))
  local cmd = ("cd %s && exec env -u LUA_INIT -u LUA_INIT_5_4 HOME=%s bash -c %s")
    :format(q(cwd or home), q(home), q(script))
  local line = ("%s new-session -d -s %s -x 120 -y 30 %s \\; set-option -t %s remain-on-exit on >/dev/null 2>&1")
    :format(t.base, name, q(cmd), name)
  assert(os.execute(line), "tmux new-session failed")
  return t
end

function Tmux:run(args)
  return os.execute(("%s %s >/dev/null 2>&1"):format(self.base, args))
end

function Tmux:query(args)
  local p = io.popen(("%s %s 2>/dev/null"):format(self.base, args))
  local s = p:read("a")
  p:close()
  return s
end

-- Type literal text (no Enter).
function Tmux:type(text)
  return self:run(("send-keys -t %s -l %s"):format(self.name, q(text)))
end

-- Press keys by name: "Enter", "C-c", "C-d", "Up", ...
function Tmux:keys(...)
  local ks = {}
  for i = 1, select("#", ...) do ks[i] = q((select(i, ...))) end
  return self:run(("send-keys -t %s %s"):format(self.name, table.concat(ks, " ")))
end

-- Type a line and press Enter.
function Tmux:line(text)
  self:type(text)
  return self:keys("Enter")
end

-- The pane's text (with 1000 lines of scrollback, wrapped lines joined),
-- trailing blank lines removed.
function Tmux:screen()
  local s = self:query(("capture-pane -p -J -S -1000 -t %s"):format(self.name))
  return (s:gsub("%s+$", ""))
end

-- The pane's lines (trailing blanks of each line removed).
function Tmux:lines()
  local t = {}
  for l in (self:screen() .. "\n"):gmatch("([^\n]*)\n") do t[#t + 1] = (l:gsub("%s+$", "")) end
  return t
end

-- The last non-empty line on screen (where the prompt and the typed line are).
function Tmux:last_line()
  local ls = self:lines()
  for i = #ls, 1, -1 do
    if ls[i] ~= "" and not ls[i]:match("^Pane is dead") then return ls[i] end
  end
  return ""
end

-- Wait (at most `limit` s, default 3) until pred(screen) is truthy; `pred`
-- may be a plain string to find. Returns ok, the screen.
function Tmux:wait_for(pred, limit)
  if type(pred) == "string" then
    local needle = pred
    pred = function(s) return s:find(needle, 1, true) end
  end
  local s
  local ok = C.poll(function()
    s = self:screen()
    return pred(s)
  end, limit or 3, 0.05)
  return ok and true or false, s
end

-- Wait until `n` lines exactly equal to `text` are on screen.
function Tmux:wait_lines(text, n, limit)
  return self:wait_for(function()
    local c = 0
    for _, l in ipairs(self:lines()) do if l == text then c = c + 1 end end
    return c >= (n or 1)
  end, limit)
end

-- Wait for the prompt ("> " by default) to be the last line, alone.
function Tmux:wait_prompt(prompt, limit)
  prompt = (prompt or "> "):gsub("%s+$", "")
  return self:wait_for(function() return self:last_line() == prompt end, limit)
end

-- The command's exit status once it has ended, else nil.
function Tmux:dead()
  local s = H.slurp(self.status)
  return s ~= "" and tonumber(s) or nil
end

function Tmux:pane_pid()
  return tonumber(self:query(("list-panes -t %s -F '#{pane_pid}'"):format(self.name)):match("%d+"))
end

-- End the private tmux server (and so the pane's process).
function Tmux:kill()
  local pid = self:pane_pid()
  self:run("kill-server")
  if pid and C.alive(pid) then C.kill(pid, "KILL") end
  os.remove(self.socket)
  os.remove(self.status)
end

-- Text for assertion messages.
function Tmux:show()
  return "--- screen:\n" .. self:screen()
end

-- Cleanups (busted keeps only the last `finally`): the shared ones.
C.defer = require("spec.helpers").defer
C.run_deferred = require("spec.helpers").run_deferred

return C
