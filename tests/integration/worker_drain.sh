#!/usr/bin/env bash
# worker_drain.sh — SIGTERM drains a worker: (1) one SIGTERM mid-window: the worker finishes the
# window, uploads it, waits for the ACK and exits 0; the window is done by that attempt. (2) two
# SIGTERMs: the window is handed back at once (FAIL class infra, no attempt budget used), the worker
# exits 0 and another worker renders the window.
set -u
source "$(dirname "$0")/../../ops/testlib.sh"
t_need_bins farmd farm-worker farm
start_farmd --heartbeat-ms 200 --backoff-ms 50
printf 'name,prompt,frames,engine,width,height,window,overlap\nd1,x,9,testcard,64,48,9,0\n' >"$T/a.csv"
printf 'name,prompt,frames,engine,width,height,window,overlap\nd2,x,9,testcard,64,48,9,0\n' >"$T/b.csv"

running_with_progress() {   # JOB: the window runs and reported at least one frame
  [ "$(job_field "$1" "j['shots'][0]['windows'][0]['state']")" = running ] &&
  [ "$(job_field "$1" "j['shots'][0]['windows'][0]['progress_done']")" -ge 1 ]
}

# (1) one SIGTERM: finish, upload, exit 0
start_worker w1 --testcard-delay-ms 150
job=$(farm --json submit "$T/a.csv" | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
wait_for 15 running_with_progress "$job" || t_fail "w1 never started the window"
t0=$(date +%s%N)
kill -TERM "$(worker_pid w1)"
wait "$(worker_pid w1)"; rc=$?
[ $rc -eq 0 ] || t_fail "drained worker exited $rc"
farm wait "$job" --timeout 20 >/dev/null || t_fail "job $job did not finish after the drain"
[ "$(job_field "$job" "j['shots'][0]['windows'][0]['attempts_total']")" = 1 ] || t_fail "drain used more than one attempt"
[ -z "$(ls -A "$FARM_HOME/outbox-w1" 2>/dev/null)" ] || t_fail "outbox not empty after the drain"
grep -q "draining" "$T/worker-w1.log" || t_fail "no drain message"
t_log "drain: w1 finished its window and exited 0 after $(( ($(date +%s%N) - t0) / 1000000 )) ms"

# (2) two SIGTERMs: hand back now
start_worker w2 --testcard-delay-ms 500
job2=$(farm --json submit "$T/b.csv" | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
wait_for 15 running_with_progress "$job2" || t_fail "w2 never started the window"
kill -TERM "$(worker_pid w2)"; sleep 0.1; kill -TERM "$(worker_pid w2)"
t0=$(date +%s%N)
wait "$(worker_pid w2)"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $rc -eq 0 ] || t_fail "handback worker exited $rc"
[ $ms -lt 2000 ] || t_fail "handback took $ms ms"
grep -q "handed back" "$T/worker-w2.log" || t_fail "no handback FAIL sent"
start_worker w3
farm wait "$job2" --timeout 30 >/dev/null || t_fail "job $job2 did not finish on w3"
[ "$(job_field "$job2" "j['shots'][0]['windows'][0]['attempts']")" = 0 ] || t_fail "handback used attempt budget"
[ "$(job_field "$job2" "j['shots'][0]['windows'][0]['worker']")" = w3 ] || t_fail "window not rendered by w3"
t_log "handback: w2 exited 0 in $ms ms, w3 rendered the window, no budget used"
