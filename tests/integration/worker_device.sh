#!/usr/bin/env bash
# worker_device.sh — the compute device switch of farm-worker (worker/device.h) as real processes:
# `run` logs the backend line at start-up (auto: the CPU fallback line on a machine without a GPU);
# `--device cuda` without a GPU and unknown names (option or FARM_DEVICE) are usage errors (exit 2)
# with a message naming the option; `render --device cpu` renders on the CPU and says so; the model
# subcommands (`forward`) take --device too. On a machine with a GPU the "no GPU" checks are skipped.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BIN=${FARM_BIN:-bin}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
W=$BIN/farm-worker
[ -x "$W" ] || { echo "skip: $W not built"; exit 77; }
T=$(mktemp -d /tmp/worker_device.XXXXXX)
trap 'kill $wpid 2>/dev/null; rm -rf "$T"' EXIT
wpid=
fail() { echo "FAIL: $*"; exit 1; }
unset FARM_DEVICE

# run: the backend line at start-up (no farmd needed: the worker keeps reconnecting)
"$W" run --name dev1 --outbox "$T/ob" --coordinator "ipc://$T/none" >"$T/run.log" 2>&1 &
wpid=$!
for _ in $(seq 50); do grep -q 'backend ' "$T/run.log" && break; sleep 0.1; done
kill -TERM $wpid; wait $wpid 2>/dev/null; wpid=
grep -Eq 'farm-worker\[dev1\]: backend (cpu: (no CUDA device visible|built without CUDA)|cuda: [0-9]+ GPU)' "$T/run.log" ||
    fail "run does not log the backend line: $(cat "$T/run.log")"
gpu=0; grep -q 'backend cuda:' "$T/run.log" && gpu=1

# unknown names: exit 2, the message names the option or variable
"$W" run --device tpu --outbox "$T/ob" >"$T/o" 2>"$T/e"; rc=$?
[ $rc = 2 ] && grep -q "^farm-worker: --device: 'tpu' is not allowed: cpu, cuda or auto" "$T/e" || fail "--device tpu: rc $rc $(cat "$T/e")"
FARM_DEVICE=tpu "$W" run --outbox "$T/ob" >"$T/o" 2>"$T/e"; rc=$?
[ $rc = 2 ] && grep -q "FARM_DEVICE: 'tpu' is not allowed" "$T/e" || fail "FARM_DEVICE=tpu: rc $rc $(cat "$T/e")"

G=tests/golden/pipeline
if [ $gpu = 0 ]; then   # cuda without a GPU: a clear usage error, never a silent CPU fallback
    "$W" run --device cuda --outbox "$T/ob" >"$T/o" 2>"$T/e"; rc=$?
    [ $rc = 2 ] && grep -q -- "--device: device cuda requested but" "$T/e" || fail "run --device cuda: rc $rc $(cat "$T/e")"
    FARM_DEVICE=cuda "$W" render --model $G/model --prompt x --out "$T/r" >"$T/o" 2>"$T/e"; rc=$?
    [ $rc = 2 ] && grep -q "FARM_DEVICE: device cuda requested but" "$T/e" || fail "render FARM_DEVICE=cuda: rc $rc $(cat "$T/e")"
fi

# render on the CPU, explicitly (over FARM_DEVICE)
FARM_DEVICE=auto "$W" render --device cpu --model $G/model --lora $G/lora.safetensors --prompt "a red ball" --frames 5 \
    --width 32 --height 32 --steps 2 --threads 2 --out "$T/r" >"$T/o" 2>"$T/e" || fail "render --device cpu: $(cat "$T/e")"
grep -q '^render: backend cpu: requested (device cpu)' "$T/e" || fail "render does not log its backend: $(cat "$T/e")"
[ "$(ls "$T/r" | wc -l)" = 5 ] || fail "render --device cpu wrote $(ls "$T/r" | wc -l) frames"

# forward takes --device as well
D=tests/golden/dit
"$W" forward --device cpu --model $D/5b_rope --inputs $D/5b_rope/inputs.safetensors --threads 2 --out "$T/f.st" \
    >"$T/o" 2>"$T/e" || fail "forward --device cpu: $(cat "$T/e")"
grep -q 'backend cpu: requested (device cpu)' "$T/e" || fail "forward does not log its backend"
echo "PASS worker_device: backend line, --device / FARM_DEVICE errors, render and forward on the chosen device"
