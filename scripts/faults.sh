#!/usr/bin/env bash
# Runs the fault tests of tests/faults.rs against the real binary, the ones CI skips included
# (`#[ignore]`: a fault whose defect is known and not fixed yet; see docs/RELIABILITY.md,
# "Fault tests"). Arguments go to the test binary, e.g. `scripts/faults.sh wall_clock`.
#
# Needs root, as CI has: the tests mount a tmpfs, drop capabilities and raise the open-files
# limit; and libfaketime (Debian package `faketime`, which scripts/test.sh installs).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "the fault tests need root (tmpfs mounts, capabilities, open-files limits)" >&2
  exit 2
fi
command -v faketime >/dev/null 2>&1 || { echo "install the Debian package faketime first" >&2; exit 2; }
# The connection test holds over 10,000 sockets in the test process.
ulimit -n "$(ulimit -Hn)"
exec cargo test --locked --test faults -- --include-ignored --nocapture "$@"
