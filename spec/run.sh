#!/bin/sh
# Run every spec file in its own greenlua process (a crash or a stray green
# thread stays inside one file), under busted's TAP output, and end with the
# one summary line CI reads: "N passed, M failed" (and ", K skipped" when a
# test was skipped: busted's pending, e.g. a missing tool; each is named).
# usage: GREENLUA=build/greenlua sh spec/run.sh [spec files...]
# With no files: spec/*_spec.lua (the soak specs in spec/soak/ run only when
# named, as `make soak` does).
GREENLUA=${GREENLUA:-build/greenlua}
BUSTED=${BUSTED:-/usr/bin/busted}
PER_FILE_LIMIT=${PER_FILE_LIMIT:-180}
files=${*:-$(ls spec/*_spec.lua)}
passed=0 failed=0 skipped=0
log=$(mktemp)
for f in $files; do
  timeout -k 5 "$PER_FILE_LIMIT" "$GREENLUA" "$BUSTED" -o TAP "$f" >"$log" 2>&1
  rc=$?
  ok=$(grep -c '^ok ' "$log")
  skip=$(grep -c '^ok [0-9]* - # SKIP' "$log")
  bad=$(grep -c '^not ok ' "$log")
  planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$log" | tail -n 1)
  # a file that died (crash, sanitizer report, timeout) counts its missing tests as failed
  if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
  if [ -n "$planned" ] && [ $((ok + bad)) -lt "$planned" ]; then bad=$((planned - ok)); fi
  if [ "$bad" -gt 0 ] || grep -q 'ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer' "$log"; then
    [ "$bad" -gt 0 ] || bad=1
    echo "--- $f: $((ok - skip)) passed, $bad failed, $skip skipped (exit $rc)"
    grep -v '^ok ' "$log" | head -n 80
  elif [ "$skip" -gt 0 ]; then
    echo "$f: $((ok - skip)) passed, $skip skipped"
  else
    echo "$f: $ok passed"
  fi
  grep '^ok [0-9]* - # SKIP' "$log" | sed 's/^ok [0-9]* - # SKIP/    skipped:/'
  passed=$((passed + ok - skip))
  failed=$((failed + bad))
  skipped=$((skipped + skip))
done
rm -f "$log"
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
