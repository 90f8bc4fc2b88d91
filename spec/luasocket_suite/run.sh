#!/bin/sh
# Run one of LuaSocket's upstream tests (build/luasocket-src/test, fetched by
# fetch.sh) under one interpreter, in a fresh copy of test/ of its own.
#   usage: sh spec/luasocket_suite/run.sh INTERP TAG TEST
# INTERP: lua5.4 (Debian's real LuaSocket: the reference) or greenlua (the
# green one unless --no-patch is part of INTERP). Writes the combined,
# normalised output (the client's, then any server's after a "--- server"
# line) to build/luasocket-suite/TAG/TEST.out, its last line "exit=N".
# The harness's servers listen on 127.0.0.1 (unix paths inside the copy);
# upstream's own choices stay: test_bind, tcp-getoptions and the
# udp-zero-length tests bind "*" on fixed ports (5088, 8765, 5432),
# udpconnect uses 127.0.0.1:5061/5062, the unix* pair /tmp/foo and
# /tmp/bar, and testclnt resolves "host.is.invalid" (a DNS query that must
# fail). Every process is bounded by timeout(1).
# The harness's only changes, the same for every interpreter: testclnt.lua's
# connect_timeout aims at a local black hole (blackhole.py) instead of
# 10.0.0.1:81; the client tests get debug_shim.lua (socket._DEBUG and
# send/receive's elapsed-time result); testclnt runs with ulimit -S -n 1000
# (see below); tcp-getoptions gets unpack = table.unpack (a Lua 5.1 name it
# uses).
set -u
cd "$(dirname "$0")/../.." || exit 1
TOP=$(pwd)
INTERP=$1
TAG=$2
T=$3
# a relative interpreter path is relative to the top (the tests run elsewhere)
case $INTERP in
  /*) ;;
  */*) INTERP=$TOP/$INTERP ;;
esac
SRC=build/luasocket-src/test
H=spec/luasocket_suite
OUTDIR=build/luasocket-suite/$TAG
W=$OUTDIR/$T.dir
OUT=$TOP/$OUTDIR/$T.out
[ -d "$SRC" ] || { echo "no $SRC: run sh $H/fetch.sh" >&2; exit 2; }
rm -rf "$W"
mkdir -p "$W"
cp -R "$SRC"/. "$W"/
cd "$W" || exit 2
SHIM=$TOP/$H/debug_shim.lua
RAW=raw.out
: >"$RAW"
: >srv.out
SRV=""
BH=""

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# start_server CMD...: in the background, bounded; SRV = its pid
start_server() {
  timeout -k 2 "$SRV_LIMIT" "$@" >srv.out 2>&1 &
  SRV=$!
}
# wait for the server to end by itself (GRACE seconds), else stop it
stop_server() {
  n=0
  while kill -0 "$SRV" 2>/dev/null && [ $n -lt $((GRACE * 10)) ]; do sleep 0.1; n=$((n + 1)); done
  kill "$SRV" 2>/dev/null
  wait "$SRV" 2>/dev/null
  SRV=""
}
# wait until FILE has a line matching RE (5 s at most)
wait_for() {
  n=0
  while ! grep -q "$2" "$1" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
}
cleanup() {
  [ -n "$SRV" ] && kill "$SRV" 2>/dev/null
  [ -n "$BH" ] && kill "$BH" 2>/dev/null
}
trap cleanup EXIT

