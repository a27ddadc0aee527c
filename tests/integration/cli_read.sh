#!/usr/bin/env bash
# cli_read.sh — the read commands against a real farmd and worker: `ls`, `show`, `workers`, `logs`
# print tables, and with --json documents that parse and say the same thing; `watch JOB` on a pipe
# prints plain progress lines and exits 0 when the job ends; `watch --json` prints one JSON document
# per line; pause/unpause work and `farm` answers exit 3 when farmd is gone.
source "$(dirname "$0")/lib.bash"
need_bins farmd farm-worker farm
start_farmd --heartbeat-ms 200
start_worker w1 --testcard-delay-ms 40
job=$(submit_id "$ROOT/ops/examples/testcard.csv")
[ "$job" = 1 ] || fail "first job id is '$job'"
farm watch "$job" --interval-ms 200 >"$T/watch.txt" 2>"$T/watch.err" &
wpid=$!
farm --json watch "$job" --interval-ms 300 >"$T/watch.json" 2>/dev/null &
jpid=$!
farm pause "$job" >"$T/pause.txt" || fail "pause"
farm --json show "$job" | python3 -c 'import json,sys; assert json.load(sys.stdin)["job"]["state"]=="paused"' || fail "not paused"
farm unpause "$job" >/dev/null || fail "unpause"
farm wait "$job" --timeout 120 >/dev/null || { farm show "$job"; fail "job did not finish"; }
wait $wpid || fail "watch exited non-zero"
wait $jpid || fail "watch --json exited non-zero"
grep -q "job $job running" "$T/watch.txt" || { cat "$T/watch.txt"; fail "watch printed no running line"; }
tail -n1 "$T/watch.txt" | grep -q "job $job done 100.0%" || { tail -3 "$T/watch.txt"; fail "watch did not end with done"; }
grep -q $'\033' "$T/watch.txt" && fail "escape codes on a pipe"
python3 - "$T/watch.json" <<'PY' || fail "watch --json lines"
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
assert len(docs) >= 2 and docs[-1]["job"]["state"] == "done" and docs[-1]["job"]["progress_pct"] == 100, docs[-1]
PY
# ls / show / workers / logs: text and JSON agree
farm ls >"$T/ls.txt" && farm --json ls >"$T/ls.json" || fail "ls"
farm show "$job" >"$T/show.txt" && farm show "$job" --json >"$T/show.json" || fail "show"
farm workers >"$T/workers.txt" && farm workers --json >"$T/workers.json" || fail "workers"
farm logs "$job" >"$T/logs.txt" && farm logs "$job" --json >"$T/logs.json" || fail "logs"
python3 - "$T" "$job" <<'PY' || fail "JSON and text disagree"
import json, sys
T, job = sys.argv[1], int(sys.argv[2])
ls = json.load(open(T + "/ls.json"))["jobs"]
assert [j["id"] for j in ls] == [job] and ls[0]["state"] == "done" and ls[0]["n_shots"] == 4
lst = open(T + "/ls.txt").read().split("\n")[1].split()
assert lst[0] == str(job) and lst[1] == "done" and lst[2] == "4" and lst[3] == "%d/%d" % (ls[0]["windows"]["verified"], ls[0]["windows"]["total"])
show = json.load(open(T + "/show.json"))["job"]
txt = open(T + "/show.txt").read()
assert [s["name"] for s in show["shots"]] == ["single_frame", "long_take", "short_smoke", "glass_ui"]
for s in show["shots"]:
    assert ("shot %s  done" % s["name"]) in txt, s["name"]
    assert sum(w["n"] for w in s["windows"]) >= s["frames"]
    for r in s["result"]:
        assert ("result: " + r) in txt
    assert all(w["state"] == "verified" and w["worker"] == "w1" for w in s["windows"])
ws = json.load(open(T + "/workers.json"))["workers"]
assert [w["id"] for w in ws] == ["w1"] and ws[0]["engines"] == "testcard,dit" and ws[0]["n_gpus"] == 0
assert "w1" in open(T + "/workers.txt").read()
logs = json.load(open(T + "/logs.json"))["logs"]
assert len(logs) == sum(len(s["windows"]) for s in show["shots"])
assert open(T + "/logs.txt").read().count("== attempt") == len(logs)
PY
kill_farmd TERM
farm --timeout-ms 300 ls >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 3 ] || fail "ls without farmd exited $rc, want 3"
grep -q "did not answer" "$T/err" || fail "no unreachable message"
note "read commands, JSON, watch and exit codes ok"
