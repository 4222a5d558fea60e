#!/usr/bin/env bash
# Benchmark: image -> rootfs directory with Decant (AOT binary) vs `umoci unpack`, same image, same run.
# Runs alternate (A B A B ...), reports medians, the ratio, and peak RSS of each.
# Usage: bench/export-vs-umoci.sh [RUNS]        (default 3)
# Env: BENCH_IMAGE_GROUPS to choose the host directories that become layers (see make-bench-image.py).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
runs=${1:-3}
prepare

groups=${BENCH_IMAGE_GROUPS:-"/usr/share/dotnet /usr/lib/gcc /usr/bin,/usr/sbin /usr/include"}
image="$work/image"
stamp="$work/image.groups"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$groups" ]; then
  rm -rf "$image"
  # shellcheck disable=SC2086
  python3 bench/make-bench-image.py "$image" bench $groups
  echo "$groups" > "$stamp"
fi
unpacked=$(python3 -c "import json,sys; print(sum(l['size'] for l in json.load(open(sys.argv[1]))['layers']))" \
  "$image/blobs/sha256/$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['manifests'][0]['digest'][7:])" "$image/index.json")")
echo "image: $image ($((unpacked >> 20)) MiB compressed)"

decant_times=(); umoci_times=(); decant_rss=0; umoci_rss=0
for i in $(seq 1 "$runs"); do
  rm -rf "$work/out-decant" "$work/out-umoci"; settle
  timed "$decant" export "oci:$image:bench" -o "$work/out-decant" --no-cache --progress none > "$work/m.txt"; read -r t m < "$work/m.txt"
  decant_times+=("$t"); [ "$m" -gt "$decant_rss" ] && decant_rss=$m
  rm -rf "$work/out-decant"; settle
  timed umoci unpack --image "$image:bench" "$work/out-umoci" > "$work/m.txt"; read -r t m < "$work/m.txt"
  umoci_times+=("$t"); [ "$m" -gt "$umoci_rss" ] && umoci_rss=$m
  rm -rf "$work/out-umoci"
  echo "run $i: decant ${decant_times[-1]}s, umoci ${umoci_times[-1]}s"
done
d=$(median "${decant_times[@]}"); u=$(median "${umoci_times[@]}")
echo "median: decant ${d}s, umoci unpack ${u}s; decant is $(ratio "$u" "$d")x faster"
echo "peak RSS: decant $((decant_rss / 1024)) MiB, umoci $((umoci_rss / 1024)) MiB"
