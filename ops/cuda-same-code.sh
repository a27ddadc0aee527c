#!/usr/bin/env bash
# cuda-same-code.sh — proves, without a GPU, that a source change leaves the GPU machine code of a
# CUDA file as it was: compiles FILE.cu at REV (default HEAD) and as it is in the working tree to a
# cubin for each architecture the Makefile builds (sm_80, sm_90a), with the Makefile's flags, and
# compares them byte for byte. Identical cubins mean every kernel of the file runs exactly as the
# version that was measured on a GPU; the refactor needs no GPU run.
# usage: ops/cuda-same-code.sh kernels/cuda/FILE.cu [REV]
# exit: 0 identical, 1 different (the differing kernels are listed), 2 usage or compile error.
set -u
cd "$(dirname "$0")/.."
f=${1:-}; rev=${2:-HEAD}
[ -n "$f" ] && [ -f "$f" ] || { echo "usage: ops/cuda-same-code.sh kernels/cuda/FILE.cu [REV]" >&2; exit 2; }
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[ -x "$NVCC" ] || { echo "cuda-same-code: no nvcc" >&2; exit 2; }
T=$(mktemp -d /tmp/cuda-same.XXXXXX); trap 'rm -rf "$T"' EXIT
# the old tree: the file at REV, with the headers at REV too (a header change shows up as a difference)
mkdir -p "$T/old" && git archive "$rev" | tar -x -C "$T/old" || { echo "cuda-same-code: cannot read $rev" >&2; exit 2; }
[ -f "$T/old/$f" ] || { echo "cuda-same-code: $f is not in $rev" >&2; exit 2; }
rc=0
for arch in 80 90a; do
  for side in old new; do
    dir=$([ $side = old ] && echo "$T/old" || echo .)
    (cd "$dir" && "$NVCC" -O3 -std=c++17 -arch=sm_$arch -cubin -I. -I"$(dirname "$NVCC")/../include" "$f" \
       -o "$T/$side.$arch.cubin") || { echo "cuda-same-code: $side $f does not compile for sm_$arch" >&2; exit 2; }
  done
  if cmp -s "$T/old.$arch.cubin" "$T/new.$arch.cubin"; then
    echo "sm_$arch: identical machine code ($f, $rev vs working tree)"
  else
    rc=1
    echo "sm_$arch: DIFFERENT machine code ($f, $rev vs working tree)"
    if command -v python3 >/dev/null; then   # which kernels: hash each .text.<kernel> section
      for side in old new; do python3 - "$T/$side.$arch.cubin" >"$T/$side.txt" <<'PY'
import sys, struct, hashlib
d = open(sys.argv[1], 'rb').read()
off = struct.unpack_from('<Q', d, 0x28)[0]
size, num, stri = struct.unpack_from('<HHH', d, 0x3A)
sec = [struct.unpack_from('<IIQQQQIIQQ', d, off + i * size) for i in range(num)]
base = sec[stri][4]
for s in sec:
    n = d[base + s[0]:d.index(b'\0', base + s[0])].decode()
    if n.startswith('.text.'):
        print(n[6:], hashlib.md5(d[s[4]:s[4] + s[5]]).hexdigest()[:12])
PY
      done
      diff "$T/old.txt" "$T/new.txt" | sed -n 's/^[<>] //p' | awk '{print "  kernel differs or is new: " $1}' | sort -u
    fi
  fi
done
exit $rc
