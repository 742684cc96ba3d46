#include "test_util.hpp"

#include <cmath>

using tapegrad::GradientTape;
using tapegrad::Source;
using tapegrad::Tensor;

TEST_CASE("x^3 at 2: second derivative 12, third derivative 6", "[nested]") {
  Tensor<double> x(2.0);
  GradientTape t3, t2, t1;
  t3.watch(x);
  t2.watch(x);
  t1.watch(x);
  auto y = tapegrad::pow(x, 3);
  auto d1 = t1.gradient(y, x);
  auto d2 = t2.gradient(d1, x);
  auto d3 = t3.gradient(d2, x);
  CHECK(d1.item() == 12.0);
  CHECK(d2.item() == 12.0);
  CHECK(d3.item() == 6.0);
}

TEST_CASE("Hessian-vector product matches finite differences of gradients", "[nested]") {
  // f(x) = sum(sin(x) * x^2) + x0 x1 x2.
  auto grad_at = [](const Tensor<double>& x) {
    GradientTape tape;
    tape.watch(x);
    auto f = tapegrad::sum(tapegrad::sin(x) * tapegrad::square(x)) +
             tapegrad::sum(tapegrad::reshape(x, {3, 1}) * 0.0) +
             tapegrad::sum(tapegrad::reshape(
                 tapegrad::matmul(tapegrad::reshape(x, {1, 3}), tapegrad::reshape(x, {3, 1})), {}));
    return tape.gradient(f, x);
  };
  const Tensor<double> x({0.4, -1.2, 0.9});
  const Tensor<double> v({1.0, 0.5, -2.0});
  GradientTape outer;
  outer.watch(x);
  const auto g = grad_at(x);
  const auto hvp = outer.gradient(tapegrad::sum(g * v), x);
  const double eps = 1e-6;
  const auto up = grad_at(x + v * eps).to_vector();
  const auto down = grad_at(x - v * eps).to_vector();
  for (int i = 0; i < 3; ++i)
    CHECK(hvp.at(i) ==
          Approx((up[static_cast<std::size_t>(i)] - down[static_cast<std::size_t>(i)]) / (2 * eps))
              .epsilon(1e-7));
}

TEST_CASE("The gradient of a gradient norm (a gradient penalty)", "[nested]") {
  // f(w) = sum(w^3); |grad f|^2 = sum(9 w^4); its gradient is 36 w^3.
  Tensor<double> w({1.0, -2.0});
  GradientTape outer;
  outer.watch(w);
  Tensor<double> g;
  {
    GradientTape inner;
    inner.watch(w);
    g = inner.gradient(tapegrad::sum(tapegrad::pow(w, 3)), w);
  }
  auto penalty = tapegrad::sum(tapegrad::square(g));
  CHECK(penalty.item() == 9.0 + 144.0);
  CHECK(outer.gradient(penalty, w).to_vector() == std::vector<double>{36.0, -288.0});
}

TEST_CASE("Newton's method with nested-tape derivatives converges in a few steps", "[nested]") {
  // Minimise f(x) = x^4 - 3x^2 + x from x = 2 using f'/f''.
  double x = 2.0;
  int steps = 0;
  for (; steps < 20; ++steps) {
    Tensor<double> t(x);
    GradientTape outer;
    outer.watch(t);
    Tensor<double> d1;
    {
      GradientTape inner;
      inner.watch(t);
      d1 = inner.gradient(tapegrad::pow(t, 4) - 3.0 * tapegrad::square(t) + t, t);
    }
    const double d2 = outer.gradient(d1, t).item();
    const double step = d1.item() / d2;
    x -= step;
    if (std::abs(step) < 1e-12) break;
  }
  CHECK(steps < 8);
  CHECK(4 * x * x * x - 6 * x + 1 == Approx(0.0).margin(1e-12));
}

TEST_CASE("Second derivatives of every issue-2 op match finite differences of gradients",
          "[nested][gradcheck]") {
  auto second = [](auto f, double at) {
    Tensor<double> x(at);
    GradientTape outer;
    outer.watch(x);
    Tensor<double> d1;
    {
      GradientTape inner;
      inner.watch(x);
      d1 = inner.gradient(f(x), x);
    }
    return outer.gradient(d1, x).item();
  };
  auto first = [](auto f, double at) {
    Tensor<double> x(at);
    GradientTape tape;
    tape.watch(x);
    return tape.gradient(f(x), x).item();
  };
  auto check = [&](auto f, double at) {
    const double eps = 1e-6;
    const double numeric = (first(f, at + eps) - first(f, at - eps)) / (2 * eps);
    CHECK(second(f, at) == Approx(numeric).epsilon(1e-6).margin(1e-8));
  };
  const double at = 0.7;
  check([](const Tensor<double>& x) { return tapegrad::sin(x) * x; }, at);
  check([](const Tensor<double>& x) { return tapegrad::cos(x) * x; }, at);
  check([](const Tensor<double>& x) { return tapegrad::exp(x * 0.5); }, at);
  check([](const Tensor<double>& x) { return tapegrad::log(x); }, at);
  check([](const Tensor<double>& x) { return tapegrad::tanh(x); }, at);
  check([](const Tensor<double>& x) { return tapegrad::sqrt(x); }, at);
  check([](const Tensor<double>& x) { return tapegrad::square(x) * x; }, at);
  check([](const Tensor<double>& x) { return tapegrad::pow(x, 2.5); }, at);
  check([](const Tensor<double>& x) { return 1.0 / x; }, at);
  check([](const Tensor<double>& x) { return x / (x + 2.0); }, at);
  check([](const Tensor<double>& x) { return (x - 3.0) * (2.0 - x); }, at);
  check(
      [](const Tensor<double>& x) {
        return tapegrad::sum(tapegrad::broadcast_to(x, {3}) * Tensor<double>({1.0, 2.0, 3.0}) * x);
      },
      at);
  check(
      [](const Tensor<double>& x) {
        return tapegrad::mean(
            tapegrad::matmul(tapegrad::reshape(x, {1, 1}), tapegrad::reshape(x * x, {1, 1})));
      },
      at);
}
