#!/usr/bin/env bash
# parity_dit.sh — `farm-worker forward` as a real process against the reference goldens
# (tests/golden/dit/<case>/): every case at tp 1 with the default rule, the TransPixar mask rules
# (none, hard) and tensor-parallel degrees 2 and 4 on a TransPixar case and a 2B case; the output
# `sample` must match within the case's tolerance (1e-4 of the largest reference magnitude).
# Also checks that bad invocations fail with a message and a non-zero status.
# Binaries from ${FARM_BIN:-bin}; run from anywhere. Exit 0 pass, 1 fail.
source "$(dirname "$0")/lib.bash"
cd "$ROOT"
W=$BIN/farm-worker
G=tests/golden/dit
[ -x "$W" ] || { echo "no $W (build first)"; exit 1; }
[ -d "$G" ] || { echo "skip: no goldens in $G"; exit 77; }
fails=0

# compare LABEL GOT WANT_FILE WANT_TENSOR REL: max |got - want| <= REL * max |want|.
compare() { st_close "$1" "$2" sample "$3" "$4" "$5" || fails=$((fails+1)); }

# run CASE LABEL EXTRA-ARGS... : forward on the case's inputs into $T/LABEL.safetensors.
run() {
  local c=$1 label=$2; shift 2
  local model lora
  model=$(json_str "$G/$c/case.json" model); lora=$(json_str "$G/$c/case.json" lora)
  local args=(--model "$G/$c/$model" --inputs "$G/$c/inputs.safetensors" --out "$T/$label.safetensors" --threads 2)
  [ -n "$lora" ] && args+=(--lora "$G/$c/$lora")
  "$W" forward "${args[@]}" "$@" 2> "$T/$label.log" || { echo "FAIL $label: forward failed:"; cat "$T/$label.log"; fails=$((fails+1)); return 1; }
}

for c in $(ls "$G"); do
  [ -f "$G/$c/case.json" ] || continue
  rel=$(json_num "$G/$c/case.json" rel_to_max_abs); rel=${rel:-1e-4}
  run "$c" "$c" && compare "$c" "$T/$c.safetensors" "$G/$c/outputs.safetensors" sample "$rel"
  if grep -q '"sample_nomask"' "$G/$c/case.json"; then
    run "$c" "$c-none" --mask none && compare "$c mask none" "$T/$c-none.safetensors" "$G/$c/outputs.safetensors" sample_nomask "$rel"
    run "$c" "$c-hard" --mask hard && compare "$c mask hard" "$T/$c-hard.safetensors" "$G/$c/outputs.safetensors" sample_hardmask "$rel"
  fi
done
for c in 5b_transpixar 2b_sincos; do
  for tp in 2 4; do
    run "$c" "$c-tp$tp" --tp $tp && compare "$c tp $tp" "$T/$c-tp$tp.safetensors" "$G/$c/outputs.safetensors" sample 1e-4
  done
done

# bad invocations: non-zero status and a message naming the problem
bad() { expect_fail "$1" "$2" "$W" forward "${@:3}" || fails=$((fails+1)); }
c=5b_transpixar
bad "missing --out" "required" --model "$G/5b_rope" --inputs "$G/$c/inputs.safetensors"
bad "bad --mask" "--mask" --model "$G/5b_rope" --inputs "$G/$c/inputs.safetensors" --out "$T/x.safetensors" --mask soft
bad "tp 8 > heads" "tensor parallel degree 8" --model "$G/5b_rope" --inputs "$G/$c/inputs.safetensors" --out "$T/x.safetensors" --tp 8
bad "odd RGBA frames" "F even" --model "$G/5b_rope" --rgba --inputs "$G/5b_rope/inputs.safetensors" --out "$T/x.safetensors"
bad "inputs missing" "no_such.safetensors" --model "$G/5b_rope" --inputs "$T/no_such.safetensors" --out "$T/x.safetensors"

[ $fails -eq 0 ] && echo "parity_dit: all passed" || echo "parity_dit: $fails failures"
[ $fails -eq 0 ]
