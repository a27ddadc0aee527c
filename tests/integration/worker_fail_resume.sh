#!/usr/bin/env bash
# worker_fail_resume.sh — issue #2 item 5 from the CLI's side: a window that fails every time
# (--testcard-fail) ends its job failed (`farm wait` exits 6, `farm logs` shows why); after the cause
# is removed (a worker without the flag) `farm resume` renders only the failed window (attempt
# counts prove it) and the job completes (`farm wait` exits 0). Also `farm cancel` -> wait exits 7.
source "$(dirname "$0")/lib.bash"
need_bins farmd farm-worker farm
start_farmd --heartbeat-ms 200 --backoff-ms 50 --backoff-max-ms 100 --max-attempts 2
cat >"$T/shots.csv" <<'CSV'
name,prompt,frames,engine,width,height,window,overlap,outputs
good,x,17,testcard,64,48,9,4,ffv1
bad,x,17,testcard,64,48,9,4,ffv1
CSV
start_worker w1 --testcard-fail bad:1
job=$(submit_id "$T/shots.csv")
farm wait "$job" --timeout 60 >/dev/null; rc=$?
[ $rc -eq 6 ] || { farm show "$job"; fail "wait on a failing job exited $rc, want 6"; }
farm logs "$job" --window bad:1 >"$T/logs.txt" || fail "farm logs"
grep -q "fails by request" "$T/logs.txt" || { cat "$T/logs.txt"; fail "logs do not show the failure reason"; }
farm --json logs "$job" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["logs"], d' || fail "logs --json"
counts() { farm --json show "$job" | python3 -c '
import json,sys
j=json.load(sys.stdin)["job"]
print(" ".join("%s:%d=%s/%d" % (s["name"], w["idx"], w["state"], w["attempts_total"]) for s in j["shots"] for w in s["windows"]))'; }
before=$(counts)
note "failed: $before"
echo "$before" | grep -q "bad:1=failed/2" || fail "bad:1 did not use its budget of 2"

kill -TERM "$(worker_pid w1)"; wait "$(worker_pid w1)"
start_worker w2
resume_ms=$(( $(date +%s%N) / 1000000 ))
farm resume "$job" >/dev/null || fail "farm resume"
farm wait "$job" --timeout 60 >/dev/null || { farm show "$job"; fail "job did not complete after resume"; }
note "resumed: $(counts)"
# attempts started after the resume: all on bad:1, exactly one of them done
farm --json logs "$job" | python3 -c '
import json,sys
t=int(sys.argv[1]); logs=json.load(sys.stdin)["logs"]
late=[a for a in logs if a["started_ms"] >= t]
assert late and all((a["shot"], a["window"]) == ("bad", 1) for a in late), late
assert sum(a["state"] == "done" for a in late) == 1, late
old=[a for a in logs if a["started_ms"] < t]
assert sum(a["state"] == "done" for a in old) == 5 and sum(a["state"] == "failed" for a in old) == 2, old
' "$resume_ms" || fail "resume re-rendered more than the failed window"
farm show "$job" | grep -q "result: .*bad.ffv1.mkv" || fail "no output for the resumed shot"

# cancel -> wait exits 7
farm pause "$job" >/dev/null 2>&1   # a done job: farmd refuses, that is fine
printf 'name,prompt,frames,engine,width,height\nc,x,9,testcard,64,48\n' >"$T/c.csv"
kill -TERM "$(worker_pid w2)"; wait "$(worker_pid w2)"
job2=$(submit_id "$T/c.csv")
farm cancel "$job2" >/dev/null || fail "farm cancel"
farm wait "$job2" --timeout 20 >/dev/null; rc=$?
[ $rc -eq 7 ] || fail "wait on a cancelled job exited $rc, want 7"
note "cancel: wait exited 7"
