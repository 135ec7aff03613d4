#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what the tests need when it is
# missing, then builds and runs the whole suite. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests drive for real (none may be skipped when missing).
# prometheus: the real-Prometheus scrape test and promtool; prometheus-alertmanager: the
# real-Alertmanager alerting test; chromium and chromium-driver: the dashboard's browser tests.
# curl: the Healthchecks recipe test (curl -fsS --data-binary @log URL/$?).
# faketime: libfaketime, under which tests/faults.rs jumps the daemon's wall clock.
. scripts/lib/need-debian.sh
need_debian "git:git" "prometheus:promtool" "prometheus:prometheus" "prometheus-alertmanager:prometheus-alertmanager" \
  "chromium:chromium" "chromium-driver:chromedriver" "curl:curl" "faketime:faketime"

cargo build --locked --all-targets
cargo test --locked --no-fail-fast -- --color never
# The benchmarks stay working at a small size (figures printed, never asserted).
cargo test --locked --bench openclaw
cargo test --locked --bench reconcile
SIZE=small PROFILE=debug bash scripts/bench.sh
