#include "test_util.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

using tapegrad::GradientTape;
using tapegrad::Tensor;

namespace {
std::string here(int line) {
  return std::string(__FILE__) + ":" + std::to_string(line);
}
}  // namespace

TEST_CASE("Anomaly mode names the op, its shapes and the user's line for a NaN forward",
          "[anomaly]") {
  const Tensor<double> x({1.0, -1.0});
  tapegrad::DetectAnomaly anomaly;
  // The line inside a Catch2 macro differs between compilers; the file is what matters here.
  CHECK_THROWS_WITH(tapegrad::log(x),
                    Catch::StartsWith("anomaly: log produced NaN (element 1 of [2]) from finite "
                                      "inputs [2], called at " __FILE__ ":"));
  CHECK_THROWS_AS(tapegrad::log(x), tapegrad::anomaly_error);
  CHECK_THROWS_AS(tapegrad::log(x), tapegrad::error);
}

TEST_CASE("Anomaly mode: an op built from others reports the user's line, not the library's",
          "[anomaly]") {
  const Tensor<double> x({{1.0, std::numeric_limits<double>::infinity()}});
  tapegrad::DetectAnomaly anomaly;
  const int line = __LINE__ + 2;
  try {
    (void)tapegrad::log_softmax(x);
    FAIL("no anomaly reported");
  } catch (const tapegrad::anomaly_error& e) {
    const std::string text = e.what();
    CHECK_THAT(text, Catch::Contains("from inputs (not all finite)"));
    CHECK_THAT(text, Catch::EndsWith("called at " + here(line)));
  }
}

TEST_CASE("Anomaly mode: operators name the op and shapes; the named forms give the line",
          "[anomaly]") {
  const Tensor<double> a({1.0, 2.0}), zero(0.0);
  tapegrad::DetectAnomaly anomaly;
  CHECK_THROWS_WITH(a / zero, Catch::StartsWith("anomaly: div produced inf (element 0 of [2]) "
                                                "from finite inputs [2], []") &&
                                  Catch::Contains("no source location"));
  const int line = __LINE__ + 1;
  CHECK_THROWS_WITH(tapegrad::divide(a, zero), Catch::EndsWith("called at " + here(line)));
}

TEST_CASE("Anomaly mode finds the backward that first produces a NaN or inf", "[anomaly]") {
  const Tensor<double> x({0.0, 4.0});
  GradientTape tape;
  tape.watch(x);
  tapegrad::DetectAnomaly anomaly;
  const int line = __LINE__ + 1;
  const Tensor<double> y = tapegrad::sqrt(x);  // finite forward: sqrt(0) = 0
  CHECK_THROWS_WITH(tape.gradient(tapegrad::sum(y), x),
                    "anomaly: the backward of sqrt produced inf (element 0 of [2], computing "
                    "sqrt_grad); the op had inputs [2], called at " +
                        here(line));
}

TEST_CASE("Anomaly mode checks the gradients a backward returns directly", "[anomaly]") {
  // A custom gradient whose gradient function builds its result from a constant no op
  // produced, so only the check after the backward can see it.
  const Tensor<double> x({1.0, 2.0});
  GradientTape tape;
  tape.watch(x);
  tapegrad::DetectAnomaly anomaly;
  auto op = tapegrad::custom_gradient([](const Tensor<double>& v) {
    return std::make_pair(v * 2.0, [](const Tensor<double>&) {
      return Tensor<double>({1.0, std::numeric_limits<double>::quiet_NaN()});
    });
  });
  const Tensor<double> y = op(x);
  CHECK_THROWS_WITH(tape.gradient(y, x),
                    Catch::StartsWith("anomaly: the backward of custom_gradient produced NaN in "
                                      "the gradient of input 0 (element 1 of [2])"));
}

TEST_CASE("Anomaly mode is off by default and leaves tapes usable after it throws", "[anomaly]") {
  const Tensor<double> x({1.0, -1.0});
  CHECK(std::isnan(tapegrad::log(x).to_vector()[1]));  // off: NaN propagates quietly
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  const Tensor<double> y = x * x;
  {
    tapegrad::DetectAnomaly anomaly;
    CHECK_THROWS_AS(tapegrad::log(y - 2.0), tapegrad::anomaly_error);
    // Nested guards: still on until the outer one goes.
    { tapegrad::DetectAnomaly inner; }
    CHECK_THROWS_AS(tapegrad::log(y - 2.0), tapegrad::anomaly_error);
  }
  CHECK(std::isnan(tapegrad::log(y - 2.0).to_vector()[0]));
  CHECK(tape.gradient(tapegrad::sum(y), x).to_vector() == std::vector<double>{2.0, -2.0});
}

