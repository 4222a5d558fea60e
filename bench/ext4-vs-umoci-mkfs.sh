#!/usr/bin/env bash
# Benchmark: image -> ext4 disk image with Decant (AOT) vs `umoci unpack` + `mkfs.ext4 -d`, same image,
# same run, and against the decode floor (every layer decompressed on one thread, bench/DecodeFloor).
# Runs alternate, reports medians, ratios and Decant's peak RSS; checks each Decant image with e2fsck.
# Usage: bench/ext4-vs-umoci-mkfs.sh [RUNS]      (default 3; uses the image bench/export-vs-umoci.sh builds)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
runs=${1:-3}
prepare
require_bench_image
dotnet build bench/DecodeFloor -c Release --nologo -v quiet >/dev/null
floor_tool=bench/DecodeFloor/bin/Release/net10.0/DecodeFloor.dll

chain() {
  umoci unpack --image "$image:bench" "$work/chain-bundle" >/dev/null
  # mkfs.ext4 needs the size up front: the tree plus 20 %, as users do.
  local kib; kib=$(du -sk "$work/chain-bundle/rootfs" | cut -f1)
  mkfs.ext4 -q -F -d "$work/chain-bundle/rootfs" "$work/chain.ext4" "$(( kib * 12 / 10 + 65536 ))k"
}
export -f chain; export image work

d=(); c=(); f=(); rss=0
for i in $(seq 1 "$runs"); do
  rm -f "$work/decant.ext4"; settle
  read -r t m <<<"$(timed "$decant" export "oci:$image:bench" -o "$work/decant.ext4" --no-cache --progress none)"; d+=("$t"); [ "$m" -gt "$rss" ] && rss=$m
  e2fsck -fn "$work/decant.ext4" >/dev/null 2>&1 || { echo "e2fsck found problems in Decant's image" >&2; exit 1; }
  rm -f "$work/decant.ext4"; settle
  read -r t _ <<<"$(timed bash -c chain)"; c+=("$t")
  rm -rf "$work/chain-bundle" "$work/chain.ext4"; settle
  settle
  f+=("$(dotnet "$floor_tool" "oci:$image:bench" | cut -d' ' -f1)")
  echo "run $i: decant ${d[-1]}s, umoci unpack + mkfs.ext4 -d ${c[-1]}s, decode floor (one core) ${f[-1]}s"
done
md=$(median "${d[@]}"); mc=$(median "${c[@]}"); mf=$(median "${f[@]}")
echo "median: decant ${md}s, umoci unpack + mkfs.ext4 -d ${mc}s: decant is $(ratio "$mc" "$md")x faster"
echo "decant / decode floor on one core: $(awk -v a="$md" -v b="$mf" 'BEGIN {printf "%.2f", a/b}') (target <= 1.5)"
echo "decant peak RSS: $((rss / 1024)) MiB"
