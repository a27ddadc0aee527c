#!/usr/bin/env bash
# worker_outbox_restart.sh — the worker's durable outbox across restarts:
# (1) farmd is killed (-9) while a worker renders; the worker finishes, keeps the result in its
#     outbox, reconnects to the restarted farmd and uploads it; the job completes, the window is
#     verified by exactly one done attempt, the outbox ends empty, PRAGMA integrity_check is ok.
# (2) a worker is killed (-9) while its finished result waits for farmd's ACK (farmd SIGSTOPped);
#     restarted under the same name, it finds the result in its outbox and re-sends it until farmd
#     answers (accepted or refused as stale); the outbox ends empty and the window is done once.
source "$(dirname "$0")/lib.bash"
need_bins farmd farm-worker farm
need_cmds sqlite3
FD_OPTS=(--heartbeat-ms 200 --backoff-ms 50 --grace-ms 1500)
start_farmd "${FD_OPTS[@]}"
sub() { printf 'name,prompt,frames,engine,width,height,window,overlap\n%s,x,9,testcard,64,48,9,0\n' "$1" >"$T/$1.csv"
        submit_id "$T/$1.csv"; }
done_attempts() { sql "select count(*) from attempt a join window w on a.window_id=w.id join shot s on w.shot_id=s.id where s.job_id=$1 and a.state='done'"; }
outbox_n() { ls "$FARM_HOME/outbox-$1" 2>/dev/null | grep -c '\.meta$'; }
outbox_empty() { [ "$(outbox_n "$1")" = 0 ]; }

# (1) farmd dies mid-window
start_worker w1 --testcard-delay-ms 400
job=$(sub r1)
wait_for 15 grep -q "window 0 of shot r1" "$T/worker-w1.log" || fail "w1 did not start"
kill_farmd KILL
note "farmd killed while w1 renders"
wait_for 10 grep -q "attempt .*: uploaded" "$T/worker-w1.log" || fail "w1 did not finish its window"
[ "$(outbox_n w1)" = 1 ] || fail "the finished result is not in w1's outbox"
start_farmd "${FD_OPTS[@]}"
farm wait "$job" --timeout 30 >/dev/null || { farm show "$job"; fail "job $job did not complete after the farmd restart"; }
wait_for 5 outbox_empty w1 || fail "w1's outbox was not emptied by the ACK"
[ "$(done_attempts "$job")" = 1 ] || fail "window done $(done_attempts "$job") times"
[ "$(sql 'PRAGMA integrity_check')" = ok ] || fail "integrity_check"
note "(1) result kept in the outbox across the farmd restart and delivered once"

# (2) the worker dies while its result waits for the ACK
kill -TERM "$(worker_pid w1)"; wait "$(worker_pid w1)"
start_worker w2 --testcard-delay-ms 300
job2=$(sub r2)
wait_for 15 grep -q "window 0 of shot r2" "$T/worker-w2.log" || fail "w2 did not start"
kill -STOP "$FARMD_PID"
wait_for 10 grep -q "attempt .*: uploaded" "$T/worker-w2.log" || fail "w2 did not finish"
[ "$(outbox_n w2)" = 1 ] || fail "w2's result is not in its outbox"
{ kill -KILL "$(worker_pid w2)"; wait "$(worker_pid w2)"; } 2>/dev/null
kill -CONT "$FARMD_PID"
start_worker w2 --testcard-delay-ms 300
wait_for 5 grep -q "(1 result waiting)" "$T/worker-w2.log" || fail "restarted w2 did not find its outbox entry"
farm wait "$job2" --timeout 30 >/dev/null || { farm show "$job2"; fail "job $job2 did not complete"; }
wait_for 10 outbox_empty w2 || fail "w2's outbox was not emptied after the restart"
[ "$(done_attempts "$job2")" = 1 ] || fail "window of job $job2 done $(done_attempts "$job2") times"
note "(2) restarted worker re-sent its outbox entry: $(grep -o 'result [a-z (),]*removed from the outbox' "$T/worker-w2.log" | tail -1)"
