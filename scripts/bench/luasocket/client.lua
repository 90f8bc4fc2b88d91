-- One measurement of the LuaSocket benchmark: N sequential socket.http.request
-- GETs (Debian's socket/http.lua; it sends Connection: close, so every request
-- is a fresh connection) to URL, after W warm-up requests. Prints
-- "<requests per second> <seconds> <n>". The same file runs under plain
-- lua5.4 (Debian's real LuaSocket) and under greenlua (the green socket.core).
-- usage: client.lua URL [N] [W]
local http = require "socket.http"
local socket = require "socket"
local url, n, w = arg[1], tonumber(arg[2] or 1000), tonumber(arg[3] or 50)
assert(url, "usage: client.lua URL [N] [W]")
for _ = 1, w do
  local body, code = http.request(url)
  assert(code == 200 and body == "Hello, World!", tostring(code))
end
local t0 = socket.gettime()
for _ = 1, n do
  local body, code = http.request(url)
  if code ~= 200 or body ~= "Hello, World!" then
    error(("request failed: %s %s"):format(tostring(body), tostring(code)))
  end
end
local dt = socket.gettime() - t0
print(("%.1f %.4f %d"):format(n / dt, dt, n))
