#!/usr/bin/env bash
# Benchmark: the layer cache (issue 9), with the AOT binary, on the image bench/export-vs-umoci.sh builds.
# For ext4 and directory output, alternated in one run:
#   cold --no-cache | cold with an empty cache (--cache DIR, emptied before each run) | warm (the cache that run filled)
# on the host filesystem of BENCH_WORK; then the warm measurement again on an XFS reflink=1 loop
# filesystem (made and removed here) that holds both the cache and the output, against a cold
# --no-cache export onto that same filesystem. Each run's --progress json summary is checked (a cold
# run with the cache converts every layer, a warm one takes every layer from the cache, a warm
# directory export on XFS reflinks every file), and the last run of each kind is compared with the
# --no-cache output (ext4: the same bytes; directory: diff -r).
# The page cache is kept between runs (writeback is flushed): see export_run.
# Prints medians, warm / cold --no-cache (targets <= 0.15 on the host, <= 0.05 on XFS), cold with the
# cache / cold --no-cache (target <= 1.15), and peak RSS (target <= 64 MiB).
# Usage: bench/cache-vs-no-cache.sh [RUNS]      (default 3)
# Env: BENCH_XFS_SIZE, the XFS loop file's size for truncate (default 24G, sparse).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
runs=${1:-3}
prepare
require_bench_image

xfs_image="$work/cache-xfs.img"
xfs="$work/cache-xfs"
cleanup() {
  if mountpoint -q "$xfs"; then umount "$xfs" 2>/dev/null || umount -l "$xfs"; fi
  rm -rf "$xfs" "$xfs_image" "$work"/cache-host*
}
trap cleanup EXIT
cleanup

declare -A times peak
# export_run LABEL ROOT FORMAT ARGS...: a timed export of the bench image to ROOT/LABEL-FORMAT
# (removed first), its time and peak RSS recorded under LABEL-FORMAT.
export_run() {
  local key="$1-$3" out="$2/$1-$3"; local format=$3; shift 3
  # Writeback is flushed between runs, but the page cache is kept: a host that exports many times a
  # day has its cache's objects (and its layout's blobs) in memory, and dropping them would measure
  # the disk's read speed rather than the export (every kind of run is treated alike).
  rm -rf "$out"; sync
  local t m
  read -r t m <<<"$(timed "$decant" export "oci:$image:bench" -o "$out" --format "$format" --progress json "$@")"
  times[$key]+=" $t"
  if (( m > ${peak[$key]:-0} )); then peak[$key]=$m; fi
  last=$t
}

# expect FIELD OP FIELD_OR_NUMBER: checks the cache object of the last run's JSON summary (the last
# line on stderr), e.g. `expect layersFromCache == layersTotal`.
expect() {
  python3 - "$work/stderr.txt" "$@" <<'EOF'
import json, sys
cache = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["cache"]
left, op, right = sys.argv[2:5]
value = lambda name: int(name) if name.isdigit() else cache[name]
ok = {"==": value(left) == value(right), ">": value(left) > value(right)}[op]
if not ok:
    sys.exit(f"expected {left} {op} {right} in the summary's cache object: {cache}")
EOF
}

# same_output FORMAT A B: the two outputs hold the same image (ext4: byte for byte; directory: the
# same contents, diff -r, and the same types, modes, owners, sizes and link targets).
same_output() {
  if [ "$1" = ext4 ]; then cmp -s "$2" "$3"; else
    diff -r --no-dereference "$2" "$3" >/dev/null &&
      cmp -s <(cd "$2" && find . -printf '%P %y %m %U %G %s %n %l\n' | sort) <(cd "$3" && find . -printf '%P %y %m %U %G %s %n %l\n' | sort)
  fi || { echo "$3 differs from $2" >&2; exit 1; }
}

# median_of KEY: the median seconds of KEY's runs.
median_of() { # shellcheck disable=SC2086
  median ${times[$1]}; }

echo "host filesystem: $(df -T "$work" | awk 'NR==2 {print $2}') ($work)"
for i in $(seq 1 "$runs"); do
  for format in ext4 dir; do
    # A new directory for each cold cache, all removed at the end: ext4 allocates inodes slowly for a
    # few minutes after tens of thousands were freed (it skips recently deleted ones), which would
    # charge the deletion of the previous run's cache to this one.
    host_cache="$work/cache-host-$i-$format"
    export_run nocache "$work" "$format" --no-cache; a=$last
    expect layersFromCache == 0
    export_run cold "$work" "$format" --cache "$host_cache"; b=$last
    expect layersConverted == layersTotal
    export_run warm "$work" "$format" --cache "$host_cache"; c=$last
    expect layersFromCache == layersTotal
    expect bytesDownloaded == 0
    if [ "$i" = "$runs" ]; then
      same_output "$format" "$work/nocache-$format" "$work/cold-$format"
      same_output "$format" "$work/nocache-$format" "$work/warm-$format"
    fi
    rm -rf "$work/nocache-$format" "$work/cold-$format" "$work/warm-$format"
    echo "run $i, $format: cold --no-cache ${a}s, cold with the cache ${b}s, warm ${c}s"
  done
done
rm -rf "$work"/cache-host*

truncate -s "${BENCH_XFS_SIZE:-24G}" "$xfs_image"
mkfs.xfs -q -f -m reflink=1 "$xfs_image"
mkdir -p "$xfs"
mount -o loop "$xfs_image" "$xfs"
"$decant" export "oci:$image:bench" -o "$xfs/fill" --format dir --cache "$xfs/cache" --progress none
rm -rf "$xfs/fill"
for i in $(seq 1 "$runs"); do
  for format in ext4 dir; do
    export_run xfs-nocache "$xfs" "$format" --no-cache; a=$last
    export_run xfs-warm "$xfs" "$format" --cache "$xfs/cache"; c=$last
    expect layersFromCache == layersTotal
    if [ "$format" = dir ]; then expect filesReflinked '>' 0; expect filesCopied == 0; fi
    if [ "$i" = "$runs" ]; then same_output "$format" "$xfs/xfs-nocache-$format" "$xfs/xfs-warm-$format"; fi
    rm -rf "$xfs/xfs-nocache-$format" "$xfs/xfs-warm-$format"
    echo "run $i on XFS (reflink=1), $format: cold --no-cache ${a}s, warm ${c}s"
  done
done

rss=0
for key in "${!peak[@]}"; do if (( peak[$key] > rss )); then rss=${peak[$key]}; fi; done
for format in ext4 dir; do
  n=$(median_of "nocache-$format"); b=$(median_of "cold-$format"); w=$(median_of "warm-$format")
  xn=$(median_of "xfs-nocache-$format"); xw=$(median_of "xfs-warm-$format")
  echo "median, $format: cold --no-cache ${n}s, cold with the cache ${b}s, warm ${w}s;" \
    "on XFS: cold --no-cache ${xn}s, warm ${xw}s"
  echo "  warm / cold --no-cache: $(ratio2 "$w" "$n") (target <= 0.15); on XFS with reflinks: $(ratio2 "$xw" "$xn") (target <= 0.05)"
  echo "  cold with the cache / cold --no-cache: $(ratio2 "$b" "$n") (target <= 1.15)"
  echo "  peak RSS: cold --no-cache $((peak[nocache-$format] / 1024)) MiB, cold with the cache $((peak[cold-$format] / 1024)) MiB," \
    "warm $((peak[warm-$format] / 1024)) MiB, warm on XFS $((peak[xfs-warm-$format] / 1024)) MiB"
done
echo "decant peak RSS over every run: $((rss / 1024)) MiB (target <= 64)"
