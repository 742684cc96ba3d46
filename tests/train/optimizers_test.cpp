#include "test_util.hpp"

#include <tapegrad/train/clipping.hpp>
#include <tapegrad/train/optimizers.hpp>
#include <tapegrad/train/schedules.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using tapegrad::Variable;

// Each optimizer is run for several steps on two [2,2] variables with varied gradients, and
// compared with its update rule written out here per element in plain doubles.
namespace {

constexpr int n_vars = 2, n_elems = 4, n_steps = 5;

double initial_value(int var, int i) {
  return 0.5 * (i + 1) - 1.1 * var;
}
/// Gradient of element i of variable `var` at `step`: varied signs and sizes.
double gradient_value(int step, int var, int i) {
  return 1.5 * std::sin(1.3 * step + 0.7 * i + 2.1 * var) + 0.1 * (i - 1);
}

template <class T>
std::vector<Variable<T>> make_vars() {
  std::vector<Variable<T>> vars;
  for (int v = 0; v < n_vars; ++v) {
    std::vector<T> init;
    for (int i = 0; i < n_elems; ++i) init.push_back(static_cast<T>(initial_value(v, i)));
    vars.emplace_back(Tensor<T>(Shape{2, 2}, init), "v" + std::to_string(v));
  }
  return vars;
}

template <class T>
std::vector<Tensor<T>> make_grads(int step) {
  std::vector<Tensor<T>> grads;
  for (int v = 0; v < n_vars; ++v) {
    std::vector<T> g;
    for (int i = 0; i < n_elems; ++i) g.push_back(static_cast<T>(gradient_value(step, v, i)));
    grads.emplace_back(Shape{2, 2}, g);
  }
  return grads;
}

/// The gradient each element sees, rounded to T as the optimizer sees it.
template <class T>
double seen_gradient(int step, int var, int i) {
  return static_cast<double>(static_cast<T>(gradient_value(step, var, i)));
}

template <class T>
double tolerance() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-12;
}

/// Runs `opt` for n_steps and checks every element after every step against `rule`, which
/// advances the hand-written state (w, slots) of one element by one step.
template <class T, class Opt, class Rule>
void check_against_rule(Opt& opt, Rule rule, int slot_count) {
  auto vars = make_vars<T>();
  std::vector<std::vector<double>> w(n_vars, std::vector<double>(n_elems));
  std::vector<std::vector<std::vector<double>>> slots(
      n_vars, std::vector<std::vector<double>>(n_elems, std::vector<double>(slot_count, 0.0)));
  for (int v = 0; v < n_vars; ++v)
    for (int i = 0; i < n_elems; ++i) w[v][i] = static_cast<T>(initial_value(v, i));
  for (int step = 0; step < n_steps; ++step) {
    opt.apply_gradients(make_grads<T>(step), vars);
    CHECK(opt.iterations() == step + 1);
    for (int v = 0; v < n_vars; ++v) {
      const auto got = vars[static_cast<std::size_t>(v)].value().to_vector();
      for (int i = 0; i < n_elems; ++i) {
        rule(w[v][i], slots[v][i], seen_gradient<T>(step, v, i), step + 1);
        INFO("step " << step << ", variable " << v << ", element " << i);
        CHECK(double(got[static_cast<std::size_t>(i)]) ==
              Approx(w[v][i]).epsilon(tolerance<T>()).margin(tolerance<T>()));
      }
    }
  }
}

}  // namespace

// ---- SGD ----

TEMPLATE_TEST_CASE("SGD without momentum: w -= lr g", "[optimizers]", float, double) {
  tapegrad::SGD opt(0.1);
  CHECK(opt.momentum() == 0.0);
  CHECK_FALSE(opt.nesterov());
  check_against_rule<TestType>(
      opt, [](double& w, std::vector<double>&, double g, int) { w -= 0.1 * g; }, 0);
}

