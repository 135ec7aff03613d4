#!/usr/bin/env bash
# Benchmarks against the release binary (figures printed, not asserted; docs/PERFORMANCE.md
# records a run). SIZE=small runs a quick pass for CI.
#
# Parts: work tracking (10,000 tasks); scale (validate, daemon memory, /metrics and idle CPU
# at growing numbers of routines, instructions counted by callgrind); pings side by side with
# Prometheus Pushgateway; HTTP probes side by side with prometheus-blackbox-exporter. The peers
# are Debian's packages, installed when missing; a peer that does not start fails the run.
# Every server started here listens on 127.0.0.1 on a free port and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${SIZE:-full}
tasks=10000
scale_sizes="1000 5000 10000 50000" # routines
big=10000       # the size of the targets: validate in one file and in 100 files, RSS, /metrics, idle
reps=5          # runs of each whole-process timing (the median is printed)
rounds=3        # interleaved load windows of ours and the peer's (pings, probes; medians compared)
secs=10         # each load window (pings, probes) and the idle window
probe_n=5000    # integrations probed every 1s
callgrind_n=10000
if [ "$size" = small ]; then
  tasks=500 scale_sizes="500 1000" big=1000 reps=3 secs=3 probe_n=500 callgrind_n=200 rounds=1
fi
ping_ids=1000     # routines the pings cycle over
connections=64    # wrk connections (two threads) for pings and blackbox probes

# The peers and tools, from Debian's packages, installed when missing (none may be skipped).
. scripts/lib/need-debian.sh
. scripts/lib/bench-executable.sh
need_debian "wrk:wrk" "nginx-light:nginx" "prometheus-pushgateway:prometheus-pushgateway" \
  "prometheus-blackbox-exporter:prometheus-blackbox-exporter" "valgrind:valgrind" "curl:curl"
nginx=$(command -v nginx || echo /usr/sbin/nginx)

# PROFILE=debug measures the debug build instead: CI's quick pass reuses the build its tests
# made, since it checks that the benchmarks still work, not their figures.
profile=${PROFILE:-release}
case "$profile" in
  release) cargo build --release --locked --quiet ;;
  debug) cargo build --locked --quiet ;;
  *) echo "PROFILE is release or debug, not $profile" >&2; exit 2 ;;
esac
bin=$PWD/target/$profile/mission-control
work=$(mktemp -d)
started=() # pids of the servers this script started, stopped on exit

