#!/usr/bin/env bash
# Shows that Decant's peak memory does not grow with the image: exports a ~1.4 GB and a ~3 GB image
# (uncompressed) to a directory and to a tar with the AOT binary and prints wall time and peak RSS.
# Usage: bench/memory-vs-size.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=${BENCH_WORK:-/var/tmp/decant-bench}
mkdir -p "$work"
decant=artifacts/aot/decant
[ -x "$decant" ] || bash scripts/publish-aot.sh >/dev/null
declare -A images=(
  [small]="/usr/share/dotnet /usr/lib/gcc /usr/bin,/usr/sbin /usr/include"
  [large]="/usr/share/dotnet /usr/lib/gcc /usr/bin,/usr/sbin /usr/include /usr/lib/x86_64-linux-gnu /usr/lib/jvm,/usr/lib/llvm-14"
)
for name in small large; do
  image="$work/mem-$name"
  if [ ! -f "$image/.groups" ] || [ "$(cat "$image/.groups")" != "${images[$name]}" ]; then
    rm -rf "$image"
    # shellcheck disable=SC2086
    python3 bench/make-bench-image.py "$image" bench ${images[$name]} 2>/dev/null
    echo "${images[$name]}" > "$image/.groups"
  fi
  for format in dir tar; do
    out="$work/mem-out.$format"; rm -rf "$out"
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$decant" export "oci:$image:bench" -o "$out" --format "$format" --no-cache --progress json 2> "$work/progress.txt" >/dev/null
    summary=$(grep '"event":"summary"' "$work/progress.txt")
    field() { echo "$summary" | grep -o "\"$1\":[0-9]*" | cut -d: -f2; }
    bytes=$(field uncompressedBytes)
    entries=$(( $(field directories) + $(field files) + $(field symlinks) + $(field hardlinks) ))
    read -r seconds kib < "$work/time.txt"
    echo "$name image ($((bytes >> 20)) MiB unpacked, $entries entries), $format: ${seconds}s, peak RSS $((kib / 1024)) MiB"
    rm -rf "$out"
  done
done
