#include "test_util.hpp"

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
