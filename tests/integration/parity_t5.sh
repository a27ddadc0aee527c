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
set -u
cd "$(dirname "$0")/../.."
BIN=${FARM_BIN:-bin}
W=$BIN/farm-worker
G=tests/golden
[ -x "$W" ] || { echo "no $W (build first)"; exit 1; }
[ -d "$G/t5/text_encoder" ] && [ -d "$G/tokenizer/tokenizer" ] || { echo "skip: no t5/tokenizer goldens"; exit 77; }
TMP=$(mktemp -d /tmp/parity_t5.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0
mkdir -p "$TMP/pipe"
ln -s "$PWD/$G/tokenizer/tokenizer" "$TMP/pipe/tokenizer"
ln -s "$PWD/$G/t5/text_encoder" "$TMP/pipe/text_encoder"

# dump FILE TENSOR ODTYPE: the values of one tensor of a safetensors file, one per line.
dump() {
  local f=$1 name=$2 ty=$3 n hdr off
  n=$(od -An -v -t u8 -N 8 "$f" | tr -d ' ')
  hdr=$(head -c $((8 + n)) "$f" | tail -c "$n")
  off=$(printf '%s' "$hdr" | grep -o "\"$name\":{[^}]*}" | sed -n 's/.*"data_offsets":\[\([0-9]*\),\([0-9]*\)\].*/\1 \2/p')
  [ -n "$off" ] || { echo "no tensor $name in $f" >&2; return 1; }
  set -- $off
  tail -c +$((8 + n + $1 + 1)) "$f" | head -c $(($2 - $1)) | od -An -v -t "$ty" | tr -s ' ' '\n' | sed '/^$/d'
}

# compare LABEL GOT GOT_TENSOR WANT WANT_TENSOR ODTYPE REL: max |got - want| <= REL * max |want|
# (REL 0: exact), same number of values.
compare() {
  local label=$1
  dump "$2" "$3" "$6" > "$TMP/a" && dump "$4" "$5" "$6" > "$TMP/b" || { echo "FAIL $label: unreadable"; fails=$((fails+1)); return; }
  if [ "$(wc -l < "$TMP/a")" != "$(wc -l < "$TMP/b")" ]; then
    echo "FAIL $label: $(wc -l < "$TMP/a") values, want $(wc -l < "$TMP/b")"; fails=$((fails+1)); return
  fi
  paste "$TMP/a" "$TMP/b" | awk -v rel="$7" -v label="$label" '
      { d = $1 - $2; if (d < 0) d = -d; if (d > e) e = d; m2 = $2 < 0 ? -$2 : $2; if (m2 > mx) mx = m2; n++ }
      END { ok = n > 0 && e <= rel * mx; printf "%s %s: %d values, max err %.3g (limit %.3g)\n", ok ? "ok  " : "FAIL", label, n, e, rel * mx; exit !ok }' \
    || fails=$((fails+1))
}

# encode LABEL PROMPTS_FILE EXTRA-ARGS...: one --prompt per line of the file.
encode() {
  local label=$1 file=$2; shift 2
  local args=() p
  while IFS= read -r p; do args+=(--prompt "$p"); done < "$file"
  "$W" encode --model "$TMP/pipe" --out "$TMP/$label.safetensors" --threads 2 "${args[@]}" "$@" 2> "$TMP/$label.log" \
    || { echo "FAIL $label: encode failed:"; cat "$TMP/$label.log"; fails=$((fails+1)); return 1; }
  sed 's/^/     /' "$TMP/$label.log"
}

C=$G/t5/cases.safetensors
for mode in resident stream; do
  extra=(); [ $mode = stream ] && extra=(--stream)
  if encode main-$mode $G/t5/prompts_main.txt "${extra[@]}"; then
    compare "main ids ($mode)" "$TMP/main-$mode.safetensors" input_ids $C ids_main d8 0
    compare "main embeds ($mode)" "$TMP/main-$mode.safetensors" prompt_embeds $C out_main f4 1e-4
  fi
done
if encode short $G/t5/prompts_short.txt --max-length 9; then
  compare "short ids" "$TMP/short.safetensors" input_ids $C ids_short d8 0
  compare "short embeds" "$TMP/short.safetensors" prompt_embeds $C out_short f4 1e-4
fi

# expect_fail LABEL NEEDLE ARGS...: non-zero status and NEEDLE in the message.
expect_fail() {
  local label=$1 needle=$2; shift 2
  if "$W" encode "$@" > "$TMP/out" 2>&1; then echo "FAIL $label: succeeded"; fails=$((fails+1)); return; fi
  grep -qF -- "$needle" "$TMP/out" && echo "ok   $label: $(head -n1 "$TMP/out")" \
    || { echo "FAIL $label: message lacks '$needle':"; cat "$TMP/out"; fails=$((fails+1)); }
}
expect_fail "no prompt" "--prompt" --model "$TMP/pipe" --out "$TMP/x.safetensors"
expect_fail "missing model" "$TMP/nope" --model "$TMP/nope" --prompt a --out "$TMP/x.safetensors"
mkdir -p "$TMP/bad/tokenizer"; ln -s "$PWD/$G/t5/text_encoder" "$TMP/bad/text_encoder"
printf 'not a model' > "$TMP/bad/tokenizer/spiece.model"
expect_fail "garbage spiece.model" "$TMP/bad/tokenizer/spiece.model" --model "$TMP/bad" --prompt a --out "$TMP/x.safetensors"
expect_fail "bad max length" "--max-length" --model "$TMP/pipe" --prompt a --max-length 0 --out "$TMP/x.safetensors"
expect_fail "unknown option" "--frobnicate" --model "$TMP/pipe" --frobnicate

[ $fails -eq 0 ] && echo "parity_t5: all checks passed" || echo "parity_t5: $fails failure(s)"
[ $fails -eq 0 ]
