#!/usr/bin/env bash
# Boots an ext4 image written by Decant: a Debian bookworm container image (a debootstrap rootfs imported
# with umoci, plus one layer holding /sbin/decant-init) is exported with `decant export … -o IMG.ext4`, then
# booted by qemu-system-x86_64 with Debian's own kernel. A tiny busybox initramfs loads Debian's
# virtio/ext4 modules (they are modules in Debian's kernel), mounts /dev/vda read-only as ext4 and
# switch_roots to the image's /sbin/decant-init, which prints a marker built from the image's own files.
# Exits 0 only when the marker appears on the serial console and matches the host's copy of the rootfs.
#
# Needs root (apt, debootstrap, umoci). Slow parts are cached under $DECANT_BOOT_CACHE.
# Environment:
#   DECANT_BOOT_CACHE    cache directory (default /var/tmp/decant-boot)
#   DECANT_BOOT_TIMEOUT  seconds qemu may run before the boot counts as failed (default 300)
#   DECANT_BOOT_ACCEL    qemu accelerator(s), e.g. kvm or kvm:tcg (default tcg: software emulation, works everywhere)
#   DECANT_BOOT_KEEP=1   keep the scratch directory (image, initramfs, console log) after a success
#   DECANT               command that runs the Decant CLI (default: dotnet run on src/Decant.Cli, Release)
set -euo pipefail
cd "$(dirname "$0")/.."
repo_root=$PWD

cache=${DECANT_BOOT_CACHE:-/var/tmp/decant-boot}
boot_timeout=${DECANT_BOOT_TIMEOUT:-300}
accel=${DECANT_BOOT_ACCEL:-tcg}
marker=DECANT-BOOT-OK

