#!/usr/bin/env bash
# Render the held-out quality prompts (tests/quality/prompts.txt = ops/train/data.py HELDOUT, in
# order) with the C engine, `farm-worker render`, in the layout tests/quality/quality.py judges:
#   OUT/<nn>_<prompt>/prompt.txt + frame_*.png      (seed = nn, 48x48, 9 frames, DPM 25 steps,
#   constant CFG ${QUALITY_CFG:-3})
# Usage: bash tests/quality/render_worker.sh OUT [MODEL_DIR]   (binaries from ${FARM_BIN:-bin})
# Then:  $FARM_REFENV/bin/python tests/quality/quality.py OUT [--contact sheet.png]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: render_worker.sh OUT [MODEL_DIR]}
MODEL=${2:-ops/models/demo}
BIN=${FARM_BIN:-bin}
CFG=${QUALITY_CFG:-3}   # constant classifier-free guidance (see QUALITY.md for the choice)
[ -x "$BIN/farm-worker" ] || { echo "render_worker: $BIN/farm-worker missing (make)" >&2; exit 1; }
i=0
while IFS= read -r p; do
    d=$(printf '%s/%02d_%s' "$OUT" "$i" "${p// /_}")
    mkdir -p "$d"
    printf '%s\n' "$p" > "$d/prompt.txt"
    "$BIN/farm-worker" render --model "$MODEL" --lora "$MODEL/transpixar_lora.safetensors" \
        --prompt "$p" --frames 9 --width 48 --height 48 --steps 25 --guidance "$CFG" --cfg constant \
        --seed "$i" --out "$d" ${FARM_THREADS:+--threads "$FARM_THREADS"} >"$d/render.log" 2>&1 \
        || { echo "render_worker: failed on \"$p\" (see $d/render.log)" >&2; exit 1; }
    i=$((i + 1))
done < tests/quality/prompts.txt
echo "render_worker: $i prompts -> $OUT"
