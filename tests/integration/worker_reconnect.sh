#!/usr/bin/env bash
# worker_reconnect.sh — a worker started before farmd reconnects with capped exponential backoff
# (delays double up to --reconnect-max-ms and stay there), is registered as soon as farmd is up and
# renders; after farmd is stopped and started again it registers again without being restarted.
source "$(dirname "$0")/lib.bash"
need_bins farmd farm-worker farm
start_worker w1 --heartbeat-ms 100 --reconnect-ms 50 --reconnect-max-ms 400
sleep 4
delays=$(grep -o 'reconnecting in [0-9]* ms' "$T/worker-w1.log" | awk '{print $3}' | tr '\n' ' ')
note "backoff while farmd is absent: $delays"
python3 - "$delays" <<'PY' || fail "backoff is not capped exponential: $delays"
import sys
d = [int(x) for x in sys.argv[1].split()]
assert len(d) >= 4 and d[:4] == [50, 100, 200, 400], d
assert all(x == 400 for x in d[3:]), d
PY
start_farmd --heartbeat-ms 200
wait_for 10 sh -c "'$BIN/farm' --json workers | grep -q '\"w1\"'" || fail "w1 did not register after farmd started"
printf 'name,prompt,frames,engine,width,height\nr,x,5,testcard,64,48\n' >"$T/r.csv"
job=$(submit_id "$T/r.csv")
farm wait "$job" --timeout 30 >/dev/null || fail "job did not complete"
kill_farmd TERM
sleep 1.5
start_farmd --heartbeat-ms 200
printf 'name,prompt,frames,engine,width,height\ns,x,5,testcard,64,48\n' >"$T/s.csv"
job2=$(submit_id "$T/s.csv")
farm wait "$job2" --timeout 30 >/dev/null || fail "w1 did not come back after the farmd restart"
note "w1 registered after a late farmd start and again after a farmd restart"
