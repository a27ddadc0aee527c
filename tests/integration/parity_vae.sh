#!/usr/bin/env bash
# parity_vae.sh — `farm-worker decode` as a real process against the diffusers goldens
# (tests/golden/vae, from tests/reference/gen_vae.py): every case listed in cases.safetensors
# (odd and even latent frame counts, batch 2, untiled and tiled) decoded at 2 threads, output
# within 1e-3 of the largest reference magnitude; --postprocess gives clamp(x*0.5+0.5, 0, 1) of
# the same frames; bad invocations fail with a message naming what is wrong.
# Binaries from ${FARM_BIN:-bin}; run from anywhere. Exit 0 pass, 1 fail, 77 skip.
set -u
cd "$(dirname "$0")/../.."
BIN=${FARM_BIN:-bin}
W=$BIN/farm-worker
G=tests/golden/vae
[ -x "$W" ] || { echo "no $W (build first)"; exit 1; }
[ -f "$G/cases.safetensors" ] || { echo "skip: no goldens in $G"; exit 77; }
TMP=$(mktemp -d /tmp/parity_vae.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0

# the goldens are the files gen_vae.py wrote (manifest written with them)
if (cd "$G" && sha256sum --quiet -c SHA256SUMS); then echo "ok   golden manifest"; else echo "FAIL golden manifest"; fails=$((fails+1)); fi

header() { local f=$1 n; n=$(od -An -v -t u8 -N 8 "$f" | tr -d ' '); head -c $((8 + n)) "$f" | tail -c "$n"; }

# dump FILE TENSOR: the float32 values of one tensor of a safetensors file, one per line.
dump() {
  local f=$1 name=$2 n off
  n=$(od -An -v -t u8 -N 8 "$f" | tr -d ' ')
  off=$(header "$f" | grep -o "\"$name\":{[^}]*}" | sed -n 's/.*"data_offsets":\[\([0-9]*\),\([0-9]*\)\].*/\1 \2/p')
  [ -n "$off" ] || { echo "no tensor $name in $f" >&2; return 1; }
  set -- $off
  tail -c +$((8 + n + $1 + 1)) "$f" | head -c $(($2 - $1)) | od -An -v -f | tr -s ' ' '\n' | sed '/^$/d'
}

# compare LABEL A B REL: max |a - b| <= REL * max |b| over equally long lists.
compare() {
  local label=$1 a=$2 b=$3 rel=$4
  [ "$(wc -l < "$a")" = "$(wc -l < "$b")" ] && [ -s "$b" ] || { echo "FAIL $label: sizes differ"; fails=$((fails+1)); return; }
  paste "$a" "$b" | awk -v rel="$rel" -v label="$label" '
      { d = $1 - $2; if (d < 0) d = -d; if (d > e) e = d; m2 = $2 < 0 ? -$2 : $2; if (m2 > mx) mx = m2; n++ }
      END { ok = n > 0 && e <= rel * mx; printf "%s %s: %d values, max err %.3g (limit %.3g)\n", ok ? "ok  " : "FAIL", label, n, e, rel * mx; exit !ok }' \
    || fails=$((fails+1))
}

# The case list: metadata "cases" = JSON list of {"name": ..., "tiled": ...} (escaped inside the header).
cases=$(header "$G/cases.safetensors" | grep -o '\\"name\\": \\"[^\\]*\\", \\"tiled\\": [a-z]*' |
        sed 's/\\"name\\": \\"\([^\\]*\)\\", \\"tiled\\": \([a-z]*\)/\1:\2/')
[ -n "$cases" ] || { echo "FAIL: no cases in $G/cases.safetensors"; exit 1; }
n=0
for c in $cases; do
  name=${c%%:*}; tiled=${c##*:}
  args=(--model "$G" --latents "$G/cases.safetensors" --tensor "$name.latents" --out "$TMP/$name.safetensors"
        --channels-first --threads 2)
  [ "$tiled" = true ] && args+=(--tiled)
  if "$W" decode "${args[@]}" > "$TMP/$name.out" 2> "$TMP/$name.log"; then
    dump "$TMP/$name.safetensors" frames > "$TMP/a" && dump "$G/cases.safetensors" "$name.out" > "$TMP/b" &&
      compare "$name (tiled=$tiled)" "$TMP/a" "$TMP/b" 1e-3
    n=$((n + 1))
  else
    echo "FAIL $name: decode failed:"; cat "$TMP/$name.log"; fails=$((fails+1))
  fi
done
[ $n -ge 6 ] || { echo "FAIL: only $n cases ran"; fails=$((fails+1)); }

# --postprocess maps the same frames to [0, 1]
if "$W" decode --model "$G" --latents "$G/cases.safetensors" --tensor f2.latents --out "$TMP/post.safetensors" \
     --channels-first --postprocess --threads 2 > /dev/null 2>&1; then
  dump "$TMP/post.safetensors" frames > "$TMP/a"
  dump "$G/cases.safetensors" f2.out | awk '{ v = $1 * 0.5 + 0.5; if (v < 0) v = 0; if (v > 1) v = 1; printf "%.9g\n", v }' > "$TMP/b"
  compare "postprocess" "$TMP/a" "$TMP/b" 1e-3
  awk '$1 < 0 || $1 > 1 { bad = 1 } END { exit bad }' "$TMP/a" || { echo "FAIL postprocess: value outside [0, 1]"; fails=$((fails+1)); }
else
  echo "FAIL postprocess: decode failed"; fails=$((fails+1))
fi

# bad invocations: non-zero status and a message naming the problem
expect_fail() {  # label needle args...
  local label=$1 needle=$2; shift 2
  if "$W" decode "$@" > /dev/null 2> "$TMP/err"; then echo "FAIL $label: succeeded"; fails=$((fails+1))
  elif ! grep -q -- "$needle" "$TMP/err"; then echo "FAIL $label: message lacks '$needle':"; cat "$TMP/err"; fails=$((fails+1))
  else echo "ok   $label: $(tail -n1 "$TMP/err")"; fi
}
expect_fail "missing model" "config.json" --model "$TMP/none" --latents "$G/cases.safetensors" --tensor f2.latents --out "$TMP/x.safetensors"
expect_fail "missing tensor" "nope.latents" --model "$G" --latents "$G/cases.safetensors" --tensor nope.latents --out "$TMP/x.safetensors"
expect_fail "not latents" "f2.out" --model "$G" --latents "$G/cases.safetensors" --tensor f2.out --out "$TMP/x.safetensors"
expect_fail "usage" "required" --model "$G"

[ $fails -eq 0 ] && echo "parity_vae: all passed" || echo "parity_vae: $fails failure(s)"
[ $fails -eq 0 ]
