-- Run under lua5.4 (Debian's LuaSocket) and under greenlua (the green
-- socket.dns): spec/luasocket_dns_spec.lua compares the outputs line for
-- line. Only names the machine answers itself (/etc/hosts, numeric
-- addresses, the ".invalid" domain that never resolves).
local socket = require "socket"
local dns = socket.dns

local function show(v)
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. show(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return tostring(v)
end

local function p(label, ...)
  local t = table.pack(...)
  local out = {}
  for i = 1, t.n do out[i] = show(t[i]) end
  print(label, table.concat(out, " "))
end

local function try(label, f, ...)
  p(label, pcall(f, ...))
end

local function keys(t)
  local k = {}
  for name in pairs(t) do k[#k + 1] = name end
  table.sort(k)
  return table.concat(k, " ")
end

p("functions", keys(dns))
local hostname = dns.gethostname()
p("gethostname", type(hostname), #hostname > 0)
local names = {"localhost", "127.0.0.1", "127.0.0.2", "::1", "0.0.0.0", "nonexistent.invalid",
  "", "1.2.3", "12", "999.1.1.1", hostname, "localhost.", "LOCALHOST", "a\0b"}
for _, n in ipairs(names) do
  local label = ("%q"):format(n)
  p("toip " .. label, dns.toip(n))
  p("tohostname " .. label, dns.tohostname(n))
  p("getaddrinfo " .. label, dns.getaddrinfo(n))
  p("getnameinfo " .. label, dns.getnameinfo(n))
  p("getnameinfo http " .. label, dns.getnameinfo(n, "http"))
end
p("toip number", dns.toip(127))
p("getaddrinfo number", dns.getaddrinfo(12))
p("getnameinfo serv only", dns.getnameinfo(nil, "80"))
p("getnameinfo serv name", dns.getnameinfo(nil, "smtp"))
p("getnameinfo bad serv", dns.getnameinfo(nil, "no-such-service"))
p("getnameinfo both", dns.getnameinfo("127.0.0.1", "443"))
p("getnameinfo number serv", dns.getnameinfo("127.0.0.1", 22))
try("getnameinfo none", dns.getnameinfo)
try("getnameinfo table", dns.getnameinfo, {})
try("getnameinfo bad serv type", dns.getnameinfo, "localhost", {})
try("toip none", dns.toip)
try("toip table", dns.toip, {})
try("tohostname none", dns.tohostname)
try("getaddrinfo none", dns.getaddrinfo)
try("getaddrinfo bool", dns.getaddrinfo, true)
p("method call error", pcall(function() return dns.toip() end))
p("gethostname args", dns.gethostname(1, 2, 3) == hostname)
