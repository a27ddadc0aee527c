#!/usr/bin/env bash
# parity_sample.sh — `farm-worker sample` as a real process against the reference sampler goldens
# (tests/golden/sampler/<case>/: 10-step DDIM and DPM runs with CFG and dynamic CFG over the tiny
# 5B + TransPixar model, made by tests/reference/gen_sampler.py). For every case the whole
# trajectory and the final latents must match within the case's tolerance (1e-3 of the largest
# reference magnitude). Also: tensor-parallel degree 2 agrees with degree 1 (1e-5), philox noise
# (no step_noise) is bit-identical on re-run and changes with the seed and the window, and bad
# invocations fail with a message and a non-zero status.
# Binaries from ${FARM_BIN:-bin}; run from anywhere. Exit 0 pass, 1 fail, 77 skip.
source "$(dirname "$0")/lib.bash"
cd "$ROOT"
W=$BIN/farm-worker
G=tests/golden/sampler
[ -x "$W" ] || { echo "no $W (build first)"; exit 1; }
[ -d "$G" ] || { echo "skip: no sampler goldens in $G"; exit 77; }
fails=0

json_bool() { grep -q "\"$2\": *true" "$1" && echo 1 || echo 0; }

# compare LABEL GOT_FILE WANT_FILE TENSOR REL: max |got - want| <= REL * max |want|, same count.
compare() { st_close "$1" "$2" "$4" "$3" "$4" "$5" || fails=$((fails+1)); }

# run CASE LABEL EXTRA-ARGS...: sample on the case's inputs into $T/LABEL.safetensors.
run() {
  local c=$1 label=$2; shift 2
  local cj=$G/$c/case.json model lora
  model=$(json_str "$cj" model); lora=$(json_str "$cj" lora)
  local args=(--model "$G/$c/$model" --inputs "$G/$c/inputs.safetensors" --out "$T/$label.safetensors"
              --scheduler-config "$G/$c/scheduler" --scheduler "$(json_str "$cj" scheduler)"
              --steps "$(json_num "$cj" steps)" --guidance "$(json_num "$cj" guidance)" --threads 2)
  [ -n "$lora" ] && args+=(--lora "$G/$c/$lora" --lora-alpha "$(json_num "$cj" lora_alpha)" --mask-bias "$(json_num "$cj" text_alpha_bias)")
  [ "$(json_bool "$cj" use_dynamic_cfg)" = 1 ] && args+=(--dynamic-cfg)
  "$W" sample "${args[@]}" "$@" 2> "$T/$label.log" || { echo "FAIL $label: sample failed:"; tail -5 "$T/$label.log"; fails=$((fails+1)); return 1; }
}

ncases=0
for c in $(ls "$G"); do
  [ -f "$G/$c/case.json" ] || continue
  ncases=$((ncases+1))
  rel=$(json_num "$G/$c/case.json" rel_to_max_abs); rel=${rel:-1e-3}
  run "$c" "$c" || continue
  compare "$c trajectory" "$T/$c.safetensors" "$G/$c/outputs.safetensors" trajectory "$rel"
  compare "$c latents" "$T/$c.safetensors" "$G/$c/outputs.safetensors" latents "$rel"
done
[ $ncases -gt 0 ] || { echo "FAIL: no cases in $G"; fails=$((fails+1)); }

# tensor parallelism: degree 2 equals degree 1 on a DPM + dynamic CFG case
c=dpm_dyncfg
if [ -f "$G/$c/case.json" ] && run "$c" "$c-tp2" --tp 2; then
  compare "$c tp2 vs tp1" "$T/$c-tp2.safetensors" "$T/$c.safetensors" trajectory 1e-5
fi

# philox noise: deterministic, keyed by seed and window
if [ -f "$G/$c/case.json" ]; then
  run "$c" p0 --noise input --steps 3 &&
  run "$c" p1 --noise philox --seed 7 --window 3 --steps 3 && run "$c" p2 --noise philox --seed 7 --window 3 --steps 3 &&
  run "$c" p3 --noise philox --seed 8 --window 3 --steps 3 && run "$c" p4 --noise philox --seed 7 --window 4 --steps 3 && {
    if cmp -s "$T/p1.safetensors" "$T/p2.safetensors"; then echo "ok   philox re-run bit-identical"
    else echo "FAIL philox re-run differs"; fails=$((fails+1)); fi
    for o in p3 p4 p0; do
      if cmp -s "$T/p1.safetensors" "$T/$o.safetensors"; then echo "FAIL philox run equals $o"; fails=$((fails+1))
      else echo "ok   philox run differs from $o"; fi
    done
  }
fi

# bad invocations: non-zero status and a message
bad() { expect_fail "bad $1" "$2" "$W" sample "${@:3}" || fails=$((fails+1)); }   # LABEL WANT ARGS...
c=ddim_cfg
m=$G/$c/$(json_str "$G/$c/case.json" model)
bad "no args" "required"
bad "unknown option" "unknown option" --model "$m" --bogus
bad "bad scheduler" "ddim or dpm" --model "$m" --inputs "$G/$c/inputs.safetensors" --out "$T/x.safetensors" --scheduler-config "$G/$c/scheduler" --scheduler euler
bad "bad cfg form" "dynamic-cfg-form" --model "$m" --inputs "$G/$c/inputs.safetensors" --out "$T/x.safetensors" --dynamic-cfg --dynamic-cfg-form constant
bad "bad noise source" "--noise" --model "$m" --inputs "$G/$c/inputs.safetensors" --out "$T/x.safetensors" --noise urandom
bad "bad steps" "--steps" --model "$m" --inputs "$G/$c/inputs.safetensors" --out "$T/x.safetensors" --steps 0
bad "missing inputs" "no-such" --model "$m" --inputs "$T/no-such.safetensors" --out "$T/x.safetensors" --scheduler-config "$G/$c/scheduler"
bad "no scheduler config" "scheduler_config.json" --model "$m" --inputs "$G/$c/inputs.safetensors" --out "$T/x.safetensors"
bad "latents as inputs of forward" "latents" --model "$m" --inputs tests/golden/dit/5b_rope/inputs.safetensors --out "$T/x.safetensors" --scheduler-config "$G/$c/scheduler"
bad "too many steps" "steps" --model "$m" --inputs "$G/$c/inputs.safetensors" --out "$T/x.safetensors" --scheduler-config "$G/$c/scheduler" --steps 5000
[ -e "$T/x.safetensors" ] && { echo "FAIL: a failed run left an output file"; fails=$((fails+1)); }

echo
[ $fails -eq 0 ] && echo "parity_sample: all passed" || echo "parity_sample: $fails failure(s)"
[ $fails -eq 0 ]
