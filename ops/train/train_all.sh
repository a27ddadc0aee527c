#!/usr/bin/env bash
# Retrain the bundled demo model from scratch into ops/models/demo/ (issue #7; `make demo-model`).
# Stages: tokenizer + frozen T5 (seconds), VAE, latent encoding + DiT with TransPixar extensions
# (EMA weights saved), then the quality program on the held-out prompts: the Python reference
# pipeline (figures -> $W/quality.json, contact sheet -> tests/quality/contact_sheet.png), the VAE
# round trip of the true clips (the ceiling, -> $W/quality_vae.json) and, when
# ${FARM_BIN:-bin}/farm-worker exists, the C engine (-> $W/quality_c.json).
# Each stage's wall and CPU seconds are appended to $W/times.txt.
# Environment: FARM_REFENV (venv with ops/train/requirements.txt, default ~/.cache/farm-refenv),
# DEMO_THREADS (torch threads, default 2; use 1 on an oversubscribed machine), DEMO_NICE (niceness
# of the stages, default 10), DEMO_MODEL_DIR (output, default ops/models/demo), DEMO_WORK_DIR
# (checkpoints, default build/demo-train), VAE_STEPS / DIT_STEPS / DIT_CLIPS (sizes),
# VAE_MINUTES / DIT_MINUTES (wall-clock caps, 0 = none: a cap cuts the cosine schedule short).
# Each stage checkpoints under $W and resumes from there; delete it to start over.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${FARM_REFENV:-$HOME/.cache/farm-refenv}/bin/python"
if [ ! -x "$PY" ]; then
    echo "train_all: no python at $PY; run: bash tests/reference/setup.sh" >&2
    exit 1
fi
export DEMO_WORK_DIR="${DEMO_WORK_DIR:-build/demo-train}"
export DEMO_MODEL_DIR="${DEMO_MODEL_DIR:-ops/models/demo}"
W=$DEMO_WORK_DIR
M=$DEMO_MODEL_DIR
mkdir -p "$W" "$M"
run() {
    local name=$1; shift
    echo "== $name: $*"
    /usr/bin/time -a -o "$W/times.txt" -f "$name %e s wall %U s user %S s sys" \
        nice -n "${DEMO_NICE:-10}" "$PY" "$@"
}
echo "== train_all $(date -u +%FT%TZ) threads ${DEMO_THREADS:-2}" >> "$W/times.txt"
run text ops/train/train_text.py
run vae ops/train/train_vae.py --steps "${VAE_STEPS:-1500}" --max-minutes "${VAE_MINUTES:-0}"
run dit ops/train/train_dit.py --steps "${DIT_STEPS:-8000}" --clips "${DIT_CLIPS:-1024}" \
    --max-minutes "${DIT_MINUTES:-0}"
rm -rf "$W/quality" "$W/quality_vae" "$W/quality_c"
run sample tests/quality/sample_ref.py "$W/quality" --model "$M"
run judge tests/quality/quality.py "$W/quality" --json "$W/quality.json" \
    --contact tests/quality/contact_sheet.png || echo "train_all: quality targets not met (see above)"
run sample_vae tests/quality/sample_ref.py "$W/quality_vae" --model "$M" --vae-roundtrip
run judge_vae tests/quality/quality.py "$W/quality_vae" --json "$W/quality_vae.json" \
    || echo "train_all: the VAE round trip misses a target"
if [ -x "${FARM_BIN:-bin}/farm-worker" ]; then
    FARM_THREADS="${DEMO_THREADS:-2}" bash tests/quality/render_worker.sh "$W/quality_c" "$M"
    run judge_c tests/quality/quality.py "$W/quality_c" --json "$W/quality_c.json" \
        || echo "train_all: quality targets not met by the C engine (see above)"
else
    echo "train_all: no ${FARM_BIN:-bin}/farm-worker; C-engine figures skipped"
fi
cat "$W/times.txt"
du -sh --exclude=README.md "$M"
