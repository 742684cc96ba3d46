// Forward mode: ForwardAccumulator, jvp, jacfwd and hessian_vector_product, and how each
// composes with tapes, other accumulators, stop_gradient, stop_recording() and custom
// gradients (NOTE [ Forward mode ], NOTE [ Who sees a tangent's ops ]).

#include "test_util.hpp"

#include <tapegrad/testing/live_objects.hpp>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

namespace forward_mode {

namespace tg = tapegrad;
using tapegrad::ForwardAccumulator;
using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Source;
using tapegrad::Tensor;
using tapegrad::UnconnectedGradients;
using tapegrad::Variable;
using tapegrad_test::sample;

std::vector<double> values(const Tensor<double>& t) {
  return t.to_vector();
}

/// max |a - b| / max(1, |b|), elementwise.
double relative_difference(const Tensor<double>& a, const Tensor<double>& b) {
  REQUIRE(a.shape() == b.shape());
  double worst = 0;
  const auto va = a.to_vector(), vb = b.to_vector();
  for (std::size_t i = 0; i < va.size(); ++i)
    worst = std::max(worst, std::abs(va[i] - vb[i]) / std::max(1.0, std::abs(vb[i])));
  return worst;
}

/// A scalar function with matmul, broadcasting, a reduction and smooth nonlinearities.
Tensor<double> smooth_loss(const Tensor<double>& x) {
  const Tensor<double> w = sample({4, 3}, -1, 1, 3);
  const Tensor<double> h = tg::tanh(tg::matmul(tg::reshape(x, {2, 4}), w) + sample({3}, -1, 1, 4));
  return tg::sum(tg::square(h) * tg::sigmoid(h)) + tg::sum(tg::exp(x * 0.3));
}

/// H v by two nested tapes (reverse-over-reverse), the reference for forward-over-reverse.
Tensor<double> nested_tapes_hvp(Tensor<double> (*f)(const Tensor<double>&), const Tensor<double>& x,
                                const Tensor<double>& v) {
  GradientTape outer;
  outer.watch(x);
  Tensor<double> g;
  {
    GradientTape inner;
    inner.watch(x);
    g = inner.gradient(f(x), x);
  }
  return outer.gradient(tg::sum(g * v), x);
}

}  // namespace forward_mode

using namespace forward_mode;

TEMPLATE_TEST_CASE("A ForwardAccumulator gives each op's output its directional derivative",
                   "[forward]", float, double) {
  using T = TestType;
  const Tensor<T> x(Shape{3}, {T(0.5), T(1), T(2)});
  const Tensor<T> v(Shape{3}, {T(1), T(0), T(-1)});
  ForwardAccumulator acc(x, v);
  const Tensor<T> y = tg::sin(x) * x;
  const Tensor<T> dy = acc.jvp(y);
  REQUIRE(dy.has_value());
  const auto got = dy.to_vector();
  const auto xs = x.to_vector(), vs = v.to_vector();
  for (std::size_t i = 0; i < 3; ++i)
    CHECK(got[i] == Approx((std::sin(xs[i]) + xs[i] * std::cos(xs[i])) * vs[i]).margin(1e-6));
}

TEST_CASE("jvp of a primal is its tangent; of an unconnected tensor None, or zeros when asked",
          "[forward]") {
  const Tensor<double> before = sample({2}, -1, 1, 1);
  const Tensor<double> x = sample({2}, -1, 1, 2), t = sample({2}, -1, 1, 3);
  ForwardAccumulator acc(x, t);
  CHECK(values(acc.jvp(x)) == values(t));
  const Tensor<double> constant = sample({2}, -1, 1, 4) * 2.0;
  CHECK_FALSE(acc.jvp(constant).has_value());
  CHECK_FALSE(acc.jvp(before * 3.0).has_value());
  CHECK(values(acc.jvp(constant, UnconnectedGradients::zero)) == std::vector<double>{0, 0});
  // A tensor computed before the accumulator existed has no tangent, even from the same value.
  CHECK_FALSE(acc.jvp(before).has_value());
  // An integer result (a comparison) gets none.
  CHECK_NOTHROW(tg::greater(x, 0.0));
}

