#include "op_registry.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using tapegrad_test::Inputs;
using tapegrad_test::sample;

namespace {
struct UnaryCase {
  std::string name;
  std::function<Tensor<double>(const Tensor<double>&)> op;
  std::function<double(double)> reference;
  double lo, hi;  // a domain where the function is smooth
};

/// Elementwise functions beyond the registry's rows with a reference: composites and the
/// exponents where pow's rule has a special case.
std::vector<UnaryCase> extra_cases() {
  return {
      {"pow 3", [](const auto& x) { return tapegrad::pow(x, 3); },
       [](double v) { return v * v * v; }, -2, 2},
      {"pow 0.5", [](const auto& x) { return tapegrad::pow(x, 0.5); },
       [](double v) { return std::pow(v, 0.5); }, 0.2, 3},
      {"pow -1.5", [](const auto& x) { return tapegrad::pow(x, -1.5); },
       [](double v) { return std::pow(v, -1.5); }, 0.3, 3},
      {"pow 1", [](const auto& x) { return tapegrad::pow(x, 1); }, [](double v) { return v; }, -2,
       2},
      {"pow 0", [](const auto& x) { return tapegrad::pow(x, 0); }, [](double) { return 1.0; }, -2,
       2},
      {"selu", [](const auto& x) { return tapegrad::selu(x); },
       [](double v) {
         return 1.0507009873554805 * (v > 0 ? v : 1.6732632423543772 * std::expm1(v));
       },
       -2, 2},
      {"gelu", [](const auto& x) { return tapegrad::gelu(x); },
       [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }, -3, 3},
  };
}

/// Every elementwise op: the registry's rows with a scalar reference (NOTE [ Op tables ]: a new
/// op needs no line here), then the extra cases.
std::vector<UnaryCase> unary_cases() {
  std::vector<UnaryCase> cases;
  for (const auto& row : tapegrad_test::op_registry()) {
    if (!row.reference) continue;
    // The row's ordinary domain: where its "shape ..." samples lie.
    double lo = 1e300, hi = -1e300;
    for (const auto& s : row.samples)
      if (s.label.rfind("shape ", 0) == 0)
        for (double v : s.inputs[0].to_vector()) lo = std::min(lo, v), hi = std::max(hi, v);
    auto f = row.f;
    cases.push_back({row.op + " " + row.variant,
                     [f](const Tensor<double>& x) { return f(Inputs{x}); }, row.reference, lo, hi});
  }
  for (auto& c : extra_cases()) cases.push_back(std::move(c));
  return cases;
}
}  // namespace

TEST_CASE("Unary values match the C library and gradients match finite differences",
          "[ops][gradcheck]") {
  for (const UnaryCase& c : unary_cases()) {
    for (const Shape& s : {Shape{}, Shape{1}, Shape{5}, Shape{2, 3}, Shape{1, 4, 1}}) {
      INFO(c.name << " on shape " << s.str());
      const Tensor<double> x = sample(s, c.lo, c.hi);
      const Tensor<double> y = c.op(x);
      REQUIRE(y.shape() == s);
      for (std::int64_t i = 0; i < x.size(); ++i)
        CHECK(y.data()[i] == Approx(c.reference(x.data()[i])).epsilon(1e-14).margin(1e-300));
      CHECK_GRADIENTS([&](const Inputs& in) { return c.op(in[0]); }, Inputs{x});
    }
  }
}

TEST_CASE("Unary ops work on empty tensors", "[ops]") {
  for (const UnaryCase& c : unary_cases()) {
    Tensor<double> x = Tensor<double>::zeros({0, 3});
    GradientTape tape;
    tape.watch(x);
    auto y = c.op(x);
    CHECK(y.shape() == Shape{0, 3});
    CHECK(tape.gradient(y, x).shape() == Shape{0, 3});
  }
}

TEST_CASE("sqrt at 0: gradient inf, but 0 where the incoming gradient is 0", "[ops][kinks]") {
  Tensor<double> x({0.0, 4.0});
  {
    GradientTape tape;
    tape.watch(x);
    auto g = tape.gradient(tapegrad::sqrt(x), x).to_vector();
    CHECK(std::isinf(g[0]));
    CHECK(g[1] == 0.25);
  }
  {
    GradientTape tape;
    tape.watch(x);
    auto y = tapegrad::sqrt(x) * Tensor<double>({0.0, 1.0});
    auto g = tape.gradient(y, x).to_vector();
    CHECK(g[0] == 0.0);  // not NaN
    CHECK(g[1] == 0.25);
  }
}