TEMPLATE_TEST_CASE("SGD with momentum: m = mu m - lr g, w += m", "[optimizers]", float, double) {
  tapegrad::SGD opt(0.05, 0.9);
  check_against_rule<TestType>(
      opt,
      [](double& w, std::vector<double>& s, double g, int) {
        s[0] = 0.9 * s[0] - 0.05 * g;
        w += s[0];
      },
      1);
}

TEMPLATE_TEST_CASE("SGD with Nesterov momentum: w += mu m - lr g", "[optimizers]", float, double) {
  tapegrad::SGD opt(0.05, 0.8, true);
  CHECK(opt.nesterov());
  check_against_rule<TestType>(
      opt,
      [](double& w, std::vector<double>& s, double g, int) {
        s[0] = 0.8 * s[0] - 0.05 * g;
        w += 0.8 * s[0] - 0.05 * g;
      },
      1);
}

TEST_CASE("SGD checks momentum as Keras does", "[optimizers]") {
  CHECK_THROWS_AS(tapegrad::SGD(0.1, -0.1), tapegrad::value_error);
  CHECK_THROWS_AS(tapegrad::SGD(0.1, 1.5), tapegrad::value_error);
  CHECK_THROWS_WITH(tapegrad::SGD(0.1, 2.0),
                    Catch::Matchers::Contains("`momentum` must be a float between [0"));
  CHECK(tapegrad::SGD().learning_rate() == 0.01);
}

// ---- Adam and AdamW ----

TEMPLATE_TEST_CASE("Adam follows Keras's update with bias correction in the step size",
                   "[optimizers]", float, double) {
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-7;
  tapegrad::Adam opt(lr);
  check_against_rule<TestType>(
      opt,
      [&](double& w, std::vector<double>& s, double g, int t) {
        s[0] = b1 * s[0] + (1 - b1) * g;
        s[1] = b2 * s[1] + (1 - b2) * g * g;
        const double m_hat = s[0] / (1 - std::pow(b1, t));
        const double v_hat = s[1] / (1 - std::pow(b2, t));
        // Keras's epsilon is "epsilon hat": added to sqrt(v) before the bias correction.
        w -= lr * m_hat / (std::sqrt(v_hat) + eps / std::sqrt(1 - std::pow(b2, t)));
      },
      2);
}

TEST_CASE("Adam's defaults are Keras's", "[optimizers]") {
  tapegrad::Adam opt;
  CHECK(opt.learning_rate() == 1e-3);
  CHECK(opt.beta_1() == 0.9);
  CHECK(opt.beta_2() == 0.999);
  CHECK(opt.epsilon() == 1e-7);
  CHECK(opt.name() == "Adam");
}

TEST_CASE("Adam's first step moves each element by about the learning rate", "[optimizers]") {
  // As in Keras's own test: lr 0.5 and gradients [1, 6, 7, 2] take [1, 2, 3, 4] to
  // [0.5, 1.5, 2.5, 3.5] (to within epsilon).
  tapegrad::Adam opt(0.5);
  std::vector<Variable<double>> x{Variable<double>({1.0, 2.0, 3.0, 4.0})};
  opt.apply_gradients(std::vector<Tensor<double>>{Tensor<double>({1.0, 6.0, 7.0, 2.0})}, x);
  const auto got = x[0].value().to_vector();
  const std::vector<double> expected{0.5, 1.5, 2.5, 3.5};
  for (std::size_t i = 0; i < 4; ++i) CHECK(got[i] == Approx(expected[i]).margin(1e-5));
}

TEMPLATE_TEST_CASE("AdamW shrinks the variable by lr * weight_decay, then takes Adam's step",
                   "[optimizers]", float, double) {
  const double lr = 0.02, wd = 0.1, b1 = 0.8, b2 = 0.99, eps = 1e-6;
  tapegrad::AdamW opt(lr, wd, b1, b2, eps);
  CHECK(opt.weight_decay() == wd);
  CHECK(opt.name() == "AdamW");
  check_against_rule<TestType>(
      opt,
      [&](double& w, std::vector<double>& s, double g, int t) {
        w -= lr * wd * w;  // decoupled: the decay never enters m or v
        s[0] = b1 * s[0] + (1 - b1) * g;
        s[1] = b2 * s[1] + (1 - b2) * g * g;
        const double alpha = lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
        w -= alpha * s[0] / (std::sqrt(s[1]) + eps);
      },
      2);
}

