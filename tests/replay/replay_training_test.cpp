// Training steps inside tapegrad::function (NOTE [ How an optimizer updates a variable ]):
// each optimizer's traced step, replayed N times, against N eager steps of a twin model, bit
// for bit, with schedules, a rate replaced between steps, and skipped variables.

#include "replay/replay_util.hpp"

#include <tapegrad/train/optimizers.hpp>
#include <tapegrad/train/schedules.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace replay_test;

template <class T>
Tensor<T> as(const Tensor<double>& x) {
  return tg::cast<T>(x);
}

/// A two-layer model's variables; `unused` never reaches the loss (its gradient is None).
template <class T>
struct Model {
  Variable<T> w1{as<T>(sample({3, 4}, -1, 1, 11)), "w1"};
  Variable<T> b1{as<T>(sample({4}, -0.5, 0.5, 12)), "b1"};
  Variable<T> w2{as<T>(sample({4, 1}, -1, 1, 13)), "w2"};
  Variable<T> unused{as<T>(sample({2}, -1, 1, 14)), "unused"};

  std::vector<Variable<T>> variables() const { return {w1, b1, w2, unused}; }
  Tensor<T> loss(const Tensor<T>& x, const Tensor<T>& y) const {
    const Tensor<T> h = tg::tanh(tg::matmul(x, w1.value()) + b1.value());
    return tg::mean(tg::square(tg::matmul(h, w2.value()) - y));
  }
};

template <class T, class Optimizer>
Tensor<T> train_step(const Model<T>& model, Optimizer& opt, const Tensor<T>& x,
                     const Tensor<T>& y) {
  GradientTape tape;
  const Tensor<T> loss = model.loss(x, y);
  opt.apply_gradients(tape.gradient(loss, model.variables()), model.variables());
  return loss;
}

/// Trains a model eagerly and its twin through a traced step, `steps` times on the same
/// batches, with optimizers `make()` builds, and checks that losses, variables and step
/// counts agree bit for bit after every step; `between(step, opt)` runs on both optimizers
/// between steps.
template <class T, class Make, class Between>
void check_replayed_training(Make make, Between between, int steps = 6) {
  std::vector<std::string> warnings;
  auto old_handler = tg::set_warning_handler([&](const std::string& w) { warnings.push_back(w); });
  Model<T> eager_model, traced_model;
  auto eager_opt = make();
  auto traced_opt = make();
  auto step = tg::function([&](const Tensor<T>& x, const Tensor<T>& y) {
    return train_step(traced_model, traced_opt, x, y);
  });
  for (int k = 0; k < steps; ++k) {
    INFO("step " << k);
    const Tensor<T> x = as<T>(sample({5, 3}, -1, 1, 100 + unsigned(k)));
    const Tensor<T> y = as<T>(sample({5, 1}, -1, 1, 200 + unsigned(k)));
    const Tensor<T> eager_loss = train_step(eager_model, eager_opt, x, y);
    CHECK(same_bits(step(x, y), eager_loss));
    for (std::size_t v = 0; v < 4; ++v) {
      INFO("variable " << eager_model.variables()[v].name());
      CHECK(
          same_bits(traced_model.variables()[v].snapshot(), eager_model.variables()[v].snapshot()));
    }
    CHECK(traced_opt.iterations() == eager_opt.iterations());
    between(k, eager_opt);
    between(k, traced_opt);
  }
  CHECK(step.trace_count() == 1);
  CHECK(step.stats().replays == static_cast<std::size_t>(steps - 1));
  // The variable with no gradient was named once by each optimizer, and never moved.
  CHECK(warnings.size() == 2);
  CHECK(same_bits(traced_model.unused.snapshot(), Model<T>().unused.snapshot()));
  tg::set_warning_handler(old_handler);
}

auto no_change = [](int, auto&) {};

}  // namespace

TEMPLATE_TEST_CASE("A traced SGD step replays as eager steps, with and without momentum",
                   "[replay][optimizers]", float, double) {
  check_replayed_training<TestType>([] { return tg::SGD(0.1); }, no_change);
  check_replayed_training<TestType>([] { return tg::SGD(0.05, 0.9); }, no_change);
  check_replayed_training<TestType>(
      [] { return tg::SGD(tg::StepDecay(0.1, 2, 0.5), 0.8, /*nesterov=*/true); }, no_change);
}

