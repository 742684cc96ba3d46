#!/usr/bin/env bash
# Builds the benchmarks in Release and runs each with repetitions, printing one markdown table
# of medians and of the ratios the performance issue sets as targets. The machine is shared:
# every build and every timed run holds /tmp/tapegrad-build.lock, so that nobody compiles
# during a timing, and only ratios within one run are compared.
#   REPETITIONS=7 benchmarks/run.sh
# Environment: REPETITIONS (default 7), MIN_TIME (seconds per repetition, default 0.5),
# TORCH=OFF to leave libtorch out even when it is installed, OPENMP=OFF to skip the 2-thread
# runs, BUILD_DIR (default build/bench), RAW_DIR (where the raw JSON goes, default
# $BUILD_DIR/results), TABLE_ONLY=1 to print the table again from RAW_DIR without running,
# COMPILE_ONLY=1 to measure only the compile times (row 6) and print the table.
set -euo pipefail
cd "$(dirname "$0")/.."
repetitions=${REPETITIONS:-7}
min_time=${MIN_TIME:-0.5}
build_dir=${BUILD_DIR:-build/bench}
# A compile-only run keeps its results apart, so that its table shows no older benchmark rows.
default_raw_dir=$build_dir/results
[ "${COMPILE_ONLY:-0}" = 1 ] && default_raw_dir=$build_dir/compile-results
raw_dir=${RAW_DIR:-$default_raw_dir}
lock=/tmp/tapegrad-build.lock
locked() { flock "$lock" "$@"; }

if [ "${TABLE_ONLY:-0}" != 1 ]; then

if [ "${COMPILE_ONLY:-0}" != 1 ]; then

# The release preset's settings in a directory of its own, so that switching libtorch and
# OpenMP on here changes nothing in build/release. Without libtorch installed,
# TAPEGRAD_BENCHMARK_TORCH=ON only prints a warning and the libtorch cases are left out.
locked cmake --preset release -B "$build_dir" -DTAPEGRAD_BENCHMARK_TORCH="${TORCH:-ON}" \
  -DTAPEGRAD_OPENMP="${OPENMP:-ON}" >/dev/null
locked cmake --build "$build_dir" -j 2 --target chain_benchmark mlp_benchmark \
  matmul_benchmark scalar_benchmark mlp_memory tape_memory hvp_benchmark hvp_memory \
  jvp_memory recompute_memory >/dev/null
bin="$build_dir/benchmarks"
has_torch=OFF
if grep -q '^TAPEGRAD_BENCHMARK_TORCH:BOOL=ON' "$build_dir/CMakeCache.txt" &&
  grep -q '^Torch_DIR:PATH=/' "$build_dir/CMakeCache.txt"; then
  has_torch=ON
  locked cmake --build "$build_dir" --target mlp_memory_torch >/dev/null
fi
has_openmp=$(grep -q '^TAPEGRAD_OPENMP:BOOL=ON' "$build_dir/CMakeCache.txt" && echo ON || echo OFF)
mkdir -p "$raw_dir"
rm -f "$raw_dir"/{chain,scalar,mlp_1,mlp_2,matmul_1,matmul_2,tape_memory,hvp,hvp_memory}.json \
  "$raw_dir/recompute_memory.json" \
  "$raw_dir"/{mlp_memory,jvp_memory}.jsonl "$raw_dir/compile_times.txt"

