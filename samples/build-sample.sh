#!/usr/bin/env bash
# Rebuilds samples/busybox, a tiny OCI layout (tag latest) made with umoci from the
# busybox-static package's /bin/busybox. Three layers:
#   1. /bin/busybox, applet symlinks, /etc/passwd, /etc/motd and /tmp/scratch.txt
#   2. deletes /tmp/scratch.txt (a whiteout), adds the executable /usr/bin/hello
#      and the absolute symlink /usr/bin/sh-link -> /bin/sh
#   3. replaces /etc/motd
# Run as root (umoci unpack without --rootless keeps owners). Needs umoci and busybox-static.
#   samples/build-sample.sh [OUTDIR]   (default: samples/busybox next to this script)
set -euo pipefail
export LC_ALL=C.UTF-8 TZ=UTC
umask 022

here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
layout=$(readlink -m "${1:-$here/busybox}")
epoch=1700000000
iso_time() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

if [[ -e "$layout" ]]; then
  [[ -f "$layout/oci-layout" ]] || { echo "build-sample: $layout exists and is not an OCI layout" >&2; exit 1; }
  rm -rf "$layout"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bundle="$work/bundle"
rootfs="$bundle/rootfs"

umoci init --layout "$layout"
umoci new --image "$layout:latest"
umoci config --image "$layout:latest" --no-history --created "$(iso_time $epoch)" \
  --author "decant sample" --os linux --architecture amd64 \
  --config.cmd /usr/bin/hello --config.env PATH=/usr/bin:/bin
umoci unpack --image "$layout:latest" "$bundle" >/dev/null

repack() { # LAYER-NUMBER DESCRIPTION
  local time=$((epoch + $1 * 86400))
  find "$rootfs" -cnewer "$work/stamp" -print0 | xargs -0r touch -h -d "@$time"
  umoci repack --image "$layout:latest" --refresh-bundle --history.created "$(iso_time "$time")" \
    --history.author "decant sample" --history.created_by "layer $1: $2" "$bundle"
  touch "$work/stamp"
  sleep 0.01
}

touch "$work/stamp"
sleep 0.01
mkdir -p "$rootfs"/{bin,etc,tmp,usr/bin}
chmod 1777 "$rootfs/tmp"
install -m 0755 /bin/busybox "$rootfs/bin/busybox"
for applet in sh ls cat echo; do ln -s busybox "$rootfs/bin/$applet"; done
echo 'root:x:0:0:root:/:/bin/sh' >"$rootfs/etc/passwd"
echo 'version 1' >"$rootfs/etc/motd"
echo 'removed by layer 2' >"$rootfs/tmp/scratch.txt"
repack 1 "busybox"

rm "$rootfs/tmp/scratch.txt"
printf '#!/bin/sh\necho "hello from decant"\n' >"$rootfs/usr/bin/hello"
chmod 0755 "$rootfs/usr/bin/hello"
ln -s /bin/sh "$rootfs/usr/bin/sh-link"
repack 2 "whiteout, executable, symlink"

echo 'version 2' >"$rootfs/etc/motd"
repack 3 "replace motd"

umoci gc --layout "$layout"
du -sh "$layout"
