#!/usr/bin/env bash
# farm_resume.sh — issue #2 item 5: a window that fails every time uses its attempt budget (3) and
# the job ends failed; once the cause is removed, `farm resume` renders only the failed window
# (attempt counts prove it), the verified windows are reused and the job completes.
source "$(dirname "$0")/lib.bash"
need_bins farmd farm-worker farm
use_tcp_endpoint
quick_timing

cat >"$T/shots.csv" <<'CSV'
name,prompt,frames,width,height,engine,window,overlap,outputs
f,resume test,45,64,48,testcard,17,4,ffv1
CSV
start_farmd --max-attempts 3
start_worker w1 --testcard-fail f:1
start_worker w2 --testcard-fail f:1
job=$(submit_id "$T/shots.csv") || fail "submit"
farm wait "$job" --timeout 60; rc=$?
[ $rc = 6 ] || { farm show "$job"; fail "farm wait exited $rc, want 6 (failed)"; }
[ "$(sql "SELECT state FROM job WHERE id=$job")" = failed ] || fail "job not failed"
[ "$(sql "SELECT state || ' ' || attempts_all FROM window WHERE job_id=$job AND idx=1")" = "failed 3" ] \
  || fail "window 1: $(sql "SELECT state, attempts_all FROM window WHERE job_id=$job AND idx=1"), want failed after 3 attempts"
before=$(sql "SELECT group_concat(idx || ':' || attempts_all, ' ') FROM window WHERE job_id=$job AND idx != 1")
artifacts=$(sql "SELECT group_concat(artifact, ' ') FROM window WHERE job_id=$job AND idx != 1")
echo "failed as expected; other windows: $before"

# remove the cause: the same workers again, without the injected failure
for w in w1 w2; do kill "$(worker_pid $w)"; wait "$(worker_pid $w)" 2>/dev/null; done
start_worker w1; start_worker w2
farm resume "$job" || fail "farm resume"
farm wait "$job" --timeout 60 || { farm show "$job"; fail "job did not complete after resume"; }

after=$(sql "SELECT group_concat(idx || ':' || attempts_all, ' ') FROM window WHERE job_id=$job AND idx != 1")
[ "$before" = "$after" ] || fail "verified windows were rendered again: before '$before' after '$after'"
[ "$artifacts" = "$(sql "SELECT group_concat(artifact, ' ') FROM window WHERE job_id=$job AND idx != 1")" ] || fail "artifacts changed"
w1id=$(sql "SELECT id FROM window WHERE job_id=$job AND idx=1")
[ "$(sql "SELECT count(*) FROM attempt WHERE window_id=$w1id AND state='done'")" = 1 ] || fail "window 1: not exactly one done attempt"
[ "$(sql "SELECT count(*) FROM attempt WHERE window_id=$w1id AND state NOT IN ('done','failed') AND fail_class != 'infra'")" = 0 ] \
  || fail "window 1: unexpected attempts: $(sql "SELECT id, state, fail_class FROM attempt WHERE window_id=$w1id")"
[ "$(sql "SELECT count(*) FROM attempt WHERE job_id=$job AND state='done'")" = "$(sql "SELECT count(*) FROM window WHERE job_id=$job")" ] \
  || fail "done attempts != windows"
[ "$(sql "SELECT count(*) FROM attempt WHERE job_id=$job AND state='failed' AND fail_class='window'")" = 3 ] || fail "failed attempts"
check_decode "$(sql "SELECT substr(result, 1, instr(result, char(10)) - 1) FROM shot WHERE job_id=$job")" 45
echo "PASS farm_resume: only window 1 rendered again; attempts of the others unchanged ($after); window 1: $(sql "SELECT group_concat(state, ',') FROM attempt WHERE window_id=$w1id")"
