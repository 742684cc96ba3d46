#include "test_util.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
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

namespace {

/// NumPy's matmul by plain loops: the reference the GEMM-based op is checked against.
Tensor<double> loop_matmul(const Tensor<double>& a, const Tensor<double>& b, bool ta, bool tb) {
  const Shape a_shape = a.shape(), b_shape = b.shape();
  std::vector<std::int64_t> sa(a_shape.begin(), a_shape.end());
  std::vector<std::int64_t> sb(b_shape.begin(), b_shape.end());
  const bool a_vector = sa.size() == 1, b_vector = sb.size() == 1;
  if (a_vector) sa.insert(sa.begin(), 1);
  if (b_vector) sb.push_back(1);
  ta = ta && !a_vector;
  tb = tb && !b_vector;
  const std::int64_t ar = sa[sa.size() - 2], ac = sa.back(), br = sb[sb.size() - 2], bc = sb.back();
  const std::int64_t m = ta ? ac : ar, k = ta ? ar : ac, n = tb ? br : bc;
  REQUIRE(k == (tb ? bc : br));
  // Batch dimensions, right-aligned and padded with 1s.
  const std::size_t rank = std::max(sa.size(), sb.size()) - 2;
  std::vector<std::int64_t> ba(rank, 1), bb(rank, 1), batch(rank);
  std::copy(sa.begin(), sa.end() - 2, ba.end() - static_cast<std::ptrdiff_t>(sa.size() - 2));
  std::copy(sb.begin(), sb.end() - 2, bb.end() - static_cast<std::ptrdiff_t>(sb.size() - 2));
  std::int64_t slices = 1;
  for (std::size_t i = 0; i < rank; ++i) {
    REQUIRE((ba[i] == bb[i] || ba[i] == 1 || bb[i] == 1));
    batch[i] = ba[i] == 1 ? bb[i] : ba[i];
    slices *= batch[i];
  }
  std::vector<double> y(static_cast<std::size_t>(slices * m * n), 0.0);
  for (std::int64_t s = 0; s < slices; ++s) {
    std::int64_t rest = s, ia = 0, ib = 0, stride_a = 1, stride_b = 1;
    for (std::size_t i = rank; i-- > 0;) {
      const std::int64_t at = rest % batch[i];
      rest /= batch[i];
      ia += (ba[i] == 1 ? 0 : at) * stride_a;
      ib += (bb[i] == 1 ? 0 : at) * stride_b;
      stride_a *= ba[i];
      stride_b *= bb[i];
    }
    const double* pa = a.data() + ia * ar * ac;
    const double* pb = b.data() + ib * br * bc;
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double total = 0;
        for (std::int64_t l = 0; l < k; ++l)
          total += (ta ? pa[l * ac + i] : pa[i * ac + l]) * (tb ? pb[j * bc + l] : pb[l * bc + j]);
        y[static_cast<std::size_t>((s * m + i) * n + j)] = total;
      }
  }
  Shape shape(batch.begin(), batch.end());
  if (!a_vector) shape.push_back(m);
  if (!b_vector) shape.push_back(n);
  return Tensor<double>(shape, y);
}

void check_close(const Tensor<double>& got, const Tensor<double>& want) {
  REQUIRE(got.shape() == want.shape());
  for (std::int64_t i = 0; i < got.size(); ++i)
    CHECK(got.data()[i] == Approx(want.data()[i]).epsilon(1e-12).margin(1e-12));
}

