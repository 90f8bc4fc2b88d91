#!/bin/sh
# make bench-workers: the hello world of scripts/bench/http/hello.lua
# (green.wsgi, no access log) under wrk -t2 -c200 (keep-alive), served by
# one greenlua process and by `greenlua --workers 2`, RUNS (5) rounds that
# alternate the two so that noise on a shared machine hits both alike;
# each round WARMUP s (not counted) then SECONDS_ s measured. Prints each
# round, the medians and the ratio (--workers 2 over one process).
# Nothing is pinned: the two workers need both cores, and wrk's two
# threads share them (on a 2-core machine the client takes a good part of
# what the second worker could have had; the ratio says so honestly).
# A round in which wrk counts an error (connect, read, write, timeout,
# non-2xx) fails the benchmark.
set -u
cd "$(dirname "$0")/../../.." || exit 1
GREENLUA=${GREENLUA:-build/greenlua}
RUNS=${RUNS:-5}
SECS=${SECONDS_:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-200}
command -v wrk >/dev/null 2>&1 || { echo "bench-workers: wrk not found (make bench-deps)" >&2; exit 1; }
S=build/bench/workers
mkdir -p "$S"
SERVER_PID=""
stop() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null
  n=0
  while kill -0 "$SERVER_PID" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
  kill -KILL "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=""
}
trap stop EXIT
trap 'exit 130' INT TERM

# one KIND: start the server (KIND "single" or "workers2"), load it, print req/s.
one() {
  rm -f "$S/srv.out"
  if [ "$1" = workers2 ]; then
    "$GREENLUA" --workers 2 scripts/bench/http/hello.lua 0 >"$S/srv.out" 2>"$S/srv.err" &
  else
    "$GREENLUA" scripts/bench/http/hello.lua 0 >"$S/srv.out" 2>"$S/srv.err" &
  fi
  SERVER_PID=$!
  want=1
  [ "$1" = workers2 ] && want=2
  n=0
  while [ "$(cat "$S/srv.out" 2>/dev/null | wc -l)" -lt $want ] && [ $n -lt 200 ]; do
    sleep 0.05
    n=$((n + 1))
  done
  port=$(head -n 1 "$S/srv.out")
  case $port in
    ''|*[!0-9]*) echo "bench-workers: the $1 server did not start" >&2; cat "$S/srv.err" >&2; return 1 ;;
  esac
  url="http://127.0.0.1:$port/"
  [ "$WARMUP" != 0 ] && wrk -t2 -c"$CONNS" -d"${WARMUP}s" "$url" >/dev/null 2>&1
  out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" "$url" 2>&1) || { printf '%s\n' "$out" >&2; stop; return 1; }
  stop
  printf '%s\n' "$out" | awk '
    /^Requests\/sec:/ { rps = $2 }
    /Socket errors:/ { gsub(/,/, ""); bad += $4 + $6 + $8 + $10 }
    /Non-2xx/ { bad += $NF }
    END {
      if (rps == "") { print "bench-workers: no figures from wrk" > "/dev/stderr"; exit 1 }
      if (bad > 0) { print "bench-workers: " bad " errors" > "/dev/stderr"; exit 1 }
      print rps
    }' || { printf '%s\n' "$out" >&2; return 1; }
}

single=""
multi=""
i=1
while [ "$i" -le "$RUNS" ]; do
  a=$(one single) || exit 1
  b=$(one workers2) || exit 1
  echo "round $i: one process ${a} req/s, --workers 2 ${b} req/s" >&2
  single="$single $a"
  multi="$multi $b"
  i=$((i + 1))
done
median() { printf '%s\n' $1 | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ms=$(median "$single")
mm=$(median "$multi")
awk -v s="$ms" -v m="$mm" -v runs="$RUNS" -v secs="$SECS" -v c="$CONNS" -v cpus="$(nproc)" 'BEGIN {
  printf "| hello world, wrk -t2 -c%d, %d s, median of %d rounds | req/s |\n|---|---|\n", c, secs, runs
  printf "| one greenlua process | %.0f |\n", s
  printf "| greenlua --workers 2 | %.0f |\n", m
  printf "\nratio (--workers 2 / one process): %.2fx on %d CPUs, wrk sharing them, not pinned\n", m / s, cpus
}'
