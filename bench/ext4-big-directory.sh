#!/usr/bin/env bash
# Benchmark: an image whose one layer holds a 100 000-entry directory, exported to ext4 by the AOT
# binary (whole command: read, apply, lay out the htree, write). Prints wall time and peak RSS, and
# checks the image with e2fsck. Issue 4's target: under 2 s, and at most 64 MiB + 1 KiB per entry.
# Usage: bench/ext4-big-directory.sh [ENTRIES]     (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
entries=${1:-100000}
work=${BENCH_WORK:-/var/tmp/decant-bench}/big-directory-$entries
decant=artifacts/aot/decant
[ -x "$decant" ] || bash scripts/publish-aot.sh >/dev/null
if [ ! -f "$work/image/index.json" ]; then
  rm -rf "$work"; mkdir -p "$work"
  python3 bench/single-layer-layout.py "$work/image" bench big-directory "$entries"
fi
for run in 1 2 3; do
  rm -f "$work/out.ext4"
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$decant" export "oci:$work/image:bench" -o "$work/out.ext4" --no-cache --progress none
  read -r seconds kib < "$work/time.txt"
  e2fsck -fn "$work/out.ext4" >/dev/null 2>&1 || { echo "e2fsck found problems" >&2; exit 1; }
  echo "run $run: $entries entries in one directory -> ext4 in ${seconds}s, peak RSS $((kib / 1024)) MiB (budget $(( 64 + entries / 1024 )) MiB)"
done
rm -f "$work/out.ext4"
