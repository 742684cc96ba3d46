// How a user tests the gradients of their own function: a Catch2 (v2) test that compares the
// tape's first and second derivatives with central finite differences.
// Catch2's main() is compiled once in its own file (tests/catch_main.cpp), as usual.
#include <catch2/catch.hpp>
#include <tapegrad/tapegrad.hpp>
#include <tapegrad/testing/catch2.hpp>
#include <tapegrad/testing/gradcheck.hpp>

namespace tg = tapegrad;
using Inputs = std::vector<tg::Tensor<double>>;

// The function under test: a user-written loss with a penalty on the weights.
tg::Tensor<double> my_loss(const tg::Tensor<double>& w, const tg::Tensor<double>& x) {
  return tg::mean(tg::softplus(tg::matmul(x, w))) + tg::sum(tg::square(tg::tanh(w))) * 0.1;
}

TEST_CASE("my_loss has correct first and second derivatives") {
  const tg::Tensor<double> w({{0.3}, {-0.7}, {1.1}});
  const tg::Tensor<double> x({{1.0, 2.0, -0.5}, {0.2, -1.0, 0.4}});
  const auto f = [](const Inputs& in) { return my_loss(in[0], in[1]); };

  // The plain function: ok, and a report naming the worst element otherwise.
  const auto result = tg::testing::gradcheck(f, {w, x});
  INFO(result.report);
  CHECK(result.ok);

  // The same through Catch2 matchers, with tolerances of your own.
  tg::testing::GradcheckOptions strict;
  strict.atol = 1e-7;
  strict.rtol = 1e-6;
  CHECK_THAT(f, tg::testing::passes_gradcheck({w, x}, strict));
  CHECK_THAT(f, tg::testing::passes_gradgradcheck({w, x}));
}

TEST_CASE("gradcheck catches a wrong hand-written gradient") {
  // softplus written with a custom gradient that forgets a factor: gradcheck must fail.
  const auto wrong_softplus = [](const Inputs& in) {
    auto op = tg::custom_gradient([](const tg::Tensor<double>& v) {
      return std::make_pair(tg::softplus(v),
                            [v](const tg::Tensor<double>& g) { return g * tg::sigmoid(v) * 0.5; });
    });
    return op(in[0]);
  };
  const auto result = tg::testing::gradcheck(wrong_softplus, {tg::Tensor<double>({0.5, -1.0})});
  CHECK_FALSE(result.ok);
  CHECK_THAT(result.report, Catch::StartsWith("gradcheck failed: worst at input 0"));
}
