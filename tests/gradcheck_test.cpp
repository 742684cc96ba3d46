#include "test_util.hpp"

#include <tapegrad/testing/catch2.hpp>

using tapegrad::Shape;
using tapegrad::Tensor;
using tapegrad::Variable;
using Inputs = std::vector<Tensor<double>>;

TEST_CASE("gradcheck accepts a correct gradient", "[gradcheck]") {
  const auto result =
      tapegrad::testing::gradcheck([](const Inputs& x) { return x[0] * tapegrad::sin(x[1]); },
                                   {Tensor<double>({1.0, 2.0}), Tensor<double>(0.5)});
  INFO(result.report);
  CHECK(result.ok);
  CHECK(result.report.empty());
}

TEST_CASE("gradcheck reports a gradient the tape gets wrong", "[gradcheck]") {
  // The variable copies x's value, so f = x * x numerically, but the tape only sees one x:
  // its gradient is x where the true one is 2x.
  const auto result = tapegrad::testing::gradcheck(
      [](const Inputs& x) {
        Variable<double> copy(Tensor<double>(x[0].shape(), x[0].to_vector()), "copy", false);
        return x[0] * copy;
      },
      {Tensor<double>({1.0, 2.0})});
  CHECK_FALSE(result.ok);
  CHECK_THAT(result.report, Catch::Contains("input 0 (shape [2]) element 0: analytic") &&
                                Catch::Contains("input 0 (shape [2]) element 1: analytic"));
}

TEST_CASE("gradcheck names the worst element and checks that zero upstream gives zero",
          "[gradcheck]") {
  // A custom gradient that is off by 10% on element 1 and by 1% on element 0.
  auto wrong = [](const Inputs& x) {
    auto op = tapegrad::custom_gradient([](const Tensor<double>& v) {
      return std::make_pair(v * 1.0, [](const Tensor<double>& g) {
        return g * Tensor<double>({1.01, 1.1});
      });
    });
    return op(x[0]);
  };
  const auto result = tapegrad::testing::gradcheck(wrong, {Tensor<double>({1.0, 2.0})});
  CHECK_FALSE(result.ok);
  CHECK(result.worst_input == 0);
  CHECK(result.worst_element == 1);
  CHECK_THAT(result.report, Catch::StartsWith("gradcheck failed: worst at input 0 element 1"));

  auto not_zero = [](const Inputs& x) {
    auto op = tapegrad::custom_gradient([](const Tensor<double>& v) {
      return std::make_pair(v * 2.0, [](const Tensor<double>& g) { return g * 2.0 + 1e-300; });
    });
    return op(x[0]);
  };
  const auto zero_result = tapegrad::testing::gradcheck(not_zero, {Tensor<double>({1.0})});
  CHECK_FALSE(zero_result.ok);
  CHECK_THAT(zero_result.report, Catch::Contains("a zero incoming gradient gave"));
}

TEST_CASE("gradgradcheck checks second derivatives through nested tapes", "[gradcheck]") {
  const Inputs x{Tensor<double>({0.5, -1.0}), Tensor<double>(0.3)};
  const auto ok = tapegrad::testing::gradgradcheck(
      [](const Inputs& v) { return tapegrad::tanh(v[0]) * tapegrad::exp(v[1]); }, x);
  INFO(ok.report);
  CHECK(ok.ok);
  // A custom gradient whose own gradient is wrong: first order right, second order wrong
  // (the gradient function uses a constant where it should use x).
  auto square_with_bad_second = [](const Inputs& v) {
    auto op = tapegrad::custom_gradient([](const Tensor<double>& t) {
      const Tensor<double> frozen(t.shape(), t.to_vector());  // a copy no tape knows
      return std::make_pair(t * t, [frozen](const Tensor<double>& g) { return g * frozen * 2.0; });
    });
    return op(v[0]);
  };
  CHECK(tapegrad::testing::gradcheck(square_with_bad_second, {Tensor<double>({1.5})}).ok);
  const auto bad =
      tapegrad::testing::gradgradcheck(square_with_bad_second, {Tensor<double>({1.5})});
  CHECK_FALSE(bad.ok);
  CHECK_THAT(bad.report, Catch::StartsWith("gradgradcheck failed: worst at input 0 element 0"));
}

TEST_CASE("The Catch2 matchers wrap gradcheck and gradgradcheck", "[gradcheck]") {
  using tapegrad::testing::passes_gradcheck;
  using tapegrad::testing::passes_gradgradcheck;
  const tapegrad::testing::GradcheckFunction f = [](const Inputs& v) {
    return tapegrad::sin(v[0]) * v[1];
  };
  CHECK_THAT(f, passes_gradcheck({Tensor<double>({0.3, 1.2}), Tensor<double>(2.0)}));
  CHECK_THAT(f, passes_gradgradcheck({Tensor<double>({0.3, 1.2}), Tensor<double>(2.0)}));
  const tapegrad::testing::GradcheckFunction wrong = [](const Inputs& v) {
    Variable<double> copy(Tensor<double>(v[0].shape(), v[0].to_vector()), "copy", false);
    return v[0] * copy;
  };
  CHECK_THAT(wrong, !passes_gradcheck({Tensor<double>({1.0, 2.0})}));
}
