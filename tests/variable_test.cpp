#include "test_util.hpp"

#include <tapegrad/train/optimizers.hpp>

#include <string>
#include <vector>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using tapegrad::Variable;

TEMPLATE_TEST_CASE("Variable holds mutable state", "[variable]", float, double) {
  using T = TestType;
  Variable<T> v({T(1), T(2)}, "v");
  CHECK(v.name() == "v");
  CHECK(v.trainable());
  CHECK(v.shape() == Shape{2});
  Tensor<T> before = v;
  v.assign_add(Tensor<T>({T(10), T(20)}));
  CHECK(v.value().to_vector() == std::vector<T>{T(11), T(22)});
  v.assign_sub(Tensor<T>(T(1)));  // broadcasts
  CHECK(v.value().to_vector() == std::vector<T>{T(10), T(21)});
  v.assign(Tensor<T>({T(5), T(6)}));
  CHECK(v.value().to_vector() == std::vector<T>{T(5), T(6)});
  // A tensor read earlier keeps its value: tensors never change.
  CHECK(before.to_vector() == std::vector<T>{T(1), T(2)});
  Variable<T> alias = v;  // copies refer to the same variable
  alias.assign_add(Tensor<T>(T(1)));
  CHECK(v.value().to_vector() == std::vector<T>{T(6), T(7)});
}

TEST_CASE("Variable updates never touch tensors that were read from it", "[variable]") {
  Variable<float> v({1.f, 2.f});
  GradientTape tape(tapegrad::persistent);
  auto y = v * v;
  v.assign_add(Tensor<float>({100.f, 100.f}));  // not recorded: blocks nothing already saved
  CHECK(tape.gradient(y, v).to_vector() == std::vector<float>{2.f, 4.f});
  CHECK(y.to_vector() == std::vector<float>{1.f, 4.f});
  CHECK(v.value().to_vector() == std::vector<float>{101.f, 102.f});
}

TEST_CASE("Variable shape mismatches throw shape_error", "[variable][errors]") {
  Variable<float> v({1.f, 2.f});
  CHECK_THROWS_WITH(v.assign(Tensor<float>({1.f, 2.f, 3.f})),
                    "Variable::assign: shape [3] does not match the variable's shape [2]");
  CHECK_THROWS_WITH(
      v.assign_add(Tensor<float>({1.f, 2.f, 3.f})),
      "Variable::assign_add: shape [3] does not broadcast to the variable's shape [2]");
  CHECK(v.value().to_vector() == std::vector<float>{1.f, 2.f});
}

TEST_CASE("Trainable variables are watched when read; others only when asked", "[variable][tape]") {
  Variable<double> w({3.0}, "w");
  Variable<double> frozen({5.0}, "frozen", /*trainable=*/false);
  {
    GradientTape tape(tapegrad::persistent);
    auto y = w * frozen;
    CHECK(tape.gradient(y, w).to_vector() == std::vector<double>{5.0});
    CHECK_FALSE(tape.gradient(y, frozen).has_value());
  }
  {
    GradientTape tape;
    tape.watch(frozen);
    auto y = w * frozen;
    auto g = tape.gradient(y, {w, frozen});
    CHECK(g[0].to_vector() == std::vector<double>{5.0});
    CHECK(g[1].to_vector() == std::vector<double>{3.0});
  }
  {
    GradientTape tape(tapegrad::TapeOptions{false, /*watch_accessed_variables=*/false});
    auto y = w * w;
    CHECK_FALSE(tape.gradient(y, w).has_value());
  }
}

TEST_CASE("Reading a variable before the tape starts does not connect it", "[variable][tape]") {
  Variable<double> w({2.0});
  Tensor<double> early = w;
  GradientTape tape(tapegrad::persistent);
  auto y = early * w;  // only the second read is on the tape
  CHECK(tape.gradient(y, w).to_vector() == std::vector<double>{2.0});
}

TEST_CASE("Updates happen in place when nothing else sees the variable's elements", "[variable]") {
  Variable<float> v({1.f, 2.f});
  v.assign_add(Tensor<float>({1.f, 1.f}));  // the first update may copy
  const float* before = v.value().data();
  v.assign_sub(Tensor<float>({0.5f, 0.5f}));
  CHECK(v.value().data() == before);  // nobody held a read: no copy
  Tensor<float> held = v;
  v.assign_add(Tensor<float>({1.f, 1.f}));
  CHECK(v.value().data() != held.data());  // a live read forces a copy
  CHECK(held.to_vector() == std::vector<float>{1.5f, 2.5f});
  CHECK(v.value().to_vector() == std::vector<float>{2.5f, 3.5f});
}

TEST_CASE("An op observer sees every change of a variable's value, optimizer steps included",
          "[variable][observer]") {
  namespace detail = tapegrad::detail;
  struct Updates : detail::OpObserver {
    std::vector<std::string> ops;
    std::vector<std::vector<double>> values;
    std::vector<const detail::VariableState*> variables;
    void on_variable_update(const detail::VariableState& variable, const char* op,
                            const detail::ImplRef& value, const detail::ImplRef&) override {
      ops.emplace_back(op);
      values.push_back(Tensor<double>(value).to_vector());
      variables.push_back(&variable);
    }
  };
  Variable<double> w(Tensor<double>({1.0, 2.0}));
  tapegrad::SGD sgd(0.5);
  Updates updates;
  {
    detail::ObserverScope scope(updates);
    w.assign(Tensor<double>({3.0, 4.0}));
    w.assign_add(Tensor<double>(1.0));
    w.assign_sub(Tensor<double>({0.5, 0.5}));
    sgd.apply_gradients(std::vector<Tensor<double>>{Tensor<double>({2.0, 2.0})},
                        std::vector<Variable<double>>{w});
  }
  w.assign(Tensor<double>({0.0, 0.0}));  // no observer now
  // The optimizer's step count is a variable too (NOTE [ How an optimizer updates a
  // variable ]): the step assigns w, then counts itself.
  CHECK(updates.ops ==
        std::vector<std::string>{"assign", "assign_add", "assign_sub", "assign", "assign"});
  CHECK(updates.values ==
        std::vector<std::vector<double>>{{3.0, 4.0}, {4.0, 5.0}, {3.5, 4.5}, {2.5, 3.5}, {1.0}});
  CHECK(updates.variables[3] == w.state().get());
  CHECK(updates.variables[4] == sgd.iterations_variable().state().get());
}