stop() { # stops the given servers (SIGTERM) and waits for them
  local pid
  for pid in "$@"; do
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
cleanup() {
  stop "${started[@]}"
  rm -rf "$work"
}
trap cleanup EXIT

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
for command in status today next blocked inbox mytasks review server; do
  echo "chat command $command without a daemon: $(ms 5 "$bin" --workspace "$work" "$command") ms (median of 5, whole process)"
done

# ---- scale and the peers ----

clk=$(getconf CLK_TCK)
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
cpu_us() { # user + system CPU time of a process so far, in microseconds (from /proc)
  local f
  f=$(sed 's/.*) //' "/proc/$1/stat")
  set -- $f
  echo $(( (${12} + ${13}) * 1000000 / clk ))
}
rss_mb() { awk -v k="${2:-VmRSS}:" '$1 == k {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }
wait_up() { # waits until URL answers 2xx (30 s at most); fails the run otherwise
  for _ in $(seq 300); do
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "FAILED: $2 did not start (nothing answered at $1)" >&2
  exit 1
}
start_daemon() { # starts the daemon on workspace $1; sets daemon_pid and daemon_addr
  "$bin" --workspace "$1" run >"$1/daemon.out" 2>"$1/daemon.err" &
  daemon_pid=$!
  started+=("$daemon_pid")
  daemon_addr=
  for _ in $(seq 1200); do
    daemon_addr=$(sed -n 's/^listening on //p' "$1/daemon.out")
    [ -n "$daemon_addr" ] && break
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$daemon_addr" ]; then
    echo "FAILED: the daemon did not start on $1" >&2
    tail -5 "$1/daemon.err" >&2
    exit 1
  fi
  wait_up "http://$daemon_addr/metrics" "mission-control"
}
metrics_ms() { # median of 10 GETs of /metrics, in ms
  for _ in $(seq 10); do curl -fs -o /dev/null -w '%{time_total}\n' "http://$1/metrics"; done |
    sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)] * 1000}'
}
# Counts instructions of a whole process with callgrind (user space, system calls excluded).
instructions() {
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" "$@" >/dev/null 2>"$work/callgrind.err" ||
    { tail -5 "$work/callgrind.err" >&2; exit 1; }
  awk '/^(summary|totals):/ {print $2; exit}' "$work/callgrind.out"
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
wrk_field() { # $1 = wrk output file; prints requests, requests/s and non-2xx responses
  awk '/requests in/ {n = $1} /Requests\/sec/ {r = $2} /Non-2xx/ {e = $NF} END {printf "%d %.0f %d\n", n, r, e}' "$1"
}

api_ms() { # median of 5 GETs of URL, in ms
  for _ in $(seq 5); do curl -fs -o /dev/null -w '%{time_total}\n' "$1"; done |
    sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)] * 1000}'
}
echo
echo "== chat commands beside the running daemon: $tasks tasks (target 50 ms at 10,000)"
printf 'listen: 127.0.0.1:0\nopenclaw: {enabled: false}\n' > "$work/mission-control.yaml"
start_daemon "$work"
for command in status today next projects blocked inbox triage assign mytasks review server decisions; do
  echo "chat command $command: API $(api_ms "http://$daemon_addr/api/v1/commands/$command") ms," \
    "command line $(ms 5 "$bin" --workspace "$work" "$command") ms (medians of 5)"
done
stop "$daemon_pid"

echo
echo "== dashboard: $tasks tasks and $big routines (target 50 ms and 200 kB at 10,000 of each)"
python3 scripts/gen-scale.py routines "$work" "$big" # the same settings: listen on a free port, no OpenClaw
start_daemon "$work"
# The first request after a publication parses the published state; the page is then rendered
# from it at every request.
first=$(curl -fs -o /dev/null -w '%{time_total}' "http://$daemon_addr/mission-control")
page_bytes=$(curl -fs "http://$daemon_addr/mission-control" | wc -c)
echo "dashboard page: $(api_ms "http://$daemon_addr/mission-control") ms (median of 5; the first after the publication $(awk -v t="$first" 'BEGIN {printf "%.1f", t * 1000}') ms), $page_bytes bytes"
stop "$daemon_pid"

echo
echo "== scale: routines (heartbeat, 360 distinct yearly cron expressions, nothing due), median of $reps"
for n in $scale_sizes; do
  ws=$work/routines-$n
  python3 scripts/gen-scale.py routines "$ws" "$n"
  read -r wall cpu peak < <(python3 scripts/bench-time.py "$reps" "$bin" --workspace "$ws" validate)
  echo "validate $n routines in one file: $wall ms wall, $cpu ms CPU, $peak MB peak$([ "$n" = 10000 ] && echo ' (target 300 ms)')"
  if [ "$n" = "$big" ]; then
    ws100=$work/routines-$n-files
    python3 scripts/gen-scale.py routines "$ws100" "$n" --files 100
    read -r wall cpu peak < <(python3 scripts/bench-time.py "$reps" "$bin" --workspace "$ws100" validate)
    echo "validate $n routines in 100 files: $wall ms wall, $cpu ms CPU, $peak MB peak$([ "$n" = 10000 ] && echo ' (target 150 ms)')"
  fi
  start_daemon "$ws"
  sleep 2
  size_kb=$(curl -fs -o /dev/null -w '%{size_download}' "http://$daemon_addr/metrics" | awk '{printf "%.0f", $1 / 1024}')
  echo "daemon, $n routines: /metrics $(metrics_ms "$daemon_addr") ms (median of 10, $size_kb kB)$([ "$n" = 10000 ] && echo ' (target 20 ms)')"
  if [ "$n" = "$big" ]; then
    c0=$(cpu_us "$daemon_pid"); t0=$(date +%s%N)
    sleep "$secs"
    c1=$(cpu_us "$daemon_pid"); t1=$(date +%s%N)
    # /proc counts CPU time in ticks (10 ms with CLK_TCK 100): 0 over 10 s means under 0.1%.
    echo "daemon, $n routines: idle CPU $(( (c1 - c0) / 1000 )) ms in ${secs} s, $(awk -v c=$((c1 - c0)) -v t=$(((t1 - t0) / 1000)) 'BEGIN {printf "%.2f", 100 * c / t}')% of a core$([ "$n" = 10000 ] && echo ' (target under 0.5%)')"
  fi
  echo "daemon, $n routines: resident $(rss_mb "$daemon_pid") MB, peak $(rss_mb "$daemon_pid" VmHWM) MB$([ "$n" = 10000 ] && echo ' (target 40 MB)')"
  stop "$daemon_pid"
  rm -rf "$ws" "${ws100:-}"
