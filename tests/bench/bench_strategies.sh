#!/usr/bin/env bash
# bench_strategies.sh — issue #8 figures: long shots (4+ windows) rendered with each strategy by farmd +
# one dit worker, then the seam metric (bench_seam_metric) on each png16 output, a summary per strategy
# over every shot (max and mean seam ratio, colour / alpha, and the footage control), and per strategy
# a picture of the frames around each seam and one of the whole shot (ffmpeg tile; prompt PIC_PROMPT,
# seed PIC_SEED).
# usage: tests/bench/bench_strategies.sh [MODEL_DIR=ops/models/demo] [LORA=transpixar_lora.safetensors]
#        env: FRAMES (33) WINDOW (9) OVERLAP (5) SIZE (48x48) STEPS (25) SEEDS ("3"; one shot per seed,
#        prompt and strategy) PROMPTS ("a red star moving left"; several separated by '|') STRATEGIES
#        ("independent chain anchor anchor-causal") PICS (folder for the pictures, default none)
#        PIC_PROMPT (index into PROMPTS, 0) PIC_SEED (the first of SEEDS)
#        GUIDANCE (CFG scale, 3: the retrained demo model's setting, QUALITY.md)
#        FARM_BIN (bin) FARM_BUILD (build; bench_seam_metric built if missing) TIMEOUT (3000 s)
set -u
source "$(dirname "$0")/../integration/lib.bash"
need_bins farmd farm-worker farm
need_cmds ffmpeg
use_tcp_endpoint
MODEL=$(cd "${1:-$ROOT/ops/models/demo}" && pwd) || fail "no model directory"
LORA=${2:-transpixar_lora.safetensors}
FRAMES=${FRAMES:-33}; WINDOW=${WINDOW:-9}; OVERLAP=${OVERLAP:-5}; SIZE=${SIZE:-48x48}; STEPS=${STEPS:-25}
GUIDANCE=${GUIDANCE:-3}
SEEDS=${SEEDS:-3}; PROMPTS=${PROMPTS:-a red star moving left}
STRATEGIES=${STRATEGIES:-independent chain anchor anchor-causal}
B=${FARM_BUILD:-$ROOT/build}
[ -x "$B/bench/bench_seam_metric" ] || (cd "$ROOT" && make -j2 BUILD="$B" BIN="$BIN" "$B/bench/bench_seam_metric" >/dev/null) \
  || fail "cannot build bench_seam_metric"
if [ -f "$MODEL/$LORA" ]; then LORA=$(cd "$(dirname "$MODEL/$LORA")" && pwd)/$(basename "$LORA"); else LORA=""; fi
export FARM_MODELS=$T/models; mkdir -p "$FARM_MODELS"; ln -s "$MODEL" "$FARM_MODELS/bench-model"
W=${SIZE%x*}; H=${SIZE#*x}
IFS='|' read -r -a PROMPT_LIST <<<"$PROMPTS"
# shot names: STRATEGY_pPROMPT_sSEED (strategy names hold '-', shot names may)
{ echo name,prompt,frames,fps,width,height,seed,steps,guidance,model,lora,engine,window,overlap,strategy,outputs
  for s in $STRATEGIES; do for p in "${!PROMPT_LIST[@]}"; do for seed in $SEEDS; do
    echo "${s}_p${p}_s$seed,\"${PROMPT_LIST[$p]}\",$FRAMES,8,$W,$H,$seed,$STEPS,$GUIDANCE,bench-model,$LORA,dit,$WINDOW,$OVERLAP,$s,png16"
  done; done; done; } >"$T/shots.csv"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), date $(date -u +%Y-%m-%dT%H:%MZ)"
echo "model: $MODEL (lora ${LORA:-none}); shots: $FRAMES frames ${W}x$H, window $WINDOW, overlap $OVERLAP, $STEPS steps, CFG $GUIDANCE"
echo "seeds: $SEEDS; prompts: ${PROMPTS}"
start_farmd
start_worker w1 --engines dit
t0=$(date +%s)
farm submit "$T/shots.csv" >/dev/null || fail "submit"
farm wait 1 --timeout "${TIMEOUT:-3000}" >/dev/null || { farm show 1; fail "the job did not complete"; }
echo "rendered $(( $(wc -l <"$T/shots.csv") - 1 )) shots in $(( $(date +%s) - t0 )) s"