/// The Hessian-vector product of L(x) = sum(w * f(x)) from nested tapes (the outer tape
/// differentiates the inner tape's backward), against central differences of the first
/// gradient.
void check_second_order(const std::function<Tensor<double>(const Tensor<double>&)>& f,
                        const Tensor<double>& x) {
  const Tensor<double> w = sample(f(x).shape(), 0.5, 1.5, 5);
  const Tensor<double> v = sample(x.shape(), -1, 1, 6);
  auto first = [&](const Tensor<double>& at) {
    GradientTape tape;
    tape.watch(at);
    return tape.gradient(tapegrad::sum(f(at) * w), at);
  };
  GradientTape outer;
  outer.watch(x);
  Tensor<double> g;
  {
    GradientTape inner;
    inner.watch(x);
    const Tensor<double> y = f(x);
    g = inner.gradient(tapegrad::sum(y * w), x);
  }
  REQUIRE(g.has_value());
  const Tensor<double> h = outer.gradient(tapegrad::sum(g * v), x);
  const double eps = 1e-6;
  std::vector<double> values = x.to_vector();
  for (std::size_t j = 0; j < values.size(); ++j) {
    const double original = values[j];
    values[j] = original + eps;
    const double up = tapegrad::sum(first(Tensor<double>(x.shape(), values)) * v).item();
    values[j] = original - eps;
    const double down = tapegrad::sum(first(Tensor<double>(x.shape(), values)) * v).item();
    values[j] = original;
    const double got = h.has_value() ? h.data()[j] : 0.0;
    INFO("element " << j);
    CHECK(got == Approx((up - down) / (2 * eps)).epsilon(1e-5).margin(1e-6));
  }
}

struct MatmulCase {
  Shape a, b;
  bool ta, tb;
  std::string str() const {
    return a.str() + (ta ? "^T" : "") + " x " + b.str() + (tb ? "^T" : "");
  }
};

// Batched with broadcasting, transposed, size-1 and empty dimensions, vectors.
const std::vector<MatmulCase> matmul_cases = {
    {{1, 3, 4}, {2, 4, 5}, false, false},
    {{2, 3, 4}, {4, 5}, false, false},
    {{3, 4}, {2, 4, 5}, false, false},
    {{2, 3, 4}, {2, 4, 5}, false, false},
    {{2, 1, 3, 4}, {5, 4, 2}, false, false},
    {{1, 4, 3}, {2, 4, 5}, true, false},
    {{2, 4, 3}, {4, 5}, true, false},
    {{2, 3, 4}, {5, 4}, false, true},
    {{3, 4}, {2, 5, 4}, false, true},
    {{4, 3}, {2, 5, 4}, true, true},
    {{2, 4, 3}, {1, 5, 4}, true, true},
    {{2, 3, 4}, {1, 4, 5}, false, false},
    {{1, 1, 1}, {1, 1, 1}, false, false},
    {{2, 1, 3}, {3, 1}, false, false},
    {{1, 3, 1}, {4, 1, 2}, false, false},
    {{3, 1, 2}, {1, 2, 1}, true, true},
    {{2, 3, 4}, {4}, false, false},
    {{3, 4}, {4}, false, false},
    {{4, 3}, {4}, true, false},
    {{4}, {2, 4, 5}, false, false},
    {{4}, {4, 5}, false, false},
    {{4}, {5, 4}, false, true},
    {{4}, {4}, false, false},
    {{1}, {1}, false, false},
    {{1}, {1, 1, 3}, false, false},
    {{2, 3, 1}, {1}, false, false},
    {{0, 3, 4}, {4, 5}, false, false},
    {{0, 3, 4}, {2, 1, 4, 5}, false, false},
    {{2, 3, 0}, {2, 0, 5}, false, false},
    {{3, 0}, {0}, false, false},
    {{2, 0, 4}, {4, 3}, false, false},
    // Many broadcast batch axes walked slice by
    // slice, at and past the tiny-matrix limit.
    {{5, 1, 2, 1, 3, 1, 1}, {5, 1, 2, 1, 3, 1, 1, 5}, true, false},
    {{2, 1, 3, 4, 4}, {3, 1, 4, 4}, false, true},
    {{2, 1, 3, 4, 5}, {3, 1, 5, 4}, true, true},
    {{3, 1, 1, 65}, {2, 65, 1}, false, false},
    {{0}, {0}, false, false}};

}  // namespace

