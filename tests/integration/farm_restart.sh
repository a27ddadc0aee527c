#!/usr/bin/env bash
# farm_restart.sh — issue #2 item 4: `kill -9` farmd mid-job and start it again on the same
# FARM_HOME. Live workers reconnect and report within the grace period; the job completes; no
# window is lost or recorded twice; PRAGMA integrity_check is ok.
source "$(dirname "$0")/lib.bash"
need_bins farmd farm-worker farm
use_tcp_endpoint
quick_timing

cat >"$T/shots.csv" <<'CSV'
name,prompt,frames,width,height,engine,window,overlap,outputs
r1,restart a,81,64,48,testcard,17,4,ffv1
r2,restart b,49,64,48,testcard,17,4,ffv1
CSV
start_farmd
for w in w1 w2 w3; do start_worker $w --testcard-delay-ms 40; done
job=$(submit_id "$T/shots.csv") || fail "submit"
total=$(sql "SELECT count(*) FROM window WHERE job_id=$job")
wait_for 30 sql_is "SELECT count(*) FROM window WHERE job_id=$job AND state='verified'" -ge 2 || fail "no progress"
running=$(sql "SELECT count(*) FROM attempt WHERE state='running'")
kill_farmd KILL
echo "killed farmd with $running attempts running, $(sql "SELECT count(*) FROM window WHERE state='verified'")/$total windows verified"
sleep 1
start_farmd --grace-ms 5000
farm wait "$job" --timeout 90 || { farm show "$job"; fail "job did not complete after the restart"; }

[ "$(sql 'PRAGMA integrity_check')" = ok ] || fail "integrity_check"
[ "$(sql "SELECT count(*) FROM window WHERE job_id=$job AND state='verified'")" = "$total" ] || fail "not all windows verified"
dups=$(sql "SELECT count(*) FROM (SELECT window_id FROM attempt WHERE state='done' GROUP BY window_id HAVING count(*) > 1)")
[ "$dups" = 0 ] || fail "$dups windows recorded done more than once"
[ "$(sql "SELECT count(*) FROM event WHERE kind='verified' AND job_id=$job")" = "$total" ] || fail "verified events != windows"
[ "$(sql "SELECT count(*) FROM attempt WHERE state='running'")" = 0 ] || fail "attempts left running"
sql "SELECT count(*) || ' attempts: ' || group_concat(state || '/' || fail_class) FROM attempt" 
for f in $(sql "SELECT substr(result, 1, instr(result, char(10)) - 1) || '|' || frames FROM shot WHERE job_id=$job"); do
  check_decode "${f%|*}" "${f#*|}"
done
echo "PASS farm_restart: $total windows, each verified exactly once across a farmd kill -9"
