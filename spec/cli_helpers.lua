-- Helpers for the command-line specs (cli_spec, idle_spec): run the greenlua
-- binary (or lua5.4, to compare) through `sh -c` with a given command line,
-- stdin text and environment, and capture stdout, stderr and exit status.
-- Every command runs under `timeout`, so a hang costs at most 10 seconds.
local H = {}

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end
H.quote = sh_quote

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end
H.slurp = slurp

function H.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function capture(cmd)
  local p = assert(io.popen(cmd))
  local s = p:read("a")
  p:close()
  return (s:gsub("\n$", ""))
end

-- The current directory, and an absolute version of a path relative to it.
local cwd = capture("pwd")
local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  return cwd .. "/" .. path:gsub("^%./", "")
end

-- The binary under test: $GREENLUA (resolved against the current directory),
-- default build/greenlua.
H.bin = absolute(os.getenv("GREENLUA") or "build/greenlua")

-- The repository: the parent of the directory holding this file.
do
  local source = debug.getinfo(1, "S").source
  local dir = source:match("^@(.*)/[^/]*$") or "spec"
  H.repo = capture("cd " .. sh_quote(absolute(dir)) .. "/.. && pwd")
end

local function now()
  local ok, green = pcall(require, "green")
  if ok and green.now then return green.now() end
  return os.time()
end

-- A temp dir (mktemp -d) for this spec file; H.cleanup() removes it.
H.tmp = capture("mktemp -d")
assert(H.tmp:match("^/") and #H.tmp > 5, "mktemp -d failed")
function H.cleanup()
  if H.tmp and H.tmp:match("^/.+") then
    os.execute("rm -rf " .. sh_quote(H.tmp))
  end
end

-- A fresh path in the temp dir.
local counter = 0
function H.path(name)
  counter = counter + 1
  return ("%s/%d-%s"):format(H.tmp, counter, name or "f")
end

-- Write `text` to a fresh file in the temp dir, named `name`, and return the
-- absolute path.
function H.file(name, text)
  local p = H.tmp .. "/" .. name
  H.write(p, text)
  return p
end

-- Run a shell fragment under `sh -c`, stdout and stderr to files.
-- Returns { stdout =, stderr =, status =, secs = }.
function H.sh(script)
  local out, err = H.path("out"), H.path("err")
  -- redirect the shell itself too, so its own notes ("Aborted") land in err
  local cmd = ("exec >%s 2>%s; %s"):format(sh_quote(out), sh_quote(err), script)
  local t0 = now()
  local ok, how, code = os.execute(cmd)
  local secs = now() - t0
  local status = code
  if how == "signal" then status = 128 + code end
  if ok == true and status == nil then status = 0 end
  local r = { stdout = slurp(out), stderr = slurp(err), status = status, secs = secs, cmd = script }
  os.remove(out)
  os.remove(err)
  return r
end

-- run(args, stdin_text, env, opts) -> { stdout, stderr, status, secs }
--  args: list of arguments (each quoted) or a string (raw shell words).
--  stdin_text: text fed on stdin (from a file); nil: stdin is /dev/null.
--  env: name -> value to set, or name -> false to unset. LUA_INIT and
--       LUA_INIT_5_4 are always unset unless given here.
--  opts.cwd: directory to run in (default: the temp dir);
--  opts.pipe: a shell command whose output is piped into stdin instead;
--  opts.bin: the interpreter (default H.bin; "lua5.4" to compare);
--  opts.timeout: seconds (default 10); opts.wrap: a command put between
--  timeout and the interpreter (e.g. /usr/bin/time ...).
function H.run(args, stdin_text, env, opts)
  opts = opts or {}
  local words = {}
  if type(args) == "table" then
    for i = 1, #args do words[i] = sh_quote(args[i]) end
  else
    words[1] = args or ""
  end
  local envs = { LUA_INIT = false, LUA_INIT_5_4 = false }
  for k, v in pairs(env or {}) do envs[k] = v end
  local names = {}
  for k in pairs(envs) do names[#names + 1] = k end
  table.sort(names)
  local envwords = { "env" }
  for _, k in ipairs(names) do
    if envs[k] == false then envwords[#envwords + 1] = "-u " .. k end
  end
  for _, k in ipairs(names) do
    if envs[k] ~= false then envwords[#envwords + 1] = k .. "=" .. sh_quote(envs[k]) end
  end
  local input
  if opts.pipe then
    input = ""
  elseif stdin_text then
    local p = H.path("in")
    H.write(p, stdin_text)
    input = " <" .. sh_quote(p)
  else
    input = " </dev/null"
  end
  local bin = opts.bin or H.bin
  local line = ("cd %s && %s%s timeout -k 2 %s %s%s %s%s"):format(
    sh_quote(opts.cwd or H.tmp),
    opts.pipe and ("( " .. opts.pipe .. " ) | ") or "",
    table.concat(envwords, " "),
    tostring(opts.timeout or 10),
    opts.wrap and (opts.wrap .. " ") or "",
    sh_quote(bin), table.concat(words, " "), input)
  return H.sh(line)
end

-- The same with stock lua5.4, to compare.
function H.run_lua(args, stdin_text, env, opts)
  opts = opts or {}
  opts.bin = "lua5.4"
  return H.run(args, stdin_text, env, opts)
end

-- A readable description of a result, for assertion messages.
function H.show(r)
  return ("command: %s\nstatus: %s\n--- stdout:\n%s\n--- stderr:\n%s"):format(
    r.cmd, tostring(r.status), r.stdout, r.stderr)
end

return H
