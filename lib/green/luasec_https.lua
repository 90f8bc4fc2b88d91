-- green.luasec_https: `ssl.https` (installed as package.preload["ssl.https"]
-- by green.patch): socket.http's API over HTTPS, on Debian's own
-- socket.http, green.
--
--   https.request(url [, body])  -> body, code, headers, status | nil, err
--   https.request{url=, sink=, method=, headers=, source=, ... TLS params}
--                                -> 1, code, headers, status | nil, err
--   https.tcp(params)            -> a `create` function for socket.http
--                                   (socket.http's https:// URLs use it)
--   PORT (443), TIMEOUT (60, seconds for each connect, handshake and read)
--
-- Unlike LuaSec's ssl.https, this one VERIFIES by default: the server's
-- chain against the system trust store (or params.cafile / capath) and its
-- name against the URL's host (DNS names, or IP SANs for an IP literal).
-- verify = "none" in the request table turns that off, as LuaSec's params
-- would. Redirects are followed as socket.http follows them (never from
-- https to http); proxies and a user `create` are refused, as LuaSec does.
-- Connections are made with green.connect, so DNS and connect are green
-- even where socket.core is the real one.
local ltn12 = require "ltn12"
local http = require "socket.http"
local url = require "socket.url"
local ssl = require "green.luasec"  -- ours, whatever "ssl" is
local net = require "green.net"

local M = {
  _VERSION = "1.2.0",
  _COPYRIGHT = "LuaSec 1.2.0 ssl.https API - green, verifying implementation in greenlua",
  PORT = 443,
  TIMEOUT = 60,
}

local TLS_KEYS = { "protocol", "options", "verify", "cafile", "capath", "certificate", "key",
  "password", "ciphers", "ciphersuites", "depth", "alpn", "curve", "curveslist", "verifyext" }

-- The TLS params of a request table (the rest is socket.http's).
local function tls_params(t)
  local p = { mode = "client", protocol = "any" }
  for _, k in ipairs(TLS_KEYS) do
    if t and t[k] ~= nil then p[k] = t[k] end
  end
  p.mode = "client"
  -- verifying: newcontext then checks the chain and the sni name (the host)
  if p.verify == "peer" then p.verify = nil end
  return p
end

-- The object socket.http drives: LuaSocket's tcp methods, over a green
-- TLS connection once connected.
local Conn = {}
Conn.__index = Conn

function Conn:settimeout(t)
  self.timeout = t  -- ssl.https's rule: TIMEOUT governs, as LuaSec's does
  if self.c then self.c:settimeout(M.TIMEOUT) end
  return 1
end

function Conn:connect(host, port)
  local sock, err = net.connect(host, math.tointeger(tonumber(port)) or -1, { timeout = M.TIMEOUT })
  if not sock then return nil, err end
  local c
  c, err = ssl.wrap(sock, self.params)
  if not c then
    sock:close()
    return nil, err
  end
  c:sni(host)
  c:settimeout(M.TIMEOUT)
  local ok
  ok, err = c:dohandshake()
  if not ok then
    c:close()
    return nil, err
  end
  self.c = c
  return 1
end

local function forward(name)
  Conn[name] = function(self, ...)
    if not self.c then return nil, "closed" end
    return self.c[name](self.c, ...)
  end
end
for _, name in ipairs({ "send", "receive", "getpeercertificate", "getpeerverification",
  "info", "dirty", "getfd", "getstats", "setstats", "getalpn", "want" }) do
  forward(name)
end

function Conn:close()
  if self.c then self.c:close() end
  self.c = nil
  return 1
end

-- tcp(params) -> create(): what socket.http calls for a connection
function M.tcp(params)
  local p = tls_params(params or {})
  return function()
    return setmetatable({ params = p }, Conn)
  end
end

local function with_port(u)
  return url.build(url.parse(u, { port = M.PORT }))
end

function M.request(reqt, body)
  local t = {}
  local stringrequest = type(reqt) == "string"
  if stringrequest then
    reqt = {
      url = with_port(reqt),
      method = body and "POST" or "GET",
      sink = ltn12.sink.table(t),
    }
    if body then
      reqt.source = ltn12.source.string(body)
      reqt.headers = {
        ["content-length"] = #body,
        ["content-type"] = "application/x-www-form-urlencoded",
      }
    end
  elseif type(reqt) == "table" then
    if type(reqt.url) ~= "string" then
      error("bad argument #1 to 'request' (url string expected in the request table)", 2)
    end
    reqt.url = with_port(reqt.url)
  else
    error("bad argument #1 to 'request' (string or table expected, got " .. type(reqt) .. ")", 2)
  end
  if http.PROXY or reqt.proxy then return nil, "proxy not supported" end
  if reqt.create then return nil, "create function not permitted" end
  reqt.create = M.tcp(reqt)
  local res, code, headers, status = http.request(reqt)
  if res and stringrequest then return table.concat(t), code, headers, status end
  return res, code, headers, status
end

return M
