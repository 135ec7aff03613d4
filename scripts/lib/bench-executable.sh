# Sourced by the benchmark scripts. bench_executable NAME [bench|test] builds benches/NAME.rs
# (`cargo bench --no-run`, the release profile; `test` takes the debug test build instead) and
# prints the path of its executable.
bench_executable() {
  cargo "${2:-bench}" --locked --bench "$1" --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == sys.argv[1] and m.get("executable"):
        print(m["executable"])' "$1"
}
