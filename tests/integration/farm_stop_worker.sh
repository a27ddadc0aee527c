#!/usr/bin/env bash
# farm_stop_worker.sh — issue #2 item 3: SIGSTOP a worker past its lease, then SIGCONT it. The
# window is requeued and rendered by another worker; the stopped worker's late messages for its old
# attempt (the fencing token) are refused and logged as events; the window is recorded done exactly once.
source "$(dirname "$0")/lib.bash"
need_bins farmd farm-worker farm
use_tcp_endpoint
quick_timing

cat >"$T/shots.csv" <<'CSV'
name,prompt,frames,width,height,engine,window,overlap,outputs
s,stop test,17,64,48,testcard,17,4,ffv1
CSV
start_farmd
start_worker w1 --testcard-delay-ms 120
job=$(submit_id "$T/shots.csv") || fail "submit"
# stop w1 late in its render, so that on SIGCONT its result goes out at once
wait_for 20 sql_is "SELECT progress_done FROM window WHERE job_id=$job AND worker_id='w1'" -ge 12 \
  || fail "w1 never progressed"
kill -STOP "$(worker_pid w1)"
old=$(sql "SELECT id FROM attempt WHERE worker_id='w1'")
echo "stopped w1 during attempt $old"
start_worker w2
farm wait "$job" --timeout 60 || { farm show "$job"; fail "job did not complete"; }
[ "$(sql "SELECT state FROM attempt WHERE id=$old")" = lost ] || fail "attempt $old is not lost"
kill -CONT "$(worker_pid w1)"
wait_for 20 sql_is "SELECT count(*) FROM event WHERE kind='refused' AND attempt_id=$old" -ge 1 \
  || fail "no refusal of the stale attempt $old was logged"
sleep 1   # let any further late messages arrive
sql "SELECT kind, detail FROM event WHERE attempt_id=$old ORDER BY id"
[ "$(sql "SELECT count(*) FROM attempt a JOIN window w ON w.id=a.window_id WHERE w.job_id=$job AND a.state='done'")" = 1 ] \
  || fail "window recorded done more than once"
[ "$(sql "SELECT count(*) FROM event WHERE kind='verified' AND job_id=$job")" = 1 ] || fail "more than one verified event"
[ "$(sql "SELECT worker_id FROM attempt WHERE state='done'")" = w2 ] || fail "the done attempt is not w2's"
[ "$(sql "SELECT state FROM attempt WHERE id=$old")" = lost ] || fail "stale attempt changed state"
[ "$(sql "SELECT count(*) FROM shot WHERE job_id=$job AND state='done'")" = 1 ] || fail "shot not done"
echo "PASS farm_stop_worker: stale attempt $old refused, window done once"
