#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the repository's own files: desired state, rules, the
# example event log, the synthetic OpenClaw homes. Run from the repository root before a first
# fuzzing run (or to start over); then `cargo +nightly fuzz cmin <target>` keeps what adds
# coverage. Long files are cut to their first lines: small inputs mutate faster.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=fuzz/corpus
home=tests/fixtures/openclaw

# The first lines of a file, at most 4 kB of whole lines.
head_lines() { awk 'BEGIN { n = 0 } { n += length($0) + 1; if (n > 4096) exit; print }' "$1"; }

mkdir -p "$corpus"/{yaml_loader,condition,event_log,openclaw_runlog,openclaw_transcript,openclaw_settings,openclaw_jobs}

for f in desired/*.yaml rules/*.yaml mission-control.yaml "$home/desired.yaml"; do
  cp "$f" "$corpus/yaml_loader/seed-$(echo "$f" | tr / -)"
done

# Every `when:` of the rules, as written.
n=0
grep -h '^when: ' rules/*.yaml | sed 's/^when: //' | sort -u | while IFS= read -r condition; do
  n=$((n + 1))
  printf '%s' "$condition" > "$corpus/condition/seed-rule-$n"
done
printf '%s' 'last.latency > 1s and (entity.grace == "5m" or x in [1, "a", null, [2]])' > "$corpus/condition/seed-mixed"
printf '%s' 'not not (a != null) or s contains '"'"'x'"'"' and {{ last.status }}' > "$corpus/condition/seed-template"

log=state/events.example.jsonl
cp "$log" "$corpus/event_log/seed-example"
head -c "$(( $(wc -c < "$log") - 40 ))" "$log" > "$corpus/event_log/seed-torn-last-line"
{ head -n 4 "$log"; printf '\377'; tail -n +5 "$log"; } > "$corpus/event_log/seed-rotated"

for f in "$home"/v2026-4-15/cron/runs/*.jsonl; do
  head_lines "$f" > "$corpus/openclaw_runlog/seed-$(basename "$f")"
done

for f in "$home"/v2026-4-15/agents/*/sessions/*; do
  head_lines "$f" > "$corpus/openclaw_transcript/seed-$(basename "$(dirname "$(dirname "$f")")")-$(basename "$f")"
done

for v in v2026-4-15 v2026-5-28 v2026-6-11; do
  cp "$home/$v/openclaw.json" "$corpus/openclaw_settings/seed-$v"
done
printf '%s' '{"agents":{"entries":{"Ops":{"heartbeat":{"every":"1h30m","prompt":"beat"}}},"defaults":{"heartbeat":{"every":5}}}}' \
  > "$corpus/openclaw_settings/seed-entries"

cp "$home/v2026-4-15/cron/jobs.json" "$corpus/openclaw_jobs/seed-v2026-4-15"
{ cat "$home/v2026-5-28/cron/jobs.json"; printf '\n//state\n'; cat "$home/v2026-5-28/cron/jobs-state.json"; } \
  > "$corpus/openclaw_jobs/seed-v2026-5-28"
