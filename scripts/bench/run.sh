#!/bin/sh
# make bench: greenlua against plain lua5.4 doing the nearest equivalent with
# bare coroutines. Every measurement is a fresh process printing one line;
# the rounds interleave greenlua and its baseline so that noise on this
# shared machine hits both alike. Prints the Markdown table (table.lua) to
# stdout and writes it to build/bench.md; progress goes to stderr, the raw
# samples stay in build/bench/. Exits non-zero if a run failed.
#
# Knobs: GREENLUA, LUA, RUNS (5), RUNS_BIG (3, the 1M sleepers),
# STARTUP_RUNS (50), LIMIT (seconds per process, 120), HYPERFINE
# (hyperfine; "none" times startup with a shell loop instead).
# The network part (last; NET=0 skips it): NET_RUNS (5), NET_SECONDS (5,
# each load's measured window, after NET_WARMUP, 1 s), NET_CONNS (100),
# IDLE_CONNS (10000), IDLE_RUNS (5), TLS_CONNS (50), BULK_CONNS (2).
# The HTTP part (after it; HTTP=0 skips it): HTTP_RUNS (5), HTTP_SECONDS
# (10, each wrk load's measured window, after HTTP_WARMUP, 1 s), HTTP_CONNS
# (100), HTTP_IDLE_CONNS (10000), HTTP_IDLE_RUNS (3).
set -u
cd "$(dirname "$0")/../.." || exit 1

GREENLUA=${GREENLUA:-build/greenlua}
LUA=${LUA:-lua5.4}
RUNS=${RUNS:-5}
RUNS_BIG=${RUNS_BIG:-3}
STARTUP_RUNS=${STARTUP_RUNS:-50}
LIMIT=${LIMIT:-120}
HYPERFINE=${HYPERFINE:-hyperfine}
B=scripts/bench
S=build/bench
OUT=build/bench.md

for tool in "$GREENLUA" "$LUA"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bench: $tool not found" >&2; exit 1; }
done
rm -rf "$S"
mkdir -p "$S"
failed=0

# one KEY COMMAND...: run it once; append its line of output to $S/KEY.
one() {
  key=$1
  shift
  if out=$(timeout -k 5 "$LIMIT" "$@" 2>"$S/$key.err") && [ -n "$out" ]; then
    printf '%s\n' "$out" >>"$S/$key"
  else
    echo "bench: FAILED: $*" >&2
    sed 's/^/  /' "$S/$key.err" >&2
    failed=1
  fi
}

started=$(date +%s)
{
  echo "date=$(date -u +%Y-%m-%d)"
  echo "nproc=$(nproc)"
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  echo "lua=$("$LUA" -v 2>&1 | cut -d' ' -f1,2)"
  echo "greenlua=$("$GREENLUA" -v -e '' 2>&1 | head -n 1 | sed 's/ (.*//')"
  echo "runs=$RUNS"
  echo "runs_big=$RUNS_BIG"
  echo "startup_runs=$STARTUP_RUNS"
  echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "out=$OUT"
} >"$S/meta.txt"

i=1
while [ "$i" -le "$RUNS" ]; do
  echo "bench: round $i/$RUNS: spawn, switch, sync, 100k sleepers" >&2
  one spawn_bare "$LUA" $B/spawn.lua bare
  one spawn_n "$GREENLUA" $B/spawn.lua spawn_n
  one spawn_bare_all "$LUA" $B/spawn.lua bare_all
  one spawn_wait_all "$GREENLUA" $B/spawn.lua spawn_wait_all
  one spawn_wait_loop "$GREENLUA" $B/spawn.lua spawn_wait_loop
  one switch_bare "$LUA" $B/switch.lua bare
  one switch_green "$GREENLUA" $B/switch.lua green
  one switch_bare_hosted "$GREENLUA" $B/switch.lua bare
  one sync_event "$GREENLUA" $B/sync.lua event
  one sync_pingpong "$GREENLUA" $B/sync.lua pingpong
  one sync_ring "$LUA" $B/sync.lua ring
  one sync_queue "$GREENLUA" $B/sync.lua queue
  one sync_imap "$GREENLUA" $B/sync.lua imap
  one sleep100k_bare "$LUA" $B/sleepers.lua bare 100000
  one sleep100k_green "$GREENLUA" $B/sleepers.lua green 100000
  i=$((i + 1))