TEST_CASE("Tangents of a Variable primal reach every read of it", "[forward]") {
  Variable<double> w(sample({3}, 0.5, 2, 1), "w");
  Variable<double> other(sample({3}, 0.5, 2, 2), "other");
  const Tensor<double> t = sample({3}, -1, 1, 3);
  ForwardAccumulator acc(w, t);
  const Tensor<double> y = w * w + other;
  CHECK(relative_difference(acc.jvp(y), 2.0 * w.value() * t) < 1e-15);
  CHECK(values(acc.jvp(w)) == values(t));
  CHECK_FALSE(acc.jvp(other).has_value());
  CHECK_FALSE(acc.jvp(tg::exp(other)).has_value());
}

TEST_CASE("stop_gradient and stop_recording() cut tangents as they cut gradients", "[forward]") {
  const Tensor<double> x = sample({3}, 0.5, 2, 1), t = sample({3}, -1, 1, 2);
  GradientTape tape;
  ForwardAccumulator acc(x, t);
  // d/dx (stop(x) * x) = stop(x): only the second factor carries a tangent.
  const Tensor<double> y = tg::stop_gradient(x) * x;
  CHECK(relative_difference(acc.jvp(y), x * t) < 1e-15);
  Tensor<double> paused;
  {
    auto pause = tape.stop_recording();
    paused = tg::exp(x);
  }
  CHECK_FALSE(acc.jvp(paused).has_value());
  CHECK(acc.jvp(tg::exp(x)).has_value());
}

TEST_CASE("An accumulator made inside a stop_recording() scope gives tangents", "[forward]") {
  const Tensor<double> x = sample({3}, 0.5, 2, 1), t = sample({3}, -1, 1, 2);
  GradientTape tape;
  auto pause = tape.stop_recording();
  ForwardAccumulator acc(x, t);
  CHECK(relative_difference(acc.jvp(tg::exp(x)), tg::exp(x) * t) < 1e-15);
}

TEST_CASE("A custom gradient's tangent comes from its gradient function", "[forward]") {
  // The gradient function says 3 * g * exp(x), not the forward's derivative: forward mode
  // follows the custom rule, as the reverse sweep does.
  auto scaled_exp = tg::custom_gradient([](const Tensor<double>& x) {
    return std::make_pair(tg::exp(x),
                          [x](const Tensor<double>& g) { return 3.0 * g * tg::exp(x); });
  });
  const Tensor<double> x = sample({2, 2}, -1, 1, 1), t = sample({2, 2}, -1, 1, 2);
  ForwardAccumulator acc(x, t);
  const Tensor<double> y = scaled_exp(x);
  CHECK(relative_difference(acc.jvp(y), 3.0 * tg::exp(x) * t) < 1e-14);
  // Ops inside the custom forward gave no tangent of their own to y.
  const Tensor<double> inside_only = scaled_exp(tg::stop_gradient(x));
  CHECK_FALSE(acc.jvp(inside_only).has_value());
}

TEST_CASE("A custom gradient that reads variables gives tangents to inputs and variables",
          "[forward]") {
  Variable<double> w(sample({2}, 0.5, 1.5, 1), "w");
  auto scale = tg::custom_gradient([&w](const Tensor<double>& x) {
    auto grad = [x, &w](const Tensor<double>& g, const std::vector<Variable<double>>&) {
      return std::make_pair(std::vector<Tensor<double>>{g * w.value()},
                            std::vector<Tensor<double>>{g * x});
    };
    return std::make_pair(x * w.value(), grad);
  });
  const Tensor<double> x = sample({2}, -1, 1, 2), tx = sample({2}, -1, 1, 3),
                       tw = sample({2}, -1, 1, 4);
  ForwardAccumulator acc(std::vector<Source<double>>{x, w}, {tx, tw});
  const Tensor<double> y = scale(x);
  CHECK(relative_difference(acc.jvp(y), tx * w.value() + x * tw) < 1e-14);
}

