// Matrix work: (A @ B).sum() with A and B n x n float (n = 1024 in the timed runs): tapegrad's
// forward under a tape and forward + gradient() with respect to both, beside Eigen's own
// GEMM (the rate tapegrad's forward should reach) and libtorch's autograd when built with
// TAPEGRAD_BENCHMARK_TORCH. TAPEGRAD_BENCH_THREADS=2 runs them on two threads.
// The smoke test runs only n = 128: a 1024 GEMM takes seconds in a Debug build.
#include <tapegrad/tapegrad.hpp>

#include <optional>

#include <Eigen/Core>
#include <cstdlib>

#include "bench_common.hpp"

namespace tg = tapegrad;

namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// The floating-point operations of one n x n x n GEMM, as GFLOP/s once divided by seconds.
void set_gemm_rate(benchmark::State& state, int gemms_per_iteration) {
  const double n = static_cast<double>(state.range(0));
  state.counters["gflops"] = benchmark::Counter(
      2.0 * n * n * n * gemms_per_iteration * 1e-9 * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

Matrix input(benchmark::State& state, unsigned seed) {
  std::srand(seed);
  return Matrix::Random(state.range(0), state.range(0));
}

void BM_EigenGemm(benchmark::State& state) {
  bench::use_threads();
  const Matrix a = input(state, 1), b = input(state, 2);
  Matrix c(state.range(0), state.range(0));
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gemm_rate(state, 1);
  bench::label_threads(state);
}

// The forward with no tape active, and under a tape that watches both operands.
template <bool record>
void BM_MatmulForwardTemplate(benchmark::State& state) {
  bench::use_threads();
  const tg::Tensor<float> a(input(state, 1)), b(input(state, 2));
  for (auto _ : state) {
    std::optional<tg::GradientTape> tape;
    if (record) {
      tape.emplace();
      tape->watch(a);
      tape->watch(b);
    }
    benchmark::DoNotOptimize(tg::sum(tg::matmul(a, b)));
  }
  set_gemm_rate(state, 1);
  bench::label_threads(state);
}
void BM_MatmulForwardNoTape(benchmark::State& state) {
  BM_MatmulForwardTemplate<false>(state);
}
void BM_MatmulForward(benchmark::State& state) {
  BM_MatmulForwardTemplate<true>(state);
}

void BM_MatmulForwardAndGradient(benchmark::State& state) {
  bench::use_threads();
  const tg::Tensor<float> a(input(state, 1)), b(input(state, 2));
  for (auto _ : state) {
    tg::GradientTape tape;
    tape.watch(a);
    tape.watch(b);
    const auto y = tg::sum(tg::matmul(a, b));
    benchmark::DoNotOptimize(tape.gradient(y, std::vector<tg::Tensor<float>>{a, b}));
  }
  set_gemm_rate(state, 3);
  bench::label_threads(state);
}

}  // namespace

BENCHMARK(BM_EigenGemm)
    ->Arg(128)
    ->Arg(1024)
    ->Unit(benchmark::kMillisecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_MatmulForwardNoTape)
    ->Arg(128)
    ->Arg(1024)
    ->Unit(benchmark::kMillisecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_MatmulForward)
    ->Arg(128)
    ->Arg(1024)
    ->Unit(benchmark::kMillisecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_MatmulForwardAndGradient)
    ->Arg(128)
    ->Arg(1024)
    ->Unit(benchmark::kMillisecond)
    ->Apply(bench::time_for_threads);

#ifdef TAPEGRAD_BENCHMARK_WITH_TORCH
namespace {

torch::Tensor torch_input(benchmark::State& state, unsigned seed) {
  const Matrix m = input(state, seed);
  return torch::from_blob(const_cast<float*>(m.data()), {m.rows(), m.cols()}, torch::kFloat32)
      .clone()
      .requires_grad_(true);
}

void BM_TorchMatmulForward(benchmark::State& state) {
  bench::use_threads();
  const torch::Tensor a = torch_input(state, 1), b = torch_input(state, 2);
  for (auto _ : state) benchmark::DoNotOptimize(a.mm(b).sum());
  set_gemm_rate(state, 1);
}

void BM_TorchMatmulForwardAndBackward(benchmark::State& state) {
  bench::use_threads();
  const torch::Tensor a = torch_input(state, 1), b = torch_input(state, 2);
  for (auto _ : state) {
    const torch::Tensor y = a.mm(b).sum();
    benchmark::DoNotOptimize(torch::autograd::grad({y}, {a, b}));
  }
  set_gemm_rate(state, 3);
}

}  // namespace

BENCHMARK(BM_TorchMatmulForward)
    ->Arg(128)
    ->Arg(1024)
    ->Unit(benchmark::kMillisecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_TorchMatmulForwardAndBackward)
    ->Arg(128)
    ->Arg(1024)
    ->Unit(benchmark::kMillisecond)
    ->Apply(bench::time_for_threads);
#endif
