#!/usr/bin/env bash
# parity_dit.sh — `farm-worker forward` as a real process against the reference goldens
# (tests/golden/dit/<case>/): every case at tp 1 with the default rule, the TransPixar mask rules
# (none, hard) and tensor-parallel degrees 2 and 4 on a TransPixar case and a 2B case; the output
# `sample` must match within the case's tolerance (1e-4 of the largest reference magnitude).
# Also checks that bad invocations fail with a message and a non-zero status.
# Binaries from ${FARM_BIN:-bin}; run from anywhere. Exit 0 pass, 1 fail.
set -u
cd "$(dirname "$0")/../.."
BIN=${FARM_BIN:-bin}
W=$BIN/farm-worker
G=tests/golden/dit
[ -x "$W" ] || { echo "no $W (build first)"; exit 1; }
[ -d "$G" ] || { echo "skip: no goldens in $G"; exit 77; }
TMP=$(mktemp -d /tmp/parity_dit.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0

json_str() { sed -n "s/.*\"$2\": *\"\\([^\"]*\\)\".*/\\1/p" "$1" | head -n1; }
json_num() { sed -n "s/.*\"$2\": *\\([-0-9.eE+]*\\).*/\\1/p" "$1" | head -n1; }

# dump FILE TENSOR: the float32 values of one tensor of a safetensors file, one per line.
dump() {
  local f=$1 name=$2 n hdr off
  n=$(od -An -v -t u8 -N 8 "$f" | tr -d ' ')
  hdr=$(head -c $((8 + n)) "$f" | tail -c "$n")
  off=$(printf '%s' "$hdr" | grep -o "\"$name\":{[^}]*}" | sed -n 's/.*"data_offsets":\[\([0-9]*\),\([0-9]*\)\].*/\1 \2/p')
  [ -n "$off" ] || { echo "no tensor $name in $f" >&2; return 1; }
  set -- $off
  tail -c +$((8 + n + $1 + 1)) "$f" | head -c $(($2 - $1)) | od -An -v -f | tr -s ' ' '\n' | sed '/^$/d'
}

# compare LABEL GOT WANT_FILE WANT_TENSOR REL: max |got - want| <= REL * max |want|.
compare() {
  local label=$1 got=$2 wf=$3 wt=$4 rel=$5
  dump "$got" sample > "$TMP/a" && dump "$wf" "$wt" > "$TMP/b" || { echo "FAIL $label: unreadable"; fails=$((fails+1)); return; }
  if paste "$TMP/a" "$TMP/b" | awk -v rel="$rel" -v label="$label" '
      { d = $1 - $2; if (d < 0) d = -d; if (d > e) e = d; m2 = $2 < 0 ? -$2 : $2; if (m2 > mx) mx = m2; n++ }
      END { ok = n > 0 && e <= rel * mx; printf "%s %s: %d values, max err %.3g (limit %.3g)\n", ok ? "ok  " : "FAIL", label, n, e, rel * mx; exit !ok }'
  then :; else fails=$((fails+1)); fi
  [ "$(wc -l < "$TMP/a")" = "$(wc -l < "$TMP/b")" ] || { echo "FAIL $label: sizes differ"; fails=$((fails+1)); }
}

# run CASE LABEL EXTRA-ARGS... : forward on the case's inputs into $TMP/LABEL.safetensors.
run() {
  local c=$1 label=$2; shift 2
  local model lora
  model=$(json_str "$G/$c/case.json" model); lora=$(json_str "$G/$c/case.json" lora)
  local args=(--model "$G/$c/$model" --inputs "$G/$c/inputs.safetensors" --out "$TMP/$label.safetensors" --threads 2)
  [ -n "$lora" ] && args+=(--lora "$G/$c/$lora")
  "$W" forward "${args[@]}" "$@" 2> "$TMP/$label.log" || { echo "FAIL $label: forward failed:"; cat "$TMP/$label.log"; fails=$((fails+1)); return 1; }
}

for c in $(ls "$G"); do
  [ -f "$G/$c/case.json" ] || continue
  rel=$(json_num "$G/$c/case.json" rel_to_max_abs); rel=${rel:-1e-4}
  run "$c" "$c" && compare "$c" "$TMP/$c.safetensors" "$G/$c/outputs.safetensors" sample "$rel"
  if grep -q '"sample_nomask"' "$G/$c/case.json"; then
    run "$c" "$c-none" --mask none && compare "$c mask none" "$TMP/$c-none.safetensors" "$G/$c/outputs.safetensors" sample_nomask "$rel"
    run "$c" "$c-hard" --mask hard && compare "$c mask hard" "$TMP/$c-hard.safetensors" "$G/$c/outputs.safetensors" sample_hardmask "$rel"
  fi
done
for c in 5b_transpixar 2b_sincos; do
  for tp in 2 4; do
    run "$c" "$c-tp$tp" --tp $tp && compare "$c tp $tp" "$TMP/$c-tp$tp.safetensors" "$G/$c/outputs.safetensors" sample 1e-4
  done
done

# bad invocations: non-zero status and a message naming the problem
expect_fail() {
  local label=$1 want=$2; shift 2
  if "$W" forward "$@" > "$TMP/bad.log" 2>&1; then echo "FAIL $label: accepted"; fails=$((fails+1));
  elif ! grep -q -- "$want" "$TMP/bad.log"; then echo "FAIL $label: message lacks '$want':"; cat "$TMP/bad.log"; fails=$((fails+1));
  else echo "ok   $label rejected"; fi
}
c=5b_transpixar
expect_fail "missing --out" "required" --model "$G/5b_rope" --inputs "$G/$c/inputs.safetensors"
expect_fail "bad --mask" "--mask" --model "$G/5b_rope" --inputs "$G/$c/inputs.safetensors" --out "$TMP/x.safetensors" --mask soft
expect_fail "tp 8 > heads" "tensor parallel degree 8" --model "$G/5b_rope" --inputs "$G/$c/inputs.safetensors" --out "$TMP/x.safetensors" --tp 8
expect_fail "odd RGBA frames" "F even" --model "$G/5b_rope" --rgba --inputs "$G/5b_rope/inputs.safetensors" --out "$TMP/x.safetensors"
expect_fail "inputs missing" "no_such.safetensors" --model "$G/5b_rope" --inputs "$TMP/no_such.safetensors" --out "$TMP/x.safetensors"

[ $fails -eq 0 ] && echo "parity_dit: all passed" || echo "parity_dit: $fails failures"
[ $fails -eq 0 ]
