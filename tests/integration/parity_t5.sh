#!/usr/bin/env bash
# parity_t5.sh — `farm-worker encode` as a real process against the reference goldens: a pipeline
# root made of the golden tokenizer (tests/golden/tokenizer/tokenizer, transformers' T5Tokenizer
# ids) and the golden tiny T5 encoder (tests/golden/t5/text_encoder, two shards + index).
#  - the 3 main prompts at L = 226 (an ordinary one, the empty negative prompt, one that fills all
#    226 ids): input_ids equal transformers' exactly, prompt_embeds within 1e-4 of the largest
#    reference magnitude; also with --stream (weights converted per layer);
#  - the 2 short prompts at --max-length 9;
#  - bad invocations fail with a message naming the problem and a non-zero status.
# Binaries from ${FARM_BIN:-bin}; run from anywhere. Exit 0 pass, 1 fail, 77 skip.
source "$(dirname "$0")/lib.bash"
cd "$ROOT"
W=$BIN/farm-worker
G=tests/golden
[ -x "$W" ] || { echo "no $W (build first)"; exit 1; }
[ -d "$G/t5/text_encoder" ] && [ -d "$G/tokenizer/tokenizer" ] || { echo "skip: no t5/tokenizer goldens"; exit 77; }
fails=0
mkdir -p "$T/pipe"
ln -s "$PWD/$G/tokenizer/tokenizer" "$T/pipe/tokenizer"
ln -s "$PWD/$G/t5/text_encoder" "$T/pipe/text_encoder"

# compare LABEL GOT GOT_TENSOR WANT WANT_TENSOR ODTYPE REL: max |got - want| <= REL * max |want|
# (REL 0: exact), same number of values.
compare() { st_close "$1" "$2" "$3" "$4" "$5" "$7" "$6" || fails=$((fails+1)); }

# encode LABEL PROMPTS_FILE EXTRA-ARGS...: one --prompt per line of the file.
encode() {
  local label=$1 file=$2; shift 2
  local args=() p
  while IFS= read -r p; do args+=(--prompt "$p"); done < "$file"
  "$W" encode --model "$T/pipe" --out "$T/$label.safetensors" --threads 2 "${args[@]}" "$@" 2> "$T/$label.log" \
    || { echo "FAIL $label: encode failed:"; cat "$T/$label.log"; fails=$((fails+1)); return 1; }
  sed 's/^/     /' "$T/$label.log"
}

C=$G/t5/cases.safetensors
for mode in resident stream; do
  extra=(); [ $mode = stream ] && extra=(--stream)
  if encode main-$mode $G/t5/prompts_main.txt "${extra[@]}"; then
    compare "main ids ($mode)" "$T/main-$mode.safetensors" input_ids $C ids_main d8 0
    compare "main embeds ($mode)" "$T/main-$mode.safetensors" prompt_embeds $C out_main f4 1e-4
  fi
done
if encode short $G/t5/prompts_short.txt --max-length 9; then
  compare "short ids" "$T/short.safetensors" input_ids $C ids_short d8 0
  compare "short embeds" "$T/short.safetensors" prompt_embeds $C out_short f4 1e-4
fi

# bad LABEL NEEDLE ARGS...: non-zero status and NEEDLE in the message.
bad() { expect_fail "$1" "$2" "$W" encode "${@:3}" || fails=$((fails+1)); }
bad "no prompt" "--prompt" --model "$T/pipe" --out "$T/x.safetensors"
bad "missing model" "$T/nope" --model "$T/nope" --prompt a --out "$T/x.safetensors"
mkdir -p "$T/bad/tokenizer"; ln -s "$PWD/$G/t5/text_encoder" "$T/bad/text_encoder"
printf 'not a model' > "$T/bad/tokenizer/spiece.model"
bad "garbage spiece.model" "$T/bad/tokenizer/spiece.model" --model "$T/bad" --prompt a --out "$T/x.safetensors"
bad "bad max length" "--max-length" --model "$T/pipe" --prompt a --max-length 0 --out "$T/x.safetensors"
bad "unknown option" "--frobnicate" --model "$T/pipe" --frobnicate

[ $fails -eq 0 ] && echo "parity_t5: all checks passed" || echo "parity_t5: $fails failure(s)"
[ $fails -eq 0 ]
