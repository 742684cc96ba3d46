// The matrix products on a BLAS library (tapegrad::blas, NOTE [ One GEMM for every product ]):
// every product agrees with Eigen's GEMM to rounding, in float and double, through matmul,
// batch_matmul with broadcasting, conv2d and their gradients; and the gradients computed on the
// BLAS path pass central finite differences in double.
#include <catch2/catch.hpp>
#include <tapegrad/tapegrad.hpp>
#include <tapegrad/testing/gradcheck.hpp>

#include <cmath>
#include <functional>
#include <vector>

#include "same_bits.hpp"

namespace tg = tapegrad;

namespace {

static_assert(TAPEGRAD_BLAS, "blas_test is built against tapegrad::blas");

// Runs f with the BLAS path on or off, putting the setting back after.
template <class F>
auto with_blas(bool on, F f) {
  struct Restore {
    bool was = tg::detail::blas_enabled();
    ~Restore() { tg::detail::blas_enabled() = was; }
  } restore;
  tg::detail::blas_enabled() = on;
  return f();
}

// Every output of f (a list of tensors) on the BLAS path against Eigen's, to rounding: the two
// add the k products of an element in different orders. Returns how many products went to the
// BLAS (none may when it is off).
template <class T>
std::uint64_t same_on_both(const std::function<std::vector<tg::Tensor<T>>()>& f) {
  const std::uint64_t before = tg::detail::blas_calls();
  const auto blas = with_blas(true, f);
  const std::uint64_t on_blas = tg::detail::blas_calls() - before;
  const auto eigen = with_blas(false, f);
  REQUIRE(tg::detail::blas_calls() - before == on_blas);
  REQUIRE(blas.size() == eigen.size());
  const double tolerance = std::is_same_v<T, float> ? 2e-5 : 1e-13;
  for (std::size_t i = 0; i < blas.size(); ++i) {
    INFO("output " << i << " of shape " << blas[i].shape());
    REQUIRE(blas[i].shape() == eigen[i].shape());
    double scale = 0;
    for (T v : eigen[i].to_vector()) scale = std::max(scale, std::abs(static_cast<double>(v)));
    for (std::int64_t k = 0; k < blas[i].size(); ++k)
      REQUIRE(std::abs(static_cast<double>(blas[i].data()[k] - eigen[i].data()[k])) <=
              tolerance * std::max(scale, 1.0));
  }
  return on_blas;
}

template <class T>
tg::Tensor<T> values(const tg::Shape& shape, std::uint64_t seed) {
  tg::Generator gen(seed);
  return tg::random_normal<T>(shape, 0.0, 1.0, gen);
}

// The value of matmul(a, b, ta, tb) and the gradients of a weighted sum of it.
template <class T>
std::vector<tg::Tensor<T>> product_and_gradients(const tg::Tensor<T>& a, const tg::Tensor<T>& b,
                                                 bool ta, bool tb) {
  tg::GradientTape tape;
  tape.watch(a);
  tape.watch(b);
  const auto y = tg::matmul(a, b, ta, tb);
  const auto loss = tg::sum(y * values<T>(y.shape(), 99));
  auto grads = tape.gradient(loss, std::vector<tg::Tensor<T>>{a, b});
  return {y, grads[0], grads[1]};
}

}  // namespace

