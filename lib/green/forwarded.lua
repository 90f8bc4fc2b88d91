-- green.forwarded: who the client is behind trusted proxies, for
-- wsgi.server's opts.trusted_proxies (see doc/api.md, "HTTP server").
--
-- compile(list, bad) turns the option (an array of addresses and CIDR
-- ranges, v4 and v6, or "unix" for peers on a Unix socket) into a matcher;
-- bad(msg) is called for misuse (wsgi raises naming opts.trusted_proxies).
-- client(env, peer, trusted) -> addr, port or nil: only when the peer is
-- trusted, the Forwarded header's for= values (Forwarded wins when both are
-- there) or else X-Forwarded-For's, walked from the right while each hop is
-- trusted: the first address that is not becomes the client. A hop that is
-- not an address ("unknown", an obfuscated name) ends the walk at the last
-- trusted one; an unparsable Forwarded header is ignored (the peer stays).
local core = require "green.core"

local ip_bytes = core.ip_bytes
local byte, sub, find, lower, tointeger = string.byte, string.sub, string.find, string.lower, math.tointeger
local concat = table.concat
local type, pairs, select, tostring, tonumber = type, pairs, select, tostring, tonumber
local math_type, format, char = math.type, string.format, string.char

local M = {}

-- One entry: { bytes, whole bytes to compare, mask of the next byte }.
local function entry(s, bad)
  if s == "unix" then return { unix = true } end
  local addr, bits = s:match("^([^/]+)/(%d+)$")
  if not addr then addr = s end
  local b = ip_bytes(addr)
  if not b then bad("invalid address " .. format("%q", s)) end
  local max = #b * 8
  if bits then
    bits = tointeger(tonumber(bits))
    if not bits then bad("invalid prefix in " .. s) end
    -- an IPv4-mapped range (::ffff:10.0.0.0/104) is the IPv4 range it maps
    if #b == 4 and find(addr, ":", 1, true) then
      if bits < 96 then bad("prefix too short for an IPv4-mapped range in " .. s) end
      bits = bits - 96
    end
    if bits > max then bad("prefix longer than the address in " .. s) end
  else
    bits = max
  end
  local whole = bits // 8
  local rest = bits % 8
  return { b, whole, rest > 0 and (0xFF << (8 - rest)) & 0xFF or 0 }
end

-- The matcher: trusted(addr_string) -> boolean.
function M.compile(list, bad)
  if type(list) == "string" then list = { list } end
  if type(list) ~= "table" then bad("array of addresses or CIDR ranges expected, got " .. type(list)) end
  local entries, unix = {}, false
  local n = #list
  for k in pairs(list) do
    if math_type(k) ~= "integer" or k < 1 or k > n then bad("array of addresses or CIDR ranges expected") end
  end
  for i = 1, n do
    local s = list[i]
    if type(s) ~= "string" then bad("entry " .. i .. ": string expected, got " .. type(s)) end
    local e = entry(s, bad)
    if e.unix then unix = true else entries[#entries + 1] = e end
  end
  if n == 0 then bad("empty list (leave the option out to trust no proxy)") end
  return function(addr)
    if addr == "unix" then return unix end
    local b = ip_bytes(addr)
    if not b then return false end
    local len = #b
    for i = 1, #entries do
      local e = entries[i]
      local eb, whole, mask = e[1], e[2], e[3]
      if #eb == len and sub(eb, 1, whole) == sub(b, 1, whole)
        and (mask == 0 or byte(eb, whole + 1) & mask == byte(b, whole + 1) & mask) then
        return true
      end
    end
    return false
  end
end

-- A node (a for= value or an X-Forwarded-For entry): addr, port, or nil.
-- Forms: 1.2.3.4, 1.2.3.4:80, 2001:db8::1, [2001:db8::1], [2001:db8::1]:80.
local function node(s)
  s = s:match("^[ \t]*(.-)[ \t]*$")
  local addr, port
  if byte(s, 1) == 91 then   -- "["
    addr, port = s:match("^%[([^%]]+)%]:?(.*)$")
    if not addr or not find(addr, ":", 1, true) then return nil end
  elseif select(2, s:gsub(":", "")) == 1 then
    addr, port = s:match("^([^:]+):(.*)$")
  else
    addr, port = s, ""
  end
  local b, text = ip_bytes(addr)
  if not b then return nil end
  if port ~= "" then
    local p = port:match("^%d%d?%d?%d?%d?$") and tointeger(tonumber(port))
    -- an obfuscated port (_abc) is allowed by RFC 7239: no port then
    if p and p > 0 and p <= 65535 then port = tostring(p)
    elseif port:match("^_[%w._-]+$") then port = nil
    else return nil end
  else
    port = nil
  end
  return text, port
end

local TOKEN = "^[%w!#$%%&'*+%-.^_`|~]+"

-- Forwarded (RFC 7239): the for= value of each element, in order (false
-- where an element has none), or nil if the header does not parse.
local function forwarded_for(s)
  local out, n = {}, 0
  local i, len = 1, #s
  local cur = false
  while true do
    i = find(s, "[^ \t]", i) or len + 1
    if i > len then
      if n == 0 and not cur then return nil end
      n = n + 1
      out[n] = cur
      return out, n
    end
    local k1, k2 = find(s, TOKEN, i)
    if not k1 or byte(s, k2 + 1) ~= 61 then return nil end   -- "="
    local key = lower(sub(s, k1, k2))
    i = k2 + 2
    local val
    if byte(s, i) == 34 then   -- a quoted-string
      local buf, m = {}, 0
      i = i + 1
      while true do
        local c = byte(s, i)
        if c == nil then return nil end
        if c == 34 then i = i + 1; break end
        if c == 92 then i = i + 1; c = byte(s, i); if c == nil then return nil end end
        m = m + 1
        buf[m] = char(c)
        i = i + 1
      end
      val = concat(buf, "", 1, m)
    else
      local v1, v2 = find(s, TOKEN, i)
      if not v1 then return nil end
      val = sub(s, v1, v2)
      i = v2 + 1
    end
    if key == "for" then
      if cur then return nil end   -- twice in one element
      cur = val
    end
    i = find(s, "[^ \t]", i) or len + 1
    local c = byte(s, i)
    if c == 44 then   -- ",": the next element
      n = n + 1
      out[n] = cur
      cur = false
      i = i + 1
    elseif c == 59 then   -- ";": the next pair of this element
      i = i + 1
    elseif c ~= nil then
      return nil
    end
  end
end

local function xff_list(s)
  local out, n = {}, 0
  for part in (s .. ","):gmatch("([^,]*),") do
    n = n + 1
    out[n] = part
  end
  return out, n
end

function M.client(env, peer, trusted)
  if not trusted(peer) then return nil end
  local list, n
  local fwd = env.HTTP_FORWARDED
  if fwd then
    list, n = forwarded_for(fwd)
    if not list then return nil end
  else
    local xff = env.HTTP_X_FORWARDED_FOR
    if not xff then return nil end
    list, n = xff_list(xff)
  end
  local addr, port = nil, nil
  for i = n, 1, -1 do
    local v = list[i]
    local a, p
    if v then a, p = node(v) end
    if not a then break end   -- not an address: the last trusted hop is what is known
    addr, port = a, p
    if not trusted(a) then break end
  end
  return addr, port
end

return M
