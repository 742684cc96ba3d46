// Per-op overhead: a chain of 10,000 small ops alternating *0.999, +0.001, sin and tanh on
// [1] and [16] float tensors, forward under a tape then gradient(), reported as ns per op.
// The same forward with no tape active is the baseline for recording overhead; libtorch's
// autograd runs the same chain beside it when built with TAPEGRAD_BENCHMARK_TORCH.
#include <tapegrad/tapegrad.hpp>

#include <vector>

#include "bench_common.hpp"
#include "small_op_chain.hpp"

namespace tg = tapegrad;

namespace {

constexpr int chain_length = 10000;

using bench::small_op_chain;

void BM_ChainForwardNoTape(benchmark::State& state) {
  bench::use_threads();
  const tg::Tensor<float> x(tg::Shape{state.range(0)}, 0.5f);
  for (auto _ : state) benchmark::DoNotOptimize(small_op_chain(x, chain_length));
  bench::set_per_op(state, chain_length);
}

void BM_ChainForwardRecording(benchmark::State& state) {
  bench::use_threads();
  const tg::Tensor<float> x(tg::Shape{state.range(0)}, 0.5f);
  for (auto _ : state) {
    tg::GradientTape tape;
    tape.watch(x);
    benchmark::DoNotOptimize(small_op_chain(x, chain_length));
  }
  bench::set_per_op(state, chain_length);
}

void BM_ChainForwardAndGradient(benchmark::State& state) {
  bench::use_threads();
  const tg::Tensor<float> x(tg::Shape{state.range(0)}, 0.5f);
  for (auto _ : state) {
    tg::GradientTape tape;
    tape.watch(x);
    const auto y = small_op_chain(x, chain_length);
    benchmark::DoNotOptimize(tape.gradient(y, x));
  }
  bench::set_per_op(state, chain_length);
}

// Forward mode: the same chain under a ForwardAccumulator, whose tangent rides along (no
// tape); its target is at most 3x the forward with no tape.
void BM_ChainJvp(benchmark::State& state) {
  bench::use_threads();
  const tg::Tensor<float> x(tg::Shape{state.range(0)}, 0.5f);
  const tg::Tensor<float> v(tg::Shape{state.range(0)}, 1.0f);
  for (auto _ : state) {
    tg::ForwardAccumulator acc(x, v);
    const auto y = small_op_chain(x, chain_length);
    benchmark::DoNotOptimize(acc.jvp(y));
  }
  bench::set_per_op(state, chain_length);
}

// Replayed (NOTE [ Record once, replay many ]): the same forward, and the forward with its
// gradient from a tape inside the traced function, traced once before the timing and
// replayed each iteration: no recording, the op kernels and the rules' ops only.
void BM_ChainReplayedForward(benchmark::State& state) {
  bench::use_threads();
  const tg::Tensor<float> x(tg::Shape{state.range(0)}, 0.5f);
  auto forward =
      tg::function([](const tg::Tensor<float>& x0) { return small_op_chain(x0, chain_length); });
  benchmark::DoNotOptimize(forward(x));  // traces
  for (auto _ : state) benchmark::DoNotOptimize(forward(x));
  bench::set_per_op(state, chain_length);
}

void BM_ChainReplayedForwardAndGradient(benchmark::State& state) {
  bench::use_threads();
  const tg::Tensor<float> x(tg::Shape{state.range(0)}, 0.5f);
  auto step = tg::function([](const tg::Tensor<float>& x0) {
    tg::GradientTape tape;
    tape.watch(x0);
    const auto y = small_op_chain(x0, chain_length);
    return std::make_pair(y, tape.gradient(y, x0));
  });
  benchmark::DoNotOptimize(step(x));  // traces
  for (auto _ : state) benchmark::DoNotOptimize(step(x));
  bench::set_per_op(state, chain_length);
}

// The floor a replay aims at: the same chain and its gradient written by hand with the same
// Eigen expressions the ops and their rules use, every value in a buffer allocated once.
void BM_ChainByHandForwardAndGradient(benchmark::State& state) {
  bench::use_threads();
  const auto n = static_cast<Eigen::Index>(state.range(0));
  std::vector<Eigen::ArrayXf> values(chain_length + 1, Eigen::ArrayXf(n));
  Eigen::ArrayXf grad(n), next(n);
  for (auto _ : state) {
    values[0].setConstant(0.5f);
    for (int i = 0; i < chain_length; i += 4) {
      values[i + 1] = values[i] * 0.999f;
      values[i + 2] = values[i + 1] + 0.001f;
      values[i + 3] = values[i + 2].sin();
      values[i + 4] = values[i + 3].tanh();
    }
    grad.setOnes();
    for (int i = chain_length; i > 0; i -= 4) {
      next = grad * (1.0f - values[i].square());  // tanh, from its output
      grad = next * values[i - 2].cos();          // sin, from its input
      next = grad * 0.999f;                       // + 0.001 passes the gradient on
      grad.swap(next);
    }
    benchmark::DoNotOptimize(values.back().data());
    benchmark::DoNotOptimize(grad.data());
  }
  bench::set_per_op(state, chain_length);
}

// What tracing costs: a fresh traced function's first call (the eager step under the tracer,
// and writing the program down), beside BM_ChainForwardAndGradient, the same step eagerly.
void BM_ChainTraceForwardAndGradient(benchmark::State& state) {
  bench::use_threads();
  const tg::Tensor<float> x(tg::Shape{state.range(0)}, 0.5f);
  for (auto _ : state) {
    auto step = tg::function([](const tg::Tensor<float>& x0) {
      tg::GradientTape tape;
      tape.watch(x0);
      const auto y = small_op_chain(x0, chain_length);
      return std::make_pair(y, tape.gradient(y, x0));
    });
    benchmark::DoNotOptimize(step(x));
  }
  bench::set_per_op(state, chain_length);
}

}  // namespace

