#include "test_util.hpp"

#include <tapegrad/ops/losses.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using Inputs = std::vector<Tensor<double>>;
using tapegrad_test::sample;
using Labels = Tensor<std::int32_t>;

namespace {

/// Labels 0, 1, 2, ... cycling through `classes`, for a batch of `shape`.
Labels cycling_labels(const Shape& shape, std::int32_t classes) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(shape.size()));
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<std::int32_t>((i * 2 + 1) % static_cast<std::size_t>(classes));
  return Labels(shape, v);
}

/// Checks the second derivative of f at x: h = d/dx sum(v * g), g = d/dx sum(w * f(x)) taken
/// with nested tapes (the composed backward), against central differences of g taken with a
/// single tape (the fused backward).
void check_second_derivative(const std::function<Tensor<double>(const Tensor<double>&)>& f,
                             const Tensor<double>& x) {
  const Tensor<double> w = sample(f(x).shape(), 0.5, 1.5, 11);
  const Tensor<double> v = sample(x.shape(), 0.5, 1.5, 13);
  auto first = [&](const Tensor<double>& at) {
    GradientTape tape;
    tape.watch(at);
    return tape.gradient(tapegrad::sum(f(at) * w), at);
  };
  Tensor<double> h;
  {
    GradientTape outer;
    outer.watch(x);
    Tensor<double> g;
    {
      GradientTape inner;
      inner.watch(x);
      g = inner.gradient(tapegrad::sum(f(x) * w), x);
    }
    h = outer.gradient(tapegrad::sum(g * v), x);
  }
  const double eps = 1e-5;
  std::vector<double> values = x.to_vector();
  for (std::size_t j = 0; j < values.size(); ++j) {
    const double original = values[j];
    values[j] = original + eps;
    const double up = tapegrad::sum(first(Tensor<double>(x.shape(), values)) * v).item();
    values[j] = original - eps;
    const double down = tapegrad::sum(first(Tensor<double>(x.shape(), values)) * v).item();
    values[j] = original;
    const double numeric = (up - down) / (2 * eps);
    const double got = h.has_value() ? h.data()[j] : 0.0;  // no value: independent of x
    INFO("shape " << x.shape().str() << " element " << j);
    CHECK(got == Approx(numeric).margin(1e-6).epsilon(1e-5));
  }
}

}  // namespace

// ---- one_hot ----

TEST_CASE("one_hot places `on` at each index and `off` elsewhere", "[ops][losses]") {
  auto y = tapegrad::one_hot<double>(Labels({2, 0, 1}), 3);
  CHECK(y.shape() == Shape{3, 3});
  CHECK(y.to_vector() == std::vector<double>{0, 0, 1, 1, 0, 0, 0, 1, 0});

  static_assert(std::is_same_v<decltype(tapegrad::one_hot(Labels({0}), 2)), Tensor<float>>);
  CHECK(tapegrad::one_hot(Labels({1}), 2).to_vector() == std::vector<float>{0.f, 1.f});

  // int64 indices of rank 2, custom on/off; out-of-range indices (3, -1) give all-off rows.
  Tensor<std::int64_t> idx(Shape{2, 2}, std::vector<std::int64_t>{0, 3, -1, 2});
  auto z = tapegrad::one_hot<float>(idx, 3, 5.f, -1.f);
  CHECK(z.shape() == Shape{2, 2, 3});
  CHECK(z.to_vector() == std::vector<float>{5, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 5});

  auto scalar = tapegrad::one_hot<double>(Labels(std::int32_t{1}), 4);
  CHECK(scalar.shape() == Shape{4});
  CHECK(scalar.to_vector() == std::vector<double>{0, 1, 0, 0});

  CHECK(tapegrad::one_hot<double>(Labels({0, 1}), 0).shape() == Shape{2, 0});
  CHECK(tapegrad::one_hot<double>(Labels(Shape{0}), 3).shape() == Shape{0, 3});
  CHECK_THROWS_AS(tapegrad::one_hot<double>(Labels({0}), -1), tapegrad::value_error);
  CHECK_THROWS_WITH(tapegrad::one_hot<double>(Labels({0}), -1),
                    "one_hot: depth must be non-negative, got -1");
  CHECK_THROWS_AS(tapegrad::one_hot<double>(Labels(), 3), tapegrad::value_error);
  const Labels rank8(Shape{1, 1, 1, 1, 1, 1, 1, 1}, std::vector<std::int32_t>{0});
  CHECK_THROWS_WITH(tapegrad::one_hot<double>(rank8, 2),
                    "one_hot: indices of shape [1,1,1,1,1,1,1,1] have rank 8; the result would "
                    "exceed the maximum rank 8");
}

// ---- sparse_softmax_cross_entropy ----

