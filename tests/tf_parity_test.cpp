// Behaviours of tf.GradientTape that TensorFlow's own tests pin down, ported: each test names
// the TensorFlow (or PyTorch) test it comes from. The facts and expected values carry over;
// docs/tf_parity.md lists every row of the surface these tests pin.
#include "test_util.hpp"

#include <cctype>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

using Catch::Contains;
using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using tapegrad::UnconnectedGradients;
using tapegrad::Variable;

// backprop_test.py: testWatchedVariablesAfterNonPersistentGradientCall
TEST_CASE("tf parity: watched_variables survives a non-persistent gradient()", "[tf_parity]") {
  Variable<double> x(Tensor<double>(1.0), "x");
  GradientTape tape;
  tape.watch(x);
  tape.stop();
  const auto grad = tape.gradient(x, x);
  REQUIRE(grad.has_value());
  CHECK(grad.item() == 1.0);
  const auto watched = tape.watched_variables<double>();
  REQUIRE(watched.size() == 1);
  CHECK(watched[0].state() == x.state());
  // The spent tape refuses a new watch rather than pile it onto a record it has forgotten.
  CHECK_THROWS_AS(tape.watch(x), tapegrad::tape_error);
  CHECK(tape.watched_variables<double>().size() == 1);
}

// backprop_test.py: testWatchedVariablesRespectReset
TEST_CASE("tf parity: reset() forgets the watched variables", "[tf_parity]") {
  Variable<double> v1(Tensor<double>(1.0), "v1"), v2(Tensor<double>(2.0), "v2");
  GradientTape tape(tapegrad::persistent);
  tape.watch(v1);
  CHECK(tape.watched_variables<double>().size() == 1);
  tape.reset();
  CHECK(tape.watched_variables<double>().empty());
  tape.watch(v2);
  REQUIRE(tape.watched_variables<double>().size() == 1);
  CHECK(tape.watched_variables<double>()[0].name() == "v2");
}

// backprop.py's docstring of watched_variables: "in order of construction"
TEST_CASE("tf parity: watched_variables lists variables in construction order", "[tf_parity]") {
  Variable<float> a({1.f}, "a"), b({2.f}, "b"), c({3.f}, "c");
  GradientTape tape;
  auto y = c * b * a;  // read in the reverse order
  const auto watched = tape.watched_variables<float>();
  REQUIRE(watched.size() == 3);
  CHECK(watched[0].name() == "a");
  CHECK(watched[1].name() == "b");
  CHECK(watched[2].name() == "c");
}

// backprop_test.py: testGradientWithVariableTarget-style: a variable target is known by its
// handle, not by a read, so it works after the recording block.
TEST_CASE("tf parity: a Variable target after stop() or inside stop_recording()", "[tf_parity]") {
  Variable<double> v(Tensor<double>({1.0, 2.0}), "v");
  Tensor<double> x(3.0), y(4.0);
  {
    GradientTape tape(tapegrad::persistent);
    tape.watch(v);
    tape.watch(x);
    tape.watch(y);
    tape.stop();
    CHECK(tape.gradient(v, v).to_vector() == std::vector<double>{1.0, 1.0});
    const auto grads = tape.gradient(v, {x, y, v});
    CHECK_FALSE(grads[0].has_value());
    CHECK_FALSE(grads[1].has_value());
    CHECK(grads[2].to_vector() == std::vector<double>{1.0, 1.0});
    CHECK(tape.jacobian(v, v).to_vector() == std::vector<double>{1.0, 0.0, 0.0, 1.0});
    CHECK_THAT(tape.explain(v, v), Contains("The target is the source itself"));
  }
  {
    GradientTape tape(tapegrad::persistent);
    tape.watch(v);
    auto pause = tape.stop_recording();
    CHECK(tape.gradient(v, v).to_vector() == std::vector<double>{1.0, 1.0});
  }
  {
    // A variable this tape never watched: None, and explain() says why.
    Variable<double> other(Tensor<double>(1.0), "other");
    GradientTape tape(tapegrad::persistent);
    tape.watch(v);
    tape.stop();
    CHECK_FALSE(tape.gradient(other, v).has_value());
    CHECK_THAT(tape.explain(other, v), Contains("a variable this tape never watched"));
  }
}

// backprop_test.py (BatchJacobianTest): batch_jacobian needs targets and sources of rank >= 2
TEST_CASE("tf parity: batch_jacobian refuses ranks below 2", "[tf_parity]") {
  Tensor<double> x({1.0, 2.0, 3.0});
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  auto y = x * x;
  CHECK_THROWS_AS(tape.batch_jacobian(y, x), tapegrad::shape_error);
  CHECK_THROWS_WITH(tape.batch_jacobian(y, x), Contains("Shape (3,) must have rank at least 2"));
  auto x2 = tapegrad::reshape(x, {3, 1});
  auto y1 = tapegrad::sum(x2, 1);  // [3]
  CHECK_THROWS_AS(tape.batch_jacobian(y1, x2), tapegrad::shape_error);
  CHECK_THROWS_WITH(tape.batch_jacobian(y1, x2), Contains("must have rank at least 2 (the target"));
  // The tape is still usable after the refusal.
  auto y2 = x2 * x2;
  CHECK(tape.batch_jacobian(y2, x2).to_vector() == std::vector<double>{2.0, 4.0, 6.0});
}

// unconnected_gradients.py / imperative_grad.py: "Unknown value for unconnected_gradients"
TEST_CASE("tf parity: an unknown UnconnectedGradients value is refused", "[tf_parity]") {
  Tensor<double> x(2.0);
  GradientTape tape;
  tape.watch(x);
  auto y = x * x;
  const auto bad = static_cast<UnconnectedGradients>(7);
  CHECK_THROWS_AS(tape.gradient(y, x, bad), tapegrad::value_error);
  CHECK_THROWS_WITH(tape.gradient(y, x, bad),
                    Contains("Unknown value for unconnected_gradients: 7"));
  CHECK_THROWS_AS(tape.jacobian(y, x, bad), tapegrad::value_error);
  CHECK_THROWS_AS(tape.batch_jacobian(y, x, bad), tapegrad::value_error);
  // Refused before anything was spent: the non-persistent tape still answers once.
  CHECK(tape.gradient(y, x).item() == 4.0);
}