BENCHMARK(BM_ChainForwardNoTape)
    ->Arg(1)
    ->Arg(16)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_ChainForwardRecording)
    ->Arg(1)
    ->Arg(16)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_ChainForwardAndGradient)
    ->Arg(1)
    ->Arg(16)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_ChainReplayedForward)
    ->Arg(1)
    ->Arg(16)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_ChainReplayedForwardAndGradient)
    ->Arg(1)
    ->Arg(16)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_ChainByHandForwardAndGradient)
    ->Arg(1)
    ->Arg(16)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_ChainTraceForwardAndGradient)
    ->Arg(1)
    ->Arg(16)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_ChainJvp)
    ->Arg(1)
    ->Arg(16)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);

#ifdef TAPEGRAD_BENCHMARK_WITH_TORCH
namespace {

torch::Tensor torch_chain(torch::Tensor y, int n) {
  for (int i = 0; i < n; i += 4) {
    y = y * 0.999;
    y = y + 0.001;
    y = torch::sin(y);
    y = torch::tanh(y);
  }
  return y;
}

torch::Tensor torch_input(benchmark::State& state, bool requires_grad) {
  return torch::full({state.range(0)}, 0.5,
                     torch::dtype(torch::kFloat32).requires_grad(requires_grad));
}

void BM_TorchChainForwardNoGrad(benchmark::State& state) {
  bench::use_threads();
  const torch::Tensor x = torch_input(state, false);
  torch::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(torch_chain(x, chain_length));
  bench::set_per_op(state, chain_length);
}

// requires_grad makes autograd record the graph; it is freed with the result, as a tape is.
void BM_TorchChainForwardRecording(benchmark::State& state) {
  bench::use_threads();
  const torch::Tensor x = torch_input(state, true);
  for (auto _ : state) benchmark::DoNotOptimize(torch_chain(x, chain_length));
  bench::set_per_op(state, chain_length);
}

// autograd::grad with a ones seed is tape.gradient(y, x): the gradient of sum(y), returned
// rather than accumulated into x.grad().
void BM_TorchChainForwardAndBackward(benchmark::State& state) {
  bench::use_threads();
  const torch::Tensor x = torch_input(state, true);
  for (auto _ : state) {
    const torch::Tensor y = torch_chain(x, chain_length);
    benchmark::DoNotOptimize(torch::autograd::grad({y}, {x}, {torch::ones_like(y)}));
  }
  bench::set_per_op(state, chain_length);
}

}  // namespace

BENCHMARK(BM_TorchChainForwardNoGrad)
    ->Arg(1)
    ->Arg(16)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_TorchChainForwardRecording)
    ->Arg(1)
    ->Arg(16)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
BENCHMARK(BM_TorchChainForwardAndBackward)
    ->Arg(1)
    ->Arg(16)
    ->Unit(benchmark::kMicrosecond)
    ->Apply(bench::time_for_threads);
#endif
