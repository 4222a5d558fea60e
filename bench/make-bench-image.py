#!/usr/bin/env python3
"""Builds a multi-layer OCI image layout for benchmarks from directories of this machine.

Each layer is a gzip'd tar made by GNU tar (a real tool) of one or more host directories, placed
under /data/<n>/ in the image; the last layer deletes part of an earlier one with a whiteout.
Usage: make-bench-image.py OUT_LAYOUT TAG DIR[,DIR...] [DIR[,DIR...] ...]
"""
import hashlib, json, os, subprocess, sys

def blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)

def main():
    layout, tag, groups = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    layers, diff_ids = [], []
    for n, group in enumerate(groups):
        transforms = []
        for d in group.split(","):
            transforms += ["--transform", f"s,^{d.lstrip('/')},data/{n}/{os.path.basename(d)},"]
        tar = subprocess.run(["tar", "-C", "/", "--format=pax", "--numeric-owner", "--ignore-failed-read",
                              "--warning=no-file-changed", "--exclude=*.sock", *transforms, "-cf", "-",
                              *[d.lstrip("/") for d in group.split(",")]],
                             check=False, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        gz = subprocess.run(["gzip", "-1", "-n", "-c"], input=tar, check=True, stdout=subprocess.PIPE).stdout
        digest, size = blob(layout, gz)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size})
        print(f"layer {n}: {group}: {len(tar) >> 20} MiB tar, {size >> 20} MiB gzip", file=sys.stderr)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    cdigest, csize = blob(layout, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest, "size": csize},
                           "layers": layers}).encode()
    mdigest, msize = blob(layout, manifest)
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest,
             "size": msize, "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)

main()