TEST_CASE("sparse_softmax_cross_entropy: a hand-computed value and the dense form",
          "[ops][losses]") {
  // Logits (1, 2, 3), label 2: log(e + e^2 + e^3) - 3 = log(1 + e^-1 + e^-2).
  Tensor<double> logits({{1.0, 2.0, 3.0}, {0.5, -1.0, 2.0}});
  auto loss = tapegrad::sparse_softmax_cross_entropy(Labels({2, 1}), logits);
  CHECK(loss.shape() == Shape{2});
  CHECK(loss.at(0) == Approx(0.40760596444438030).epsilon(1e-15));
  CHECK(loss.at(0) == Approx(std::log(1 + std::exp(-1.0) + std::exp(-2.0))).epsilon(1e-15));
  CHECK(loss.at(1) ==
        Approx(std::log(std::exp(0.5) + std::exp(-1.0) + std::exp(2.0)) + 1.0).epsilon(1e-14));

  for (const Shape& s : {Shape{1, 4}, Shape{2, 3}, Shape{2, 2, 5}, Shape{3}}) {
    INFO("logits shape " << s.str());
    const Tensor<double> z = sample(s, -3, 3, 2);
    const Shape batch(s.begin(), s.end() - 1);
    const std::int32_t classes = static_cast<std::int32_t>(s[s.rank() - 1]);
    const Labels y = cycling_labels(batch, classes);
    const auto sparse = tapegrad::sparse_softmax_cross_entropy(y, z);
    const auto dense = tapegrad::softmax_cross_entropy(tapegrad::one_hot<double>(y, classes), z);
    CHECK(sparse.shape() == batch);
    for (std::int64_t i = 0; i < sparse.size(); ++i)
      CHECK(sparse.data()[i] == Approx(dense.data()[i]).epsilon(1e-14));
  }

  // float logits, int64 labels, a Variable.
  tapegrad::Variable<float> v({0.f, 0.f, 0.f, 0.f});
  auto f = tapegrad::sparse_softmax_cross_entropy(Tensor<std::int64_t>(std::int64_t{3}), v);
  CHECK(f.shape() == Shape{});
  CHECK(f.item() == Approx(std::log(4.0)).epsilon(1e-6));
}

TEST_CASE("sparse_softmax_cross_entropy: labels out of range and shape errors",
          "[ops][losses][errors]") {
  const Tensor<double> logits = sample({2, 3});
  CHECK_THROWS_AS(tapegrad::sparse_softmax_cross_entropy(Labels({0, 3}), logits),
                  std::out_of_range);
  CHECK_THROWS_WITH(tapegrad::sparse_softmax_cross_entropy(Labels({0, 3}), logits),
                    "sparse_softmax_cross_entropy: received a label value of 3 which is outside "
                    "the valid range of [0, 3) for 3 classes");
  CHECK_THROWS_WITH(tapegrad::sparse_softmax_cross_entropy(Labels({-1, 0}), logits),
                    "sparse_softmax_cross_entropy: received a label value of -1 which is outside "
                    "the valid range of [0, 3) for 3 classes");
  CHECK_THROWS_AS(tapegrad::sparse_softmax_cross_entropy(Labels({0, 1, 2}), logits),
                  tapegrad::shape_error);
  CHECK_THROWS_WITH(tapegrad::sparse_softmax_cross_entropy(Labels({0, 1, 2}), logits),
                    "sparse_softmax_cross_entropy: labels have shape [3] but logits have shape "
                    "[2,3]; labels must have the shape of logits without the class axis, [2]");
  CHECK_THROWS_WITH(
      tapegrad::sparse_softmax_cross_entropy(Labels(std::int32_t{0}), Tensor<double>(1.0)),
      "sparse_softmax_cross_entropy: logits must have a class axis, got shape []");
  // The error leaves a recording tape usable.
  GradientTape tape;
  tape.watch(logits);
  CHECK_THROWS(tapegrad::sparse_softmax_cross_entropy(Labels({0, 7}), logits));
  auto g = tape.gradient(
      tapegrad::sum(tapegrad::sparse_softmax_cross_entropy(Labels({0, 2}), logits)), logits);
  CHECK(g.shape() == Shape{2, 3});
}