TEST_CASE("AdamW's defaults are Keras's", "[optimizers]") {
  tapegrad::AdamW opt;
  CHECK(opt.learning_rate() == 1e-3);
  CHECK(opt.weight_decay() == 0.004);
  CHECK(opt.epsilon() == 1e-7);
  CHECK_THROWS_AS(tapegrad::Adam(1e-3, 1.5), tapegrad::value_error);
  CHECK_THROWS_AS(tapegrad::Adam(1e-3, 0.9, 0.999, -1.0), tapegrad::value_error);
}

TEST_CASE("AdamW with a zero gradient still decays the weights", "[optimizers]") {
  tapegrad::AdamW opt(0.1, 0.5);
  std::vector<Variable<double>> w{Variable<double>({2.0, -4.0})};
  for (int step = 0; step < 3; ++step)
    opt.apply_gradients(std::vector<Tensor<double>>{Tensor<double>({0.0, 0.0})}, w);
  // m stays 0, so only the decay acts: w * (1 - 0.1 * 0.5)^3.
  CHECK(w[0].value().at(0) == Approx(2.0 * std::pow(0.95, 3)).epsilon(1e-14));
  CHECK(w[0].value().at(1) == Approx(-4.0 * std::pow(0.95, 3)).epsilon(1e-14));
}

// ---- RMSprop ----

TEMPLATE_TEST_CASE("RMSprop: w -= lr g / sqrt(v + epsilon)", "[optimizers]", float, double) {
  const double lr = 0.01, rho = 0.9, eps = 1e-7;
  tapegrad::RMSprop opt(lr);
  CHECK(opt.rho() == rho);
  CHECK(opt.momentum() == 0.0);
  CHECK(opt.epsilon() == eps);
  CHECK_FALSE(opt.centered());
  check_against_rule<TestType>(
      opt,
      [&](double& w, std::vector<double>& s, double g, int) {
        s[0] = rho * s[0] + (1 - rho) * g * g;
        w -= lr * g / std::sqrt(s[0] + eps);
      },
      1);
}

TEMPLATE_TEST_CASE("RMSprop centered divides by the estimated variance", "[optimizers]", float,
                   double) {
  const double lr = 0.01, rho = 0.8, eps = 1e-7;
  tapegrad::RMSprop opt(lr, rho, 0.0, eps, true);
  check_against_rule<TestType>(
      opt,
      [&](double& w, std::vector<double>& s, double g, int) {
        s[0] = rho * s[0] + (1 - rho) * g * g;
        s[1] = rho * s[1] + (1 - rho) * g;
        w -= lr * g / std::sqrt(s[0] - s[1] * s[1] + eps);
      },
      2);
}

TEMPLATE_TEST_CASE("RMSprop with momentum, plain and centered", "[optimizers]", float, double) {
  const double lr = 0.01, rho = 0.9, mu = 0.7, eps = 1e-7;
  for (bool centered : {false, true}) {
    INFO("centered " << centered);
    tapegrad::RMSprop opt(lr, rho, mu, eps, centered);
    check_against_rule<TestType>(
        opt,
        [&](double& w, std::vector<double>& s, double g, int) {
          s[0] = rho * s[0] + (1 - rho) * g * g;
          s[1] = rho * s[1] + (1 - rho) * g;
          const double d = centered ? s[0] - s[1] * s[1] + eps : s[0] + eps;
          s[2] = mu * s[2] + lr * g / std::sqrt(d);
          w -= s[2];
        },
        3);
  }
}

// ---- what every optimizer shares ----

