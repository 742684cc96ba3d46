#include "test_util.hpp"

#include <cmath>
#include <limits>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using Inputs = std::vector<Tensor<double>>;
using tapegrad_test::sample;

TEST_CASE("max and min: values, axes, NaN and empty", "[ops][reduce]") {
  Tensor<double> m({{1.0, 5.0, 3.0}, {4.0, 2.0, 6.0}});
  CHECK(tapegrad::max(m).item() == 6.0);
  CHECK(tapegrad::min(m).item() == 1.0);
  CHECK(tapegrad::max(m, 0).to_vector() == std::vector<double>{4, 5, 6});
  CHECK(tapegrad::min(m, 1, true).shape() == Shape{2, 1});
  CHECK(tapegrad::min(m, -1).to_vector() == std::vector<double>{1, 2});
  CHECK(std::isnan(tapegrad::max(Tensor<double>({1.0, std::nan(""), 3.0})).item()));
  CHECK(tapegrad::max(Tensor<double>::zeros({0})).item() ==
        -std::numeric_limits<double>::infinity());
  CHECK_THROWS_WITH(tapegrad::max(m, 2),
                    "max: axis 2 is out of range for a tensor of rank 2 (expected -2 <= axis < 2)");
}

TEST_CASE("max and min split the gradient evenly between ties", "[ops][kinks]") {
  Tensor<double> x({{1.0, 3.0, 3.0}, {2.0, 2.0, 2.0}});
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  CHECK(tape.gradient(tapegrad::max(x, 1), x).to_vector() ==
        std::vector<double>{0, 0.5, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3});
  CHECK(tape.gradient(tapegrad::max(x), x).to_vector() ==
        std::vector<double>{0, 0.5, 0.5, 0, 0, 0});
  CHECK(tape.gradient(tapegrad::min(x, 0), x).to_vector() == std::vector<double>{1, 0, 0, 0, 1, 1});
}

TEST_CASE("max, min, logsumexp and softmax gradients match finite differences",
          "[ops][gradcheck]") {
  for (const Shape& s : {Shape{}, Shape{1}, Shape{4}, Shape{2, 3}, Shape{1, 3, 2}, Shape{3, 1}}) {
    INFO("shape " << s.str());
    const Inputs xs{sample(s, -2, 2, 3)};
    CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::max(x[0] * x[0]); }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::min(x[0] * x[0]); }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::logsumexp(x[0] * 3.0); }, xs);
    for (int axis = 0; axis < s.rank(); ++axis) {
      INFO("axis " << axis);
      for (bool keep : {false, true}) {
        CHECK_GRADIENTS([&](const Inputs& x) { return tapegrad::max(x[0], axis, keep); }, xs);
        CHECK_GRADIENTS([&](const Inputs& x) { return tapegrad::min(x[0], axis, keep); }, xs);
        CHECK_GRADIENTS([&](const Inputs& x) { return tapegrad::logsumexp(x[0], axis, keep); }, xs);
      }
      CHECK_GRADIENTS([&](const Inputs& x) { return tapegrad::softmax(x[0], axis); }, xs);
      CHECK_GRADIENTS([&](const Inputs& x) { return tapegrad::log_softmax(x[0], axis); }, xs);
    }
  }
}

TEST_CASE("logsumexp is stable: large inputs, and all -inf gives a finite gradient",
          "[ops][kinks]") {
  Tensor<double> big({1000.0, 1000.0});
  GradientTape tape;
  tape.watch(big);
  auto y = tapegrad::logsumexp(big);
  CHECK(y.item() == Approx(1000.0 + std::log(2.0)).epsilon(1e-15));
  CHECK(tape.gradient(y, big).to_vector() == std::vector<double>{0.5, 0.5});

  const double inf = std::numeric_limits<double>::infinity();
  Tensor<double> none({-inf, -inf, -inf});
  GradientTape tape2;
  tape2.watch(none);
  auto z = tapegrad::logsumexp(none);
  CHECK(z.item() == -inf);
  for (double g : tape2.gradient(z, none).to_vector()) CHECK(std::isfinite(g));
}

TEST_CASE("softmax rows sum to 1 and match the closed form", "[ops]") {
  Tensor<double> z({{1.0, 2.0, 3.0}, {-1000.0, 0.0, 1000.0}});
  auto p = tapegrad::softmax(z);
  const double e = std::exp(1.0), d = 1 + e + e * e;
  CHECK(p.at(0, 0) == Approx(1 / d).epsilon(1e-15));
  CHECK(p.at(0, 2) == Approx(e * e / d).epsilon(1e-15));
  CHECK(p.at(1, 2) == 1.0);
  CHECK(tapegrad::sum(p, 1).at(0) == Approx(1.0).epsilon(1e-15));
  CHECK(tapegrad::sum(p, 1).at(1) == 1.0);
  CHECK(tapegrad::log_softmax(z).at(1, 0) == -2000.0);  // no log(0)
}

