#!/usr/bin/env bash
# Benchmark: one layer of N hardlinks to one file (issue 7's scale case), exported to a directory by
# the AOT binary and unpacked by `umoci unpack`, alternated, page cache dropped before each run;
# prints medians, the ratio and peak RSS against the budget of 64 MiB + 1 KiB per entry. The output
# goes to a tmpfs: ext4, where the work directory usually lives, allows 65 000 links to one inode.
# Usage: bench/hardlinks-vs-umoci.sh [ENTRIES] [RUNS]     (default 1000000 3)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
entries=${1:-1000000}
runs=${2:-3}
prepare
image="$work/hardlinks-$entries"
if [ ! -f "$image/index.json" ]; then
  rm -rf "$image"
  python3 bench/single-layer-layout.py "$image" bench hardlinks "$entries"
fi
target="$work/hardlinks-tmpfs"
mkdir -p "$target"
mountpoint -q "$target" || mount -t tmpfs -o size=8G tmpfs "$target"
trap 'umount "$target" 2>/dev/null || true' EXIT
decant_times=(); umoci_times=(); decant_rss=()
for run in $(seq "$runs"); do
  rm -rf "$target/out"; settle
  read -r seconds kib < <(timed "$decant" export "oci:$image:bench" -o "$target/out" --no-cache --progress none)
  decant_times+=("$seconds"); decant_rss+=("$kib")
  rm -rf "$target/out" "$target/bundle"; settle
  read -r seconds _ < <(timed umoci unpack --image "$image:bench" "$target/bundle")
  umoci_times+=("$seconds")
  rm -rf "$target/bundle"
  echo "run $run: decant ${decant_times[-1]}s ($((decant_rss[-1] / 1024)) MiB), umoci ${umoci_times[-1]}s"
done
d=$(median "${decant_times[@]}"); u=$(median "${umoci_times[@]}"); rss=$(median "${decant_rss[@]}")
echo "$entries hardlinks -> directory: decant ${d}s, umoci unpack ${u}s: $(ratio "$u" "$d")x; decant peak RSS $((${rss%.*} / 1024)) MiB (budget $((64 + entries / 1024)) MiB)"