// tf.linalg.matvec's contract: [..., m, n] x [..., n] -> [..., m], batch dimensions broadcast
TEST_CASE("tf parity: matvec", "[tf_parity]") {
  const Tensor<double> a({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  const Tensor<double> x({1.0, 0.0, -1.0});
  CHECK(tapegrad::matvec(a, x).to_vector() == std::vector<double>{-2.0, -2.0});
  CHECK(tapegrad::matvec(a, Tensor<double>({1.0, 1.0}), true).to_vector() ==
        std::vector<double>{5.0, 7.0, 9.0});
  CHECK(tapegrad::matvec(tapegrad::stack<double>({a, a * 2.0}, 0), x).shape() == Shape{2, 2});
  CHECK(tapegrad::matvec(a, tapegrad::stack<double>({x, x, x}, 0)).shape() == Shape{3, 2});
  CHECK_THROWS_AS(tapegrad::matvec(a, Tensor<double>({1.0, 2.0})), tapegrad::shape_error);
  CHECK_THROWS_WITH(tapegrad::matvec(a, Tensor<double>({1.0, 2.0})),
                    Contains("matvec: the matrix [2,3] has 3 columns but the vector [2] has "
                             "length 2"));
  CHECK_THROWS_WITH(tapegrad::matvec(x, x), Contains("matvec: expected a matrix"));
}

// array_ops.identity: a new tensor that the tape records as an op of its own
TEST_CASE("tf parity: identity is an op of its own on the tape", "[tf_parity]") {
  Tensor<double> x({1.0, 2.0});
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  Tensor<double> y;
  {
    auto pause = tape.stop_recording();
    y = tapegrad::identity(x);  // not recorded: y is a constant to the tape, unlike x
  }
  auto z = tapegrad::identity(x) * 3.0;
  CHECK(tape.gradient(z, x).to_vector() == std::vector<double>{3.0, 3.0});
  CHECK_FALSE(tape.gradient(y * 3.0, x).has_value());
  CHECK_THAT(tape.explain(z, x), Contains("source -> identity -> mul -> target"));
}

// clip_ops.clip_by_value with tensor bounds: maximum(minimum(x, hi), lo)
TEST_CASE("tf parity: clip_by_value with tensor bounds", "[tf_parity]") {
  Tensor<double> x({-3.0, 0.5, 3.0}), lo(-1.0), hi({1.0, 1.0, 2.0});
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  tape.watch(lo);
  tape.watch(hi);
  auto y = tapegrad::clip_by_value(x, lo, hi);
  CHECK(y.to_vector() == std::vector<double>{-1.0, 0.5, 2.0});
  const auto grads = tape.gradient(tapegrad::sum(y), {x, lo, hi});
  CHECK(grads[0].to_vector() == std::vector<double>{0.0, 1.0, 0.0});
  CHECK(grads[1].item() == 1.0);  // clipped from below once
  CHECK(grads[2].to_vector() == std::vector<double>{0.0, 0.0, 1.0});
  CHECK_THROWS_AS(tapegrad::clip_by_value(x, hi, lo), tapegrad::value_error);
  CHECK_THROWS_WITH(tapegrad::clip_by_value(x, hi, lo),
                    Contains("clip_by_value: a lower bound is above its upper bound"));
}

// A deliberate deviation (README, "Where tapegrad differs from TensorFlow"): the exact
// derivative of softmax cross-entropy, also for labels that do not sum to 1.
TEST_CASE("tf parity (deviation): softmax_cross_entropy's exact gradient", "[tf_parity]") {
  Tensor<double> logits({0.5, -1.0, 2.0}), labels({1.0, 0.5, 0.5});  // labels sum to 2
  GradientTape tape(tapegrad::persistent);
  tape.watch(logits);
  tape.watch(labels);
  auto loss = tapegrad::softmax_cross_entropy(labels, logits);
  const auto p = tapegrad::softmax(logits).to_vector();
  const auto g = tape.gradient(loss, logits).to_vector();
  const auto l = labels.to_vector();
  for (std::size_t i = 0; i < 3; ++i) CHECK(g[i] == Approx(2.0 * p[i] - l[i]).epsilon(1e-14));
  const auto gl = tape.gradient(loss, labels).to_vector();
  const auto ls = tapegrad::log_softmax(logits).to_vector();
  for (std::size_t i = 0; i < 3; ++i) CHECK(gl[i] == Approx(-ls[i]).epsilon(1e-14));
}

// ---- Ported from tensorflow/python/eager/backprop_test.py (BT) and the TensorFlow docs ----

namespace {
std::vector<double> values_of(const std::vector<Tensor<double>>& ts) {
  std::vector<double> out;
  for (const auto& t : ts) out.push_back(t.has_value() ? t.item() : -999.0);  // -999: None
  return out;
}
}  // namespace

TEST_CASE("BT testTapeNoOpGradient, testTapeIdentityGradientIsIdentity", "[tf_parity]") {
  Tensor<double> x(3.0);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  CHECK(tape.gradient(x, x).item() == 1.0);
  CHECK(tape.gradient(tapegrad::identity(x), x).item() == 1.0);
  // tape.h's sources_that_are_targets: ones even for what the tape never saw.
  Tensor<double> unseen({1.0, 2.0});
  Variable<double> v(Tensor<double>(4.0));
  CHECK(tape.gradient(unseen, unseen).to_vector() == std::vector<double>{1.0, 1.0});
  CHECK(tape.gradient(v, v).item() == 1.0);
  CHECK(tape.gradient({unseen, unseen}, {unseen}, {})[0].to_vector() ==
        std::vector<double>{2.0, 2.0});
  CHECK_THAT(tape.explain(unseen, unseen), Contains("The target is the source itself"));
}

TEST_CASE("BT testTwoTargets and the multi-target no-op tests (the gradient of the sum)",
          "[tf_parity]") {
  Tensor<double> x(3.0), y(2.0);
  {
    GradientTape tape;
    tape.watch(x);
    tape.watch(y);
    const auto g = tape.gradient({x * 2.0, y * 3.0}, {x, y}, {});
    CHECK(values_of(g) == std::vector<double>{2.0, 3.0});  // testTwoTargets
  }
  {
    Tensor<double> x2(2.0);
    GradientTape tape;
    tape.watch(x2);
    auto sq = x2 * x2;
    CHECK(tape.gradient({x2, sq}, {x2}, {})[0].item() == 5.0);  // ...MultiTargetOneIsSource
  }
  {
    GradientTape tape;
    tape.watch(x);
    CHECK(tape.gradient({x, x}, {x}, {})[0].item() == 2.0);  // ...MultiTargetAllSource
  }
  {
    Tensor<double> a(3.0), b(5.0);
    GradientTape tape;
    tape.watch(a);
    tape.watch(b);
    auto z = b * b;
    const auto g = tape.gradient({a, b, z}, {a, b}, {});  // ...MultiTargetMultiSource
    CHECK(values_of(g) == std::vector<double>{1.0, 11.0});
  }
  {
    Tensor<double> a(Shape{2, 2}, 2.0);
    GradientTape tape(tapegrad::persistent);
    tape.watch(a);
    CHECK(tape.gradient(a, a).to_vector() == std::vector<double>(4, 1.0));  // ...2By2
    CHECK(tape.gradient({a, a}, {a}, {})[0].to_vector() == std::vector<double>(4, 2.0));
  }
}

TEST_CASE("BT testNoOpBehaviorConsistent: equal values are still separate sources", "[tf_parity]") {
  Tensor<double> x(10.0);
  auto x1 = tapegrad::identity(x);
  auto x2 = x + 0.0;
  auto x3 = x - 0.0;
  auto x4 = x * 1.0;
  GradientTape tape;
  for (const auto* t : {&x, &x1, &x2, &x3, &x4}) tape.watch(*t);
  auto loss = x * 2.0 + x1 * 3.0 + x2 * 3.0 + x3 * 3.0 + x4 * 3.0;
  CHECK(values_of(tape.gradient(loss, {x, x1, x2, x3, x4})) ==
        std::vector<double>{2.0, 3.0, 3.0, 3.0, 3.0});
}

TEST_CASE("BT testDifferentiatingScalarCache, testVariablesAndConstantsProduceTheSameGradients",
          "[tf_parity]") {
  {
    Tensor<double> x1(3.0), x2(3.0);
    GradientTape tape;
    tape.watch(x1);
    tape.watch(x2);
    CHECK(tape.gradient(x1 + x2, {x1})[0].item() == 1.0);
  }
  {
    Tensor<double> a(2.0), b(2.0);
    GradientTape tape;
    tape.watch(a);
    tape.watch(b);
    auto y = a * a * a, z = b * b;
    CHECK(values_of(tape.gradient({y, z}, {a, b}, {})) == std::vector<double>{12.0, 4.0});
  }
  {
    Variable<double> a(Tensor<double>(2.0)), b(Tensor<double>(2.0));
    GradientTape tape;
    auto y = a * a * a, z = b * b;
    CHECK(values_of(tape.gradient({y, z}, {a, b}, {})) == std::vector<double>{12.0, 4.0});
  }
}

TEST_CASE("BT testWhereGradient, testGradientNone", "[tf_parity]") {
  for (const auto& [at, expected] : {std::pair{5.0, 1.0}, std::pair{50.0, 100.0}}) {
    Tensor<double> x(at);
    GradientTape tape;
    tape.watch(x);
    auto f = tapegrad::where(x < 10.0, x, x * x);
    CHECK(tape.gradient(f, x).item() == expected);
  }
  Tensor<double> logits({{0.0, 0.0}}), labels({{1.0, 0.0}});
  GradientTape tape;
  tape.watch(logits);
  auto loss = tapegrad::mean(tapegrad::softmax_cross_entropy(labels, logits), 0);
  CHECK(tape.gradient(loss, logits).to_vector() == std::vector<double>{-0.5, 0.5});
}

TEST_CASE("BT testPersistentTape, testPersistentGradientTapeRepeatedSource", "[tf_parity]") {
  Tensor<double> x(3.0), y(5.0);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  tape.watch(y);
  auto sq = x * x;
  auto z = sq * sq;
  CHECK(tape.gradient(z, x).item() == 108.0);
  CHECK(tape.gradient(sq, x).item() == 6.0);
  auto w = x * x + x * y;
  CHECK(values_of(tape.gradient(w, {x, x})) == std::vector<double>{11.0, 11.0});
  CHECK(values_of(tape.gradient(w, {y, x})) == std::vector<double>{5.0 - 2.0, 11.0});
}

TEST_CASE("BT testGradientTapeRepeatedSource", "[tf_parity]") {
  Tensor<double> x(3.0);
  GradientTape tape;
  tape.watch(x);
  CHECK(values_of(tape.gradient(x * 2.0, {x, x})) == std::vector<double>{2.0, 2.0});
}

TEST_CASE("BT testGradientTape{Gradient,Jacobian,BatchJacobian}CalledMultipleTimes",
          "[tf_parity]") {
  const std::string once = "A non-persistent GradientTape can only be used to compute one set";
  {
    Tensor<double> x(3.0);
    GradientTape tape;
    tape.watch(x);
    auto y = x * x;
    auto z = y * y;
    (void)tape.gradient(z, {x});
    CHECK_THROWS_AS(tape.gradient(y, {x}), tapegrad::tape_error);
    CHECK_THROWS_WITH(tape.gradient(y, {x}), Contains(once));
  }
  {
    Tensor<double> x(3.0);
    GradientTape tape;
    tape.watch(x);
    auto y = x * x;
    auto z = y * y;
    (void)tape.jacobian(z, x);
    CHECK_THROWS_WITH(tape.jacobian(y, x), Contains(once));
  }
  {
    Tensor<double> x({{3.0}});
    GradientTape tape;
    tape.watch(x);
    auto y = x * x;
    auto z = y * y;
    CHECK(tape.batch_jacobian(z, x).to_vector() == std::vector<double>{108.0});
    CHECK_THROWS_WITH(tape.batch_jacobian(y, x), Contains(once));
  }
}

TEST_CASE(
    "BT testGradientWithinTapeBlock, testJacobianInsideGradientTapeScope, "
    "testBatchJacobianInsideGradientTapeScope",
    "[tf_parity]") {
  for (bool persistent : {false, true}) {
    Variable<double> v1(Tensor<double>(1.0));
    GradientTape tape(tapegrad::TapeOptions{persistent, true});
    auto loss = v1 * v1;
    const auto g = tape.gradient(loss, v1);
    CHECK(g.item() == 2.0);  // inside the block: no error
    // A non-persistent tape has stopped recording; a persistent one recorded the gradient's
    // computation, which it can differentiate again.
    CHECK(tape.recording() == persistent);
    if (persistent) CHECK(tape.gradient(g, v1).item() == 2.0);
  }
  {
    Tensor<double> x(3.0);
    GradientTape tape;
    tape.watch(x);
    auto y = x * x;
    auto z = y * y;
    CHECK(tape.jacobian(z, x).item() == 108.0);
  }
  {
    Tensor<double> x({{3.0}});
    GradientTape tape(tapegrad::persistent);
    tape.watch(x);
    auto y = x * x;
    auto z = y * y;
    CHECK(tape.batch_jacobian(z, x).to_vector() == std::vector<double>{108.0});
  }
}

TEST_CASE("BT testHigherOrderGradient: one persistent tape that records its own gradients",
          "[tf_parity]") {
  Tensor<double> x(3.0);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  auto y = x * x * x;
  auto dy = tape.gradient(y, x);
  auto d2 = tape.gradient(dy, x);
  tape.stop();
  auto d3 = tape.gradient(d2, x);
  CHECK(y.item() == 27.0);
  CHECK(dy.item() == 27.0);
  CHECK(d2.item() == 18.0);
  CHECK(d3.item() == 6.0);
}

TEST_CASE("BT testGradientTape, testPersistentNestedTape", "[tf_parity]") {
  for (bool persistent : {false, true}) {
    Tensor<double> x(3.0);
    GradientTape g(tapegrad::TapeOptions{persistent, true});
    g.watch(x);
    auto y = x * x;
    Tensor<double> z, inner;
    {
      GradientTape gg(tapegrad::TapeOptions{persistent, true});
      gg.watch(y);
      z = y * 2.0;
      inner = gg.gradient(z, {y})[0];
      CHECK(inner.item() == 2.0);
      if (persistent) CHECK(gg.gradient(z, {y})[0].item() == 2.0);
    }
    y = y + inner;
    if (!persistent) {
      CHECK(g.gradient(y, {x})[0].item() == 6.0);
    } else {
      CHECK(g.gradient(y, {x})[0].item() == 6.0);
      CHECK(g.gradient(z, {x})[0].item() == 12.0);
    }
  }
}

TEST_CASE("BT testNestedGradients: intermediates are sources without a watch", "[tf_parity]") {
  Tensor<double> x(3.0);
  GradientTape tape;
  tape.watch(x);
  auto y = x * x;
  auto z = y * y;
  CHECK(values_of(tape.gradient(z, {x, y})) == std::vector<double>{108.0, 18.0});
}

TEST_CASE("BT testWatchingIsTapeLocal", "[tf_parity]") {
  Variable<double> x1(Tensor<double>(2.0), "x1", false), x2(Tensor<double>(2.0), "x2", false);
  GradientTape tape1;
  tape1.watch(x1);
  std::vector<Tensor<double>> first;
  {
    GradientTape tape2;
    tape2.watch(x1);
    tape2.watch(x2);
    auto y = x1 * x1 * x1;
    auto z = x2 * x2;
    first = tape2.gradient({y, z}, {x1, x2}, {});
  }
  CHECK(values_of(first) == std::vector<double>{12.0, 4.0});
  const auto second = tape1.gradient({first[0], first[1]}, {x1, x2}, {});
  CHECK(second[0].item() == 12.0);
  CHECK_FALSE(second[1].has_value());  // tape1 never watched x2
}

TEST_CASE("BT testGradGrad, testGradGradExp", "[tf_parity]") {
  for (const auto& [at, expected, use_exp] :
       {std::tuple{3.0, 2.0, false}, std::tuple{0.0, 1.0, true}}) {
    Tensor<double> x(at);
    GradientTape outer;
    outer.watch(x);
    Tensor<double> dy;
    {
      GradientTape inner;
      inner.watch(x);
      auto y = use_exp ? tapegrad::exp(x) : x * x;
      dy = inner.gradient(y, x);
    }
    CHECK(outer.gradient(dy, x).item() == expected);
  }
}

TEST_CASE("BT testSelectivelyWatchVariables", "[tf_parity]") {
  Variable<double> x1(Tensor<double>(1.0), "x1"), x2(Tensor<double>(1.0), "x2");
  GradientTape tape(tapegrad::TapeOptions{false, false});
  tape.watch(x2);
  auto y = x1 * x1;
  auto z = x2 * x2 * x2;
  const auto watched = tape.watched_variables<double>();
  REQUIRE(watched.size() == 1);
  CHECK(watched[0].state() == x2.state());
  const auto g = tape.gradient({y, z}, {x1, x2}, {});
  CHECK_FALSE(g[0].has_value());
  CHECK(g[1].item() == 3.0);
}

TEST_CASE("BT testAutomaticWatchedVariables, testExplicitWatchedVariables", "[tf_parity]") {
  for (bool explicit_watch : {false, true}) {
    GradientTape tape;
    CHECK(tape.watched_variables<double>().empty());
    Variable<double> v(Tensor<double>(1.0), "v");
    if (explicit_watch) tape.watch(v);
    auto loss = v * v;
    REQUIRE(tape.watched_variables<double>().size() == 1);
    tape.reset();
    CHECK(tape.watched_variables<double>().empty());
    if (explicit_watch) tape.watch(v);
    loss = loss + v * v;
    REQUIRE(tape.watched_variables<double>().size() == 1);
    CHECK(tape.watched_variables<double>()[0].state() == v.state());
    CHECK(tape.gradient(loss, v).item() == 2.0);  // testTapeReset: only the second term
  }
}

TEST_CASE("BT testTapeNoOpOnVariableIsIdentity, testGradientTapeVariable", "[tf_parity]") {
  Variable<double> v(Tensor<double>(1.0));
  GradientTape tape(tapegrad::persistent);
  auto read = v.value();
  CHECK(tape.gradient(read, v).item() == 1.0);
  CHECK(tape.gradient(v * v, v).item() == 2.0);
}

TEST_CASE("BT testPythonMax, testGadientTapeCalledOnConstantTarget: variable targets",
          "[tf_parity]") {
  std::vector<Variable<double>> x{Variable<double>(Tensor<double>(2.0)),
                                  Variable<double>(Tensor<double>(3.0)),
                                  Variable<double>(Tensor<double>(5.0))};
  {
    GradientTape tape;
    for (const auto& v : x) tape.watch(v);  // Python's max() reads each one
    const Variable<double>& f = x[2];       // ... and returns the variable itself
    const auto g = tape.gradient(f, x);
    CHECK_FALSE(g[0].has_value());
    CHECK_FALSE(g[1].has_value());
    CHECK(g[2].item() == 1.0);
  }
  {
    GradientTape tape;
    Variable<double> a(Tensor<double>({3.0})), b(Tensor<double>({2.0}));
    CHECK_FALSE(tape.gradient(a, b).has_value());
  }
}

TEST_CASE("BT testGradientTapeReEnterContext, testNestedSelfContexts", "[tf_parity]") {
  Tensor<double> x(3.0);
  GradientTape tape;
  tape.watch(x);
  auto y = x * 2.0;
  tape.stop();
  tape.start();
  CHECK_THROWS_AS(tape.start(), tapegrad::tape_error);
  CHECK_THROWS_WITH(tape.start(), Contains("Tape is still recording, This can happen if you try "
                                           "to re-enter an already-active tape."));
  auto z = y * 2.0;
  CHECK(tape.gradient(z, {x})[0].item() == 4.0);
}

TEST_CASE("tf.Variable docs: trainable and non-trainable variables on a tape", "[tf_parity]") {
  Variable<double> trainable(Tensor<double>(1.0));
  Variable<double> non_trainable(Tensor<double>(2.0), "", false);
  GradientTape tape(tapegrad::persistent);
  auto x1 = trainable * 2.0;
  auto x2 = non_trainable * 3.0;
  CHECK(tape.gradient(x1, trainable).item() == 2.0);
  CHECK_FALSE(tape.gradient(x2, non_trainable).has_value());
}

TEST_CASE("BT testTapeStopRecording, testTapeStopStartRecording", "[tf_parity]") {
  {
    Variable<double> x(Tensor<double>(1.0));
    GradientTape tape;
    Tensor<double> y;
    {
      auto pause = tape.stop_recording();
      y = x * x;
    }
    CHECK_FALSE(tape.gradient(y, x).has_value());
  }
  {
    Variable<double> x(Tensor<double>(1.0));
    GradientTape tape(tapegrad::persistent);
    auto x2 = x * 2.0;
    Tensor<double> y;
    {
      auto pause = tape.stop_recording();
      y = x2 * x2;
    }
    auto z = x2 * x2;
    CHECK_FALSE(tape.gradient(y, x2).has_value());
    CHECK(tape.gradient(z, x2).item() == 4.0);
  }
}

TEST_CASE("BT testStopGradient, testUnconnectedGradientsNestedDefunZeros", "[tf_parity]") {
  Tensor<double> x(1.0);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  auto k = x + 2.0;
  auto y = tapegrad::stop_gradient(k * k);
  CHECK_FALSE(tape.gradient(y, x).has_value());
  CHECK(tape.gradient(y, x, UnconnectedGradients::zero).item() == 0.0);
}

TEST_CASE(
    "BT testUnconnectedGradients{Default,Zeros,VariablesZeros}; GT "
    "testUnconnectedGradientsZeroConnectedGradients",
    "[tf_parity]") {
  {
    Tensor<double> x(1.0), y(3.0);
    GradientTape tape;
    tape.watch(x);
    tape.watch(y);
    CHECK_FALSE(tape.gradient(y * 2.0, x).has_value());
  }
  {
    Tensor<double> x(Shape{2, 2}, 1.0), y(3.0);
    GradientTape tape;
    tape.watch(x);
    tape.watch(y);
    const auto g = tape.gradient(y * 2.0, x, UnconnectedGradients::zero);
    CHECK(g.shape() == Shape{2, 2});
    CHECK(g.to_vector() == std::vector<double>(4, 0.0));
  }
  {
    Variable<double> x(Tensor<double>(Shape{2, 2}, 1.0)), y(Tensor<double>(3.0));
    GradientTape tape;
    auto z = y * 2.0;
    const auto g = tape.gradient(z, x, UnconnectedGradients::zero);
    CHECK(g.to_vector() == std::vector<double>(4, 0.0));
  }
  {
    Tensor<double> x(1.0);
    GradientTape tape;
    tape.watch(x);
    CHECK(tape.gradient(x * 3.0, x, UnconnectedGradients::zero).item() == 3.0);
  }
}

TEST_CASE("BT testOutputGradUsedInComputation", "[tf_parity]") {
  Tensor<double> x(3.0), y(2.0);
  GradientTape tape;
  tape.watch(x);
  tape.watch(y);
  auto loss = x * y;
  CHECK(tape.gradient({loss, x}, {x}, {Tensor<double>(1.0), Tensor<double>(2.0)})[0].item() == 4.0);
}

TEST_CASE("BT testGradientTapeStructure: sources as a list, a tuple and a map", "[tf_parity]") {
  Tensor<double> x1(3.0), x2(3.1), x3(3.2);
  GradientTape tape(tapegrad::persistent);
  for (const auto* t : {&x1, &x2, &x3}) tape.watch(*t);
  auto y = x1 + x2 * 2.0 + x3 * 3.0;
  CHECK(tape.gradient(y, x1).item() == 1.0);
  CHECK(values_of(tape.gradient(y, {x1})) == std::vector<double>{1.0});
  CHECK(values_of(tape.gradient(y, {x1, x2})) == std::vector<double>{1.0, 2.0});
  const auto [a, b] = tape.gradient(y, std::make_tuple(x2, x3));
  CHECK(a.item() == 2.0);
  CHECK(b.item() == 3.0);
  const auto named =
      tape.gradient(y, std::map<std::string, Tensor<double>>{{"x2", x2}, {"x3", x3}});
  CHECK(named.at("x2").item() == 2.0);
  CHECK(named.at("x3").item() == 3.0);
}

TEST_CASE("BT JacobianTest and BatchJacobianTest values; the jacobian docs", "[tf_parity]") {
  Tensor<double> x({1.0, 2.0}), y({3.0, 4.0});
  {
    GradientTape tape(tapegrad::persistent);
    tape.watch(x);
    tape.watch(y);
    auto z = x * x * y;
    CHECK(tape.jacobian(z, x).to_vector() == std::vector<double>{6.0, 0.0, 0.0, 16.0});
    CHECK(tape.jacobian(z, y).to_vector() == std::vector<double>{1.0, 0.0, 0.0, 4.0});
    CHECK(tape.jacobian(x * x, x).to_vector() == std::vector<double>{2.0, 0.0, 0.0, 4.0});
  }
  Tensor<double> bx({{1.0, 2.0}, {3.0, 4.0}}), by({{3.0, 4.0}, {5.0, 6.0}});
  GradientTape tape(tapegrad::persistent);
  tape.watch(bx);
  const auto j = tape.batch_jacobian(bx * bx, bx);
  CHECK(j.shape() == Shape{2, 2, 2});
  CHECK(j.to_vector() == std::vector<double>{2, 0, 0, 4, 6, 0, 0, 8});
  CHECK(tape.batch_jacobian(bx * bx * by, bx).to_vector() ==
        std::vector<double>{6, 0, 0, 16, 30, 0, 0, 48});
}

TEST_CASE("BT BatchJacobianTest testBadShape, testBadInputRank, testBadOutputRank", "[tf_parity]") {
  Tensor<double> x(Shape{2, 3}, 1.0);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  auto y = tapegrad::concat<double>({x, x}, 0);
  CHECK_THROWS_WITH(tape.batch_jacobian(y, x),
                    Contains("Need first dimension of target shape (4, 3) and source shape (2, "
                             "3) to match."));
  Tensor<double> v({1.0, 2.0});
  tape.watch(v);
  auto m = tapegrad::outer(v, v);  // [2, 2] from [2]
  CHECK_THROWS_WITH(tape.batch_jacobian(m, v), Contains("Shape (2,) must have rank at least 2"));
  Tensor<double> w({{1.0, 2.0}, {3.0, 4.0}});
  tape.watch(w);
  auto s = tapegrad::sum(w, 1);  // [2] from [2, 2]
  CHECK_THROWS_WITH(tape.batch_jacobian(s, w), Contains("Shape (2,) must have rank at least 2"));
}

TEST_CASE(
    "BT test_degenerate_shape, test_empty_tensor_consistent_jacobian, "
    "test_foldl_partial_function",
    "[tf_parity]") {
  {
    Tensor<double> x(Shape{1, 0}, 0.0);
    GradientTape tape;
    tape.watch(x);
    CHECK(tape.batch_jacobian(x * x, x).shape() == Shape{1, 0, 0});
  }
  {
    Variable<double> v(Tensor<double>(1.0));
    GradientTape tape;
    auto out = v * Tensor<double>(Shape{0, 7}, 0.0);
    CHECK(tape.jacobian(out, v).shape() == Shape{0, 7});
  }
  {
    Tensor<double> x(Shape{3}, 0.0);
    GradientTape tape;
    tape.watch(x);
    CHECK(tape.jacobian(tapegrad::sum(x), x).to_vector() == std::vector<double>{1.0, 1.0, 1.0});
  }
}

TEST_CASE("BT test_zeros_type_correct: a deliberate deviation for batch_jacobian", "[tf_parity]") {
  // TensorFlow returns zeros here even under UnconnectedGradients.NONE (kept, its code says,
  // for backward compatibility); tapegrad honours the argument as jacobian() does.
  Tensor<double> x({{2.0}});
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  Tensor<double> y({{1.0}});
  CHECK_FALSE(tape.batch_jacobian(y, x).has_value());
  CHECK(tape.batch_jacobian(y, x, UnconnectedGradients::zero).to_vector() ==
        std::vector<double>{0.0});
}

// ---- tf.custom_gradient: backprop_test.py (BT), gradients_test.py (GT), its docs ----

TEST_CASE(
    "BT testCustomGradientIdentity, testCustomGradientInEagerAndGraph; GT "
    "testCustomGradientTrivial",
    "[tf_parity]") {
  const auto doubled_identity = tapegrad::custom_gradient([](const Tensor<double>& v) {
    return std::make_pair(tapegrad::identity(v), [](const Tensor<double>& dy) { return dy * 2.0; });
  });
  const auto square_4 = tapegrad::custom_gradient([](const Tensor<double>& v) {
    return std::make_pair(v * v, [](const Tensor<double>& dy) { return dy * 4.0; });
  });
  const auto tripled_identity = tapegrad::custom_gradient([](const Tensor<double>& v) {
    return std::make_pair(tapegrad::identity(v), [](const Tensor<double>& dy) { return dy * 3.0; });
  });
  Tensor<double> c(1.0), x(3.0);
  GradientTape tape(tapegrad::persistent);
  tape.watch(c);
  tape.watch(x);
  CHECK(tape.gradient(doubled_identity(c), c).item() == 2.0);
  CHECK(tape.gradient(square_4(c), c).item() == 4.0);
  CHECK(tape.gradient(tripled_identity(tripled_identity(x)), x).item() == 9.0);
}

TEST_CASE("BT testImplicitGradientsCustomGradientAndCachedVariableValue", "[tf_parity]") {
  const auto my_square = tapegrad::custom_gradient([](const Tensor<double>& v) {
    return std::make_pair(v * v, [v](const Tensor<double>& dr) { return dr * 2.0 * v + 1.0; });
  });
  Variable<double> x(Tensor<double>(3.0));
  GradientTape tape;
  auto y = my_square(x);
  CHECK(tape.gradient(y, x).item() == 7.0);
}

TEST_CASE("BT testCustomGradient: a training loop; GT testCustomGradient (swapped gradients)",
          "[tf_parity]") {
  const auto my_mul =
      tapegrad::custom_gradient([](const Tensor<double>& a, const Tensor<double>& b) {
        return std::make_pair(a * b, [a, b](const Tensor<double>& dr) {
          return std::vector<Tensor<double>>{dr * b, dr * a};
        });
      });
  Variable<double> x(Tensor<double>(2.0));
  std::vector<double> losses;
  for (int step = 0; step < 5; ++step) {
    GradientTape tape;
    auto loss = my_mul(Tensor<double>(2.0), x.value());
    losses.push_back(loss.item());
    x.assign_sub(tape.gradient(loss, x) * 0.25);
  }
  CHECK(losses == std::vector<double>{4.0, 3.0, 2.0, 1.0, 0.0});

  const auto swapped =
      tapegrad::custom_gradient([](const Tensor<double>& a, const Tensor<double>& b) {
        return std::make_pair(a * b, [a, b](const Tensor<double>& dy) {
          return std::vector<Tensor<double>>{dy * a, dy * b};
        });
      });
  Tensor<double> x1(3.0), x2(5.0);
  GradientTape tape;
  tape.watch(x1);
  tape.watch(x2);
  CHECK(values_of(tape.gradient(swapped(x1, x2), {x1, x2})) == std::vector<double>{3.0, 5.0});
}

TEST_CASE("BT testCustomGradientEmptyError, testErrors", "[tf_parity]") {
  const auto no_gradients = tapegrad::custom_gradient([](const Tensor<double>& v) {
    return std::make_pair(tapegrad::identity(v),
                          [](const Tensor<double>&) { return std::vector<Tensor<double>>{}; });
  });
  Variable<double> x(Tensor<double>(1.0));
  {
    GradientTape tape;
    auto y = no_gradients(x);
    CHECK_THROWS_AS(tape.gradient(y, {x}), tapegrad::value_error);
  }
  const auto failing = tapegrad::custom_gradient([](const Tensor<double>& v) {
    return std::make_pair(tapegrad::identity(v), [](const Tensor<double>&) -> Tensor<double> {
      throw std::runtime_error("x");
    });
  });
  GradientTape tape;
  auto y = failing(x);
  CHECK_THROWS_WITH(tape.gradient(y, x), "x");
  // The failed call left the non-persistent tape as it was: it still answers, once.
  CHECK(tape.gradient(x * 3.0, x).item() == 3.0);
}

TEST_CASE("BT testOverrideSecondOrderWithCustomGradient", "[tf_parity]") {
  const auto first_order_custom = tapegrad::custom_gradient([](const Tensor<double>& v) {
    return std::make_pair(Tensor<double>(-1.1) + v * 0.0,
                          [](const Tensor<double>& ddz) { return ddz * -2.1; });
  });
  const auto f = tapegrad::custom_gradient([&](const Tensor<double>& v) {
    return std::make_pair(v + 10.0, [v, &first_order_custom](const Tensor<double>& dz) {
      return dz * first_order_custom(v);
    });
  });
  Tensor<double> c(1.0);
  GradientTape outer;
  outer.watch(c);
  Tensor<double> dd;
  {
    GradientTape inner;
    inner.watch(c);
    auto fc = f(c);
    auto d = fc * fc * fc * fc;
    dd = inner.gradient(d, c);
  }
  CHECK(dd.item() == Approx(-5856.4).epsilon(1e-13));
  CHECK(outer.gradient(dd, c).item() == Approx(-9423.48).epsilon(1e-13));
}

TEST_CASE("GT testCustomGradientVariablesKwonlyArgs: variables read in the forward",
          "[tf_parity]") {
  Variable<double> x_captured(Tensor<double>(3.0), "x_captured");
  Variable<double> x(Tensor<double>(6.0), "x");
  std::size_t seen = 0;
  const auto op = tapegrad::custom_gradient([&](const Tensor<double>& v) {
    auto y = v * x_captured;
    auto grad = [&x_captured, &seen](const Tensor<double>& dy,
                                     const std::vector<Variable<double>>& variables) {
      seen = variables.size();
      if (!variables.empty()) CHECK(variables[0].state() == x_captured.state());
      return std::make_pair(std::vector<Tensor<double>>{dy * x_captured.value() * 4.0},
                            std::vector<Tensor<double>>{dy * 0.0});
    };
    return std::make_pair(y, grad);
  });
  GradientTape tape;
  auto y = op(x);  // x is an input, so only x_captured is among the variables
  CHECK(tape.gradient(y, x).item() == 12.0);
  CHECK(seen == 1);
}

TEST_CASE("tf.custom_gradient docs: bar(x, y) = x * y", "[tf_parity]") {
  const auto bar = tapegrad::custom_gradient([](const Tensor<double>& a, const Tensor<double>& b) {
    return std::make_pair(a * b, [a, b](const Tensor<double>& upstream) {
      return std::vector<Tensor<double>>{upstream * b, upstream * a};
    });
  });
  Tensor<double> x(2.0), y(3.0);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  tape.watch(y);
  auto z = bar(x, y);
  CHECK(z.item() == 6.0);
  CHECK(tape.gradient(z, x).item() == 3.0);
  CHECK(tape.gradient(z, y).item() == 2.0);
}

TEST_CASE("BT testExceptionSafety: a failure inside a tape leaves the next one working",
          "[tf_parity]") {
  Tensor<double> x(1.0);
  {
    GradientTape tape;
    tape.watch(x);
    CHECK_THROWS_AS(tapegrad::matmul(x, x), tapegrad::shape_error);
  }
  GradientTape tape;
  tape.watch(x);
  CHECK(tape.gradient(x * x, x).item() == 2.0);
}

TEST_CASE("GT GradPassThroughTest.test_gradients_v2", "[tf_parity]") {
  Variable<double> x(Tensor<double>(1.0), "x"), z(Tensor<double>(3.0), "z");
  GradientTape tape(tapegrad::persistent);
  const auto assign_x = [&x](const Tensor<double>& v) {
    x.assign(v);
    return x.value();
  };
  auto plain = assign_x(z * z);  // an assign is not differentiable
  CHECK_FALSE(tape.gradient(plain, z).has_value());
  auto y = tapegrad::grad_pass_through(assign_x)(z * z);
  CHECK(y.item() == 9.0);
  CHECK(tape.gradient(y, z).item() == 6.0);
  auto w = tapegrad::grad_pass_through([&x](const Tensor<double>& v) { return x * v; })(z);
  CHECK_FALSE(tape.gradient(w, x).has_value());  // variables read inside get no gradient
  CHECK(tape.gradient(w, z).item() == 1.0);
}

TEST_CASE(
    "custom_gradient and variables: a gradient function without them is refused at the "
    "call; one gradient per variable",
    "[tf_parity]") {
  Variable<double> w(Tensor<double>(2.0), "w");
  const auto without = tapegrad::custom_gradient([&w](const Tensor<double>& v) {
    return std::make_pair(v * w, [](const Tensor<double>& dy) { return dy; });
  });
  Tensor<double> x(3.0);
  CHECK_THROWS_AS(without(x), tapegrad::value_error);  // no tape needed to see the misuse
  CHECK_THROWS_WITH(without(x), Contains("must take (upstream, variables)"));
  const auto too_few = tapegrad::custom_gradient([&w](const Tensor<double>& v) {
    auto grad = [](const Tensor<double>& dy, const std::vector<Variable<double>>&) {
      return std::make_pair(std::vector<Tensor<double>>{dy}, std::vector<Tensor<double>>{});
    };
    return std::make_pair(v * w, grad);
  });
  GradientTape tape;
  tape.watch(x);
  auto y = too_few(x);
  CHECK_THROWS_AS(tape.gradient(y, x), tapegrad::value_error);
  CHECK_THROWS_WITH(tape.gradient(y, x), Contains("returned 0 variable gradients for 1"));
}

TEST_CASE("backprop.py stop_recording(): refused on a tape that is not recording", "[tf_parity]") {
  GradientTape tape;
  tape.stop();
  CHECK_THROWS_AS(tape.stop_recording(), tapegrad::tape_error);
  CHECK_THROWS_WITH(tape.stop_recording(),
                    Contains("Trying to stop recording a tape which is not recording."));
}

// ---- The report itself ----

TEST_CASE("docs/tf_parity.md: counts and pins", "[tf_parity]") {
  const std::string root = std::string(TAPEGRAD_INCLUDE_DIR) + "/..";
  std::ifstream in(root + "/docs/tf_parity.md");
  REQUIRE(in);
  std::vector<std::string> names;
  for (const auto& test : Catch::getRegistryHub().getTestCaseRegistry().getAllTests())
    names.push_back(test.name);
  // Tests that run in other executables: the thread tests and the compile-time checks.
  std::string elsewhere;
  for (const char* file : {"/tests/threads_test.cpp", "/tests/CMakeLists.txt"}) {
    std::ifstream f(root + file);
    REQUIRE(f);
    elsewhere += std::string(std::istreambuf_iterator<char>(f), {});
  }
  // In the other files a pin must sit in a test's name: TEST_CASE("... or add_test(NAME ...
  auto named_elsewhere = [&](const std::string& pin) {
    for (std::size_t at = elsewhere.find(pin); at != std::string::npos;
         at = elsewhere.find(pin, at + 1)) {
      const std::size_t line = elsewhere.rfind('\n', at) + 1;
      const std::string before = elsewhere.substr(line, at - line);
      if (before.find("TEST_CASE(\"") != std::string::npos ||
          before.find("add_test(NAME ") != std::string::npos)
        return true;
    }
    return false;
  };
  auto pinned = [&](const std::string& pin) {
    if (pin.empty()) return false;
    for (const auto& name : names)
      if (name.find(pin) != std::string::npos) return true;
    return named_elsewhere(pin);
  };
  int same = 0, deviates = 0, not_applicable = 0;
  std::string counts, line;
  std::vector<std::string> bad;
  while (std::getline(in, line)) {
    if (line.rfind("**Counts:", 0) == 0) counts = line;
    if (line.size() < 3 || line[0] != '|' || !std::isdigit(static_cast<unsigned char>(line[2])))
      continue;
    std::vector<std::string> cells;
    std::stringstream row(line);
    for (std::string cell; std::getline(row, cell, '|');) {
      const auto b = cell.find_first_not_of(' '), e = cell.find_last_not_of(' ');
      cells.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
    }
    REQUIRE(cells.size() >= 6);
    const std::string& status = cells[4];
    const std::string& pin = cells[5];
    if (status == "same") {
      ++same;
      if (!pinned(pin)) bad.push_back("row " + cells[1] + ": no test named '" + pin + "'");
    } else if (status == "deviates") {
      ++deviates;
      if (pin.empty()) bad.push_back("row " + cells[1] + ": a deviation without its reason");
    } else if (status == "n/a") {
      ++not_applicable;
      if (pin.empty()) bad.push_back("row " + cells[1] + ": n/a without its reason");
    } else {
      bad.push_back("row " + cells[1] + ": unknown status '" + status + "'");
    }
  }
  INFO("rows with a problem:\n"
       << [&] {
            std::string s;
            for (const auto& b : bad) s += "  " + b + "\n";
            return s;
          }());
  CHECK(bad.empty());
  const int total = same + deviates + not_applicable;
  CHECK(counts == "**Counts: same " + std::to_string(same) + ", deviates " +
                      std::to_string(deviates) + ", n/a " + std::to_string(not_applicable) + " (" +
                      std::to_string(total) + " rows).**");
  CHECK(total >= 70);
}

TEST_CASE(
    "GT CustomGradientTest: a variable passed as an input is not among the variables, "
    "even when the forward also reads it",
    "[tf_parity]") {
  Variable<double> w(Tensor<double>(3.0), "w");
  const auto scale = tapegrad::custom_gradient([&w](const Tensor<double>& v) {
    return std::make_pair(v * w, [](const Tensor<double>& dy) { return dy * 5.0; });
  });
  GradientTape tape;
  auto y = scale(w);  // w is the input: no variables, so the one-argument gradient is fine
  CHECK(y.item() == 9.0);
  CHECK(tape.gradient(y, w).item() == 5.0);
}

TEST_CASE("clip_by_value with tensor bounds keeps x's shape, as TensorFlow asserts",
          "[tf_parity]") {
  Tensor<double> x(0.5), lo({-1.0, 0.0, 1.0}), hi(2.0);
  CHECK_THROWS_AS(tapegrad::clip_by_value(x, lo, hi), tapegrad::shape_error);
  CHECK_THROWS_WITH(tapegrad::clip_by_value(x, lo, hi), Contains("would widen x of shape []"));
}

TEST_CASE("Bad inputs of identity and grad_pass_through", "[tf_parity][errors]") {
  CHECK_THROWS_AS(tapegrad::identity(Tensor<double>()), tapegrad::value_error);
  // f must keep x's shape: the identity gradient would not fit x otherwise.
  Tensor<double> x({1.0, 2.0});
  GradientTape tape;
  tape.watch(x);
  auto y = tapegrad::grad_pass_through([](const Tensor<double>& v) { return tapegrad::sum(v); })(x);
  CHECK_THROWS_AS(tape.gradient(y, x), tapegrad::shape_error);
  CHECK_THROWS_WITH(tape.gradient(y, x), Contains("custom_gradient: gradient 0 has shape []"));
}