TEST_CASE("Batched matmul broadcasts its batch dimensions like NumPy", "[ops][linalg]") {
  for (const MatmulCase& c : matmul_cases) {
    INFO(c.str());
    const Tensor<double> a = sample(c.a, -1, 1, 1), b = sample(c.b, -1, 1, 2);
    check_close(tapegrad::matmul(a, b, c.ta, c.tb), loop_matmul(a, b, c.ta, c.tb));
  }
  CHECK(tapegrad::matmul(Tensor<double>::ones({2, 1, 3, 4}), Tensor<double>::ones({5, 4, 6}))
            .shape() == Shape{2, 5, 3, 6});
  // Large enough for Eigen's blocked GEMM, on both the one-GEMM and the per-slice path.
  const Tensor<double> x = sample({3, 20, 30}, -1, 1, 3), w = sample({30, 25}, -1, 1, 4);
  check_close(tapegrad::matmul(x, w), loop_matmul(x, w, false, false));
  const Tensor<double> w3 = sample({3, 25, 30}, -1, 1, 5), w4 = sample({3, 20, 25}, -1, 1, 6);
  check_close(tapegrad::matmul(x, w3, false, true), loop_matmul(x, w3, false, true));
  check_close(tapegrad::matmul(x, w4, true, false), loop_matmul(x, w4, true, false));
  const Tensor<double> w5 = sample({3, 25, 20}, -1, 1, 7), w6 = sample({1, 30, 25}, -1, 1, 8);
  check_close(tapegrad::matmul(x, w5, true, true), loop_matmul(x, w5, true, true));
  check_close(tapegrad::matmul(x, w6), loop_matmul(x, w6, false, false));
  check_close(tapegrad::matmul(sample({2, 1, 20, 30}, -1, 1, 9), w3, false, true),
              loop_matmul(sample({2, 1, 20, 30}, -1, 1, 9), w3, false, true));
}

