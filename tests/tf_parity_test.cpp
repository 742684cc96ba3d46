// Behaviours of tf.GradientTape that TensorFlow's own tests pin down, ported: each test names
// the TensorFlow (or PyTorch) test it comes from. The facts and expected values carry over;
// docs/tf_parity.md lists every row of the surface these tests pin.
#include "test_util.hpp"

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
