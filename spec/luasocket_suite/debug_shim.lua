-- The harness's one addition to LuaSocket's upstream client tests
-- (testclnt.lua, utestclnt.lua), loaded before them, the same under plain
-- lua5.4 and under greenlua. Those tests refuse to run unless socket._DEBUG
-- is set, and read a fourth result, the seconds the call took, that only a
-- LuaSocket compiled with LUASOCKET_DEBUG returns from send and receive
-- (always padded to three results first: data|nil, err, partial|last).
-- Debian's lua-socket is not compiled so: this sets the flag and appends
-- that value in Lua, to the client classes' send and receive.
local socket = require "socket"
socket._DEBUG = true
local gettime = socket.gettime
local done = {}

local function wrap(obj)
  local mt = getmetatable(obj)
  local index = mt and mt.__index
  assert(type(index) == "table", "debug_shim: " .. tostring(obj) .. " has no method table")
  if done[index] then return end
  done[index] = true
  for _, name in ipairs({ "send", "receive" }) do
    local f = index[name]
    index[name] = function(self, ...)
      local t0 = gettime()
      local a, b, c = f(self, ...)
      return a, b, c, gettime() - t0
    end
  end
end

local function tcp_client()
  local srv = assert(socket.bind("127.0.0.1", 0))
  local _, port = srv:getsockname()
  local c = assert(socket.connect("127.0.0.1", port))
  local s = assert(srv:accept())
  wrap(c)
  c:close(); s:close(); srv:close()
end
tcp_client()

if DEBUG_SHIM_UNIX then
  local unix = require "socket.unix"
  local path = os.tmpname()
  os.remove(path)
  local srv = assert(unix.stream())
  assert(srv:bind(path))
  assert(srv:listen())
  local c = assert(unix.stream())
  assert(c:connect(path))
  local s = assert(srv:accept())
  wrap(c)
  c:close(); s:close(); srv:close()
  os.remove(path)
end
