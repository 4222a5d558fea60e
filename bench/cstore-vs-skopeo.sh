#!/usr/bin/env bash
# Benchmark (issue 12): containers-storage -> rootfs directory, Decant (AOT) against skopeo copy + umoci
# unpack, and against Decant's own export of the same image from a registry, on both bench images
# ("host": bench/export-vs-umoci.sh's few large files; "apt": bench/make-apt-image.sh's many small ones).
# Everything lives on one fresh XFS loop filesystem with reflink=1 (mount_fresh_fs in bench/lib.sh):
# a podman store (overlay driver) into which skopeo imports each image once, the outputs, the
# peer chain's OCI layout and bundle, and Decant's layer cache. Per run, alternated, the page cache
# dropped before each timed command:
#   decant export containers-storage:[overlay@FS/root+FS/run]IMAGE -o FS/out --cache FS/cache (a new,
#     empty cache each run: every layer is read from the store, its files reflinked into the cache and
#     from there into the output)
#   the same with --no-cache
#   skopeo copy containers-storage:... oci:FS/layout:1 && umoci unpack --image FS/layout:1 FS/bundle
#   decant export 127.0.0.1:PORT/IMAGE (Debian's docker-registry, the image pushed by skopeo) -o FS/out --no-cache
# Prints medians, the ratios (target: containers-storage -> dir at least 20x faster than skopeo + umoci),
# peak RSS, and the reflinked/copied counts of the summaries. The last run's outputs are compared
# with umoci's bundle (diff -r, and types, modes, owners, sizes, link counts and targets).
# Usage: bench/cstore-vs-skopeo.sh [RUNS]      (default 3)
# Env: BENCH_IMAGES, which of "host apt" to run (default both); BENCH_FS_SIZE, the loop file's size (default 24G, sparse).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
runs=${1:-3}
prepare
require_bench_image
read -r -a names <<<"${BENCH_IMAGES:-host apt}"
declare -A layout=([host]=$image [apt]="$work/apt-image")
for name in "${names[@]}"; do
  [ -n "${layout[$name]:-}" ] || { echo "BENCH_IMAGES: $name is neither host nor apt" >&2; exit 2; }
done
if [[ " ${names[*]} " == *" apt "* ]] && [ ! -f "$work/apt-image/index.json" ]; then bash bench/make-apt-image.sh "$work/apt-image"; fi

fs="$work/cstore-fs"
# The overlay driver (as root) bind-mounts GRAPHROOT/overlay on itself and leaves it mounted when skopeo exits.
unmount_store() { if mountpoint -q "$fs/root/overlay" 2>/dev/null; then umount "$fs/root/overlay"; fi; }
start_registry
registry="$work/registry"
trap 'kill $registry_pid 2>/dev/null; rm -rf "$registry"; unmount_store; unmount_fs cstore-fs' EXIT
mount_fresh_fs cstore-fs xfs
store="[overlay@$fs/root+$fs/run]"
for name in "${names[@]}"; do
  skopeo --insecure-policy copy -q "oci:${layout[$name]}:bench" "containers-storage:${store}localhost/bench/$name:1"
  skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:${layout[$name]}:bench" "docker://127.0.0.1:$port/bench/$name:1"
done
unmount_store

declare -A times peak counts
# run KEY COMMAND...: a timed run (the outputs removed and the page cache dropped first), recorded under KEY.
run() {
  local key=$1; shift
  rm -rf "$fs/out" "$fs/cache" "$fs/layout" "$fs/bundle"; settle
  local t m
  read -r t m <<<"$(timed "$@")"
  times[$key]+=" $t"
  if (( m > ${peak[$key]:-0} )); then peak[$key]=$m; fi
  last=$t
}
chain() { skopeo --insecure-policy copy -q "containers-storage:$1" "oci:$fs/layout:1" && umoci unpack --image "$fs/layout:1" "$fs/bundle" >/dev/null; }
export -f chain; export fs
fields=(filesReflinked filesCopied filesAlreadyPresent bytesReflinked bytesCopied)

for i in $(seq 1 "$runs"); do
  for name in "${names[@]}"; do
    ref="containers-storage:${store}localhost/bench/$name:1"
    run "$name-cstore" "$decant" export "$ref" -o "$fs/out" --cache "$fs/cache" --progress json; a=$last
    counts[$name-cstore]=$(summary_cache "${fields[@]}")
    run "$name-cstore-nocache" "$decant" export "$ref" -o "$fs/out" --no-cache --progress json; b=$last
    counts[$name-cstore-nocache]=$(summary_cache "${fields[@]}")
    if [ "$i" = "$runs" ]; then mv "$fs/out" "$fs/last-cstore"; fi
    run "$name-chain" bash -c "chain '${store}localhost/bench/$name:1'"; c=$last
    unmount_store
    if [ "$i" = "$runs" ]; then mv "$fs/bundle/rootfs" "$fs/last-chain"; fi
    run "$name-registry" "$decant" export "127.0.0.1:$port/bench/$name:1" -o "$fs/out" --no-cache --progress none; d=$last
    if [ "$i" = "$runs" ]; then
      same_output dir "$fs/last-chain" "$fs/last-cstore"
      same_output dir "$fs/last-chain" "$fs/out"
      rm -rf "$fs/last-chain" "$fs/last-cstore"
    fi
    echo "run $i, $name: containers-storage ${a}s (--no-cache ${b}s), skopeo + umoci ${c}s, registry ${d}s"
  done
done
rm -rf "$fs/out" "$fs/cache" "$fs/layout" "$fs/bundle"

m() { # shellcheck disable=SC2086
  median ${times[$1]}; }
mib() { echo $(( ${peak[$1]} / 1024 )); }
for name in "${names[@]}"; do
  a=$(m "$name-cstore"); b=$(m "$name-cstore-nocache"); c=$(m "$name-chain"); d=$(m "$name-registry")
  echo "median, $name image: containers-storage -> dir ${a}s with a new cache on the XFS, ${b}s with --no-cache;" \
    "skopeo copy + umoci unpack ${c}s; Decant from the registry ${d}s"
  echo "  skopeo + umoci / containers-storage: $(ratio "$c" "$a")x with the cache, $(ratio "$c" "$b")x with --no-cache (target >= 20x)"
  echo "  registry / containers-storage: $(ratio "$d" "$a")x with the cache, $(ratio "$d" "$b")x with --no-cache"
  echo "  peak RSS: containers-storage $(mib "$name-cstore") MiB (--no-cache $(mib "$name-cstore-nocache") MiB), registry $(mib "$name-registry") MiB"
  echo "  last summary, with the cache: ${counts[$name-cstore]}"
  echo "  last summary, --no-cache:     ${counts[$name-cstore-nocache]}"
done
