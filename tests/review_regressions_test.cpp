// Regression tests for defects found in review: each failed (or crashed) before its fix.
#include "test_util.hpp"

#include <cstdint>
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
  CHECK_THROWS_AS(Tensor<double>(Shape{std::int64_t{1} << 40, std::int64_t{1} << 40}, 0.0),
                  tapegrad::value_error);
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
