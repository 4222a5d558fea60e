#!/usr/bin/env bash
# Benchmark (issue 11): image -> EROFS with Decant (AOT) against umoci unpack + mkfs.erofs of the same
# tree, and against Decant's own ext4 export, on both bench images, in one run.
#   per run, alternated (Decant's exports in an order rotated from run to run), the page cache dropped before each timed command, outputs on a fresh ext4
#   loop filesystem (mount_fresh_fs in bench/lib.sh):
#     Decant -> EROFS, -> EROFS --verity, -> EROFS lz4hc, -> ext4 (all --no-cache);
#     umoci unpack, then mkfs.erofs and mkfs.erofs -zlz4hc of the unpacked tree (each chain's time is
#     the unpack's plus its mkfs's);
#   Decant's images are checked by fsck.erofs.
# Prints medians, ratios against the targets (>= 6x faster than the chain, no slower than ext4,
# --verity <= 1.15x, lz4hc <= 1.05x the size of mkfs.erofs -zlz4hc's), image sizes and peak RSS.
# Usage: bench/erofs-vs-mkfs.sh [RUNS]      (default 3; BENCH_IMAGES="host apt" by default)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
runs=${1:-3}
prepare
require_bench_image
declare -A layout=([host]=$image [apt]="$work/apt-image")
[ -f "${layout[apt]}/index.json" ] || bash bench/make-apt-image.sh "${layout[apt]}"
read -r -a images <<<"${BENCH_IMAGES:-host apt}"
mount_fresh_fs erofs-fs ext4
out="$work/erofs-fs/out"
trap 'unmount_fs erofs-fs' EXIT

declare -A times peak size
# run KEY COMMAND...: a timed run (the page cache dropped first), recorded under KEY.
run() {
  local key=$1; shift
  settle
  local t m
  read -r t m <<<"$(timed "$@")"
  times[$key]+=" $t"
  if (( m > ${peak[$key]:-0} )); then peak[$key]=$m; fi
}
# decant_run KEY FILE ARGS...: an export to $out/FILE (removed first), checked by fsck.erofs when it is an EROFS image.
decant_run() {
  local key=$1 file=$2; shift 2
  rm -rf "$out"; mkdir -p "$out"
  run "$key" "$decant" export "$ref" -o "$out/$file" --no-cache --progress none "$@"
  size[$key]=$(stat -c %s "$out/$file")
  if [[ $file == *.erofs ]]; then fsck.erofs "$out/$file" >/dev/null || { echo "fsck.erofs found problems in $out/$file" >&2; exit 1; }; fi
}

for i in $(seq 1 "$runs"); do
  for name in "${images[@]}"; do
    ref="oci:${layout[$name]}:bench"
    # Decant's four exports, their order rotated from run to run so none always comes first (after the peer chain's).
    exports=("$name-erofs image.erofs" "$name-erofs-verity image.erofs --verity" "$name-erofs-lz4hc image.erofs --erofs-compression lz4hc" "$name-ext4 image.ext4")
    for k in 0 1 2 3; do
      # shellcheck disable=SC2086
      decant_run ${exports[$(( (k + i - 1) % 4 ))]}
    done
    rm -rf "$out"; mkdir -p "$out"
    run "$name-unpack" umoci unpack --image "${layout[$name]}:bench" "$out/bundle"
    run "$name-mkfs" mkfs.erofs --quiet "$out/plain.erofs" "$out/bundle/rootfs"
    size[$name-mkfs]=$(stat -c %s "$out/plain.erofs"); rm -f "$out/plain.erofs"
    run "$name-mkfs-lz4hc" mkfs.erofs --quiet -zlz4hc "$out/lz4hc.erofs" "$out/bundle/rootfs"
    size[$name-mkfs-lz4hc]=$(stat -c %s "$out/lz4hc.erofs")
    rm -rf "$out"
    echo "run $i, $name: erofs $(echo "${times[$name-erofs]}" | awk '{print $NF}')s, ext4 $(echo "${times[$name-ext4]}" | awk '{print $NF}')s," \
      "umoci unpack $(echo "${times[$name-unpack]}" | awk '{print $NF}')s + mkfs.erofs $(echo "${times[$name-mkfs]}" | awk '{print $NF}')s"
  done
done

m() { # shellcheck disable=SC2086
  median ${times[$1]}; }
sum() { awk -v a="$1" -v b="$2" 'BEGIN {print a + b}'; }
mib() { echo $(( ${peak[$1]} / 1024 )); }
for name in "${images[@]}"; do
  chain=$(sum "$(m "$name-unpack")" "$(m "$name-mkfs")")
  chain_lz4hc=$(sum "$(m "$name-unpack")" "$(m "$name-mkfs-lz4hc")")
  echo "median, $name image:"
  echo "  decant -> erofs: $(m "$name-erofs")s, peak RSS $(mib "$name-erofs") MiB (target <= 64), ${size[$name-erofs]} bytes (mkfs.erofs: ${size[$name-mkfs]})"
  echo "  umoci unpack + mkfs.erofs: ${chain}s ($(m "$name-unpack") + $(m "$name-mkfs")), peak RSS of mkfs.erofs $(mib "$name-mkfs") MiB: decant is $(ratio "$chain" "$(m "$name-erofs")")x faster (target >= 6)"
  echo "  decant -> ext4: $(m "$name-ext4")s: erofs / ext4 = $(ratio2 "$(m "$name-erofs")" "$(m "$name-ext4")") (target <= 1.00)"
  echo "  decant -> erofs --verity: $(m "$name-erofs-verity")s: $(ratio2 "$(m "$name-erofs-verity")" "$(m "$name-erofs")")x the plain export (target <= 1.15), peak RSS $(mib "$name-erofs-verity") MiB, ext4 $(mib "$name-ext4") MiB"
  echo "  decant -> erofs lz4hc: $(m "$name-erofs-lz4hc")s, peak RSS $(mib "$name-erofs-lz4hc") MiB, ${size[$name-erofs-lz4hc]} bytes;" \
    "umoci unpack + mkfs.erofs -zlz4hc: ${chain_lz4hc}s, ${size[$name-mkfs-lz4hc]} bytes:" \
    "size $(ratio2 "${size[$name-erofs-lz4hc]}" "${size[$name-mkfs-lz4hc]}")x (target <= 1.05), speed $(ratio2 "$chain_lz4hc" "$(m "$name-erofs-lz4hc")")x"
done
