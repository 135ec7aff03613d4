#!/usr/bin/env bash
# The OpenClaw collector's speed benchmark (issue 11; benches/openclaw.rs) against the release
# build: writes a home with 200 jobs, 1,000,000 run lines and 1 GiB of session transcripts into
# a temporary folder, reads it once, times unchanged ticks, and counts the instructions of an
# unchanged tick with callgrind when valgrind is installed. Figures are printed, not asserted
# (docs/PERFORMANCE.md records a run); the benchmark fails only when a read is wrong.
#   SIZE=full|small|tiny   how large a home (default full: about 1.6 GB on disk, a minute)
#   TICKS=N                unchanged ticks to time (default 200)
#   LAYOUT=json|sqlite     where the jobs are stored (default json)
#   TMPDIR=DIR             where the home is written (removed afterwards)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${SIZE:-full}
ticks=${TICKS:-200}
layout=${LAYOUT:-json}

. scripts/lib/bench-executable.sh
bench=$(bench_executable openclaw)
[ -x "$bench" ] || { echo "error: the benchmark did not build (cargo bench --bench openclaw --no-run)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== OpenClaw collector: SIZE=$size LAYOUT=$layout ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))"
"$bench" generate --dir "$work" --size "$size" --layout "$layout"
# Files written in the last two seconds are read again at every tick (their stamps cannot yet
# vouch for them); a daemon meets a home that has settled.
sleep 2
"$bench" measure --dir "$work" --ticks "$ticks"

if command -v valgrind >/dev/null && command -v callgrind_control >/dev/null; then
  # Count only the unchanged ticks: the first read runs uninstrumented, then callgrind is
  # switched on and counts inside `one_tick` (user-space instructions; system calls are not).
  n=20
  coproc CG {
    exec valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no --toggle-collect='openclaw::one_tick' \
      --callgrind-out-file="$work/callgrind.out" "$bench" ticks --dir "$work" --ticks "$n" --wait 2>"$work/callgrind.log"
  }
  read -r _ <&"${CG[0]}"
  callgrind_control -i on "$CG_PID" >/dev/null 2>&1
  echo go >&"${CG[1]}"
  wait "$CG_PID"
  total=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$work/callgrind.log" | tail -1)
  echo "unchanged tick: $((total / n)) instructions (callgrind, mean of $n ticks)"
else
  echo "unchanged tick: instructions not counted (valgrind is not installed)"
fi
