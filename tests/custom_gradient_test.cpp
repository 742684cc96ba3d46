#include "test_util.hpp"

#include <cmath>
#include <utility>

using tapegrad::GradientTape;
using tapegrad::Tensor;
using tapegrad::Variable;

namespace {
// log(1 + e^x), whose naive gradient e^x / (1 + e^x) is inf / inf = NaN for large x.
const auto log1pexp = tapegrad::custom_gradient([](const Tensor<double>& x) {
  // The gradient is computed from x, not from values of the forward pass, so that an outer
  // tape (which saw x but not the forward's ops) can differentiate it again.
  auto grad = [x](const Tensor<double>& g) { return g / (1.0 + tapegrad::exp(-x)); };
  return std::make_pair(tapegrad::log(1.0 + tapegrad::exp(x)), grad);
});
}  // namespace

TEST_CASE("custom_gradient: a numerically stable log1pexp", "[custom_gradient]") {
  Tensor<double> x({0.0, 100.0, 1000.0});
  GradientTape tape;
  tape.watch(x);
  auto y = log1pexp(x);
  auto g = tape.gradient(y, x).to_vector();
  CHECK(g[0] == 0.5);
  CHECK(g[1] == 1.0);
  CHECK(g[2] == 1.0);  // the naive gradient is NaN here
}

TEST_CASE("custom_gradient: gradient clipping in the backward pass", "[custom_gradient]") {
  const auto clip_gradient = tapegrad::custom_gradient([](const Tensor<double>& x) {
    auto grad = [](const Tensor<double>& g) {
      return tapegrad::sqrt(tapegrad::square(g) / (tapegrad::square(g) + 1.0)) * 1.0;  // |g| < 1
    };
    return std::make_pair(x, grad);
  });
  Tensor<double> x({3.0});
  GradientTape tape;
  tape.watch(x);
  auto y = clip_gradient(x) * 100.0;
  const double g = tape.gradient(y, x).item();
  CHECK(g == Approx(100.0 / std::sqrt(100.0 * 100.0 + 1.0)));
  CHECK(y.item() == 300.0);
}

TEST_CASE("custom_gradient with two inputs", "[custom_gradient]") {
  const auto product =
      tapegrad::custom_gradient([](const Tensor<double>& a, const Tensor<double>& b) {
        auto grad = [a, b](const Tensor<double>& g) {
          return std::vector<Tensor<double>>{g * b, g * a};
        };
        return std::make_pair(a * b, grad);
      });
  Tensor<double> a(3.0), b(4.0);
  GradientTape tape;
  tape.watch(a);
  tape.watch(b);
  auto g = tape.gradient(product(a, b), {a, b});
  CHECK(g[0].item() == 4.0);
  CHECK(g[1].item() == 3.0);
}

TEST_CASE("custom_gradient composes with nested tapes", "[custom_gradient][nested]") {
  // d/dx log1pexp(x) = sigmoid(x); d2/dx2 = sigmoid(x) (1 - sigmoid(x)).
  Tensor<double> x(0.5);
  GradientTape outer;
  outer.watch(x);
  Tensor<double> first;
  {
    GradientTape inner;
    inner.watch(x);
    first = inner.gradient(log1pexp(x), x);
  }
  const double s = 1.0 / (1.0 + std::exp(-0.5));
  CHECK(first.item() == Approx(s).epsilon(1e-15));
  CHECK(outer.gradient(first, x).item() == Approx(s * (1 - s)).epsilon(1e-14));
}

TEST_CASE("custom_gradient that reads a variable", "[custom_gradient]") {
  Variable<double> scale({2.0}, "scale");
  const auto scaled = tapegrad::custom_gradient([&scale](const Tensor<double>& x) {
    auto grad = [x, scale](const Tensor<double>& g, const std::vector<Variable<double>>& vars) {
      REQUIRE(vars.size() == 1);
      std::vector<Tensor<double>> input_grads{g * scale.value()};
      std::vector<Tensor<double>> variable_grads{tapegrad::sum(g * x, 0, true)};
      return std::make_pair(input_grads, variable_grads);
    };
    return std::make_pair(x * scale, grad);
  });
  Tensor<double> x({1.0, 3.0});
  GradientTape tape;
  tape.watch(x);
  auto y = scaled(x);
  auto g = tape.gradient(y, {x, scale});
  CHECK(g[0].to_vector() == std::vector<double>{2.0, 2.0});
  CHECK(g[1].to_vector() == std::vector<double>{4.0});
}

TEST_CASE("A custom gradient with the wrong shape is an error, and the tape survives",
          "[custom_gradient][errors]") {
  const auto bad = tapegrad::custom_gradient([](const Tensor<double>& x) {
    return std::make_pair(x * 2.0, [](const Tensor<double>&) {
      return Tensor<double>({1.0, 2.0, 3.0});
    });
  });
  Tensor<double> x({1.0, 2.0});
  GradientTape tape;
  tape.watch(x);
  auto y = bad(x);
  CHECK_THROWS_WITH(tape.gradient(y, x),
                    "custom_gradient: gradient 0 has shape [3] but its input has shape [2]");
  auto z = x * x;
  CHECK(tape.gradient(z, x).to_vector() == std::vector<double>{2.0, 4.0});
}
