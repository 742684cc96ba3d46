// Compiled with the machine's widest vectors (-march=native where the compiler takes it):
// there Eigen's packets are 32 or 64 bytes wide, and a tensor's elements must start on a
// 64-byte boundary for a result not to depend on where its buffer is (NOTE [ Element
// alignment ]). A replay, whose elementwise values live in its own arena, must equal the
// eager call bit for bit at every length.

#include "replay/replay_util.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <tuple>
#include <vector>

namespace {

using namespace replay_test;

template <class T>
Tensor<T> mixed(const Tensor<T>& x, const Tensor<T>& y) {
  const Tensor<T> a = tg::sin(x) * tg::exp(y) / (T(1) + x * x);
  const Tensor<T> b =
      tg::tanh(a) - tg::sqrt(tg::abs(y) + T(0.5)) + tg::sigmoid(x * y) + tg::log(T(2) + tg::cos(a));
  return b * b + tg::pow(tg::abs(a) + T(1), y) + tg::softplus(a - y) + tg::atan(x) * tg::erf(y);
}

template <class T>
std::tuple<Tensor<T>, Tensor<T>, Tensor<T>> value_and_gradients(const Tensor<T>& x,
                                                                const Tensor<T>& y) {
  GradientTape tape;
  tape.watch(x);
  tape.watch(y);
  const Tensor<T> z = mixed(x, y);
  const auto g = tape.gradient(z, std::vector<Tensor<T>>{x, y});
  return {z, g[0], g[1]};
}

template <class T>
void check_lengths() {
  for (const Shape& shape : {Shape{}, Shape{1}, Shape{3}, Shape{7}, Shape{8}, Shape{9}, Shape{15},
                             Shape{16}, Shape{17}, Shape{33}, Shape{100}, Shape{3, 17}}) {
    CAPTURE(shape);
    auto step = tg::function(
        [](const Tensor<T>& x, const Tensor<T>& y) { return value_and_gradients(x, y); });
    int differ = 0;
    for (unsigned salt = 0; salt < 40; ++salt) {
      const Tensor<T> x = sample(shape, -2, 2, 2 * salt + 1).template cast<T>();
      const Tensor<T> y = sample(shape, -2, 2, 2 * salt + 2).template cast<T>();
      const auto replayed = step(x, y);
      const auto eager = value_and_gradients(x, y);
      differ += !same_bits(std::get<0>(replayed), std::get<0>(eager)) ||
                !same_bits(std::get<1>(replayed), std::get<1>(eager)) ||
                !same_bits(std::get<2>(replayed), std::get<2>(eager));
    }
    CHECK(differ == 0);
    CHECK(step.trace_count() == 1);
  }
}

}  // namespace

TEST_CASE("With the widest vectors, a replay equals the eager call at every length",
          "[replay][native]") {
  check_lengths<float>();
  check_lengths<double>();
}

TEST_CASE("With the widest vectors, a tensor's elements of 32 bytes or more are 64-byte aligned",
          "[replay][native]") {
  for (std::int64_t n : {4, 8, 9, 100, 5000}) {
    const Tensor<double> x = sample({n}, -1, 1, 3);
    const Tensor<double> y = tg::exp(x);
    CHECK(reinterpret_cast<std::uintptr_t>(y.impl()->data) % 64 == 0);
  }
}
