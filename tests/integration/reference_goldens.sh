#!/usr/bin/env bash
# The committed golden tensors (tests/golden/, written by tests/reference/generate.sh) are intact:
# every file in the manifest exists with its recorded sha256, no golden file is missing from the
# manifest, and each safetensors file starts with a sane 8-byte header length.
set -u
cd "$(dirname "$0")/../golden" || { echo "no tests/golden"; exit 1; }
[ -f SHA256SUMS ] || { echo "tests/golden/SHA256SUMS missing"; exit 1; }
sha256sum --quiet -c SHA256SUMS || { echo "golden files differ from SHA256SUMS"; exit 1; }
listed=$(awk '{print $2}' SHA256SUMS | LC_ALL=C sort)
present=$(find dit sampler -type f | LC_ALL=C sort)
[ "$listed" = "$present" ] || { echo "golden files not in the manifest:"; comm -13 <(echo "$listed") <(echo "$present"); exit 1; }
n=0
for f in $(echo "$present" | grep '\.safetensors$'); do
  size=$(stat -c %s "$f")
  hdr=$(od -An -t u8 -N 8 "$f" | tr -d ' ')
  if [ -z "$hdr" ] || [ "$hdr" -le 2 ] || [ $((hdr + 8)) -gt "$size" ]; then
    echo "$f: bad safetensors header length '$hdr' (file $size bytes)"; exit 1
  fi
  [ "$(dd if="$f" bs=1 skip=8 count=1 2>/dev/null)" = "{" ] || { echo "$f: header is not JSON"; exit 1; }
  n=$((n + 1))
done
echo "goldens intact: $(wc -l < SHA256SUMS) files, $n safetensors"
