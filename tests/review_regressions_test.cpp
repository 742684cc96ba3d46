// Regression tests for defects found in review: each failed (or crashed) before its fix.
#include "test_util.hpp"

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <utility>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using tapegrad::Variable;

TEST_CASE("A stop_gradient result used as a source does not crash the sweep", "[regression]") {
  Tensor<double> x(3.0);
  GradientTape tape;
  tape.watch(x);
  auto h = tapegrad::stop_gradient(x * 2.0);  // 6, cut off from x
  auto y = h * x;
  auto g = tape.gradient(y, {x, h});
  CHECK(g[0].item() == 6.0);  // only the direct path: dy/dx = h
  CHECK(g[1].item() == 3.0);  // dy/dh = x
}

TEST_CASE("A value computed inside stop_recording used as a source", "[regression]") {
  Tensor<double> x(3.0);
  GradientTape tape;
  tape.watch(x);
  Tensor<double> h;
  {
    auto pause = tape.stop_recording();
    h = x * 2.0;
  }
  tape.watch(h);
  auto y = h * x;
  auto g = tape.gradient(y, {x, h});
  CHECK(g[0].item() == 6.0);
  CHECK(g[1].item() == 3.0);
}

TEST_CASE("Assigning a recorded tensor to a variable blocks the gradient", "[regression]") {
  Tensor<double> x({1.0, 2.0});
  Variable<double> v({0.0, 0.0}, "v", /*trainable=*/false);
  GradientTape tape;
  tape.watch(x);
  v.assign(x * 2.0);
  auto y = v * 3.0;
  CHECK_FALSE(tape.gradient(y, x).has_value());
  CHECK(y.to_vector() == std::vector<double>{6.0, 12.0});
}

TEST_CASE("A variable made from a watched tensor is not that tensor to the tape", "[regression]") {
  Tensor<double> x({1.0});
  GradientTape tape(tapegrad::TapeOptions{true, false});
  tape.watch(x);
  Variable<double> v(x, "v");
  auto y = v * 3.0;
  CHECK_FALSE(tape.gradient(y, x).has_value());
}

TEST_CASE("A failed gradient() restores the tape stack and what the tapes held", "[regression]") {
  const auto bad = tapegrad::custom_gradient([](const Tensor<double>& x) {
    return std::make_pair(x * 2.0, [](const Tensor<double>&) {
      return Tensor<double>({1.0, 2.0});
    });
  });
  Tensor<double> x(1.0);
  GradientTape outer;
  outer.watch(x);
  GradientTape inner;
  inner.watch(x);
  auto y = bad(x) + x * x;
  CHECK_THROWS_AS(outer.gradient(y, x), tapegrad::shape_error);
  CHECK(outer.recording());
  CHECK(tapegrad::detail::thread_tapes.top != nullptr);
  CHECK(inner.recording());
  CHECK_THROWS_AS(inner.gradient(y, x), tapegrad::shape_error);
  CHECK(inner.recording());
  auto z = x * x * x;
  CHECK(inner.gradient(z, x).item() == 3.0);
  CHECK(outer.gradient(z, x).item() == 3.0);
}

TEST_CASE("The general gradient form takes braced lists", "[regression]") {
  Tensor<double> x({1.0, 2.0});
  GradientTape tape;
  tape.watch(x);
  auto y = x * x;
  auto g = tape.gradient({y}, {x}, {Tensor<double>({10.0, 100.0})});
  CHECK(g[0].to_vector() == std::vector<double>{20.0, 400.0});
}

TEST_CASE("Tensor(Shape) is zeros, never uninitialised memory", "[regression]") {
  for (int i = 0; i < 3; ++i) {
    auto junk = Tensor<float>({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}) * 7.f;  // leaves a block to reuse
    (void)junk;
  }
  Tensor<float> t(Shape{2, 3});
  CHECK(t.to_vector() == std::vector<float>(6, 0.f));
}

TEST_CASE("A shape too large for memory throws instead of overflowing", "[regression]") {
  CHECK_THROWS_AS(Tensor<float>(Shape{(std::int64_t{1} << 62) + 1}, 0.f), tapegrad::value_error);
  CHECK_THROWS_AS(Tensor<double>(Shape{std::int64_t{1} << 40, std::int64_t{1} << 21}, 0.0),
                  tapegrad::value_error);
  // Beyond 2^63 - 1 elements the shape itself is refused.
  CHECK_THROWS_AS(Tensor<double>(Shape{std::int64_t{1} << 40, std::int64_t{1} << 40}, 0.0),
                  tapegrad::shape_error);
}

TEST_CASE("The Jacobian of an empty target is empty", "[regression]") {
  Tensor<double> x({1.0, 2.0});
  GradientTape tape;
  tape.watch(x);
  auto y = tapegrad::reshape(x, {2, 1}) * Tensor<double>::zeros({0});  // [2, 0]
  auto j = tape.jacobian(y, x);
  CHECK(j.shape() == Shape{2, 0, 2});
}

TEST_CASE("A tape opened inside a custom gradient's forward does not leak ops to outer tapes",
          "[regression]") {
  const auto f = tapegrad::custom_gradient([](const Tensor<double>& x) {
    GradientTape private_tape;
    private_tape.watch(x);
    auto inner = x * x;
    auto d = private_tape.gradient(inner, x);  // 2x
    return std::make_pair(inner + d, [x](const Tensor<double>& g) { return g * (x * 2.0 + 2.0); });
  });
  Tensor<double> x(3.0);
  GradientTape tape;
  tape.watch(x);
  auto y = f(x);
  CHECK(y.item() == 15.0);
  CHECK(tape.explain(y, x) ==
        "The gradient flows from the source to the target through 1 recorded op: source -> "
        "custom_gradient -> target.");
  CHECK(tape.gradient(y, x).item() == 8.0);
}