TEST_CASE("A gradient with no value skips its variable, as in Keras", "[optimizers]") {
  const double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-7;
  tapegrad::Adam opt(lr);
  Variable<double> a({1.0, 2.0}, "a"), b({3.0, 4.0}, "b");
  const std::vector<Variable<double>> vars{a, b};
  const std::vector<Tensor<double>> grads[3] = {
      {Tensor<double>({0.5, -1.0}), Tensor<double>({2.0, 1.0})},
      {Tensor<double>({0.25, 0.5}), Tensor<double>()},  // b has no gradient at step 2
      {Tensor<double>({-1.0, 1.5}), Tensor<double>({-0.5, 3.0})},
  };
  double wa[2] = {1.0, 2.0}, wb[2] = {3.0, 4.0}, ma[2] = {}, va[2] = {}, mb[2] = {}, vb[2] = {};
  auto adam = [&](double& w, double& m, double& v, double g, int t) {
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    w -= lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t)) * m / (std::sqrt(v) + eps);
  };
  for (int step = 0; step < 3; ++step) {
    opt.apply_gradients(grads[step], vars);
    for (int i = 0; i < 2; ++i) {
      adam(wa[i], ma[i], va[i], grads[step][0].to_vector()[std::size_t(i)], step + 1);
      // b's slots stay as they were at step 2; the step count (t) is the optimizer's.
      if (step != 1)
        adam(wb[i], mb[i], vb[i], grads[step][1].to_vector()[std::size_t(i)], step + 1);
      CHECK(a.value().at(i) == Approx(wa[i]).epsilon(1e-14));
      CHECK(b.value().at(i) == Approx(wb[i]).epsilon(1e-14));
    }
  }
  CHECK(opt.iterations() == 3);

  // Every gradient missing is an error, as Keras raises, and changes nothing.
  const auto before = a.value().to_vector();
  CHECK_THROWS_WITH(
      opt.apply_gradients(std::vector<Tensor<double>>{Tensor<double>(), Tensor<double>()}, vars),
      Catch::Matchers::Contains("No gradients provided for any variable"));
  CHECK(a.value().to_vector() == before);
  CHECK(opt.iterations() == 3);
}

TEST_CASE("A skipped variable is left exactly as it was", "[optimizers]") {
  tapegrad::SGD opt(0.5, 0.9);
  Variable<float> a({1.f, 2.f}), b({3.f, 4.f});
  opt.apply_gradients(std::vector<Tensor<float>>{Tensor<float>(), Tensor<float>({1.f, 1.f})},
                      {a, b});
  CHECK(a.value().to_vector() == std::vector<float>{1.f, 2.f});
  CHECK(b.value().to_vector() == std::vector<float>{2.5f, 3.5f});
}

TEST_CASE("apply_gradients checks everything before changing anything", "[optimizers]") {
  tapegrad::Adam opt(0.1);
  Variable<double> a({1.0, 2.0}, "a"), b({{1.0, 2.0}, {3.0, 4.0}}, "b");
  const std::vector<Variable<double>> vars{a, b};
  SECTION("a gradient of the wrong shape") {
    // a's gradient is fine and comes first; a must not move.
    CHECK_THROWS_AS(opt.apply_gradients(std::vector<Tensor<double>>{Tensor<double>({1.0, 1.0}),
                                                                    Tensor<double>({1.0, 1.0})},
                                        vars),
                    tapegrad::shape_error);
    CHECK_THROWS_WITH(
        opt.apply_gradients(
            std::vector<Tensor<double>>{Tensor<double>({1.0, 1.0}), Tensor<double>({1.0, 1.0})},
            vars),
        "Adam.apply_gradients: gradient 1 has shape [2] but variable 'b' has shape [2,2]");
  }
  SECTION("fewer gradients than variables") {
    CHECK_THROWS_WITH(
        opt.apply_gradients(std::vector<Tensor<double>>{Tensor<double>({1.0, 1.0})}, vars),
        Catch::Matchers::Contains("1 gradients for 2 variables"));
  }
  SECTION("a schedule that gives NaN") {
    tapegrad::SGD bad([](std::int64_t) { return std::nan(""); });
    CHECK_THROWS_AS(
        bad.apply_gradients(
            std::vector<Tensor<double>>{Tensor<double>({1.0, 1.0}), Tensor<double>()}, vars),
        tapegrad::value_error);
    CHECK(bad.iterations() == 0);
  }
  CHECK(a.value().to_vector() == std::vector<double>{1.0, 2.0});
  CHECK(b.value().to_vector() == std::vector<double>{1.0, 2.0, 3.0, 4.0});
  CHECK(opt.iterations() == 0);
}

