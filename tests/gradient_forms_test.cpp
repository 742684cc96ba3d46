#include "test_util.hpp"

#include <map>
#include <string>
#include <tuple>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Source;
using tapegrad::Tensor;
using tapegrad::UnconnectedGradients;
using tapegrad::Variable;

TEST_CASE("Several targets: the gradient of their sum", "[tape][gradient]") {
  Tensor<double> x(2.0);
  GradientTape tape;
  tape.watch(x);
  auto y1 = x * x;     // 2x = 4
  auto y2 = x * 10.0;  // 10
  auto g = tape.gradient(std::vector<Tensor<double>>{y1, y2}, std::vector<Source<double>>{x}, {});
  CHECK(g[0].item() == 14.0);
}

TEST_CASE("output_gradients give a vector-Jacobian product", "[tape][gradient]") {
  Tensor<double> x({1.0, 2.0});
  GradientTape tape;
  tape.watch(x);
  auto y = x * x;  // J = diag(2x)
  auto g = tape.gradient(std::vector<Tensor<double>>{y}, std::vector<Source<double>>{x},
                         {Tensor<double>({10.0, 100.0})});
  CHECK(g[0].to_vector() == std::vector<double>{20.0, 400.0});
}

TEST_CASE("output_gradients must match their targets", "[tape][gradient][errors]") {
  Tensor<double> x({1.0, 2.0});
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  auto y = x * x;
  CHECK_THROWS_WITH(tape.gradient(std::vector<Tensor<double>>{y}, std::vector<Source<double>>{x},
                                  {Tensor<double>({1.0, 2.0, 3.0})}),
                    "GradientTape::gradient: output_gradients[0] has shape [3] but its target "
                    "has shape [2]");
  CHECK_THROWS_WITH(
      tape.gradient(std::vector<Tensor<double>>{y}, std::vector<Source<double>>{x}, {y, y}),
      "GradientTape::gradient: 2 output_gradients for 1 targets");
  CHECK(tape.gradient(y, x).to_vector() == std::vector<double>{2.0, 4.0});  // still usable
}

TEST_CASE("unconnected_gradients: none by default, zeros when asked", "[tape][gradient]") {
  Tensor<double> x({1.0, 2.0}), unused({{1.0, 2.0}, {3.0, 4.0}});
  Variable<double> never_read({5.0});
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  tape.watch(unused);
  auto y = x * 3.0;
  CHECK_FALSE(tape.gradient(y, unused).has_value());
  auto z = tape.gradient(y, unused, UnconnectedGradients::zero);
  CHECK(z.shape() == Shape{2, 2});
  CHECK(z.to_vector() == std::vector<double>{0, 0, 0, 0});
  CHECK(tape.gradient(y, never_read, UnconnectedGradients::zero).to_vector() ==
        std::vector<double>{0.0});
  auto both = tape.gradient(y, {x, unused}, UnconnectedGradients::zero);
  CHECK(both[0].to_vector() == std::vector<double>{3.0, 3.0});
  CHECK(both[1].size() == 4);
}

TEST_CASE("Sources of different element types, as a tuple", "[tape][gradient]") {
  Variable<float> w({2.f});
  Tensor<double> x(3.0);
  GradientTape tape;
  tape.watch(x);
  auto y = w * w;  // float
  auto [dw, dx] = tape.gradient(y, std::make_tuple(w, x));
  static_assert(std::is_same_v<decltype(dw), Tensor<float>>);
  static_assert(std::is_same_v<decltype(dx), Tensor<double>>);
  CHECK(dw.item() == 4.f);
  CHECK_FALSE(dx.has_value());
}

TEST_CASE("Sources by name, as a map", "[tape][gradient]") {
  Variable<double> w({2.0}, "w"), b({1.0}, "b");
  GradientTape tape;
  auto y = w * 3.0 + b;
  auto grads = tape.gradient(y, std::map<std::string, Variable<double>>{{"w", w}, {"b", b}});
  CHECK(grads.at("w").item() == 3.0);
  CHECK(grads.at("b").item() == 1.0);
}

TEST_CASE("A failing gradient() leaves a non-persistent tape usable", "[tape][gradient][errors]") {
  Tensor<double> x({1.0, 2.0});
  GradientTape tape;
  tape.watch(x);
  auto y = x * x;
  CHECK_THROWS_AS(tape.gradient(std::vector<Tensor<double>>{y}, std::vector<Source<double>>{x},
                                {Tensor<double>(1.0)}),
                  tapegrad::shape_error);
  CHECK(tape.gradient(y, x).to_vector() == std::vector<double>{2.0, 4.0});
}