done
# One reconcile in process (benches/reconcile.rs): every entity judged and every alert rule
# evaluated, the live state published, and one timer wakeup, at each size.
# (PROFILE=debug takes the test build of it, which CI's tests have just made.)
build=bench; [ "$profile" = debug ] && build=test
reconcile_bench=$(bench_executable reconcile "$build")
[ -x "$reconcile_bench" ] || { echo "FAILED: the reconcile benchmark did not build" >&2; exit 1; }
"$reconcile_bench" --sizes "$(echo $scale_sizes | tr ' ' ',')" | sed 's/^/reconcile: /'
ws=$work/callgrind-$callgrind_n
python3 scripts/gen-scale.py routines "$ws" "$callgrind_n"
echo "validate $callgrind_n routines in one file: $(instructions "$bin" --workspace "$ws" validate) instructions (callgrind)"
ws=$work/callgrind-1000
python3 scripts/gen-scale.py routines "$ws" 1000
"$bin" --workspace "$ws" run --once >/dev/null 2>&1 # the first run writes the state; count the next
echo "reconcile (run --once, whole process) at 1000 routines: $(instructions "$bin" --workspace "$ws" run --once) instructions (callgrind)"

echo
echo "== pings: $ping_ids routines, wrk -t2 -c$connections -d${secs}s, POST of a short body each"
echo "   $rounds rounds, each mission-control then Pushgateway without its consistency check; medians compared"
# The machine's speed drifts by half from one minute to the next: one window each would compare
# a fast minute with a slow one. Interleaved rounds give each side the same minutes.
ws=$work/pings
python3 scripts/gen-scale.py routines "$ws" "$ping_ids" --hourly
start_daemon "$ws"
pg_port=$(free_port)
prometheus-pushgateway --web.listen-address="127.0.0.1:$pg_port" --persistence.file="$work/pushgateway-off.db" \
  --push.disable-consistency-check >"$work/pushgateway.log" 2>&1 &
pg=$!
started+=("$pg")
wait_up "http://127.0.0.1:$pg_port/-/ready" "prometheus-pushgateway"
ours_rates=() ours_cpus=() pg_rates=() pg_cpus=()
answered=0
for round in $(seq "$rounds"); do
  c0=$(cpu_us "$daemon_pid")
  ROUTINES=$ping_ids PREFIX=/ping/r BODY=ok wrk -t2 -c"$connections" -d"${secs}s" -s scripts/wrk/cycle.lua "http://$daemon_addr" >"$work/wrk-ping.txt"
  c1=$(cpu_us "$daemon_pid")
  read -r n rate err < <(wrk_field "$work/wrk-ping.txt")
  if [ "$err" -gt 0 ] || [ "$n" = 0 ]; then echo "FAILED: $err pings answered with an error" >&2; exit 1; fi
  answered=$((answered + n))
  ours_rates+=("$rate") ours_cpus+=($(( (c1 - c0) / n )))
  c0=$(cpu_us "$pg")
  ROUTINES=$ping_ids PREFIX=/metrics/job/r BODY='job_last_success_timestamp_seconds 1.7e9\n' \
    wrk -t2 -c"$connections" -d"${secs}s" -s scripts/wrk/cycle.lua "http://127.0.0.1:$pg_port" >"$work/wrk-push.txt"
  c1=$(cpu_us "$pg")
  read -r pn prate perr < <(wrk_field "$work/wrk-push.txt")
  if [ "$perr" -gt 0 ] || [ "$pn" = 0 ]; then echo "FAILED: Pushgateway answered $perr pushes with an error" >&2; exit 1; fi
  pg_rates+=("$prate") pg_cpus+=($(( (c1 - c0) / pn )))
  echo "round $round: mission-control $rate pings/s ($n answered), ${ours_cpus[-1]} us CPU each; pushgateway $prate pushes/s, ${pg_cpus[-1]} us CPU each"
