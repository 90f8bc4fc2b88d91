-- Turn the samples run.sh collected into the Markdown results table.
-- usage: lua5.4 table.lua SAMPLES_DIR
-- SAMPLES_DIR holds one file per measurement (named by key below), one run
-- per line, numbers separated by spaces; plus meta.txt (KEY=VALUE lines).
-- Every figure is the median over its runs; a ratio is median(greenlua) /
-- median(baseline), both measured in the same `make bench`.
local dir = assert(arg[1], "usage: table.lua SAMPLES_DIR")

-- The samples of one figure; 'fn', if given, converts each (ns/item to
-- items/s, say) before the median is taken.
-- 'field' may also be a function of the line's numbers (an array).
local function samples(key, field, fn)
  local f = io.open(dir .. "/" .. key)
  if not f then return {} end
  local out = {}
  for line in f:lines() do
    local nums = {}
    for word in line:gmatch("%S+") do nums[#nums + 1] = tonumber(word) or false end
    local x
    if type(field) == "function" then x = field(nums) else x = nums[field or 1] or nil end
    if x then out[#out + 1] = fn and fn(x) or x end
  end
  f:close()
  return out
end

local function median(xs)
  if #xs == 0 then return nil end
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local m = (#s + 1) // 2
  if #s % 2 == 1 then return s[m] end
  return (s[m] + s[m + 1]) / 2
end

local meta = {}
do
  local f = io.open(dir .. "/meta.txt")
  if f then
    for line in f:lines() do
      local k, v = line:match("^([%w_]+)=(.*)$")
      if k then meta[k] = v end
    end
    f:close()
  end
end

-- How to print a value of each unit.
local fmt = {
  ns = function(x) return x >= 100 and ("%.0f"):format(x) or ("%.1f"):format(x) end,
  B = function(x) return ("%.0f"):format(x) end,
  s = function(x) return ("%.3f"):format(x) end,
  ms = function(x) return ("%.2f"):format(x * 1e3) end,  -- samples are in seconds
  items = function(x) return ("%.1fM"):format(x / 1e6) end,  -- items/s
  msgs = function(x) return ("%.0fk"):format(x / 1e3) end,    -- msgs/s
  handshakes = function(x) return ("%.0f"):format(x) end,
  MB = function(x) return ("%.0f"):format(x) end,
  req = function(x) return ("%.1fk"):format(x / 1e3) end,        -- requests/s
  ["µs/req"] = function(x) return ("%.2f"):format(x) end,
}

local function per_second(ns) return 1e9 / ns end

-- One row per figure. green/base: {key, field, fn} (fn converts each
-- sample); base_fn adjusts the baseline's median; no_ratio: the baseline is
-- for reference only; target: {ratio = max}, {abs = max, text = ...} or
-- {min = least, text = ...}.
local rows = {
  { "spawn_n ×1M, all spawned then run", "ns/thread",
    green = { "spawn_n" }, base = { "spawn_bare" },
    base_what = "create+resume each", target = { ratio = 2.5 } },
  { "the same, against the same shape", "ns/thread",
    green = { "spawn_n" }, base = { "spawn_bare_all" },
    base_what = "create all, then resume each", target = nil },
  { "spawn ×1M with handles, then wait each", "ns/thread",
    green = { "spawn_wait_all" }, base = { "spawn_bare" },
    base_what = "create+resume each", target = { ratio = 4 } },
  { "spawn(f):wait() ×1M, in a loop", "ns/thread",
    green = { "spawn_wait_loop" }, base = { "spawn_bare" },
    base_what = "create+resume each", target = { ratio = 4 } },
  { "switch: 2 threads × 1M sleep(0)", "ns/switch",
    green = { "switch_green" }, base = { "switch_bare" },
    base_what = "resume/yield round trip", target = { ratio = 3 } },
  { "plain coroutine resume/yield, in greenlua", "ns/round trip",
    green = { "switch_bare_hosted" }, base = { "switch_bare" },
    base_what = "the same in lua5.4", target = nil },
  { "Event ping-pong: 2 threads × 1M round trips (send, wait, reset)", "ns/switch",
    green = { "sync_event" }, base = { "switch_bare" },
    base_what = "resume/yield round trip", target = { ratio = 4 } },
  { "Queue(100): 1 producer → 1 consumer, 1M items", "items/s",
    green = { "sync_queue", 1, per_second }, base = { "sync_ring", 1, per_second },
    base_what = "table ring of 100 slots, 2 coroutines", no_ratio = true,
    target = { min = 8e6, text = "≥ 8M items/s" } },
  { "the same, per item", "ns/item",
    green = { "sync_queue" }, base = { "sync_ring" },
    base_what = "table ring of 100 slots, 2 coroutines", target = { ratio = 4 } },
  { "2 Queues ping-pong: 2 threads × 1M round trips", "ns/hop",
    green = { "sync_pingpong" }, base = { "switch_bare" },
    base_what = "resume/yield round trip", target = { abs = 150, text = "≤ 150 ns" } },
  { "GreenPool(1000):imap ×100k, f(x) = x: overhead", "ns/item",
    green = { "sync_imap", 1 }, base = { "sync_imap", 3 },
    base_what = "plain loop calling f, in greenlua: subtracted", no_ratio = true,
    target = { abs = 1000, text = "≤ 1 µs" } },
  { "100k sleepers in sleep(1): peak RSS", "B/thread",
    green = { "sleep100k_green", 1 }, base = { "sleep100k_bare", 1 },
    base_what = "coroutine parked in yield()", target = { abs = 1600, text = "≤ 1.6 KB" } },
  { "100k sleepers: start → all awake", "s",
    green = { "sleep100k_green", 2 }, base = { "sleep100k_bare", 2 },
    base_fn = function(x) return 1 + x end,
    base_what = "1 s + create, park, resume all", target = { abs = 1.2, text = "≤ 1.2 s" } },
  { "1M sleepers in sleep(1): peak RSS", "B/thread",
    green = { "sleep1m_green", 1 }, base = { "sleep1m_bare", 1 },
    base_what = "coroutine parked in yield()", target = { abs = 1600, text = "≤ 1.6 KB" } },
  { "1M sleepers: start → all awake", "s",
    green = { "sleep1m_green", 2 }, base = { "sleep1m_bare", 2 },
    base_fn = function(x) return 1 + x end,
    base_what = "1 s + create, park, resume all", target = { abs = 2, text = "≤ 2 s" } },
  { "startup: `-e ''`", "ms",
    green = { "startup_green" }, base = { "startup_bare" },
    base_what = "`lua5.4 -e ''`", target = { ratio = 2.5 } },
}

local out = {}
local function emit(s) out[#out + 1] = s end

emit(("greenlua benchmarks, %s: %s × %s, %s; %s."):format(
  meta.date or os.date("!%Y-%m-%d"), meta.nproc or "?", meta.cpu or "?",
  meta.lua or "lua5.4", meta.greenlua or "greenlua"))
emit(("Medians of %s runs (%s for the 1M sleepers, after a discarded warm-up run; startup: %s runs each, %s), "
  .. "each run a fresh process; load average %s at the start, %s at the end.")
  :format(meta.runs or "?", meta.runs_big or "?", meta.startup_runs or "?",
    meta.startup_tool or "?", meta.load_start or "?", meta.load_end or "?"))
emit("")
emit("| benchmark | unit | greenlua | range (greenlua) | baseline: plain lua5.4 | ratio | target | met? |")
emit("|---|---|--:|--:|---|--:|---|:-:|")

local missing = false
local function emit_rows(rows)
for _, r in ipairs(rows) do
  local name, unit = r[1], r[2]
  local f = fmt[unit] or fmt[unit:match("^(%a+)")] or fmt.ns
  local gs = samples(r.green[1], r.green[2], r.green[3])
  local bs = samples(r.base[1], r.base[2], r.base[3])
  local g, b = median(gs), median(bs)
  if b and r.base_fn then b = r.base_fn(b) end
  local gcell, range, bcell, ratio, target, met = "error", "", "error", "—", "—", "—"
  local skipped = r.skip and #gs == 0 and r.skip()
  if skipped then gcell = skipped end
  if g then
    gcell = f(g)
    range = #gs > 1 and (f(math.min(table.unpack(gs))) .. "–" .. f(math.max(table.unpack(gs)))) or ""
  end
  if b then bcell = f(b) .. " (" .. r.base_what .. ")" end
  local base_skipped = not b and r.base_skip and r.base_skip()
  if base_skipped then bcell = base_skipped .. " (" .. r.base_what .. ")" end
  if g and b and not r.no_ratio then ratio = ("%.2fx"):format(g / b) end
  if r.target then
    local ok
    if r.target.ratio then
      target = ("≤ %gx"):format(r.target.ratio)
      ok = g and b and g / b <= r.target.ratio
    elseif r.target.min_ratio then
      target = r.target.text
      ok = g and b and g / b >= r.target.min_ratio
    elseif r.target.min then
      target = r.target.text
      ok = g and g >= r.target.min
    else
      target = r.target.text
      ok = g and g <= r.target.abs
    end
    met = ok and "yes" or "**no**"
    if skipped then met = "—" end
  end
  if not ((g or skipped) and (b or base_skipped)) then missing = true end
  emit(("| %s | %s | %s | %s | %s | %s | %s | %s |"):format(
    name, unit, gcell, range, bcell, ratio, target, met))
end
end
emit_rows(rows)

emit("")
emit("spawn/switch: process CPU time (os.clock) on both sides. Sleepers: peak "
  .. "RSS = VmHWM at the end minus VmHWM just before the first spawn, same "
  .. "process; greenlua's time is wall clock (green.now) from the first spawn_n "
  .. "until the last thread woke; the baseline's is 1 s plus the CPU time bare "
  .. "lua5.4 takes to create, park and finish as many coroutines. "
  .. "Startup: wall time per run. "
  .. "Event/Queue/imap (sync.lua): process CPU time too. A switch or hop is "
  .. "one thread handing over to the other (a yield to the hub, the hub "
  .. "resuming the other: one resume and one yield, as in the baseline's "
  .. "round trip); the Event round trip is 2 switches, the 2-Queue one 2 hops. "
  .. "The Queue(100) producer fills the queue and blocks, the consumer drains it and "
  .. "blocks: a switch per ~100 items each way, as the baseline's ring of 100 "
  .. "slots (nil'ed when taken) driven by a loop resuming its two coroutines "
  .. "in turn. imap: the whole `for i, r in pool:imap(f, items)` loop per "
  .. "item, minus a plain `f(items[i])` loop per item.")

-- The network rows (run.sh's second part; absent with NET=0): greenlua's
-- servers (green_echo.lua, idle.lua) against C ones (echo_server.c), both
-- loaded by echo_client.c, all on 127.0.0.1.
local function read_file(name)
  local f = io.open(dir .. "/" .. name)
  if not f then return nil end
  local s = f:read("a"):gsub("%s+$", "")
  f:close()
  return s
end

if meta.net_runs then
  local tls_skip = read_file("tls_skipped")
  local function skip_tls() return tls_skip and "skipped (see below)" end
  local function per_cpu(n) return n[1] and n[2] and n[2] > 0 and n[1] / n[2] or nil end
  local net_rows = {
    { ("TCP echo: %s connections, %s-byte ping-pong each"):format(meta.net_conns or "?", meta.net_size or "?"),
      "msgs/s", green = { "echo_green", 1 }, base = { "echo_c", 1 },
      base_what = "C libuv echo server", target = { min_ratio = 0.85, text = "≥ 0.85x (85% of C)" } },
    { "the same, per CPU-second of the server process", "msgs/s",
      green = { "echo_green", per_cpu }, base = { "echo_c", per_cpu },
      base_what = "C libuv echo server", target = nil },
    { ("TCP bulk echo: %s connections, 64 KiB writes, ≤ 256 KiB in flight each"):format(meta.bulk_conns or "?"),
      "MB/s", green = { "bulk_green", 1 }, base = { "bulk_c", 1 },
      base_what = "C libuv echo server", target = nil },
    { ("%s idle connections, each handler parked in recv()"):format(meta.idle_conns or "?"),
      "B/conn", green = { "idle_green", 1 }, base = { "idle_c", 1 },
      base_what = "C libuv server: a uv_tcp_t reading each", no_ratio = true,
      target = { abs = 4096, text = "≤ 4 KB" } },
    { ("TLS handshakes: %s connections each looping connect, handshake, 1-byte echo, close")
        :format(meta.tls_conns or "?"),
      "handshakes/s", green = { "tls_hs_green", 1 }, base = { "tls_hs_c", 1 }, skip = skip_tls,
      base_what = "C libuv + OpenSSL server", target = { min_ratio = 0.8, text = "≥ 0.8x (80% of C)" } },
    { ("TLS bulk echo: %s connections, 64 KiB writes, ≤ 256 KiB in flight each"):format(meta.bulk_conns or "?"),
      "MB/s", green = { "tls_bulk_green", 1 }, base = { "tls_bulk_c", 1 }, skip = skip_tls,
      base_what = "C libuv + OpenSSL server", target = { min_ratio = 0.8, text = "≥ 0.8x (80% of C)" } },
    { "the same, per CPU-second of the server process", "MB/s",
      green = { "tls_bulk_green", per_cpu }, base = { "tls_bulk_c", per_cpu }, skip = skip_tls,
      base_what = "C libuv + OpenSSL server", target = nil },
  }
  emit("")
  emit(("Network, 127.0.0.1 only: medians of %s runs of %s s each (after %s s of warm-up), "
    .. "idle connections: %s runs; %s.")
    :format(meta.net_runs, meta.net_seconds or "?", meta.net_warmup or "?", meta.idle_runs or "?",
      meta.net_pinning or "not pinned"))
  emit("")
  emit("| benchmark | unit | greenlua | range (greenlua) | baseline: C | ratio | target | met? |")
  emit("|---|---|--:|--:|---|--:|---|:-:|")
  emit_rows(net_rows)
  emit("")
  emit("Every run is a fresh server process (green_echo.lua or idle.lua under greenlua; "
    .. "echo_server.c, libuv, OpenSSL on memory BIOs, as the baseline) loaded by a fresh "
    .. "echo_client.c (libuv, one thread), the greenlua and C runs interleaved. Echo: each "
    .. "connection sends a message and waits for its whole echo before the next; msgs/s = "
    .. "echoes completed in the window / its length. Per CPU-second: the rate divided by the "
    .. "server's user+system time over the same window (from /proc; softirq time on loopback "
    .. "is not in it), which does not depend on whether the client kept the server busy. "
    .. "Idle: the server's VmRSS once all connections are parked, minus its VmRSS right "
    .. "after listening, divided by the number of connections (the client holds them all). "
    .. "TLS: a self-signed RSA-2048 certificate made at bench time, OpenSSL defaults "
    .. "(TLS 1.3, session tickets), full handshakes only (the client keeps no sessions); "
    .. "handshakes/s counts loops completed; bulk MB/s counts 10^6 echoed bytes received.")
  if tls_skip then emit("") emit("TLS rows: " .. tls_skip) end
  if meta.net_note then emit("") emit(meta.net_note) end
end

-- The HTTP rows (run.sh's third part; absent with HTTP=0): green.wsgi
-- (http/hello.lua) against a C server on libuv + llhttp (http/hello_server.c),
-- Go's net/http and node's http, all loaded by wrk; green.http's client
-- (http/client.lua) against wrk, both loading the C server.
if meta.http_runs then
  local function skip_if(name)
    local why = read_file(name)
    return function() return why and "skipped (see below)" end
  end
  local skip_green, skip_client = skip_if("http_skipped_green"), skip_if("http_skipped_client")
  local skip_go, skip_node = skip_if("http_skipped_go"), skip_if("http_skipped_node")
  local function thousands(n)  -- "10000" -> "10,000"
    local s, k = tostring(n), 1
    while k > 0 do s, k = s:gsub("^(%d+)(%d%d%d)", "%1,%2") end
    return s
  end
  local conns, idle = meta.http_conns or "?", thousands(meta.http_idle_conns or "?")
  local c_what = "C: libuv + llhttp, the same bytes"
  local go_what = "Go " .. (meta.http_go or "") .. " net/http, GOMAXPROCS=1"
  local node_what = "node " .. (meta.http_node or "") .. " http module"
  local http_rows = {
    { ("hello world: `wrk -t1 -c%s`, keep-alive"):format(conns), "req/s",
      green = { "http_green", 1 }, base = { "http_c", 1 }, skip = skip_green,
      base_what = c_what, target = { min_ratio = 0.75, text = "≥ 0.75x (75% of C)" } },
    { "the same, against Go", "req/s",
      green = { "http_green", 1 }, base = { "http_go", 1 }, skip = skip_green, base_skip = skip_go,
      base_what = go_what, target = { min_ratio = 1, text = "beats Go (≥ 1x)" } },
    { "the same, against node", "req/s",
      green = { "http_green", 1 }, base = { "http_node", 1 }, skip = skip_green, base_skip = skip_node,
      base_what = node_what, target = { min_ratio = 1, text = "beats node (≥ 1x)" } },
    { "server CPU per request, the same load", "µs/req",
      green = { "http_green", 2 }, base = { "http_c", 2 }, skip = skip_green,
      base_what = c_what, target = nil },
    { "the same, against Go", "µs/req",
      green = { "http_green", 2 }, base = { "http_go", 2 }, skip = skip_green, base_skip = skip_go,
      base_what = go_what, target = nil },
    { "the same, against node", "µs/req",
      green = { "http_green", 2 }, base = { "http_node", 2 }, skip = skip_green, base_skip = skip_node,
      base_what = node_what, target = nil },
    { ("client: %s green threads looping `green.http.request` (keep-alive GET) against the C server")
        :format(conns), "req/s",
      green = { "http_client_green", 1 }, base = { "http_c", 1 }, skip = skip_client,
      base_what = ("`wrk -t1 -c%s` against the same server"):format(conns),
      target = { min_ratio = 0.5, text = "≥ 0.5x (50% of wrk)" } },
    { "client CPU per request, the same load", "µs/req",
      green = { "http_client_green", 4 }, base = { "http_c", 6 }, skip = skip_client,
      base_what = "wrk's own, the same runs", target = nil },
    { ("%s idle keep-alive connections, one request each"):format(idle), "B/conn",
      green = { "http_idle_green", 1 }, base = { "http_idle_c", 1 }, skip = skip_green,
      base_what = "the C server", no_ratio = true, target = { abs = 4096, text = "≤ 4 KB" } },
    { "the same, against Go", "B/conn",
      green = { "http_idle_green", 1 }, base = { "http_idle_go", 1 }, skip = skip_green,
      base_skip = skip_go, base_what = go_what, target = nil },
    { "the same, against node", "B/conn",
      green = { "http_idle_green", 1 }, base = { "http_idle_node", 1 }, skip = skip_green,
      base_skip = skip_node, base_what = node_what, target = nil },
  }
  emit("")
  emit(("HTTP, 127.0.0.1 only: medians of %s runs of %s s each (after %s s of warm-up), "
    .. "idle connections: %s runs; %s; %s, llhttp %s (Debian's node-llhttp).")
    :format(meta.http_runs, meta.http_seconds or "?", meta.http_warmup or "?",
      meta.http_idle_runs or "?", meta.http_pinning or "not pinned", meta.http_wrk or "wrk",
      meta.http_llhttp or "?"))
  emit("")
  emit("| benchmark | unit | greenlua | range (greenlua) | baseline | ratio | target | met? |")
  emit("|---|---|--:|--:|---|--:|---|:-:|")
  emit_rows(http_rows)
  emit("")
  emit("Every run is a fresh server process, the servers interleaved in each round. The "
    .. "application answers every request with `200`, `Content-Type: text/plain` and "
    .. "`Hello, World!`; greenlua (http/hello.lua: green.wsgi.server, no access log) and "
    .. "the C server (http/hello_server.c: libuv, llhttp's callbacks for the end of a "
    .. "message only, one write per batch of pipelined answers, the Date rebuilt once a "
    .. "second) send the same bytes; Go and node send the same headers (node adds "
    .. "`Connection: keep-alive` and `Keep-Alive: timeout=5`). req/s: wrk's own figure "
    .. "(wrk runs one thread on the client's CPU: when the server is faster than wrk, or other "
    .. "processes take that CPU, req/s shows wrk's limit, which CPU per request does not). "
    .. "CPU per request: the server process's "
    .. "user+system time (/proc/PID/stat, all its threads) over wrk's measured run, divided "
    .. "by the requests wrk counted. Client: http/client.lua's green threads each "
    .. "loop `green.http.request(url)` (green.http.pool_size raised to the thread count, "
    .. "so every thread keeps its connection), requests completed in the window / its "
    .. "length, against wrk's figure for the same C server in the same round; client CPU: "
    .. "the greenlua process's (os.clock) over its window, wrk's (the shell's `times`) over its "
    .. "measured run, each per request it made. Idle: "
    .. "http/http_idle.c opens the connections (at most 200 in progress), does one GET on "
    .. "each and keeps them all open; the server's VmRSS then (after 0.3 s) minus its "
    .. "VmRSS before the first of them (after one warm-up request on a connection of its "
    .. "own), divided by the number of connections.")
  for _, k in ipairs({ "green", "client", "go", "node" }) do
    local why = read_file("http_skipped_" .. k)
    if why then
      local what = ({ green = "greenlua's server rows", client = "The client row",
        go = "Go's figures", node = "node's figures" })[k]
      emit("") emit(what .. ": " .. why)
    end
  end
  if meta.http_note then emit("") emit(meta.http_note) end
end

local text = table.concat(out, "\n") .. "\n"
io.write(text)
if meta.out then
  local f = assert(io.open(meta.out, "w"))
  f:write(text)
  f:close()
end
if missing then os.exit(2) end
