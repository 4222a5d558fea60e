# Shared by the bench scripts: source it from the repository root.

# prepare: sets $work (BENCH_WORK, default /var/tmp/decant-bench) and $decant (the AOT binary,
# published if missing), and installs the peer tools.
prepare() {
  work=${BENCH_WORK:-/var/tmp/decant-bench}
  mkdir -p "$work"
  bash scripts/install-test-tools.sh >/dev/null
  decant=artifacts/aot/decant
  [ -x "$decant" ] || bash scripts/publish-aot.sh >/dev/null
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
