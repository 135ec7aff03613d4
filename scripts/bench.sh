#!/usr/bin/env bash
# Benchmarks against the release binary (figures printed, not asserted; docs/PERFORMANCE.md
# records a run). SIZE=small runs a quick pass for CI.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${SIZE:-full}
tasks=10000
[ "$size" = small ] && tasks=500
cargo build --release --locked --quiet
bin=$PWD/target/release/mission-control
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ms() { # runs "$@" N times, prints the median wall time in milliseconds
  local n=$1; shift
  local times=()
  for _ in $(seq "$n"); do
    local start end
    start=$(date +%s%N); "$@" >/dev/null 2>&1; end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}

echo "== work tracking: $tasks tasks"
events=$(python3 scripts/gen-work.py "$work" "$tasks")
echo "events in the log: $events"
echo "restore from the log alone (run --once, no snapshot): $(ms 1 "$bin" --workspace "$work" run --once) ms"
echo "restore from the snapshot (run --once): $(ms 3 "$bin" --workspace "$work" run --once) ms"
for command in status next blocked inbox mytasks review server; do
  echo "chat command $command: $(ms 5 "$bin" --workspace "$work" "$command") ms (median of 5, whole process)"
done
