#!/usr/bin/env bash
# farm_bar.sh — a worker that fails 3 windows of a job is kept off that job (and failures retry
# elsewhere with backoff): w1 fails everything it gets, w2 is healthy; the job completes, w1 has
# exactly 3 failed attempts in it and no window used more than its budget.
source "$(dirname "$0")/lib.bash"
need_bins farmd farm-worker farm
use_tcp_endpoint
quick_timing

cat >"$T/shots.csv" <<'CSV'
name,prompt,frames,width,height,engine,window,overlap,outputs
bar,bar test,49,32,32,testcard,9,2,ffv1
CSV
start_farmd --max-attempts 5 --max-job-fails 3
start_worker w1 --testcard-fail 'bar:*'
wait_for 10 grep -q 'worker w1 ready' "$T/farmd.1.log" || fail "w1 not registered"
job=$(submit_id "$T/shots.csv") || fail "submit"
wait_for 20 sql_is "SELECT count(*) FROM attempt WHERE worker_id='w1' AND state='failed'" -ge 3 || fail "w1 did not fail 3 windows"
start_worker w2
farm wait "$job" --timeout 60 || { farm show "$job"; fail "job did not complete"; }
n=$(sql "SELECT count(*) FROM attempt WHERE job_id=$job AND worker_id='w1'")
[ "$n" = 3 ] || fail "w1 got $n attempts of the job, want exactly 3 (then barred)"
[ "$(sql "SELECT count(*) FROM attempt WHERE job_id=$job AND worker_id='w1' AND state='failed' AND fail_class='window'")" = 3 ] || fail "w1's attempts are not window failures"
[ "$(sql "SELECT max(attempts_used) FROM window WHERE job_id=$job")" -le 1 ] || fail "a window used more budget than w1's one failure"
echo "PASS farm_bar: w1 barred after 3 failed windows; $(sql "SELECT count(*) FROM window WHERE job_id=$job") windows done by w2"
