#!/usr/bin/env bash
# parity_sample.sh — `farm-worker sample` as a real process against the reference sampler goldens
# (tests/golden/sampler/<case>/: 10-step DDIM and DPM runs with CFG and dynamic CFG over the tiny
# 5B + TransPixar model, made by tests/reference/gen_sampler.py). For every case the whole
# trajectory and the final latents must match within the case's tolerance (1e-3 of the largest
# reference magnitude). Also: tensor-parallel degree 2 agrees with degree 1 (1e-5), philox noise
# (no step_noise) is bit-identical on re-run and changes with the seed and the window, and bad
# invocations fail with a message and a non-zero status.
# Binaries from ${FARM_BIN:-bin}; run from anywhere. Exit 0 pass, 1 fail, 77 skip.
set -u
cd "$(dirname "$0")/../.."
BIN=${FARM_BIN:-bin}
W=$BIN/farm-worker
G=tests/golden/sampler
[ -x "$W" ] || { echo "no $W (build first)"; exit 1; }
[ -d "$G" ] || { echo "skip: no sampler goldens in $G"; exit 77; }
TMP=$(mktemp -d /tmp/parity_sample.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0

json_str() { sed -n "s/.*\"$2\": *\"\\([^\"]*\\)\".*/\\1/p" "$1" | head -n1; }
json_num() { sed -n "s/.*\"$2\": *\\([-0-9.eE+]*\\).*/\\1/p" "$1" | head -n1; }
json_bool() { grep -q "\"$2\": *true" "$1" && echo 1 || echo 0; }

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

# compare LABEL GOT_FILE WANT_FILE TENSOR REL: max |got - want| <= REL * max |want|, same count.
compare() {
  local label=$1 got=$2 want=$3 t=$4 rel=$5
  if ! dump "$got" "$t" > "$TMP/a" || ! dump "$want" "$t" > "$TMP/b"; then
    echo "FAIL $label: unreadable"; fails=$((fails+1)); return
  fi
  if [ "$(wc -l < "$TMP/a")" != "$(wc -l < "$TMP/b")" ]; then
    echo "FAIL $label: $(wc -l < "$TMP/a") values, want $(wc -l < "$TMP/b")"; fails=$((fails+1)); return
  fi
  paste "$TMP/a" "$TMP/b" | awk -v rel="$rel" -v label="$label" '
      { d = $1 - $2; if (d < 0) d = -d; if (d > e || d != d) e = d; m = $2 < 0 ? -$2 : $2; if (m > mx) mx = m; n++ }
      END { ok = n > 0 && e <= rel * mx; printf "%s %s: %d values, max err %.3g (limit %.3g)\n", ok ? "ok  " : "FAIL", label, n, e, rel * mx; exit !ok }' \
    || fails=$((fails+1))
}

# run CASE LABEL EXTRA-ARGS...: sample on the case's inputs into $TMP/LABEL.safetensors.
run() {
  local c=$1 label=$2; shift 2
  local cj=$G/$c/case.json model lora
  model=$(json_str "$cj" model); lora=$(json_str "$cj" lora)
  local args=(--model "$G/$c/$model" --inputs "$G/$c/inputs.safetensors" --out "$TMP/$label.safetensors"
              --scheduler-config "$G/$c/scheduler" --scheduler "$(json_str "$cj" scheduler)"
              --steps "$(json_num "$cj" steps)" --guidance "$(json_num "$cj" guidance)" --threads 2)
  [ -n "$lora" ] && args+=(--lora "$G/$c/$lora" --lora-alpha "$(json_num "$cj" lora_alpha)" --mask-bias "$(json_num "$cj" text_alpha_bias)")
  [ "$(json_bool "$cj" use_dynamic_cfg)" = 1 ] && args+=(--dynamic-cfg)
  "$W" sample "${args[@]}" "$@" 2> "$TMP/$label.log" || { echo "FAIL $label: sample failed:"; tail -5 "$TMP/$label.log"; fails=$((fails+1)); return 1; }
}

ncases=0
for c in $(ls "$G"); do
  [ -f "$G/$c/case.json" ] || continue
  ncases=$((ncases+1))
  rel=$(json_num "$G/$c/case.json" rel_to_max_abs); rel=${rel:-1e-3}
  run "$c" "$c" || continue
  compare "$c trajectory" "$TMP/$c.safetensors" "$G/$c/outputs.safetensors" trajectory "$rel"
  compare "$c latents" "$TMP/$c.safetensors" "$G/$c/outputs.safetensors" latents "$rel"
done
[ $ncases -gt 0 ] || { echo "FAIL: no cases in $G"; fails=$((fails+1)); }

# tensor parallelism: degree 2 equals degree 1 on a DPM + dynamic CFG case
c=dpm_dyncfg
if [ -f "$G/$c/case.json" ] && run "$c" "$c-tp2" --tp 2; then
  compare "$c tp2 vs tp1" "$TMP/$c-tp2.safetensors" "$TMP/$c.safetensors" trajectory 1e-5
fi

# philox noise: deterministic, keyed by seed and window
if [ -f "$G/$c/case.json" ]; then
  run "$c" p0 --noise input --steps 3 &&
  run "$c" p1 --noise philox --seed 7 --window 3 --steps 3 && run "$c" p2 --noise philox --seed 7 --window 3 --steps 3 &&
  run "$c" p3 --noise philox --seed 8 --window 3 --steps 3 && run "$c" p4 --noise philox --seed 7 --window 4 --steps 3 && {
    if cmp -s "$TMP/p1.safetensors" "$TMP/p2.safetensors"; then echo "ok   philox re-run bit-identical"
    else echo "FAIL philox re-run differs"; fails=$((fails+1)); fi
    for o in p3 p4 p0; do
      if cmp -s "$TMP/p1.safetensors" "$TMP/$o.safetensors"; then echo "FAIL philox run equals $o"; fails=$((fails+1))
      else echo "ok   philox run differs from $o"; fi
    done
  }
fi

# bad invocations: non-zero status and a message
bad() {  # LABEL WANT-IN-MESSAGE ARGS...
  local label=$1 want=$2; shift 2
  if "$W" sample "$@" > "$TMP/bad.out" 2>&1; then echo "FAIL bad $label: exit 0"; fails=$((fails+1))
  elif ! grep -q -- "$want" "$TMP/bad.out"; then echo "FAIL bad $label: no '$want' in: $(head -c 300 "$TMP/bad.out")"; fails=$((fails+1))
  else echo "ok   bad $label"; fi
}
c=ddim_cfg
m=$G/$c/$(json_str "$G/$c/case.json" model)
bad "no args" "required"
bad "unknown option" "unknown option" --model "$m" --bogus
bad "bad scheduler" "ddim or dpm" --model "$m" --inputs "$G/$c/inputs.safetensors" --out "$TMP/x.safetensors" --scheduler-config "$G/$c/scheduler" --scheduler euler
bad "bad cfg form" "dynamic-cfg-form" --model "$m" --inputs "$G/$c/inputs.safetensors" --out "$TMP/x.safetensors" --dynamic-cfg --dynamic-cfg-form constant
bad "bad noise source" "--noise" --model "$m" --inputs "$G/$c/inputs.safetensors" --out "$TMP/x.safetensors" --noise urandom
bad "bad steps" "--steps" --model "$m" --inputs "$G/$c/inputs.safetensors" --out "$TMP/x.safetensors" --steps 0
bad "missing inputs" "no-such" --model "$m" --inputs "$TMP/no-such.safetensors" --out "$TMP/x.safetensors" --scheduler-config "$G/$c/scheduler"
bad "no scheduler config" "scheduler_config.json" --model "$m" --inputs "$G/$c/inputs.safetensors" --out "$TMP/x.safetensors"
bad "latents as inputs of forward" "latents" --model "$m" --inputs tests/golden/dit/5b_rope/inputs.safetensors --out "$TMP/x.safetensors" --scheduler-config "$G/$c/scheduler"
bad "too many steps" "steps" --model "$m" --inputs "$G/$c/inputs.safetensors" --out "$TMP/x.safetensors" --scheduler-config "$G/$c/scheduler" --steps 5000
[ -e "$TMP/x.safetensors" ] && { echo "FAIL: a failed run left an output file"; fails=$((fails+1)); }

echo
[ $fails -eq 0 ] && echo "parity_sample: all passed" || echo "parity_sample: $fails failure(s)"
[ $fails -eq 0 ]
