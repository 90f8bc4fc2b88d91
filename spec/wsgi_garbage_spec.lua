-- green.wsgi against garbage (ISSUE9 "Tests": a client sending garbage gets
-- a 400 and a closed connection, never a crash): many connections at once
-- send random bytes, or random mutations of valid requests, for a bounded
-- time. Every connection must end, closed by the server, after zero or more
-- well-formed responses of which only the last may be an error (4xx/5xx,
-- with Connection: close); afterwards the server still answers a normal
-- request. The seed is printed; GARBAGE_SEED=n replays one run,
-- GARBAGE_SECONDS=s runs longer (default 3).
local green = require "green"
local helpers = require "spec.helpers"
local R = require "spec.wsgi_raw_helpers"

local SECONDS = tonumber(os.getenv("GARBAGE_SECONDS") or "") or 3
local SEED = tonumber(os.getenv("GARBAGE_SEED") or "") or (os.time() % 1000000)
local WORKERS = 16
local MAX_CONNECTIONS = 50000

-- Valid requests the mutations start from.
local TEMPLATES = {
  "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
  "GET /a/b%20c?x=1&y=2 HTTP/1.1\r\nHost: example\r\nUser-Agent: garbage\r\nAccept: */*\r\n\r\n",
  "POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2",
  "POST /chunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
  "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
  "PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
  "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nPOST /3 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
  "DELETE /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Multi: a\r\nX-Multi: b\r\n\r\n",
}

-- Pieces a mutation may insert: the bytes parsers get wrong.
local TOKENS = {
  "\r", "\n", "\r\n", "\r\n\r\n", "\0", " ", "\t", ":", ";", ",", "\127", "\255",
  "Content-Length: 5\r\n", "Content-Length: -1\r\n", "Content-Length: 99999999999999999999\r\n",
  "Transfer-Encoding: chunked\r\n", "Transfer-Encoding: gzip\r\n", "Expect: 100-continue\r\n",
  "Connection: close\r\n", " folded\r\n", "HTTP/1.1", "HTTP/2.0", "0\r\n\r\n", "ffffffffffffffffff\r\n",
  "GET / HTTP/1.1\r\n", "%", "%00", "%zz", "?", "#", "/../", ("A"):rep(300),
}

-- A private generator (a 64-bit LCG, high bits): the seed alone decides
-- every connection's bytes, whatever else calls math.random. rng(a, b) is
-- an integer in [a, b].
local function generator(seed)
  local state = seed
  return function(a, b)
    state = state * 6364136223846793005 + 1442695040888963407
    return a + (state >> 33) % (b - a + 1)
  end
end

local function random_bytes(rng, n)
  local t = {}
  for i = 1, n do t[i] = string.char(rng(0, 255)) end
  return table.concat(t)
end

