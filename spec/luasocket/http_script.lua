-- Debian's socket.http, ltn12 sources and sinks, against two local servers:
-- `python3 -m http.server` serving DIR on FILES_PORT, and
-- spec/servers/luasocket_http_server.py on APP_PORT. Prints one line per
-- result; spec/luasocket_http_spec.lua runs it under plain lua5.4 (the real
-- LuaSocket) and under greenlua (the green one) and compares the output.
-- usage: http_script.lua FILES_PORT APP_PORT DIR
local http = require "socket.http"
local ltn12 = require "ltn12"
local files, app, dir = arg[1], arg[2], arg[3]
local F = "http://127.0.0.1:" .. files
local A = "http://127.0.0.1:" .. app

local function show(label, ...)
  local n = select("#", ...)
  local out = {}
  for i = 1, n do
    local v = select(i, ...)
    if type(v) == "table" then
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      local parts = {}
      for _, k in ipairs(keys) do
        -- the date and server headers change from run to run
        if k ~= "date" and k ~= "server" and k ~= "last-modified" then
          parts[#parts + 1] = k .. "=" .. tostring(v[k])
        end
      end
      out[#out + 1] = "{" .. table.concat(parts, ",") .. "}"
    elseif type(v) == "string" and #v > 200 then
      out[#out + 1] = ("<%d bytes, sum %d>"):format(#v, (function()
        local s = 0
        for j = 1, #v, 97 do s = (s + v:byte(j) * j) % 1000003 end
        return s
      end)())
    else
      out[#out + 1] = tostring(v)
    end
  end
  print(label, table.concat(out, " | "))
end

-- simple form, a file of 100 kB, a missing file, a directory redirect (301)
show("get file", http.request(F .. "/big.txt"))
show("get small", http.request(F .. "/small.txt"))
show("get missing", (select(2, http.request(F .. "/nope.txt"))))
show("get dir redirect", http.request(F .. "/sub"))
-- generic form, sinks
local t = {}
show("sink table", http.request { url = F .. "/big.txt", sink = ltn12.sink.table(t) })
show("sink table body", table.concat(t))
local path = dir .. "/copy.out"
show("sink file", http.request { url = F .. "/small.txt", sink = ltn12.sink.file(io.open(path, "wb")) })
local f = io.open(path, "rb")
show("sink file body", f:read("a"))
f:close()
local chunks = 0
show("sink chain", http.request { url = F .. "/big.txt",
  sink = ltn12.sink.chain(function(c) if c then chunks = chunks + 1 end return c and c:upper() end,
    (ltn12.sink.table(t))) })
show("sink null", http.request { url = F .. "/big.txt", sink = ltn12.sink.null() })
show("sink error", http.request { url = F .. "/big.txt", sink = function(c, e) if c then return nil, "full" end return 1 end })
-- HEAD
show("head", http.request { url = F .. "/small.txt", method = "HEAD" })
-- POST: simple form (url-encoded), a source with a length, one without (chunked)
show("post simple", http.request(A .. "/echo", "a=1&b=two"))
local body = string.rep("posted data ", 1000)
local rt = {}
show("post source", http.request { url = A .. "/echo", method = "POST",
  source = ltn12.source.string(body), sink = ltn12.sink.table(rt),
  headers = { ["content-length"] = #body, ["content-type"] = "text/plain", ["x-extra"] = "yes" } })
show("post source echo", table.concat(rt))
rt = {}
local pieces = { "one,", "two,", "three" }
local i = 0
show("post chunked", http.request { url = A .. "/echo", method = "PUT",
  source = function() i = i + 1 return pieces[i] end, sink = ltn12.sink.table(rt) })
show("post chunked echo", table.concat(rt))
-- redirects: followed for GET, up to 5; redirect = false; a POST is not followed
show("hops 3", http.request(A .. "/hops?n=3"))
show("hops 6", http.request(A .. "/hops?n=6"))
show("no redirect", http.request { url = A .. "/hops?n=1", redirect = false })
show("redirect absolute", http.request(A .. "/redirect?to=" .. F .. "/small.txt"))
show("redirect 301", http.request(A .. "/redirect?code=301&to=/hops?n=0"))
show("post redirect", http.request(A .. "/redirect?to=/echo", "x=1"))
-- statuses and errors
show("status 204", http.request(A .. "/status?code=204"))
show("status 500", http.request(A .. "/status?code=500"))
show("refused", http.request("http://127.0.0.1:1/"))
show("bad host", http.request("http://host.is.invalid/"))
show("bad scheme", pcall(http.request, "ftp://127.0.0.1/"))
show("timeout", (function()
  local old = http.TIMEOUT
  http.TIMEOUT = 0.2
  local r = table.pack(http.request(A .. "/sleep?s=1"))
  http.TIMEOUT = old
  return table.unpack(r, 1, r.n)
end)())
-- create = a user function making the socket (socket.tcp here)
show("create", http.request { url = F .. "/small.txt", create = require("socket").tcp,
  sink = ltn12.sink.table(t) })
print("done")