# One Google Benchmark binary under the lock with a given thread count (see NOTE [ Threads
# in the benchmarks ] in bench_common.hpp). Repetitions are interleaved at random, so that
# slow phases of the shared machine fall on every case alike.
run() {
  local threads=$1 name=$2 out=$3
  shift 3
  OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads TAPEGRAD_BENCH_THREADS=$threads \
    locked "$bin/$name" --benchmark_repetitions="$repetitions" \
    --benchmark_min_time="$min_time" --benchmark_enable_random_interleaving=true \
    --benchmark_report_aggregates_only=true --benchmark_format=json "$@" \
    >"$raw_dir/$out.json" 2>/dev/null
}
run 1 chain_benchmark chain
run 1 scalar_benchmark scalar
run 1 mlp_benchmark mlp_1
run 1 matmul_benchmark matmul_1 '--benchmark_filter=/1024(/|$)'
run 1 hvp_benchmark hvp
if [ "$has_openmp" = ON ]; then
  run 2 mlp_benchmark mlp_2
  run 2 matmul_benchmark matmul_2 '--benchmark_filter=/1024(/|$)'
fi

# Peak memory of the MLP loop at batch 256 (200 steps), one process per implementation.
{
  OPENBLAS_NUM_THREADS=1 locked "$bin/mlp_memory" tapegrad 200 256
  OPENBLAS_NUM_THREADS=1 locked "$bin/mlp_memory" eigen 200 256
  if [ "$has_torch" = ON ]; then OPENBLAS_NUM_THREADS=1 locked "$bin/mlp_memory_torch" torch 200 256; fi
} >"$raw_dir/mlp_memory.jsonl"
locked "$bin/tape_memory" 1000000 >"$raw_dir/tape_memory.json" || true
# Forward mode: peak RSS of a JVP along chains of two lengths, one process each.
{
  locked "$bin/jvp_memory" 10000
  locked "$bin/jvp_memory" 1000000
} >"$raw_dir/jvp_memory.jsonl"
OPENBLAS_NUM_THREADS=1 locked "$bin/hvp_memory" 64 100000 >"$raw_dir/hvp_memory.json" || true
# Gradient checkpointing: a 64-layer MLP with recompute_grad around each 8 layers, and without.
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 locked "$bin/recompute_memory" 64 256 2048 8 15 \
  >"$raw_dir/recompute_memory.json" || true

fi
mkdir -p "$raw_dir"
rm -f "$raw_dir/compile_times.txt"

# Compile + link time at -O2 of the seed examples and of a minimal Eigen program, the same
# command for both (no -march=native), three times each. /usr/bin/time -v gives user + system
# time (of the compiler, assembler and linker it waits for), which the table compares because
# wall time on the shared machine counts other people's work too, and the wall time. Each
# example is timed header-only and against the precompiled part (NOTE [ The precompiled
# part ]), built first with the same command; the two alternate, so that a slow phase of the
# machine falls on both.
if [ ! -x /usr/bin/time ]; then
  echo "warning: /usr/bin/time is missing (apt-get install time); compile times skipped" >&2
