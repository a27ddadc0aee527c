#!/usr/bin/env bash
# farm_curve.sh — CURVE between farm processes, with real processes over TCP: farmd with its keypair
# and a clients folder; a worker and the CLI with allowed keys render a job; a worker and a CLI with a
# key farmd does not know, a plain client, a wrong server key, bad key files and half a configuration
# are each refused with a message that names the fix; a key copied into the clients folder while
# farmd runs is let in without a restart; the frames on the wire are not plain text.
source "$(dirname "$0")/lib.bash"
need_bins farmd farm-worker farm
use_tcp_endpoint
quick_timing

for k in farmd w1 ops late intruder; do farm keygen "$k" >/dev/null || fail "keygen $k"; done
K=$FARM_HOME/keys
mkdir -p "$K/clients"
cp "$K/w1.public" "$K/ops.public" "$K/clients/"
export FARM_CURVE_KEY=ops FARM_CURVE_SERVER=farmd     # the CLI's keys (farmd reads FARMD_CURVE_KEY)

# farmd refuses half a configuration and bad key files before it binds
"$BIN/farmd" --bind "$FARM_COORDINATOR" --home "$FARM_HOME" --curve-key nosuch >"$T/bad1.log" 2>&1 &&
  fail "farmd started with a missing key"
grep -q "cannot read CURVE key '.*nosuch.secret'" "$T/bad1.log" || { cat "$T/bad1.log"; fail "missing key: no clear error"; }
echo "not a key" >"$K/broken.secret"
"$BIN/farmd" --bind "$FARM_COORDINATOR" --home "$FARM_HOME" --curve-key broken >"$T/bad2.log" 2>&1 &&
  fail "farmd started with a broken key"
grep -q "is not a CURVE key: expected 40 Z85 characters" "$T/bad2.log" || { cat "$T/bad2.log"; fail "broken key: no clear error"; }
"$BIN/farmd" --bind "$FARM_COORDINATOR" --home "$FARM_HOME" --curve-clients "$K/clients" >"$T/bad3.log" 2>&1 &&
  fail "farmd started with --curve-clients alone"
grep -q "needs --curve-key" "$T/bad3.log" || { cat "$T/bad3.log"; fail "half a configuration: no clear error"; }

start_farmd --curve-key farmd
grep -qF "CURVE on: public key $(cat "$K/farmd.public"); 2 client key(s)" "$T/farmd.1.log" || { cat "$T/farmd.1.log"; fail "no CURVE start-up line"; }
start_worker w1 --curve-key w1 --curve-server farmd
start_worker intruder --curve-key intruder --curve-server farmd
FARM_CURVE_KEY= FARM_CURVE_SERVER= start_worker plain
wait_for 10 sql_is "SELECT count(*) FROM worker WHERE id='w1'" = 1 || fail "the allowed worker did not register"

cat >"$T/shots.csv" <<'CSV'
name,prompt,frames,width,height,fps,seed,engine,window,overlap,outputs
secret,over curve,20,32,24,8,1,testcard,9,2,ffv1
CSV
job=$(submit_id "$T/shots.csv") || fail "submit over CURVE"
farm wait "$job" --timeout 60 >/dev/null || { farm show "$job"; fail "job $job did not complete over CURVE"; }
echo "ok: job $job rendered over CURVE"

# who got in: only w1; the refused ones say why in their logs, farmd names their keys
wait_for 10 grep -qF "farmd refused this client's CURVE key $(cat "$K/intruder.public")" "$T/worker-intruder.log" ||
  { cat "$T/worker-intruder.log"; fail "the refused worker does not say why"; }
[ "$(grep -c "farmd refused" "$T/worker-intruder.log")" = 1 ] || fail "the refusal is logged more than once"
wait_for 10 grep -q "it probably requires CURVE" "$T/worker-plain.log" || { cat "$T/worker-plain.log"; fail "the plain worker does not say why"; }
grep -qF "refused a CURVE client from 127.0.0.1: key $(cat "$K/intruder.public")" "$T/farmd.1.log" ||
  fail "farmd does not name the refused key"
[ "$(sql "SELECT group_concat(id) FROM worker")" = w1 ] || fail "workers known to farmd: $(sql "SELECT group_concat(id) FROM worker")"
[ "$(sql "SELECT count(DISTINCT worker_id) FROM attempt WHERE job_id=$job")" = 1 ] || fail "a refused worker got work"

