#!/usr/bin/env bash
# Regenerates every golden file under tests/golden/ with the pinned reference environment.
# Deterministic: re-running it on the same pinned versions rewrites byte-identical tensors.
#   bash tests/reference/generate.sh [PATH/TO/TransPixar/CogVideoX/rgba_utils.py]
# With the optional path it also cross-checks our TransPixar reference against the released code.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
env_dir=${FARM_REFENV:-$HOME/.cache/farm-refenv}
bash "$here/setup.sh"
py=$env_dir/bin/python
rm -rf "$here/../golden/dit" "$here/../golden/sampler"
"$py" "$here/gen_dit.py"
"$py" "$here/gen_sampler.py"
# Text, VAE and whole-pipeline goldens; each writes its own manifest. Order matters: the T5 and
# pipeline goldens reuse the tokenizer that gen_tokenizer.py trains.
"$py" "$here/gen_tokenizer.py"
"$py" "$here/gen_t5.py"
"$py" "$here/gen_vae.py"
"$py" "$here/gen_pipeline.py"
if [ $# -ge 1 ]; then "$py" "$here/check_release.py" "$1"; fi
# Manifest checked by tests/integration/reference_goldens.sh (no Python needed there).
(cd "$here/../golden" && find dit sampler -type f | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
du -sh "$here/../golden"