fi
eigen_include=$(pkg-config --cflags-only-I eigen3 2>/dev/null || echo -I/usr/include/eigen3)
gxx="g++ -std=c++17 -O2 -Iinclude -Iexamples $eigen_include"
timed() {
  local log
  log=$(mktemp)
  if ! locked /usr/bin/time -v "$@" >"$log" 2>&1; then
    echo "warning: failed, left out of the table: $*" >&2
    tail -5 "$log" >&2
    rm -f "$log"
    return 0
  fi
  awk -F': ' '
    /User time/ { user = $2 } /System time/ { sys = $2 } /Elapsed \(wall clock\)/ { wall = $2 }
    END { printf "cpu=%.2f wall=%s ", user + sys, wall }' "$log"
  rm -f "$log"
}
precompiled_object="$raw_dir/precompiled.o"
# Prints "name <times>" for the header-only build and "name@precompiled <times>" for the one
# against the precompiled part, three alternating runs of each.
compile_times() {
  local name=$1 source=$2
  shift 2
  local object=$precompiled_object header_only="" precompiled=""
  [ "${1:-}" = -c ] && object=""
  for _ in 1 2 3; do
    header_only+=$(timed $gxx "$source" "$@" -o "$raw_dir/compile_probe")
    precompiled+=$(timed $gxx -DTAPEGRAD_PRECOMPILED "$source" $object "$@" \
      -o "$raw_dir/compile_probe")
  done
  echo "$name $header_only"
  echo "$name@precompiled $precompiled"
}
if [ -x /usr/bin/time ]; then
{
  echo "precompiled_part $(timed $gxx -c src/precompiled.cpp -o "$precompiled_object")"
  echo "minimal_eigen $(for _ in 1 2 3; do timed $gxx benchmarks/minimal_eigen.cpp \
    -o "$raw_dir/compile_probe"; done)"
  # Every example, and the newcomer's logistic regression among them.
  for example in examples/*.cpp; do
    name=$(basename "$example" .cpp)
    case $name in
      # A Catch2 test file: compiled without linking, as its main() is Catch2's, built once.
      test_my_function) compile_times "$name" "$example" -c ;;
      # The examples that read Fashion-MNIST's gzip files need zlib; -lz costs the others nothing.
      *) compile_times "$name" "$example" -lz ;;
    esac
  done
} >"$raw_dir/compile_times.txt"
fi
rm -f "$raw_dir/compile_probe" "$precompiled_object"
fi
has_torch=$([ -s "$raw_dir/chain.json" ] && grep -q BM_TorchChain "$raw_dir/chain.json" && echo ON || echo OFF)
has_openmp=$([ -s "$raw_dir/mlp_2.json" ] && echo ON || echo OFF)

python3 - "$raw_dir" "$has_torch" "$has_openmp" <<'PY'
import json, os, statistics, sys

raw_dir, has_torch, has_openmp = sys.argv[1], sys.argv[2] == "ON", sys.argv[3] == "ON"

def load(name):
    path = os.path.join(raw_dir, name + ".json")
    if not os.path.exists(path) or not os.path.getsize(path):
        print(f"warning: no results in {path}", file=sys.stderr)
        return {}
    with open(path) as f:
        rows = {}
        for b in json.load(f)["benchmarks"]:
            if b.get("aggregate_name") != "median":
                continue
            # Wall time where the run used it (more than one thread), else the main thread's
            # CPU time: see NOTE [ Which time ] in bench_common.hpp.
            wall = b["run_name"].endswith("/real_time")
            b["time"] = b["real_time"] if wall else b["cpu_time"]
            rows[b["run_name"].removesuffix("/real_time")] = b
        return rows

chain, scalar = load("chain"), load("scalar")
mlp = {1: load("mlp_1"), 2: load("mlp_2")}
matmul = {1: load("matmul_1"), 2: load("matmul_2")}

def ms(rows, name):
    b = rows.get(name)
    if b is None:
        return None
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b["time_unit"]]
    return b["time"] * scale

def counter(rows, name, key):
    b = rows.get(name)
    return None if b is None else b[key]

def fmt(value, unit="", digits=1):
    return "n/a" if value is None else f"{value:,.{digits}f}{unit}"

def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b

rows = []
def row(target, measure, median, value, goal, met):
    verdict = "n/a" if met is None else ("yes" if met else "**no**")
    rows.append(f"| {target} | {measure} | {median} | {value} | {goal} | {verdict} |")

def check(value, predicate):
    return None if value is None else predicate(value)

# 1. Small ops.
for size in (1, 16):
    no_tape = counter(chain, f"BM_ChainForwardNoTape/{size}", "ns_per_op")
    recording = counter(chain, f"BM_ChainForwardRecording/{size}", "ns_per_op")
    both = counter(chain, f"BM_ChainForwardAndGradient/{size}", "ns_per_op")
    torch_both = counter(chain, f"BM_TorchChainForwardAndBackward/{size}", "ns_per_op")
    torch_rec = counter(chain, f"BM_TorchChainForwardRecording/{size}", "ns_per_op")
    speedup = ratio(torch_both, both)
    row("1 small ops", f"chain [{size}] forward + gradient", f"{fmt(both, ' ns/op')}",
        "", "<= 72 ns/op", check(both, lambda v: v <= 72))
    row("1 small ops", f"chain [{size}] libtorch forward + backward / tapegrad",
        f"{fmt(torch_both, ' ns/op')} (libtorch)", fmt(speedup, "x"), ">= 50x (stretch 100x)",
        check(speedup, lambda v: v >= 50))
    row("1 small ops", f"chain [{size}] forward recording / no tape",
        f"{fmt(recording)} / {fmt(no_tape)} ns/op", fmt(ratio(recording, no_tape), "x", 2),
        "<= 1.5x", check(ratio(recording, no_tape), lambda v: v <= 1.5))
    if torch_rec is not None:
        row("(info)", f"chain [{size}] libtorch forward recording / tapegrad's",
            f"{fmt(torch_rec)} / {fmt(recording)} ns/op", fmt(ratio(torch_rec, recording), "x"),
            "", None)

# 2. Scalar-style code (n = 10,000; n = 1,000 as information on how costs grow with n).
scalar_vg = counter(scalar, "BM_ScalarStyleValueAndGradient/10000", "ns_per_op")
row("2 scalar-style", "one 0-d tensor per element: value + gradient", fmt(scalar_vg, " ns/op"),
    "", "<= 60 ns/op", check(scalar_vg, lambda v: v <= 60))
scalar_rec = counter(scalar, "BM_ScalarStyleRecording/10000", "ns_per_op")
scalar_watch = counter(scalar, "BM_ScalarStyleWatchOnly/10000", "ns_per_op")
scalar_nt = counter(scalar, "BM_ScalarStyleNoTape/10000", "ns_per_op")
row("(info)", "0-d: forward recording (incl. 10,000 watch()) / no tape",
    f"{fmt(scalar_rec)} / {fmt(scalar_nt)} ns/op", fmt(ratio(scalar_rec, scalar_nt), "x", 2), "",
    None)
row("(info)", "0-d: the 10,000 watch() calls alone, per elementary op", fmt(scalar_watch, " ns/op"),
    "", "", None)
small_vg = counter(scalar, "BM_ScalarStyleValueAndGradient/1000", "ns_per_op")
row("(info)", "0-d: value + gradient at n = 1,000", fmt(small_vg, " ns/op"), "", "", None)
plain = ms(scalar, "BM_PlainFunction/10000")
vector_vg = ms(scalar, "BM_VectorStyleValueAndGradient/10000")
row("2 scalar-style", "[n] tensors: value + gradient / plain double function",
    f"{fmt(vector_vg, ' ms', 3)} / {fmt(plain, ' ms', 3)}", fmt(ratio(vector_vg, plain), "x", 2),
    "<= 4x", check(ratio(vector_vg, plain), lambda v: v <= 4))

# 3. MLP step: against the Eigen step by hand and libtorch on one thread; against libtorch's
# best 2-core setting on two.
for threads in (1, 2):
    for batch in (64, 256):
        eigen = ms(mlp[threads], f"BM_MlpStepEigenByHand/{batch}")
        tape = ms(mlp[threads], f"BM_MlpStepTapegrad/{batch}")
        torch = ms(mlp[threads], f"BM_MlpStepTorch/{batch}")
        if threads == 1:
            row("3 MLP, 1 thread", f"batch {batch}: tapegrad / Eigen by hand",
                f"{fmt(tape, ' ms', 3)} / {fmt(eigen, ' ms', 3)}", fmt(ratio(tape, eigen), "x", 2),
                "<= 1.15x", check(ratio(tape, eigen), lambda v: v <= 1.15))
            row("3 MLP, 1 thread", f"batch {batch}: libtorch / tapegrad",
                f"{fmt(torch, ' ms', 3)} (libtorch)", fmt(ratio(torch, tape), "x", 2), ">= 1.4x",
                check(ratio(torch, tape), lambda v: v >= 1.4))
            continue
        row("3 MLP, 2 threads", f"batch {batch}: tapegrad / libtorch (OpenBLAS 2 threads)",
            f"{fmt(tape, ' ms', 3)} / {fmt(torch, ' ms', 3)}", fmt(ratio(tape, torch), "x", 2),
            "<= 1.0x", check(ratio(tape, torch), lambda v: v <= 1.0))
        if eigen is not None:
            row("(info)", f"batch {batch}, 2 threads: tapegrad / Eigen by hand",
                f"{fmt(tape, ' ms', 3)} / {fmt(eigen, ' ms', 3)}", fmt(ratio(tape, eigen), "x", 2),
                "", None)

# 4. Matmul.
for threads in (1, 2):
    rows_t = matmul[threads]
    if not rows_t:
        continue
    forward = ms(rows_t, "BM_MatmulForward/1024")
    both = ms(rows_t, "BM_MatmulForwardAndGradient/1024")
    backward = None if forward is None or both is None else both - forward
    row(f"4 matmul, {threads} thread{'s' if threads > 1 else ''}",
        "1024: backward / forward (tapegrad)",
        f"{fmt(backward, ' ms', 2)} / {fmt(forward, ' ms', 2)}", fmt(ratio(backward, forward), "x", 2),
        "<= 2.1x", check(ratio(backward, forward), lambda v: v <= 2.1))
    eigen_rate = counter(rows_t, "BM_EigenGemm/1024", "gflops")
    tape_rate = counter(rows_t, "BM_MatmulForward/1024", "gflops")
    share = ratio(tape_rate, eigen_rate)
    row(f"4 matmul, {threads} thread{'s' if threads > 1 else ''}",
        "1024: forward rate / Eigen GEMM rate",
        f"{fmt(tape_rate, ' GFLOP/s')} / {fmt(eigen_rate, ' GFLOP/s')}",
        fmt(None if share is None else 100 * share, " %"), ">= 90 %",
        check(share, lambda v: v >= 0.9))
    t_forward = ms(rows_t, "BM_TorchMatmulForward/1024")
    t_both = ms(rows_t, "BM_TorchMatmulForwardAndBackward/1024")
    if t_forward is not None and t_both is not None:
        row("(info)", f"1024, {threads} thread(s): libtorch backward / forward",
            f"{fmt(t_both - t_forward, ' ms', 2)} / {fmt(t_forward, ' ms', 2)}",
            fmt(ratio(t_both - t_forward, t_forward), "x", 2), "", None)

# 5. Memory.
peaks = {}
path = os.path.join(raw_dir, "mlp_memory.jsonl")
if os.path.exists(path):
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                peaks[r["impl"]] = r["peak_rss_kib"] / 1024
tape_peak = peaks.get("tapegrad")
others = ", ".join(f"{k} {v:.1f} MiB" for k, v in peaks.items() if k != "tapegrad")
row("5 memory", "peak RSS, MLP loop at batch 256 (200 steps)",
    f"{fmt(tape_peak, ' MiB')} ({others})" if others else fmt(tape_peak, " MiB"),
    fmt(ratio(peaks.get("torch"), tape_peak), "x below libtorch") if "torch" in peaks else "",
    "<= 20 MiB", check(tape_peak, lambda v: v <= 20))
path = os.path.join(raw_dir, "tape_memory.json")
if os.path.exists(path) and os.path.getsize(path):
    with open(path) as f:
        t = json.load(f)
    row("5 memory", f"bytes held per recorded op ({t['ops']:,} ops, [1] chain, persistent tape)",
        f"{t['rss_bytes_per_op_recorded']:.0f} B RSS, {t['malloc_bytes_per_op_recorded']:.0f} B malloc",
        f"sizeof(Entry) = {t['sizeof_entry']} B", "reported", None)
    kept = max(t["malloc_kept_after_destroy_bytes"])
    rss = t["rss_kept_after_destroy_bytes"]
    row("5 memory", "destroying the tape returns its memory",
        f"malloc: {kept / 2**20:.1f} MiB kept (block cache); RSS: {rss['first'] / 2**20:.0f} MiB"
        f" kept, {rss['after_malloc_trim'] / 2**20:.0f} MiB after malloc_trim(0)", "",
        "returned", t["memory_returned"])

# 7. Forward mode.
hvp = load("hvp")
for size in (1, 16):
    no_tape = counter(chain, f"BM_ChainForwardNoTape/{size}", "ns_per_op")
    jvp = counter(chain, f"BM_ChainJvp/{size}", "ns_per_op")
    row("7 forward mode", f"chain [{size}] JVP (ForwardAccumulator) / no tape",
        f"{fmt(jvp)} / {fmt(no_tape)} ns/op", fmt(ratio(jvp, no_tape), "x", 2), "<= 3x",
        check(ratio(jvp, no_tape), lambda v: v <= 3))
path = os.path.join(raw_dir, "jvp_memory.jsonl")
if os.path.exists(path):
    with open(path) as f:
        jvp_peaks = {r["ops"]: r["peak_rss_kib"] / 1024 for r in map(json.loads, filter(str.strip, f))}
    short, long_ = jvp_peaks.get(10000), jvp_peaks.get(1000000)
    row("7 forward mode", "JVP peak RSS, chain of 1,000,000 ops / of 10,000",
        f"{fmt(long_, ' MiB')} / {fmt(short, ' MiB')}", fmt(ratio(long_, short), "x", 3),
        "<= 1.10x", check(ratio(long_, short), lambda v: v <= 1.10))
for problem, goal in (("Mlp", 1.0), ("Elementwise", 0.6)):
    arg = "64" if problem == "Mlp" else "100000"
    fwd = ms(hvp, f"BM_Hvp{problem}ForwardOverReverse/{arg}")
    rev = ms(hvp, f"BM_Hvp{problem}NestedTapes/{arg}")
    what = "MLP 784-256-256-10, batch 64" if problem == "Mlp" else "elementwise f on [100,000]"
    row("7 forward mode", f"H v ({what}): forward-over-reverse / nested tapes",
        f"{fmt(fwd, ' ms', 2)} / {fmt(rev, ' ms', 2)}", fmt(ratio(fwd, rev), "x", 2),
        f"<= {goal}x", check(ratio(fwd, rev), lambda v, g=goal: v <= g))
path = os.path.join(raw_dir, "hvp_memory.json")
if os.path.exists(path) and os.path.getsize(path):
    with open(path) as f:
        h = json.load(f)
    for key, what in (("mlp", "MLP"), ("elementwise", "elementwise f")):
        r = h[key]
        # The goal is on saved bytes: what the tape keeps alone before its sweep, tangents on
        # the saved tensors included (hvp_memory.cpp); all live bytes are reported beside it.
        row("7 forward mode", f"H v ({what}): saved bytes, forward-over-reverse / nested",
            f"{r['forward_over_reverse_saved_bytes'] / 2**20:.2f} / "
            f"{r['nested_tapes_saved_bytes'] / 2**20:.2f} MiB",
            fmt(r["saved_ratio"], "x", 2), "<= 0.5x" if key == "mlp" else "reported",
            (r["saved_ratio"] <= 0.5) if key == "mlp" else None)
        row("7 forward mode", f"H v ({what}): peak live tensor bytes, forward-over-reverse / nested",
            f"{r['forward_over_reverse_peak_bytes'] / 2**20:.2f} / "
            f"{r['nested_tapes_peak_bytes'] / 2**20:.2f} MiB (agree to {r['max_relative_difference']:.1g})",
            fmt(r["ratio"], "x", 2), "reported", None)

# 8. recompute_grad (gradient checkpointing).
path = os.path.join(raw_dir, "recompute_memory.json")
if os.path.exists(path) and os.path.getsize(path):
    with open(path) as f:
        r = json.load(f)
    what = f"{r['layers']} layers of {r['width']}, batch {r['batch']}, {r['blocks']} blocks"
    row("8 recompute_grad", f"bytes only the tape keeps after the forward, with / without ({what})",
        f"{r['recompute']['tape_own_bytes'] / 2**20:.1f} / {r['plain']['tape_own_bytes'] / 2**20:.1f} MiB",
        fmt(r["tape_bytes_ratio"], "x", 3), "<= 0.25x", r["tape_bytes_ratio"] <= 0.25)
    row("8 recompute_grad", "peak live tensor bytes of a step, with / without",
        f"{r['recompute']['peak_bytes'] / 2**20:.1f} / {r['plain']['peak_bytes'] / 2**20:.1f} MiB",
        fmt(r["peak_ratio"], "x", 3), "reported", None)
    row("8 recompute_grad", f"step time, with / without (medians of {r['reps']}, alternating)",
        f"{r['recompute']['median_s'] * 1e3:.0f} / {r['plain']['median_s'] * 1e3:.0f} ms",
        fmt(r["time_ratio"], "x", 2), "<= 1.4x", r["time_ratio"] <= 1.4)
    row("8 recompute_grad", "gradients bit for bit the same", str(r["gradients_bit_identical"]).lower(),
        "", "true", r["gradients_bit_identical"])

# 6. Compile time: medians of user + system seconds, wall seconds beside them.
cpu_times, wall_times = {}, {}
path = os.path.join(raw_dir, "compile_times.txt")
if os.path.exists(path):
    with open(path) as f:
        for line in f:
            name, *fields = line.split()
            cpu, wall = [], []
            for field in fields:
                key, value = field.split("=")
                if key == "cpu":
                    cpu.append(float(value))
                else:
                    parts = [float(p) for p in value.split(":")]
                    wall.append(sum(p * 60 ** i for i, p in enumerate(reversed(parts))))
            if cpu:
                cpu_times[name], wall_times[name] = statistics.median(cpu), statistics.median(wall)
minimal = cpu_times.get("minimal_eigen")
if "precompiled_part" in cpu_times:
    row("6 compile time: the precompiled part", "src/precompiled.cpp, g++ -O2, compile once "
        "(user + sys)", fmt(cpu_times["precompiled_part"], " s", 1), "", "", None)
names = sorted(n for n in cpu_times if n not in ("minimal_eigen", "precompiled_part")
               and not n.endswith("@precompiled"))
for name in sorted(names, key=lambda n: n != "seed_examples"):
    how = "compile only" if name == "test_my_function" else "compile + link"
    for suffix, against in (("", "header-only"), ("@precompiled", "tapegrad::precompiled")):
        value = cpu_times.get(name + suffix)
        if value is None:
            continue
        row(f"6 compile time: {name}, {against}",
            f"examples/{name}.cpp / minimal Eigen program, g++ -O2, {how} (user + sys)",
            f"{fmt(value, ' s', 2)} / {fmt(minimal, ' s', 2)}", fmt(ratio(value, minimal), "x", 2),
            "<= 3x", check(ratio(value, minimal), lambda v: v <= 3))

# The machine is shared: the load average when each run started says how quiet it was.
loads, date = [], None
for name in ("chain", "scalar", "mlp_1", "matmul_1", "mlp_2", "matmul_2"):
    path = os.path.join(raw_dir, name + ".json")
    if os.path.exists(path) and os.path.getsize(path):
        with open(path) as f:
            context = json.load(f)["context"]
        loads.append(f"{name} {context['load_avg'][0]:.1f}")
        date = context["date"][:10]

print("| target | measure | medians | ratio | goal | met |")
print("|---|---|---|---|---|---|")
print("\n".join(rows))
if loads:
    print(f"\nRun {date}; 1-minute load average at the start of each run (2 cores): "
          + ", ".join(loads) + ".")
if not has_torch:
    print("libtorch was not built in: its cases and ratios are n/a.")
PY
