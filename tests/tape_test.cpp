#include "test_util.hpp"

#include <cmath>
#include <memory>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using tapegrad::Variable;

TEMPLATE_TEST_CASE("Only watched tensors are differentiated", "[tape]", float, double) {
  using T = TestType;
  Tensor<T> x({T(2), T(3)});
  Tensor<T> c({T(1), T(2)});
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  auto z = x * c;
  CHECK(tape.gradient(z, x).to_vector() == std::vector<T>{T(1), T(2)});
  CHECK_FALSE(tape.gradient(z, c).has_value());  // never watched: None
  CHECK(tapegrad_test::printed(tape.gradient(z, c)) == "None");
}

TEST_CASE("Ops on unwatched inputs are not recorded", "[tape]") {
  Tensor<double> a({1.0}), b({2.0});
  GradientTape tape;
  auto c = a * b;
  tape.watch(c);  // watching a result later makes it a source, not its inputs
  auto d = c * c;
  auto g = tape.gradient(d, {a, c});
  CHECK_FALSE(g[0].has_value());
  CHECK(g[1].to_vector() == std::vector<double>{4.0});
}

TEST_CASE("A non-scalar target means the gradient of its sum", "[tape]") {
  Tensor<double> x({{1.0, 2.0}, {3.0, 4.0}});
  GradientTape tape;
  tape.watch(x);
  auto y = x * x * 3.0;
  CHECK(tape.gradient(y, x).to_vector() == std::vector<double>{6.0, 12.0, 18.0, 24.0});
}

TEST_CASE("Unconnected sources get no gradient", "[tape]") {
  Tensor<double> x(1.0), y(2.0);
  GradientTape tape;
  tape.watch(x);
  tape.watch(y);
  auto z = x * 2.0;
  auto g = tape.gradient(z, {x, y});
  CHECK(g[0].item() == 2.0);
  CHECK_FALSE(g[1].has_value());
}

TEST_CASE("A target the tape never saw gives no gradient", "[tape]") {
  Tensor<double> x(1.0);
  Tensor<double> constant(5.0);
  GradientTape tape;
  tape.watch(x);
  CHECK_FALSE(tape.gradient(constant, x).has_value());
}

TEST_CASE("The gradient of a source with respect to itself is ones", "[tape]") {
  Tensor<double> x({1.0, 2.0});
  GradientTape tape;
  tape.watch(x);
  CHECK(tape.gradient(x, x).to_vector() == std::vector<double>{1.0, 1.0});
}

TEST_CASE("Gradients with respect to intermediate tensors", "[tape]") {
  Tensor<double> x(3.0);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  auto y = x * x;  // 9
  auto z = y * y;  // 81
  auto g = tape.gradient(z, {y, x});
  CHECK(g[0].item() == 18.0);   // dz/dy = 2y
  CHECK(g[1].item() == 108.0);  // dz/dx = 4x^3
  CHECK(tape.gradient(y, x).item() == 6.0);
}

TEST_CASE("Gradient results come in the order of the sources", "[tape]") {
  Variable<float> a({1.f}), b({2.f}), c({3.f});
  GradientTape tape(tapegrad::persistent);
  auto y = a * 1.f + b * 10.f + c * 100.f;
  auto g = tape.gradient(y, {c, a, b});
  CHECK(g[0].item() == 100.f);
  CHECK(g[1].item() == 1.f);
  CHECK(g[2].item() == 10.f);
  std::vector<Variable<float>> vars{b, c};
  auto gv = tape.gradient(y, vars);
  CHECK(gv[0].item() == 10.f);
  CHECK(gv[1].item() == 100.f);
  std::vector<Tensor<float>> none{Tensor<float>(1.f)};
  CHECK_FALSE(tape.gradient(y, none)[0].has_value());
}

TEST_CASE("A persistent tape gives identical results on every call", "[tape]") {
  Tensor<double> x({0.3, -1.2, 2.5});
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  auto y = tapegrad::sum(tapegrad::sin(x) * tapegrad::exp(x) / (x * x + 1.0));
  const auto first = tape.gradient(y, x).to_vector();
  for (int i = 0; i < 5; ++i) CHECK(tape.gradient(y, x).to_vector() == first);
}

