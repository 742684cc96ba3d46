#include "test_util.hpp"

#include <cmath>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;

TEST_CASE("jacobian has shape target + source and matches finite differences", "[jacobian]") {
  const Tensor<double> x({0.3, -0.7});
  GradientTape tape;
  tape.watch(x);
  const auto y = tapegrad::sin(
      tapegrad::matmul(tapegrad::reshape(x, {2, 1}), tapegrad::reshape(x, {1, 2})));  // [2, 2]
  const auto j = tape.jacobian(y, x);
  REQUIRE(j.shape() == Shape{2, 2, 2});
  // y[a][b] = sin(x_a x_b): dy[a][b]/dx_c = cos(x_a x_b) (x_b [a==c] + x_a [b==c]).
  const double v[2] = {0.3, -0.7};
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b)
      for (int c = 0; c < 2; ++c) {
        const double expected =
            std::cos(v[a] * v[b]) * ((a == c ? v[b] : 0.0) + (b == c ? v[a] : 0.0));
        CHECK(j.at(a, b, c) == Approx(expected).epsilon(1e-14).margin(1e-15));
      }
}

TEST_CASE("jacobian of a non-persistent tape counts as its one set of gradients", "[jacobian]") {
  Tensor<double> x({1.0, 2.0});
  GradientTape tape;
  tape.watch(x);
  auto y = x * x;
  CHECK(tape.jacobian(y, x).to_vector() == std::vector<double>{2, 0, 0, 4});
  CHECK_THROWS_AS(tape.jacobian(y, x), tapegrad::tape_error);
}

TEST_CASE("jacobian of an unconnected source", "[jacobian]") {
  Tensor<double> x({1.0, 2.0}), other(5.0);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  tape.watch(other);
  auto y = x * 2.0;
  CHECK_FALSE(tape.jacobian(y, other).has_value());
  auto z = tape.jacobian(y, other, tapegrad::UnconnectedGradients::zero);
  CHECK(z.shape() == Shape{2});
  CHECK(z.to_vector() == std::vector<double>{0, 0});
}

TEST_CASE("batch_jacobian: per-example Jacobians", "[jacobian]") {
  Tensor<double> x({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}});   // [B=3, 2]
  Tensor<double> w({{1.0, 0.5, -1.0}, {2.0, -0.5, 0.25}});  // [2, 3]
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  auto y = tapegrad::matmul(x * x, w);  // y[b, k] = sum_i x[b,i]^2 w[i,k]
  auto j = tape.batch_jacobian(y, x);
  REQUIRE(j.shape() == Shape{3, 3, 2});
  for (int b = 0; b < 3; ++b)
    for (int k = 0; k < 3; ++k)
      for (int i = 0; i < 2; ++i) CHECK(j.at(b, k, i) == 2 * x.at(b, i) * w.at(i, k));
  // It equals the diagonal blocks of the full Jacobian.
  auto full = tape.jacobian(y, x);
  REQUIRE(full.shape() == Shape{3, 3, 3, 2});
  for (int b = 0; b < 3; ++b)
    for (int k = 0; k < 3; ++k)
      for (int i = 0; i < 2; ++i) CHECK(full.at(b, k, b, i) == j.at(b, k, i));
}

TEST_CASE("batch_jacobian needs matching batch dimensions", "[jacobian][errors]") {
  Tensor<double> x = Tensor<double>::ones({4, 3});
  GradientTape tape;
  tape.watch(x);
  auto y = tapegrad::sum(x, 1, true) * Tensor<double>::ones({4, 2});
  CHECK_THROWS_WITH(
      tape.batch_jacobian(tapegrad::reshape(y, {2, 4}), x),
      "Need first dimension of target shape (2, 4) and source shape (4, 3) to match.");
  CHECK(tape.batch_jacobian(y, x).shape() == Shape{4, 2, 3});
}

TEST_CASE("A jacobian is differentiable by an outer tape", "[jacobian][nested]") {
  // y = x^3 elementwise: J = diag(3x^2); d sum(J) / dx = 6x.
  Tensor<double> x({1.0, 2.0});
  GradientTape outer;
  outer.watch(x);
  Tensor<double> j;
  {
    GradientTape inner;
    inner.watch(x);
    j = inner.jacobian(x * x * x, x);
  }
  CHECK(j.to_vector() == std::vector<double>{3, 0, 0, 12});
  CHECK(outer.gradient(j, x).to_vector() == std::vector<double>{6.0, 12.0});
}