TEST_CASE("softmax_cross_entropy and mse", "[ops][gradcheck]") {
  Tensor<double> labels({{0.0, 1.0, 0.0}, {0.2, 0.3, 0.5}});
  const Tensor<double> logits = sample({2, 3}, -2, 2, 5);
  auto ce = tapegrad::softmax_cross_entropy(labels, logits).to_vector();
  for (int b = 0; b < 2; ++b) {
    double lse = 0, dot = 0;
    for (int k = 0; k < 3; ++k) lse += std::exp(logits.at(b, k));
    lse = std::log(lse);
    for (int k = 0; k < 3; ++k) dot += labels.at(b, k) * (logits.at(b, k) - lse);
    CHECK(ce[static_cast<std::size_t>(b)] == Approx(-dot).epsilon(1e-14));
  }
  CHECK_GRADIENTS([&](const Inputs& x) { return tapegrad::softmax_cross_entropy(labels, x[0]); },
                  Inputs{logits});
  CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::mse(x[0], x[1]); },
                  Inputs{sample({2, 3}, -1, 1, 1), sample({3}, -1, 1, 2)});
  CHECK_THROWS_WITH(tapegrad::softmax_cross_entropy(Tensor<double>::ones({2, 2}), logits),
                    "softmax_cross_entropy: labels have shape [2,2] but logits have shape [2,3]; "
                    "they must match");
  // d CE / d logits = softmax(logits) - labels (rows of labels sum to 1).
  GradientTape tape;
  tape.watch(logits);
  auto g = tape.gradient(tapegrad::softmax_cross_entropy(labels, logits), logits);
  auto p = tapegrad::softmax(logits);
  for (int b = 0; b < 2; ++b)
    for (int k = 0; k < 3; ++k)
      CHECK(g.at(b, k) == Approx(p.at(b, k) - labels.at(b, k)).epsilon(1e-12).margin(1e-15));
}

TEST_CASE("Second derivatives of softmax and logsumexp", "[ops][nested]") {
  // d2/dx2 logsumexp(x) = diag(p) - p p^T; its sum over both indices is 0.
  Tensor<double> x({0.3, -0.2, 0.8});
  GradientTape outer;
  outer.watch(x);
  Tensor<double> g;
  {
    GradientTape inner;
    inner.watch(x);
    g = inner.gradient(tapegrad::logsumexp(x), x);
  }
  auto h_row_sums = outer.gradient(g, x).to_vector();
  for (double v : h_row_sums) CHECK(v == Approx(0.0).margin(1e-15));
  auto p = tapegrad::softmax(x);
  GradientTape outer2;
  outer2.watch(x);
  Tensor<double> g0;
  {
    GradientTape inner;
    inner.watch(x);
    g0 = inner.gradient(tapegrad::logsumexp(x), x);
  }
  const double p0 = p.at(0);
  auto h0 = outer2.gradient(tapegrad::sum(g0 * Tensor<double>({1.0, 0.0, 0.0})), x);
  CHECK(h0.at(0) == Approx(p0 - p0 * p0).epsilon(1e-13));
  CHECK(h0.at(1) == Approx(-p0 * p.at(1)).epsilon(1e-13));
}

TEST_CASE("NaN and inf propagate through softmax, logsumexp and maximum", "[ops][regression]") {
  const double inf = std::numeric_limits<double>::infinity();
  for (double v : tapegrad::softmax(Tensor<double>({std::nan(""), 0.0})).to_vector())
    CHECK(std::isnan(v));
  for (double v : tapegrad::softmax(Tensor<double>({inf, 0.0})).to_vector()) CHECK(std::isnan(v));
  Tensor<double> x({std::nan(""), 0.0});
  GradientTape tape;
  tape.watch(x);
  auto y = tapegrad::logsumexp(x);
  CHECK(std::isnan(y.item()));
  for (double g : tape.gradient(y, x).to_vector()) CHECK(std::isnan(g));
  auto m =
      tapegrad::maximum(Tensor<double>({1.0, std::nan("")}), Tensor<double>({std::nan(""), 1.0}));
  CHECK(std::isnan(m.at(0)));
  CHECK(std::isnan(m.at(1)));
}

TEST_CASE("selu and elu at infinity; pow's exponent gradient where the base is 0",
          "[ops][regression]") {
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(tapegrad::selu(Tensor<double>({inf})).item() == inf);
  Tensor<double> x({inf});
  {
    GradientTape outer;  // recording: the composed gradient is used
    GradientTape tape;
    tape.watch(x);
    CHECK(tape.gradient(tapegrad::elu(x), x).item() == 1.0);
  }
  Tensor<double> base({0.0, -8.0}), exponent({-1.0, 1.0 / 3});
  GradientTape tape;
  tape.watch(exponent);
  auto g = tape.gradient(tapegrad::pow(base, exponent), exponent).to_vector();
  CHECK(g == std::vector<double>{0.0, 0.0});
}