TEMPLATE_TEST_CASE("A traced Adam step with a decaying schedule replays as eager steps",
                   "[replay][optimizers]", float, double) {
  check_replayed_training<TestType>([] { return tg::Adam(tg::ExponentialDecay(1e-2, 3, 0.7)); },
                                    no_change, 10);
  check_replayed_training<TestType>([] { return tg::AdamW(tg::CosineDecay(1e-2, 8), 0.01); },
                                    no_change, 10);
}

TEMPLATE_TEST_CASE("Traced RMSprop steps replay as eager steps, centered and with momentum",
                   "[replay][optimizers]", float, double) {
  check_replayed_training<TestType>([] { return tg::RMSprop(1e-2); }, no_change);
  check_replayed_training<TestType>([] { return tg::RMSprop(1e-2, 0.8, 0.5, 1e-6, true); },
                                    no_change);
  check_replayed_training<TestType>([] { return tg::RMSprop(1e-2, 0.9, 0.0, 1e-7, true); },
                                    no_change);
}

TEST_CASE("A learning rate replaced between steps reaches the replays", "[replay][optimizers]") {
  check_replayed_training<double>([] { return tg::Adam(1e-2); },
                                  [](int k, tg::Adam& opt) {
                                    if (k == 2) opt.set_learning_rate(tg::CosineDecay(5e-3, 4));
                                  });
}

TEST_CASE("A schedule is called with the step count at each replay", "[replay][optimizers]") {
  auto seen = std::make_shared<std::vector<std::int64_t>>();
  tg::SGD opt([seen](std::int64_t step) {
    seen->push_back(step);
    return 0.1;
  });
  Variable<double> w({1.0}, "w");
  auto step = tg::function(
      [&](const Tensor<double>& g) { opt.apply_gradients(std::vector<Tensor<double>>{g}, {w}); });
  for (int k = 0; k < 4; ++k) step(Tensor<double>({1.0}));
  CHECK(*seen == std::vector<std::int64_t>{0, 1, 2, 3});
  CHECK(opt.iterations() == 4);
  CHECK(w.snapshot().item() == Approx(0.6).epsilon(1e-15));
}

TEST_CASE("A replayed step whose schedule gives NaN changes nothing", "[replay][optimizers]") {
  tg::SGD opt([](std::int64_t step) { return step < 2 ? 0.5 : std::nan(""); }, 0.9);
  Variable<double> w({1.0, 2.0}, "w");
  auto step = tg::function(
      [&](const Tensor<double>& g) { opt.apply_gradients(std::vector<Tensor<double>>{g}, {w}); });
  step(Tensor<double>({1.0, 1.0}));
  step(Tensor<double>({1.0, 1.0}));
  const Tensor<double> before = w.snapshot();
  CHECK_THROWS_WITH(step(Tensor<double>({1.0, 1.0})),
                    Catch::Matchers::Contains("SGD.apply_gradients: the learning rate at step 2 "
                                              "is nan (expected a finite number)"));
  CHECK(same_bits(w.snapshot(), before));
  CHECK(opt.iterations() == 2);
  // The momentum is as two steps left it: one more eager step matches a twin's third step.
  tg::SGD twin(0.5, 0.9);
  Variable<double> w_twin({1.0, 2.0}, "w_twin");
  for (int k = 0; k < 3; ++k)
    twin.apply_gradients(std::vector<Tensor<double>>{Tensor<double>({1.0, 1.0})}, {w_twin});
  opt.set_learning_rate(0.5);
  opt.apply_gradients(std::vector<Tensor<double>>{Tensor<double>({1.0, 1.0})}, {w});
  CHECK(same_bits(w.snapshot(), w_twin.snapshot()));
}

TEST_CASE("An optimizer's reads are not watched by a tape around the step",
          "[replay][optimizers]") {
  // Eager inside an open tape: the tape neither records nor watches the update.
  Variable<double> w({1.0, 2.0}, "w");
  tg::Adam opt(0.1);
  GradientTape outer(tg::persistent);
  auto step = tg::function(
      [&](const Tensor<double>& g) { opt.apply_gradients(std::vector<Tensor<double>>{g}, {w}); });
  step(Tensor<double>({1.0, 1.0}));  // under a recording tape: runs eagerly
  CHECK(outer.watched_variables<double>().empty());
  CHECK(step.trace_count() == 0);
  CHECK(opt.iterations() == 1);
}
