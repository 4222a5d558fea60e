#!/usr/bin/env bash
# Builds the bench image of the kind users export most: Debian bookworm from debootstrap, then three
# `apt-get install` layers (python3 + pip + venv; build-essential + gdb; golang-1.19 + perl-doc),
# each layer made by `umoci repack` of the changes (gzip, as umoci writes them). Many small files:
# about 1 GB in 30 000 entries. The result is an OCI layout with the tag `bench`.
# Usage: bench/make-apt-image.sh LAYOUT      (as root; needs the Debian mirror apt uses)
set -euo pipefail
layout=$1
mirror=${BENCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
build=$(mktemp -d /var/tmp/decant-apt-image.XXXXXX)
rootfs="$build/bundle/rootfs"
cleanup() {
  if mountpoint -q "$rootfs/proc"; then umount "$rootfs/proc"; fi
  rm -rf "$build"
}
trap cleanup EXIT

debootstrap --variant=minbase bookworm "$build/base" "$mirror" >"$build/debootstrap.log" 2>&1 ||
  { tail -20 "$build/debootstrap.log" >&2; exit 1; }
rm -rf "$layout.new"
umoci init --layout "$layout.new"
umoci new --image "$layout.new:bench"
umoci unpack --image "$layout.new:bench" "$build/bundle" >/dev/null
cp -a "$build/base/." "$rootfs/"
rm -rf "$build/base"
# As Debian's own images: no downloaded packages or package lists kept.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
# The image's times are the build's, as with any image build; the layers are what differs from the
# previous one, as umoci computes it (--refresh-bundle makes the next repack diff against this one).
repack() { umoci repack --refresh-bundle --image "$layout.new:bench" "$build/bundle" >/dev/null; }
repack

install_layer() {
  mount -t proc proc "$rootfs/proc"
  chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get -q update >/dev/null
  chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get -q install -y "$@" >"$build/apt.log" 2>&1 ||
    { tail -20 "$build/apt.log" >&2; exit 1; }
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/*
  umount "$rootfs/proc"
  repack
}
install_layer python3 python3-pip python3-venv
install_layer build-essential gdb
install_layer golang-1.19 perl-doc

umoci gc --layout "$layout.new"
rm -rf "$layout"
mv "$layout.new" "$layout"