TEST_CASE("Slots follow the variable, not the handle", "[optimizers]") {
  // Two handles on one variable share its momentum; a different variable has its own.
  tapegrad::SGD opt(1.0, 0.5);
  Variable<double> w({0.0});
  Variable<double> same = w;
  const Tensor<double> g({1.0});
  opt.apply_gradients(std::vector<Tensor<double>>{g}, {w});     // m = -1, w = -1
  opt.apply_gradients(std::vector<Tensor<double>>{g}, {same});  // m = -1.5, w = -2.5
  CHECK(w.value().item() == -2.5);

  // A new variable starts from zero momentum, even one that reuses a dead variable's address.
  for (int round = 0; round < 4; ++round) {
    Variable<double> fresh({10.0});
    opt.apply_gradients(std::vector<Tensor<double>>{g}, {fresh});
    CHECK(fresh.value().item() == 9.0);
  }
}

TEST_CASE("A learning-rate schedule is called with the step count", "[optimizers]") {
  tapegrad::SGD opt(tapegrad::ExponentialDecay(0.1, 1, 0.5));  // 0.1, 0.05, 0.025, ...
  Variable<double> w({0.0});
  double expected = 0;
  for (int step = 0; step < 4; ++step) {
    CHECK(opt.learning_rate() == Approx(0.1 * std::pow(0.5, step)).epsilon(1e-15));
    opt.apply_gradients(std::vector<Tensor<double>>{Tensor<double>({-1.0})}, {w});
    expected += 0.1 * std::pow(0.5, step);
    CHECK(w.value().item() == Approx(expected).epsilon(1e-15));
  }
  // Any callable step -> rate works, and the rate can be replaced between steps.
  tapegrad::SGD custom([](std::int64_t step) { return 1.0 / double(step + 1); });
  Variable<double> x({0.0});
  custom.apply_gradients(std::vector<Tensor<double>>{Tensor<double>({-1.0})}, {x});
  custom.apply_gradients(std::vector<Tensor<double>>{Tensor<double>({-1.0})}, {x});
  CHECK(x.value().item() == 1.5);
  custom.set_learning_rate(2.0);
  custom.apply_gradients(std::vector<Tensor<double>>{Tensor<double>({-1.0})}, {x});
  CHECK(x.value().item() == 3.5);
}

TEST_CASE("Training steps inside an open tape record and watch nothing", "[optimizers]") {
  Variable<double> w({1.0, 2.0}, "w");
  tapegrad::RMSprop opt(0.01, 0.9, 0.5, 1e-7, true);
  GradientTape tape(tapegrad::persistent);
  auto loss = tapegrad::sum(w * w);
  auto grads = tape.gradient(loss, std::vector<Variable<double>>{w});
  const auto watched_before = tape.watched_variables<double>().size();
  opt.apply_gradients(grads, {w});
  CHECK(tape.watched_variables<double>().size() == watched_before);
  // The loss computed before the step still differentiates to the old gradient.
  CHECK(tape.gradient(loss, w).to_vector() == std::vector<double>{2.0, 4.0});
}

TEST_CASE("An optimizer trains float and double variables side by side", "[optimizers]") {
  tapegrad::SGD opt(0.5, 0.5);
  Variable<float> f({1.f});
  Variable<double> d({1.0});
  for (int step = 0; step < 2; ++step) {
    opt.apply_gradients(std::vector<Tensor<float>>{Tensor<float>({1.f})}, {f});
    opt.apply_gradients(std::vector<Tensor<double>>{Tensor<double>({1.0})}, {d});
  }
  // Each call is a step: m = -0.5, then -0.75 for f at steps 0, 2; d at steps 1, 3 alike.
  CHECK(f.value().item() == -0.25f);
  CHECK(d.value().item() == -0.25);
  CHECK(opt.iterations() == 4);
}