TEST_CASE("matmul with vectors: hand-computed values", "[ops][linalg]") {
  const Tensor<double> m({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  const Tensor<double> u({1.0, -1.0}), v({1.0, 0.0, 2.0});
  auto mv = tapegrad::matmul(m, v);
  CHECK(mv.shape() == Shape{2});
  CHECK(mv.to_vector() == std::vector<double>{7, 16});
  auto um = tapegrad::matmul(u, m);
  CHECK(um.shape() == Shape{3});
  CHECK(um.to_vector() == std::vector<double>{-3, -3, -3});
  CHECK(tapegrad::matmul(m, u, true, false).to_vector() == std::vector<double>{-3, -3, -3});
  auto dot = tapegrad::matmul(v, Tensor<double>({4.0, 5.0, 6.0}));
  CHECK(dot.shape() == Shape{});
  CHECK(dot.item() == 16.0);
  // A batch of two matrices times one vector: [2, 2, 3] x [3] -> [2, 2].
  const Tensor<double> batch(
      {{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, {{0.0, 1.0, 0.0}, {1.0, 0.0, 1.0}}});
  auto bv = tapegrad::matmul(batch, v);
  CHECK(bv.shape() == Shape{2, 2});
  CHECK(bv.to_vector() == std::vector<double>{7, 16, 0, 3});
  // The vector's gradient is 1-D: d sum(m v) / dv = column sums of m.
  GradientTape tape;
  tape.watch(v);
  auto g = tape.gradient(tapegrad::matmul(m, v), v);
  CHECK(g.shape() == Shape{3});
  CHECK(g.to_vector() == std::vector<double>{5, 7, 9});
}

TEMPLATE_TEST_CASE("Batched matmul in float and with a Variable", "[ops][linalg]", float, double) {
  using T = TestType;
  const Tensor<T> a({{{T(1), T(2)}, {T(3), T(4)}}, {{T(0), T(1)}, {T(1), T(0)}}});  // [2, 2, 2]
  tapegrad::Variable<T> w(Tensor<T>({{T(1), T(-1), T(2)}, {T(0), T(1), T(1)}}));    // [2, 3]
  GradientTape tape;
  auto y = tapegrad::matmul(a, w);
  CHECK(y.shape() == Shape{2, 2, 3});
  CHECK(y.to_vector() == std::vector<T>{1, 1, 4, 3, 1, 10, 0, 1, 1, 1, -1, 2});
  // d sum(y) / dw[i, j] = sum over the batch and rows of a[.., r, i]: 1+3+0+1, 2+4+1+0.
  auto g = tape.gradient(tapegrad::sum(y), w);
  CHECK(g.shape() == Shape{2, 3});
  CHECK(g.to_vector() == std::vector<T>{5, 5, 5, 7, 7, 7});
}

TEST_CASE("Batched and vector matmul gradients match finite differences",
          "[ops][linalg][gradcheck]") {
  for (const MatmulCase& c : matmul_cases) {
    INFO(c.str());
    const Inputs xs{sample(c.a, -1, 1, 1), sample(c.b, -1, 1, 2)};
    CHECK_GRADIENTS([&](const Inputs& x) { return tapegrad::matmul(x[0], x[1], c.ta, c.tb); }, xs);
  }
  // One input on both sides, broadcast against itself.
  CHECK_GRADIENTS(
      [](const Inputs& x) {
        return tapegrad::matmul(tapegrad::reshape(x[0], {2, 1, 3, 3}), x[0], false, true);
      },
      Inputs{sample({2, 3, 3}, -1, 1, 7)});
}

TEST_CASE("Second derivatives through batched and vector matmul", "[ops][linalg][nested]") {
  using tapegrad::matmul;
  const Tensor<double> x = sample({2, 3, 3}, -1, 1, 8);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      INFO("ta " << ta << " tb " << tb);
      check_second_order([&](const Tensor<double>& t) { return matmul(t, t, ta, tb); }, x);
      // b broadcast over the batch (one GEMM for b's gradient when a is not transposed).
      check_second_order(
          [&](const Tensor<double>& t) { return matmul(t, tapegrad::sum(t, 0), ta, tb); }, x);
      // a broadcast over the batch.
      check_second_order(
          [&](const Tensor<double>& t) { return matmul(tapegrad::sum(t, 0, true), t, ta, tb); }, x);
    }
  check_second_order(
      [](const Tensor<double>& t) {
        return matmul(tapegrad::reshape(t, {2, 1, 3, 3}), tapegrad::tanh(t));
      },
      x);
  const Tensor<double> m = sample({3, 3}, -1, 1, 9);
  check_second_order([](const Tensor<double>& t) { return matmul(t, tapegrad::sum(t, 0)); }, m);
  check_second_order([](const Tensor<double>& t) { return matmul(tapegrad::sum(t, 1), t); }, m);
  check_second_order([](const Tensor<double>& t) { return matmul(t, tapegrad::sum(t, 1), true); },
                     m);
  const Tensor<double> v = sample({4}, -1, 1, 10);
  check_second_order([](const Tensor<double>& t) { return matmul(t, t * t); }, v);
}

TEST_CASE("outer, diag, diag_part and trace: hand-computed values", "[ops][linalg]") {
  const Tensor<double> u({1.0, 2.0}), v({3.0, 4.0, 5.0});
  auto o = tapegrad::outer(u, v);
  CHECK(o.shape() == Shape{2, 3});
  CHECK(o.to_vector() == std::vector<double>{3, 4, 5, 6, 8, 10});
  CHECK(tapegrad::outer(Tensor<double>::zeros({0}), v).shape() == Shape{0, 3});

  auto d = tapegrad::diag(v);
  CHECK(d.shape() == Shape{3, 3});
  CHECK(d.to_vector() == std::vector<double>{3, 0, 0, 0, 4, 0, 0, 0, 5});
  auto db = tapegrad::diag(Tensor<double>({{1.0, 2.0}, {3.0, 4.0}}));  // a batch of two
  CHECK(db.shape() == Shape{2, 2, 2});
  CHECK(db.to_vector() == std::vector<double>{1, 0, 0, 2, 3, 0, 0, 4});
  CHECK(tapegrad::diag(Tensor<double>::zeros({0})).shape() == Shape{0, 0});

  const Tensor<double> m({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});  // rectangular
  CHECK(tapegrad::diag_part(m).to_vector() == std::vector<double>{1, 5});
  CHECK(tapegrad::diag_part(tapegrad::reshape(m, {3, 2})).to_vector() == std::vector<double>{1, 4});
  const Tensor<double> b({{{1.0, 2.0}, {3.0, 4.0}}, {{5.0, 6.0}, {7.0, 8.0}}});
  auto bp = tapegrad::diag_part(b);
  CHECK(bp.shape() == Shape{2, 2});
  CHECK(bp.to_vector() == std::vector<double>{1, 4, 5, 8});
  CHECK(tapegrad::diag_part(Tensor<double>::zeros({0, 2, 2})).shape() == Shape{0, 2});

  CHECK(tapegrad::trace(m).shape() == Shape{});
  CHECK(tapegrad::trace(m).item() == 6.0);
  auto bt = tapegrad::trace(b);
  CHECK(bt.shape() == Shape{2});
  CHECK(bt.to_vector() == std::vector<double>{5, 13});
  CHECK(tapegrad::trace(Tensor<double>::zeros({2, 0, 3})).to_vector() == std::vector<double>{0, 0});
}

TEST_CASE("outer, diag, diag_part and trace gradients match finite differences",
          "[ops][linalg][gradcheck]") {
  for (const auto& shapes :
       std::vector<std::pair<Shape, Shape>>{{{3}, {4}}, {{1}, {1}}, {{1}, {3}}, {{2}, {0}}}) {
    INFO(shapes.first.str() << " outer " << shapes.second.str());
    CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::outer(x[0], x[1]); },
                    Inputs{sample(shapes.first, -1, 1, 1), sample(shapes.second, -1, 1, 2)});
  }
  for (const Shape& s : {Shape{1}, Shape{3}, Shape{2, 3}, Shape{2, 1, 1}, Shape{0}}) {
    INFO("diag of " << s.str());
    CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::diag(x[0]); },
                    Inputs{sample(s, -1, 1, 3)});
  }
  for (const Shape& s : {Shape{1, 1}, Shape{3, 3}, Shape{2, 3}, Shape{3, 2}, Shape{2, 3, 3},
                         Shape{2, 1, 4}, Shape{1, 4, 1}, Shape{0, 2, 2}}) {
    INFO("diag_part and trace of " << s.str());
    CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::diag_part(x[0]); },
                    Inputs{sample(s, -1, 1, 4)});
    CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::trace(x[0]); },
                    Inputs{sample(s, -1, 1, 4)});
  }
}

