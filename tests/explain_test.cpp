// Pins explain()'s answer for each way a gradient can be missing, and for a path.
#include "test_util.hpp"

#include <optional>
#include <thread>

using Catch::Contains;
using Catch::StartsWith;
using tapegrad::GradientTape;
using tapegrad::Tensor;
using tapegrad::Variable;

TEST_CASE("explain: the path of ops when there is one", "[explain]") {
  Tensor<double> x({1.0, 2.0});
  GradientTape tape;
  tape.watch(x);
  auto y = tapegrad::sum(tapegrad::sin(x * 2.0));
  CHECK(tape.explain(y, x) ==
        "The gradient flows from the source to the target through 3 recorded ops: source -> mul "
        "-> sin -> sum -> target.");
}

TEST_CASE("explain: a tensor that was never watched", "[explain]") {
  Tensor<double> x(1.0), c(2.0);
  GradientTape tape;
  tape.watch(x);
  auto y = x * c;
  CHECK_THAT(tape.explain(y, c),
             Contains("the source was never watched by this tape") && Contains("tape.watch(x)"));
}

TEST_CASE("explain: a variable that is not trainable, or not watched", "[explain]") {
  Variable<double> frozen({1.0}, "frozen", false), w({2.0}, "w");
  {
    GradientTape tape;
    auto y = frozen * 2.0;
    CHECK_THAT(tape.explain(y, frozen), Contains("the variable 'frozen' is not trainable"));
  }
  {
    GradientTape tape(tapegrad::TapeOptions{false, false});
    auto y = w * 2.0;
    CHECK_THAT(tape.explain(y, w), Contains("watch_accessed_variables = false"));
  }
  {
    Tensor<double> early = w;
    GradientTape tape;
    auto y = early * 2.0;
    CHECK_THAT(tape.explain(y, w), Contains("was never read while this tape recorded"));
  }
}

TEST_CASE("explain: a variable replaced by a new one of the same name", "[explain]") {
  Variable<double> w({2.0}, "w");
  GradientTape tape;
  auto loss = w * w;
  w = Variable<double>(Tensor<double>({1.0}), "w");  // instead of w.assign(...)
  CHECK_THAT(tape.explain(loss, w), Contains("is not the Variable this tape watched"));
  CHECK_FALSE(tape.gradient(loss, w).has_value());
}

TEST_CASE("explain: a stop_gradient cut", "[explain]") {
  Tensor<double> x(3.0);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  auto y = tapegrad::sin(tapegrad::stop_gradient(x * 2.0));
  CHECK(tape.explain(y, x) ==
        "No gradient: the target depends on the source (source -> mul -> stop_gradient -> sin -> "
        "target), but the path is cut at stop_gradient. Every path is cut like this.");
  CHECK_FALSE(tape.gradient(y, x).has_value());
}

TEST_CASE("explain: an op inside stop_recording", "[explain]") {
  Tensor<double> x(3.0);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  Tensor<double> y;
  {
    auto pause = tape.stop_recording();
    y = x * x;
  }
  auto z = y + 1.0;
  CHECK_THAT(tape.explain(z, x), Contains("cut at 'mul', which ran inside stop_recording()"));
  CHECK_FALSE(tape.gradient(z, x).has_value());
}

TEST_CASE("explain: a paused tape notes ops of many inputs, and a moved pause", "[explain]") {
  Tensor<double> x({1.0, 2.0}), c({3.0, 4.0});
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  Tensor<double> y;
  {
    auto first = tape.stop_recording();
    auto pause = std::move(first);  // the pause survives a move
    CHECK_FALSE(tape.recording());
    y = tapegrad::stack<double>({c, c, c, x * 2.0, c}, 0);
  }
  CHECK(tape.recording());
  auto z = tapegrad::sum(y);
  CHECK(tape.explain(z, x) ==
        "No gradient: the target depends on the source (source -> mul -> stack -> sum -> "
        "target), but the path is cut at 'mul', which ran inside stop_recording(). Every path "
        "is cut like this.");
  CHECK_FALSE(tape.gradient(z, x).has_value());
  // After the pause, the same ops record again.
  auto w = tapegrad::sum(tapegrad::stack<double>({c, c, c, x * 2.0, c}, 0));
  CHECK(tape.gradient(w, x).to_vector() == std::vector<double>{2.0, 2.0});
}

TEST_CASE("explain: a pause notes nothing of a custom gradient's forward", "[explain]") {
  Tensor<double> x(3.0);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  const std::size_t before = tape.internal_state().entries.size();
  {
    auto pause = tape.stop_recording();
    const auto square = tapegrad::custom_gradient([](const Tensor<double>& v) {
      auto f = v * v;  // inside the forward: hidden from every tape, noted by none
      return std::make_pair(f, [v](const Tensor<double>& g) { return g * 2.0 * v; });
    });
    auto y = square(x);
    auto after_forward = tape.internal_state().entries.size();
    CHECK(after_forward == before + 1);  // the custom gradient op itself, noted as a barrier
  }
}