TEST_CASE("A gradient function that opens a tape of its own gives the tangent", "[forward]") {
  // The rule differentiates its forward on a tape it makes while the accumulator computes the
  // tangent: that tape must record (it is made inside, not beside, the JVP computation).
  auto through_tape = tg::custom_gradient([](const Tensor<double>& x) {
    return std::make_pair(tg::sin(x), [x](const Tensor<double>& g) {
      GradientTape inner;
      inner.watch(x);
      return inner.gradient(std::vector<Tensor<double>>{tg::sin(x)}, std::vector<Source<double>>{x},
                            {g})[0];
    });
  });
  const Tensor<double> x = sample({3}, -1, 1, 1), t = sample({3}, -1, 1, 2);
  for (bool older_tape : {false, true}) {
    INFO("a tape made before the accumulator: " << older_tape);
    std::unique_ptr<GradientTape> tape;
    if (older_tape) tape = std::make_unique<GradientTape>();
    ForwardAccumulator acc(x, t);
    const Tensor<double> jv = acc.jvp(through_tape(x));
    REQUIRE(jv.has_value());
    CHECK(relative_difference(jv, tg::cos(x) * t) < 1e-15);
  }
}

TEST_CASE("A gradient function that throws under an accumulator leaves the tapes usable",
          "[forward]") {
  auto broken = tg::custom_gradient([](const Tensor<double>& x) {
    return std::make_pair(x * 2.0, [](const Tensor<double>&) -> Tensor<double> {
      throw std::runtime_error("broken gradient");
    });
  });
  const Tensor<double> x = sample({2}, -1, 1, 1), t = sample({2}, -1, 1, 2);
  GradientTape tape;
  tape.watch(x);
  ForwardAccumulator acc(x, t);
  const Tensor<double> y = tg::sin(x);
  const std::size_t entries = tape.internal_state().entries.size();
  CHECK_THROWS_WITH(broken(y), Catch::Contains("broken gradient"));
  // The op's own entry stays (nothing reaches it); what the JVP recorded is undone.
  CHECK(tape.internal_state().entries.size() <= entries + 1);
  const Tensor<double> z = tg::sum(y * y);
  CHECK(relative_difference(tape.gradient(z, x), 2.0 * tg::sin(x) * tg::cos(x)) < 1e-15);
}

TEST_CASE("Forward-over-reverse: an accumulator around gradient() gives H v, as two tapes do",
          "[forward][hvp]") {
  const Tensor<double> x = sample({8}, -1, 1, 1), v = sample({8}, -1, 1, 2);
  const Tensor<double> fwd = tg::hessian_vector_product(smooth_loss, x, v);
  const Tensor<double> rev = nested_tapes_hvp(smooth_loss, x, v);
  INFO(fwd << "\n" << rev);
  CHECK(relative_difference(fwd, rev) < 1e-12);
  // By hand: the accumulator outside, a tape inside.
  ForwardAccumulator acc(x, v);
  GradientTape tape;
  tape.watch(x);
  const Tensor<double> g = tape.gradient(smooth_loss(x), x);
  CHECK(relative_difference(acc.jvp(g), rev) < 1e-12);
}

TEST_CASE("Reverse-over-forward: a tape around an accumulator differentiates the JVP",
          "[forward][hvp]") {
  const Tensor<double> x = sample({8}, -1, 1, 1), v = sample({8}, -1, 1, 2);
  GradientTape tape;
  tape.watch(x);
  Tensor<double> jv;
  {
    ForwardAccumulator acc(x, v);
    jv = acc.jvp(smooth_loss(x));
  }
  REQUIRE(jv.has_value());
  CHECK(relative_difference(tape.gradient(jv, x), nested_tapes_hvp(smooth_loss, x, v)) < 1e-12);
}

TEST_CASE("A tape made inside an accumulator records the function, not the JVPs", "[forward]") {
  const Tensor<double> x = sample({4}, -1, 1, 1), v = sample({4}, -1, 1, 2);
  ForwardAccumulator acc(x, v);
  GradientTape tape;
  tape.watch(x);
  const Tensor<double> y = tg::sum(tg::sin(x) * x);
  CHECK(tape.internal_state().entries.size() == 3);  // sin, mul, sum
  // So it cannot differentiate acc.jvp(y): make the tape first (previous test).
  CHECK_FALSE(tape.gradient(acc.jvp(y), x).has_value());
}

