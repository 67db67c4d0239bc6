#!/usr/bin/env bash
# Runs every libFuzzer target in Fuzz/ for FUZZ_SECONDS each (default 600), after replaying the kept crashers
# in Fuzz/regressions/<target>/ (each must now pass). Seeds: Fuzz/corpus/<target>/; the growing corpus lives in
# .build/fuzz/corpus/<target>; a new crash is written to Fuzz/crashes/<target>/ and stops the run (exit 1).
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-600}
TARGETS=${FUZZ_TARGETS:-"FuzzPayloadDecoder FuzzTopicTemplate FuzzConfigLoader FuzzCheckpointLoader FuzzRecordingReader"}
OUT=.build/fuzz
status=0
for target in $TARGETS; do
  if [ -d "Fuzz/regressions/$target" ] && [ -n "$(ls -A "Fuzz/regressions/$target")" ]; then
    "$OUT/$target" -runs=0 "Fuzz/regressions/$target"/* >/dev/null 2>&1 || { echo "$target: a kept crasher fails again"; status=1; }
  fi
  mkdir -p "$OUT/corpus/$target" "Fuzz/crashes/$target"
  start=$(date +%s)
  "$OUT/$target" "$OUT/corpus/$target" "Fuzz/corpus/$target" -max_total_time="$SECONDS_EACH" -max_len=65536 \
    -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 -artifact_prefix="Fuzz/crashes/$target/" \
    -print_final_stats=1 >"$OUT/$target.log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/$target.log" | grep -o '[0-9]*$')
  echo "$target: $(( $(date +%s) - start )) s, ${runs:-?} runs, exit $rc$( [ $rc -ne 0 ] && echo " (see $OUT/$target.log and Fuzz/crashes/$target)")"
  [ $rc -ne 0 ] && status=1
done
exit $status
