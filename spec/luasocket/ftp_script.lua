-- Debian's socket.ftp against spec/servers/fake_ftpd.py (passive mode:
-- socket.ftp 3.1.0 sends EPSV). Run by spec/luasocket_modules_spec.lua under
-- lua5.4 (real LuaSocket) and greenlua; prints one line per result.
-- usage: ftp_script.lua PORT ROOT
local ftp = require "socket.ftp"
local ltn12 = require "ltn12"
local port, root = arg[1], arg[2]
local U = "ftp://127.0.0.1:" .. port
local function show(label, ...)
  local t = table.pack(...)
  for i = 1, t.n do
    local v = t[i]
    t[i] = (type(v) == "string" and #v > 100) and ("<%d bytes>"):format(#v) or tostring(v)
  end
  print(label, table.concat(t, " | ", 1, t.n))
end
local function slurp(p)
  local f = io.open(p, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

show("get", ftp.get(U .. "/hello.txt"))
show("get binary", ftp.get(U .. "/dir/data.bin;type=i"))
show("get missing", ftp.get(U .. "/nope.txt"))
show("get user", ftp.get("ftp://alice:pw@127.0.0.1:" .. port .. "/hello.txt"))
show("get bad password", ftp.get("ftp://alice:wrong@127.0.0.1:" .. port .. "/hello.txt"))
local t = {}
show("get generic", ftp.get { host = "127.0.0.1", port = port, path = "dir/data.bin", type = "i",
  sink = (ltn12.sink.table(t)) })
show("generic body", #table.concat(t), table.concat(t) == slurp(root .. "/dir/data.bin"))
local names = {}
show("nlst", ftp.get { host = "127.0.0.1", port = port, command = "nlst", argument = "dir",
  sink = (ltn12.sink.table(names)) })
show("nlst names", (table.concat(names):gsub("\r\n", ",")))
show("put", ftp.put(U .. "/up.txt;type=a", "uploaded\r\ntext\r\n"))
show("put stored", slurp(root .. "/up.txt"))
local big = string.rep("0123456789abcdef", 40000)
show("put generic", ftp.put { host = "127.0.0.1", port = port, path = "big.bin", type = "i",
  source = ltn12.source.string(big) })
show("put generic stored", slurp(root .. "/big.bin") == big)
show("refused", ftp.get("ftp://127.0.0.1:1/x"))
show("bad scheme", ftp.get("http://127.0.0.1/x"))
-- the low-level interface
local f = ftp.open("127.0.0.1", port)
show("greet", f:greet())
show("login", f:login("ftp", "me@example.test"))
show("cwd", f:cwd("dir"))
show("pasv", select("#", f:pasv()))
local r = {}
show("receive", f:receive { path = "data.bin", sink = (ltn12.sink.table(r)) })
show("received", #table.concat(r))
show("quit", f:quit())
show("close", f:close())
print("done")