TEST_CASE("Forward-over-forward: nested accumulators give second directional derivatives",
          "[forward]") {
  const Tensor<double> x = sample({3}, -1, 1, 1), u = sample({3}, -1, 1, 2),
                       v = sample({3}, -1, 1, 3);
  ForwardAccumulator outer(x, u);
  Tensor<double> inner_jvp;
  {
    ForwardAccumulator inner(x, v);
    const Tensor<double> y = x * x * x;
    inner_jvp = inner.jvp(y);
    // The outer tangent of y itself is the first derivative along u.
    CHECK(relative_difference(outer.jvp(y), 3.0 * x * x * u) < 1e-15);
  }
  // d/du (3 x^2 v) = 6 x u v.
  CHECK(relative_difference(outer.jvp(inner_jvp), 6.0 * x * u * v) < 1e-15);
}

TEST_CASE("Forward-over-forward through rules that read the op's output (exp, tanh)", "[forward]") {
  // The inner accumulator's rule for exp is t * y: the outer one must have y's tangent first.
  const Tensor<double> x = sample({3}, -1, 1, 1), u = sample({3}, -1, 1, 2),
                       v = sample({3}, -1, 1, 3);
  ForwardAccumulator outer(x, u);
  ForwardAccumulator inner(x, v);
  const Tensor<double> y = tg::exp(x);
  const Tensor<double> second = outer.jvp(inner.jvp(y));
  REQUIRE(second.has_value());
  CHECK(relative_difference(second, tg::exp(x) * u * v) < 1e-15);
  // tanh'' = -2 tanh (1 - tanh^2).
  const Tensor<double> t = tg::tanh(x);
  const Tensor<double> second_tanh = outer.jvp(inner.jvp(t));
  REQUIRE(second_tanh.has_value());
  CHECK(relative_difference(second_tanh, -2.0 * t * (1.0 - t * t) * u * v) < 1e-14);
}

TEST_CASE("A pause that outlives its tape no longer stops an accumulator", "[forward]") {
  const Tensor<double> x = sample({3}, -1, 1, 1), t = sample({3}, -1, 1, 2);
  ForwardAccumulator acc(x, t);
  auto tape = std::make_unique<GradientTape>();
  auto pause = tape->stop_recording();
  CHECK_FALSE(acc.jvp(tg::sin(x)).has_value());
  tape.reset();
  CHECK(acc.jvp(tg::sin(x)).has_value());
}

TEST_CASE("A tangent that needs a 65th nested tape is a tape_error, not a crash", "[forward]") {
  auto scaled = tg::custom_gradient([](const Tensor<double>& z) {
    return std::make_pair(z * 2.0, [](const Tensor<double>& g) { return g * 2.0; });
  });
  const Tensor<double> x = sample({2}, -1, 1, 1), t = sample({2}, -1, 1, 2);
  std::vector<std::unique_ptr<GradientTape>> tapes;
  for (int i = 0; i < 64; ++i) {
    tapes.push_back(std::make_unique<GradientTape>());
    tapes.back()->watch(x);
  }
  ForwardAccumulator acc(x, t);
  CHECK_THROWS_AS(scaled(x), tapegrad::tape_error);
  tapes.pop_back();
  CHECK(relative_difference(acc.jvp(scaled(x)), 2.0 * t) < 1e-15);
}

