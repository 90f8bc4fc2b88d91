-- Real clients and servers users use (nc, socat, curl) against green
-- servers and clients, over 127.0.0.1 and a Unix socket in a temp dir.
-- os.execute blocks the whole process, so every external tool runs in the
-- background (under `timeout 5`), writing to files the specs poll for with
-- green.sleep; every poll is bounded in count and time.
local green = require "green"
local helpers = require "spec.helpers"
local N = require "spec.net_helpers"

local function q(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function have(tool)
  return os.execute("command -v " .. tool .. " >/dev/null 2>&1") == true
end

local dir, cleanup = helpers.tmpdir()
local counter = 0
local function fresh(name)
  counter = counter + 1
  return ("%s/%d-%s"):format(dir, counter, name)
end

-- Run shell `cmd` in the background under `timeout`; returns a handle whose
-- :wait(limit) polls (green.sleep) until it exits, then gives stdout, exit
-- status, stderr (nil, "still running" if it did not end within limit).
local function background(cmd, secs)
  local out, err, rc, pid = fresh("out"), fresh("err"), fresh("rc"), fresh("pid")
  local line = ("( timeout -k 1 %d sh -c %s >%s 2>%s; echo $? >%s.tmp; mv %s.tmp %s ) </dev/null >/dev/null 2>&1 & echo $! >%s")
    :format(secs or 5, q(cmd), q(out), q(err), q(rc), q(rc), q(rc), q(pid))
  assert(os.execute(line))
  local h = { out = out }
  function h.wait(_, limit)
    local done = helpers.wait_until(function() return slurp(rc) ~= nil end, limit or 7)
    if not done then return nil, "still running" end
    return slurp(out), tonumber(slurp(rc)), slurp(err)
  end
  function h.pid()
    return tonumber(slurp(pid) or "")
  end
  return h
end

-- Start a long-running external server (`cmd`, under `timeout`); returns a
-- stop function that ends it by its pid.
local function start_server(cmd, secs)
  local pidfile = fresh("srvpid")
  local line = ("timeout -k 1 %d %s </dev/null >/dev/null 2>%s & echo $! >%s")
    :format(secs or 8, cmd, q(fresh("srverr")), q(pidfile))
  assert(os.execute(line))
  return function()
    local pid = tonumber(slurp(pidfile) or "")
    if pid then os.execute(("kill %d 2>/dev/null"):format(pid)) end
  end
end

-- Connect to 127.0.0.1:port, retrying while the external server starts.
local function connect_retry(port, limit)
  local c, err
  local deadline = green.now() + (limit or 3)
  for _ = 1, 300 do
    c, err = green.connect("127.0.0.1", port)
    if c or green.now() > deadline then break end
    green.sleep(0.02)
  end
  return c, err
end

local function free_port()
  local l, port = N.listener()
  l:close()
  return port
end

local tools = { nc = have("nc"), socat = have("socat"), curl = have("curl") }

describe("real clients against green servers", function()
  after_each(N.run_deferred)

  local l, port
  before_each(function() l, port = N.echo_server() end)
  after_each(function() l:close() end)

  local function it_with(tool, name, fn)
    if tools[tool] then it(name, fn) else pending(name .. " (no " .. tool .. ")") end
  end

  it_with("nc", "nc -N talks to a green line echo server", function()
    local h = background(("printf 'hello\\nworld\\r\\n' | nc -N 127.0.0.1 %d"):format(port))
    local out, rc, err = h:wait()
    assert.equal(0, rc, err)
    assert.equal("hello\nworld\n", out)
  end)

  it_with("nc", "nc -q1 talks to a green line echo server", function()
    local h = background(("printf 'one\\ntwo\\nthree\\n' | nc -q1 127.0.0.1 %d"):format(port))
    local out, rc, err = h:wait()
    assert.equal(0, rc, err)
    assert.equal("one\ntwo\nthree\n", out)
  end)

  it_with("socat", "socat - TCP:127.0.0.1:PORT talks to a green line echo server", function()
    local h = background(("printf 'via socat\\nsecond\\n' | socat - TCP:127.0.0.1:%d"):format(port))
    local out, rc, err = h:wait()
    assert.equal(0, rc, err)
    assert.equal("via socat\nsecond\n", out)
  end)

  it_with("socat", "socat - UNIX-CONNECT:path talks to a green Unix echo server", function()
    local path = fresh("echo.sock")
    local ul = N.unix_echo_server(path)
    N.defer(function() ul:close() end)
    local h = background(("printf 'over unix\\n' | socat - UNIX-CONNECT:%s"):format(q(path)))
    local out, rc, err = h:wait()
    assert.equal(0, rc, err)
    assert.equal("over unix\n", out)
  end)

  it_with("nc", "several nc clients at once are served concurrently", function()
    local hs = {}
    for i = 1, 8 do
      hs[i] = background(("printf 'client %d\\n' | nc -N 127.0.0.1 %d"):format(i, port))
    end
    for i = 1, 8 do
      local out, rc, err = hs[i]:wait()
      assert.equal(0, rc, err)
      assert.equal(("client %d\n"):format(i), out)
    end
  end)

  it_with("nc", "nc sends 1 MB to a green server that answers with the length", function()
    local ll, lport = N.listener()
    N.defer(function() ll:close() end)
    green.spawn(green.serve, ll, function(c)
      local data = c:receive("*a")
      c:send(("%d %s\n"):format(#data, data:sub(1, 10)))
    end)
    local src = fresh("payload")
    helpers.write(src, ("0123456789"):rep(100 * 1024) .. "tail")
    local h = background(("nc -N 127.0.0.1 %d <%s"):format(lport, q(src)))
    local out, rc, err = h:wait()
    assert.equal(0, rc, err)
    assert.equal(("%d 0123456789\n"):format(1024000 + 4), out)
  end)

  it_with("curl", "curl gets a response from a green HTTP server", function()
    local ll, lport = N.listener()
    N.defer(function() ll:close() end)
    local request_line
    green.spawn(green.serve, ll, function(c)
      request_line = c:receive()
      for _ = 1, 100 do   -- skip the headers
        local h = c:receive()
        if not h or h == "" then break end
      end
      local body = "hello from green\n"
      c:send(("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s")
        :format(#body, body))
    end)
    local h = background(("curl -s --max-time 4 http://127.0.0.1:%d/path?x=1"):format(lport))
    local out, rc, err = h:wait()
    assert.equal(0, rc, err)
    assert.equal("hello from green\n", out)
    assert.equal("GET /path?x=1 HTTP/1.1", request_line)
  end)
end)

describe("green clients against real servers", function()
  after_each(N.run_deferred)
  teardown(cleanup)

  local function it_with(tool, name, fn)
    if tools[tool] then it(name, fn) else pending(name .. " (no " .. tool .. ")") end
  end

  it_with("socat", "a green client talks to socat TCP-LISTEN,fork EXEC:cat", function()
    local port = free_port()
    local stop = start_server(("socat TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork EXEC:cat"):format(port))
    N.defer(stop)
    local c, err = connect_retry(port)
    assert.is_truthy(c, err)
    N.defer(function() c:close() end)
    c:settimeout(3)
    for i = 1, 10 do
      local msg = ("line %d %s"):format(i, ("z"):rep(i * 100))
      assert.equal(#msg + 1, c:send(msg .. "\n"))
      assert.equal(msg, c:receive())
    end
    -- a second connection at the same time (fork)
    local c2 = assert(connect_retry(port))
    N.defer(function() c2:close() end)
    c2:settimeout(3)
    c2:send("second\n")
    assert.equal("second", c2:receive())
    c:send("first again\n")
    assert.equal("first again", c:receive())
    -- half-close: cat sees EOF, exits, and the green client sees EOF
    c2:shutdown("send")
    assert.equal("", c2:receive("*a"))
  end)

  it_with("socat", "a green client sends 2 MB through socat EXEC:cat and gets it all back", function()
    local port = free_port()
    local stop = start_server(("socat TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork EXEC:cat"):format(port))
    N.defer(stop)
    local c = assert(connect_retry(port))
    N.defer(function() c:close() end)
    c:settimeout(5)
    local size = 2 * 1024 * 1024
    local payload = ("abcdefghijklmnopqrstuvwxyz012345"):rep(size // 32)
    local sender = green.spawn(function()
      local n = c:send(payload)
      c:shutdown("send")
      return n
    end)
    local back = c:receive("*a")
    assert.equal(size, sender:wait())
    assert.equal(size, #back)
    assert.is_true(back == payload, "the data differ")
  end)

  it_with("nc", "a green client talks to nc -l", function()
    local port = free_port()
    local h = background(("printf 'from nc\\n' | nc -N -l 127.0.0.1 %d"):format(port))
    local c, err = connect_retry(port)
    assert.is_truthy(c, err)
    c:settimeout(3)
    assert.equal("from nc", c:receive())
    assert.equal(11, c:send("from green\n"))
    c:close()
    local out, rc, serr = h:wait()
    assert.equal("from green\n", out, serr)
    assert.is_truthy(rc == 0 or rc == 1, tostring(rc) .. " " .. tostring(serr))
  end)

  it_with("socat", "a green client talks to socat UNIX-LISTEN EXEC:cat", function()
    local path = fresh("cat.sock")
    local stop = start_server(("socat UNIX-LISTEN:%s,fork EXEC:cat"):format(q(path)))
    N.defer(stop)
    local c, err
    for _ = 1, 150 do
      c, err = green.connect_unix(path)
      if c then break end
      green.sleep(0.02)
    end
    assert.is_truthy(c, err)
    N.defer(function() c:close() end)
    c:settimeout(3)
    c:send("unix line\n")
    assert.equal("unix line", c:receive())
  end)
end)
