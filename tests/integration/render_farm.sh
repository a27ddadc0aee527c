#!/usr/bin/env bash
# render_farm.sh — farmd + one farm-worker render a `dit` shot with the tiny golden pipeline
# (tests/golden/pipeline) to done: the worker advertises dit, resolves the shot's model NAME under
# $FARM_MODELS and its bare LoRA file name there too, loads the pipeline once for both windows
# (13 frames, window 9, overlap 4), reports PROGRESS per sampler step, and the shot's ffv1 output
# decodes with 13 frames. A second job names a model directory whose vae/config.json does not match
# its weights: its window FAILs with class "model", the reason naming the file and the tensor, and
# without a retry (class model is not retried on the same model, whatever the budget) the job fails.
source "$(dirname "$0")/lib.bash"
need_bins farmd farm-worker farm
use_tcp_endpoint
quick_timing
need_cmds ffprobe
G=$ROOT/tests/golden/pipeline

tiny_models
cp -r "$G/model" "$T/mismatch"
sed -i 's/"latent_channels": 16/"latent_channels": 8/' "$T/mismatch/vae/config.json"

cat >"$T/shots.csv" <<'CSV'
name,prompt,negative_prompt,frames,fps,width,height,seed,steps,guidance,model,lora,engine,window,overlap,outputs
plume,"a swirl of orange smoke over glass",blurry,13,8,48,32,7,4,6,tiny-rgba,tiny-lora.safetensors,dit,9,4,ffv1
CSV
cat >"$T/bad.csv" <<CSV
name,prompt,frames,fps,width,height,seed,steps,guidance,model,lora,engine,window,overlap,outputs
broken,"smoke",9,8,48,32,1,2,6,$T/mismatch,tiny-lora.safetensors,dit,9,0,ffv1
CSV

start_farmd
start_worker w1 --engines dit
wait_for 10 grep -q 'engines dit' "$T/worker-w1.log" || fail "worker does not advertise dit"
out=$(farm submit "$T/shots.csv") || fail "submit: $out"
job=$(echo "$out" | sed -n 's/^job \([0-9]*\) submitted.*/\1/p')
[ -n "$job" ] || fail "no job id in: $out"
farm wait "$job" --timeout 300 || { farm show "$job"; fail "job $job did not complete"; }
[ "$(sql "SELECT state FROM job WHERE id=$job")" = done ] || fail "job not done"
[ "$(sql "SELECT count(*) FROM window WHERE job_id=$job AND state='verified'")" = 2 ] || fail "want 2 verified windows"
loads=$(grep -c 'pipeline .*tiny-rgba' "$T/worker-w1.log")
[ "$loads" = 1 ] || fail "the pipeline was loaded $loads times for 2 windows of one model, want 1"
totals=$(sql "SELECT group_concat(DISTINCT progress_total) FROM window WHERE job_id=$job")
echo "progress totals per window: $totals (4 sampler steps + decode)"
[ "$totals" = 5 ] || fail "progress total '$totals', want 5"
result=$(sql "SELECT result FROM shot WHERE job_id=$job")
n=0
for f in $result; do case $f in *.mkv) check_decode "$f" 13; n=$((n + 1)) ;; esac; done
[ $n = 1 ] || fail "expected one ffv1 output, found $n in: $result"

out=$(farm submit "$T/bad.csv") || fail "submit: $out"
job2=$(echo "$out" | sed -n 's/^job \([0-9]*\) submitted.*/\1/p')
farm wait "$job2" --timeout 120 >/dev/null 2>&1
[ "$(sql "SELECT state FROM job WHERE id=$job2")" = failed ] || fail "job with a mismatched model is not failed"
n_att=$(sql "SELECT count(*) FROM attempt WHERE job_id=$job2")
[ "$n_att" = 1 ] || fail "a model failure was retried: $n_att attempts, want 1 (default budget 3)"
row=$(sql "SELECT fail_class || '|' || reason FROM attempt WHERE job_id=$job2 LIMIT 1")
echo "mismatched model: $row"
case $row in model\|*vae/diffusion_pytorch_model.safetensors*decoder.conv_in.conv.weight*) ;;
  *) fail "want class model naming the VAE weights file and tensor, got: $row" ;; esac
echo "PASS render_farm: dit shot rendered by the pipeline; mismatched model failed with class model"
