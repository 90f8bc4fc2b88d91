#!/bin/sh
# The LuaSocket benchmark (make bench-luasocket; make bench runs it too):
# Debian's socket.http.request, sequential GETs without keep-alive, against
# the C hello-world server (scripts/bench/http/hello_server.c, built by
# http.mk), the same client script (client.lua) under greenlua (the green
# socket.core) and under plain lua5.4 (Debian's real LuaSocket), in the same
# run, interleaved round by round so that noise hits both alike. Prints a
# Markdown table (medians of the rounds, the ratio green/real; the target is
# at least 0.8x) and writes it to build/bench-luasocket.md; raw samples in
# build/bench-luasocket/. Exits non-zero if a run failed.
# Knobs: GREENLUA (build/greenlua), LUA (lua5.4), LS_RUNS (5 rounds),
# LS_REQUESTS (1000 per run), LS_WARMUP (50).
set -u
cd "$(dirname "$0")/../../.." || exit 1
GREENLUA=${GREENLUA:-build/greenlua}
LUA=${LUA:-lua5.4}
RUNS=${LS_RUNS:-5}
N=${LS_REQUESTS:-1000}
W=${LS_WARMUP:-50}
S=build/bench-luasocket
OUT=build/bench-luasocket.md
BIN=build/bench-bin
rm -rf "$S"
mkdir -p "$S"
failed=0

if ! make -s -f scripts/bench/http/http.mk c >"$S/build.log" 2>&1; then
  echo "bench-luasocket: FAILED: building hello_server (make -f scripts/bench/http/http.mk c)" >&2
  sed 's/^/  /' "$S/build.log" >&2
  exit 1
fi
if ! "$LUA" -e 'require "socket.http"' 2>/dev/null; then
  echo "bench-luasocket: FAILED: $LUA has no socket.http (Debian's lua-socket)" >&2
  exit 1
fi

# the server on CPU 1, the clients on CPU 0, when there are two
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
  SRV_PIN="taskset -c 1"; CLI_PIN="taskset -c 0"; pinning="server on CPU 1, client on CPU 0"
else
  SRV_PIN=""; CLI_PIN=""; pinning="not pinned"
fi
$SRV_PIN "$BIN/hello_server" >"$S/server.out" 2>"$S/server.err" &
SRV=$!
trap 'kill $SRV 2>/dev/null; wait $SRV 2>/dev/null' EXIT
trap 'exit 130' INT TERM
n=0
while [ ! -s "$S/server.out" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
PORT=$(head -n 1 "$S/server.out")
case $PORT in ''|*[!0-9]*) echo "bench-luasocket: FAILED: hello_server did not start" >&2; exit 1 ;; esac
URL="http://127.0.0.1:$PORT/"

one() {  # KEY COMMAND...
  key=$1; shift
  if out=$(timeout -k 5 300 $CLI_PIN "$@" "$URL" "$N" "$W" 2>"$S/$key.err") && [ -n "$out" ]; then
    echo "$out" >>"$S/$key"
  else
    echo "bench-luasocket: FAILED: $*" >&2
    sed 's/^/  /' "$S/$key.err" >&2
    failed=1
  fi
}

i=1
while [ "$i" -le "$RUNS" ]; do
  echo "bench-luasocket: round $i/$RUNS: $N requests each, greenlua then lua5.4" >&2
  one green "$GREENLUA" scripts/bench/luasocket/client.lua
  one real "$LUA" scripts/bench/luasocket/client.lua
  # the next round starts after the server's TIME_WAITs of this one settle a little
  sleep 1
  i=$((i + 1))
done

median() {  # FILE: the median of the first column
  sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
[ -s "$S/green" ] && [ -s "$S/real" ] || { echo "bench-luasocket: no figures" >&2; exit 1; }
g=$(median "$S/green")
r=$(median "$S/real")
ratio=$(awk -v g="$g" -v r="$r" 'BEGIN { printf "%.2f", g / r }')
# each round's own ratio (the two runs of a round are seconds apart, so
# they share the machine's load): their median is the steadier figure
paired=$(paste -d' ' "$S/green" "$S/real" | awk '{ printf "%.2f\n", $1 / $4 }' | sort -n |
  awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
gall=$(cut -d' ' -f1 "$S/green" | tr '\n' ' ' | sed 's/ $//')
rall=$(cut -d' ' -f1 "$S/real" | tr '\n' ' ' | sed 's/ $//')
{
  echo "LuaSocket: Debian's socket.http.request, sequential GETs, no keep-alive, against scripts/bench/http/hello_server.c"
  echo "($(date -u +%Y-%m-%d), $(nproc) CPUs, $pinning, $RUNS rounds of $N requests after $W warm-up; load $(cut -d' ' -f1-3 /proc/loadavg))"
  echo
  echo "| client | requests/s (median) | rounds |"
  echo "|---|---:|---|"
  echo "| greenlua, green socket.core | $g | $gall |"
  echo "| lua5.4, Debian's real LuaSocket | $r | $rall |"
  echo "| ratio green / real (target >= 0.8): of the medians | ${ratio}x | |"
  echo "| ratio green / real: median of the rounds' own ratios | ${paired}x | |"
} | tee "$OUT"
exit "$failed"
