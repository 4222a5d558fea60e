# Shared by the bench scripts: source it from the repository root.

# prepare: sets $work (BENCH_WORK, default /var/tmp/decant-bench) and $decant (the AOT binary,
# published from the sources each time, so a benchmark never times an older build), and installs the peer tools.
prepare() {
  work=${BENCH_WORK:-/var/tmp/decant-bench}
  mkdir -p "$work"
  bash scripts/install-test-tools.sh >/dev/null
  decant=artifacts/aot/decant
  bash scripts/publish-aot.sh >/dev/null
}

# require_bench_image: sets $image to the image bench/export-vs-umoci.sh builds, or stops.
require_bench_image() {
  image="$work/image"
  [ -f "$image/index.json" ] || { echo "run bench/export-vs-umoci.sh first to build the image" >&2; exit 1; }
}

# settle: flush dirty pages and drop the page cache so each timed run starts from the same state
# (this VM reclaims memory aggressively, and writeback left by the previous run skews the next).
settle() {
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then echo 3 > /proc/sys/vm/drop_caches; fi
}

# timed COMMAND...: runs it and prints "seconds peak_rss_kib"; a failing command stops the benchmark.
timed() {
  if ! /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >/dev/null 2>"$work/stderr.txt"; then
    echo "failed: $*" >&2; cat "$work/stderr.txt" >&2; exit 1
  fi
  tail -1 "$work/time.txt"
}

# median NUMBER...
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# ratio A B: A / B with one decimal
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a/b}'; }

# ratio2 A B: A / B with two decimals (for fractions such as warm / cold)
ratio2() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }

# start_registry: serves Debian's docker-registry on a free port of 127.0.0.1 from $work/registry
# (removed first); sets $port and $registry_pid. The caller stops it (kill $registry_pid) and removes $work/registry.
start_registry() {
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  local registry="$work/registry"; rm -rf "$registry"; mkdir -p "$registry/data"
  cat > "$registry/config.yml" <<YML
version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: $registry/data } }
http: { addr: 127.0.0.1:$port }
YML
  docker-registry serve "$registry/config.yml" > "$registry/log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && return; sleep 0.1; done
  echo "the registry did not start: $(cat "$registry/log")" >&2; exit 1
}

# mount_fresh_fs NAME KIND: a fresh filesystem of KIND (ext4 as mkfs.ext4 makes it by default, with its
# journal, or xfs with reflink=1) in a sparse loop file $work/NAME.img (BENCH_FS_SIZE, default 24G),
# mounted at $work/NAME. Direct I/O to the loop file, so its pages are not cached a second time under
# the host's filesystem. Outputs go to such a filesystem rather than this VM's root, an ext4 without a
# journal: that passes over the inodes freed in the last minutes on every create (recently_deleted),
# which after one run's deleted output dominates the next run's time.
mount_fresh_fs() {
  local name=$1 kind=$2
  unmount_fs "$name"
  truncate -s "${BENCH_FS_SIZE:-24G}" "$work/$name.img"
  local device; device=$(losetup --find --show --direct-io=on "$work/$name.img")
  if [ "$kind" = xfs ]; then mkfs.xfs -q -f -m reflink=1 "$device"; else mkfs.ext4 -q -F "$device"; fi
  mkdir -p "$work/$name"
  mount "$device" "$work/$name"
}

# unmount_fs NAME: unmounts and removes what mount_fresh_fs NAME made (nothing when it is not there).
unmount_fs() {
  local name=$1
  if mountpoint -q "$work/$name"; then umount "$work/$name" 2>/dev/null || umount -l "$work/$name"; fi
  if [ -e "$work/$name.img" ]; then losetup -j "$work/$name.img" -O NAME -n | xargs -r -n1 losetup -d; fi
  rm -rf "${work:?}/$name" "$work/$name.img"
}

# expect FIELD OP FIELD_OR_NUMBER: checks the cache object of the last run's JSON summary (the last
# line on stderr), e.g. `expect layersFromCache == layersTotal`.
expect() {
  python3 - "$work/stderr.txt" "$@" <<'EOF'
import json, sys
cache = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["cache"]
left, op, right = sys.argv[2:5]
value = lambda name: int(name) if name.isdigit() else cache[name]
ok = {"==": value(left) == value(right), ">": value(left) > value(right)}[op]
if not ok:
    sys.exit(f"expected {left} {op} {right} in the summary's cache object: {cache}")
EOF
}

# same_output FORMAT A B: the two outputs hold the same image (ext4: byte for byte; directory: the
# same contents, diff -r, and the same types, modes, owners, sizes and link targets).
# A directory's size is left out: it depends on the filesystem and on the order entries were made and
# removed in (umoci removes whited-out files after making them; XFS short-form directories shrink).
# Device nodes are compared by their numbers in the listing: diff -r reports every pair of them as different.
listing() {
  (cd "$1" && { find . \( -type d -printf '%P %y %m %U %G - %n\n' \) -o -printf '%P %y %m %U %G %s %n %l\n'
    find . \( -type c -o -type b \) -exec stat -c '%n device %t:%T' {} +; } | sort)
}
content_diff() { diff -r --no-dereference "$1" "$2" | grep -v -E '^File .* is a (character|block) special file while file .* is a (character|block) special file$'; }
same_output() {
  if [ "$1" = ext4 ]; then cmp -s "$2" "$3"; else
    [ -z "$(content_diff "$2" "$3")" ] && cmp -s <(listing "$2") <(listing "$3")
  fi || {
    echo "$3 differs from $2:" >&2
    if [ "$1" != ext4 ]; then content_diff "$2" "$3" | head -5 >&2; diff <(listing "$2") <(listing "$3") | head -5 >&2; fi
    exit 1
  }
}

# summary_cache FIELD...: the named fields of the cache object of the last timed run's JSON summary
# (run with --progress json), on one line, "NAME=VALUE" each.
summary_cache() {
  python3 - "$work/stderr.txt" "$@" <<'EOF'
import json, sys
cache = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["cache"]
print(" ".join(f"{name}={cache[name]}" for name in sys.argv[2:]))
EOF
}
