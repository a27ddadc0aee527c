#!/usr/bin/env bash
# farm_e2e.sh — issue #2 item 1: farmd + 3 testcard workers render a 4-shot list (1 frame, 300
# frames and two others) to done; every output file decodes with exactly the requested frame count.
source "$(dirname "$0")/lib.bash"
need_bins farmd farm-worker farm
use_tcp_endpoint
quick_timing

cat >"$T/shots.csv" <<'CSV'
name,prompt,frames,width,height,fps,seed,engine,window,overlap,outputs,priority
single,one frame,1,64,48,8,1,testcard,49,8,ffv1,0
long,three hundred frames,300,64,48,24,2,testcard,49,8,ffv1 prores4444,0
mid,forty nine,49,64,48,8,3,testcard,49,8,prores4444,5
odd,seventy seven,77,48,32,12,4,testcard,17,4,ffv1,0
CSV

start_farmd
for w in w1 w2 w3; do start_worker $w; done
out=$(farm submit "$T/shots.csv") || fail "submit: $out"
echo "$out"
job=$(echo "$out" | sed -n 's/^job \([0-9]*\) submitted.*/\1/p')
[ -n "$job" ] || fail "no job id in: $out"
farm wait "$job" --timeout 240 || { farm show "$job"; fail "job $job did not complete"; }

[ "$(sql "SELECT state FROM job WHERE id=$job")" = done ] || fail "job not done"
[ "$(sql "SELECT count(*) FROM shot WHERE job_id=$job AND state='done'")" = 4 ] || fail "not all shots done"
[ "$(sql "SELECT count(*) FROM window WHERE job_id=$job AND state!='verified'")" = 0 ] || fail "unverified windows"
used=$(sql "SELECT count(DISTINCT worker_id) FROM attempt WHERE job_id=$job AND state='done'")
echo "windows rendered by $used workers"
[ "$used" -ge 2 ] || fail "expected the work spread over several workers, got $used"

n=0
while IFS='|' read -r name frames result; do
  for f in $(echo "$result" | tr '\n' ' '); do
    case $f in
      *.png) [ -s "$f" ] || fail "missing contact sheet $f" ;;
      *) check_decode "$f" "$frames"; n=$((n + 1)) ;;
    esac
  done
done < <(sql "SELECT name, frames, replace(result, char(10), ' ') FROM shot WHERE job_id=$job ORDER BY idx")
[ $n -eq 5 ] || fail "expected 5 output files, checked $n"
farm show "$job" >/dev/null || fail "farm show"
echo "PASS farm_e2e: 4 shots, $n outputs with exact frame counts"
