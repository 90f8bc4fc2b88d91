#!/bin/sh
# scripts/bench/ops/run.sh NEW BASE [RUNS [SWITCHES [SPAWNS]]]: the switch
# and spawn rows, NEW and BASE alternating in each round (noise on a shared
# machine hits both alike), each a fresh process printing ns per op; then
# one line per row: the medians and NEW/BASE. Exits 1 if a run failed.
set -u
NEW=$1 BASE=$2 RUNS=${3:-7} N=${4:-1000000} M=${5:-1000000}
B=scripts/bench
S=build/bench/ops
rm -rf "$S" && mkdir -p "$S"
failed=0
# both binaries on one CPU: a process that migrates between the two cores
# of a small VM swings by half (seen here: 330 against 500 ns a spawn)
PIN=
if command -v taskset >/dev/null 2>&1 && taskset -c 1 true 2>/dev/null; then PIN="taskset -c 1"; fi
one() {  # KEY BIN ARGS...: append one sample to $S/KEY
  key=$1; shift
  if out=$(timeout -k 5 120 $PIN "$@" 2>"$S/$key.err") && [ -n "$out" ]; then
    printf '%s\n' "$out" >>"$S/$key"
  else
    echo "bench-ops: FAILED: $*" >&2; sed 's/^/  /' "$S/$key.err" >&2; failed=1
  fi
}
rows="switch:$B/switch.lua:green:$N spawn_n:$B/spawn.lua:spawn_n:$M spawn_wait_all:$B/spawn.lua:spawn_wait_all:$M spawn_wait_loop:$B/spawn.lua:spawn_wait_loop:$M"
i=1
while [ "$i" -le "$RUNS" ]; do
  echo "bench-ops: round $i/$RUNS" >&2
  for r in $rows; do
    IFS=: read -r name script mode count <<EOR
$r
EOR
    # alternate which binary goes first, so neither always runs warm
    if [ $((i % 2)) -eq 1 ]; then
      one "$name.new" "$NEW" "$script" "$mode" "$count"; one "$name.base" "$BASE" "$script" "$mode" "$count"
    else
      one "$name.base" "$BASE" "$script" "$mode" "$count"; one "$name.new" "$NEW" "$script" "$mode" "$count"
    fi
  done
  i=$((i + 1))
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '| row (ns/op, median of %s) | base %s | this | this/base |\n|---|---|---|---|\n' "$RUNS" "$(basename "$(dirname "$(dirname "$BASE")")")"
for r in $rows; do
  name=${r%%:*}
  [ -s "$S/$name.new" ] && [ -s "$S/$name.base" ] || continue
  a=$(median "$S/$name.base") b=$(median "$S/$name.new")
  printf '| %s | %s | %s | %s |\n' "$name" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')"
done
exit "$failed"
