#!/usr/bin/env bash
# bench_strategies.sh — issue #8 figures: one long shot (4+ windows) rendered with each strategy
# (independent, chain, anchor) by farmd + one dit worker, then the seam metric (bench_seam_metric) on
# each png16 output, and a picture of the frames around each seam per strategy (ffmpeg tile).
# usage: tests/bench/bench_strategies.sh [MODEL_DIR=ops/models/demo] [LORA=transpixar_lora.safetensors]
#        env: FRAMES (33) WINDOW (9) OVERLAP (5) SIZE (48x48) STEPS (25) PROMPT SEED (3) PICS (folder for
#        the seam pictures, default none) FARM_BIN (bin) FARM_BUILD (build; bench_seam_metric built if missing)
set -u
source "$(dirname "$0")/../integration/lib.bash"
need_bins farmd farm-worker farm
need_cmds ffmpeg
use_tcp_endpoint
MODEL=$(cd "${1:-$ROOT/ops/models/demo}" && pwd) || fail "no model directory"
LORA=${2:-transpixar_lora.safetensors}
FRAMES=${FRAMES:-33}; WINDOW=${WINDOW:-9}; OVERLAP=${OVERLAP:-5}; SIZE=${SIZE:-48x48}; STEPS=${STEPS:-25}
SEED=${SEED:-3}; PROMPT=${PROMPT:-a red star moving left}
B=${FARM_BUILD:-$ROOT/build}
[ -x "$B/bench/bench_seam_metric" ] || (cd "$ROOT" && make -j2 BUILD="$B" BIN="$BIN" "$B/bench/bench_seam_metric" >/dev/null) \
  || fail "cannot build bench_seam_metric"
if [ -f "$MODEL/$LORA" ]; then LORA=$(cd "$(dirname "$MODEL/$LORA")" && pwd)/$(basename "$LORA"); else LORA=""; fi
export FARM_MODELS=$T/models; mkdir -p "$FARM_MODELS"; ln -s "$MODEL" "$FARM_MODELS/bench-model"
W=${SIZE%x*}; H=${SIZE#*x}
{ echo name,prompt,frames,fps,width,height,seed,steps,guidance,model,lora,engine,window,overlap,strategy,outputs
  for s in independent chain anchor; do
    echo "$s,\"$PROMPT\",$FRAMES,8,$W,$H,$SEED,$STEPS,6,bench-model,$LORA,dit,$WINDOW,$OVERLAP,$s,png16"
  done; } >"$T/shots.csv"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), date $(date -u +%Y-%m-%dT%H:%MZ)"
echo "model: $MODEL (lora ${LORA:-none}); shot: $FRAMES frames ${W}x$H, window $WINDOW, overlap $OVERLAP, $STEPS steps, seed $SEED, \"$PROMPT\""
start_farmd
start_worker w1 --engines dit
t0=$(date +%s)
farm submit "$T/shots.csv" >/dev/null || fail "submit"
farm wait 1 --timeout "${TIMEOUT:-3000}" >/dev/null || { farm show 1; fail "the job did not complete"; }
echo "rendered 3 shots in $(( $(date +%s) - t0 )) s"
for s in independent chain anchor; do
  dir=$(sql "SELECT result FROM shot WHERE name = '$s'" | head -1)
  echo; echo "== $s"
  "$B/bench/bench_seam_metric" "$dir" --frames "$FRAMES" --window "$WINDOW" --overlap "$OVERLAP" | tee "$T/$s.txt"
  [ -n "${PICS:-}" ] || continue
  mkdir -p "$PICS"
  # frames c-1 and c of every seam, side by side, seams top to bottom, composited over grey
  frames=$(sed -n '2,$p' "$T/$s.txt" | awk '{print $2}')
  i=0; rm -rf "$T/pic"; mkdir -p "$T/pic"
  for c in $frames; do
    for f in $((c - 1)) $c; do cp "$(ls "$dir"/*.png | sed -n "$((f + 1))p")" "$T/pic/$(printf %04d $i).png"; i=$((i + 1)); done
  done
  ffmpeg -v error -y -f lavfi -i "color=gray:s=${W}x$H" -framerate 1 -i "$T/pic/%04d.png" \
    -filter_complex "[0][1]overlay=shortest=1,scale=iw*2:ih*2:flags=neighbor,tile=2x$((i / 2)):padding=2" \
    -frames:v 1 "$PICS/seams_$s.png" && echo "picture: $PICS/seams_$s.png"
done
