#!/usr/bin/env bash
# gpu-run.sh — run the GPU checks and benchmarks on a bare GPU machine from `make gpu-pack`'s archive.
#
#   make gpu-pack                       # here: builds build/gpu-pack.tar.xz (programs + the libraries they use)
#   ops/gpu-run.sh [STAGE ...]          # there, in the repository root: unpacks and runs the stages
#
# Stages (default: info ops attn step ref):
#   info   nvidia-smi, library resolution          ops    test_cuda_plan + test_cuda_ops (every op vs CPU)
#   attn   bench_cuda_attn (versions checked, timed) step   bench_cuda_step at CogVideoX-5B shapes
#   small  bench_cuda_step and the reference at 4 layers (quick)
#   opslab bench_cuda_ops: every memory-bound op at 5B shapes against a device copy (GB/s), the fused
#          ops v1 vs v2
#   ref    tests/bench/bench_cuda_ref.py (PyTorch, same shapes)
#   parity the model's GPU-vs-CPU tests (test_dit_cuda, test_t5_cuda, test_vae_cuda, test_pipeline_cuda)
#   t5 / vae  bench_t5 / bench_vae on the GPU: T5-XXL-shaped encode (random bf16 weights, 226 tokens) and
#          the CogVideoX-5B VAE decode of 13 latent frames at 480x720 (random weights; after the conv3d kernel
#          lab, bench_vae --conv-lab); T5_ARGS / VAE_ARGS override      ncu   Nsight Compute sections of the v5 attention kernel
# Each stage's output also goes to $OUT/<stage>.log when OUT is set (the device tool brings it back).
# Environment: GPU_ARGS (extra args for bench_cuda_step and the reference), C_ARGS (the C programs
# only), PYTHON (default python3).
set -u
cd "$(dirname "$0")/.."
PACK=${GPU_PACK:-build/gpu-pack.tar.xz}
P=/tmp/gpu-pack
LOGDIR=${OUT:-/tmp/gpu-run-logs}
mkdir -p "$LOGDIR"
[ -f "$PACK" ] || { echo "gpu-run: no $PACK: run 'make gpu-pack' first (and carry it)"; exit 1; }
rm -rf "$P"; tar -xJf "$PACK" -C /tmp || exit 1
# Prefer the machine's own C++/OpenMP runtimes: the copies are only for what it lacks.
for f in "$P"/lib/*; do
    n=$(basename "$f")
    ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*$n " && rm -f "$f"
done
libdirs=$P/lib
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do [ -d "$d" ] && libdirs=$libdirs:$d; done
for n in libnccl.so.2 libcublasLt.so.13 libcudart.so.13; do
    ldconfig -p 2>/dev/null | grep -q "$n" && continue
    f=$(find /usr/local /opt /usr/lib -name "$n" 2>/dev/null | head -1)
    [ -n "$f" ] && libdirs=$libdirs:$(dirname "$f")
done
export LD_LIBRARY_PATH=$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
PY=${PYTHON:-python3}
GA=${GPU_ARGS:-}
CA=${C_ARGS:-}    # extra args for the C programs only (e.g. --attn v5)

run_() {   # run_ STAGE TIMEOUT CMD... : log to $LOGDIR/STAGE.log, print, report the exit code
    local st=$1 to=$2; shift 2
    echo "=== $st: $*"
    local t0=$SECONDS
    timeout "$to" "$@" 2>&1 | tee -a "$LOGDIR/$st.log"
    local rc=${PIPESTATUS[0]}
    echo "=== $st: rc=$rc ($((SECONDS - t0)) s)"
    echo "$st $rc $((SECONDS - t0))" >> "$LOGDIR/summary.txt"
}

stage_info()   { nvidia-smi; echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"; ldd "$P/test_cuda_ops" | grep -v '^\s*lib[cm]\.so'; nvcc --version | tail -1; }
stage_ops()    { run_ ops 60 "$P/test_cuda_plan"; run_ ops 200 "$P/test_cuda_ops"; }
stage_attn()   { run_ attn 150 "$P/bench_cuda_attn"; }
stage_opslab() { run_ opslab 120 "$P/bench_cuda_ops"; }
stage_small()  { run_ small 100 "$P/bench_cuda_step" --layers 4 --steps 3 $GA $CA; [ -n "${NO_REF:-}" ] || run_ small 100 "$PY" tests/bench/bench_cuda_ref.py --layers 4 --steps 3 $GA; }
stage_step()   { run_ step 400 "$P/bench_cuda_step" $GA $CA; }
stage_ref()    { run_ ref 400 "$PY" tests/bench/bench_cuda_ref.py $GA; }
stage_parity() { for t in test_dit_cuda test_t5_cuda test_vae_cuda test_pipeline_cuda; do [ -x "$P/$t" ] && run_ parity 200 "$P/$t"; done; }
stage_ncu()    { run_ ncu 240 ncu --kernel-name regex:${NCU_KERNEL:-kc_attn_fa2_k} --launch-skip ${NCU_SKIP:-1} --launch-count 1 --section SpeedOfLight \
                     --section ComputeWorkloadAnalysis --section Occupancy --section WarpStateStats \
                     --section MemoryWorkloadAnalysis "$P/bench_cuda_attn" --seq 16610 --reps 1; }
stage_t5()     { run_ t5 300 "$P/bench_t5" ${T5_ARGS:---random --device cuda --config xxl --batch 1 --len 226 --reps 3}; }
stage_vae()    { run_ vae 120 "$P/bench_vae" --conv-lab; run_ vae 300 "$P/bench_vae" ${VAE_ARGS:---random --device cuda --frames 13 --height 60 --width 90 --reps 1}; }

stages=${*:-info ops attn step ref}
for s in $stages; do
    declare -F "stage_$s" >/dev/null || { echo "gpu-run: unknown stage '$s'"; exit 2; }
    "stage_$s"
done
echo "=== summary (stage rc seconds)"; cat "$LOGDIR/summary.txt" 2>/dev/null
