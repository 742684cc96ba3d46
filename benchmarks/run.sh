#!/usr/bin/env bash
# Builds the benchmarks in Release and runs each with repetitions, printing a markdown table
# of medians. The machine may be shared: quote medians and the ratios within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
repetitions=${REPETITIONS:-7}
cmake --preset release >/dev/null
cmake --build --preset release --target chain_benchmark mlp_benchmark >/dev/null

run() {
  "./build/release/benchmarks/$1" --benchmark_repetitions="$repetitions" \
    --benchmark_report_aggregates_only=true --benchmark_format=json 2>/dev/null
}

python3 - "$(run chain_benchmark)" "$(run mlp_benchmark)" <<'PY'
import json, sys
rows = {}
for text in sys.argv[1:]:
    for b in json.loads(text)["benchmarks"]:
        if b.get("aggregate_name") == "median":
            rows[b["run_name"]] = b
def per_op(name):
    return rows[name]["ns_per_op"]
print(f"| case | median |")
print(f"|---|---|")
for size in (1, 16):
    no_tape = per_op(f"BM_ChainForwardNoTape/{size}")
    recording = per_op(f"BM_ChainForwardRecording/{size}")
    both = per_op(f"BM_ChainForwardAndGradient/{size}")
    print(f"| chain [{size}]: forward, no tape | {no_tape:.1f} ns/op |")
    print(f"| chain [{size}]: forward while recording (incl. dropping the tape) | {recording:.1f} ns/op |")
    print(f"| chain [{size}]: forward + gradient() | {both:.1f} ns/op |")
eigen = rows["BM_MlpStepEigenByHand/64"]["real_time"]
tape = rows["BM_MlpStepTapegrad/64"]["real_time"]
unit = rows["BM_MlpStepTapegrad/64"]["time_unit"]
print(f"| MLP 784-256-256-10 step, batch 64: Eigen by hand | {eigen:.3f} {unit} |")
print(f"| MLP 784-256-256-10 step, batch 64: tapegrad | {tape:.3f} {unit} (x{tape / eigen:.2f} of by hand) |")
PY
