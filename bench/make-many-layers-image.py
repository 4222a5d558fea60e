#!/usr/bin/env python3
"""Writes an OCI layout DIR (tag "many") whose manifest lists COUNT identical layers: one gzip blob
of an empty tar, referenced COUNT times. The case where per-layer work that grows with the layer
count shows up as time quadratic in it. Usage: make-many-layers-image.py DIR COUNT"""
import gzip, hashlib, io, json, os, sys

def blob(root, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(root, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}

def main():
    root, count = sys.argv[1], int(sys.argv[2])
    os.makedirs(os.path.join(root, "blobs", "sha256"), exist_ok=True)
    tar = bytes(1024)  # an empty tar: the end-of-archive marker
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as f:
        f.write(tar)
    layer = dict(mediaType="application/vnd.oci.image.layer.v1.tar+gzip", **blob(root, buffer.getvalue()))
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id] * count}}
    config_descriptor = dict(mediaType="application/vnd.oci.image.config.v1+json", **blob(root, json.dumps(config).encode()))
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config_descriptor, "layers": [layer] * count}
    manifest_descriptor = dict(mediaType="application/vnd.oci.image.manifest.v1+json", **blob(root, json.dumps(manifest).encode()))
    manifest_descriptor["annotations"] = {"org.opencontainers.image.ref.name": "many"}
    with open(os.path.join(root, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [manifest_descriptor]}, f)
    with open(os.path.join(root, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)

main()
