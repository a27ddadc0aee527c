#!/usr/bin/env bash
# farm_control.sh — operator verbs end to end: `farm pause` stops new assignments (running windows
# finish), `farm unpause` resumes them, `farm cancel` tells the running worker to stop (CANCEL) and
# ends the job cancelled (`farm wait` exits 7), `farm resume` brings the cancelled windows back and
# reuses the verified ones; `farm retry` on a done job is refused.
source "$(dirname "$0")/lib.bash"
need_bins farmd farm-worker farm
use_tcp_endpoint
quick_timing

cat >"$T/shots.csv" <<'CSV'
name,prompt,frames,width,height,engine,window,overlap,outputs
c,control test,61,64,48,testcard,17,4,ffv1
CSV
start_farmd
start_worker w1 --testcard-delay-ms 60
job=$(submit_id "$T/shots.csv") || fail "submit"
total=$(sql "SELECT count(*) FROM window WHERE job_id=$job")

# pause while the first window renders: it finishes, nothing new is assigned
wait_for 20 sql_is "SELECT count(*) FROM window WHERE job_id=$job AND state='running'" = 1 || fail "no window started"
farm pause "$job" || fail "farm pause"
[ "$(sql "SELECT state FROM job WHERE id=$job")" = paused ] || fail "job not paused"
wait_for 20 sql_is "SELECT count(*) FROM window WHERE job_id=$job AND state='running'" = 0 || fail "running window did not finish"
sleep 1
n_att=$(sql "SELECT count(*) FROM attempt WHERE job_id=$job")
[ "$n_att" = 1 ] || fail "$n_att attempts while paused, want 1"
farm pause "$job" 2>/dev/null && fail "pausing a paused job should be refused"
farm unpause "$job" || fail "farm unpause"

# cancel while a window renders: the worker is told to stop
wait_for 20 sql_is "SELECT count(*) FROM window WHERE job_id=$job AND state='running'" = 1 || fail "nothing running after unpause"
victim=$(sql "SELECT attempt_id FROM window WHERE job_id=$job AND state='running'")
farm cancel "$job" || fail "farm cancel"
farm wait "$job" --timeout 20; rc=$?
[ $rc = 7 ] || fail "farm wait exited $rc for a cancelled job, want 7"
[ "$(sql "SELECT state FROM attempt WHERE id=$victim")" = cancelled ] || fail "attempt $victim not cancelled"
wait_for 10 grep -q "attempt $victim: cancelled by farmd" "$T/worker-w1.log" || fail "the worker was not told to stop"
verified=$(sql "SELECT count(*) FROM window WHERE job_id=$job AND state='verified'")
[ "$(sql "SELECT count(*) FROM window WHERE job_id=$job AND state='cancelled'")" = $((total - verified)) ] || fail "windows not cancelled"

# resume: only the cancelled windows render; the verified ones are reused
farm resume "$job" || fail "farm resume"
farm wait "$job" --timeout 60 || { farm show "$job"; fail "job did not complete after resume"; }
dups=$(sql "SELECT count(*) FROM (SELECT window_id FROM attempt WHERE job_id=$job AND state='done' GROUP BY window_id HAVING count(*) > 1)")
[ "$dups" = 0 ] || fail "verified windows rendered again"
[ "$(sql "SELECT count(*) FROM attempt WHERE job_id=$job AND state='done'")" = "$total" ] || fail "done attempts != windows"
farm retry "$job" 2>/dev/null && fail "retry of a done job should be refused"
check_decode "$(sql "SELECT substr(result, 1, instr(result, char(10)) - 1) FROM shot WHERE job_id=$job")" 61
echo "PASS farm_control: pause, unpause, cancel ($verified of $total windows kept), resume"