# pictures (the grey background runs at the images' 1 fps: at its default 25 fps overlay would repeat frame 0):
# frames c-1 and c of every seam, side by side, seams top to bottom, and every frame of the
# shot (rows of 11), composited over grey, x2
picture() {   # picture STRATEGY DIR TABLE
  local s=$1 dir=$2 tab=$3 i=0 c f frames n
  frames=$(awk '$1 ~ /^[0-9]+$/ {print $2}' "$tab")
  rm -rf "$T/pic"; mkdir -p "$T/pic" "$PICS"
  for c in $frames; do
    for f in $((c - 1)) $c; do cp "$(ls "$dir"/*.png | sed -n "$((f + 1))p")" "$T/pic/$(printf %04d $i).png"; i=$((i + 1)); done
  done
  ffmpeg -v error -y -f lavfi -i "color=gray:s=${W}x$H:r=1" -framerate 1 -i "$T/pic/%04d.png" \
    -filter_complex "[0][1]overlay=shortest=1,scale=iw*2:ih*2:flags=neighbor,tile=2x$((i / 2)):padding=2" \
    -frames:v 1 "$PICS/seams_$s.png" && echo "picture: $PICS/seams_$s.png"
  rm -rf "$T/pic"; mkdir -p "$T/pic"; i=0
  for f in "$dir"/*.png; do cp "$f" "$T/pic/$(printf %04d $i).png"; i=$((i + 1)); done
  n=$(( (i + 10) / 11 ))
  ffmpeg -v error -y -f lavfi -i "color=gray:s=${W}x$H:r=1" -framerate 1 -i "$T/pic/%04d.png" \
    -filter_complex "[0][1]overlay=shortest=1,scale=iw*2:ih*2:flags=neighbor,tile=11x$n:padding=2" \
    -frames:v 1 "$PICS/shot_$s.png" && echo "picture: $PICS/shot_$s.png"
}

PIC_SEED=${PIC_SEED:-${SEEDS%% *}}; PIC_PROMPT=${PIC_PROMPT:-0}
for s in $STRATEGIES; do
  for p in "${!PROMPT_LIST[@]}"; do for seed in $SEEDS; do
    name=${s}_p${p}_s$seed
    dir=$(sql "SELECT result FROM shot WHERE name = '$name'" | head -1)
    arts=$(sql "SELECT group_concat(artifact, ',') FROM (SELECT w.artifact FROM window w JOIN shot s ON s.id = w.shot_id
                WHERE s.name = '$name' AND w.role = 'render' ORDER BY w.idx)")
    echo; echo "== $name (\"${PROMPT_LIST[$p]}\", seed $seed)"
    "$B/bench/bench_seam_metric" "$dir" --frames "$FRAMES" --window "$WINDOW" --overlap "$OVERLAP" --artifacts "$arts" \
      | tee "$T/$name.txt"
    [ -n "${PICS:-}" ] && [ "$p" = "$PIC_PROMPT" ] && [ "$seed" = "$PIC_SEED" ] && picture "$s" "$dir" "$T/$name.txt"
  done; done
done

# summary per strategy over every shot's seams: max and mean ratio, max band (colour / alpha); "excess"
# = the largest ratio − own over the seams (how far a seam goes past the footage's own motion there);
# "band min" = the smallest pair change in any overlap / inside (a stall: near 0 = the join freezes)
echo; echo "== summary over $(( ${#PROMPT_LIST[@]} * $(wc -w <<<"$SEEDS") )) shots per strategy"
printf '%-14s %6s %16s %16s %16s %16s %16s\n' strategy seams "max c/a" "mean c/a" "band max c/a" "excess c/a" "band min c/a"
for s in $STRATEGIES; do
  cat "$T/${s}"_p*_s*.txt | awk -v s="$s" '$1 ~ /^[0-9]+$/ {
      n++; mc = $3 > mc ? $3 : mc; ma = $4 > ma ? $4 : ma; sc += $3; sa += $4
      bc = $5 > bc ? $5 : bc; ba = $6 > ba ? $6 : ba
      ec = n == 1 || $3 - $9 > ec ? $3 - $9 : ec; ea = n == 1 || $4 - $10 > ea ? $4 - $10 : ea
      lc = n == 1 || $11 < lc ? $11 : lc; la = n == 1 || $12 < la ? $12 : la }
    END { printf "%-14s %6d %7.2f / %5.2f %7.2f / %5.2f %7.2f / %5.2f %7.2f / %5.2f %7.2f / %5.2f\n", s, n, mc, ma,
                 sc / n, sa / n, bc, ba, ec, ea, lc, la }'
done
