-- Raw-socket helpers for the HTTP server specs (wsgi_parser, wsgi_garbage):
-- a green.wsgi server on 127.0.0.1 whose app records every call, a client
-- that sends exact bytes and reads until the server closes (bounded in
-- time), and a small parser for what came back. Like spec/helpers.lua these
-- run inside greenlua and may block.
local green = require "green"
local helpers = require "spec.helpers"

local R = {}

-- A request that must never reach the app when it follows a rejected one
-- on the same connection (request smuggling).
R.SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

-- A server on a fresh 127.0.0.1 listener running green.wsgi.server(l, app,
-- opts) in its own green thread. `app` defaults to R.reading_app. Returns
-- a table: port, calls (array of {path=, method=, body=, err=} per app
-- call), log (what the server logged, access and errors), stop() (closes the listener and waits, bounded, for the server).
-- stop is also deferred (spec.helpers.defer), so a failing test leaves no
-- server behind, unless `shared` is true (a server made in setup, stopped
-- in teardown).
function R.server(opts, app, shared)
  local wsgi = require "green.wsgi"
  local l = assert(green.listen("127.0.0.1", 0))
  local _, port = l:getsockname()
  local srv = { port = port, calls = {}, errors = {}, log = {} }
  -- the access and error logs are kept (srv.log), not printed
  local o = { log = { write = function(_, ...)
    for _, s in ipairs({ ... }) do srv.log[#srv.log + 1] = tostring(s) end
    return true
  end } }
  for k, v in pairs(opts or {}) do o[k] = v end
  app = app or R.reading_app
  local gt = green.spawn(function()
    local ok, err = pcall(wsgi.server, l, function(env) return app(env, srv) end, o)
    if not ok then srv.errors[#srv.errors + 1] = tostring(err) end
  end)
  function srv.stop()
    if srv.stopped then return end
    srv.stopped = true
    pcall(l.close, l)
    -- the server returns once its connections are done; ours are closed
    helpers.wait_until(function() return gt:dead() end, 10)
    if not gt:dead() then gt:kill() end
  end
  if not shared then helpers.defer(srv.stop) end
  return srv
end

-- The default app: records the call, reads the whole body, and answers
-- 200 with a text body naming the path and the body's length.
function R.reading_app(env, srv)
  local call = { path = env.PATH_INFO, method = env.REQUEST_METHOD, env = env }
  srv.calls[#srv.calls + 1] = call
  local body, err = env.input:read("*a")
  call.body, call.err = body, err
  local text = ("ok %s %s"):format(env.PATH_INFO, body and #body or tostring(err))
  return 200, { ["Content-Type"] = "text/plain" }, text
end

-- An app that reads the body with assert: a failed read raises the read's
-- error (what most apps do), so the server has not answered yet.
function R.asserting_app(env, srv)
  local call = { path = env.PATH_INFO, method = env.REQUEST_METHOD }
  srv.calls[#srv.calls + 1] = call
  local body, err = env.input:read("*a")
  call.body, call.err = body, err
  assert(body, err)
  return 200, { ["Content-Type"] = "text/plain" }, "ok " .. #body
end

-- An app that never reads the body (the server must discard it).
function R.ignoring_app(env, srv)
  srv.calls[#srv.calls + 1] = { path = env.PATH_INFO, method = env.REQUEST_METHOD }
  return 200, { ["Content-Type"] = "text/plain" }, "ignored"
end

-- Read from `c` until the peer closes, an error, or `limit` seconds (default
-- 5; only a failing server waits that long). Returns the bytes and how it
-- ended: "closed" (EOF or reset: the server closed), "timeout", or the error.
function R.read_all(c, limit)
  limit = limit or 5
  local deadline = green.now() + limit
  local parts = {}
  c:settimeout(limit)
  for _ = 1, 100000 do
    if green.now() > deadline then return table.concat(parts), "timeout" end
    local d, err = c:recv(65536)
    if not d then
      if err == "timeout" then return table.concat(parts), "timeout" end
      return table.concat(parts), "closed", err
    end
    parts[#parts + 1] = d
  end
  return table.concat(parts), "timeout"
end

-- Send `data` (a string, or an array of strings sent one by one with a
-- yield between them) on a new connection to `port`, then read until the
-- server closes. opts.shutdown: half-close our side after sending.
-- Returns bytes, how (see read_all), the send error if any.
function R.exchange(port, data, opts)
  opts = opts or {}
  local c = assert(green.connect("127.0.0.1", port))
  c:settimeout(opts.limit or 5)
  local send_err
  local pieces = type(data) == "table" and data or { data }
  for i, piece in ipairs(pieces) do
    local ok, err = c:send(piece)
    if not ok then send_err = err break end
    if i < #pieces then green.sleep(0) end
  end
  if opts.shutdown and not send_err then c:shutdown("send") end
  local got, how = R.read_all(c, opts.limit)
  c:close()
  return got, how, send_err
end

-- Parse HTTP responses from `data`. Returns an array of responses {code=,
-- reason=, version=, headers = {lower name -> value, repeats joined ", "},
-- list = {{name, value}...}, body=, framing=} and the bytes left over that
-- do not form a whole response (or an error string as third result when
-- they are not HTTP at all). `head_only` (optional, per index): true when
-- that response answers a HEAD.
function R.parse(data)
  local out, pos = {}, 1
  for _ = 1, 100000 do
    if pos > #data then return out, "" end
    local head_end = data:find("\r\n\r\n", pos, true)
    if not head_end then return out, data:sub(pos) end
    local head = data:sub(pos, head_end - 1)
    local status_line = head:match("^[^\r\n]*")
    local version, code, reason = status_line:match("^(HTTP/%d%.%d) (%d%d%d) ?(.*)$")
    if not version then return out, data:sub(pos), "bad status line: " .. ("%q"):format(status_line) end
    local r = { version = version, code = tonumber(code), reason = reason, headers = {}, list = {} }
    for line in head:sub(#status_line + 3):gmatch("[^\r\n]+") do
      local name, value = line:match("^([^:]+):[ \t]*(.-)[ \t]*$")
      if not name then return out, data:sub(pos), "bad header line: " .. ("%q"):format(line) end
      r.list[#r.list + 1] = { name, value }
      local k = name:lower()
      r.headers[k] = r.headers[k] and (r.headers[k] .. ", " .. value) or value
    end
    pos = head_end + 4
    local cl, te = r.headers["content-length"], r.headers["transfer-encoding"]
    if (r.code >= 100 and r.code < 200) or r.code == 204 or r.code == 304 then
      r.body, r.framing = "", "none"
    elseif te and te:lower() == "chunked" then
      local parts = {}
      for _ = 1, 100000 do
        local size_end = data:find("\r\n", pos, true)
        if not size_end then return out, data:sub(pos) end
        local size = tonumber(data:sub(pos, size_end - 1):match("^%x+"), 16)
        if not size then return out, data:sub(pos), "bad chunk size" end
        if size == 0 then
          local trailer_end = data:find("\r\n", size_end + 2, true)
          if not trailer_end then return out, data:sub(pos) end
          pos = trailer_end + 2
          break
        end
        if #data < size_end + 1 + size + 2 then return out, data:sub(pos) end
        parts[#parts + 1] = data:sub(size_end + 2, size_end + 1 + size)
        pos = size_end + 2 + size + 2
      end
      r.body, r.framing = table.concat(parts), "chunked"
    elseif cl then
      local n = tonumber(cl)
      if not n then return out, data:sub(pos), "bad content-length" end
      if #data - pos + 1 < n then return out, data:sub(pos) end
      r.body, r.framing = data:sub(pos, pos + n - 1), "length"
      pos = pos + n
    else
      r.body, r.framing = data:sub(pos), "close"
      pos = #data + 1
    end
    out[#out + 1] = r
  end
  return out, data:sub(pos)
end

-- A one-line printable form of `s` for failure messages (at most max
-- bytes): in double quotes, every byte outside printable ASCII escaped
-- (\r, \n, \t, or \ddd in decimal, as Lua reads it back).
local ESC = { ["\r"] = "\\r", ["\n"] = "\\n", ["\t"] = "\\t", ["\\"] = "\\\\", ['"'] = '\\"' }
function R.show(s, max)
  max = max or 300
  local t = s:sub(1, max):gsub('[\\"]', ESC):gsub('[^\32-\126]', function(c)
    return ESC[c] or ("\\%03d"):format(c:byte())
  end)
  t = '"' .. t .. '"'
  if #s > max then t = t .. ("... (%d bytes)"):format(#s) end
  return t
end

-- Asserts that `got` (read until `how`) is exactly one error response with
-- status `code` (a number, or a set {[400]=true, [501]=true}): a status line
-- with that code, `Connection: close`, a short non-empty text body, nothing
-- after it, and the connection closed by the server. `what` names the case.
function R.assert_error(got, how, code, what)
  local msg = ("%s: got %s (connection %s)"):format(what, R.show(got), how)
  assert(how == "closed", msg .. ": the server did not close the connection")
  local rs, rest, perr = R.parse(got)
  assert(not perr, msg .. ": " .. tostring(perr))
  assert(#rs == 1 and rest == "", msg .. ": expected exactly one response")
  local r = rs[1]
  local want_ok
  if type(code) == "table" then want_ok = code[r.code] else want_ok = r.code == code end
  if not want_ok then
    local want = {}
    if type(code) == "table" then
      for k in pairs(code) do want[#want + 1] = tostring(k) end
      table.sort(want)
    else
      want[1] = tostring(code)
    end
    error(msg .. ": expected status " .. table.concat(want, " or "), 2)
  end
  local conn = (r.headers["connection"] or ""):lower()
  assert(conn:find("close", 1, true), msg .. ": no Connection: close")
  assert(r.framing == "length", msg .. ": the error body has no Content-Length")
  assert(#r.body > 0 and #r.body <= 1024, msg .. ": the body is not a short text")
  assert(not r.body:find("[^\t\r\n\32-\126]"), msg .. ": the body is not plain text")
  return r
end

-- Asserts `got` is exactly `n` responses (default 1), all complete, then the
-- connection closed (how == "closed") when `closed` is true, or still open
-- (how == "timeout" after a short read) otherwise. Returns the responses.
function R.assert_responses(got, how, n, what, closed)
  local msg = ("%s: got %s (connection %s)"):format(what, R.show(got), how)
  local rs, rest, perr = R.parse(got)
  assert(not perr, msg .. ": " .. tostring(perr))
  assert(#rs == (n or 1) and rest == "", msg .. (": expected %d response(s)"):format(n or 1))
  if closed ~= nil then
    assert((how == "closed") == closed, msg .. (closed and ": not closed" or ": closed"))
  end
  return rs
end

-- Paths the app saw, as one string for messages.
function R.paths(srv)
  local t = {}
  for i, c in ipairs(srv.calls) do t[i] = tostring(c.method) .. " " .. tostring(c.path) end
  return "[" .. table.concat(t, ", ") .. "]"
end

-- Whether the app ever saw the smuggled request.
function R.smuggled(srv)
  for _, c in ipairs(srv.calls) do
    if c.path == "/smuggled" then return true end
  end
  return false
end

-- Streams `piece` repeatedly after `prefix` on a new connection, up to
-- `total` bytes, while another green thread reads. Returns how many bytes
-- were sent when sending stopped, whether all of them went out, what was
-- read, and how reading ended. A server that bounds its buffering closes
-- the connection long before `total` bytes (chosen larger than the kernel
-- can buffer: net_helpers.unbuffered_size) went out.
function R.stream(port, prefix, piece, total, limit)
  limit = limit or 30
  local c = assert(green.connect("127.0.0.1", port))
  c:settimeout(5)
  local got, how
  local reader = green.spawn(function()
    got, how = R.read_all(c, limit)
  end)
  local sent, all = 0, false
  local deadline = green.now() + limit
  if c:send(prefix) then
    sent = #prefix
    local big = piece:rep(math.max(1, 65536 // #piece))
    for _ = 1, total // #big + 2 do
      if sent >= total then all = true break end
      if green.now() > deadline or reader:dead() then break end
      local ok = c:send(big)
      if not ok then break end
      sent = sent + #big
    end
  end
  helpers.wait_until(function() return reader:dead() end, limit)
  if not reader:dead() then reader:kill() end
  c:close()
  return sent, all, got or "", how
end

return R
