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

echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$S/meta.txt"
echo "bench: done in $(( $(date +%s) - started )) s" >&2
"$LUA" $B/table.lua "$S" || failed=1
exit "$failed"
