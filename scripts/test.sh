#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what the tests need when it is
# missing, then builds and runs the whole suite. CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# Debian packages the tests drive for real (none may be skipped when missing).
# prometheus: the real-Prometheus scrape test and promtool; prometheus-alertmanager: the
# real-Alertmanager alerting test; chromium and chromium-driver: the dashboard's browser tests.
# curl: the Healthchecks recipe test (curl -fsS --data-binary @log URL/$?).
# faketime: libfaketime, under which tests/faults.rs jumps the daemon's wall clock.
for pkg_bin in "git:git" "prometheus:promtool" "prometheus:prometheus" "prometheus-alertmanager:prometheus-alertmanager" \
  "chromium:chromium" "chromium-driver:chromedriver" "curl:curl" "faketime:faketime"; do
  pkg=${pkg_bin%%:*}; bin=${pkg_bin##*:}
  command -v "$bin" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Installing a package must not start it as a service on the test machine.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need_apt[@]}" | sort -u)
  if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

cargo build --locked --all-targets
cargo test --locked --no-fail-fast -- --color never
# The benchmarks stay working at a small size (figures printed, never asserted).
cargo test --locked --bench openclaw
SIZE=small PROFILE=debug bash scripts/bench.sh
