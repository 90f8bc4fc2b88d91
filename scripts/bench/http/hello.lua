-- hello.lua: greenlua's side of the HTTP server benchmarks: green.wsgi
-- answering every request with the hello world (200, text/plain,
-- "Hello, World!"; the server adds Content-Length and Date), no access log.
--   greenlua hello.lua [PORT [MAX_SIZE]]
-- PORT 0 (default): any free port, printed as the first line of output.
-- MAX_SIZE: green.wsgi's limit of concurrent connections (its default,
-- 1024, unless given: the idle-connections run raises it).
local green = require "green"
local wsgi = require "green.wsgi"  -- also green.wsgi, once init.lua has it

local port = math.tointeger(tonumber(arg[1] or 0))
local max_size = math.tointeger(tonumber(arg[2] or 1024))

local srv = assert(green.listen("127.0.0.1", port, { backlog = 1024 }))
local _, bound = srv:getsockname()
io.stdout:write(bound, "\n")
io.stdout:flush()

wsgi.server(srv, function(env)
  return 200, { ["Content-Type"] = "text/plain" }, "Hello, World!"
end, { log = false, max_size = max_size })