# the CLI: refused key (exit 4), plain (3), wrong server key (3), half a configuration / bad file (2)
expect() {   # expect CODE PATTERN CMD...
  local code=$1 pat=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  [ "$rc" = "$code" ] || fail "'$*' exited $rc, want $code: $out"
  echo "$out" | grep -q -- "$pat" || fail "'$*' said '$out', want '$pat'"
  echo "ok: exit $code: $(echo "$out" | head -1 | cut -c1-110)"
}
expect 4 "copy .*intruder.public into farmd's clients folder" farm --curve-key intruder ls
expect 3 "it probably requires CURVE" env FARM_CURVE_KEY= FARM_CURVE_SERVER= "$BIN/farm" ls
expect 3 "check that --curve-server is farmd's public key" farm --curve-server w1 --timeout-ms 3000 ls
expect 2 "is set but --curve-server is not" env FARM_CURVE_SERVER= "$BIN/farm" ls
cp "$K/ops.secret" "$K/mixed.secret"; cp "$K/w1.public" "$K/mixed.public"
expect 2 "are not one keypair" farm --curve-key mixed ls
expect 2 "cannot read CURVE key" farm --curve-key nosuch ls

# a key added while farmd runs is let in at its next handshake
expect 4 "farmd refused" farm --curve-key late ls
cp "$K/late.public" "$K/clients/"
farm --curve-key late ls >/dev/null || fail "a key copied into the clients folder was not let in"
echo "ok: late.public let in without a restart"

# on the wire: a relay between the CLI and farmd records every byte; the shot list's prompt must not
# be in them. Control: the same relay in front of a plain farmd does see it (the check can fail).
cat >"$T/relay.py" <<'PY'
import socket, sys, threading
lport, dport, out = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "ab", buffering=0)
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", lport)); srv.listen(8)
def pump(a, b):
    while (d := a.recv(65536)):
        out.write(d); b.sendall(d)
    b.close()
while True:
    c, _ = srv.accept(); u = socket.create_connection(("127.0.0.1", dport))
    for a, b in ((c, u), (u, c)): threading.Thread(target=pump, args=(a, b), daemon=True).start()
PY
relay_submit() {   # relay_submit TARGET_ENDPOINT CAPTURE [farm options...]: submits shots.csv through a relay
  local target=$1 cap=$2 rport; shift 2
  rport=$(free_port)
  python3 "$T/relay.py" "$rport" "${target##*:}" "$cap" & local rp=$!; PIDS+=("$rp")
  wait_for 5 python3 -c "import socket; socket.create_connection(('127.0.0.1', $rport))" || fail "relay did not start"
  farm --coordinator "tcp://127.0.0.1:$rport" "$@" submit "$T/shots.csv" >/dev/null || fail "submit through the relay"
  kill "$rp"; wait "$rp" 2>/dev/null
}
sed -i 's/over curve/plaintext-canary-prompt/; s/^secret,/canary,/' "$T/shots.csv"
relay_submit "$FARM_COORDINATOR" "$T/wire-curve.bin"
[ -s "$T/wire-curve.bin" ] || fail "the relay captured nothing"
grep -q "plaintext-canary-prompt" "$T/wire-curve.bin" && fail "the prompt crossed the wire in plain text"
plain_port=$(free_port); mkdir -p "$T/plain-home"
"$BIN/farmd" --bind "tcp://127.0.0.1:$plain_port" --home "$T/plain-home" >"$T/farmd-plain.log" 2>&1 & PIDS+=("$!")
FARM_CURVE_KEY= FARM_CURVE_SERVER= wait_for 10 "$BIN/farm" --coordinator "tcp://127.0.0.1:$plain_port" --timeout-ms 200 ls ||
  fail "plain farmd did not start"
FARM_CURVE_KEY= FARM_CURVE_SERVER= relay_submit "tcp://127.0.0.1:$plain_port" "$T/wire-plain.bin"
grep -q "plaintext-canary-prompt" "$T/wire-plain.bin" || fail "control: the relay did not see the plain prompt"
echo "ok: the prompt is not on the wire with CURVE ($(stat -c %s "$T/wire-curve.bin") bytes relayed); without CURVE it is"
echo "PASS farm_curve"
