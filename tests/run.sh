#!/usr/bin/env bash
# Runs every test `make test` owns: unit binaries (build/tests/test_*), then the integration,
# parity and decode-back scripts (tests/integration/*.sh), each with a time limit.
# Prints one line per test and closes with "N passed, N failed[, N skipped]".
# A script exits 77 to say "skipped" (for example a GPU test without a GPU) and prints why.
set -u
cd "$(dirname "$0")/.."
pass=0; fail=0; skip=0; failed=()
logdir=build/test-logs; mkdir -p "$logdir"
run_one() {  # name, timeout, command...
  local name=$1 tmo=$2; shift 2
  local t0=$(date +%s) rc
  timeout --kill-after=10 "$tmo" "$@" >"$logdir/$name.log" 2>&1; rc=$?
  local dt=$(( $(date +%s) - t0 ))
  if [ $rc -eq 0 ]; then pass=$((pass+1)); printf 'PASS %-40s %4ss\n' "$name" "$dt"
  elif [ $rc -eq 77 ]; then skip=$((skip+1)); printf 'SKIP %-40s %s\n' "$name" "$(tail -n1 "$logdir/$name.log")"
  else fail=$((fail+1)); failed+=("$name"); printf 'FAIL %-40s %4ss (rc %d)\n' "$name" "$dt" "$rc"
       tail -n 30 "$logdir/$name.log" | sed 's/^/    | /'; fi
}
filter=${1:-}
for t in build/tests/test_*; do
  [ -x "$t" ] || continue
  n=$(basename "$t"); [ -n "$filter" ] && [[ $n != *$filter* ]] && continue
  run_one "$n" 600 "$t"
done
for s in tests/integration/*.sh; do
  [ -f "$s" ] || continue
  n=$(basename "$s" .sh); [ -n "$filter" ] && [[ $n != *$filter* ]] && continue
  run_one "$n" 900 bash "$s"
done
echo
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]} (logs in $logdir)"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
