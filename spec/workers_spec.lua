-- greenlua --workers N (host/workers/, API.md "Serving in production"):
-- real master and worker processes, real signals, real connections.
local green = require "green"
local core = require "green.core"
local helpers = require "spec.helpers"
local q = helpers.quote

-- The workers' script: an HTTP server on one port (0 = chosen, shared)
-- answering "worker <slot> <pid>"; /slow takes 0.5 s. It says "ready <slot>
-- <port> <pid> <env>" once listening (env: what GREENLUA_WORKER is in it).
local SERVER = [[
local green = require "green"
local core = require "green.core"
local srv = assert(green.listen("127.0.0.1", tonumber(arg[1]) or 0, { backlog = 1024 }))
local _, port = srv:getsockname()
io.stdout:write(("ready %d %d %d %s\n"):format(green.worker(), port, core.getpid(),
  tostring(os.getenv("GREENLUA_WORKER"))))
io.stdout:flush()
green.wsgi.server(srv, function(env)
  if env.PATH_INFO == "/slow" then green.sleep(0.5) end
  return 200, { ["Content-Type"] = "text/plain" },
    ("worker %d %d"):format(green.worker(), core.getpid())
end, { log = false })
]]

local slurp = helpers.slurp

-- A master running `script` with n workers; its stdout and stderr go to
-- files (m.out(), m.err()).
local function start(n, script, args)
  local dir, rm = helpers.tmpdir()
  local path = dir .. "/server.lua"
  helpers.write(path, script or SERVER)
  local m = { dir = dir, outf = dir .. "/out", errf = dir .. "/err" }
  m.p = assert(green.process.spawn(("exec %s --workers %d %s %s >%s 2>%s"):format(
    q(helpers.greenlua()), n, q(path), args or "", q(m.outf), q(m.errf))))
  function m.out() return slurp(m.outf) end
  function m.err() return slurp(m.errf) end
  -- every "ready" line so far: {slot=, port=, pid=, env=}
  function m.ready()
    local r = {}
    for slot, port, pid, env in m.out():gmatch("ready (%d+) (%d+) (%d+) (%S+)\n") do
      r[#r + 1] = { slot = tonumber(slot), port = tonumber(port), pid = tonumber(pid), env = env }
    end
    return r
  end
  -- wait for k ready lines; returns them
  function m.wait_ready(k, limit)
    assert(helpers.wait_until(function() return #m.ready() >= k end, limit or 20),
      "workers not ready: " .. m.out() .. m.err())
    return m.ready()
  end
  helpers.defer(function()
    m.p:kill("KILL")
    m.p:wait(5)
    rm()
  end)
  return m
end

local function kill(sig, pid)
  assert(os.execute(("kill -%s %d"):format(sig, pid)))
end

local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local state = f:read("a"):match("^%d+ %b() (%a)")
  f:close()
  return state ~= "Z"
end

-- One request on a new connection: the body, or nil, err.
local function get(port, path)
  local s, err = green.connect("127.0.0.1", port, { timeout = 10 })
  if not s then return nil, err end
  s:settimeout(10)
  local ok, e = s:send(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"):format(path or "/"))
  if not ok then s:close(); return nil, e end
  local data, e2, partial = s:receive("*a")
  s:close()
  data = data or partial
  if not data or not data:find("^HTTP/1.1 200") then return nil, e2 or ("bad answer: " .. tostring(data)) end
  return data:match("\r\n\r\n(.*)$")
end

-- count requests, conc at a time (pause seconds between one's requests):
-- the number answered and the errors of the others.
local function load(port, count, conc, pause)
  local made, answered, errors = 0, 0, {}
  local pool = green.GreenPool(conc)
  for _ = 1, conc do
    pool:spawn(function()
      while made < count do
        made = made + 1
        local body, err = get(port)
        if body then answered = answered + 1 else errors[#errors + 1] = tostring(err) end
        if pause then green.sleep(pause) end
      end
    end)
  end
  pool:waitall()
  return answered, errors
end

describe("greenlua --workers", function()
  after_each(helpers.run_deferred)

  it("two workers share a port (0: one chosen for all) and both serve", function()
    local m = start(2)
    local r = m.wait_ready(2)
    assert.equal(r[1].port, r[2].port)
    assert.are_not.equal(0, r[1].port)
    local slots = { [r[1].slot] = true, [r[2].slot] = true }
    assert.is_true(slots[1] and slots[2])
    -- the variables are gone from the worker's environment (its children are no workers)
    assert.equal("nil", r[1].env)
    local seen = {}
    for _ = 1, 200 do
      local body = assert(get(r[1].port))
      seen[tonumber(body:match("^worker (%d+)"))] = true
      if seen[1] and seen[2] then break end
    end
    assert.is_true(seen[1] and seen[2], "both workers answer")
  end)

  it("kill -9 of a worker loses no connection among 300 made meanwhile", function()
    local m = start(2)
    local r = m.wait_ready(2)
    local port, victim = r[1].port, r[1]
    kill("KILL", victim.pid)
    local answered, errors = load(port, 300, 30)
    assert.same({}, errors)
    assert.equal(300, answered)
    -- the slot was restarted: a third ready line, for the victim's slot
    local again = m.wait_ready(3)
    assert.equal(victim.slot, again[3].slot)
    assert.are_not.equal(victim.pid, again[3].pid)
    assert.matches("worker " .. victim.slot .. " %(pid %d+%) was killed by signal 9", m.err())
  end)

  it("SIGHUP replaces the workers one by one and refuses none among 300", function()
    local m = start(2)
    local r = m.wait_ready(2)
    local port = r[1].port
    local answered, errors
    local loader = green.spawn(function()
      answered, errors = load(port, 300, 4, 0.01)
    end)
    green.sleep(0.05)
    kill("HUP", m.p.pid)
    loader:wait()
    local all = m.wait_ready(4)
    assert.same({}, errors)
    assert.equal(300, answered)
    local new = { [all[3].slot] = all[3].pid, [all[4].slot] = all[4].pid }
    assert.is_truthy(new[1] and new[2], "each slot has a new process")
    -- the old ones were told to stop
    assert.is_true(helpers.wait_until(function()
      return not alive(r[1].pid) and not alive(r[2].pid)
    end, 15))
    local body = assert(get(port))
    local slot, pid = body:match("^worker (%d+) (%d+)")
    assert.equal(new[tonumber(slot)], tonumber(pid))
  end)

  it("a master killed with SIGKILL leaves no worker", function()
    local m = start(3)
    local r = m.wait_ready(3)
    kill("KILL", m.p.pid)
    m.p:wait(5)
    assert.is_true(helpers.wait_until(function()
      for _, w in ipairs(r) do if alive(w.pid) then return false end end
      return true
    end, 10), "workers outlived their master")
  end)

  it("workers that die at start-up stop the master with an error", function()
    local m = start(2, "error('broken at start')\n")
    local code = m.p:wait(30)
    assert.equal(1, code)
    local err = m.err()
    assert.matches("broken at start", err)
    assert.matches("died 5 times in a row within 10 s of its start", err)
    assert.matches("restarting in 0%.1 s", err)
    assert.matches("restarting in 0%.8 s", err)
  end)

  it("--workers without a count or a script is an error at once", function()
    for _, args in ipairs({ "--workers 0 x.lua", "--workers x x.lua", "--workers", "--workers 2",
                            "--workers 2 -", "--workers=300 x.lua", "-i --workers 2 x.lua" }) do
      local p = assert(green.process.spawn(q(helpers.greenlua()) .. " " .. args,
        { stdout = "null", stderr = "pipe", stdin = "null" }))
      local err = p.stderr:receive("*a")
      assert.equal(1, p:wait(10), args)
      assert.matches("%-%-workers needs", err, 1, false, args)
    end
  end)

  it("green.worker() is nil outside workers; worker_listen checks its arguments", function()
    assert.is_nil(green.worker())
    local sock, err = core.worker_listen("127.0.0.1", 0)
    assert.is_nil(sock)
    assert.equal("not a worker", err)
    assert.matches("bad argument #1 to 'worker_listen'", helpers.error_of(core.worker_listen, 1, 0))
    assert.matches("bad argument #1 to 'worker_listen'", helpers.error_of(core.worker_listen, "x", 0))
    assert.matches("bad argument #2 to 'worker_listen'", helpers.error_of(core.worker_listen, "127.0.0.1", 1e6))
    assert.matches("bad argument #3 to 'worker_listen'", helpers.error_of(core.worker_listen, "127.0.0.1", 0, -1))
  end)

  it("a worker's listen failure is nil, err, and a second listen of one address is another socket", function()
    local m = start(2, [[
local green = require "green"
local a = assert(green.listen("127.0.0.1", 0))
local b = assert(green.listen("127.0.0.1", 0))
local _, pa = a:getsockname()
local _, pb = b:getsockname()
local c, err = green.listen("192.0.2.1", 0)  -- not an address of this host
io.stdout:write(("ready %d %d %d %s\n"):format(green.worker(), pa, pb, tostring(c or err):gsub(" ", "_")))
io.stdout:flush()
green.sleep(30)
]])
    m.wait_ready(2)
    local lines = {}
    for slot, pa, pb, err in m.out():gmatch("ready (%d+) (%d+) (%d+) (%S+)\n") do
      lines[tonumber(slot)] = { pa = pa, pb = pb, err = err }
    end
    assert.equal(lines[1].pa, lines[2].pa)
    assert.equal(lines[1].pb, lines[2].pb)
    assert.are_not.equal(lines[1].pa, lines[1].pb)
    assert.matches("address_not_available", lines[1].err)
  end)

  it("an address only one worker listens on is served by it alone (no socket held for the others)", function()
    local m = start(2, [[
local green = require "green"
local core = require "green.core"
local main = assert(green.listen("127.0.0.1", 0))
local _, port = main:getsockname()
local own = 0
if green.worker() == 1 then  -- its second listen: an address of its own
  local s = assert(green.listen("127.0.0.1", 0))
  own = select(2, s:getsockname())
  green.spawn(green.wsgi.server, s, function()
    return 200, {}, ("worker %d %d"):format(green.worker(), core.getpid())
  end, { log = false })
end
io.stdout:write(("ready %d %d %d %d\n"):format(green.worker(), port, core.getpid(), own))
io.stdout:flush()
green.sleep(30)
]])
    local r = m.wait_ready(2)
    local own
    for _, w in ipairs(r) do if w.slot == 1 then own = tonumber(w.env) end end
    assert.is_true(own > 0)
    local answered, errors = load(own, 40, 4)
    assert.same({}, errors)
    assert.equal(40, answered)
  end)

  -- The two below need the other parts of issue 11: graceful shutdown in
  -- the workers (SIGTERM, H3) and SIGQUIT's dump (H1).
  it("SIGTERM drains every worker: requests in flight finish, new ones are refused, exit 0", function()
    local m = start(2)
    local r = m.wait_ready(2)
    local port = r[1].port
    local results, pool = {}, green.GreenPool(5)
    for i = 1, 5 do
      pool:spawn(function() results[i] = get(port, "/slow") or false end)
    end
    green.sleep(0.2)  -- all five are in their handlers' sleep (0.5 s)
    kill("TERM", m.p.pid)
    pool:waitall()
    for i = 1, 5 do assert.is_truthy(results[i], "request " .. i) end
    assert.is_true(helpers.wait_until(function()
      local s, err = green.connect("127.0.0.1", port, { timeout = 1 })
      if s then s:close() end
      return err == "connection refused"
    end, 10))
    assert.equal(0, (m.p:wait(15)))
  end)

  it("SIGQUIT makes each worker dump, and they go on", function()
    local m = start(2)
    local r = m.wait_ready(2)
    kill("QUIT", m.p.pid)
    assert.is_true(helpers.wait_until(function()
      local _, k = m.err():gsub("%(main%)", "")
      return k >= 2
    end, 10), "dumps: " .. m.err())
    green.sleep(0.2)
    assert.is_true(alive(r[1].pid) and alive(r[2].pid))
    assert.equal(2, #m.ready())
  end)
end)