TEST_CASE("sparse_softmax_cross_entropy: the gradient is softmax - one_hot; -inf off the label",
          "[ops][losses][gradcheck]") {
  const Tensor<double> z = sample({3, 4}, -2, 2, 4);
  const Labels y({3, 0, 2});
  GradientTape tape;
  tape.watch(z);
  auto g = tape.gradient(tapegrad::sum(tapegrad::sparse_softmax_cross_entropy(y, z)), z);
  auto p = tapegrad::softmax(z);
  for (int b = 0; b < 3; ++b)
    for (int k = 0; k < 4; ++k)
      CHECK(g.at(b, k) == Approx(p.at(b, k) - (k == y.at(b) ? 1.0 : 0.0)).margin(1e-15));

  // A masked (-inf) logit that is not the label leaves loss and gradient finite, as in TF.
  const double inf = std::numeric_limits<double>::infinity();
  Tensor<double> masked({-inf, 0.0, 1.0});
  GradientTape tape2;
  tape2.watch(masked);
  auto loss = tapegrad::sparse_softmax_cross_entropy(Labels(std::int32_t{2}), masked);
  CHECK(loss.item() == Approx(std::log(1 + std::exp(-1.0))).epsilon(1e-15));
  const double e = std::exp(1.0);
  auto gm = tape2.gradient(loss, masked).to_vector();
  CHECK(gm[0] == 0.0);
  CHECK(gm[1] == Approx(1 / (1 + e)).epsilon(1e-15));
  CHECK(gm[2] == Approx(e / (1 + e) - 1).epsilon(1e-14));

  for (const Shape& s :
       {Shape{1}, Shape{4}, Shape{1, 4}, Shape{2, 3}, Shape{2, 1, 3}, Shape{3, 1}}) {
    INFO("logits shape " << s.str());
    const Labels labels =
        cycling_labels(Shape(s.begin(), s.end() - 1), static_cast<std::int32_t>(s[s.rank() - 1]));
    const auto f = [&](const Tensor<double>& x) {
      return tapegrad::sparse_softmax_cross_entropy(labels, x);
    };
    CHECK_GRADIENTS([&](const Inputs& x) { return f(x[0]); }, Inputs{sample(s, -2, 2, 6)});
    check_second_derivative(f, sample(s, -2, 2, 6));
  }
}

// ---- sigmoid_cross_entropy ----

TEST_CASE("sigmoid_cross_entropy: the naive formula at moderate logits, stable at 1000",
          "[ops][losses]") {
  const Tensor<double> x = sample({2, 5}, -4, 4, 1);
  const Tensor<double> z = sample({2, 5}, 0, 1, 2);
  auto loss = tapegrad::sigmoid_cross_entropy(z, x).to_vector();
  for (std::size_t i = 0; i < loss.size(); ++i) {
    const double xi = x.data()[i], zi = z.data()[i];
    const double s = 1 / (1 + std::exp(-xi));
    CHECK(loss[i] == Approx(-zi * std::log(s) - (1 - zi) * std::log(1 - s)).epsilon(1e-13));
  }

  // max(x, 0) - x z + log1p(e^-|x|): 1000 - 300 + 0 and 0 + 700 + 0.
  Tensor<double> big({1000.0, -1000.0}), labels({0.3, 0.7});
  GradientTape tape;
  tape.watch(big);
  auto y = tapegrad::sigmoid_cross_entropy(labels, big);
  CHECK(y.to_vector() == std::vector<double>{700.0, 700.0});
  CHECK(tape.gradient(y, big).to_vector() == std::vector<double>{1.0 - 0.3, -0.7});

  Tensor<float> bigf({1000.f, -1000.f, 88.f, -104.f}), labelsf({1.f, 0.f, 0.5f, 0.25f});
  for (float v : tapegrad::sigmoid_cross_entropy(labelsf, bigf).to_vector())
    CHECK(std::isfinite(v));
  CHECK(tapegrad::sigmoid_cross_entropy(labelsf, bigf).at(0) == 0.f);

  CHECK_THROWS_AS(tapegrad::sigmoid_cross_entropy(Tensor<double>({1.0}), big),
                  tapegrad::shape_error);
  CHECK_THROWS_WITH(tapegrad::sigmoid_cross_entropy(Tensor<double>::ones({2, 1}), big),
                    "sigmoid_cross_entropy: labels have shape [2,1] but logits have shape [2]; "
                    "they must match");
}

TEST_CASE("sigmoid_cross_entropy: the gradient is sigmoid(x) - z, exactly 0.5 - z at x = 0",
          "[ops][losses][kinks]") {
  Tensor<double> x({0.0, 0.0, 0.0, 0.0}), z({0.0, 0.25, 0.5, 1.0});
  const std::vector<double> expected{0.5, 0.25, 0.0, -0.5};
  {
    GradientTape tape;  // fused first-order gradients
    tape.watch(x);
    CHECK(tape.gradient(tapegrad::sigmoid_cross_entropy(z, x), x).to_vector() == expected);
  }
  {
    GradientTape outer;  // a recording outer tape: the composed gradients
    GradientTape tape;
    tape.watch(x);
    CHECK(tape.gradient(tapegrad::sigmoid_cross_entropy(z, x), x).to_vector() == expected);
  }
  // Second derivative sigmoid'(0) = 1/4 for every label.
  GradientTape outer;
  outer.watch(x);
  Tensor<double> g;
  {
    GradientTape inner;
    inner.watch(x);
    g = inner.gradient(tapegrad::sigmoid_cross_entropy(z, x), x);
  }
  CHECK(outer.gradient(g, x).to_vector() == std::vector<double>{0.25, 0.25, 0.25, 0.25});
}

