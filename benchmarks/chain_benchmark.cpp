// Per-op overhead: a chain of 10,000 small ops alternating *0.999, +0.001, sin and tanh on
// [1] and [16] float tensors, forward under a tape then gradient(), reported as ns per op.
// The same forward with no tape active is the baseline for recording overhead.
#include <benchmark/benchmark.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

namespace {

constexpr int chain_length = 10000;

tg::Tensor<float> chain(tg::Tensor<float> y, int n) {
  for (int i = 0; i < n; i += 4) {
    y = y * 0.999f;
    y = y + 0.001f;
    y = tg::sin(y);
    y = tg::tanh(y);
  }
  return y;
}

void set_per_op(benchmark::State& state, int n) {
  // A rate inverted is seconds per op; scaled by 1e9 in the report's reading: ns/op.
  state.counters["ns_per_op"] =
      benchmark::Counter(static_cast<double>(n) * static_cast<double>(state.iterations()) * 1e-9,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_ChainForwardNoTape(benchmark::State& state) {
  const tg::Tensor<float> x(tg::Shape{state.range(0)}, 0.5f);
  for (auto _ : state) benchmark::DoNotOptimize(chain(x, chain_length));
  set_per_op(state, chain_length);
}

void BM_ChainForwardRecording(benchmark::State& state) {
  const tg::Tensor<float> x(tg::Shape{state.range(0)}, 0.5f);
  for (auto _ : state) {
    tg::GradientTape tape;
    tape.watch(x);
    benchmark::DoNotOptimize(chain(x, chain_length));
  }
  set_per_op(state, chain_length);
}

void BM_ChainForwardAndGradient(benchmark::State& state) {
  const tg::Tensor<float> x(tg::Shape{state.range(0)}, 0.5f);
  for (auto _ : state) {
    tg::GradientTape tape;
    tape.watch(x);
    const auto y = chain(x, chain_length);
    benchmark::DoNotOptimize(tape.gradient(y, x));
  }
  set_per_op(state, chain_length);
}

}  // namespace

BENCHMARK(BM_ChainForwardNoTape)->Arg(1)->Arg(16)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ChainForwardRecording)->Arg(1)->Arg(16)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ChainForwardAndGradient)->Arg(1)->Arg(16)->Unit(benchmark::kMicrosecond);
