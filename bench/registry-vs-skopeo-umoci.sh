#!/usr/bin/env bash
# Benchmark: registry -> rootfs directory, Decant (AOT) vs `skopeo copy` + `umoci unpack`, same image,
# same run, served by the CNCF registry (Debian's docker-registry) on 127.0.0.1. Also measures the
# download alone (all blobs fetched concurrently with curl to /dev/null) and Decant's decode alone
# (the same export, from a local OCI layout), to show that the export
# overlaps them: it should take no longer than the slower of the two plus 20%. "Decode alone" is the
# same export from a local OCI layout: all of Decant's work without the network.
# Usage: bench/registry-vs-skopeo-umoci.sh [RUNS]     (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
runs=${1:-3}
prepare
require_bench_image

start_registry
registry="$work/registry"
trap 'kill $registry_pid 2>/dev/null; rm -rf "$registry"' EXIT
skopeo copy -q --dest-tls-verify=false "oci:$image:bench" "docker://127.0.0.1:$port/bench:latest"
ref="127.0.0.1:$port/bench:latest"
blobs=$(python3 - "$image" <<'PY'
import json, sys
layout = sys.argv[1]
index = json.load(open(f"{layout}/index.json"))
manifest = json.load(open(f"{layout}/blobs/sha256/{index['manifests'][0]['digest'][7:]}"))
print(" ".join(l["digest"] for l in manifest["layers"]))
PY
)

download_all() { for b in $blobs; do curl -fs "http://127.0.0.1:$port/v2/bench/blobs/$b" -o /dev/null & done; wait; }
export -f download_all; export blobs port
chain() { skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$work/chain-layout:bench" && umoci unpack --image "$work/chain-layout:bench" "$work/chain-bundle"; }
export -f chain; export ref work

d=(); c=(); dl=(); dec=(); rss=0
for i in $(seq 1 "$runs"); do
  rm -rf "$work/reg-out" "$work/chain-layout" "$work/chain-bundle"; settle
  read -r t m <<<"$(timed "$decant" export "$ref" -o "$work/reg-out" --no-cache --progress none)"; d+=("$t"); [ "$m" -gt "$rss" ] && rss=$m
  rm -rf "$work/reg-out"; settle
  read -r t _ <<<"$(timed bash -c chain)"; c+=("$t")
  rm -rf "$work/chain-layout" "$work/chain-bundle"; settle
  read -r t _ <<<"$(timed bash -c download_all)"; dl+=("$t"); settle
  read -r t _ <<<"$(timed "$decant" export "oci:$image:bench" -o "$work/reg-out" --no-cache --progress none)"; dec+=("$t")
  rm -rf "$work/reg-out"
  echo "run $i: decant ${d[-1]}s, skopeo+umoci ${c[-1]}s, download alone ${dl[-1]}s, decode alone ${dec[-1]}s"
done
md=$(median "${d[@]}"); mc=$(median "${c[@]}"); mdl=$(median "${dl[@]}"); mdec=$(median "${dec[@]}")
echo "median: decant ${md}s, skopeo copy + umoci unpack ${mc}s: decant is $(ratio "$mc" "$md")x faster"
echo "overlap: download alone ${mdl}s, decode alone ${mdec}s; export / max(download, decode) = $(awk -v e="$md" -v a="$mdl" -v b="$mdec" 'BEGIN {m = a > b ? a : b; printf "%.2f", e/m}') (target <= 1.20)"
echo "decant peak RSS: $((rss / 1024)) MiB"