TEST_CASE("pow(x, 0) has gradient 0 everywhere, also at x = 0", "[ops][kinks]") {
  Tensor<double> x({0.0, -2.0, 3.0});
  GradientTape tape;
  tape.watch(x);
  CHECK(tape.gradient(tapegrad::pow(x, 0), x).to_vector() == std::vector<double>{0, 0, 0});
}

TEMPLATE_TEST_CASE("Float and double unary gradients agree with the closed forms", "[ops]", float,
                   double) {
  using T = TestType;
  const double eps = std::is_same_v<T, float> ? 1e-6 : 1e-14;
  Tensor<T> x({T(0.3), T(-1.1), T(2.0)});
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  auto check = [&](const Tensor<T>& y, auto derivative) {
    auto g = tape.gradient(y, x);
    for (int i = 0; i < 3; ++i) {
      const double v = static_cast<double>(x.data()[i]);
      CHECK(static_cast<double>(g.data()[i]) == Approx(derivative(v)).epsilon(eps));
    }
  };
  check(tapegrad::sin(x), [](double v) { return std::cos(v); });
  check(tapegrad::cos(x), [](double v) { return -std::sin(v); });
  check(tapegrad::exp(x), [](double v) { return std::exp(v); });
  check(tapegrad::tanh(x), [](double v) { return 1 - std::tanh(v) * std::tanh(v); });
  check(tapegrad::square(x), [](double v) { return 2 * v; });
  check(tapegrad::pow(x, 3), [](double v) { return 3 * v * v; });
}

TEST_CASE("relu: gradient 0 at 0, and its second derivative is 0", "[ops][kinks]") {
  Tensor<double> x({-1.0, 0.0, 2.0});
  GradientTape outer;
  outer.watch(x);
  Tensor<double> g;
  {
    GradientTape inner;
    inner.watch(x);
    g = inner.gradient(tapegrad::relu(x) * x, x);  // d/dx (relu(x) x) = relu'(x) x + relu(x)
  }
  CHECK(g.to_vector() == std::vector<double>{0.0, 0.0, 4.0});
  CHECK(outer.gradient(g, x).to_vector() == std::vector<double>{0.0, 0.0, 2.0});
}

TEST_CASE("Conventions at kinks: abs, leaky_relu, elu; round halves to even", "[ops][kinks]") {
  Tensor<double> zero({0.0});
  auto grad_at_zero = [&](auto f) {
    GradientTape tape;
    tape.watch(zero);
    return tape.gradient(f(zero), zero).item();
  };
  CHECK(grad_at_zero([](const Tensor<double>& x) { return tapegrad::abs(x); }) == 0.0);
  CHECK(grad_at_zero([](const Tensor<double>& x) { return tapegrad::leaky_relu(x, 0.2); }) == 0.2);
  CHECK(grad_at_zero([](const Tensor<double>& x) { return tapegrad::elu(x); }) == 1.0);
  CHECK(grad_at_zero([](const Tensor<double>& x) { return tapegrad::selu(x); }) ==
        Approx(1.0507009873554805 * 1.6732632423543772));
  CHECK(tapegrad::round(Tensor<double>({0.5, 1.5, 2.5, -0.5, -1.5})).to_vector() ==
        std::vector<double>{0.0, 2.0, 2.0, -0.0, -2.0});
}

TEST_CASE("softplus neither overflows nor loses small values", "[ops]") {
  Tensor<double> x({1000.0, -1000.0, -40.0});
  auto y = tapegrad::softplus(x).to_vector();
  CHECK(y[0] == 1000.0);
  CHECK(y[1] == 0.0);
  CHECK(y[2] == Approx(std::exp(-40.0)).epsilon(1e-12));
  GradientTape tape;
  tape.watch(x);
  auto g = tape.gradient(tapegrad::softplus(x), x).to_vector();
  CHECK(g[0] == 1.0);
  CHECK(g[1] == Approx(0.0).margin(1e-300));
}
