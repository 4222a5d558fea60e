#!/usr/bin/env bash
# Benchmark: the layer cache (issue 9), with the AOT binary, on the image bench/export-vs-umoci.sh builds.
# On two fresh loop filesystems made here (and removed at the end), each holding the caches and the
# outputs: ext4 as mkfs.ext4 makes it by default (copy-bound: no reflinks) and XFS with reflink=1.
# For ext4 and directory output, alternated in one run, on each:
#   cold --no-cache | cold with an empty cache (a new --cache DIR) | warm (the cache that run filled)
# Each run's --progress json summary is checked (a cold run with the cache converts every layer, a
# warm one takes every layer from the cache, a warm directory export on XFS reflinks every file),
# and the last run of each kind is compared with the --no-cache output (ext4: the same bytes;
# directory: diff -r and the same types, modes, owners, sizes and link targets).
# Then the floors a warm export cannot beat, on the same filesystems: cp of the --no-cache output
# (the ext4 image: one file's bytes; the directory: cp -a of the tree), with --reflink=always on XFS.
# Why fresh filesystems: this VM's root filesystem is an ext4 without a journal, where ext4 passes over
# inodes freed in the last minutes when it allocates one (a nojournal safeguard): after one run's
# output is removed, the next run's 16 000 files cost seconds more, whichever kind it is.
# The page cache is kept between runs (writeback is flushed): see export_run.
# Prints medians, warm / cold --no-cache (targets <= 0.15 on ext4, <= 0.05 on XFS), cold with the
# cache / cold --no-cache (target <= 1.15), the floors as ratios to cold --no-cache, and peak RSS (target <= 64 MiB).
# Usage: bench/cache-vs-no-cache.sh [RUNS]      (default 3)
# Env: BENCH_FS_SIZE, each loop file's size for truncate (default 24G, sparse); BENCH_FILESYSTEMS, which of
# "ext4 xfs" to run on (default both).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
runs=${1:-3}
prepare
require_bench_image

read -r -a filesystems <<<"${BENCH_FILESYSTEMS:-ext4 xfs}"
cleanup() {
  for fs in "${filesystems[@]}"; do unmount_fs "cache-$fs"; done
}
trap cleanup EXIT
for fs in "${filesystems[@]}"; do mount_fresh_fs "cache-$fs" "$fs"; done

declare -A times peak floor
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

# median_of KEY: the median seconds of KEY's runs.
median_of() { # shellcheck disable=SC2086
  median ${times[$1]}; }

for i in $(seq 1 "$runs"); do
  for fs in "${filesystems[@]}"; do
    root="$work/cache-$fs"
    for format in ext4 dir; do
      export_run "$fs-nocache" "$root" "$format" --no-cache; a=$last
      expect layersFromCache == 0
      export_run "$fs-cold" "$root" "$format" --cache "$root/cache-$i-$format"; b=$last
      expect layersConverted == layersTotal
      export_run "$fs-warm" "$root" "$format" --cache "$root/cache-$i-$format"; c=$last
      expect layersFromCache == layersTotal
      expect bytesDownloaded == 0
      if [ "$fs" = xfs ] && [ "$format" = dir ]; then expect filesReflinked '>' 0; expect filesCopied == 0; fi
      if [ "$i" = "$runs" ]; then
        same_output "$format" "$root/$fs-nocache-$format" "$root/$fs-cold-$format"
        same_output "$format" "$root/$fs-nocache-$format" "$root/$fs-warm-$format"
        # The floors: copying the output as it is (by reflinks on XFS).
        reflink=never; if [ "$fs" = xfs ]; then reflink=always; fi
        rm -rf "$root/floor"; sync
        read -r t _ <<<"$(timed cp -a --reflink=$reflink "$root/$fs-nocache-$format" "$root/floor")"
        floor[$fs-$format]=$t
        rm -rf "$root/floor"
      fi
      rm -rf "$root/$fs-nocache-$format" "$root/$fs-cold-$format" "$root/$fs-warm-$format" "$root/cache-$i-$format"
      echo "run $i on $fs, $format: cold --no-cache ${a}s, cold with the cache ${b}s, warm ${c}s"
    done
  done
done

rss=0
for key in "${!peak[@]}"; do if (( peak[$key] > rss )); then rss=${peak[$key]}; fi; done
for fs in "${filesystems[@]}"; do
  for format in ext4 dir; do
    n=$(median_of "$fs-nocache-$format"); b=$(median_of "$fs-cold-$format"); w=$(median_of "$fs-warm-$format")
    target=0.15; how="cp -a"; if [ "$fs" = xfs ]; then target=0.05; how="cp -a --reflink=always"; fi
    echo "median on $fs, $format: cold --no-cache ${n}s, cold with the cache ${b}s, warm ${w}s"
    echo "  warm / cold --no-cache: $(ratio2 "$w" "$n") (target <= $target); the floor, $how of the output: ${floor[$fs-$format]}s, $(ratio2 "${floor[$fs-$format]}" "$n")"
    echo "  cold with the cache / cold --no-cache: $(ratio2 "$b" "$n") (target <= 1.15)"
    echo "  peak RSS: cold --no-cache $((peak[$fs-nocache-$format] / 1024)) MiB, cold with the cache $((peak[$fs-cold-$format] / 1024)) MiB," \
      "warm $((peak[$fs-warm-$format] / 1024)) MiB"
  done
done
echo "decant peak RSS over every run: $((rss / 1024)) MiB (target <= 64)"
