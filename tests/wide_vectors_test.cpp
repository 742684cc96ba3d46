// Results do not depend on where a tensor's elements live. Compiled with the machine's widest
// vectors (-march=native, see tests/CMakeLists.txt): there Eigen's vectorised reductions start
// at the first element aligned to a packet of 32 or 64 bytes, so a sum left to Eigen adds the
// same numbers in an order that depends on the address (NOTE [ Sums in a fixed order ]).
// Replay, recompute_grad and threads promise bit-identical results on this basis.
#include <catch2/catch.hpp>
#include <tapegrad/tapegrad.hpp>
#include <tapegrad/train/clipping.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "same_bits.hpp"

namespace tg = tapegrad;

namespace {

using same_bits::at_any_address;

// With vectors of 16 bytes every buffer is aligned to a whole packet, so Eigen's own sums
// would pass too: the test then shows nothing, and says so.
void say_if_vectors_are_narrow() {
  constexpr int bytes = Eigen::internal::packet_traits<float>::size * int{sizeof(float)};
  if (bytes <= 16) WARN("vectors of " << bytes << " bytes: these checks cannot fail here");
}

template <class T>
tg::Tensor<T> values(const tg::Shape& shape) {
  tg::Generator gen(7);
  // Mixed magnitudes, so that the order of the additions shows in the last bits.
  return tg::exp(tg::random_normal<T>(shape, 0.0, 3.0, gen));
}

}  // namespace

TEMPLATE_TEST_CASE("reductions give the same bits wherever the elements live", "[determinism]",
                   float, double) {
  using T = TestType;
  say_if_vectors_are_narrow();
  for (std::int64_t n : {7, 64, 1000, 4099}) {
    INFO(n << " elements");
    const auto x = values<T>({n});
    at_any_address(x, [](const tg::Tensor<T>& t) { return tg::sum(t); });
    at_any_address(x, [](const tg::Tensor<T>& t) { return tg::mean(t); });
    at_any_address(x, [](const tg::Tensor<T>& t) { return tg::logsumexp(t); });
  }
  const auto m = values<T>({37, 129});
  at_any_address(m, [](const tg::Tensor<T>& t) { return tg::sum(t, 1); });
  at_any_address(m, [](const tg::Tensor<T>& t) { return tg::sum(t, 0); });
  at_any_address(m, [](const tg::Tensor<T>& t) { return tg::softmax(t); });
  at_any_address(m, [](const tg::Tensor<T>& t) { return tg::sum_to(t, {1, 129}); });
  at_any_address(m, [](const tg::Tensor<T>& t) { return tg::sum_to(t, {37, 1}); });
}

TEMPLATE_TEST_CASE("clip_by_global_norm's norm is the same wherever the gradients live",
                   "[determinism]", float, double) {
  using T = TestType;
  const auto g = values<T>({1001});
  at_any_address(g, [](const tg::Tensor<T>& t) {
    return tg::Tensor<T>(tg::clip_by_global_norm(std::vector<tg::Tensor<T>>{t}, 1.0).second);
  });
}

TEMPLATE_TEST_CASE("products give the same bits wherever the elements live", "[determinism]", float,
                   double) {
  using T = TestType;
  // Blocks under glibc's mmap threshold (128 KiB), whose addresses vary modulo 64.
  const auto a = values<T>({33, 301});
  const auto v = values<T>({301, 1});
  const auto w = values<T>({1, 33});
  const auto b = values<T>({301, 19});
  at_any_address(a, [&](const tg::Tensor<T>& t) { return tg::matmul(t, v); });
  at_any_address(a, [&](const tg::Tensor<T>& t) { return tg::matmul(w, t); });
  at_any_address(a, [&](const tg::Tensor<T>& t) { return tg::matmul(t, b); });
  at_any_address(v, [&](const tg::Tensor<T>& t) { return tg::matmul(a, t); });
}

TEMPLATE_TEST_CASE("gradients of reductions give the same bits wherever the elements live",
                   "[determinism]", float, double) {
  using T = TestType;
  const auto x = values<T>({41, 67});
  at_any_address(x, [](const tg::Tensor<T>& t) {
    tg::GradientTape tape;
    tape.watch(t);
    const auto y = tg::sum(tg::softmax(t) * t);
    return tape.gradient(y, t);
  });
}

