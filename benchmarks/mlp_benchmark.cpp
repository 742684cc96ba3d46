// One training step (forward, backward, plain SGD update) of a 784-256-256-10 ReLU MLP with
// softmax cross-entropy (mlp_model.hpp) at batch 64 and 256: tapegrad, eagerly, replayed
// (tapegrad::function) and traced (a fresh function's first call), beside the same step
// written by hand in Eigen, and beside libtorch when built with TAPEGRAD_BENCHMARK_TORCH.
// TAPEGRAD_BENCH_THREADS=2 runs the same cases on two threads
// (see NOTE [ Threads in the benchmarks ] in bench_common.hpp). mlp_benchmark_blas, built
// against tapegrad::blas, adds both steps on the BLAS's GEMM.
#include "bench_common.hpp"
#include "mlp_model.hpp"

namespace {

// Built against tapegrad::blas (mlp_benchmark_blas), each case says which GEMM it runs on:
// Eigen's for the cases of the plain build, the BLAS for the *Blas cases.
void use_blas(bool on) {
#ifdef TAPEGRAD_BLAS
  tapegrad::detail::blas_enabled() = on;
#else
  (void)on;
#endif
}

template <class Model, class... Options>
void BM_MlpStep(benchmark::State& state, Options... options) {
  bench::use_threads();
  Model model(static_cast<int>(state.range(0)), options...);
  for (auto _ : state) benchmark::DoNotOptimize(model.step());
  bench::label_threads(state);
}

void BM_MlpStepEigenByHand(benchmark::State& state) {
  BM_MlpStep<mlp::EigenByHand>(state);
}
void BM_MlpStepTapegrad(benchmark::State& state) {
  use_blas(false);
  BM_MlpStep<mlp::Tapegrad>(state);
}
void BM_MlpStepTapegradReplayed(benchmark::State& state) {
  use_blas(false);
  BM_MlpStep<mlp::TapegradReplayed>(state);
}
void BM_MlpStepTapegradTraced(benchmark::State& state) {
  use_blas(false);
  BM_MlpStep<mlp::TapegradTraced>(state);
}
#ifdef TAPEGRAD_BLAS
void BM_MlpStepByHandBlas(benchmark::State& state) {
  BM_MlpStep<mlp::EigenByHand>(state, true);
}
void BM_MlpStepTapegradBlas(benchmark::State& state) {
  use_blas(true);
  BM_MlpStep<mlp::Tapegrad>(state);
  use_blas(false);
}
#endif

}  // namespace

BENCHMARK(BM_MlpStepEigenByHand)
    ->Arg(64)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_MlpStepTapegrad)
    ->Arg(64)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_MlpStepTapegradReplayed)
    ->Arg(64)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_MlpStepTapegradTraced)
    ->Arg(64)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->Apply(bench::time_for_threads);

#ifdef TAPEGRAD_BLAS
BENCHMARK(BM_MlpStepByHandBlas)
    ->Arg(64)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_MlpStepTapegradBlas)
    ->Arg(64)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->Apply(bench::time_for_threads);
#endif

#ifdef TAPEGRAD_BENCHMARK_WITH_TORCH
namespace {
void BM_MlpStepTorch(benchmark::State& state) {
  BM_MlpStep<mlp::Torch>(state);
}
}  // namespace
BENCHMARK(BM_MlpStepTorch)
    ->Arg(64)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->Apply(bench::time_for_threads);
#endif
