#!/usr/bin/env bash
# Benchmark (issue 10): every output against the decode floor, on both bench images, in one run.
#   images: "host" (bench/export-vs-umoci.sh's: few large files from host directories) and "apt"
#           (bench/make-apt-image.sh's: debootstrap + three apt-get install layers, many small files)
#   per run, alternated, the page cache dropped before each timed command:
#     the decode floor (bench/DecodeFloor: every layer decompressed on one thread, nothing written),
#     Decant (AOT, --no-cache) to ext4, tar and a directory (as root and --rootless),
#     the JIT build (dotnet publish without AOT) to ext4, for its peak RSS,
#     registry -> ext4 and registry -> directory, against skopeo copy + umoci unpack (+ mkfs.ext4 -d),
#     from Debian's docker-registry on 127.0.0.1;
#   then once: a 100 000-entry single-directory layer to each output, for peak RSS.
# Outputs go to a fresh ext4 loop filesystem (mkfs.ext4 defaults, journal; see mount_fresh_fs in bench/lib.sh).
# Prints medians, ratios against the targets, and peak RSS. Decant's ext4 images are checked by e2fsck.
# Usage: bench/outputs-vs-floor.sh [RUNS]      (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
runs=${1:-3}
prepare
require_bench_image
host_image=$image
apt_image="$work/apt-image"
[ -f "$apt_image/index.json" ] || bash bench/make-apt-image.sh "$apt_image"
dotnet build bench/DecodeFloor -c Release --nologo -v quiet >/dev/null
floor_tool=bench/DecodeFloor/bin/Release/net10.0/DecodeFloor.dll
jit=artifacts/jit/decant
# Published every time (incrementally), so the JIT build is never older than the sources.
dotnet publish src/Decant.Cli/Decant.Cli.csproj -c Release -r linux-x64 -p:PublishAot=false --self-contained -o artifacts/jit --nologo -v quiet >/dev/null
big="$work/big-directory-100000/image"
[ -f "$big/index.json" ] || python3 bench/single-layer-layout.py "$big" bench big-directory 100000

start_registry
registry="$work/registry"
# Every output (Decant's and the peer chain's) goes to a fresh ext4 with a journal, as mkfs.ext4 makes it.
mount_fresh_fs floor-fs ext4
out="$work/floor-fs/out"
trap 'kill $registry_pid 2>/dev/null; rm -rf "$registry"; unmount_fs floor-fs' EXIT
declare -A layout=([host]=$host_image [apt]=$apt_image)
for name in host apt; do
  skopeo copy -q --dest-tls-verify=false "oci:${layout[$name]}:bench" "docker://127.0.0.1:$port/$name:bench"
done

declare -A times peak
# run KEY COMMAND...: a timed run (the page cache dropped first, the output removed), recorded under KEY.
run() {
  local key=$1; shift
  rm -rf "$out"; mkdir -p "$out"; settle
  local t m
  read -r t m <<<"$(timed "$@")"
  times[$key]+=" $t"
  if (( m > ${peak[$key]:-0} )); then peak[$key]=$m; fi
  last=$t
}
chain_dir() { skopeo copy -q --src-tls-verify=false "docker://$1" "oci:$out/layout:bench" && umoci unpack --image "$out/layout:bench" "$out/bundle" >/dev/null; }
chain_ext4() {
  chain_dir "$1"
  local kib; kib=$(du -sk "$out/bundle/rootfs" | cut -f1)
  mkfs.ext4 -q -F -d "$out/bundle/rootfs" "$out/chain.ext4" "$(( kib * 12 / 10 + 65536 ))k"
}
export -f chain_dir chain_ext4; export out