TEMPLATE_TEST_CASE("a sum in a fixed order is the same at every offset from an aligned boundary",
                   "[determinism]", float, double) {
  // Sums also run over parts of a tensor (a row, a window), which start anywhere: the same
  // numbers at each of 16 offsets add to the same bits.
  using T = TestType;
  for (std::int64_t n : {7, 64, 1000, 4099}) {
    INFO(n << " elements");
    const std::vector<T> x = values<T>({n}).to_vector();
    std::vector<T> buffer(static_cast<std::size_t>(n) + 16);
    T first = 0;
    for (std::size_t offset = 0; offset < 16; ++offset) {
      std::copy(x.begin(), x.end(), buffer.begin() + static_cast<std::ptrdiff_t>(offset));
      const T sum = tg::detail::sum_in_fixed_order(buffer.data() + offset, n);
      if (offset == 0) first = sum;
      CHECK(std::memcmp(&sum, &first, sizeof(T)) == 0);
    }
  }
}

// A replay, whose elementwise values live in its own arena, equals the eager call bit for bit
// at every length, 0-d and one element included (NOTE [ Element alignment ]).
namespace {

template <class T>
bool identical(const tg::Tensor<T>& a, const tg::Tensor<T>& b) {
  return a.shape() == b.shape() && same_bits::bits_of(a) == same_bits::bits_of(b);
}

template <class T>
tg::Tensor<T> mixed(const tg::Tensor<T>& x, const tg::Tensor<T>& y) {
  const tg::Tensor<T> a = tg::sin(x) * tg::exp(y) / (T(1) + x * x);
  const tg::Tensor<T> b =
      tg::tanh(a) - tg::sqrt(tg::abs(y) + T(0.5)) + tg::sigmoid(x * y) + tg::log(T(2) + tg::cos(a));
  return b * b + tg::pow(tg::abs(a) + T(1), y) + tg::softplus(a - y) + tg::atan(x) * tg::erf(y);
}

template <class T>
std::vector<tg::Tensor<T>> value_and_gradients(const tg::Tensor<T>& x, const tg::Tensor<T>& y) {
  tg::GradientTape tape;
  tape.watch(x);
  tape.watch(y);
  const tg::Tensor<T> z = mixed(x, y);
  std::vector<tg::Tensor<T>> out = tape.gradient(z, std::vector<tg::Tensor<T>>{x, y});
  out.push_back(z);
  return out;
}

}  // namespace

TEMPLATE_TEST_CASE("a replay equals the eager call at every length", "[determinism][replay]", float,
                   double) {
  using T = TestType;
  say_if_vectors_are_narrow();
  tg::Generator gen(11);
  for (const tg::Shape& shape : {tg::Shape{}, tg::Shape{1}, tg::Shape{3}, tg::Shape{7},
                                 tg::Shape{8}, tg::Shape{9}, tg::Shape{15}, tg::Shape{16},
                                 tg::Shape{17}, tg::Shape{33}, tg::Shape{100}, tg::Shape{3, 17}}) {
    CAPTURE(shape);
    auto step = tg::function(
        [](const tg::Tensor<T>& x, const tg::Tensor<T>& y) { return value_and_gradients(x, y); });
    int differ = 0;
    for (int k = 0; k < 40; ++k) {
      const tg::Tensor<T> x = tg::random_uniform<T>(shape, -2.0, 2.0, gen);
      const tg::Tensor<T> y = tg::random_uniform<T>(shape, -2.0, 2.0, gen);
      const auto replayed = step(x, y);
      const auto eager = value_and_gradients(x, y);
      for (std::size_t i = 0; i < eager.size(); ++i) differ += !identical(replayed[i], eager[i]);
    }
    CHECK(differ == 0);
    CHECK(step.trace_count() == 1);
  }
}

TEST_CASE("a tensor's elements of 32 bytes or more are 64-byte aligned", "[determinism]") {
  for (std::int64_t n : {4, 8, 9, 100, 5000}) {
    const auto y = tg::exp(values<double>({n}));
    CHECK(reinterpret_cast<std::uintptr_t>(y.impl()->data) % 64 == 0);
  }
}
