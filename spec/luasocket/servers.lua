-- The local servers the LuaSocket specs talk to, started in the background
-- (spec/tls_helpers.lua's T.bg; each bounded by timeout(1)) on 127.0.0.1.
local T = require "spec.tls_helpers"
local helpers = require "spec.helpers"

local S = {}

-- `python3 -m http.server` serving a fresh directory holding big.txt
-- (100 kB), small.txt and sub/index.html. Returns handle, port, dir, cleanup.
function S.files()
  local dir, cleanup = helpers.tmpdir()
  local lines = {}
  for i = 1, 2000 do lines[i] = ("line %05d of the big file, 50 bytes long......"):format(i) end
  helpers.write(dir .. "/big.txt", table.concat(lines, "\n") .. "\n")
  helpers.write(dir .. "/small.txt", "a small file\n")
  os.execute("mkdir -p " .. helpers.quote(dir .. "/sub"))
  helpers.write(dir .. "/sub/index.html", "<html>the sub index</html>\n")
  local h = T.bg(("exec timeout -k 2 170 python3 -u -m http.server 0 --bind 127.0.0.1 --directory %s")
    :format(helpers.quote(dir)))
  assert(h:wait_output("Serving HTTP on", 15), h:describe())
  local port = tonumber(h:out():match("port (%d+)"))
  return h, port, dir, cleanup
end

-- spec/servers/luasocket_http_server.py. Returns handle, port.
function S.app()
  local h = T.bg("exec timeout -k 2 170 python3 -u spec/servers/luasocket_http_server.py")
  assert(h:wait_output("PORT ", 15), h:describe())
  return h, tonumber(h:out():match("PORT (%d+)"))
end

-- spec/servers/fake_smtpd.py. Returns handle, port; the server writes
-- each message it accepts to DIR/<n>.eml and logs the dialogue to stderr.
function S.smtp(dir, args)
  local h = T.bg(("exec timeout -k 2 170 python3 -u spec/servers/fake_smtpd.py %s %s")
    :format(helpers.quote(dir), args or ""))
  assert(h:wait_output("PORT ", 15), h:describe())
  return h, tonumber(h:out():match("PORT (%d+)"))
end

-- spec/servers/fake_ftpd.py over a fresh ROOT holding hello.txt,
-- dir/data.bin (76,800 bytes) and dir/a.txt, with the account alice:pw.
-- Returns handle, port, root, cleanup.
function S.ftp()
  local dir, cleanup = helpers.tmpdir()
  local root = dir .. "/root"
  os.execute("mkdir -p " .. helpers.quote(root .. "/dir"))
  helpers.write(root .. "/hello.txt", "hello over ftp\n")
  local bytes = {}
  for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
  helpers.write(root .. "/dir/data.bin", table.concat(bytes):rep(300))
  helpers.write(root .. "/dir/a.txt", "")
  local h = T.bg(("exec timeout -k 2 170 python3 -u spec/servers/fake_ftpd.py %s --user alice:pw")
    :format(helpers.quote(root)))
  assert(h:wait_output("PORT ", 15), h:describe())
  return h, tonumber(h:out():match("PORT (%d+)")), root, cleanup
end

-- Run `script` (a file) with `args` under `interp` (a command: lua5.4 or
-- greenlua), bounded; returns stdout, stderr, exit status.
function S.run(interp, script, args, limit)
  local h = T.bg(("exec timeout -k 2 %d %s %s %s"):format(limit or 60, interp, script, args or ""))
  local rc = h:wait((limit or 60) + 10)
  local out, err = h:out(), h:err()
  h:stop()
  return out, err, rc
end

return S