TEST_CASE("explain: recorded before reset", "[explain]") {
  Tensor<double> x(3.0);
  GradientTape tape;
  tape.watch(x);
  auto y = x * x;
  tape.reset();
  tape.watch(x);
  CHECK_THAT(tape.explain(y, x), Contains("recorded before this tape's reset()"));
}

TEST_CASE("explain: computed on another thread", "[explain][threads]") {
  Tensor<double> x(3.0);
  GradientTape tape;
  tape.watch(x);
  Tensor<double> y;
  std::thread([&] { y = x * x; }).join();
  CHECK_THAT(tape.explain(y, x), Contains("did not record how the target was computed") &&
                                     Contains("on another thread"));
}

TEST_CASE("explain: a target that does not depend on the source", "[explain]") {
  Tensor<double> x(3.0), z(4.0);
  GradientTape tape;
  tape.watch(x);
  tape.watch(z);
  auto y = z * 2.0;
  CHECK(tape.explain(y, x) ==
        "No gradient: the target does not depend on the source: no recorded op leads from one "
        "to the other.");
}

TEST_CASE("explain: after a non-persistent tape's gradient", "[explain]") {
  Tensor<double> x(3.0);
  GradientTape tape;
  tape.watch(x);
  auto y = x * x;
  tape.gradient(y, x);
  CHECK_THAT(tape.explain(y, x), Contains("already computed its one set of gradients"));
}

TEST_CASE("explain: a spent non-persistent tape still says why each None came about", "[explain]") {
  Tensor<double> x(3.0), c(2.0), z(1.0);
  tapegrad::Variable<double> w(1.0, "w"), unused(5.0, "unused");
  GradientTape tape;
  tape.watch(x);
  tape.watch(z);
  const auto y = x * w * tapegrad::stop_gradient(z) + c;
  const auto grads = tape.gradient(y, {x, c, z});
  CHECK_FALSE(grads[1].has_value());
  CHECK_FALSE(grads[2].has_value());
  CHECK_THAT(tape.explain(y, c),
             StartsWith("No gradient: the source was never watched by this tape.") &&
                 Contains("Worked out when this non-persistent tape computed"));
  CHECK_THAT(tape.explain(y, z), Contains("the path is cut at stop_gradient"));
  // x had a gradient: nothing was kept for it, and the answer says so.
  CHECK_THAT(tape.explain(y, x), Contains("not such a pair"));
  // The same for variables, and for a tape asked with UnconnectedGradients::zero.
  GradientTape second;
  const auto loss = w * 3.0;
  (void)unused.value();  // read, so watched, but not used by the loss
  const auto g = second.gradient(loss, std::vector<tapegrad::Variable<double>>{w, unused},
                                 tapegrad::UnconnectedGradients::zero);
  CHECK(g[1].item() == 0.0);
  CHECK_THAT(second.explain(loss, unused),
             StartsWith("No gradient: the target does not depend on the variable 'unused'"));
  // Starting the spent tape again forgets the reasons with everything else.
  second.start();
  CHECK_THAT(second.explain(loss, unused), !Contains("Worked out"));
}

TEST_CASE(
    "A pause takes no note of an op that anomaly mode refused, nor of its tape's own "
    "gradient, and outlives its tape harmlessly",
    "[explain][anomaly]") {
  Tensor<double> x({1.0, 2.0});
  {
    tapegrad::DetectAnomaly anomaly;
    GradientTape tape(tapegrad::persistent);
    tape.watch(x);
    const std::size_t before = tape.internal_state().entries.size();
    auto pause = tape.stop_recording();
    CHECK_THROWS_AS(tapegrad::log(x - 5.0), tapegrad::anomaly_error);
    // The subtraction ran and was noted; the log that anomaly mode refused was not.
    CHECK(tape.internal_state().entries.size() == before + 1);
  }
  {
    GradientTape tape(tapegrad::persistent);
    tape.watch(x);
    auto y = tapegrad::sum(tapegrad::sin(x) * x);
    const std::size_t before = tape.internal_state().entries.size();
    auto pause = tape.stop_recording();
    const auto g = tape.gradient(y, x);  // the backward's ops are no op of the record
    CHECK(g.has_value());
    CHECK(tape.internal_state().entries.size() == before);
  }
  std::optional<tapegrad::RecordingPause> late;
  {
    GradientTape tape;
    tape.watch(x);
    late.emplace(tape.stop_recording());
  }
  auto z = x * 2.0;  // the pause's observer is still installed: it must not touch the tape
  CHECK(z.to_vector() == std::vector<double>{2.0, 4.0});
  late.reset();
}
