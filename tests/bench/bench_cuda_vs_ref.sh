#!/usr/bin/env bash
# bench_cuda_vs_ref.sh — the CUDA backend's DiT step (tests/bench/bench_cuda_step.c) and the PyTorch
# reference of the same shapes (tests/bench/bench_cuda_ref.py: bf16, SDPA with the released additive
# mask) one after the other on the same GPU, then the step-time ratio (goal: C ≤ 0.7× reference).
# Not a test; prints figures for BENCHMARKS.md. Needs a GPU (exits 77 without one) and torch with CUDA.
#
#   tests/bench/bench_cuda_vs_ref.sh [extra args for both, e.g. --layers 8 --steps 3]
# C binary from ${FARM_BUILD:-build}/bench/bench_cuda_step; Python from ${FARM_REFENV:-$HOME/.cache/farm-refenv}.
set -u
cd "$(dirname "$0")/../.."
C=${FARM_BUILD:-build}/bench/bench_cuda_step
PY=${FARM_REFENV:-$HOME/.cache/farm-refenv}/bin/python
[ -x "$C" ] || { echo "no $C: make bench first"; exit 1; }
OUT=$(mktemp -d /tmp/bench_cuda_vs_ref.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
"$C" "$@" | tee "$OUT/c"
rc=${PIPESTATUS[0]}
[ "$rc" = 77 ] && { echo "skip: no CUDA device visible"; exit 77; }
[ "$rc" = 0 ] || exit "$rc"
"$PY" tests/bench/bench_cuda_ref.py "$@" | tee "$OUT/ref" || exit 1
c=$(awk -F'|' '/^\| [0-9]/ { print $2; exit }' "$OUT/c")
r=$(awk -F'|' '/^\| [0-9]/ { print $2; exit }' "$OUT/ref")
awk -v c="$c" -v r="$r" 'BEGIN { printf "step time C / reference = %.3f / %.3f = %.2fx (goal <= 0.70x)\n", c, r, c / r }'
