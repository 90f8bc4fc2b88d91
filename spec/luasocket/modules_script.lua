-- socket.url, ltn12 and mime as Debian ships them, through the paths that
-- touch socket.core (socket.url and ltn12 need socket/base, mime needs
-- mime.core), printed line by line; spec/luasocket_modules_spec.lua runs it
-- under lua5.4 (real LuaSocket) and greenlua and compares.
local socket = require "socket"
local url = require "socket.url"
local ltn12 = require "ltn12"
local mime = require "mime"

-- ltn12.sink.table returns the table too: one value where a sink goes last
local function tsink(t) return (ltn12.sink.table(t)) end

local function dump(v)
  if type(v) ~= "table" then return tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local out = {}
  for _, k in ipairs(keys) do out[#out + 1] = tostring(k) .. "=" .. dump(v[k]) end
  return "{" .. table.concat(out, ",") .. "}"
end
local function show(label, ...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = dump(t[i]) end
  print(label, table.concat(t, " | ", 1, t.n))
end

-- socket.url
for _, u in ipairs {
  "http://user:pass@www.example.test:8080/a/b/c.html;p?q=1&r=2#frag",
  "ftp://anonymous@127.0.0.1/pub/file.txt;type=i",
  "/relative/path?x", "mailto:someone@example.test", "http://[::1]:80/v6",
  "//host.test/x", "%41%42c",
} do
  show("parse " .. u, url.parse(u))
  show("build " .. u, url.build(url.parse(u)))
end
show("parse empty", url.parse(""))
show("absolute", url.absolute("http://a/b/c/d;p?q", "../../g"), url.absolute("http://a/b/c/d;p?q", "?y"),
  url.absolute("http://a/b/c/d;p?q", "g/./h/../i"), url.absolute("http://a/b/", "//other/z"))
show("escape", url.escape("a b&c=d/é"), url.unescape("a%20b%26c"))
show("parse_path", url.parse_path("/a/b%2Fc/d/"), url.build_path({ "a", "b/c", "d", is_absolute = 1 }))
show("build_path unsafe", url.build_path({ "a b", "c", is_directory = 1 }, 1))

-- ltn12
local t = {}
show("pump.all", ltn12.pump.all(ltn12.source.string("hello world"), tsink(t)), table.concat(t))
t = {}
show("chain", ltn12.pump.all(
  ltn12.source.chain(ltn12.source.string(string.rep("abc", 1000)), ltn12.filter.chain(string.upper and function(c) return c and c:upper() end, mime.encode("base64"), mime.wrap(60))),
  tsink(t)), #table.concat(t), table.concat(t):sub(1, 70))
show("cat", (function()
  local r = {}
  ltn12.pump.all(ltn12.source.cat(ltn12.source.string("a"), ltn12.source.empty(), ltn12.source.string("b")), tsink(r))
  return table.concat(r)
end)())
show("error source", ltn12.pump.all(ltn12.source.error("broken"), ltn12.sink.null()))
show("rewind", (function()
  local src = ltn12.source.rewind(ltn12.source.string("xy"))
  local a = src()
  src(a)
  return src(), src()
end)())
local f = io.tmpfile()
ltn12.pump.all(ltn12.source.string("file data"), ltn12.sink.file(f))
show("sink.file closed", io.type(f))

-- mime
show("b64", mime.b64("hello, world"), mime.unb64("aGVsbG8sIHdvcmxk"), mime.b64(""), mime.b64("a", "bc"))
show("qp", mime.qp("caf\233 = cr\r\nlf"), mime.unqp("caf=E9 =3D x=\r\ny"))
show("wrap", mime.wrp(0, ("x"):rep(100), 30), mime.qpwrp(0, ("y="):rep(40), 20))
show("eol", mime.eol(0, "a\nb\r\nc\rd", "\r\n"))
show("dot", mime.dot(2, ".a\r\n.b\r\n"))
local r = {}
ltn12.pump.all(ltn12.source.chain(ltn12.source.string(("line of text\n"):rep(50)),
  ltn12.filter.chain(mime.normalize(), mime.encode("quoted-printable"), mime.wrap("quoted-printable"))), tsink(r))
show("qp chain", #table.concat(r))
show("versions", socket._VERSION, mime._VERSION, type(socket.gettime()), socket.skip(1, "a", "b", "c"))
show("try", pcall(socket.try, nil, "msg"), socket.protect(function() socket.try(false, "caught") end)())
print("done")
