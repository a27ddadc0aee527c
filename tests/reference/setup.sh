#!/usr/bin/env bash
# Creates the pinned Python reference environment used to (re)generate tests/golden/.
# The environment lives OUTSIDE the repository: ${FARM_REFENV:-$HOME/.cache/farm-refenv}.
# Idempotent: an existing environment whose installed packages already match
# requirements.txt is left alone. Never needed by CI (the goldens are committed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
env_dir=${FARM_REFENV:-$HOME/.cache/farm-refenv}
req=$here/requirements.txt
stamp=$env_dir/.farm-requirements.sha256
py=${PYTHON:-python3}

want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$env_dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "reference env up to date: $env_dir"
  exit 0
fi

mkdir -p "$(dirname "$env_dir")"
[ -x "$env_dir/bin/python" ] || "$py" -m venv "$env_dir"
"$env_dir/bin/python" -m pip install --upgrade pip wheel
"$env_dir/bin/python" -m pip install -r "$req"
"$env_dir/bin/python" - <<'PY'
import torch, diffusers, transformers, safetensors, numpy
print("torch", torch.__version__, "diffusers", diffusers.__version__,
      "transformers", transformers.__version__, "numpy", numpy.__version__)
PY
echo "$want" > "$stamp"
echo "reference env ready: $env_dir  (activate: . $env_dir/bin/activate)"