// ---- schedules ----

TEST_CASE("StepDecay multiplies by factor every step_size steps", "[schedules]") {
  const tapegrad::StepDecay lr(0.1, 3, 0.5);
  CHECK(lr(0) == 0.1);
  CHECK(lr(2) == 0.1);
  CHECK(lr(3) == 0.05);
  CHECK(lr(5) == 0.05);
  CHECK(lr(6) == 0.025);
  CHECK(lr(10) == Approx(0.0125).epsilon(1e-15));
  CHECK(tapegrad::StepDecay(1.0, 10)(25) == Approx(0.01).epsilon(1e-15));  // factor 0.1
  CHECK_THROWS_AS(tapegrad::StepDecay(0.1, 0), tapegrad::value_error);
  CHECK_THROWS_AS(lr(-1), tapegrad::value_error);
}

TEST_CASE("ExponentialDecay is Keras's, smooth or staircase", "[schedules]") {
  const tapegrad::ExponentialDecay smooth(0.1, 10, 0.5);
  CHECK(smooth(0) == 0.1);
  CHECK(smooth(5) == Approx(0.1 * std::sqrt(0.5)).epsilon(1e-15));
  CHECK(smooth(10) == Approx(0.05).epsilon(1e-15));
  CHECK(smooth(15) == Approx(0.1 * std::pow(0.5, 1.5)).epsilon(1e-15));
  CHECK(smooth(30) == Approx(0.0125).epsilon(1e-15));
  const tapegrad::ExponentialDecay stairs(0.1, 10, 0.5, true);
  CHECK(stairs(9) == 0.1);
  CHECK(stairs(10) == Approx(0.05).epsilon(1e-15));
  CHECK(stairs(15) == Approx(0.05).epsilon(1e-15));
  CHECK(stairs(29) == Approx(0.025).epsilon(1e-15));
  CHECK_THROWS_WITH(tapegrad::ExponentialDecay(0.1, 0, 0.5),
                    Catch::Matchers::Contains("Argument `decay_steps` must be > 0"));
}

TEST_CASE("CosineDecay is Keras's, with alpha as the floor", "[schedules]") {
  const tapegrad::CosineDecay lr(1.0, 10, 0.1);
  CHECK(lr(0) == Approx(1.0).epsilon(1e-15));
  // Halfway, cos = 0: (1 - 0.1) * 0.5 + 0.1.
  CHECK(lr(5) == Approx(0.55).epsilon(1e-15));
  CHECK(lr(2) ==
        Approx(0.9 * 0.5 * (1 + std::cos(3.14159265358979323846 * 0.2)) + 0.1).epsilon(1e-15));
  CHECK(lr(10) == Approx(0.1).epsilon(1e-15));
  CHECK(lr(100) == Approx(0.1).epsilon(1e-15));  // constant after decay_steps
  CHECK(tapegrad::CosineDecay(0.5, 4)(4) == Approx(0.0).margin(1e-17));
  CHECK_THROWS_AS(tapegrad::CosineDecay(1.0, -3), tapegrad::value_error);
}

// ---- clipping ----

TEST_CASE("clip_by_value clips every gradient and passes no-value ones", "[clipping]") {
  const std::vector<Tensor<double>> grads{Tensor<double>({-3.0, 0.5, 2.0}), Tensor<double>(),
                                          Tensor<double>({{-0.1, 9.0}})};
  const auto clipped = tapegrad::clip_by_value(grads, -1.0, 1.0);
  REQUIRE(clipped.size() == 3);
  CHECK(clipped[0].to_vector() == std::vector<double>{-1.0, 0.5, 1.0});
  CHECK_FALSE(clipped[1].has_value());
  CHECK(clipped[2].shape() == Shape{1, 2});
  CHECK(clipped[2].to_vector() == std::vector<double>{-0.1, 1.0});
  CHECK_THROWS_AS(tapegrad::clip_by_value(grads, 1.0, -1.0), tapegrad::value_error);
}

