#!/usr/bin/env python3
"""Writes an OCI image layout of one layer for the bench scripts.

    single-layer-layout.py LAYOUT TAG KIND COUNT

KIND is what the layer holds: "big-directory" (one directory of COUNT empty files, uncompressed) or
"hardlinks" (one file and COUNT hardlinks to it, gzip). The layer is built with Python's tarfile,
an independent producer."""
import gzip, hashlib, io, json, os, sys, tarfile

layout, tag, kind, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
os.makedirs(f"{layout}/blobs/sha256")
buf = io.BytesIO()
if kind == "big-directory":
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        d = tarfile.TarInfo("big"); d.type = tarfile.DIRTYPE; d.mode = 0o755; tar.addfile(d)
        for i in range(count):
            f = tarfile.TarInfo(f"big/file-{i:06d}-with-a-name-long-enough-for-two-levels"); f.mode = 0o644
            tar.addfile(f, io.BytesIO(b""))
elif kind == "hardlinks":
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        target = tarfile.TarInfo("target"); target.size = 6; target.mtime = 1700000000
        tar.addfile(target, io.BytesIO(b"hello\n"))
        for i in range(count):
            link = tarfile.TarInfo(f"l{i:07d}"); link.type = tarfile.LNKTYPE; link.linkname = "target"; link.mtime = 1700000000
            tar.addfile(link)
else:
    sys.exit(f"unknown layer kind {kind}")
layer = buf.getvalue()
compressed = kind == "hardlinks"
stored = gzip.compress(layer, 6) if compressed else layer

def blob(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(f"{layout}/blobs/sha256/{digest}", "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}

config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compressed else ""), **blob(stored)}]}).encode()
index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", **blob(manifest),
    "annotations": {"org.opencontainers.image.ref.name": tag}}]}
with open(f"{layout}/index.json", "w") as f:
    json.dump(index, f)
with open(f"{layout}/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
