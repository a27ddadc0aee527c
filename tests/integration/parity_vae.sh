#!/usr/bin/env bash
# parity_vae.sh — `farm-worker decode` as a real process against the diffusers goldens
# (tests/golden/vae, from tests/reference/gen_vae.py): every case listed in cases.safetensors
# (odd and even latent frame counts, batch 2, untiled and tiled) decoded at 2 threads, output
# within 1e-3 of the largest reference magnitude; --postprocess gives clamp(x*0.5+0.5, 0, 1) of
# the same frames; bad invocations fail with a message naming what is wrong.
# Binaries from ${FARM_BIN:-bin}; run from anywhere. Exit 0 pass, 1 fail, 77 skip.
source "$(dirname "$0")/lib.bash"
cd "$ROOT"
W=$BIN/farm-worker
G=tests/golden/vae
[ -x "$W" ] || { echo "no $W (build first)"; exit 1; }
[ -f "$G/cases.safetensors" ] || { echo "skip: no goldens in $G"; exit 77; }
fails=0

# the goldens are the files gen_vae.py wrote (manifest written with them)
if manifest_ok "$G"; then echo "ok   golden manifest"; else echo "FAIL golden manifest"; fails=$((fails+1)); fi

# compare LABEL A B REL: max |a - b| <= REL * max |b| over equally long lists.
compare() { close_to "$@" || fails=$((fails+1)); }

# The case list: metadata "cases" = JSON list of {"name": ..., "tiled": ...} (escaped inside the header).
cases=$(st_header "$G/cases.safetensors" | grep -o '\\"name\\": \\"[^\\]*\\", \\"tiled\\": [a-z]*' |
        sed 's/\\"name\\": \\"\([^\\]*\)\\", \\"tiled\\": \([a-z]*\)/\1:\2/')
[ -n "$cases" ] || { echo "FAIL: no cases in $G/cases.safetensors"; exit 1; }
n=0
for c in $cases; do
  name=${c%%:*}; tiled=${c##*:}
  args=(--model "$G" --latents "$G/cases.safetensors" --tensor "$name.latents" --out "$T/$name.safetensors"
        --channels-first --threads 2)
  [ "$tiled" = true ] && args+=(--tiled)
  if "$W" decode "${args[@]}" > "$T/$name.out" 2> "$T/$name.log"; then
    st_dump "$T/$name.safetensors" frames > "$T/a" && st_dump "$G/cases.safetensors" "$name.out" > "$T/b" &&
      compare "$name (tiled=$tiled)" "$T/a" "$T/b" 1e-3
    n=$((n + 1))
  else
    echo "FAIL $name: decode failed:"; cat "$T/$name.log"; fails=$((fails+1))
  fi
done
[ $n -ge 6 ] || { echo "FAIL: only $n cases ran"; fails=$((fails+1)); }

# --postprocess maps the same frames to [0, 1]
if "$W" decode --model "$G" --latents "$G/cases.safetensors" --tensor f2.latents --out "$T/post.safetensors" \
     --channels-first --postprocess --threads 2 > /dev/null 2>&1; then
  st_dump "$T/post.safetensors" frames > "$T/a"
  st_dump "$G/cases.safetensors" f2.out | awk '{ v = $1 * 0.5 + 0.5; if (v < 0) v = 0; if (v > 1) v = 1; printf "%.9g\n", v }' > "$T/b"
  compare "postprocess" "$T/a" "$T/b" 1e-3
  awk '$1 < 0 || $1 > 1 { bad = 1 } END { exit bad }' "$T/a" || { echo "FAIL postprocess: value outside [0, 1]"; fails=$((fails+1)); }
else
  echo "FAIL postprocess: decode failed"; fails=$((fails+1))
fi

# bad invocations: non-zero status and a message naming the problem
bad() { expect_fail "$1" "$2" "$W" decode "${@:3}" || fails=$((fails+1)); }   # LABEL NEEDLE ARGS...
bad "missing model" "config.json" --model "$T/none" --latents "$G/cases.safetensors" --tensor f2.latents --out "$T/x.safetensors"
bad "missing tensor" "nope.latents" --model "$G" --latents "$G/cases.safetensors" --tensor nope.latents --out "$T/x.safetensors"
bad "not latents" "f2.out" --model "$G" --latents "$G/cases.safetensors" --tensor f2.out --out "$T/x.safetensors"
bad "usage" "required" --model "$G"

[ $fails -eq 0 ] && echo "parity_vae: all passed" || echo "parity_vae: $fails failure(s)"
[ $fails -eq 0 ]
