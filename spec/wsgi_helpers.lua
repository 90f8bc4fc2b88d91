-- Helpers for the green.wsgi specs (wsgi, wsgi_realclients): a server on
-- a fresh 127.0.0.1 listener with its logs captured, raw-socket clients and
-- a small HTTP/1.1 response reader (Content-Length, chunked, close
-- delimited). Like spec/helpers.lua these run inside greenlua and block
-- green-style; every loop is bounded.
local green = require "green"
local wsgi = require "green.wsgi"
local helpers = require "spec.helpers"
local N = require "spec.net_helpers"

local W = {}

W.defer = helpers.defer
W.run_deferred = helpers.run_deferred

-- A log object that keeps what is written: log.lines (one entry per write),
-- log:text() (all of it).
function W.capture()
  local log = { lines = {} }
  function log.write(self, ...)
    for i = 1, select("#", ...) do self.lines[#self.lines + 1] = tostring(select(i, ...)) end
    return self
  end
  function log.text(self) return table.concat(self.lines) end
  return log
end

-- Start green.wsgi.server(listener, app, opts) in its own green thread.
-- opts.log defaults to a capture (not stderr). Returns a server table:
-- s.l (listener), s.port, s.gt (the server thread), s.log (the capture, or
-- whatever opts.log was), s.done (true once server returned), s.err (what
-- it raised). The listener is closed by run_deferred.
function W.start(app, opts, listener)
  opts = opts or {}
  if opts.log == nil then opts.log = W.capture() end
  local l, port = listener, nil
  if not l then l, port = N.listener() end
  local s = { l = l, port = port, log = opts.log }
  s.gt = green.spawn(function()
    local ok, err = pcall(wsgi.server, l, app, opts)
    s.done, s.err = true, not ok and err or nil
  end)
  helpers.defer(function()
    pcall(l.close, l)
    if not s.gt:dead() then
      helpers.wait_until(function() return s.done end, 2)
      if not s.gt:dead() then s.gt:kill() end
    end
  end)
  return s
end

-- A client socket to 127.0.0.1:port (timeout 5 s), closed by run_deferred.
function W.connect(port)
  local c = assert(green.connect("127.0.0.1", port, { timeout = 5 }))
  c:settimeout(5)
  helpers.defer(function() pcall(c.close, c) end)
  return c
end

-- Read one response from `sock`. Returns a table: version, code (integer),
-- reason, status (the status line), headers (lower-case name -> value,
-- repeats joined with ", "), list (array of {name, value} as sent), head
-- (the raw head text), body, framing ("length", "chunked", "close",
-- "none"), chunks (sizes, chunked only), complete (false if the body was
-- cut short). `opts.head` = true: the request was HEAD. Returns nil, err
-- if no status line came.
function W.read_response(sock, opts)
  opts = opts or {}
  local line, err = sock:receive("*l")
  if not line then return nil, err end
  local r = { status = line, headers = {}, list = {}, complete = true }
  local head = { line }
  r.version, r.code, r.reason = line:match("^(HTTP/%d%.%d) (%d%d%d) ?(.*)$")
  r.code = tonumber(r.code)
  for _ = 1, 1000 do
    local h = sock:receive("*l")
    if not h then return nil, "head cut short" end
    head[#head + 1] = h
    if h == "" then break end
    local name, value = h:match("^([^:]+):%s*(.-)%s*$")
    r.list[#r.list + 1] = { name, value }
    local k = name:lower()
    r.headers[k] = r.headers[k] and r.headers[k] .. ", " .. value or value
  end
  r.head = table.concat(head, "\r\n") .. "\r\n"
  if r.code < 200 then return r end  -- interim (100 Continue): no body
  local te, cl = r.headers["transfer-encoding"], r.headers["content-length"]
  if opts.head or r.code == 204 or r.code == 304 then
    r.framing, r.body = "none", ""
  elseif te and te:lower():find("chunked") then
    r.framing, r.chunks = "chunked", {}
    local parts = {}
    for _ = 1, 1e6 do
      local size_line = sock:receive("*l")
      local size = size_line and tonumber(size_line:match("^%x+"), 16)
      if not size then r.complete = false; break end
      if size == 0 then
        for _ = 1, 100 do   -- trailers, then the blank line
          local t = sock:receive("*l")
          if not t then r.complete = false; break end
          if t == "" then break end
        end
        break
      end
      r.chunks[#r.chunks + 1] = size
      local data, _, partial = sock:receive(size)
      if not data then parts[#parts + 1] = partial; r.complete = false; break end
      parts[#parts + 1] = data
      if sock:receive("*l") ~= "" then r.complete = false; break end
    end
    r.body = table.concat(parts)
  elseif cl then
    r.framing = "length"
    local n = tonumber(cl)
    local data, _, partial = sock:receive(n)
    r.body = data or partial or ""
    r.complete = data ~= nil
  else
    r.framing = "close"
    local data, _, partial = sock:receive("*a")
    r.body = data or partial or ""
  end
  return r
end

-- Read a final response, skipping (and returning as a second result) any
-- 1xx interim responses before it.
function W.read_final(sock, opts)
  local interim = {}
  for _ = 1, 10 do
    local r, err = W.read_response(sock, opts)
    if not r then return nil, err end
    if r.code >= 200 then return r, interim end
    interim[#interim + 1] = r
  end
  return nil, "too many interim responses"
end

-- Send `text` on sock and read one response.
function W.exchange(sock, text, opts)
  assert(sock:send(text))
  return W.read_final(sock, opts)
end

-- A request's text: method, target, headers (array of "Name: value"
-- strings or a name -> value table), body; HTTP/1.1 unless opts.version.
function W.req(method, target, headers, body, version)
  local lines = { ("%s %s %s"):format(method, target, version or "HTTP/1.1") }
  local has_host = false
  if headers then
    if headers[1] then
      for _, h in ipairs(headers) do
        lines[#lines + 1] = h
        if h:lower():find("^host:") then has_host = true end
      end
    else
      for k, v in pairs(headers) do
        lines[#lines + 1] = k .. ": " .. v
        if k:lower() == "host" then has_host = true end
      end
    end
  end
  if not has_host then table.insert(lines, 2, "Host: localhost") end
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
end

-- One request on a fresh connection (Connection: close added); returns the
-- response (and the socket).
function W.fetch(port, method, target, headers, body)
  local c = W.connect(port)
  local h = {}
  for k, v in pairs(headers or {}) do h[#h + 1] = k .. ": " .. v end
  h[#h + 1] = "Connection: close"
  local r, err = W.exchange(c, W.req(method, target, h, body))
  return r, err, c
end

-- Does the peer close `sock` (EOF, no more bytes) within `limit` seconds?
-- Returns true, or false and what came instead.
function W.closed_by_peer(sock, limit)
  sock:settimeout(limit or 5)
  local data, err = sock:recv(65536)
  if data == nil and err == "closed" then return true end
  return false, data or err
end

-- The hello world app of the benchmark.
function W.hello()
  return 200, { ["Content-Type"] = "text/plain" }, "Hello, World!"
end

-- An app that returns env as text lines "KEY=value" (sorted; tables and
-- functions as their type), for checking env.
function W.env_app(env)
  local keys = {}
  for k, v in pairs(env) do
    if type(k) == "string" then keys[#keys + 1] = k .. "=" .. (type(v) == "string" and v or type(v)) end
  end
  table.sort(keys)
  return 200, { ["Content-Type"] = "text/plain" }, table.concat(keys, "\n") .. "\n"
end

-- Wait until the server thread `s` has returned (true) within `limit` s.
function W.wait_done(s, limit)
  return helpers.wait_until(function() return s.done end, limit or 5)
end

return W
