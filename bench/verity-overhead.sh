#!/usr/bin/env bash
# Benchmark: what --verity adds to an ext4 export of the image bench/export-vs-umoci.sh builds.
# Alternates, RUNS times each, an ext4 export without and with --verity, either --no-cache (cold, the
# default) or from a cache filled first (BENCH_WARM=1: the layers' files are copied from the cache,
# so the export is faster and the tree's share larger). The page cache is kept between runs (the tree
# is hashed from the image just written). Checks the last --verity image with veritysetup verify.
# Prints each run (wall seconds, user+sys CPU seconds, peak RSS) and the medians' ratios, verity / plain
# (target <= 1.15).
# Usage: bench/verity-overhead.sh [RUNS]      (default 3)
# Env: BENCH_DECANT, the command to run decant with (default: the AOT binary, published if missing),
# e.g. "dotnet src/Decant.Cli/bin/Release/net10.0/decant.dll"; BENCH_WARM=1 for warm-cache runs.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
runs=${1:-3}
if [ -n "${BENCH_DECANT:-}" ]; then
  work=${BENCH_WORK:-/var/tmp/decant-bench}
  read -r -a decant_command <<<"$BENCH_DECANT"
else
  prepare
  decant_command=("$decant")
fi
require_bench_image
out="$work/verity-bench"; rm -rf "$out"; mkdir -p "$out"
cache=(--no-cache)
if [ "${BENCH_WARM:-0}" = 1 ]; then
  cache=(--cache "$out/cache")
  "${decant_command[@]}" export "oci:$image" -o "$out/fill.ext4" "${cache[@]}" --progress none
  rm -f "$out/fill.ext4"
fi
declare -A wall cpu
for run in $(seq 1 "$runs"); do
  for mode in plain verity; do
    extra=(); [ "$mode" = verity ] && extra=(--verity-out "$out/verity.json")
    rm -f "$out/image.ext4"; sync
    /usr/bin/time -f "%e %U %S %M" -o "$out/time.txt" "${decant_command[@]}" export "oci:$image" -o "$out/image.ext4" "${cache[@]}" --progress none "${extra[@]}"
    read -r seconds user system rss < "$out/time.txt"
    used=$(awk -v u="$user" -v s="$system" 'BEGIN {print u + s}')
    wall[$mode]+="$seconds "; cpu[$mode]+="$used "
    echo "run $run $mode: ${seconds}s wall, ${used}s cpu, ${rss} KiB, image $(stat -c %s "$out/image.ext4") bytes"
  done
done
veritysetup verify "$out/image.ext4" "$out/image.ext4" "$(jq -r .rootHash "$out/verity.json")" --hash-offset "$(jq -r .hashOffset "$out/verity.json")"
# shellcheck disable=SC2086 # the lists are space-separated numbers
{
  plain_wall=$(median ${wall[plain]}); verity_wall=$(median ${wall[verity]})
  plain_cpu=$(median ${cpu[plain]}); verity_cpu=$(median ${cpu[verity]})
}
echo "medians: plain ${plain_wall}s wall ${plain_cpu}s cpu, verity ${verity_wall}s wall ${verity_cpu}s cpu"
echo "verity / plain: wall $(ratio2 "$verity_wall" "$plain_wall"), cpu $(ratio2 "$verity_cpu" "$plain_cpu") (target <= 1.15)"
rm -rf "$out"
