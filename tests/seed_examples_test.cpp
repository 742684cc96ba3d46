// The seed document's three GradientTape examples, with the values the mathematics gives.
#include "test_util.hpp"

#include <cmath>

using tapegrad::GradientTape;
using tapegrad::Tensor;
using tapegrad::Variable;
using tapegrad_test::printed;

TEST_CASE("Seed example 1: a variable is watched automatically", "[seed]") {
  Variable<float> x({2.0f, 3.0f});
  GradientTape tape;
  auto y = x * x;
  CHECK(printed(tape.gradient(y, x)) == "Tensor([4. 6.], shape=(2,), dtype=float32)");
}

TEST_CASE("Seed example 2: watch() is requires_grad for a constant", "[seed]") {
  Tensor<float> x({2.0f, 3.0f});
  Tensor<float> y({1.0f, 2.0f});
  GradientTape tape;
  tape.watch(x);
  auto z = x * y;
  CHECK(printed(tape.gradient(z, x)) == "Tensor([1. 2.], shape=(2,), dtype=float32)");
}

TEMPLATE_TEST_CASE("Seed example 3: a persistent tape, several gradients", "[seed]", float,
                   double) {
  using T = TestType;
  Variable<T> x({T(1), T(2)});
  Variable<T> y({T(3), T(4)});
  GradientTape tape(tapegrad::persistent);
  auto z = x * y;
  auto w = tapegrad::sin(z);
  const auto dz_dx = tape.gradient(z, x).to_vector();
  const auto dw_dx = tape.gradient(w, x).to_vector();
  const auto dw_dy = tape.gradient(w, y).to_vector();
  CHECK(dz_dx == std::vector<T>{T(3), T(4)});
  // dw/dx = cos(x y) y and dw/dy = cos(x y) x, evaluated in long double as the reference.
  const double eps = std::is_same_v<T, float> ? 2e-7 : 1e-15;
  CHECK(dw_dx[0] == Approx(std::cos(3.0L) * 3.0L).epsilon(eps));  // -2.9699774...
  CHECK(dw_dx[1] == Approx(std::cos(8.0L) * 4.0L).epsilon(eps));  // -0.5820001...
  CHECK(dw_dy[0] == Approx(std::cos(3.0L) * 1.0L).epsilon(eps));  // -0.9899925...
  CHECK(dw_dy[1] == Approx(std::cos(8.0L) * 2.0L).epsilon(eps));  // -0.2910001...
}
