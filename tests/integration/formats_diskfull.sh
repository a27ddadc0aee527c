#!/usr/bin/env bash
# formats_diskfull.sh — assembling onto a really full disk (a 320 KiB tmpfs) and onto a read-only
# file system must fail with a clear reason and leave no partial output or temporary behind.
# Needs root to mount tmpfs; skips otherwise.
set -u
cd "$(dirname "$0")/../.."
BIN=${FARM_BIN:-bin}
if [ -n "${FARM_BUILD:-}" ]; then BUILD=$FARM_BUILD
elif [ -x "$(dirname "$BIN")/tests/test_mux_formats" ]; then BUILD=$(dirname "$BIN")
else BUILD=build; fi
T=$BUILD/tests/test_mux_formats
[ -x "$T" ] || { echo "skip: $T not built (make tests-build)"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "skip: needs root to mount a small tmpfs"; exit 77; }

D=$(mktemp -d /tmp/formats_diskfull.XXXXXX)
mkdir -p "$D/full" "$D/ro" "$D/work"
cleanup() { umount "$D/full" 2>/dev/null; umount "$D/ro" 2>/dev/null; rm -rf "$D"; }
trap cleanup EXIT
mount -t tmpfs -o size=320k tmpfs "$D/full" 2>/dev/null || { echo "skip: cannot mount tmpfs here"; exit 77; }
mount -t tmpfs -o ro,size=64k tmpfs "$D/ro" 2>/dev/null || { echo "skip: cannot mount tmpfs here"; exit 77; }
fail=0

if "$T" --keep "$D/full" "$D/work" > "$D/out.txt" 2>&1; then
  echo "FAIL: assembly onto a 320 KiB disk succeeded"; fail=1
fi
cat "$D/out.txt"
grep -q "No space left on device" "$D/out.txt" || { echo "FAIL: error does not say the disk is full"; fail=1; }
left=$(ls -A "$D/full")
[ -z "$left" ] || { echo "FAIL: left behind on the full disk: $left"; fail=1; }

if "$T" --keep "$D/ro" "$D/work" > "$D/out2.txt" 2>&1; then
  echo "FAIL: assembly onto a read-only file system succeeded"; fail=1
fi
cat "$D/out2.txt"
grep -q "Read-only file system" "$D/out2.txt" || { echo "FAIL: error does not say read-only"; fail=1; }

# the same request onto a disk with room succeeds (the failures above were the disk's, not ours)
"$T" --keep "$D/work" "$D/work" > "$D/out3.txt" 2>&1 || { cat "$D/out3.txt"; echo "FAIL: assembly with room failed"; fail=1; }
[ $fail -eq 0 ] && echo "formats_diskfull: full and read-only disks fail cleanly"
exit $fail
