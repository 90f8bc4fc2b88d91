-- green.serve (API.md, "Network"): a handler thread per connection, a
-- concurrency limit, errors raised from serve, StopServe, and closing the
-- listener.
local green = require "green"
local helpers = require "spec.helpers"
local sync = require "spec.sync_helpers"
local N = require "spec.net_helpers"

local function connect(port)
  local c, err = green.connect("127.0.0.1", port)
  assert(c, err)
  return c
end

describe("green.serve", function()
  after_each(N.run_deferred)
  local l, port, socks
  before_each(function()
    l, port = N.listener()
    socks = {}
  end)
  after_each(function()
    N.close_all(socks)
    l:close()
  end)

  local function client()
    local c = connect(port)
    socks[#socks + 1] = c
    return c
  end

  it("runs handle(client, ip, port) per connection, each in its own green thread", function()
    local seen, threads = {}, {}
    local server = sync.track(green.serve, l, function(c, ip, p)
      seen[#seen + 1] = { ip = ip, port = p }
      threads[#threads + 1] = green.getcurrent()
      local line = c:receive()
      c:send("you said " .. tostring(line) .. "\n")
    end)
    N.defer(function() l:close() end)
    local a, b = client(), client()
    b:send("b\n")
    a:send("a\n")
    assert.equal("you said a", a:receive())
    assert.equal("you said b", b:receive())
    assert.equal(2, #seen)
    local _, pa = a:getsockname()
    local _, pb = b:getsockname()
    local ports = { [pa] = true, [pb] = true }
    for _, s in ipairs(seen) do
      assert.equal("127.0.0.1", s.ip)
      assert.equal("integer", math.type(s.port))
      assert.is_true(ports[s.port])
    end
    assert.is_false(rawequal(threads[1], threads[2]))
    assert.is_false(rawequal(threads[1], server))
  end)

  it("serve blocks its caller until it ends", function()
    local server, rec = sync.track(green.serve, l, function() end)
    green.sleep(0.05)
    assert.is_false(rec.done)
    l:close()
    assert.is_true(sync.all_dead({ server }, 1))
  end)

  it("returning from handle closes the client: the peer sees EOF", function()
    sync.track(green.serve, l, function(c)
      c:send("bye\n")
    end)
    local c = client()
    c:settimeout(2)
    assert.equal("bye", c:receive())
    local d, err = c:recv(10)
    assert.is_nil(d)
    assert.equal("closed", err)
  end)

  it("with concurrency 2, a third client's handler starts only when one finishes", function()
    local started, release = {}, {}
    local count = 0
    sync.track(green.serve, l, function(c)
      count = count + 1
      local me = count
      started[me] = true
      release[me] = green.Event()
      release[me]:wait()
      c:send("done " .. me .. "\n")
    end, 2)
    local c1, c2, c3 = client(), client(), client()
    assert.is_true(helpers.wait_until(function() return count >= 2 end, 1))
    green.sleep(0.05)
    assert.equal(2, count)          -- the third is not accepted yet
    release[1]:send()
    assert.equal("done 1", c1:receive())
    assert.is_true(helpers.wait_until(function() return count == 3 end, 1))
    release[2]:send()
    release[3]:send()
    assert.equal("done 2", c2:receive())
    assert.equal("done 3", c3:receive())
  end)

  it("raises an uncaught handler error from serve, the same error value (a table)", function()
    local boom = { reason = "handler failed" }
    local dt, r = helpers.timed(pcall, function()
      green.spawn(function() client():send("go\n") end)
      green.serve(l, function(cl)
        cl:receive()
        error(boom)
      end)
    end)
    assert.is_false(r[1])
    assert.is_true(rawequal(boom, r[2]), "got " .. tostring(r[2]))
    assert.is_true(dt < 2, "took " .. dt)
  end)

  it("raises an uncaught handler error from serve, the same error value (a string)", function()
    local message = "handler failed: plain string"
    local got
    local server, rec = sync.track(green.serve, l, function(cl)
      cl:receive()
      error(message, 0)
    end)
    local c = client()
    c:send("go\n")
    assert.is_true(sync.all_dead({ server }, 2))
    got = rec.err
    assert.is_false(rec.ok)
    assert.equal(message, got)
  end)

  it("closes the client before raising the handler's error", function()
    local peer_saw
    local c
    local ok, err = pcall(function()
      green.spawn(function()
        c = client()
        c:send("go\n")
      end)
      green.serve(l, function(cl)
        cl:receive()
        error({ "stop" })
      end)
    end)
    assert.is_false(ok)
    assert.same({ "stop" }, err)
    -- right when serve raised, the client's peer already sees EOF
    c:settimeout(0.5)
    local d, e = c:recv(10)
    peer_saw = { d, e }
    assert.same({ nil, "closed" }, peer_saw)
  end)

  it("raising green.StopServe ends serve gracefully: it returns", function()
    local server, rec = sync.track(green.serve, l, function(c)
      if c:receive() == "stop" then error(green.StopServe) end
      c:send("ok\n")
    end)
    local a = client()
    a:send("hello\n")
    assert.equal("ok", a:receive())
    local b = client()
    b:send("stop\n")
    assert.is_true(sync.all_dead({ server }, 2))
    assert.is_true(rec.ok, tostring(rec.err))
    assert.equal(0, rec.values.n)
    -- the stopping client was closed
    b:settimeout(1)
    assert.same({ nil, "closed" }, { b:recv(10) })
  end)

  it("closing the listening socket from another thread makes serve return", function()
    local server, rec = sync.track(green.serve, l, function(c) c:send("hi\n") end)
    local c = client()
    assert.equal("hi", c:receive())
    green.spawn_after(0.02, function() l:close() end)
    assert.is_true(sync.all_dead({ server }, 1))
    assert.is_true(rec.ok, tostring(rec.err))
  end)

  it("closing the listening socket while serve is at its limit makes it return, not raise", function()
    local release = green.Event()
    local entered = false
    local server, rec = sync.track(green.serve, l, function(c)
      entered = true
      release:wait()
      c:send("released\n")
    end, 1)
    local c = client()
    -- the handler runs once serve, at its limit, waits for a slot
    assert.is_true(helpers.wait_until(function() return entered end, 5))
    l:close()                      -- serve is waiting for a slot, not in accept
    green.sleep(0.02)
    release:send()
    assert.equal("released", c:receive())
    assert.is_true(sync.all_dead({ server }, 1))
    assert.is_true(rec.ok, "serve raised: " .. tostring(rec.err))
  end)

  it("handler errors do not leak slots: the listener serves again at full concurrency", function()
    -- first serve: concurrency 1, the handler raises
    local first, rec1 = sync.track(green.serve, l, function(c)
      c:receive()
      error({ "first fails" })
    end, 1)
    local a = client()
    a:send("x\n")
    assert.is_true(sync.all_dead({ first }, 1))
    assert.same({ "first fails" }, rec1.err)
    -- second serve on the same listener, concurrency 2: two handlers at once
    local count, release = 0, green.Event()
    sync.track(green.serve, l, function(c)
      count = count + 1
      release:wait()
      c:send("served\n")
    end, 2)
    local b, d = client(), client()
    assert.is_true(helpers.wait_until(function() return count == 2 end, 1))
    release:send()
    assert.equal("served", b:receive())
    assert.equal("served", d:receive())
  end)

  it("a handler thread that is killed ends silently: its slot comes back, serve goes on", function()
    -- An uncaught GreenThreadExit ends a green thread silently (API.md,
    -- "Green threads"); a handler runs in its own green thread.
    local handlers = {}
    local server, rec = sync.track(green.serve, l, function(c)
      handlers[#handlers + 1] = green.getcurrent()
      local line = c:receive()
      c:send("echo " .. tostring(line) .. "\n")
    end, 1)
    local a = client()
    assert.is_true(helpers.wait_until(function() return #handlers == 1 end, 1))
    handlers[1]:kill()
    green.sleep(0.02)
    assert.is_false(rec.done, "serve ended with: " .. tostring(rec.err))
    a:settimeout(1)
    assert.same({ nil, "closed" }, { a:recv(10) })   -- its client was closed
    local b = client()
    b:send("b\n")
    b:settimeout(1)
    assert.equal("echo b", b:receive())
    assert.is_false(server:dead())
  end)

  it("a Timeout around serve ends it with that Timeout", function()
    local ok, err = pcall(green.with_timeout, 0.05, green.serve, l, function() end)
    assert.is_false(ok)
    assert.is_true(green.is_timeout(err))
    -- the listener is still usable
    local server = sync.track(green.serve, l, function(c) c:send("again\n") end)
    local c = client()
    c:settimeout(1)
    assert.equal("again", c:receive())
    l:close()
    assert.is_true(sync.all_dead({ server }, 1))
  end)

  it("with concurrency 1, many sequential clients are each served (slots come back)", function()
    local served = 0
    sync.track(green.serve, l, function(c)
      local line = c:receive()
      if line then served = served + 1; c:send(line .. "\n") end
    end, 1)
    for i = 1, 30 do
      local c = connect(port)
      c:send(i .. "\n")
      assert.equal(tostring(i), c:receive())
      c:close()
    end
    assert.equal(30, served)
  end)

  it("raises on a handle that is not callable or a bad concurrency", function()
    assert.has_error(function() green.serve(l, "nope") end)
    assert.has_error(function() green.serve(l, function() end, 0) end)
    assert.has_error(function() green.serve(l, function() end, 1.5) end)
  end)
end)