TEST_CASE("sigmoid_cross_entropy gradients match finite differences", "[ops][losses][gradcheck]") {
  for (const Shape& s : {Shape{}, Shape{1}, Shape{4}, Shape{2, 3}, Shape{1, 3, 1}}) {
    INFO("shape " << s.str());
    const Tensor<double> labels = sample(s, 0, 1, 3);
    // Both arguments: the gradient in the labels is -x.
    CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::sigmoid_cross_entropy(x[0], x[1]); },
                    Inputs{labels, sample(s, -3, 3, 5)});
    check_second_derivative(
        [&](const Tensor<double>& x) { return tapegrad::sigmoid_cross_entropy(labels, x); },
        sample(s, -3, 3, 5));
  }
}

// ---- huber ----

TEST_CASE("huber: quadratic inside delta, linear outside, continuous at the boundary",
          "[ops][losses]") {
  Tensor<double> a({0.5, -2.0, 1.0, -1.0, 0.0, 3.0}), b = Tensor<double>::zeros({6});
  // 0.5 d^2 for |d| <= 1; 1 * (|d| - 0.5) beyond.
  CHECK(tapegrad::huber(a, b).to_vector() == std::vector<double>{0.125, 1.5, 0.5, 0.5, 0.0, 2.5});
  // delta = 2: 0.5 d^2 for |d| <= 2, 2 (|d| - 1) beyond.
  CHECK(tapegrad::huber(a, b, 2.0).to_vector() ==
        std::vector<double>{0.125, 2.0, 0.5, 0.5, 0.0, 4.0});
  // a - b with broadcasting; float.
  Tensor<float> af({{1.f, 2.f}, {3.f, 0.5f}}), bf({0.5f, 0.f});
  CHECK(tapegrad::huber(af, bf).to_vector() == std::vector<float>{0.125f, 1.5f, 2.f, 0.125f});
  // The gradient is d clipped to [-delta, delta], delta sign(d) at the boundary, 0 at d = 0.
  {
    GradientTape tape(tapegrad::persistent);
    tape.watch(a);
    tape.watch(b);
    auto y = tapegrad::huber(a, b);
    CHECK(tape.gradient(y, a).to_vector() == std::vector<double>{0.5, -1, 1, -1, 0, 1});
    CHECK(tape.gradient(y, b).to_vector() == std::vector<double>{-0.5, 1, -1, 1, 0, -1});
  }
  {
    GradientTape outer;  // composed gradients
    GradientTape tape;
    tape.watch(a);
    CHECK(tape.gradient(tapegrad::huber(a, b, 2.0), a).to_vector() ==
          std::vector<double>{0.5, -2, 1, -1, 0, 2});
  }
  CHECK_THROWS_AS(tapegrad::huber(a, b, 0.0), tapegrad::value_error);
  CHECK_THROWS_WITH(tapegrad::huber(a, b, -1.0),
                    "huber: delta must be positive and finite, got -1.000000");
  CHECK_THROWS_AS(tapegrad::huber(a, b, std::numeric_limits<double>::infinity()),
                  tapegrad::value_error);
  CHECK_THROWS_AS(tapegrad::huber(a, Tensor<double>::zeros({4})), tapegrad::shape_error);
}

TEST_CASE("huber gradients match finite differences", "[ops][losses][gradcheck]") {
  for (const Shape& s : {Shape{}, Shape{1}, Shape{5}, Shape{2, 3}, Shape{3, 1, 2}}) {
    for (double delta : {1.0, 0.4}) {
      INFO("shape " << s.str() << " delta " << delta);
      const Tensor<double> target = sample(s, -1, 1, 7);
      CHECK_GRADIENTS([&](const Inputs& x) { return tapegrad::huber(x[0], x[1], delta); },
                      Inputs{sample(s, -2, 2, 8), target});
      check_second_derivative(
          [&](const Tensor<double>& x) { return tapegrad::huber(x, target, delta); },
          sample(s, -2, 2, 8));
    }
  }
  // Broadcasting: the gradient in b is summed back to its shape.
  CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::huber(x[0], x[1], 0.7); },
                  Inputs{sample({2, 3}, -2, 2, 1), sample({3}, -1, 1, 2)});
}