done

# 1M sleepers: not interleaved. On this VM a process that first touches
# ~1.4 GB right after another one freed as much pays 2-3x the kernel
# time in page faults (the guest seems to hand freed memory back to the host):
# measured, a greenlua run took 2.16 s after a greenlua run, 2.5-3.0 s after
# a lua5.4 one, 3.3 s after a 3 s pause. So each side gets one discarded
# warm-up run (kept in $S/*_warmup), then its runs back to back.
for side in green bare; do
  if [ $side = green ]; then cmd=$GREENLUA; else cmd=$LUA; fi
  echo "bench: 1M sleepers, $side: a warm-up and $RUNS_BIG runs" >&2
  one sleep1m_${side}_warmup "$cmd" $B/sleepers.lua $side 1000000
  i=1
  while [ "$i" -le "$RUNS_BIG" ]; do
    one sleep1m_$side "$cmd" $B/sleepers.lua $side 1000000
    i=$((i + 1))
  done
done

# Startup: wall time of each run, in seconds, one per line.
echo "bench: startup, $STARTUP_RUNS runs each" >&2
if command -v "$HYPERFINE" >/dev/null 2>&1; then
  echo "startup_tool=hyperfine -N" >>"$S/meta.txt"
  if "$HYPERFINE" -N --warmup 5 --runs "$STARTUP_RUNS" --export-json "$S/startup.json" \
       "$GREENLUA -e ''" "$LUA -e ''" >"$S/startup.log" 2>&1; then
    "$LUA" $B/hyperfine_times.lua "$S/startup.json" "$S/startup_green" "$S/startup_bare" || failed=1
  else
    echo "bench: FAILED: hyperfine" >&2
    sed 's/^/  /' "$S/startup.log" >&2
    failed=1
  fi
else
  # No hyperfine: a loop timed with date (its own fork is in every figure,
  # on both sides alike), alternating the two commands.
  echo "startup_tool=shell loop, date +%s%N" >>"$S/meta.txt"
  i=0
  while [ "$i" -lt "$STARTUP_RUNS" ]; do
    for side in green bare; do
      if [ $side = green ]; then cmd=$GREENLUA; else cmd=$LUA; fi
      t0=$(date +%s%N)
      "$cmd" -e '' >/dev/null 2>&1 || failed=1
      t1=$(date +%s%N)
      echo "$(( t1 - t0 ))" >>"$S/startup_$side.ns"
    done
    i=$((i + 1))
  done
  for side in green bare; do
    awk '{ print $1 / 1e9 }' "$S/startup_$side.ns" >"$S/startup_$side"
  done
fi

# ------------------------------------------------------------- network
# Servers (greenlua's green_echo.lua / idle.lua, the C echo_server) and the
# load (echo_client) are fresh processes for every run, built from
# scripts/bench/*.c by net.mk into build/bench-bin/; with 2 or more CPUs
# the server runs on CPU 1 and the client on CPU 0. Everything listens on
# 127.0.0.1, on a port the server picks and prints as its first line.
NET=${NET:-1}
NET_RUNS=${NET_RUNS:-5}
NET_SECONDS=${NET_SECONDS:-5}
NET_WARMUP=${NET_WARMUP:-1}
NET_CONNS=${NET_CONNS:-100}
NET_SIZE=64
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_RUNS=${IDLE_RUNS:-5}
TLS_CONNS=${TLS_CONNS:-50}
BULK_CONNS=${BULK_CONNS:-2}
BIN=build/bench-bin
SERVER_PID=""
PORT=""

cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server KEY COMMAND...: start it in the background (pinned), wait for
# the port it prints (5 s at most); sets SERVER_PID (the server's own pid:
# taskset execs it) and PORT.
start_server() {
  key=$1
  shift
  rm -f "$S/$key.srv"  # else the last run's port may be read before the shell truncates it
  $SRV_PIN "$@" >"$S/$key.srv" 2>"$S/$key.srv.err" &
  SERVER_PID=$!
  n=0
  while [ ! -s "$S/$key.srv" ] && [ $n -lt 100 ] && kill -0 "$SERVER_PID" 2>/dev/null; do
    sleep 0.05
    n=$((n + 1))
  done
  PORT=$(head -n 1 "$S/$key.srv")
  case $PORT in
    ''|*[!0-9]*)
      echo "bench: FAILED: server did not start: $*" >&2
      sed 's/^/  /' "$S/$key.srv.err" >&2
      cleanup
      failed=1
      return 1 ;;
  esac
  return 0
}

stop_server() {
  cleanup
}

# net_one KEY SERVER_COMMAND... -- CLIENT_ARGS...: one load against a
# fresh server; the client's line (rate, server CPU, client CPU) goes to
# $S/KEY.
net_one() {
  key=$1
  shift
  srv=""
  while [ "$1" != "--" ]; do
    srv="$srv $1"
    shift
  done
  shift
  # shellcheck disable=SC2086  # the command's words (no spaces in paths)
  start_server "$key" $srv || return
  one "$key" $CLI_PIN "$BIN/echo_client" -P "$SERVER_PID" -d "$NET_SECONDS" -w "$NET_WARMUP" \
    "$@" 127.0.0.1 "$PORT"
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "bench: FAILED: the server died:$srv" >&2
    sed 's/^/  /' "$S/$key.srv.err" >&2
    failed=1
  fi
  stop_server
}

# idle_one KEY SERVER_COMMAND...: the server prints its port, then, once
# IDLE_CONNS connections are parked, bytes per connection, and exits; the
# client holds the connections until then (30 s at most).
idle_one() {
  key=$1
  shift
  start_server "$key" "$@" || return
  held=$(timeout -k 5 "$LIMIT" $CLI_PIN "$BIN/echo_client" -m idle -c "$IDLE_CONNS" -d 30 \
         127.0.0.1 "$PORT" 2>>"$S/$key.err")
  n=0
  while kill -0 "$SERVER_PID" 2>/dev/null && [ $n -lt 100 ]; do
    sleep 0.05
    n=$((n + 1))
  done
  result=$(sed -n 2p "$S/$key.srv")
  stop_server
  if [ "$held" = "$IDLE_CONNS" ] && [ -n "$result" ]; then
    printf '%s\n' "$result" >>"$S/$key"
  else
    echo "bench: FAILED: $key: client held ${held:-?} of $IDLE_CONNS connections, server said '${result}'" >&2
    sed 's/^/  /' "$S/$key.srv.err" "$S/$key.err" >&2
    failed=1
  fi
}

# Both the network and the HTTP parts pin servers and clients alike.
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
  SRV_PIN="taskset -c 1"
  CLI_PIN="taskset -c 0"
  pinning="server pinned to CPU 1, client to CPU 0 (taskset)"
else
  SRV_PIN=""
  CLI_PIN=""
  pinning="not pinned"
fi

# raise_nofile N: ulimit -n to N + 1000 (or the hard limit); 0 if it is at
# least N + 100 then.
raise_nofile() {
  want=$(($1 + 1000))
  hard=$(ulimit -Hn)
  if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
    want=$hard
  fi
  ulimit -n "$want" 2>/dev/null
  [ "$(ulimit -n)" -ge $(($1 + 100)) ] 2>/dev/null
}

if [ "$NET" != 0 ]; then
  net_started=$(date +%s)
  if ! make -s -f $B/net.mk >"$S/net-build.log" 2>&1; then
    echo "bench: FAILED: building the network benchmarks (make -f $B/net.mk)" >&2
    sed 's/^/  /' "$S/net-build.log" >&2
    failed=1
    NET=0
  fi
fi

