#!/usr/bin/env bash
# worker_drain.sh — SIGTERM drains a worker: (1) one SIGTERM mid-window: the worker finishes the
# window, uploads it, waits for the ACK and exits 0; the window is done by that attempt. (2) two
# SIGTERMs: the window is handed back at once (FAIL class infra, no attempt budget used), the worker
# exits 0 and another worker renders the window.
source "$(dirname "$0")/lib.bash"
need_bins farmd farm-worker farm
start_farmd --heartbeat-ms 200 --backoff-ms 50
printf 'name,prompt,frames,engine,width,height,window,overlap\nd1,x,9,testcard,64,48,9,0\n' >"$T/a.csv"
printf 'name,prompt,frames,engine,width,height,window,overlap\nd2,x,9,testcard,64,48,9,0\n' >"$T/b.csv"

running_with_progress() {   # JOB: the window runs and reported at least one frame
  [ "$(job_field "$1" "j['shots'][0]['windows'][0]['state']")" = running ] &&
  [ "$(job_field "$1" "j['shots'][0]['windows'][0]['progress_done']")" -ge 1 ]
}

# (1) one SIGTERM: finish, upload, exit 0
start_worker w1 --testcard-delay-ms 150
job=$(submit_id "$T/a.csv")
wait_for 15 running_with_progress "$job" || fail "w1 never started the window"
t0=$(date +%s%N)
kill -TERM "$(worker_pid w1)"
wait "$(worker_pid w1)"; rc=$?
[ $rc -eq 0 ] || fail "drained worker exited $rc"
farm wait "$job" --timeout 20 >/dev/null || fail "job $job did not finish after the drain"
[ "$(job_field "$job" "j['shots'][0]['windows'][0]['attempts_total']")" = 1 ] || fail "drain used more than one attempt"
[ -z "$(ls -A "$FARM_HOME/outbox-w1" 2>/dev/null)" ] || fail "outbox not empty after the drain"
grep -q "draining" "$T/worker-w1.log" || fail "no drain message"
note "drain: w1 finished its window and exited 0 after $(( ($(date +%s%N) - t0) / 1000000 )) ms"

# (2) two SIGTERMs: hand back now
start_worker w2 --testcard-delay-ms 500
job2=$(submit_id "$T/b.csv")
wait_for 15 running_with_progress "$job2" || fail "w2 never started the window"
kill -TERM "$(worker_pid w2)"; sleep 0.1; kill -TERM "$(worker_pid w2)"
t0=$(date +%s%N)
wait "$(worker_pid w2)"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $rc -eq 0 ] || fail "handback worker exited $rc"
[ $ms -lt 2000 ] || fail "handback took $ms ms"
grep -q "handed back" "$T/worker-w2.log" || fail "no handback FAIL sent"
start_worker w3
farm wait "$job2" --timeout 30 >/dev/null || fail "job $job2 did not finish on w3"
[ "$(job_field "$job2" "j['shots'][0]['windows'][0]['attempts']")" = 0 ] || fail "handback used attempt budget"
[ "$(job_field "$job2" "j['shots'][0]['windows'][0]['worker']")" = w3 ] || fail "window not rendered by w3"
note "handback: w2 exited 0 in $ms ms, w3 rendered the window, no budget used"
