#!/usr/bin/env bash
# worker_hang.sh — --testcard-hang: the worker goes silent on that window (no heartbeat, no
# progress); farmd's lease expires, the window renders on another worker, the job completes; the
# hung worker still exits 0 at once on SIGTERM and never uploads the hung window.
source "$(dirname "$0")/lib.bash"
need_bins farmd farm-worker farm
start_farmd --heartbeat-ms 200 --backoff-ms 50
printf 'name,prompt,frames,engine,width,height,window,overlap\nh,x,9,testcard,64,48,9,0\n' >"$T/h.csv"
start_worker w1 --testcard-hang h:0
job=$(submit_id "$T/h.csv")
wait_for 10 grep -q "window 0 of shot h" "$T/worker-w1.log" || fail "w1 never got the window"
start_worker w2
farm wait "$job" --timeout 30 >/dev/null || { farm show "$job"; fail "the hung window was not rendered elsewhere"; }
[ "$(job_field "$job" "j['shots'][0]['windows'][0]['worker']")" = w2 ] || fail "window not rendered by w2"
grep -q "uploaded" "$T/worker-w1.log" && fail "the hung worker uploaded something"
kill -0 "$(worker_pid w1)" || fail "w1 died while hanging"
t0=$(date +%s%N)
kill -TERM "$(worker_pid w1)"; wait "$(worker_pid w1)"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $rc -eq 0 ] && [ $ms -lt 3000 ] || fail "hung worker exit $rc after $ms ms"
note "hung window requeued after the lease and rendered by w2; w1 exited 0 in $ms ms"