TEST_CASE("jvp() and jacfwd() agree with the tape's gradient and jacobian", "[forward]") {
  const Tensor<double> a = sample({2, 3}, -1, 1, 1);
  auto f = [&a](const Tensor<double>& x) { return tg::tanh(tg::matvec(a, x)) * 2.0; };
  const Tensor<double> x = sample({3}, -1, 1, 2);
  GradientTape tape(tg::persistent);
  tape.watch(x);
  const Tensor<double> y = f(x);
  const Tensor<double> reverse = tape.jacobian(y, x);
  const Tensor<double> forward = tg::jacfwd(f, x);
  CHECK(forward.shape() == Shape{2, 3});
  CHECK(relative_difference(forward, reverse) < 1e-15);
  const Tensor<double> t = sample({3}, -1, 1, 3);
  auto [value, derivative] = tg::jvp(f, x, t);
  CHECK(values(value) == values(y));
  CHECK(relative_difference(derivative, tg::matvec(reverse, t)) < 1e-15);
  // Several primals: f(a, b) = a * b, so d = ta * b + a * tb.
  const Tensor<double> b = sample({3}, -1, 1, 4), tb = sample({3}, -1, 1, 5);
  auto [ab, dab] = tg::jvp([](const std::vector<Tensor<double>>& p) { return p[0] * p[1]; },
                           std::vector<Tensor<double>>{x, b}, std::vector<Tensor<double>>{t, tb});
  CHECK(relative_difference(dab, t * b + x * tb) < 1e-15);
  // A 0-d input: jacfwd's result has the output's shape.
  const Tensor<double> s(Shape{}, 0.7);
  CHECK(tg::jacfwd([](const Tensor<double>& z) { return tg::exp(z) * 2.0; }, s).shape() == Shape{});
  // An input with no elements: no direction, and the result has f(x).shape + [0].
  const Tensor<double> empty = Tensor<double>::zeros({0});
  CHECK(tg::jacfwd([](const Tensor<double>& z) { return tg::sum(z) + Tensor<double>::ones({3}); },
                   empty)
            .shape() == Shape{3, 0});
}

TEST_CASE("ForwardAccumulator, jvp, jacfwd and hessian_vector_product refuse bad input",
          "[forward][errors]") {
  const Tensor<double> x = sample({3}, -1, 1, 1), t = sample({3}, -1, 1, 2);
  CHECK_THROWS_MATCHES(ForwardAccumulator(x, sample({2}, -1, 1, 3)), tapegrad::shape_error,
                       Catch::Matchers::Message("ForwardAccumulator: primal 0 has shape [3] but "
                                                "its tangent has shape [2]"));
  CHECK_THROWS_AS(ForwardAccumulator(std::vector<Source<double>>{x}, {t, t}),
                  tapegrad::value_error);
  CHECK_THROWS_WITH(ForwardAccumulator(std::vector<Source<double>>{x, x}, {t, t}),
                    Catch::Contains("given twice"));
  CHECK_THROWS_AS(ForwardAccumulator(x, Tensor<double>()), tapegrad::value_error);
  CHECK_THROWS_WITH(
      tg::hessian_vector_product([](const Tensor<double>& z) { return z * z; }, x, t),
      Catch::Contains("hessian_vector_product: f must return one element, not shape [3]"));
  int calls = 0;
  CHECK_THROWS_AS(
      tg::jacfwd([&calls](const Tensor<double>& z) { return ++calls == 1 ? z : tg::sum(z); }, x),
      tapegrad::shape_error);
  // A failed construction leaves nothing installed: ops run untouched afterwards.
  GradientTape tape;
  tape.watch(x);
  CHECK(tape.gradient(tg::sum(x * x), x).has_value());
}

TEST_CASE("Forward mode keeps no tape: tangents go with their primals", "[forward][memory]") {
  const auto baseline = tapegrad::testing::live_objects();
  auto chain = [](int n) {
    const Tensor<double> x = sample({4}, -1, 1, 1), t = sample({4}, -1, 1, 2);
    ForwardAccumulator acc(x, t);
    Tensor<double> y = x;
    std::int64_t peak = 0;
    for (int i = 0; i < n; ++i) {
      y = tg::sin(y) * 0.5 + x;
      peak = std::max(peak, tapegrad::testing::live_objects().tensors);
    }
    CHECK(acc.jvp(y).has_value());
    return peak;
  };
  const std::int64_t short_peak = chain(100), long_peak = chain(10000);
  if (baseline.counted) CHECK(long_peak == short_peak);
  CHECK(tapegrad::testing::live_objects() == baseline);
}

TEST_CASE("An accumulator watches its own thread only", "[forward][threads]") {
  const Tensor<double> x = sample({3}, -1, 1, 1), t = sample({3}, -1, 1, 2);
  ForwardAccumulator acc(x, t);
  Tensor<double> elsewhere;
  std::thread([&] { elsewhere = tg::exp(x); }).join();
  CHECK_FALSE(acc.jvp(elsewhere).has_value());
  CHECK(acc.jvp(tg::exp(x)).has_value());
}