log() { printf 'boot-test: %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
elapsed() { echo "$(($(date +%s) - $1))s"; }

[[ $(id -u) -eq 0 ]] || die "run as root (apt-get, debootstrap and umoci unpack need it)"

# --- tools ---------------------------------------------------------------------------------------
ensure_packages() {
  local packages=(qemu-system-x86 debootstrap busybox-static umoci kmod cpio gzip)
  local missing=() package
  for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  ((${#missing[@]} == 0)) && return
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The first Debian mirror apt is configured with (deb822 or one-line format), else deb.debian.org.
debian_mirror() {
  local uri
  uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)
  [[ -n $uri ]] || uri=$(grep -hsE '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -n1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

# --- Debian's kernel: vmlinuz and the modules needed to reach an ext4 root on virtio-blk -----------
# Sets kernel_dir (holding vmlinuz, release, and lib/modules/RELEASE with modules.dep).
fetch_kernel() {
  local package
  package=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  [[ -n $package ]] || die "apt-cache cannot resolve linux-image-amd64 to a versioned kernel package"
  kernel_dir=$cache/kernel/$package
  [[ -f $kernel_dir/.complete ]] && return
  log "fetching $package (extracted into $kernel_dir, never installed)"
  local scratch
  scratch=$(mktemp -d "$cache/kernel.XXXXXX")
  (cd "$scratch" && apt-get download -qq "$package" 2>&1 | grep -v 'unsandboxed' >&2 || true)
  local deb
  deb=$(ls "$scratch"/*.deb 2>/dev/null | head -n1) || true
  [[ -n $deb ]] || die "apt-get download $package produced no .deb"
  dpkg-deb -x "$deb" "$scratch/x"
  local release
  release=$(ls "$scratch/x/lib/modules" | head -n1)
  mkdir -p "$scratch/k/lib"
  mv "$scratch/x/lib/modules" "$scratch/k/lib/modules"
  cp "$scratch/x/boot/vmlinuz-$release" "$scratch/k/vmlinuz"
  cp "$scratch/x/boot/config-$release" "$scratch/k/config"
  echo "$release" > "$scratch/k/release"
  depmod -b "$scratch/k" "$release"
  rm -rf "$kernel_dir"
  mkdir -p "$(dirname "$kernel_dir")"
  mv "$scratch/k" "$kernel_dir"
  rm -rf "$scratch"
  touch "$kernel_dir/.complete"
}

# --- initramfs: busybox + the modules /dev/vda and ext4 need, in dependency order ------------------
# Appends a module and, first, everything modules.dep says it needs (each once).
module_order=()
add_module() {
  local name=$1 line path dep
  line=$(grep -E "/${name}\.ko(\.[a-z]+)?:" "$kernel_dir/lib/modules/$release/modules.dep" || true)
  [[ -n $line ]] || die "module $name is not in $(cat "$kernel_dir/release")'s modules.dep"
  path=${line%%:*}
  for dep in ${line#*:}; do
    dep=$(basename "$dep"); add_module "${dep%%.ko*}"
  done
  local seen
  for seen in "${module_order[@]}"; do [[ $seen == "$path" ]] && return; done
  module_order+=("$path")
}

build_initramfs() {
  local out=$1 tree=$work/initramfs
  release=$(cat "$kernel_dir/release")
  local config=$kernel_dir/config option
  # Anything below that the kernel builds in needs no module; a module needs loading.
  local wanted=()
  for option in VIRTIO_PCI:virtio_pci VIRTIO_BLK:virtio_blk CRYPTO_CRC32C:crc32c_generic EXT4_FS:ext4; do
    if grep -qx "CONFIG_${option%%:*}=m" "$config"; then wanted+=("${option#*:}"); fi
  done
  for option in "${wanted[@]}"; do add_module "$option"; done
  mkdir -p "$tree"/{bin,dev,proc,sys,newroot,modules}
  cp /bin/busybox "$tree/bin/busybox"
  ln -s busybox "$tree/bin/sh"
  local path
  : > "$tree/modules/order"
  for path in "${module_order[@]}"; do
    cp "$kernel_dir/lib/modules/$release/$path" "$tree/modules/"
    basename "$path" >> "$tree/modules/order"
  done
  cat > "$tree/init" <<'INIT'
#!/bin/sh
# decant boot-test initramfs: load the modules, mount root= (ext4, read-only), switch_root to init=.
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
fail() { echo "decant-initramfs: $*"; echo o > /proc/sysrq-trigger; $bb sleep 30; }
for module in $($bb cat /modules/order); do
  $bb insmod "/modules/$module" || fail "insmod $module failed"
done
root=/dev/vda init=/sbin/init
for arg in $($bb cat /proc/cmdline); do
  case $arg in root=*) root=${arg#root=} ;; init=*) init=${arg#init=} ;; esac
done
tries=0
while [ ! -b "$root" ] && [ $tries -lt 100 ]; do $bb sleep 0.1; tries=$((tries + 1)); done
[ -b "$root" ] || fail "$root did not appear"
$bb mount -t ext4 -o ro "$root" /newroot || fail "mounting $root as ext4 failed"
echo "decant-initramfs: $root mounted as ext4, switching to $init"
$bb mount --move /dev /newroot/dev || fail "the image has no /dev to move devtmpfs onto"
$bb umount /sys /proc
exec $bb switch_root /newroot "$init"
INIT
  chmod 755 "$tree/init"
  (cd "$tree" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -9n > "$out"
}

# --- the container image: debootstrap rootfs (cached) + a layer with the guest's init --------------
build_rootfs() {
  rootfs=$cache/rootfs
  [[ -f $rootfs/.complete ]] && return
  local mirror started=$(date +%s)
  mirror=$(debian_mirror)
  log "debootstrap --variant=minbase bookworm from $mirror (a few minutes, once)"
  rm -rf "$cache/rootfs.tmp"
  debootstrap --variant=minbase bookworm "$cache/rootfs.tmp" "$mirror" > "$cache/debootstrap.log" 2>&1 \
    || { tail -n 20 "$cache/debootstrap.log" >&2; die "debootstrap failed (log: $cache/debootstrap.log)"; }
  rm -rf "$rootfs"
  mv "$cache/rootfs.tmp" "$rootfs"
  touch "$rootfs/.complete"
  log "debootstrap done in $(elapsed "$started")"
}

build_base_image() {
  layout=$cache/oci
  [[ -f $layout/.base-complete ]] && return
  local started=$(date +%s) bundle=$cache/bundle
  log "importing the rootfs into the OCI layout $layout (umoci, once)"
  rm -rf "$layout" "$bundle"
  umoci init --layout "$layout"
  umoci new --image "$layout:base"
  umoci unpack --image "$layout:base" "$bundle" >/dev/null
  # Everything but the cache's completion stamp.
  (cd "$rootfs" && tar --exclude=./.complete -cf - .) | tar -xpf - -C "$bundle/rootfs"
  umoci repack --image "$layout:base" "$bundle"
  umoci config --image "$layout:base" --config.cmd /bin/bash
  rm -rf "$bundle"
  touch "$layout/.base-complete"
  log "base image built in $(elapsed "$started")"
}

# Shell functions run both by the guest (on the ext4 filesystem Decant wrote) and by the host (on the
# debootstrap rootfs the image was built from), so their outputs must agree:
#   tree_listing DIR         one line per entry: type, mode, owner, mtime (seconds; umoci keeps no more),
#                            and for non-directories size and link count, then path and symlink target
#   tree_content_digest DIR  sha256 over the sha256sum of every regular file, by path
# Left out: /dev and /proc (the guest mounts over them), /lost+found (ext4's own, which mke2fs makes too),
# the cache's stamp and the added init itself.
tree_functions=$(cat <<'FUNCTIONS'
tree_walk() (
  cd "$1" && shift && LC_ALL=C find . -xdev -mindepth 1 \( -path ./dev -o -path ./proc -o -path ./lost+found \
    -o -path ./.complete -o -path ./usr/sbin/decant-init \) -prune -o "$@"
)
tree_listing() {
  tree_walk "$1" -printf '%y %#m %U:%G %T@ %s %n %p -> %l\n' \
    | sed -E 's/^([a-z] [^ ]+ [^ ]+ [0-9]+)\.[0-9]* /\1 /; s/^(d [^ ]+ [^ ]+ [0-9]+) [0-9]+ [0-9]+ /\1 - - /' \
    | LC_ALL=C sort
}
tree_content_digest() (
  cd "$1" && tree_walk . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64
)
FUNCTIONS
)
eval "$tree_functions"

# The guest's PID 1. Everything it prints comes from the image's own files and programs (dash, coreutils,
# findutils, dpkg, libc), read from the ext4 filesystem Decant wrote. The marker goes to the console
# (ttyS0); the full tree listing (kept in the writable devtmpfs) goes to the second serial port (ttyS1),
# for a diff when the digests differ.
write_guest_init() {
  {
    echo '#!/bin/sh'
    echo 'export PATH=/usr/sbin:/usr/bin:/sbin:/bin'
    printf '%s\n' "$tree_functions"
    cat <<'GUEST'
mount -t proc proc /proc
rootfs_type=unknown
while read -r device mountpoint fstype rest; do
  [ "$mountpoint" = / ] && rootfs_type=$fstype
done < /proc/mounts
tree_listing / > /dev/listing
cat /dev/listing > /dev/ttyS1
echo "DECANT-BOOT-OK kernel=$(uname -r) debian=$(cat /etc/debian_version) rootfs=$rootfs_type" \
  "packages=$(dpkg-query -W | wc -l) dpkg-verify-problems=$(dpkg --verify 2>&1 | wc -l)" \
  "entries=$(wc -l < /dev/listing) listing-sha256=$(sha256sum < /dev/listing | cut -c1-64)" \
  "content-sha256=$(tree_content_digest /)" > /dev/console
echo o > /proc/sysrq-trigger
sleep 30
GUEST
  } > "$1"
  chmod 755 "$1"
  touch -d @1700000000 "$1"
}

# The layer holds usr/sbin/decant-init only; the kernel reaches it as /sbin/decant-init through bookworm's
# /sbin -> usr/sbin symlink. (umoci 0.4.7's `insert` writes a truncated tar, which Decant rightly rejects,
# so the layer is made with GNU tar and appended verbatim.)
build_boot_image() {
  mkdir -p "$work/layer/usr/sbin"
  write_guest_init "$work/layer/usr/sbin/decant-init"
  tar -C "$work/layer" --numeric-owner --owner=0 --group=0 -cf "$work/layer.tar" usr/sbin/decant-init
  umoci rm --image "$layout:boot" >/dev/null 2>&1 || true
  umoci tag --image "$layout:base" boot
  umoci raw add-layer --image "$layout:boot" "$work/layer.tar"
  umoci gc --layout "$layout"
}

# --- run ------------------------------------------------------------------------------------------
qemu_pid=
work=
cleanup() {
  local status=$?
  if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then kill "$qemu_pid" 2>/dev/null || true; wait "$qemu_pid" 2>/dev/null || true; fi
  if [[ -n $work && -d $work ]]; then
    if [[ $status -eq 0 && ${DECANT_BOOT_KEEP:-0} != 1 ]]; then rm -rf "$work"; else log "scratch kept: $work"; fi
  fi
}
trap cleanup EXIT

total_started=$(date +%s)
mkdir -p "$cache"
# One run at a time per cache (the test suite and a developer may start it together).
exec 9>"$cache/.lock"
flock 9
ensure_packages
fetch_kernel
build_rootfs
build_base_image
work=$(mktemp -d "$cache/run.XXXXXX")
build_boot_image

step_started=$(date +%s)
image=$work/debian.ext4
if [[ -n ${DECANT:-} ]]; then
  read -r -a decant_command <<<"$DECANT"
else
  decant_command=(dotnet run --project "$repo_root/src/Decant.Cli" -c Release --)
fi
log "exporting oci:$layout:boot to ext4 with: ${decant_command[*]}"
"${decant_command[@]}" export "oci:$layout:boot" -o "$image" --force --progress none
log "export done in $(elapsed "$step_started") ($(du -h --apparent-size "$image" | cut -f1) image, $(du -h "$image" | cut -f1) allocated)"

build_initramfs "$work/initramfs.cpio.gz"
log "initramfs: ${module_order[*]##*/}"

console=$work/console.log
step_started=$(date +%s)
log "booting $(cat "$kernel_dir/release") (accel $accel, timeout ${boot_timeout}s)"
timeout -k 5 "$boot_timeout" qemu-system-x86_64 \
  -machine q35,accel="$accel" -cpu max -m 512 -smp 1 \
  -display none -monitor none -serial "file:$console" -serial "file:$work/guest-listing" -nic none -no-reboot \
  -kernel "$kernel_dir/vmlinuz" -initrd "$work/initramfs.cpio.gz" \
  -append "console=ttyS0 root=/dev/vda ro init=/sbin/decant-init panic=-1" \
  -drive "file=$image,format=raw,if=virtio,readonly=on" \
  </dev/null >"$work/qemu.out" 2>&1 &
qemu_pid=$!
qemu_status=0
wait "$qemu_pid" || qemu_status=$?
qemu_pid=
boot_time=$(elapsed "$step_started")

marker_line=$(tr -d '\r' <"$console" | grep -m1 "^$marker " || true)
if [[ -z $marker_line ]]; then
  log "no $marker on the console after $boot_time (qemu exit $qemu_status); qemu said:"
  cat "$work/qemu.out" >&2
  log "last console lines:"
  tr -d '\r' <"$console" | tail -n 60 >&2
  die "the guest did not reach /sbin/decant-init"
fi
log "guest: $marker_line"

# The guest must have read the image's files: compare what it printed with the host's copy of the rootfs.
field() { sed -nE "s/.* $1=([^ ]*).*/\1/p" <<<"$marker_line"; }
expect() { # NAME EXPECTED WHAT
  [[ $(field "$1") == "$2" ]] || die "guest $3 is '$(field "$1")', expected '$2'"
}
tree_listing "$rootfs" > "$work/host-listing"
expect kernel "$(cat "$kernel_dir/release")" "kernel release"
expect rootfs ext4 "root filesystem type"
expect debian "$(cat "$rootfs/etc/debian_version")" "/etc/debian_version"
expect packages "$(dpkg-query --admindir="$rootfs/var/lib/dpkg" -W | wc -l)" "count of installed packages"
expect dpkg-verify-problems 0 "count of 'dpkg --verify' problems (files whose md5sum differs from the package's)"
expect entries "$(wc -l < "$work/host-listing")" "count of tree entries"
if [[ $(field listing-sha256) != "$(sha256sum < "$work/host-listing" | cut -c1-64)" ]]; then
  tr -d '\r' < "$work/guest-listing" > "$work/guest-listing.txt"
  diff "$work/host-listing" "$work/guest-listing.txt" | head -n 40 >&2 || true
  die "the guest's tree listing (type, mode, owner, mtime, size, links, target) differs from the rootfs's (diff above: < host, > guest)"
fi
expect content-sha256 "$(tree_content_digest "$rootfs")" "digest of every regular file's content"
ext4_complaints=$(tr -d '\r' < "$console" | grep -aE 'EXT4-fs (error|warning)|JBD2: .*(error|corrupt)' || true)
[[ -z $ext4_complaints ]] || die "the kernel complained about the filesystem: $ext4_complaints"

log "PASSED: $(field entries) entries identical in the guest; booted in $boot_time, whole run $(elapsed "$total_started")"
