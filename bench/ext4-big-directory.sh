#!/usr/bin/env bash
# Benchmark: an image whose one layer holds a 100 000-entry directory, exported to ext4 by the AOT
# binary (whole command: read, apply, lay out the htree, write). Prints wall time and peak RSS, and
# checks the image with e2fsck. Issue 4's target: under 2 s, and at most 64 MiB + 1 KiB per entry.
# Usage: bench/ext4-big-directory.sh [ENTRIES]     (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
entries=${1:-100000}
work=${BENCH_WORK:-/var/tmp/decant-bench}/big-directory-$entries
decant=artifacts/aot/decant
[ -x "$decant" ] || bash scripts/publish-aot.sh >/dev/null
if [ ! -f "$work/image/index.json" ]; then
  rm -rf "$work"; mkdir -p "$work"
  python3 - "$work/image" "$entries" <<'PY'
import hashlib, io, json, os, sys, tarfile
layout, count = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{layout}/blobs/sha256")
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
    d = tarfile.TarInfo("big"); d.type = tarfile.DIRTYPE; d.mode = 0o755; tar.addfile(d)
    for i in range(count):
        f = tarfile.TarInfo(f"big/file-{i:06d}-with-a-name-long-enough-for-two-levels"); f.mode = 0o644
        tar.addfile(f, io.BytesIO(b""))
layer = buf.getvalue()
def blob(data):
    digest = hashlib.sha256(data).hexdigest()
    open(f"{layout}/blobs/sha256/{digest}", "wb").write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}
config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **blob(layer)}]}).encode()
index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", **blob(manifest),
    "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}
json.dump(index, open(f"{layout}/index.json", "w"))
open(f"{layout}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
fi
for run in 1 2 3; do
  rm -f "$work/out.ext4"
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$decant" export "oci:$work/image:bench" -o "$work/out.ext4" --progress none
  read -r seconds kib < "$work/time.txt"
  e2fsck -fn "$work/out.ext4" >/dev/null 2>&1 || { echo "e2fsck found problems" >&2; exit 1; }
  echo "run $run: $entries entries in one directory -> ext4 in ${seconds}s, peak RSS $((kib / 1024)) MiB (budget $(( 64 + entries / 1024 )) MiB)"
done
rm -f "$work/out.ext4"
