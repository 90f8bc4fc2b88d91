-- Debian's socket.smtp (with mime and ltn12) against spec/servers/fake_smtpd.py.
-- Prints smtp.send's results and what the server stored, minus what changes
-- from run to run (Date, Message-Id, the multipart boundary). Run by
-- spec/luasocket_smtp_spec.lua under lua5.4 (real LuaSocket) and greenlua.
-- usage: smtp_script.lua PORT AUTH_PORT DIR AUTH_DIR
local smtp = require "socket.smtp"
local mime = require "mime"
local ltn12 = require "ltn12"
local port, aport, dir, adir = tonumber(arg[1]), tonumber(arg[2]), arg[3], arg[4]
local n = 0

local function stored(d, i)
  local f = io.open(("%s/%d.eml"):format(d, i), "rb")
  if not f then return "<none>" end
  local s = f:read("a")
  f:close()
  local boundary = s:match('boundary="([^"]+)"')
  if boundary then s = s:gsub(boundary:gsub("%p", "%%%0"), "BOUNDARY") end
  -- headers come in pairs() order: sort the header block's lines
  local env, head, body = s:match("^(.-\n)\n(.-\r\n)\r\n(.*)$")
  if not head then return s end
  local lines = {}
  for line in head:gmatch("([^\r\n]+)\r\n") do
    local name = line:match("^([^:]*):"):lower()
    if name ~= "date" and name ~= "message-id" then lines[#lines + 1] = line end
  end
  table.sort(lines)
  -- so do each multipart part's headers
  body = body:gsub("(%-%-BOUNDARY\r\n)(.-\r\n)\r\n", function(b, block)
    local t = {}
    for line in block:gmatch("([^\r\n]+)\r\n") do t[#t + 1] = line end
    table.sort(t)
    return b .. table.concat(t, "\r\n") .. "\r\n\r\n"
  end)
  return env .. "\n" .. table.concat(lines, "\n") .. "\n\n" .. body
end

local function show(label, ...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  print(label, table.concat(t, " | ", 1, t.n))
end

-- a plain message, two recipients, lines starting with dots (stuffed)
show("plain", smtp.send {
  from = "<alice@example.test>", rcpt = { "<bob@example.test>", "<carol@example.test>" },
  server = "127.0.0.1", port = port, domain = "client.test",
  source = smtp.message {
    headers = { to = "Bob <bob@example.test>", subject = "hello", from = "Alice <alice@example.test>" },
    body = "line one\r\n.a line starting with a dot\r\n..two dots\r\n.\r\nlast line\r\n",
  },
})
n = n + 1
print(stored(dir, n))

-- multipart with a base64 attachment from an ltn12 source chain
local blob = {}
for i = 0, 255 do blob[#blob + 1] = string.char(i) end
blob = table.concat(blob):rep(20)
show("multipart", smtp.send {
  from = "<alice@example.test>", rcpt = "<bob@example.test>", server = "127.0.0.1", port = port,
  source = smtp.message {
    headers = { subject = "files" },
    body = {
      preamble = "a preamble",
      [1] = { headers = { ["content-type"] = "text/plain" }, body = "the text part" },
      [2] = {
        headers = { ["content-type"] = 'application/octet-stream; name="blob.bin"',
          ["content-transfer-encoding"] = "BASE64" },
        body = ltn12.source.chain(ltn12.source.string(blob),
          ltn12.filter.chain(mime.encode("base64"), mime.wrap())),
      },
      epilogue = "an epilogue",
    },
  },
})
n = n + 1
local s = stored(dir, n)
local b64 = s:match('name="blob.bin"\r\n\r\n(.-)\r\n\r\n%-%-BOUNDARY')
print("attachment decodes", b64 and (mime.unb64((b64:gsub("\r\n", "")))) == blob)
print((s:gsub('(name="blob.bin"\r\n\r\n)(.-)(\r\n\r\n%-%-BOUNDARY)', function(a, b, c)
  return a .. ("<%d bytes of base64>"):format(#b) .. c
end)))

-- refusals: a rejected recipient, a temporary failure, a refused message
show("rejected rcpt", smtp.send { from = "<alice@example.test>",
  rcpt = { "<bob@example.test>", "<reject-me@example.test>" }, server = "127.0.0.1", port = port,
  source = smtp.message { body = "x" } })
show("tempfail", smtp.send { from = "<tempfail@example.test>", rcpt = "<bob@example.test>",
  server = "127.0.0.1", port = port, source = ltn12.source.string("x\r\n") })
show("refused data", smtp.send { from = "<alice@example.test>", rcpt = "<bob@example.test>",
  server = "127.0.0.1", port = port, source = ltn12.source.string("X-Refuse: yes\r\n\r\nbody\r\n") })
show("refused conn", smtp.send { from = "<a@b>", rcpt = "<c@d>", server = "127.0.0.1", port = 1,
  source = ltn12.source.string("x") })
print(stored(dir, n + 1))

-- authentication (the server advertises AUTH PLAIN LOGIN; socket.smtp picks LOGIN)
show("no auth", smtp.send { from = "<alice@example.test>", rcpt = "<bob@example.test>",
  server = "127.0.0.1", port = aport, source = ltn12.source.string("x\r\n") })
show("bad password", smtp.send { from = "<alice@example.test>", rcpt = "<bob@example.test>",
  server = "127.0.0.1", port = aport, user = "alice", password = "wrong",
  source = ltn12.source.string("x\r\n") })
show("auth", smtp.send { from = "<alice@example.test>", rcpt = "<bob@example.test>",
  server = "127.0.0.1", port = aport, user = "alice", password = "s3cret",
  source = smtp.message { headers = { subject = "authed" }, body = "authenticated body" } })
print(stored(adir, 1))

-- the low-level interface: open, greet, mail, rcpt, data, quit
local c = smtp.open("127.0.0.1", port)
show("greet", c:greet("low.level"))
show("mail", c:mail("<low@example.test>"))
show("rcpt", c:rcpt("<bob@example.test>"))
show("data", c:data(ltn12.source.string("Subject: low\r\n\r\nlow level\r\n")))
show("quit", c:quit())
c:close()
n = n + 1
print(stored(dir, n))
print("done")
