// What the Google Benchmark programs share: the ns-per-op counter and one place that sets
// how many threads every library in the process may use.
#pragma once

#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <cstdlib>
#include <string>

#ifdef TAPEGRAD_BENCHMARK_WITH_TORCH
#include <torch/torch.h>
#endif

// OpenBLAS is reached through libtorch (which Debian's libtorch does its matmuls in) or, in
// mlp_benchmark_blas, tapegrad::blas; a weak declaration lets the binary run whether or not
// it is there. use_threads() gives it the same thread count as Eigen.
extern "C" void openblas_set_num_threads(int threads) __attribute__((weak));

namespace bench {

/// Reports `ops_per_iteration` ops per iteration as "ns_per_op".
inline void set_per_op(benchmark::State& state, double ops_per_iteration) {
  // A rate inverted is seconds per op; scaled by 1e-9 it reads as ns per op.
  state.counters["ns_per_op"] =
      benchmark::Counter(ops_per_iteration * static_cast<double>(state.iterations()) * 1e-9,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

/// The thread count asked for with TAPEGRAD_BENCH_THREADS (1 when unset).
inline int requested_threads() {
  const char* text = std::getenv("TAPEGRAD_BENCH_THREADS");
  const int threads = text ? std::atoi(text) : 1;
  return threads > 0 ? threads : 1;
}

// NOTE [ Which time ]
// On one thread a benchmark reports the main thread's CPU time (Google Benchmark's default):
// the machine is shared, and CPU time leaves out the time the process waits descheduled.
// With more threads it reports wall time (UseRealTime), since the main thread's CPU time
// would leave out the other threads' work. Rate counters (ns_per_op, gflops) divide by the
// same time as the one reported. Every registration ends in Apply(time_for_threads).

/// Chooses the benchmark's time by the thread count (see NOTE [ Which time ]).
inline void time_for_threads(benchmark::internal::Benchmark* benchmark) {
  if (requested_threads() > 1) benchmark->UseRealTime();
}

// NOTE [ Threads in the benchmarks ]
// One thread means one thread for every library, so each benchmark calls use_threads()
// first. Eigen (tapegrad and the baselines) runs its GEMM on TAPEGRAD_BENCH_THREADS threads
// when built with OpenMP (TAPEGRAD_OPENMP) and on one otherwise. Eigen's count is set
// explicitly because libtorch's set_num_threads() changes OpenMP's default for the whole
// process. libtorch gets set_num_threads(1) always and OpenBLAS the requested count, which
// on two cores is libtorch's fastest setting by the measurements; set_num_threads()
// does not reach OpenBLAS's own threads. run.sh also exports OPENBLAS_NUM_THREADS, which
// OpenBLAS reads when it loads.
inline void use_threads() {
  const int threads = requested_threads();
  Eigen::setNbThreads(threads);
  if (openblas_set_num_threads) openblas_set_num_threads(threads);
#ifdef TAPEGRAD_BENCHMARK_WITH_TORCH
  torch::set_num_threads(1);
#endif
}

/// Names the thread count in the benchmark's label, so a run's JSON says how it was measured.
inline void label_threads(benchmark::State& state) {
  state.SetLabel("eigen_threads=" + std::to_string(Eigen::nbThreads()) +
                 " requested_threads=" + std::to_string(requested_threads()));
}

}  // namespace bench