if [ "$NET" != 0 ]; then
  {
    echo "net_runs=$NET_RUNS"
    echo "net_seconds=$NET_SECONDS"
    echo "net_warmup=$NET_WARMUP"
    echo "net_conns=$NET_CONNS"
    echo "net_size=$NET_SIZE"
    echo "idle_conns=$IDLE_CONNS"
    echo "idle_runs=$IDLE_RUNS"
    echo "tls_conns=$TLS_CONNS"
    echo "bulk_conns=$BULK_CONNS"
    echo "net_pinning=$pinning"
  } >>"$S/meta.txt"

  # TLS: a throwaway self-signed certificate; greenlua's side only once
  # green.wrap_ssl exists (the C side runs regardless).
  tls_c=1
  tls_green=1
  mkdir -p "$S/tls"
  if ! openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
       -keyout "$S/tls/key.pem" -out "$S/tls/cert.pem" >"$S/tls/openssl.log" 2>&1; then
    echo "bench: FAILED: openssl req (no certificate, no TLS rows)" >&2
    failed=1
    tls_c=0
    tls_green=0
    echo "skipped: openssl could not make a certificate." >"$S/tls_skipped"
  elif ! "$GREENLUA" -e 'os.exit(require("green").wrap_ssl and 0 or 1)' >/dev/null 2>&1; then
    tls_green=0
    echo "greenlua's side skipped: green.wrap_ssl does not exist yet" \
      "(green_echo.lua's TLS variant runs once it does); the C figures stand alone." >"$S/tls_skipped"
    echo "bench: green.wrap_ssl does not exist yet: greenlua's TLS rows skipped" >&2
  fi
  CERT="$S/tls/cert.pem"
  KEY="$S/tls/key.pem"

  # Idle connections need ~IDLE_CONNS descriptors in each of two processes.
  if ! raise_nofile "$IDLE_CONNS"; then
    hard=$(ulimit -Hn)
    echo "bench: FAILED: ulimit -n is $(ulimit -n) (hard $hard): too few for $IDLE_CONNS connections" >&2
    echo "net_note=Idle connections: not measured, ulimit -n $(ulimit -n) (hard limit $hard) is below $IDLE_CONNS." >>"$S/meta.txt"
    failed=1
    IDLE_RUNS=0
  fi

  i=1
  while [ "$i" -le "$NET_RUNS" ]; do
    echo "bench: network round $i/$NET_RUNS: TCP echo, TCP bulk, TLS handshakes, TLS bulk" >&2
    net_one echo_c "$BIN/echo_server" -- -c "$NET_CONNS" -s "$NET_SIZE"
    net_one echo_green "$GREENLUA" $B/green_echo.lua -- -c "$NET_CONNS" -s "$NET_SIZE"
    net_one bulk_c "$BIN/echo_server" -- -m bulk -c "$BULK_CONNS"
    net_one bulk_green "$GREENLUA" $B/green_echo.lua -- -m bulk -c "$BULK_CONNS"
    if [ $tls_c = 1 ]; then
      net_one tls_hs_c "$BIN/echo_server" -t "$CERT" "$KEY" -- -t -m handshake -c "$TLS_CONNS"
    fi
    if [ $tls_green = 1 ]; then
      net_one tls_hs_green "$GREENLUA" $B/green_echo.lua tls "$CERT" "$KEY" -- -t -m handshake -c "$TLS_CONNS"
    fi
    if [ $tls_c = 1 ]; then
      net_one tls_bulk_c "$BIN/echo_server" -t "$CERT" "$KEY" -- -t -m bulk -c "$BULK_CONNS"
    fi
    if [ $tls_green = 1 ]; then
      net_one tls_bulk_green "$GREENLUA" $B/green_echo.lua tls "$CERT" "$KEY" -- -t -m bulk -c "$BULK_CONNS"
    fi
    i=$((i + 1))
  done
  i=1
  while [ "$i" -le "$IDLE_RUNS" ]; do
    echo "bench: idle connections $i/$IDLE_RUNS: $IDLE_CONNS each, C then greenlua" >&2
    idle_one idle_c "$BIN/echo_server" -n "$IDLE_CONNS"
    idle_one idle_green "$GREENLUA" $B/idle.lua "$IDLE_CONNS"
    i=$((i + 1))
  done
  echo "bench: network done in $(( $(date +%s) - net_started )) s" >&2