-- One mutation of `s`.
local function mutate_once(rng, s)
  local n = #s
  local i = rng(1, n + 1)
  local kind = rng(1, 7)
  if kind == 1 then                                  -- flip a byte
    return s:sub(1, i - 1) .. string.char(rng(0, 255)) .. s:sub(i + 1)
  elseif kind == 2 then                              -- insert a token
    return s:sub(1, i - 1) .. TOKENS[rng(1, #TOKENS)] .. s:sub(i)
  elseif kind == 3 then                              -- delete a range
    return s:sub(1, i - 1) .. s:sub(i + rng(1, 8))
  elseif kind == 4 then                              -- duplicate a range
    local j = math.min(n, i + rng(0, 40))
    return s:sub(1, j) .. s:sub(i, j) .. s:sub(j + 1)
  elseif kind == 5 then                              -- truncate
    return s:sub(1, i)
  elseif kind == 6 then                              -- random bytes inside
    return s:sub(1, i - 1) .. random_bytes(rng, rng(1, 16)) .. s:sub(i)
  else                                               -- change a digit
    local pos = {}
    for p in s:gmatch("()%d") do pos[#pos + 1] = p end
    if #pos == 0 then return s end
    local p = pos[rng(1, #pos)]
    return s:sub(1, p - 1) .. tostring(rng(0, 9)) .. s:sub(p + 1)
  end
end

-- The bytes of one garbage connection.
local function garbage(rng)
  local choice = rng(1, 10)
  if choice <= 2 then
    return random_bytes(rng, rng(1, 2000))
  elseif choice == 3 then                            -- printable noise with line ends
    local t = {}
    for i = 1, rng(1, 200) do
      t[i] = rng(1, 8) == 1 and "\r\n" or string.char(rng(32, 126))
    end
    return table.concat(t)
  else
    local s = TEMPLATES[rng(1, #TEMPLATES)]
    for _ = 1, rng(1, 6) do s = mutate_once(rng, s) end
    if #s == 0 then s = "\r\n" end
    return s
  end
end

-- Splits `s` into 1..5 pieces (sent with a switch between them).
local function pieces(rng, s)
  local n = rng(1, 5)
  if n == 1 or #s < 2 then return { s } end
  local cuts = {}
  for k = 1, n - 1 do cuts[k] = rng(1, #s - 1) end
  table.sort(cuts)
  local t, last = {}, 0
  for _, c in ipairs(cuts) do
    if c > last then t[#t + 1] = s:sub(last + 1, c) last = c end
  end
  t[#t + 1] = s:sub(last + 1)
  return t
end

-- An app that answers every request (HEAD with a 204, so a client that does
-- not know what it sent can still frame the answer).
local function app(env, srv)
  srv.calls[#srv.calls + 1] = { path = env.PATH_INFO, method = env.REQUEST_METHOD }
  local body, err = env.input:read("*a")
  if env.REQUEST_METHOD == "HEAD" then return 204, {}, "" end
  return 200, { ["Content-Type"] = "text/plain" }, body and ("ok " .. #body) or ("read failed: " .. tostring(err))
end

-- What is wrong with one connection's outcome, or nil.
local function verdict(got, how)
  if how ~= "closed" then return "the server did not close the connection (" .. how .. ")" end
  local rs, rest, perr = R.parse(got)
  if perr then return "unparsable response: " .. perr end
  if rest ~= "" then return "a response was cut short" end
  for i, r in ipairs(rs) do
    if r.code >= 400 then
      if i ~= #rs then return "a response after a " .. r.code end
      if not (r.headers["connection"] or ""):lower():find("close", 1, true) then
        return "a " .. r.code .. " without Connection: close"
      end
    elseif not (r.code >= 100 and r.code < 300) then
      return "unexpected status " .. r.code
    end
  end
  return nil
end

describe("wsgi under garbage", function()
  after_each(helpers.run_deferred)

  it(("survives %g s of random and mutated requests from %d connections at once (seed %d)")
    :format(SECONDS, WORKERS, SEED), function()
    io.stderr:write(("# wsgi_garbage_spec: GARBAGE_SEED=%d\n"):format(SEED))
    local srv = R.server({ header_timeout = 5, socket_timeout = 5, keepalive = 5 }, app)
    local rng = generator(SEED)
    local failures, counts = {}, { total = 0, errors = 0, responses = 0, silent = 0 }
    local deadline = green.now() + SECONDS
    local next_id = 0
    local function worker()
      for _ = 1, MAX_CONNECTIONS do
        if green.now() >= deadline or next_id >= MAX_CONNECTIONS or #failures >= 5 then return end
        next_id = next_id + 1
        local id = next_id
        local bytes = garbage(rng)
        local parts = pieces(rng, bytes)
        local got, how = R.exchange(srv.port, parts, { shutdown = true, limit = 15 })
        counts.total = counts.total + 1
        local rs = R.parse(got)
        if #rs == 0 then counts.silent = counts.silent + 1 end
        for _, r in ipairs(rs) do
          counts.responses = counts.responses + 1
          if r.code >= 400 then counts.errors = counts.errors + 1 end
        end
        local bad = verdict(got, how)
        if bad then
          failures[#failures + 1] = ("connection %d: %s\n    sent %s\n    got %s"):format(
            id, bad, R.show(bytes, 400), R.show(got, 400))
        end
      end
    end
    local threads = {}
    for i = 1, WORKERS do threads[i] = green.spawn(worker) end
    helpers.defer(function() helpers.killall(threads) end)
    assert(helpers.wait_until(function()
      for _, t in ipairs(threads) do if not t:dead() then return false end end
      return true
    end, SECONDS + 60), "garbage connections still running (a hang), seed " .. SEED)
    io.stderr:write(("# %d connections, %d responses (%d errors), %d closed silently, %d app calls\n")
      :format(counts.total, counts.responses, counts.errors, counts.silent, #srv.calls))
    assert(#failures == 0, ("seed %d (GARBAGE_SEED=%d to replay):\n  %s"):format(SEED, SEED,
      table.concat(failures, "\n  ")))
    assert(counts.total >= WORKERS, "too few connections ran")
    assert(counts.errors > 0, "no garbage was rejected: the generator is broken")
    -- and the server still serves
    local got, how = R.exchange(srv.port, "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    local rs = R.assert_responses(got, how, 1, "after the garbage", true)
    assert.equal(200, rs[1].code)
    assert.equal("ok 0", rs[1].body)
    assert(#srv.errors == 0, "the server raised: " .. table.concat(srv.errors, "\n"))
    -- nothing went wrong inside the server either: its log holds access
    -- lines only (a Lua error in a connection thread would be "wsgi: ...")
    local odd = {}
    for _, line in ipairs(srv.log) do
      if not line:find("^%S+ %- %- %[") and #odd < 5 then odd[#odd + 1] = line end
    end
    assert(#odd == 0, ("seed %d: the server logged:\n%s"):format(SEED, table.concat(odd)))
  end)
end)
