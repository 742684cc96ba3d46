// A replay in the steady state calls malloc zero times (NOTE [ A replay's memory ]): this
// program replaces malloc and its kin with counting versions over glibc's, and counts what
// replays of traced steps call. Built without sanitizers only, whose allocators these would
// bypass.

#include "replay/replay_util.hpp"

#include <tapegrad/train/optimizers.hpp>
#include <tapegrad/train/schedules.hpp>

#include <Eigen/Core>
#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
}

namespace {
std::atomic<bool> counting{false};
std::atomic<std::int64_t> calls{0};
void count() {
  if (counting.load(std::memory_order_relaxed)) calls.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void* malloc(std::size_t bytes) {
  count();
  return __libc_malloc(bytes);
}
void* calloc(std::size_t n, std::size_t bytes) {
  count();
  return __libc_calloc(n, bytes);
}
void* realloc(void* block, std::size_t bytes) {
  count();
  return __libc_realloc(block, bytes);
}
void* aligned_alloc(std::size_t alignment, std::size_t bytes) {
  count();
  return __libc_memalign(alignment, bytes);
}
void* memalign(std::size_t alignment, std::size_t bytes) {
  count();
  return __libc_memalign(alignment, bytes);
}
int posix_memalign(void** block, std::size_t alignment, std::size_t bytes) {
  count();
  *block = __libc_memalign(alignment, bytes);
  return *block ? 0 : 12;  // ENOMEM
}
}

namespace {

using namespace replay_test;

/// The mallocs of `n` calls of `f`.
template <class F>
std::int64_t mallocs_of(int n, F&& f) {
  calls = 0;
  counting = true;
  for (int k = 0; k < n; ++k) f();
  counting = false;
  return calls.load();
}

}  // namespace

TEST_CASE("The counting malloc sees what the library allocates", "[replay][malloc]") {
  // Above the block cache's limit for large blocks, a tensor is malloc'ed.
  CHECK(mallocs_of(1, [] { (void)Tensor<float>(Shape{1 << 25}, 0.f); }) >= 1);
}

TEST_CASE("A replayed training step calls malloc zero times", "[replay][malloc]") {
  // A 32-64-10 MLP step: matmuls, bias, ReLU, softmax cross-entropy, its gradient and Adam
  // with a decaying schedule, at batch 16.
  Variable<float> w1(tg::cast<float>(sample({32, 64}, -0.2, 0.2, 1)), "w1");
  Variable<float> b1(Shape{64}, 0.f, "b1");
  Variable<float> w2(tg::cast<float>(sample({64, 10}, -0.2, 0.2, 2)), "w2");
  Variable<float> b2(Shape{10}, 0.f, "b2");
  const std::vector<Variable<float>> vars{w1, b1, w2, b2};
  tg::Adam adam(tg::ExponentialDecay(1e-2, 100, 0.9));
  auto step = tg::function([&](const Tensor<float>& x, const Tensor<std::int32_t>& labels) {
    GradientTape tape;
    const Tensor<float> h = tg::relu(tg::matmul(x, w1.value()) + b1.value());
    const Tensor<float> logits = tg::matmul(h, w2.value()) + b2.value();
    const Tensor<float> loss = tg::mean(tg::sparse_softmax_cross_entropy(labels, logits));
    adam.apply_gradients(tape.gradient(loss, vars), vars);
    return loss;
  });
  const Tensor<float> x = tg::cast<float>(sample({16, 32}, 0, 1, 3));
  const Tensor<std::int32_t> labels = tg::cast<std::int32_t>(sample({16}, 0, 9.9, 4));
  for (int warm = 0; warm < 3; ++warm) (void)step(x, labels);  // traces, fills the caches
  Tensor<float> loss;
  CHECK(mallocs_of(10, [&] { loss = step(x, labels); }) == 0);
  CHECK(step.trace_count() == 1);
  CHECK(adam.iterations() == 13);
}

TEST_CASE(
    "A replayed step with products too large for Eigen's stack buffers calls malloc zero times",
    "[replay][malloc]") {
  // Eigen's own GEMM mallocs its packing buffers for a product this large (NOTE [ Packing
  // buffers of one thread ]): the test would prove nothing otherwise.
  using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const RowMatrix a = RowMatrix::Ones(32, 784), b = RowMatrix::Ones(784, 128);
  RowMatrix c(32, 128);
  CHECK(mallocs_of(1, [&] { c.noalias() = a * b; }) >= 1);

  Variable<float> w(tg::cast<float>(sample({784, 128}, -0.05, 0.05, 5)), "w");
  Variable<float> v(tg::cast<float>(sample({128, 10}, -0.1, 0.1, 6)), "v");
  const std::vector<Variable<float>> vars{w, v};
  tg::SGD sgd(0.1, 0.9);
  auto step = tg::function([&](const Tensor<float>& x, const Tensor<std::int32_t>& labels) {
    GradientTape tape;
    const Tensor<float> logits = tg::matmul(tg::relu(tg::matmul(x, w.value())), v.value());
    const Tensor<float> loss = tg::mean(tg::sparse_softmax_cross_entropy(labels, logits));
    sgd.apply_gradients(tape.gradient(loss, vars), vars);
    return loss;
  });
  const Tensor<float> x = tg::cast<float>(sample({32, 784}, 0, 1, 7));
  const Tensor<std::int32_t> labels = tg::cast<std::int32_t>(sample({32}, 0, 9.9, 8));
  for (int warm = 0; warm < 2; ++warm) (void)step(x, labels);
  CHECK(mallocs_of(3, [&] { (void)step(x, labels); }) == 0);
}

TEST_CASE("A replayed chain of scalar ops calls malloc zero times", "[replay][malloc]") {
  auto chain = tg::function([](const Tensor<double>& x) {
    GradientTape tape;
    tape.watch(x);
    Tensor<double> y = x;
    for (int k = 0; k < 200; ++k) y = tg::sin(y) * 0.9 + x;
    return std::make_pair(y, tape.gradient(y, x));
  });
  const Tensor<double> x(0.3);
  for (int warm = 0; warm < 3; ++warm) (void)chain(x);
  CHECK(mallocs_of(10, [&] { (void)chain(x); }) == 0);
}

TEST_CASE("Replayed rules of wide attributes and of three inputs call malloc zero times",
          "[replay][malloc]") {
  // transpose's attributes do not fit an entry's word and where has a third input: both
  // rules' entries take an EntryExtra, which comes from the block cache.
  auto f = tg::function([](const Tensor<double>& x) {
    GradientTape tape;
    tape.watch(x);
    const Tensor<double> t = tg::transpose(x);
    const Tensor<double> y = tg::where(t > 0.0, t * t, t * -0.5);
    return tape.gradient(tg::sum(y), x);
  });
  const Tensor<double> x = sample({3, 4}, -1, 1, 9);
  for (int warm = 0; warm < 3; ++warm) (void)f(x);
  CHECK(mallocs_of(10, [&] { (void)f(x); }) == 0);
  CHECK(f.trace_count() == 1);
}
