#!/usr/bin/env bash
# Builds fuzz/api_fuzzer.cpp with clang (libFuzzer + AddressSanitizer + UBSan) and runs it
# on fuzz/corpus for a time or a number of executions. See fuzz/README.md.
#
#   fuzz/run.sh -d               # deterministic: fuzz/regressions, then 60,000 executions
#                                # from seed 1 (what CI runs: the same commit, the same verdict)
#   fuzz/run.sh                  # 60 seconds from a random seed
#   fuzz/run.sh -t 600           # ten minutes
#   fuzz/run.sh -n 1000000       # one million executions
#   fuzz/run.sh -b               # build only
#   fuzz/run.sh -r CRASH_FILE    # replay one input (a reproducer) and exit
#   fuzz/run.sh -t 60 -- -max_len=2048   # anything after -- goes to libFuzzer
#
# Environment: CXX (default clang++), OUT (build and work directory, default build/fuzz),
# NICE (default 10: the fuzzer shares the machine), LOCK (a file to flock while compiling; default
# none), SEED and RUNS (the deterministic run's seed and execution count; default 1 and 60000).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
runs=""
build_only=0
replay=""
deterministic=0
while getopts "t:n:br:dh" opt; do
  case "$opt" in
    t) seconds="$OPTARG" ;;
    n) runs="$OPTARG"; seconds=0 ;;
    b) build_only=1 ;;
    r) replay="$OPTARG" ;;
    d) deterministic=1 ;;
    *) sed -n '2,19p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[[ "${1:-}" == "--" ]] && shift

cxx="${CXX:-clang++}"
if ! "$cxx" --version 2>/dev/null | grep -q clang; then
  echo "run.sh: libFuzzer needs clang; CXX=$cxx is not clang" >&2
  exit 2
fi
out="${OUT:-build/fuzz}"
mkdir -p "$out/corpus" "$out/artifacts"
binary="$out/api_fuzzer"

# -O1 keeps sanitizer reports readable; asserts stay on (TAPEGRAD_ASSERT and Eigen's catch
# internal invariants); -fno-sanitize-recover makes every UBSan report stop the run.
flags=(-std=c++17 -g -O1 -fno-omit-frame-pointer
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Iinclude -I/usr/include/eigen3)
build=("$cxx" "${flags[@]}" fuzz/api_fuzzer.cpp -o "$binary")
if [[ ! -x "$binary" || fuzz/api_fuzzer.cpp -nt "$binary" || -n "$(find include -newer "$binary" -name '*.hpp' | head -1)" ]]; then
  echo "== building $binary"
  if [[ -n "${LOCK:-}" ]]; then flock "$LOCK" "${build[@]}"; else "${build[@]}"; fi
fi
[[ "$build_only" == 1 ]] && exit 0

# Leaks are checked after every input; an undocumented exception aborts (std::terminate).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if [[ -n "$replay" ]]; then
  exec "$binary" -runs=1 "$replay"
fi

# NOTE [ A deterministic fuzz run ]
# CI must give the same verdict for the same commit, so its run is a pure function of the
# commit: a fixed -seed and -runs (never a time limit); the seeds given as a sorted list
# (-seed_inputs), not as a directory whose listing order depends on the file system; a fresh,
# empty output corpus; no re-reading of it (-reload=0); and the address space not randomised
# (setarch -R). The last matters because the tape's unordered_maps are keyed by pointers:
# which keys share a bucket depends on where the heap lies, that changes how often the
# hashtable's loops run, and libFuzzer counts loop trips as coverage, so with ASLR two runs
# of one commit drifted apart after about 1,300 executions. The per-input timeout is far
# above any input's real cost (the harness skips costly calls), so a slow machine cannot
# fail it either. fuzz/regressions holds inputs that were once too slow or crashed; each is
# replayed first, with a tight timeout.
if [[ "$deterministic" == 1 ]]; then
  norandom=()
  if setarch -R true 2>/dev/null; then
    norandom=(setarch -R)
  else
    echo "run.sh: setarch -R is not available; the run may not be reproducible" >&2
  fi
  regressions=("$PWD"/fuzz/regressions/*)
  echo "== replaying ${#regressions[@]} inputs of fuzz/regressions (each must finish in 5 s)"
  if ! "$binary" -timeout=5 -rss_limit_mb=2048 "${regressions[@]}" > "$out/regressions.log" 2>&1; then
    cat "$out/regressions.log"
    exit 1
  fi
  grep -E "^Executed" "$out/regressions.log" | sed "s|$PWD/||"
  find "$PWD/fuzz/corpus" -type f | LC_ALL=C sort | paste -sd, > "$out/seed_list"
  rm -rf "$out/det-corpus" && mkdir -p "$out/det-corpus"
  cd "$out"
  status=0
  nice -n "${NICE:-10}" "${norandom[@]}" ./api_fuzzer -seed="${SEED:-1}" -runs="${RUNS:-60000}" \
    -reload=0 -timeout=120 -max_len=1024 -entropic=0 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$PWD/artifacts/" -seed_inputs=@seed_list "$@" det-corpus \
    > det-run.log 2>&1 || status=$?
  echo "== $PWD/det-run.log"
  grep -E "^#[0-9]+.*(DONE|INITED)|stat::|==[0-9]+==|SUMMARY|\*\*\*|.*runtime error|terminate called|  what\(\)|Test unit written" det-run.log | tail -40
  exit "$status"
fi

limits=(-max_total_time="$seconds")
[[ -n "$runs" ]] && limits=(-runs="$runs")
# libFuzzer writes its -jobs log (fuzz-0.log) to the working directory: run in $out. New
# inputs go to $out/corpus; the seeds in fuzz/corpus are read, never written.
seeds="$PWD/fuzz/corpus"
cd "$out"
status=0
# -max_len=1024: programs of up to a few hundred calls; longer ones run slower and find little
# more. -entropic=0: with this many coverage features (tens of thousands per input) the
# entropic schedule's bookkeeping took 60% of the time; without it the fuzzer runs about 3x
# as many inputs per second for the same coverage. Flags after -- override these.
nice -n "${NICE:-10}" ./api_fuzzer "${limits[@]}" -jobs=1 -workers=1 -timeout=10 -max_len=1024 \
  -entropic=0 \
  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$PWD/artifacts/" \
  "$@" corpus "$seeds" > run.log 2>&1 || status=$?
# With -jobs the fuzzer's output is in fuzz-0.log (the parent copies it into run.log when the
# job ends); show the findings and the figures.
if [[ -f fuzz-0.log ]]; then
  echo "== $PWD/fuzz-0.log"
  grep -E "^(#[0-9]+.*(DONE|pulse|INITED)|stat::|==[0-9]+==|SUMMARY|\*\*\*|.*runtime error|terminate called|  what\(\)|artifact_prefix|Test unit written)" fuzz-0.log | tail -40
fi
exit "$status"
