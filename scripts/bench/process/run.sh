#!/bin/sh
# make bench-process: N (1000) green.process.run{"true"} against a C loop of
# posix_spawn + waitpid of the same "true", in the same run. ROUNDS (5)
# rounds alternate the two so that noise on a shared machine hits both
# alike; prints each round, the medians and the ratio (C's time over
# greenlua's: greenlua's share of C's processes per second; target >= 0.7).
set -u
cd "$(dirname "$0")/../../.." || exit 1
GREENLUA=${GREENLUA:-build/greenlua}
N=${N:-1000}
ROUNDS=${ROUNDS:-5}
C=build/bench-bin/spawn_loop
[ -x "$C" ] || { echo "bench-process: $C missing (make bench-process builds it)" >&2; exit 1; }
green=""
c=""
i=1
while [ "$i" -le "$ROUNDS" ]; do
  tc=$("$C" "$N") || exit 1
  tg=$("$GREENLUA" scripts/bench/process/bench.lua "$N") || exit 1
  echo "round $i: C posix_spawn+waitpid ${tc}s, green.process.run ${tg}s" >&2
  c="$c $tc"
  green="$green $tg"
  i=$((i + 1))
done
median() { printf '%s\n' $1 | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
mc=$(median "$c")
mg=$(median "$green")
awk -v n="$N" -v c="$mc" -v g="$mg" 'BEGIN {
  printf "| %d processes (median of rounds) | seconds | processes/s |\n|---|---|---|\n", n
  printf "| C posix_spawn + waitpid | %.3f | %.0f |\n", c, n / c
  printf "| green.process.run{\"true\"} | %.3f | %.0f |\n", g, n / g
  printf "\nratio (green / C): %.2fx (target >= 0.7x)\n", c / g
}'