LIMIT=60
SRV_LIMIT=120
GRACE=3
rc=0
# shellcheck disable=SC2086  # INTERP may be "greenlua --no-patch"
case $T in
  hello|ltn12test|mimetest|urltest|excepttest|stufftest|test_bind|test_getaddrinfo|test_socket_error)
    timeout -k 2 $LIMIT $INTERP "$T.lua" >"$RAW" 2>&1; rc=$? ;;
  udp-zero-length-send|udp-zero-length-send-recv)
    timeout -k 2 $LIMIT $INTERP "$T" >"$RAW" 2>&1; rc=$? ;;
  tcp-getoptions)
    timeout -k 2 $LIMIT $INTERP -e 'unpack = table.unpack' "$T" >"$RAW" 2>&1; rc=$? ;;
  testclnt)
    mkfifo bh.in
    python3 "$TOP/$H/blackhole.py" <bh.in >bh.port 2>bh.err &
    BH=$!
    exec 9>bh.in
    wait_for bh.port '^[0-9]'
    bport=$(cat bh.port)
    sed 's/c:connect("10.0.0.1", 81)/c:connect("127.0.0.1", BLACKHOLE_PORT)/' testclnt.lua >testclnt.tmp && mv testclnt.tmp testclnt.lua
    port=$(free_port)
    start_server $INTERP -e "host = '127.0.0.1'; port = '$port'" testsrvr.lua
    wait_for srv.out 'waiting for client'
    LIMIT=240
    # test_selectbugs opens _SETSIZE + 1 (1025) UDP sockets and expects
    # select to raise on them, as 3.1.0's does past FD_SETSIZE; the green
    # select takes any number by contract. Below 1025 descriptors the test
    # takes its other branch ("unable to create enough sockets") under both.
    ( ulimit -S -n 1000 && exec timeout -k 2 $LIMIT $INTERP \
      -e "host = '127.0.0.1'; port = '$port'; BLACKHOLE_PORT = $bport" \
      -e "dofile('$SHIM')" testclnt.lua ) >"$RAW" 2>&1; rc=$?
    exec 9>&-
    stop_server ;;
  utestclnt)
    start_server $INTERP utestsrvr.lua
    wait_for srv.out 'waiting for client'
    LIMIT=240
    timeout -k 2 $LIMIT $INTERP -e "DEBUG_SHIM_UNIX = true" -e "dofile('$SHIM')" utestclnt.lua >"$RAW" 2>&1; rc=$?
    stop_server ;;
  udpconnect)
    start_server $INTERP udpconnectsrvr.lua
    wait_for srv.out '^getsockname'
    port=$(awk '$1 == "getsockname" { print $3; exit }' srv.out)
    timeout -k 2 $LIMIT $INTERP udpconnectclnt.lua "$port" >"$RAW" 2>&1; rc=$?
    GRACE=1
    stop_server ;;
  unixstream|unixdgram)
    rm -f /tmp/foo /tmp/bar
    start_server $INTERP "${T}srvr.lua"
    sleep 0.5
    printf 'one line\nanother line\n' | timeout -k 2 $LIMIT $INTERP "${T}clnt.lua" >"$RAW" 2>&1; rc=$?
    GRACE=1
    stop_server
    rm -f /tmp/foo /tmp/bar ;;
  *)
    echo "run.sh: unknown test $T" >&2; exit 2 ;;
esac

# Normalise what differs from run to run (timings, ports, addresses, byte
# counts that depend on kernel buffers or on the fds the host holds, getstats_test's math.random sizes
# echoed by the server), the interpreter's name and the host's own frames
# at the bottom of a traceback (greenlua's cli.lua where lua5.4 has [C]: in ?).
{
  cat "$RAW"
  if [ -s srv.out ]; then echo "--- server"; cat srv.out; fi
} | sed -E \
  -e 's/^(lua5\.4|greenlua|[^ :]*\/greenlua(-asan)?|[^ :]*\/lua5\.4): /LUA: /' \
  -e '/^\t(\[C\]: in \?|lib\/green\/.*)$/d' \
  -e 's/done in [0-9.]+s/done in Ts/' \
  -e 's/^str = data:receive\([0-9]+\); data:send\(str\); $/str = data:receive(RANDOM); data:send(str);/' \
  -e 's/0x[0-9a-f]+/0xADDR/g' \
  -e 's/after [0-9]+ bytes were sent/after N bytes were sent/' \
  -e 's/unable to create enough sockets \(max was [0-9]+\)/unable to create enough sockets (max was N)/' \
  -e 's/^(getsockname|se|sc)\t([0-9.:]+)\t[0-9]+\t/\1\t\2\tPORT\t/' \
  -e 's/(127\.0\.0\.1|0\.0\.0\.0)(\t|:| )[0-9]{4,5}/\1\2PORT/g' \
  >"$OUT"
echo "exit=$rc" >>"$OUT"
echo "exit=$rc"
