#!/usr/bin/env bash
# formats_ffprobe.sh — every output format, checked by the FFmpeg command-line tools rather than by
# our own decoder: ffprobe must agree on codec, pixel format (with alpha), frame count and frame rate,
# and ffmpeg's own decode + colour conversion of each video must match the 16-bit PNG sequence of
# the same shot (lossless formats bit-exact, ProRes/VP9 within PSNR bounds), which cross-checks our
# BT.709 matrices and ranges independently.
# The shot is produced by `test_mux_formats --keep DIR` (a unit-test binary of the assembly area).
set -u
cd "$(dirname "$0")/../.."
BIN=${FARM_BIN:-bin}
if [ -n "${FARM_BUILD:-}" ]; then BUILD=$FARM_BUILD
elif [ -x "$(dirname "$BIN")/tests/test_mux_formats" ]; then BUILD=$(dirname "$BIN")
else BUILD=build; fi
T=$BUILD/tests/test_mux_formats
command -v ffprobe >/dev/null && command -v ffmpeg >/dev/null || { echo "skip: ffprobe/ffmpeg not installed"; exit 77; }
[ -x "$T" ] || { echo "skip: $T not built (make tests-build)"; exit 77; }

D=$(mktemp -d /tmp/formats_ffprobe.XXXXXX)
trap 'rm -rf "$D"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

"$T" --keep "$D" > "$D/list.txt" || { cat "$D/list.txt"; echo "FAIL: assembly failed"; exit 1; }
cat "$D/list.txt"
path() { awk -F'\t' -v f="$1" '$1 == f { print $2 }' "$D/list.txt"; }
FRAMES=12

# format | codec | accepted decoded pixel formats (ffprobe, native decoders)
while IFS='|' read -r fmt codec pixfmts; do
  p=$(path "$fmt")
  [ -n "$p" ] || { bad "$fmt: no output listed"; continue; }
  if [ -d "$p" ]; then
    n=$(ls "$p" | wc -l)
    [ "$n" -eq $FRAMES ] || bad "$fmt: $n images, want $FRAMES"
    first=$(ls "$p" | head -1)
    [ "$first" = "keep.000000.${p##*.}" ] || [ "$first" = "keep.000000.png" ] || [ "$first" = "keep.000000.exr" ] || bad "$fmt: first image named $first"
    info=$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,pix_fmt -of csv=p=0 "$p/$first")
    nread=$n
  else
    info=$(ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=codec_name,pix_fmt,nb_read_frames,r_frame_rate -of csv=p=0 "$p")
    nread=$(echo "$info" | cut -d, -f4)
    rate=$(echo "$info" | cut -d, -f3)
    [ "$rate" = "24/1" ] || bad "$fmt: ffprobe frame rate $rate, want 24/1"
  fi
  c=$(echo "$info" | cut -d, -f1); pf=$(echo "$info" | cut -d, -f2)
  [ "$c" = "$codec" ] || bad "$fmt: ffprobe codec '$c', want '$codec'"
  [ "$nread" = "$FRAMES" ] || bad "$fmt: ffprobe counts $nread frames, want $FRAMES"
  echo " $pixfmts " | grep -q " $pf " || bad "$fmt: ffprobe pixel format '$pf', want one of: $pixfmts"
  echo "ok-probe $fmt: codec=$c pix_fmt=$pf frames=$nread"
done <<'TABLE'
prores4444|prores|yuva444p10le yuva444p12le
vp9|vp9|yuv420p yuva420p
ffv1|ffv1|gbrap16le rgba64le
png-mov|png|rgba
qtrle|qtrle|argb
exr|exr|gbrapf32le
png|png|rgba
png16|png|rgba64be
TABLE

# VP9: ffprobe's native decoder drops alpha; the file must say it has alpha and libvpx must decode it.
vp9=$(path vp9)
ffprobe -v error -show_entries stream_tags=alpha_mode -of csv=p=0 "$vp9" | grep -qi '^1$' || bad "vp9: no alpha_mode=1 tag"
vfmt=$(ffmpeg -nostdin -hide_banner -c:v libvpx-vp9 -i "$vp9" -vf showinfo -f null - 2>&1 | grep -o 'fmt:[a-z0-9]*' | sort -u)
[ "$vfmt" = "fmt:yuva420p" ] || bad "vp9: libvpx-vp9 decodes to '$vfmt', want fmt:yuva420p"
nv=$(ffmpeg -nostdin -hide_banner -c:v libvpx-vp9 -i "$vp9" -vf showinfo -f null - 2>&1 | grep -c 'n: *[0-9]* pts')
[ "$nv" -eq $FRAMES ] || bad "vp9: libvpx-vp9 decodes $nv frames"

# Pixels through ffmpeg's decoders and swscale vs the straight 16-bit PNG sequence, both premultiplied
# by ffmpeg (colour under transparent pixels is invisible, so it is weighted by alpha as a compositor
# would). format | decoder option | min average PSNR (dB, inf = bit exact) | min alpha PSNR
ref="$(path png16)/keep.%06d.png"
while IFS='|' read -r fmt decopt min_avg min_a; do
  p=$(path "$fmt"); pm=",premultiply=inplace=1"; inp=$p
  if [ -d "$p" ]; then pm=""; inp="$p/keep.%06d.${p##*.}"; fi      # exr: stored premultiplied already
  out=$(ffmpeg -nostdin -hide_banner $decopt -i "$inp" -i "$ref" -lavfi \
    "[0:v]format=gbrap16le$pm,settb=1/24,setpts=N[a];[1:v]format=gbrap16le,premultiply=inplace=1,settb=1/24,setpts=N[b];[a][b]psnr" \
    -f null - 2>&1 | grep -o 'PSNR r:.*')
  avg=$(echo "$out" | sed -n 's/.*average:\([^ ]*\).*/\1/p'); a=$(echo "$out" | sed -n 's/.* a:\([^ ]*\).*/\1/p')
  echo "ffmpeg-psnr $fmt: $out"
  awk -v v="$avg" -v m="$min_avg" 'BEGIN { exit !(v == "inf" || (m != "inf" && v + 0 >= m + 0)) }' || bad "$fmt: ffmpeg PSNR average $avg < $min_avg"
  awk -v v="$a" -v m="$min_a" 'BEGIN { exit !(v == "inf" || (m != "inf" && v + 0 >= m + 0)) }' || bad "$fmt: ffmpeg alpha PSNR $a < $min_a"
done <<'TABLE'
ffv1||inf|inf
png-mov||48|48
qtrle||48|48
prores4444||45|60
vp9|-c:v libvpx-vp9|35|35
exr||60|60
TABLE

cs=$(awk -F'\t' '$1 == "contact" { print $2 }' "$D/list.txt")
[ "$(ffprobe -v error -show_entries stream=codec_name -of csv=p=0 "$cs")" = "png" ] || bad "contact sheet is not a PNG"
[ $fail -eq 0 ] && echo "formats_ffprobe: all formats agree with ffprobe/ffmpeg"
exit $fail