TEMPLATE_TEST_CASE("matmul on BLAS equals Eigen's GEMM, with every transpose and batch", "[blas]",
                   float, double) {
  using T = TestType;
  struct Case {
    tg::Shape a, b;
    bool ta, tb;
  };
  // Large enough to reach the BLAS (at least blas_min_work multiply-adds), and a small one
  // that stays on Eigen; batches that broadcast, and one whose right operand is shared.
  const std::vector<Case> cases{
      {{64, 48}, {48, 40}, false, false},     {{48, 64}, {48, 40}, true, false},
      {{64, 48}, {40, 48}, false, true},      {{48, 64}, {40, 48}, true, true},
      {{3, 64, 48}, {48, 40}, false, false},  {{2, 1, 40, 33}, {3, 33, 50}, false, false},
      {{2, 33, 40}, {2, 50, 33}, true, true}, {{5, 7}, {7, 3}, false, false},
      {{1, 300}, {300, 200}, false, false},   {{300, 200}, {200, 1}, false, false}};
  for (const Case& c : cases) {
    INFO("a " << c.a << (c.ta ? "^T" : "") << ", b " << c.b << (c.tb ? "^T" : ""));
    const auto a = values<T>(c.a, 1), b = values<T>(c.b, 2);
    const std::uint64_t on_blas =
        same_on_both<T>([&] { return product_and_gradients(a, b, c.ta, c.tb); });
    // The product and both gradients, each a product of at least blas_min_work multiply-adds
    // in every case but the small one (per batch slice where the batch is looped over).
    if (c.a.size() > 100)
      CHECK(on_blas >= 3);
    else
      CHECK(on_blas == 0);
  }
}

TEMPLATE_TEST_CASE("conv2d on BLAS equals Eigen's GEMM, forward and both backprops", "[blas]",
                   float, double) {
  using T = TestType;
  for (tg::Padding padding : {tg::Padding::valid, tg::Padding::same}) {
    for (int stride : {1, 2}) {
      INFO((padding == tg::Padding::same ? "same" : "valid") << ", stride " << stride);
      const auto x = values<T>({4, 13, 11, 6}, 3), w = values<T>({3, 3, 6, 20}, 4);
      const std::uint64_t on_blas = same_on_both<T>([&] {
        tg::GradientTape tape;
        tape.watch(x);
        tape.watch(w);
        const auto y = tg::conv2d(x, w, {stride, stride}, padding);
        const auto loss = tg::sum(y * values<T>(y.shape(), 5));
        auto grads = tape.gradient(loss, std::vector<tg::Tensor<T>>{x, w});
        return std::vector<tg::Tensor<T>>{y, grads[0], grads[1]};
      });
      CHECK(on_blas >= 3);  // the forward and both backprops
    }
  }
}

TEST_CASE("gradients on the BLAS path pass central finite differences", "[blas]") {
  tg::detail::blas_enabled() = true;
  const auto a = values<double>({2, 40, 35}, 6), b = values<double>({35, 30}, 7);
  auto matmul_result = tg::testing::gradcheck(
      [](const tg::testing::Inputs& in) { return tg::matmul(in[0], in[1]); }, {a, b});
  INFO(matmul_result.report);
  CHECK(matmul_result.ok);
  auto transposed = tg::testing::gradcheck(
      [](const tg::testing::Inputs& in) { return tg::matmul(in[0], in[1], true, true); },
      {values<double>({40, 33}, 8), values<double>({35, 40}, 9)});
  CHECK(transposed.ok);
  auto conv = tg::testing::gradcheck(
      [](const tg::testing::Inputs& in) {
        return tg::conv2d(in[0], in[1], {1, 1}, tg::Padding::same);
      },
      {values<double>({2, 7, 6, 5}, 10), values<double>({3, 3, 5, 16}, 11)});
  CHECK(conv.ok);
}

TEMPLATE_TEST_CASE("products on BLAS give the same bits wherever the elements live", "[blas]",
                   float, double) {
  using T = TestType;
  tg::detail::blas_enabled() = true;
  // Blocks under glibc's mmap threshold, whose addresses vary modulo 64.
  const auto a = values<T>({33, 301}, 12), b = values<T>({301, 40}, 13);
  same_bits::at_any_address(a, [&](const tg::Tensor<T>& t) { return tg::matmul(t, b); });
  same_bits::at_any_address(b, [&](const tg::Tensor<T>& t) { return tg::matmul(a, t); });
  same_bits::at_any_address(a, [&](const tg::Tensor<T>& t) { return tg::matmul(t, t, true); });
}
