#!/bin/sh
# One wrk load against a running HTTP server, for run.sh:
#   wrk_load.sh SERVER_PID URL SECONDS WARMUP CONNS
# wrk -t1 -cCONNS (keep-alive, its default) runs WARMUP seconds (not
# counted; 0 = none), then SECONDS measured. The server's utime+stime
# (/proc/PID/stat, all its threads) is read right before and after the
# measured run; wrk's own is what the shell's `times` says its children
# used across that run. Prints one line:
#   <req/s> <server CPU µs/request> <requests> <seconds> <timeouts> <wrk CPU µs/request>
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
# user + system seconds of this shell's finished children (`times`' 2nd
# line). `times` runs in this shell (a subshell has no children yet), its
# output through a file.
tf=$(mktemp) || exit 1
trap 'rm -f "$tf"' EXIT
children() {
  awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } print t }' "$tf"
}

if [ "$warm" != 0 ]; then
  # shellcheck disable=SC2086  # $pin is words
  $pin wrk -t1 -c"$conns" -d"${warm}s" "$url" >/dev/null 2>&1 || { echo "wrk_load: warm-up failed" >&2; exit 1; }
fi
times >"$tf"
w0=$(children)
t0=$(ticks) || exit 1
# shellcheck disable=SC2086
out=$($pin wrk -t1 -c"$conns" -d"${secs}s" "$url" 2>&1)
rc=$?
t1=$(ticks) || exit 1
times >"$tf"
w1=$(children)
if [ $rc != 0 ]; then
  printf '%s\n' "$out" >&2
  exit 1
fi
printf '%s\n' "$out" | awk -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" -v w0="$w0" -v w1="$w1" '
  /requests in/ { n = $1; s = $4; sub(/s,$/, "", s) }
  /^Requests\/sec:/ { rps = $2 }
  /Socket errors:/ { gsub(/,/, ""); bad += $4 + $6 + $8; to = $10 }
  /Non-2xx/ { bad += $NF }
  END {
    if (n == "" || rps == "" || n == 0) { print "wrk_load: no figures from wrk" > "/dev/stderr"; exit 1 }
    if (bad > 0) { print "wrk_load: " bad " errors (non-2xx, connect, read or write)" > "/dev/stderr"; exit 1 }
    printf "%.1f %.3f %d %s %d %.3f\n", rps, (t1 - t0) / hz * 1e6 / n, n, s, to + 0, (w1 - w0) * 1e6 / n
  }' || { printf '%s\n' "$out" >&2; exit 1; }
