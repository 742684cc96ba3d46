#include "test_util.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using Inputs = std::vector<Tensor<double>>;
using tapegrad_test::sample;

namespace {
struct UnaryCase {
  std::string name;
  std::function<Tensor<double>(const Tensor<double>&)> op;
  std::function<double(double)> reference;
  double lo, hi;  // a domain where the function is smooth
};

std::vector<UnaryCase> unary_cases() {
  return {
      {"neg", [](const auto& x) { return -x; }, [](double v) { return -v; }, -2, 2},
      {"sin", [](const auto& x) { return tapegrad::sin(x); }, [](double v) { return std::sin(v); },
       -3, 3},
      {"cos", [](const auto& x) { return tapegrad::cos(x); }, [](double v) { return std::cos(v); },
       -3, 3},
      {"exp", [](const auto& x) { return tapegrad::exp(x); }, [](double v) { return std::exp(v); },
       -2, 2},
      {"log", [](const auto& x) { return tapegrad::log(x); }, [](double v) { return std::log(v); },
       0.2, 3},
      {"tanh", [](const auto& x) { return tapegrad::tanh(x); },
       [](double v) { return std::tanh(v); }, -2, 2},
      {"sqrt", [](const auto& x) { return tapegrad::sqrt(x); },
       [](double v) { return std::sqrt(v); }, 0.2, 3},
      {"square", [](const auto& x) { return tapegrad::square(x); }, [](double v) { return v * v; },
       -2, 2},
      {"pow 3", [](const auto& x) { return tapegrad::pow(x, 3); },
       [](double v) { return v * v * v; }, -2, 2},
      {"pow 0.5", [](const auto& x) { return tapegrad::pow(x, 0.5); },
       [](double v) { return std::pow(v, 0.5); }, 0.2, 3},
      {"pow -1.5", [](const auto& x) { return tapegrad::pow(x, -1.5); },
       [](double v) { return std::pow(v, -1.5); }, 0.3, 3},
      {"pow 1", [](const auto& x) { return tapegrad::pow(x, 1); }, [](double v) { return v; }, -2,
       2},
      {"relu", [](const auto& x) { return tapegrad::relu(x); },
       [](double v) { return v > 0 ? v : 0.0; }, -2, 2},
      {"abs", [](const auto& x) { return tapegrad::abs(x); }, [](double v) { return std::abs(v); },
       -2, 2},
      {"sign", [](const auto& x) { return tapegrad::sign(x); },
       [](double v) { return double((v > 0) - (v < 0)); }, -2, 2},
      {"floor", [](const auto& x) { return tapegrad::floor(x); },
       [](double v) { return std::floor(v); }, -2, 2},
      {"ceil", [](const auto& x) { return tapegrad::ceil(x); },
       [](double v) { return std::ceil(v); }, -2, 2},
      {"round", [](const auto& x) { return tapegrad::round(x); },
       [](double v) { return std::nearbyint(v); }, -2, 2},
      {"expm1", [](const auto& x) { return tapegrad::expm1(x); },
       [](double v) { return std::expm1(v); }, -2, 2},
      {"log1p", [](const auto& x) { return tapegrad::log1p(x); },
       [](double v) { return std::log1p(v); }, -0.5, 2},
      {"tan", [](const auto& x) { return tapegrad::tan(x); }, [](double v) { return std::tan(v); },
       -1.2, 1.2},
      {"asin", [](const auto& x) { return tapegrad::asin(x); },
       [](double v) { return std::asin(v); }, -0.9, 0.9},
      {"acos", [](const auto& x) { return tapegrad::acos(x); },
       [](double v) { return std::acos(v); }, -0.9, 0.9},
      {"atan", [](const auto& x) { return tapegrad::atan(x); },
       [](double v) { return std::atan(v); }, -3, 3},
      {"sinh", [](const auto& x) { return tapegrad::sinh(x); },
       [](double v) { return std::sinh(v); }, -2, 2},
      {"cosh", [](const auto& x) { return tapegrad::cosh(x); },
       [](double v) { return std::cosh(v); }, -2, 2},
      {"sigmoid", [](const auto& x) { return tapegrad::sigmoid(x); },
       [](double v) { return 1 / (1 + std::exp(-v)); }, -4, 4},
      {"softplus", [](const auto& x) { return tapegrad::softplus(x); },
       [](double v) { return std::log1p(std::exp(v)); }, -4, 4},
      {"erf", [](const auto& x) { return tapegrad::erf(x); }, [](double v) { return std::erf(v); },
       -2, 2},
      {"leaky_relu", [](const auto& x) { return tapegrad::leaky_relu(x, 0.3); },
       [](double v) { return v > 0 ? v : 0.3 * v; }, -2, 2},
      {"elu", [](const auto& x) { return tapegrad::elu(x); },
       [](double v) { return v > 0 ? v : std::expm1(v); }, -2, 2},
      {"selu", [](const auto& x) { return tapegrad::selu(x); },
       [](double v) {
         return 1.0507009873554805 * (v > 0 ? v : 1.6732632423543772 * std::expm1(v));
       },
       -2, 2},
      {"gelu", [](const auto& x) { return tapegrad::gelu(x); },
       [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }, -3, 3},
      {"pow 0", [](const auto& x) { return tapegrad::pow(x, 0); }, [](double) { return 1.0; }, -2,
       2},
  };
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

TEMPLATE_TEST_CASE("Fused first-order gradients equal the composed ones", "[ops][fused]", float,
                   double) {
  // With an outer tape recording, the backward pass runs the composed (differentiable) form;
  // without one, the fused form. Both must give the same numbers.
  using T = TestType;
  const std::vector<std::function<Tensor<T>(const Tensor<T>&)>> ops = {
      [](const Tensor<T>& x) { return -x; },
      [](const Tensor<T>& x) { return tapegrad::sin(x); },
      [](const Tensor<T>& x) { return tapegrad::cos(x); },
      [](const Tensor<T>& x) { return tapegrad::exp(x); },
      [](const Tensor<T>& x) { return tapegrad::log(x); },
      [](const Tensor<T>& x) { return tapegrad::tanh(x); },
      [](const Tensor<T>& x) { return tapegrad::square(x); },
      [](const Tensor<T>& x) { return tapegrad::sqrt(x); },
      [](const Tensor<T>& x) { return tapegrad::relu(x - T(1)); },
      [](const Tensor<T>& x) { return T(2) - x; },
      [](const Tensor<T>& x) { return x * T(3); },
      [](const Tensor<T>& x) { return x / T(3); },
      [](const Tensor<T>& x) { return T(3) / x; },
      [](const Tensor<T>& x) { return tapegrad::abs(x - T(1)); },
      [](const Tensor<T>& x) { return tapegrad::expm1(x); },
      [](const Tensor<T>& x) { return tapegrad::log1p(x); },
      [](const Tensor<T>& x) { return tapegrad::tan(x * T(0.5)); },
      [](const Tensor<T>& x) { return tapegrad::asin(x * T(0.3)); },
      [](const Tensor<T>& x) { return tapegrad::acos(x * T(0.3)); },
      [](const Tensor<T>& x) { return tapegrad::atan(x); },
      [](const Tensor<T>& x) { return tapegrad::sinh(x); },
      [](const Tensor<T>& x) { return tapegrad::cosh(x); },
      [](const Tensor<T>& x) { return tapegrad::sigmoid(x); },
      [](const Tensor<T>& x) { return tapegrad::softplus(x); },
      [](const Tensor<T>& x) { return tapegrad::erf(x); },
      [](const Tensor<T>& x) { return tapegrad::leaky_relu(x - T(1), 0.2); },
      [](const Tensor<T>& x) { return tapegrad::elu(x - T(1)); },
  };
  const Tensor<T> x({T(0.25), T(0.5), T(1.5), T(2.5)});
  for (std::size_t i = 0; i < ops.size(); ++i) {
    INFO("op " << i);
    Tensor<T> fused, composed;
    {
      GradientTape tape;
      tape.watch(x);
      fused = tape.gradient(ops[i](x) * Tensor<T>({T(1), T(-2), T(3), T(0)}), x);
    }
    {
      GradientTape outer;  // recording: the inner backward takes the composed path
      GradientTape tape;
      tape.watch(x);
      composed = tape.gradient(ops[i](x) * Tensor<T>({T(1), T(-2), T(3), T(0)}), x);
    }
    CHECK(fused.to_vector() == composed.to_vector());
  }
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