// ---- second review: the op-coverage headers ----

TEST_CASE(
    "Overflowing paddings, slices, strides, tiles and splits throw instead of "
    "corrupting memory",
    "[review][errors]") {
  constexpr std::int64_t big = std::numeric_limits<std::int64_t>::max();
  const Tensor<double> v({1.0, 2.0, 3.0, 4.0, 5.0});
  CHECK_THROWS_AS(tapegrad::pad(v, {{big, big - 1}}), tapegrad::shape_error);
  CHECK_THROWS_AS(tapegrad::slice(Tensor<double>(Shape{2, 1000}, 1.0), {big, 0}, {1, 1000}),
                  std::out_of_range);
  CHECK_THROWS_AS(tapegrad::slice(v, {tapegrad::none}, {1}), std::out_of_range);
  // A stride longer than the axis takes one element, as Python's v[0:5:big] does.
  CHECK(tapegrad::strided_slice(v, {0}, {5}, {big}).to_vector() == std::vector<double>{1.0});
  CHECK(
      tapegrad::strided_slice(v, {4}, {tapegrad::none}, {std::numeric_limits<std::int64_t>::min()})
          .to_vector() == std::vector<double>{5.0});
  CHECK_THROWS_AS(tapegrad::tile(Tensor<double>(Shape{0, 3}), {1, std::int64_t{1} << 62}),
                  tapegrad::shape_error);
  CHECK_THROWS_AS(tapegrad::concat({Tensor<double>(Shape{0, std::int64_t{1} << 62}),
                                    Tensor<double>(Shape{0, std::int64_t{1} << 62})},
                                   1),
                  tapegrad::shape_error);
  CHECK_THROWS_AS(tapegrad::split(Tensor<double>(Shape{1, 0}),
                                  {std::int64_t{1} << 62, std::int64_t{1} << 62,
                                   std::int64_t{1} << 62, (std::int64_t{1} << 62) + 1},
                                  0),
                  tapegrad::shape_error);
}

TEST_CASE("Masks cannot be used as C++ bools, and integer comparisons do not truncate",
          "[review][compare]") {
  STATIC_REQUIRE_FALSE(std::is_constructible_v<bool, Tensor<bool>>);
  STATIC_REQUIRE(std::is_constructible_v<bool, Tensor<double>>);  // has_value()
  const Tensor<std::int32_t> x({0, 1});
  CHECK((x >= 0.5).to_vector() == std::vector<bool>{false, true});
  CHECK((x < 3e9).to_vector() == std::vector<bool>{true, true});
  CHECK((0.5 < x).to_vector() == std::vector<bool>{false, true});
}

TEST_CASE("Braced lists choose the list overloads", "[review]") {
  const Tensor<double> x({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  CHECK(tapegrad::split(x, {3}, 1).size() == 1);
  CHECK(tapegrad::sum(x, {}).shape() == x.shape());
  CHECK(tapegrad::sum(x, {0, 1}).item() == 21.0);
  CHECK(tapegrad::max(x, {1}).to_vector() == std::vector<double>{3.0, 6.0});
}

TEST_CASE("prod's gradient is exact where the product under- or overflows", "[review]") {
  const Tensor<float> x({1e-30f, 1e-30f, 1e30f});
  GradientTape tape;
  tape.watch(x);
  const auto g = tape.gradient(tapegrad::prod(x), x).to_vector();
  CHECK(g[0] == Approx(1.0f));
  CHECK(g[1] == Approx(1.0f));
  CHECK(g[2] == 0.0f);
}

TEST_CASE("gradcheck treats a tensor passed twice as two inputs", "[review][gradcheck]") {
  const Tensor<double> x({0.5, 1.5});
  const auto r = tapegrad::testing::gradcheck(
      [](const std::vector<Tensor<double>>& v) { return v[0] * v[1]; }, {x, x});
  INFO(r.report);
  CHECK(r.ok);
}

TEST_CASE("Errors name the op: rank limits, labels, variance's axis, float bounds",
          "[review][errors]") {
  const Tensor<double> r8(Shape{1, 1, 1, 1, 1, 1, 1, 1});
  CHECK_THROWS_WITH(tapegrad::expand_dims(r8, 0), Catch::StartsWith("expand_dims: "));
  CHECK_THROWS_WITH(tapegrad::stack({r8, r8}), Catch::StartsWith("stack: "));
  CHECK_THROWS_AS(tapegrad::sparse_softmax_cross_entropy(Tensor<std::int32_t>({3}),
                                                         Tensor<double>({{1.0, 2.0}})),
                  tapegrad::index_error);
  CHECK_THROWS_WITH(tapegrad::variance(Tensor<double>({1.0}), 5), Catch::StartsWith("variance: "));
  tapegrad::Generator gen(1);
  CHECK_THROWS_AS(tapegrad::random_uniform<float>({4}, -1e300, 1e300, gen), tapegrad::value_error);
}

TEST_CASE("conv2d with huge strides or dilations gives TensorFlow's shapes or throws",
          "[review][errors]") {
  constexpr std::int64_t big = std::numeric_limits<std::int64_t>::max();
  const Tensor<double> x(Shape{1, 4, 4, 1}, 1.0);
  CHECK(
      tapegrad::conv2d(x, Tensor<double>(Shape{1, 1, 1, 1}, 1.0), {big, 1}, tapegrad::Padding::same)
          .shape() == Shape{1, 1, 4, 1});
  CHECK_THROWS_AS(tapegrad::conv2d(x, Tensor<double>(Shape{3, 1, 1, 1}, 1.0), 1,
                                   tapegrad::Padding::valid, {big, 1}),
                  tapegrad::shape_error);
}