done
stop "$daemon_pid" "$pg"
stored=$(cat "$ws"/state/events.jsonl* | grep -c '"type":"heartbeat.received"' || true)
if [ "$stored" -lt "$answered" ]; then
  echo "FAILED: $stored of $answered answered pings in the log" >&2
  exit 1
fi
ours_rate=$(median "${ours_rates[@]}") ours_cpu=$(median "${ours_cpus[@]}")
pg_rate=$(median "${pg_rates[@]}") pg_cpu=$(median "${pg_cpus[@]}")
echo "mission-control: median $ours_rate pings/s durable ($answered answered in all, $stored in the log), median $ours_cpu us CPU per ping (target 30000/s)"
echo "pushgateway (consistency check off): median $pg_rate pushes/s, median $pg_cpu us CPU per push; mission-control/pushgateway: $(ratio "$ours_rate" "$pg_rate")x the rate"
# As shipped, Pushgateway checks every push against all it holds: a few hundred a second.
port=$(free_port)
prometheus-pushgateway --web.listen-address="127.0.0.1:$port" --persistence.file="$work/pushgateway-on.db" \
  >"$work/pushgateway.log" 2>&1 &
pg=$!
started+=("$pg")
wait_up "http://127.0.0.1:$port/-/ready" "prometheus-pushgateway"
c0=$(cpu_us "$pg")
ROUTINES=$ping_ids PREFIX=/metrics/job/r BODY='job_last_success_timestamp_seconds 1.7e9\n' \
  wrk -t2 -c"$connections" -d"${secs}s" -s scripts/wrk/cycle.lua "http://127.0.0.1:$port" >"$work/wrk-push.txt"
c1=$(cpu_us "$pg")
read -r n rate err < <(wrk_field "$work/wrk-push.txt")
stop "$pg"
if [ "$err" -gt 0 ] || [ "$n" = 0 ]; then echo "FAILED: Pushgateway answered $err pushes with an error" >&2; exit 1; fi
echo "pushgateway (consistency check on, as shipped): $rate pushes/s ($n answered), $(( (c1 - c0) / n )) us CPU per push; mission-control/pushgateway: $(ratio "$ours_rate" "$rate")x the rate"