fi

# ---------------------------------------------------------------- HTTP
# Hello world over HTTP/1.1 keep-alive: greenlua's green.wsgi
# (http/hello.lua) against a minimal C server on libuv + llhttp
# (http/hello_server.c, the baseline), Go's net/http (GOMAXPROCS=1) and
# node's http module, each loaded by wrk -t1 (http/wrk_load.sh, which also
# reads the server's CPU time); greenlua's client (http/client.lua) against
# the C server; idle keep-alive connections (http/http_idle.c). Pinned as
# the network part; every run a fresh server, the servers interleaved.
HTTP=${HTTP:-1}
HTTP_RUNS=${HTTP_RUNS:-5}
HTTP_SECONDS=${HTTP_SECONDS:-10}
HTTP_WARMUP=${HTTP_WARMUP:-1}
HTTP_CONNS=${HTTP_CONNS:-100}
HTTP_IDLE_CONNS=${HTTP_IDLE_CONNS:-10000}
HTTP_IDLE_RUNS=${HTTP_IDLE_RUNS:-3}
H=$B/http

# http_one KEY SERVER_COMMAND...: wrk against a fresh server; its line
# (req/s, server CPU µs per request, ...) goes to $S/KEY.
http_one() {
  key=$1
  shift
  start_server "$key" "$@" || return
  one "$key" sh $H/wrk_load.sh "$SERVER_PID" "http://127.0.0.1:$PORT/" \
    "$HTTP_SECONDS" "$HTTP_WARMUP" "$HTTP_CONNS"
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "bench: FAILED: the server died: $*" >&2
    sed 's/^/  /' "$S/$key.srv.err" >&2
    failed=1
  fi
  stop_server
}

# http_client_one KEY: greenlua's client against a fresh C server.
http_client_one() {
  key=$1
  start_server "$key" "$BIN/hello_server" || return
  one "$key" $CLI_PIN "$GREENLUA" $H/client.lua "http://127.0.0.1:$PORT/" \
    "$HTTP_CONNS" "$HTTP_SECONDS" "$HTTP_WARMUP"
  stop_server
}

# http_idle_one KEY SERVER_COMMAND...: HTTP_IDLE_CONNS connections, one
# request each, then idle; the client's line (bytes per connection, ...)
# goes to $S/KEY.
http_idle_one() {
  key=$1
  shift
  start_server "$key" "$@" || return
  one "$key" $CLI_PIN "$BIN/http_idle" -c "$HTTP_IDLE_CONNS" -P "$SERVER_PID" -d 60 127.0.0.1 "$PORT"
  stop_server
}

if [ "$HTTP" != 0 ]; then
  http_started=$(date +%s)
  WRK_PIN=$CLI_PIN  # wrk_load.sh pins wrk with it
  export WRK_PIN
  rm -f "$S"/http_skipped_*
  http_go=1
  http_node=1
  http_green=1
  http_client=1
  if ! command -v wrk >/dev/null 2>&1; then
    echo "bench: FAILED: wrk not found (make bench-deps installs it): no HTTP rows" >&2
    failed=1
    HTTP=0
  elif ! make -s -f $H/http.mk c >"$S/http-build.log" 2>&1; then
    echo "bench: FAILED: building the HTTP benchmarks (make -f $H/http.mk)" >&2
    sed 's/^/  /' "$S/http-build.log" >&2
    failed=1
    HTTP=0
  fi
fi

