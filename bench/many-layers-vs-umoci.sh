#!/usr/bin/env bash
# Benchmark: an image of COUNT identical empty layers -> rootfs directory (and ext4) with Decant
# (AOT binary) vs `umoci unpack`, same image, same run: the per-layer overhead, and whether time
# grows faster than the layer count. Runs alternate, medians reported.
# Usage: bench/many-layers-vs-umoci.sh [COUNT] [RUNS]        (defaults 20000 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
count=${1:-20000}; runs=${2:-3}
prepare

image="$work/many-layers-$count"
[ -f "$image/index.json" ] || python3 bench/make-many-layers-image.py "$image" "$count"
echo "image: $image ($count layers)"

dir_times=(); ext4_times=(); umoci_times=()
for i in $(seq 1 "$runs"); do
  rm -rf "$work/out-decant" "$work/out-umoci" "$work/out.ext4"; settle
  timed "$decant" export "oci:$image:many" -o "$work/out-decant" --no-cache --progress none > "$work/m.txt"; read -r t _ < "$work/m.txt"; dir_times+=("$t")
  rm -rf "$work/out-decant"; settle
  timed "$decant" export "oci:$image:many" -o "$work/out.ext4" --no-cache --progress none > "$work/m.txt"; read -r t _ < "$work/m.txt"; ext4_times+=("$t")
  rm -f "$work/out.ext4"; settle
  timed umoci unpack --image "$image:many" "$work/out-umoci" > "$work/m.txt"; read -r t _ < "$work/m.txt"; umoci_times+=("$t")
  rm -rf "$work/out-umoci"
  echo "run $i: decant dir ${dir_times[-1]}s, decant ext4 ${ext4_times[-1]}s, umoci ${umoci_times[-1]}s"
done
d=$(median "${dir_times[@]}"); e=$(median "${ext4_times[@]}"); u=$(median "${umoci_times[@]}")
echo "median ($count layers): decant dir ${d}s, decant ext4 ${e}s, umoci unpack ${u}s; dir is $(ratio "$u" "$d")x umoci's speed"
