#!/bin/sh
# make bench-watchdog: what turning the watchdog on costs. The switch and
# spawn rows of make bench (scripts/bench/switch.lua green, spawn.lua
# spawn_n) and the HTTP hello world (scripts/bench/http/hello.lua under
# wrk -t1 -cCONNS), each run with GREENLUA_WATCHDOG=1 and without it, in
# the same run: ROUNDS (5) rounds alternate off and on (which goes first
# alternates too) so that noise on a shared machine hits both alike. Prints
# each sample on stderr, then a table of medians and the ratio on/off
# (time: on/off, lower is better; req/s: off/on). Target: under 1.05.
# Knobs: GREENLUA, ROUNDS, HTTP=0 (skip the HTTP row), HTTP_SECONDS (5),
# HTTP_CONNS (100), LIMIT (seconds per process, 120).
set -u
cd "$(dirname "$0")/../../.." || exit 1
GREENLUA=${GREENLUA:-build/greenlua}
ROUNDS=${ROUNDS:-5}
HTTP=${HTTP:-1}
HTTP_SECONDS=${HTTP_SECONDS:-5}
HTTP_CONNS=${HTTP_CONNS:-100}
LIMIT=${LIMIT:-120}
B=scripts/bench
S=build/bench/watchdog
rm -rf "$S"
mkdir -p "$S"
if [ "$HTTP" != 0 ] && ! command -v wrk >/dev/null 2>&1; then
  echo "bench-watchdog: wrk not found (make bench-deps installs it): no HTTP row" >&2
  HTTP=0
fi

# with MODE CMD...: CMD with the watchdog on (MODE=on) or off.
with() {
  mode=$1
  shift
  if [ "$mode" = on ]; then set -- GREENLUA_WATCHDOG=1 "$@"; else set -- -u GREENLUA_WATCHDOG "$@"; fi
  timeout -k 5 "$LIMIT" env "$@"
}

# http MODE: req/s of a fresh hello.lua server under wrk.
http() {
  rm -f "$S/srv"
  with "$1" "$GREENLUA" $B/http/hello.lua >"$S/srv" 2>"$S/srv.err" &
  pid=$!
  n=0
  while [ ! -s "$S/srv" ] && [ $n -lt 100 ] && kill -0 $pid 2>/dev/null; do sleep 0.05; n=$((n + 1)); done
  port=$(head -n 1 "$S/srv")
  out=$(wrk -t1 -c"$HTTP_CONNS" -d"${HTTP_SECONDS}s" "http://127.0.0.1:$port/" 2>&1)
  kill $pid 2>/dev/null
  wait $pid 2>/dev/null
  printf '%s\n' "$out" | awk '/^Requests\/sec:/ { print $2 }'
}

# sample KEY MODE CMD...: one figure (CMD a function: 'with' bounds it) (the command's only output line) into $S/KEY.MODE.
sample() {
  key=$1 mode=$2
  shift 2
  if v=$("$@" 2>>"$S/$key.$mode.err") && [ -n "$v" ]; then
    echo "$v" >>"$S/$key.$mode"
    echo "  $key $mode: $v" >&2
  else
    echo "bench-watchdog: FAILED: $key $mode: $*" >&2
    sed 's/^/  /' "$S/$key.$mode.err" >&2
    failed=1
  fi
}

failed=0
i=1
while [ "$i" -le "$ROUNDS" ]; do
  echo "bench-watchdog: round $i/$ROUNDS" >&2
  if [ $((i % 2)) = 1 ]; then order="off on"; else order="on off"; fi
  for m in $order; do sample switch "$m" with "$m" "$GREENLUA" $B/switch.lua green; done
  for m in $order; do sample spawn "$m" with "$m" "$GREENLUA" $B/spawn.lua spawn_n; done
  if [ "$HTTP" != 0 ]; then
    for m in $order; do sample http "$m" http "$m"; done
  fi
  i=$((i + 1))
done

median() { sort -g "$1" | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo "| watchdog (median of $ROUNDS rounds) | off | GREENLUA_WATCHDOG=1 | cost (on/off) |"
echo "|---|---|---|---|"
row() {  # row KEY LABEL higher_is_better
  [ -s "$S/$1.off" ] && [ -s "$S/$1.on" ] || return 0
  awk -v off="$(median "$S/$1.off")" -v on="$(median "$S/$1.on")" -v label="$2" -v hib="$3" 'BEGIN {
    r = hib ? off / on : on / off
    printf "| %s | %s | %s | %.3f%s |\n", label, off, on, r, r < 1.05 ? "" : " (over the 1.05 target)"
  }'
}
row switch "switch, ns per switch" 0
row spawn "spawn_n, ns per thread" 0
row http "HTTP hello, req/s (wrk -t1 -c$HTTP_CONNS, ${HTTP_SECONDS} s)" 1
exit $failed
