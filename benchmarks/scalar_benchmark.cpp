// Scalar-style code: f(x) = sum_i sin(x_i) exp(x_{i+1}) / (1 + x_i^2), in double, n = 10,000
// in the timed runs (n = 1,000 too: per-op costs that grow with n show up as a difference).
// Written with one 0-d tensor per element (what a user porting scalar code writes), its
// value + gradient is reported per elementary op; written with [n] tensors, its value +
// gradient is compared with the plain C++ function (the cheap-gradient bound of tape AD). The
// scalar-style value + gradient also runs replayed by tapegrad::function.
// The smoke test runs only n = 1,000.
#include <tapegrad/tapegrad.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "bench_common.hpp"

namespace tg = tapegrad;

namespace {

/// Each of the n - 1 terms is sin, exp, *, x*x, 1+, / and the add into the sum.
double elementary_ops(const benchmark::State& state) {
  return 7.0 * static_cast<double>(state.range(0) - 1);
}

std::vector<double> input_values(const benchmark::State& state) {
  std::mt19937 engine(11);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<double> x(static_cast<std::size_t>(state.range(0)));
  for (double& v : x) v = uniform(engine);
  return x;
}

double plain_f(const std::vector<double>& x) {
  double f = 0;
  for (std::size_t i = 0; i + 1 < x.size(); ++i)
    f += std::sin(x[i]) * std::exp(x[i + 1]) / (1.0 + x[i] * x[i]);
  return f;
}

std::vector<tg::Tensor<double>> scalar_tensors(const benchmark::State& state) {
  std::vector<tg::Tensor<double>> xs;
  for (double v : input_values(state)) xs.emplace_back(v);
  return xs;
}

tg::Tensor<double> scalar_style_f(const std::vector<tg::Tensor<double>>& xs) {
  tg::Tensor<double> f(0.0);
  for (std::size_t i = 0; i + 1 < xs.size(); ++i)
    f = f + tg::sin(xs[i]) * tg::exp(xs[i + 1]) / (1.0 + xs[i] * xs[i]);
  return f;
}

tg::Tensor<double> vector_f(const tg::Tensor<double>& x) {
  const std::int64_t n = x.size();
  const auto a = tg::slice(x, {0}, {n - 1}), b = tg::slice(x, {1}, {n - 1});
  return tg::sum(tg::sin(a) * tg::exp(b) / (1.0 + a * a));
}

void BM_PlainFunction(benchmark::State& state) {
  std::vector<double> x = input_values(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(x.data());
    benchmark::DoNotOptimize(plain_f(x));
  }
  bench::set_per_op(state, elementary_ops(state));
}

void BM_ScalarStyleNoTape(benchmark::State& state) {
  const auto xs = scalar_tensors(state);
  for (auto _ : state) benchmark::DoNotOptimize(scalar_style_f(xs));
  bench::set_per_op(state, elementary_ops(state));
}

// Watching n tensors is part of the cost: it is what the user has to write.
void BM_ScalarStyleRecording(benchmark::State& state) {
  const auto xs = scalar_tensors(state);
  for (auto _ : state) {
    tg::GradientTape tape;
    for (const auto& x : xs) tape.watch(x);
    benchmark::DoNotOptimize(scalar_style_f(xs));
  }
  bench::set_per_op(state, elementary_ops(state));
}

// Only the n watch() calls, to tell their cost from the recording's.
void BM_ScalarStyleWatchOnly(benchmark::State& state) {
  const auto xs = scalar_tensors(state);
  for (auto _ : state) {
    tg::GradientTape tape;
    for (const auto& x : xs) tape.watch(x);
    benchmark::ClobberMemory();
  }
  bench::set_per_op(state, elementary_ops(state));
}

void BM_ScalarStyleValueAndGradient(benchmark::State& state) {
  const auto xs = scalar_tensors(state);
  for (auto _ : state) {
    tg::GradientTape tape;
    for (const auto& x : xs) tape.watch(x);
    const auto f = scalar_style_f(xs);
    benchmark::DoNotOptimize(tape.gradient(f, xs));
  }
  bench::set_per_op(state, elementary_ops(state));
}

// The same value + gradient as a tapegrad::function over the n tensors: traced once, before
// the timed loop, and replayed.
void BM_ScalarStyleReplayedValueAndGradient(benchmark::State& state) {
  const auto xs = scalar_tensors(state);
  auto value_and_gradient = tg::function([](const std::vector<tg::Tensor<double>>& x) {
    tg::GradientTape tape;
    for (const auto& t : x) tape.watch(t);
    const auto f = scalar_style_f(x);
    std::vector<tg::Tensor<double>> result = tape.gradient(f, x);
    result.push_back(f);
    return result;
  });
  benchmark::DoNotOptimize(value_and_gradient(xs));
  for (auto _ : state) benchmark::DoNotOptimize(value_and_gradient(xs));
  bench::set_per_op(state, elementary_ops(state));
}

void BM_VectorStyleNoTape(benchmark::State& state) {
  const tg::Tensor<double> x(tg::Shape{state.range(0)}, input_values(state));
  for (auto _ : state) benchmark::DoNotOptimize(vector_f(x));
  bench::set_per_op(state, elementary_ops(state));
}

void BM_VectorStyleValueAndGradient(benchmark::State& state) {
  const tg::Tensor<double> x(tg::Shape{state.range(0)}, input_values(state));
  for (auto _ : state) {
    tg::GradientTape tape;
    tape.watch(x);
    const auto f = vector_f(x);
    benchmark::DoNotOptimize(tape.gradient(f, x));
  }
  bench::set_per_op(state, elementary_ops(state));
}

}  // namespace

BENCHMARK(BM_PlainFunction)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_ScalarStyleNoTape)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_ScalarStyleWatchOnly)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_ScalarStyleRecording)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_ScalarStyleValueAndGradient)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_ScalarStyleReplayedValueAndGradient)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_VectorStyleNoTape)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_VectorStyleValueAndGradient)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