// NOTE [ Anomaly mode as an observer ]
TEST_CASE(
    "Anomaly mode is an op observer: another one hears every op beside it, either may go "
    "first",
    "[anomaly][observer]") {
  namespace detail = tapegrad::detail;
  struct Counter : detail::OpObserver {
    int before = 0, after = 0, steps = 0, steps_done = 0;
    void before_op(const detail::OpCall&) override { ++before; }
    void on_op(const detail::OpCall& c) override {
      ++after;
      CHECK(c.recorded == (c.n_tapes > 0));
    }
    void on_backward_step(const detail::TapeState&, std::size_t) override { ++steps; }
    void after_backward_step(const detail::TapeState& tape, std::size_t index, const bool* needs,
                             detail::ImplRef* grads) override {
      ++steps_done;
      for (std::uint32_t k = 0; k < tape.entries[index].n_inputs; ++k)
        if (needs[k]) CHECK(grads[k]);
    }
  };
  const Tensor<double> x({1.0, 2.0});
  Counter counter;
  auto anomaly = std::make_unique<tapegrad::DetectAnomaly>();
  {
    detail::ObserverScope scope(counter);
    {
      GradientTape tape;
      tape.watch(x);
      const auto y = tapegrad::sum(tapegrad::exp(x) * x);
      CHECK(counter.before == 3);
      CHECK(counter.after == 3);
      const std::vector<double> g = tape.gradient(y, x).to_vector();
      CHECK(g[0] == Approx(std::exp(1.0) * 2.0));  // (x + 1) e^x
      CHECK(g[1] == Approx(std::exp(2.0) * 3.0));
      CHECK(counter.steps == 3);
      CHECK(counter.steps_done == 3);
    }
    CHECK_THROWS_AS(tapegrad::log(x - 5.0), tapegrad::anomaly_error);
    anomaly.reset();  // the scope installed first ends first
    const int before = counter.before;
    CHECK(std::isnan(tapegrad::log(x - 5.0).to_vector()[0]));
    CHECK(counter.before == before + 2);
  }
  CHECK_FALSE(detail::any_tape_recording());
  CHECK(detail::thread_tapes.observer == nullptr);
}

TEST_CASE("Nested anomaly guards share call sites, also with an observer that runs ops itself",
          "[anomaly][observer]") {
  namespace detail = tapegrad::detail;
  // An observer, installed after anomaly mode, that runs an op of its own on every op it
  // sees: a tape then records that op's entry before anomaly mode hears of the first.
  struct Echo : detail::OpObserver {
    bool inside = false;
    void on_op(const detail::OpCall& c) override {
      if (inside || !c.recorded) return;
      inside = true;
      (void)tapegrad::sum(Tensor<double>(c.output));
      inside = false;
    }
  };
  const Tensor<double> x({0.0, 4.0});
  GradientTape tape;
  tape.watch(x);
  tapegrad::DetectAnomaly outer;
  Echo echo;
  detail::ObserverScope scope(echo);
  const int line = __LINE__ + 1;
  const Tensor<double> y = tapegrad::sqrt(x);
  tapegrad::DetectAnomaly inner;  // installed after the forward: it knows the site through
                                  // the store the guards share
  CHECK_THROWS_WITH(tape.gradient(tapegrad::sum(y), x),
                    "anomaly: the backward of sqrt produced inf (element 0 of [2], computing "
                    "sqrt_grad); the op had inputs [2], called at " +
                        here(line));
}

TEST_CASE("Installing an observer that is already installed is a tape_error", "[observer]") {
  struct Quiet : tapegrad::detail::OpObserver {};
  Quiet quiet;
  tapegrad::detail::ObserverScope scope(quiet);
  CHECK_THROWS_AS(tapegrad::detail::ObserverScope(quiet), tapegrad::tape_error);
  CHECK(tapegrad::detail::thread_tapes.observers == 1);
}