if [ "$HTTP" != 0 ]; then
  if ! make -s -f $H/http.mk go >"$S/http-go-build.log" 2>&1; then
    echo "bench: FAILED: building the Go server (make -f $H/http.mk go)" >&2
    sed 's/^/  /' "$S/http-go-build.log" >&2
    echo "not measured: the Go server did not build (see build/bench/http-go-build.log)." >"$S/http_skipped_go"
    failed=1
    http_go=0
  fi
  if ! command -v node >/dev/null 2>&1; then
    echo "bench: FAILED: node not found: no node rows" >&2
    echo "not measured: no node on this machine." >"$S/http_skipped_node"
    failed=1
    http_node=0
  fi
  if ! "$GREENLUA" -e 'os.exit(require("green.wsgi").server and 0 or 1)' >/dev/null 2>&1; then
    echo "bench: green.wsgi does not exist yet: greenlua's HTTP server rows skipped" >&2
    echo "skipped: green.wsgi is not in this build of greenlua; the baselines' figures stand alone." \
      >"$S/http_skipped_green"
    http_green=0
  fi
  if ! "$GREENLUA" -e 'os.exit(require("green.http").request and 0 or 1)' >/dev/null 2>&1; then
    echo "bench: green.http does not exist yet: greenlua's HTTP client row skipped" >&2
    echo "skipped: green.http is not in this build of greenlua; wrk's figure stands alone." \
      >"$S/http_skipped_client"
    http_client=0
  fi
  if ! raise_nofile "$HTTP_IDLE_CONNS"; then
    echo "bench: FAILED: ulimit -n is $(ulimit -n): too few for $HTTP_IDLE_CONNS connections" >&2
    echo "http_note=Idle HTTP connections: not measured, ulimit -n $(ulimit -n) (hard limit $(ulimit -Hn)) is below $HTTP_IDLE_CONNS." >>"$S/meta.txt"
    failed=1
    HTTP_IDLE_RUNS=0
  fi
  {
    echo "http_runs=$HTTP_RUNS"
    echo "http_seconds=$HTTP_SECONDS"
    echo "http_warmup=$HTTP_WARMUP"
    echo "http_conns=$HTTP_CONNS"
    echo "http_idle_conns=$HTTP_IDLE_CONNS"
    echo "http_idle_runs=$HTTP_IDLE_RUNS"
    echo "http_pinning=$pinning"
    echo "http_wrk=$(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1,2)"
    echo "http_llhttp=$(dpkg-query -W -f='${Version}' node-llhttp 2>/dev/null | cut -d'~' -f1)"
    [ $http_go = 1 ] && echo "http_go=$(go version 2>/dev/null | cut -d' ' -f3)"
    [ $http_node = 1 ] && echo "http_node=$(node --version 2>/dev/null)"
  } >>"$S/meta.txt"

  i=1
  while [ "$i" -le "$HTTP_RUNS" ]; do
    echo "bench: HTTP round $i/$HTTP_RUNS: hello world (C, greenlua, Go, node), client" >&2
    http_one http_c "$BIN/hello_server"
    [ $http_green = 1 ] && http_one http_green "$GREENLUA" $H/hello.lua
    [ $http_go = 1 ] && http_one http_go env GOMAXPROCS=1 "$BIN/hello_go"
    [ $http_node = 1 ] && http_one http_node node $H/hello.js
    [ $http_client = 1 ] && http_client_one http_client_green
    i=$((i + 1))
  done
  i=1
  while [ "$i" -le "$HTTP_IDLE_RUNS" ]; do
    echo "bench: idle HTTP connections $i/$HTTP_IDLE_RUNS: $HTTP_IDLE_CONNS each" >&2
    http_idle_one http_idle_c "$BIN/hello_server"
    [ $http_green = 1 ] && http_idle_one http_idle_green "$GREENLUA" $H/hello.lua 0 $((HTTP_IDLE_CONNS + 100))
    [ $http_go = 1 ] && http_idle_one http_idle_go env GOMAXPROCS=1 "$BIN/hello_go"
    [ $http_node = 1 ] && http_idle_one http_idle_node node $H/hello.js
    i=$((i + 1))
  done
  echo "bench: HTTP done in $(( $(date +%s) - http_started )) s" >&2
fi

echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$S/meta.txt"
echo "bench: done in $(( $(date +%s) - started )) s" >&2
"$LUA" $B/table.lua "$S" || failed=1
exit "$failed"
