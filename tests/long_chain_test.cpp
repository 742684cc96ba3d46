#include "test_util.hpp"

#include <cmath>

using tapegrad::GradientTape;
using tapegrad::Tensor;

TEST_CASE("A chain of 1,000,000 recorded ops differentiates without overflowing the stack",
          "[tape][long]") {
  constexpr int n = 1000000;
  Tensor<double> x(1.0);
  GradientTape tape;
  tape.watch(x);
  Tensor<double> y = x;
  for (int i = 0; i < n; ++i) y = y * 0.999999;
  const double expected = std::pow(0.999999, n);
  CHECK(y.item() == Approx(expected).epsilon(1e-9));
  CHECK(tape.gradient(y, x).item() == Approx(expected).epsilon(1e-9));
}