for i in $(seq 1 "$runs"); do
  for name in host apt; do
    ref="oci:${layout[$name]}:bench"; remote="127.0.0.1:$port/$name:bench"
    # The floor's own clock (from its first layer read to its last byte): without the runtime's startup.
    settle; times[$name-floor]+=" $(dotnet "$floor_tool" "$ref" | cut -d' ' -f1)"
    run "$name-ext4" "$decant" export "$ref" -o "$out/image.ext4" --no-cache --progress none
    e2fsck -fn "$out/image.ext4" >/dev/null 2>&1 || { echo "e2fsck found problems in the $name image" >&2; exit 1; }
    run "$name-tar" "$decant" export "$ref" -o "$out/image.tar" --no-cache --progress none
    run "$name-dir" "$decant" export "$ref" -o "$out/rootfs" --no-cache --progress none
    run "$name-dir-rootless" "$decant" export "$ref" -o "$out/rootfs" --rootless --no-cache --progress none
    run "$name-jit-ext4" "$jit" export "$ref" -o "$out/image.ext4" --no-cache --progress none
    run "$name-registry-ext4" "$decant" export "$remote" -o "$out/image.ext4" --no-cache --progress none
    run "$name-chain-ext4" bash -c "chain_ext4 $remote"
    run "$name-registry-dir" "$decant" export "$remote" -o "$out/rootfs" --no-cache --progress none
    run "$name-chain-dir" bash -c "chain_dir $remote"
    echo "run $i, $name: floor $(echo "${times[$name-floor]}" | awk '{print $NF}')s; ext4, tar, dir, dir --rootless:" \
      "$(for k in ext4 tar dir dir-rootless; do echo "${times[$name-$k]}" | awk '{printf "%ss ", $NF}'; done)"
  done
done
for format in ext4 tar dir; do
  suffix=$format; [ "$format" = dir ] && suffix=""
  run "big-$format" "$decant" export "oci:$big:bench" -o "$out/big${suffix:+.$suffix}" --format "$format" --no-cache --progress none
done
rm -rf "$out"

m() { # shellcheck disable=SC2086
  median ${times[$1]}; }
mib() { echo $(( ${peak[$1]} / 1024 )); }
rss=0
for name in host apt; do
  f=$(m "$name-floor")
  echo "median, $name image: decode floor ${f}s"
  for k in ext4 tar dir dir-rootless; do
    target=1.1; case $k in dir) target=1.6;; dir-rootless) target="1.1 x root's";; esac
    echo "  $k: $(m "$name-$k")s, $(ratio2 "$(m "$name-$k")" "$f")x the floor (target <= $target), peak RSS $(mib "$name-$k") MiB"
    (( peak[$name-$k] > rss )) && rss=${peak[$name-$k]}
  done
  echo "  dir --rootless / dir as root: $(ratio2 "$(m "$name-dir-rootless")" "$(m "$name-dir")") (target <= 1.10)"
  echo "  JIT build, ext4: $(m "$name-jit-ext4")s, peak RSS $(mib "$name-jit-ext4") MiB = $(ratio2 "${peak[$name-jit-ext4]}" "${peak[$name-ext4]}")x the AOT build's (target <= 1.5)"
  echo "  registry -> ext4: $(m "$name-registry-ext4")s vs skopeo copy + umoci unpack + mkfs.ext4 -d $(m "$name-chain-ext4")s:" \
    "$(ratio2 "$(m "$name-registry-ext4")" "$(m "$name-chain-ext4")") (target <= 0.10)"
  echo "  registry -> dir: $(m "$name-registry-dir")s vs skopeo copy + umoci unpack $(m "$name-chain-dir")s:" \
    "$(ratio2 "$(m "$name-registry-dir")" "$(m "$name-chain-dir")") (target <= 0.20)"
done
for format in ext4 tar dir; do
  echo "100 000 entries in one directory -> $format: $(m "big-$format")s, peak RSS $(mib "big-$format") MiB (budget $(( 64 + 100000 / 1024 )) MiB)"
done
echo "AOT peak RSS over both images and every output: $((rss / 1024)) MiB (target <= 64)"
