#!/usr/bin/env bash
# End-to-end parity of `farm-worker render` with the reference TransPixar pipeline
# (tests/reference/gen_pipeline.py) on the tiny golden model: the PNG frames it writes (8-bit straight
# alpha), decoded by ffmpeg and premultiplied again, match the reference's exported 8-bit frames
# (premultiplied RGB + alpha, truncated) within 2/255 on at least 99.9% of the samples; frame count
# and size are exact. Cases f9 (9 frames, 3 latent frames) and f5 (5 frames: 2 latent frames, the
# VAE's 8 trimmed to 5). Also: a broken model fails with exit 1 and class "model" naming the file,
# a bad window size fails with class "window", a missing option is a usage error (exit 2); the
# golden files are intact (SHA256SUMS).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BIN=${FARM_BIN:-bin}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
W=$BIN/farm-worker
[ -x "$W" ] || { echo "skip: $W not built"; exit 77; }
command -v ffmpeg >/dev/null || { echo "skip: ffmpeg not installed"; exit 77; }
G=tests/golden/pipeline
T=$(mktemp -d /tmp/parity_pipeline.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

(cd $G && sha256sum --quiet -c SHA256SUMS) || fail "tests/golden/pipeline differs from its SHA256SUMS"
[ "$(cd $G && find . -type f ! -name SHA256SUMS ! -name README.md | sed 's|^\./||' | LC_ALL=C sort)" = \
  "$(awk '{print $2}' $G/SHA256SUMS | LC_ALL=C sort)" ] || fail "tests/golden/pipeline holds files not in SHA256SUMS"

json_str() { sed -n "s/^  \"$2\": \"\(.*\)\",\{0,1\}\$/\1/p" "$1"; }
json_num() { sed -n "s/^  \"$2\": \([0-9.]*\),\{0,1\}\$/\1/p" "$1"; }

check_case() {
  local c=$1 j=$G/$1/case.json out=$T/$1
  local frames width height
  frames=$(json_num "$j" frames); width=$(json_num "$j" width); height=$(json_num "$j" height)
  "$W" render --model $G/model --lora $G/lora.safetensors --prompt "$(json_str "$j" prompt)" \
      --negative "$(json_str "$j" negative)" --frames "$frames" --width "$width" --height "$height" \
      --steps "$(json_num "$j" steps)" --guidance "$(json_num "$j" guidance)" --seed 0 \
      --noise $G/$c/noise.safetensors --out "$out" --threads 2 >"$T/$c.log" 2>&1 \
    || { cat "$T/$c.log"; fail "$c: render failed"; }
  local n; n=$(ls "$out" | grep -c '^frame_[0-9]*\.png$')
  [ "$n" = "$frames" ] || fail "$c: $n PNG frames, want $frames"
  local dims; dims=$(ffprobe -v error -show_entries stream=width,height,pix_fmt -of csv=p=0 "$out/frame_00000.png")
  [ "$dims" = "$width,$height,rgba" ] || fail "$c: frame 0 is '$dims', want $width,$height,rgba"
  ffmpeg -v error -i "$out/frame_%05d.png" -f rawvideo -pix_fmt rgba - >"$T/$c.rgba" || fail "$c: ffmpeg cannot decode the PNGs"
  [ "$(stat -c %s "$T/$c.rgba")" = "$(stat -c %s $G/$c/expected.rgba)" ] || fail "$c: decoded size differs from the golden"
  # straight 8-bit PNG -> premultiplied like the reference export; compare every sample
  local res
  res=$(paste <(od -An -v -tu1 -w4 "$T/$c.rgba") <(od -An -v -tu1 -w4 $G/$c/expected.rgba) | awk '
    { a = $4
      for (k = 1; k <= 3; k++) { p = int($k * a / 255 + 0.5); d = p - $(k + 4); if (d < 0) d = -d
                                 if (d > 2) bad++; if (d > m) m = d; n++ }
      d = a - $8; if (d < 0) d = -d; if (d > 2) bad++; if (d > m) m = d; n++ }
    END { printf "%d %d %d %.6f\n", n, bad, m, 1 - bad / n }')
  read -r total bad maxd frac <<<"$res"
  echo "$c: $frames frames ${width}x${height}: $total samples, $bad beyond 2/255 (max |diff| $maxd), within: $frac"
  awk -v f="$frac" 'BEGIN { exit !(f >= 0.999) }' || fail "$c: only $frac of the samples within 2/255"
}

check_case f9
check_case f5

# a model whose transformer weights are truncated: exit 1, class model, the file named
cp -r $G/model "$T/broken"
st=$T/broken/transformer/diffusion_pytorch_model.safetensors
truncate -s $(( $(stat -c %s "$st") - 1000 )) "$st"
"$W" render --model "$T/broken" --lora $G/lora.safetensors --prompt x --frames 5 --width 48 --height 32 \
    --steps 2 --out "$T/b" >"$T/broken.log" 2>&1; rc=$?
[ $rc = 1 ] || { cat "$T/broken.log"; fail "broken model: exit $rc, want 1"; }
grep -q "class model" "$T/broken.log" && grep -q "diffusion_pytorch_model.safetensors" "$T/broken.log" \
  || { cat "$T/broken.log"; fail "broken model: message must name the class and the file"; }
echo "broken model: $(tail -n1 "$T/broken.log")"

"$W" render --model $G/model --prompt x --frames 5 --width 40 --height 32 --steps 2 --out "$T/c" >"$T/size.log" 2>&1; rc=$?
[ $rc = 1 ] && grep -q "class window" "$T/size.log" || { cat "$T/size.log"; fail "bad size: exit $rc, want 1 with class window"; }
"$W" render --model $G/model --out "$T/d" >/dev/null 2>&1; rc=$?
[ $rc = 2 ] || fail "missing --prompt: exit $rc, want 2"
echo "ok: render parity and failures"
