#include "test_util.hpp"

#include <Eigen/Core>
#include <vector>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using Inputs = std::vector<Tensor<double>>;
using tapegrad_test::sample;

TEST_CASE("matmul equals Eigen's product, with and without transposes", "[ops][linalg]") {
  const Tensor<double> a = sample({2, 3}, -1, 1, 1);
  const Tensor<double> b = sample({3, 4}, -1, 1, 2);
  const Eigen::MatrixXd A = a.matrix(), B = b.matrix();
  CHECK(tapegrad::matmul(a, b).matrix().isApprox(A * B, 1e-15));
  const Tensor<double> at = sample({3, 2}, -1, 1, 3);
  const Tensor<double> bt = sample({4, 3}, -1, 1, 4);
  const Eigen::MatrixXd At = at.matrix(), Bt = bt.matrix();
  CHECK(tapegrad::matmul(at, b, true, false).matrix().isApprox(At.transpose() * B, 1e-15));
  CHECK(tapegrad::matmul(a, bt, false, true).matrix().isApprox(A * Bt.transpose(), 1e-15));
  CHECK(tapegrad::matmul(at, bt, true, true)
            .matrix()
            .isApprox(At.transpose() * Bt.transpose(), 1e-15));
  CHECK(
      tapegrad::matmul(Tensor<double>::zeros({2, 0}), Tensor<double>::zeros({0, 3})).to_vector() ==
      std::vector<double>(6, 0.0));
}

TEST_CASE("matmul gradients match finite differences", "[ops][linalg][gradcheck]") {
  struct Case {
    Shape a, b;
    bool ta, tb;
  };
  const std::vector<Case> cases = {{{2, 3}, {3, 4}, false, false}, {{3, 2}, {3, 4}, true, false},
                                   {{2, 3}, {4, 3}, false, true},  {{3, 2}, {4, 3}, true, true},
                                   {{1, 3}, {3, 1}, false, false}, {{3, 1}, {1, 3}, false, false},
                                   {{1, 1}, {1, 1}, false, false}};
  for (const Case& c : cases) {
    INFO(c.a.str() << (c.ta ? "^T" : "") << " x " << c.b.str() << (c.tb ? "^T" : ""));
    const Inputs xs{sample(c.a, -1, 1, 1), sample(c.b, -1, 1, 2)};
    CHECK_GRADIENTS([&](const Inputs& x) { return tapegrad::matmul(x[0], x[1], c.ta, c.tb); }, xs);
    // Twice through the same operand, so both gradients accumulate on one node.
    if (c.a == c.b && !c.ta && c.tb)
      CHECK_GRADIENTS([&](const Inputs& x) { return tapegrad::matmul(x[0], x[0], false, true); },
                      xs);
  }
}

TEMPLATE_TEST_CASE("A tiny two-layer network trains its gradients through matmul", "[ops][linalg]",
                   float, double) {
  using T = TestType;
  tapegrad::Variable<T> w1(Tensor<T>({{T(0.1), T(-0.2)}, {T(0.3), T(0.4)}, {T(-0.5), T(0.6)}}));
  tapegrad::Variable<T> b1({T(0.01), T(-0.02)});
  Tensor<T> x({{T(1), T(2), T(3)}});
  GradientTape tape;
  auto h = tapegrad::tanh(tapegrad::matmul(x, w1) + b1);
  auto loss = tapegrad::sum(h * h);
  auto g = tape.gradient(loss, {w1, b1});
  CHECK(g[0].shape() == Shape{3, 2});
  CHECK(g[1].shape() == Shape{2});
  // d loss / d b1_j = 2 h_j (1 - h_j^2); d loss / d w1_ij = x_i * that.
  for (int j = 0; j < 2; ++j) {
    const double hj = static_cast<double>(h.at(0, j));
    const double db = 2 * hj * (1 - hj * hj);
    CHECK(static_cast<double>(g[1].at(j)) == Approx(db).epsilon(1e-5));
    for (int i = 0; i < 3; ++i)
      CHECK(static_cast<double>(g[0].at(i, j)) == Approx((i + 1) * db).epsilon(1e-5));
  }
}