TEMPLATE_TEST_CASE("clip_by_global_norm scales all gradients together", "[clipping]", float,
                   double) {
  using T = TestType;
  // Global norm sqrt(3^2 + 4^2 + 12^2) = 13.
  const std::vector<Tensor<T>> grads{Tensor<T>({T(3), T(4)}), Tensor<T>(), Tensor<T>({{T(12)}})};
  SECTION("above clip_norm: scaled by clip_norm / norm") {
    const auto [clipped, norm] = tapegrad::clip_by_global_norm(grads, 6.5);
    CHECK(norm == T(13));
    CHECK(clipped[0].to_vector() == std::vector<T>{T(1.5), T(2)});
    CHECK_FALSE(clipped[1].has_value());
    CHECK(clipped[2].shape() == Shape{1, 1});
    CHECK(clipped[2].item() == T(6));
    CHECK(grads[0].to_vector() == std::vector<T>{T(3), T(4)});  // inputs untouched
  }
  SECTION("at or below clip_norm: the same tensors") {
    for (double clip : {13.0, 100.0}) {
      const auto [clipped, norm] = tapegrad::clip_by_global_norm(grads, clip);
      CHECK(norm == T(13));
      CHECK(clipped[0].data() == grads[0].data());
      CHECK(clipped[2].data() == grads[2].data());
      CHECK_FALSE(clipped[1].has_value());
    }
  }
  SECTION("an infinite norm gives NaN everywhere, as TensorFlow does") {
    const std::vector<Tensor<T>> bad{Tensor<T>({std::numeric_limits<T>::infinity(), T(1)})};
    const auto [clipped, norm] = tapegrad::clip_by_global_norm(bad, 1.0);
    CHECK(std::isinf(norm));
    CHECK(std::isnan(clipped[0].to_vector()[0]));
    CHECK(std::isnan(clipped[0].to_vector()[1]));
  }
  SECTION("all gradients missing: norm 0, nothing to clip") {
    const auto [clipped, norm] =
        tapegrad::clip_by_global_norm(std::vector<Tensor<T>>{Tensor<T>()}, 1.0);
    CHECK(norm == T(0));
    CHECK_FALSE(clipped[0].has_value());
  }
  CHECK_THROWS_AS(tapegrad::clip_by_global_norm(grads, -1.0), tapegrad::value_error);
}

TEST_CASE("clip_by_global_norm sums in double, so large float gradients stay finite",
          "[clipping]") {
  const std::vector<Tensor<float>> grads{Tensor<float>({3e20f, 4e20f})};  // squares overflow float
  const auto [clipped, norm] = tapegrad::clip_by_global_norm(grads, 1.0);
  CHECK(norm == Approx(5e20f).epsilon(1e-6));
  CHECK(clipped[0].at(0) == Approx(0.6f).epsilon(1e-6));
  CHECK(clipped[0].at(1) == Approx(0.8f).epsilon(1e-6));
}

TEST_CASE("apply_gradients warns once per variable whose gradient is None", "[train][optimizers]") {
  std::vector<std::string> warnings;
  const auto previous =
      tapegrad::set_warning_handler([&](const std::string& w) { warnings.push_back(w); });
  tapegrad::Variable<float> w({1.f}, "w"), b({2.f}, "b"), c({3.f});
  tapegrad::SGD opt(0.5);
  const std::vector<tapegrad::Variable<float>> vars{w, b, c};
  for (int step = 0; step < 3; ++step) {
    tapegrad::GradientTape tape;
    const auto loss = tapegrad::sum(w * w);
    opt.apply_gradients(tape.gradient(loss, vars), vars);
  }
  tapegrad::set_warning_handler(previous);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] ==
        "SGD.apply_gradients: Gradients do not exist for variables ['b', '<unnamed variable 2>'] "
        "when minimizing the loss; they are left as they are (tape.explain(loss, variable) says "
        "why).");
  CHECK(b.snapshot().item() == 2.f);
  CHECK(w.snapshot().item() == 0.f);  // 1 - 0.5 * 2 after the first step, then at rest
}