TEST_CASE("A non-persistent tape computes one set of gradients", "[tape]") {
  Tensor<double> x(2.0);
  GradientTape tape;
  tape.watch(x);
  auto y = x * x;
  CHECK(tape.recording());
  CHECK(tape.gradient(y, x).item() == 4.0);
  CHECK_FALSE(tape.recording());  // gradient() ended the recording
  CHECK_THROWS_AS(tape.gradient(y, x), tapegrad::tape_error);
  CHECK_THROWS_WITH(tape.gradient(y, x),
                    "A non-persistent GradientTape can only be used to compute one set of "
                    "gradients (or jacobians)");
}

TEST_CASE("stop() ends recording like leaving a with-block", "[tape]") {
  Tensor<double> x(2.0);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  auto y = x * x;
  tape.stop();
  CHECK_FALSE(tape.recording());
  CHECK_FALSE(tapegrad::detail::any_tape_recording());
  auto z = y * x;  // not recorded
  CHECK(tape.gradient(y, x).item() == 4.0);
  CHECK_FALSE(tape.gradient(z, x).has_value());
}

TEST_CASE("Recording ends when the tape is destroyed, and results outlive it", "[tape]") {
  Tensor<double> x(3.0);
  Tensor<double> grad;
  {
    GradientTape tape;
    tape.watch(x);
    grad = tape.gradient(x * x, x);
  }
  CHECK_FALSE(tapegrad::detail::any_tape_recording());
  CHECK(grad.item() == 6.0);
}

TEST_CASE("Nested tapes give higher derivatives", "[tape][nested]") {
  Tensor<double> x(2.0);
  GradientTape outer;
  outer.watch(x);
  Tensor<double> dy_dx;
  {
    GradientTape inner;
    inner.watch(x);
    auto y = x * x * x;
    dy_dx = inner.gradient(y, x);
  }
  CHECK(dy_dx.item() == 12.0);                     // 3x^2
  CHECK(outer.gradient(dy_dx, x).item() == 12.0);  // 6x
}

TEST_CASE("Third derivative through three tapes", "[tape][nested]") {
  Tensor<double> x(0.7);
  GradientTape t3;
  t3.watch(x);
  GradientTape t2;
  t2.watch(x);
  GradientTape t1;
  t1.watch(x);
  auto y = tapegrad::sin(x) * x;
  auto d1 = t1.gradient(y, x);   // cos(x) x + sin(x)
  auto d2 = t2.gradient(d1, x);  // -sin(x) x + 2 cos(x)
  auto d3 = t3.gradient(d2, x);  // -cos(x) x - 3 sin(x)
  const double v = 0.7;
  CHECK(d1.item() == Approx(std::cos(v) * v + std::sin(v)).epsilon(1e-14));
  CHECK(d2.item() == Approx(-std::sin(v) * v + 2 * std::cos(v)).epsilon(1e-14));
  CHECK(d3.item() == Approx(-std::cos(v) * v - 3 * std::sin(v)).epsilon(1e-14));
}

TEST_CASE("Tapes destroyed out of order leave the thread's stack consistent", "[tape]") {
  Tensor<double> x(2.0);
  auto outer = std::make_unique<GradientTape>();
  auto inner = std::make_unique<GradientTape>();
  outer->watch(x);
  inner->watch(x);
  outer.reset();  // the outer tape goes first
  auto y = x * x;
  CHECK(inner->gradient(y, x).item() == 4.0);
  inner.reset();
  CHECK_FALSE(tapegrad::detail::any_tape_recording());
  CHECK(tapegrad::detail::thread_tapes.top == nullptr);
}

TEST_CASE("A failed op leaves the tape usable and its gradients correct", "[tape][errors]") {
  Tensor<double> x({1.0, 2.0});
  GradientTape tape;
  tape.watch(x);
  auto y = x * 3.0;
  CHECK_THROWS_AS(y * Tensor<double>({1.0, 2.0, 3.0}), tapegrad::shape_error);
  CHECK_THROWS_AS(tapegrad::matmul(y, tapegrad::reshape(y, {1, 2})), tapegrad::shape_error);
  auto z = y * x;
  CHECK(tape.gradient(z, x).to_vector() == std::vector<double>{6.0, 12.0});
}
