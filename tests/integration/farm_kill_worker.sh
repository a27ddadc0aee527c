#!/usr/bin/env bash
# farm_kill_worker.sh — issue #2 item 2: `kill -9` a worker mid-window; the window renders on
# another worker, the shot completes, and the lost attempt is recorded as an infrastructure failure
# (no attempt budget used).
source "$(dirname "$0")/lib.bash"
need_bins farmd farm-worker farm
use_tcp_endpoint
quick_timing

cat >"$T/shots.csv" <<'CSV'
name,prompt,frames,width,height,engine,window,overlap,outputs
k,kill test,45,64,48,testcard,17,4,ffv1
CSV
start_farmd
start_worker w1 --testcard-delay-ms 150
job=$(submit_id "$T/shots.csv") || fail "submit"
wait_for 20 sql_is "SELECT count(*) FROM attempt WHERE worker_id='w1' AND state='running'" = 1 \
  || fail "w1 never got a window"
sleep 0.5
victim=$(sql "SELECT window_id FROM attempt WHERE worker_id='w1' AND state='running'")
kill -9 "$(worker_pid w1)"; wait "$(worker_pid w1)" 2>/dev/null
echo "killed w1 while it rendered window id $victim"
start_worker w2
farm wait "$job" --timeout 60 || { farm show "$job"; fail "job did not complete"; }

lost=$(sql "SELECT count(*) FROM attempt WHERE worker_id='w1' AND window_id=$victim AND state='lost' AND fail_class='infra'")
[ "$lost" = 1 ] || fail "the killed attempt is not recorded as lost/infra: $(sql "SELECT id,state,fail_class,reason FROM attempt WHERE worker_id='w1'")"
by=$(sql "SELECT worker_id FROM attempt WHERE window_id=$victim AND state='done'")
[ "$by" = w2 ] || fail "window $victim was completed by '$by', want w2"
[ "$(sql "SELECT attempts_used FROM window WHERE id=$victim")" = 0 ] || fail "infrastructure failure used attempt budget"
[ "$(sql "SELECT count(*) FROM event WHERE kind='attempt-lost' AND window_id=$victim")" = 1 ] || fail "no attempt-lost event"
[ "$(sql "SELECT state FROM job WHERE id=$job")" = done ] || fail "job not done"
check_decode "$(sql "SELECT substr(result, 1, instr(result, char(10)) - 1) FROM shot WHERE job_id=$job")" 45
echo "PASS farm_kill_worker: $(sql "SELECT reason FROM attempt WHERE worker_id='w1' AND state='lost'")"