echo
echo "== HTTP probes: $probe_n integrations, http probe every 1s, of nginx on loopback"
ngx=$work/nginx
mkdir -p "$ngx"
port=$(free_port)
cat >"$ngx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $ngx/nginx.pid;
error_log $ngx/error.log;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $ngx;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$port;
    location / { return 200 "ok\n"; }
  }
}
EOF
"$nginx" -p "$ngx" -c "$ngx/nginx.conf" -e "$ngx/error.log" &
started+=("$!")
target="http://127.0.0.1:$port/health"
wait_up "$target" "nginx"
ws=$work/probes
python3 scripts/gen-scale.py probes "$ws" "$probe_n" "$target"
cat >"$work/blackbox.yml" <<'EOF'
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
EOF
probes() { # pulled probes run so far, and how many did not succeed
  curl -fs "http://$daemon_addr/metrics" |
    awk '/^mission_control_probes_total/ {s += $NF; if ($0 !~ /result="success"/) f += $NF} END {printf "%d %d\n", s, f}'
}
echo "   $rounds rounds, each mission-control then blackbox_exporter paced at the rate we kept; medians compared"
ours_rates=() ours_cpus=() bb_rates=() bb_cpus=()
for round in $(seq "$rounds"); do
  rm -rf "$ws/state"
  start_daemon "$ws"
  for _ in $(seq 100); do # warm up: every integration probed once (10 s at most)
    read -r seen _ < <(probes)
    [ "$seen" -ge "$probe_n" ] && break
    sleep 0.1
  done
  read -r p0 f0 < <(probes); c0=$(cpu_us "$daemon_pid"); t0=$(date +%s%N)
  sleep "$secs"
  read -r p1 f1 < <(probes); c1=$(cpu_us "$daemon_pid"); t1=$(date +%s%N)
  stop "$daemon_pid"
  if [ $((f1 - f0)) -gt 0 ]; then echo "FAILED: $((f1 - f0)) probes of nginx did not succeed" >&2; exit 1; fi
  rate=$(awk -v p=$((p1 - p0)) -v t=$(((t1 - t0) / 1000)) 'BEGIN {printf "%.0f", p * 1e6 / t}')
  ours_rates+=("$rate") ours_cpus+=($(( (c1 - c0) / (p1 - p0) )))

  port=$(free_port)
  prometheus-blackbox-exporter --config.file="$work/blackbox.yml" --web.listen-address="127.0.0.1:$port" >"$work/blackbox.log" 2>&1 &
  bb=$!
  started+=("$bb")
  wait_up "http://127.0.0.1:$port/probe?module=http_2xx&target=$target" "prometheus-blackbox-exporter"
  curl -fs "http://127.0.0.1:$port/probe?module=http_2xx&target=$target" | grep -q '^probe_success 1' ||
    { echo "FAILED: blackbox_exporter's probe of nginx does not succeed" >&2; exit 1; }
  # Paced at our rate: each of the connections waits connections/rate seconds between requests.
  delay_ms=$(( connections * 1000 / (rate > 0 ? rate : 1) ))
  c0=$(cpu_us "$bb")
  TARGET=$target DELAY_MS=$delay_ms wrk -t2 -c"$connections" -d"${secs}s" -s scripts/wrk/probe.lua "http://127.0.0.1:$port" >"$work/wrk-probe.txt"
  c1=$(cpu_us "$bb")
  read -r n bb_rate err < <(wrk_field "$work/wrk-probe.txt")
  stop "$bb"
  if [ "$err" -gt 0 ] || [ "$n" = 0 ]; then echo "FAILED: blackbox_exporter answered $err probes with an error" >&2; exit 1; fi
  bb_rates+=("$bb_rate") bb_cpus+=($(( (c1 - c0) / n )))
  echo "round $round: mission-control $rate probes/s ($((p1 - p0)) in $(((t1 - t0) / 1000000)) ms), ${ours_cpus[-1]} us CPU each; blackbox_exporter (wrk paced at $rate/s: $connections connections, ${delay_ms} ms apart) $bb_rate probes/s, ${bb_cpus[-1]} us CPU each: $(ratio "${ours_cpus[-1]}" "${bb_cpus[-1]}")"
done
ours_rate=$(median "${ours_rates[@]}") ours_cpu=$(median "${ours_cpus[@]}")
bb_rate=$(median "${bb_rates[@]}") bb_cpu=$(median "${bb_cpus[@]}")
kept=$(awk -v r="$ours_rate" -v n="$probe_n" 'BEGIN {printf "%.1f", 100 * r / n}')
echo "mission-control: median $ours_rate probes/s sustained (the schedule offers $probe_n/s, $kept% of it kept), median $ours_cpu us CPU per probe (target $probe_n/s)"
echo "blackbox_exporter: median $bb_rate probes/s, median $bb_cpu us CPU per probe"
echo "CPU per probe, mission-control/blackbox_exporter: $(ratio "$ours_cpu" "$bb_cpu") (medians; target at most 0.20)"
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