TEST_CASE("Second derivatives through outer, diag, diag_part and trace", "[ops][linalg][nested]") {
  const Tensor<double> v = sample({3}, -1, 1, 11);
  check_second_order([](const Tensor<double>& t) { return tapegrad::outer(t, t * t); }, v);
  // Each backward is the other op, so differentiating a gradient runs both.
  check_second_order([](const Tensor<double>& t) { return tapegrad::diag(t) * tapegrad::diag(t); },
                     v);
  check_second_order([](const Tensor<double>& t) { return tapegrad::matmul(tapegrad::diag(t), t); },
                     v);
  for (const Shape& s : {Shape{3, 3}, Shape{2, 3}, Shape{2, 3, 3}}) {
    INFO(s.str());
    const Tensor<double> m = sample(s, -1, 1, 12);
    check_second_order(
        [](const Tensor<double>& t) { return tapegrad::diag_part(t) * tapegrad::diag_part(t); }, m);
    check_second_order(
        [](const Tensor<double>& t) {
          return tapegrad::trace(tapegrad::matmul(t, t, false, true));
        },
        m);
  }
}

TEST_CASE("Linear algebra errors name the op and the shapes", "[ops][linalg][errors]") {
  const Tensor<double> a = Tensor<double>::ones({2, 3, 4});
  CHECK_THROWS_WITH(tapegrad::matmul(a, Tensor<double>::ones({3, 5, 6})),
                    "matmul: inner dimensions differ: [2,3,4] x [3,5,6]");
  CHECK_THROWS_WITH(tapegrad::matmul(a, Tensor<double>::ones({2, 4, 5}), true, false),
                    "matmul: inner dimensions differ: [2,3,4]^T x [2,4,5]");
  CHECK_THROWS_WITH(tapegrad::matmul(a, Tensor<double>::ones({3, 4, 5})),
                    "matmul: batch dimensions [2] and [3] do not broadcast: [2,3,4] x [3,4,5]");
  CHECK_THROWS_WITH(tapegrad::matmul(Tensor<double>::ones({2, 2, 3, 4}),
                                     Tensor<double>::ones({3, 5, 4}), false, true),
                    "matmul: batch dimensions [2,2] and [3] do not broadcast: [2,2,3,4] x "
                    "[3,5,4]^T");
  CHECK_THROWS_WITH(tapegrad::matmul(Tensor<double>(2.0), a),
                    "matmul: expected tensors of rank >= 1, got [] x [2,3,4]");
  CHECK_THROWS_WITH(tapegrad::matmul(a, Tensor<double>(2.0)),
                    "matmul: expected tensors of rank >= 1, got [2,3,4] x []");
  CHECK_THROWS_WITH(tapegrad::matmul(Tensor<double>::ones({4}), a),
                    "matmul: inner dimensions differ: [4] x [2,3,4]");
  CHECK_THROWS_WITH(tapegrad::matmul(a, Tensor<double>::ones({3})),
                    "matmul: inner dimensions differ: [2,3,4] x [3]");
  CHECK_THROWS_WITH(tapegrad::matmul(Tensor<double>::ones({3}), Tensor<double>::ones({4})),
                    "matmul: inner dimensions differ: [3] x [4]");
  CHECK_THROWS_WITH(tapegrad::outer(a, Tensor<double>::ones({3})),
                    "outer: expected two 1-D tensors, got [2,3,4] and [3]");
  CHECK_THROWS_WITH(tapegrad::diag(Tensor<double>(1.0)),
                    "diag: expected a tensor of rank >= 1 (the diagonal), got []");
  CHECK_THROWS_WITH(tapegrad::diag_part(Tensor<double>::ones({3})),
                    "diag_part: expected a tensor of rank >= 2 (matrices), got [3]");
  CHECK_THROWS_WITH(tapegrad::trace(Tensor<double>(1.0)),
                    "trace: expected a tensor of rank >= 2 (matrices), got []");
  // A failed op leaves a recording tape as it was.
  const Tensor<double> x = sample({2, 3}, -1, 1, 1);
  GradientTape tape;
  tape.watch(x);
  CHECK_THROWS_AS(tapegrad::matmul(x, x), tapegrad::shape_error);
  CHECK_THROWS_AS(tapegrad::matmul(tapegrad::reshape(x, {6}), x), tapegrad::shape_error);
  const Tensor<double> g = tape.gradient(tapegrad::sum(tapegrad::matmul(x, x, false, true)), x);
  // d sum(x x^T) / dx[i, j] = 2 * sum_r x[r, j].
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) CHECK(g.at(i, j) == Approx(2 * (x.at(0, j) + x.at(1, j))));
}
