#!/usr/bin/env bash
# Benchmark: one layer of N hardlinks to one file (issue 7's scale case), exported to a directory by
# the AOT binary and unpacked by `umoci unpack`, alternated, page cache dropped before each run;
# prints medians, the ratio and peak RSS against the budget of 64 MiB + 1 KiB per entry. The output
# goes to a tmpfs: ext4, where the work directory usually lives, allows 65 000 links to one inode.
# Usage: bench/hardlinks-vs-umoci.sh [ENTRIES] [RUNS]     (default 1000000 3)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
entries=${1:-1000000}
runs=${2:-3}
prepare
image="$work/hardlinks-$entries"
if [ ! -f "$image/index.json" ]; then
  rm -rf "$image"
  python3 - "$image" "$entries" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
layout, count = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{layout}/blobs/sha256")
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
    target = tarfile.TarInfo("target"); target.size = 6; target.mtime = 1700000000
    tar.addfile(target, io.BytesIO(b"hello\n"))
    for i in range(count):
        link = tarfile.TarInfo(f"l{i:07d}"); link.type = tarfile.LNKTYPE; link.linkname = "target"; link.mtime = 1700000000
        tar.addfile(link)
layer = buf.getvalue()
blob_bytes = gzip.compress(layer, 6)
def blob(data):
    digest = hashlib.sha256(data).hexdigest()
    open(f"{layout}/blobs/sha256/{digest}", "wb").write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}
config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(blob_bytes)}]}).encode()
index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", **blob(manifest),
    "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}
json.dump(index, open(f"{layout}/index.json", "w"))
open(f"{layout}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
fi
target="$work/hardlinks-tmpfs"
mkdir -p "$target"
mountpoint -q "$target" || mount -t tmpfs -o size=8G tmpfs "$target"
trap 'umount "$target" 2>/dev/null || true' EXIT
decant_times=(); umoci_times=(); decant_rss=()
for run in $(seq "$runs"); do
  rm -rf "$target/out"; settle
  read -r seconds kib < <(timed "$decant" export "oci:$image:bench" -o "$target/out" --progress none)
  decant_times+=("$seconds"); decant_rss+=("$kib")
  rm -rf "$target/out" "$target/bundle"; settle
  read -r seconds _ < <(timed umoci unpack --image "$image:bench" "$target/bundle")
  umoci_times+=("$seconds")
  rm -rf "$target/bundle"
  echo "run $run: decant ${decant_times[-1]}s ($((decant_rss[-1] / 1024)) MiB), umoci ${umoci_times[-1]}s"
done
d=$(median "${decant_times[@]}"); u=$(median "${umoci_times[@]}"); rss=$(median "${decant_rss[@]}")
echo "$entries hardlinks -> directory: decant ${d}s, umoci unpack ${u}s: $(ratio "$u" "$d")x; decant peak RSS $((${rss%.*} / 1024)) MiB (budget $((64 + entries / 1024)) MiB)"
