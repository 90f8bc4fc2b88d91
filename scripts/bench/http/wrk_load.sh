#!/bin/sh
# One wrk load against a running HTTP server, for run.sh:
#   wrk_load.sh SERVER_PID URL SECONDS WARMUP CONNS
# wrk -t1 -cCONNS (keep-alive, its default) runs WARMUP seconds (not
# counted; 0 = none), then SECONDS measured. The server's utime+stime
# (/proc/PID/stat, all its threads) is read right before and after the
# measured run. Prints one line:
#   <req/s> <server CPU µs per request> <requests> <seconds> <timeouts>
# req/s and requests as wrk reports them. Exits 1 (wrk's output on stderr)
# if wrk failed or counted a non-2xx answer or a connect, read or write
# error: a server that drops connections has no figure. $WRK_PIN (e.g.
# "taskset -c 0") is put in front of wrk.
set -u
[ $# -eq 5 ] || { echo "usage: wrk_load.sh SERVER_PID URL SECONDS WARMUP CONNS" >&2; exit 2; }
pid=$1 url=$2 secs=$3 warm=$4 conns=$5
pin=${WRK_PIN:-}

# utime + stime in clock ticks; the name in (...) may hold spaces.
ticks() { sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }'; }

if [ "$warm" != 0 ]; then
  # shellcheck disable=SC2086  # $pin is words
  $pin wrk -t1 -c"$conns" -d"${warm}s" "$url" >/dev/null 2>&1 || { echo "wrk_load: warm-up failed" >&2; exit 1; }
fi
t0=$(ticks) || exit 1
# shellcheck disable=SC2086
out=$($pin wrk -t1 -c"$conns" -d"${secs}s" "$url" 2>&1)
rc=$?
t1=$(ticks) || exit 1
if [ $rc != 0 ]; then
  printf '%s\n' "$out" >&2
  exit 1
fi
printf '%s\n' "$out" | awk -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" '
  /requests in/ { n = $1; s = $4; sub(/s,$/, "", s) }
  /^Requests\/sec:/ { rps = $2 }
  /Socket errors:/ { gsub(/,/, ""); bad += $4 + $6 + $8; to = $10 }
  /Non-2xx/ { bad += $NF }
  END {
    if (n == "" || rps == "" || n == 0) { print "wrk_load: no figures from wrk" > "/dev/stderr"; exit 1 }
    if (bad > 0) { print "wrk_load: " bad " errors (non-2xx, connect, read or write)" > "/dev/stderr"; exit 1 }
    printf "%.1f %.3f %d %s %d\n", rps, (t1 - t0) / hz * 1e6 / n, n, s, to + 0
  }' || { printf '%s\n' "$out" >&2; exit 1; }
