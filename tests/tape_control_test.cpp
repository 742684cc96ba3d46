#include "test_util.hpp"

using tapegrad::GradientTape;
using tapegrad::Tensor;
using tapegrad::Variable;

TEST_CASE("stop_recording pauses the tape while the guard lives", "[tape][control]") {
  Tensor<double> x(3.0);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  Tensor<double> hidden;
  {
    auto pause = tape.stop_recording();
    CHECK_FALSE(tape.recording());
    hidden = x * x;
    CHECK_THROWS_WITH(tape.stop_recording(),
                      "Trying to stop recording a tape which is not recording.");
  }
  CHECK(tape.recording());
  auto seen = x * x;
  CHECK_FALSE(tape.gradient(hidden, x).has_value());
  CHECK(tape.gradient(seen, x).item() == 6.0);
}

TEST_CASE("stop_recording on a stopped tape is a tape_error", "[tape][control][errors]") {
  GradientTape tape;
  tape.stop();
  CHECK_THROWS_AS(tape.stop_recording(), tapegrad::tape_error);
}

TEST_CASE("reset forgets everything, as if a new tape were opened", "[tape][control]") {
  Tensor<double> x(2.0);
  GradientTape tape;
  tape.watch(x);
  auto before = x * x;
  tape.reset();
  CHECK(tape.recording());
  auto after = x * x * x;  // x is no longer watched
  CHECK_FALSE(tape.gradient(after, x).has_value());

  GradientTape again;
  again.watch(x);
  auto y = x * x;
  CHECK(again.gradient(y, x).item() == 4.0);
  CHECK_THROWS_WITH(again.reset(), "Tape is not recording.");
}

TEST_CASE("start re-enters a stopped tape; re-entering an active one is an error",
          "[tape][control]") {
  Tensor<double> x(2.0);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  auto y = x * x;
  CHECK_THROWS_WITH(tape.start(),
                    "Tape is still recording, This can happen if you try to re-enter an "
                    "already-active tape.");
  tape.stop();
  auto unrecorded = y * x;
  tape.start();
  auto z = y * x;  // recorded again, on top of what was there
  CHECK(tape.gradient(z, x).item() == 12.0);
  CHECK_FALSE(tape.gradient(unrecorded, x).has_value());
}

TEST_CASE("watched_variables lists variables in the order they were made, per type",
          "[tape][control]") {
  Variable<float> a({1.f}, "a"), b({2.f}, "b"), frozen({3.f}, "frozen", false);
  Variable<double> d({4.0}, "d");
  GradientTape tape;
  auto y = b * a * frozen;
  tape.watch(d);
  const auto watched = tape.watched_variables<float>();
  REQUIRE(watched.size() == 2);
  CHECK(watched[0].name() == "a");  // made first, read second
  CHECK(watched[1].name() == "b");
  REQUIRE(tape.watched_variables<double>().size() == 1);
  CHECK(tape.watched_variables<double>()[0].name() == "d");
}

TEST_CASE("Calling gradient on a persistent tape while it records is recorded", "[tape][nested]") {
  Tensor<double> x(2.0);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  auto y = x * x * x;
  auto dy = tape.gradient(y, x);  // 3x^2, recorded on the tape itself
  CHECK(dy.item() == 12.0);
  CHECK(tape.gradient(dy, x).item() == 12.0);  // 6x
}

TEST_CASE("stop_gradient blocks gradients; it is PyTorch's detach()", "[tape][control]") {
  Tensor<double> x(3.0);
  Variable<double> v({2.0});
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  auto y = x * tapegrad::stop_gradient(x * x);  // d/dx = x^2 only
  CHECK(tape.gradient(y, x).item() == 9.0);
  auto z = tapegrad::stop_gradient(v) * v;
  CHECK(tape.gradient(z, v).item() == 2.0);
  CHECK(tapegrad::stop_gradient(x).item() == 3.0);
}
