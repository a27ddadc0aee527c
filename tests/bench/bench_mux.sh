#!/usr/bin/env bash
# bench_mux.sh — runs tests/bench/bench_mux (stitch + mux per output format vs the `ffmpeg` command
# line on the same frames with the same settings, in the same run) and prints the machine it ran on.
# usage: tests/bench/bench_mux.sh [frames_sd=48] [frames_hd=16] [format ...]
# Build dir: $FARM_BUILD (default build); the binary is built if missing.
set -eu
cd "$(dirname "$0")/../.."
B=${FARM_BUILD:-build}
[ -x "$B/bench/bench_mux" ] || make -j2 BUILD="$B" BIN="${FARM_BIN:-bin}" "$B/bench/bench_mux" >/dev/null
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ffmpeg: $(ffmpeg -version | head -1)"
echo "libavcodec: $(pkg-config --modversion libavcodec)  date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo
"$B/bench/bench_mux" "$@"
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
