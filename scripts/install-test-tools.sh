#!/usr/bin/env bash
# Installs every external tool Decant's tests and benchmarks use (Debian/Ubuntu, apt).
# Idempotent and non-interactive: packages already installed are detected with
# `dpkg -s` and nothing is downloaded when all of them are present.
# Exits non-zero when a package cannot be installed or a tool is still missing.
set -euo pipefail

# podman and uidmap are for the containers-storage tests: podman reads and writes their test stores
# beside Decant, and uidmap's setuid newuidmap/newgidmap map the sub-IDs of the rootless store's user
# (podman only recommends uidmap, and recommendations are not installed). debootstrap builds the base of
# bench/make-apt-image.sh's image. acl's setfacl gives a test directory a default ACL. libisal2 is ISA-L,
# the gzip decoder Decant uses where the machine has it (the tests check both it and .NET's own).
packages=(
  umoci skopeo buildah docker-registry apache2-utils e2fsprogs attr python3 fsverity
  busybox-static zstd bzip2 xz-utils time clang zlib1g-dev tar gzip libcap2-bin runc bsdutils coreutils xfsprogs erofs-utils cryptsetup-bin
  podman uidmap debootstrap acl libisal2
)
# Executables that must be on PATH afterwards (package -> command it provides).
commands=(umoci skopeo buildah docker-registry htpasswd mke2fs setfattr getfattr python3 fsverity
  busybox zstd bzip2 xz clang tar gzip setcap script chattr env mkfs.xfs mkfs.erofs fsck.erofs dump.erofs veritysetup
  podman newuidmap newgidmap debootstrap setfacl)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg -s "$package" >/dev/null 2>&1; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "install-test-tools: installing ${missing[*]}" >&2
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-test-tools: not root and no sudo" >&2; exit 1; }
    sudo_cmd=(sudo -n)
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt_options=(-o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  "${sudo_cmd[@]}" apt-get "${apt_options[@]}" update -qq
  "${sudo_cmd[@]}" apt-get "${apt_options[@]}" install -y -qq --no-install-recommends "${missing[@]}"
fi

status=0
for package in "${packages[@]}"; do
  if ! dpkg -s "$package" >/dev/null 2>&1; then
    echo "install-test-tools: package $package is still not installed" >&2
    status=1
  fi
done
for command in "${commands[@]}"; do
  # busybox-static installs /bin/busybox; setcap lives in /usr/sbin.
  if ! PATH="$PATH:/usr/sbin:/sbin:/bin" command -v "$command" >/dev/null 2>&1; then
    echo "install-test-tools: command $command not found after install" >&2
    status=1
  fi
done
exit "$status"
