#!/bin/sh
# Run every spec file in its own greenlua process (a crash or a stray green
# thread stays inside one file), under busted's TAP output, and end with the
# one summary line CI reads: "N passed, M failed".
# usage: GREENLUA=build/greenlua sh spec/run.sh [spec files...]
# With no files: spec/*_spec.lua (the soak specs in spec/soak/ run only when
# named, as `make soak` does).
GREENLUA=${GREENLUA:-build/greenlua}
BUSTED=${BUSTED:-/usr/bin/busted}
PER_FILE_LIMIT=${PER_FILE_LIMIT:-180}
files=${*:-$(ls spec/*_spec.lua)}
passed=0 failed=0
log=$(mktemp)
for f in $files; do
  timeout -k 5 "$PER_FILE_LIMIT" "$GREENLUA" "$BUSTED" -o TAP "$f" >"$log" 2>&1
  rc=$?
  ok=$(grep -c '^ok ' "$log")
  bad=$(grep -c '^not ok ' "$log")
  planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$log" | tail -n 1)
  # a file that died (crash, sanitizer report, timeout) counts its missing tests as failed
  if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
  if [ -n "$planned" ] && [ $((ok + bad)) -lt "$planned" ]; then bad=$((planned - ok)); fi
  if [ "$bad" -gt 0 ] || grep -q 'ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer' "$log"; then
    [ "$bad" -gt 0 ] || bad=1
    echo "--- $f: $ok passed, $bad failed (exit $rc)"
    grep -v '^ok ' "$log" | head -n 80
  else
    echo "$f: $ok passed"
  fi
  passed=$((passed + ok))
  failed=$((failed + bad))
done
rm -f "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
