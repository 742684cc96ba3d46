#include "test_util.hpp"

#include <tapegrad/testing/live_objects.hpp>

#include <cstdint>
#include <stdexcept>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using tapegrad::Variable;
using tapegrad::testing::live_objects;

namespace {

/// One training-like step that exercises every kind of tape, and fails on purpose when
/// `fail` says so; returns a value so the optimiser cannot drop the work.
double mixed_step(int i, const Tensor<double>& x, Variable<double>& w) {
  double out = 0;
  switch (i % 5) {
    case 0: {  // persistent tape, several gradients
      GradientTape tape(tapegrad::persistent);
      tape.watch(x);
      const auto y = tapegrad::sum(tapegrad::sin(x) * w);
      out += tape.gradient(y, x).item() + tape.gradient(y, w).item();
      break;
    }
    case 1: {  // nested tapes, a second derivative
      GradientTape outer;
      outer.watch(x);
      Tensor<double> g;
      {
        GradientTape inner;
        inner.watch(x);
        g = inner.gradient(tapegrad::sum(tapegrad::tanh(x * w)), x);
      }
      out += outer.gradient(g, x).item();
      break;
    }
    case 2: {  // reset in the middle
      GradientTape tape;
      tape.watch(x);
      auto y = tapegrad::exp(x);
      tape.reset();
      tape.watch(x);
      y = tapegrad::square(x) * w;
      out += tape.gradient(tapegrad::sum(y), x).item();
      break;
    }
    case 3: {  // an op that throws in the middle of a recorded graph
      GradientTape tape;
      tape.watch(x);
      const auto y = tapegrad::sin(x) * w;
      try {
        (void)tapegrad::matmul(tapegrad::reshape(y, {1, 1}), Tensor<double>::ones({2, 3}));
      } catch (const tapegrad::shape_error&) {
        out += 1;
      }
      out += tape.gradient(y, x).item();
      break;
    }
    case 4: {  // a gradient that throws (a custom gradient's function), then a second try
      GradientTape tape(tapegrad::persistent);
      tape.watch(x);
      auto op = tapegrad::custom_gradient([](const Tensor<double>& v) {
        return std::make_pair(v * 2.0, [](const Tensor<double>&) -> Tensor<double> {
          throw std::runtime_error("gradient function failed");
        });
      });
      const auto y = op(x) + x * w;
      try {
        (void)tape.gradient(y, x);
      } catch (const std::runtime_error&) {
        out += 1;
      }
      out += tape.gradient(x * w, x).item();
      break;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("10,000 mixed steps return every live-object counter to its baseline", "[lifetime]") {
  const Tensor<double> x(Shape{1}, 0.3);
  Variable<double> w(Tensor<double>(Shape{1}, 1.5), "w");
  const auto before = live_objects();
  REQUIRE(before.counted);
  double total = 0;
  for (int i = 0; i < 10000; ++i) total += mixed_step(i, x, w);
  CHECK(std::isfinite(total));
  const auto after = live_objects();
  INFO("before: " << before.str() << "; after: " << after.str());
  CHECK(after == before);
}

TEST_CASE("A persistent tape holds its entries until it is destroyed, then returns them",
          "[lifetime]") {
  const Tensor<double> x(Shape{16}, 0.5);
  const auto before = live_objects();
  Tensor<double> g;
  {
    GradientTape tape(tapegrad::persistent);
    tape.watch(x);
    Tensor<double> y = x;
    for (int i = 0; i < 1000; ++i) y = tapegrad::sin(y) * 1.001;
    const auto during = live_objects();
    CHECK(during.entries - before.entries == 2000);
    CHECK(during.tapes - before.tapes == 1);
    CHECK(during.bytes > before.bytes + 2000 * 16 * 8);
    g = tape.gradient(y, x);
    CHECK(tape.gradient(y, x).to_vector() == g.to_vector());
  }
  // The gradient outlives its tape; everything else the tape held is gone.
  CHECK(g.size() == 16);
  CHECK(std::isfinite(g.to_vector()[0]));
  const auto after = live_objects();
  CHECK(after.entries == before.entries);
  CHECK(after.tapes == before.tapes);
  CHECK(after.tensors == before.tensors + 1);  // g
}

TEST_CASE(
    "A failure in the middle of any op family or tape call leaves the tape stack as it "
    "was",
    "[lifetime][errors]") {
  const Tensor<double> x({0.5, 1.5});
  const tapegrad::detail::TapeState* top_before = tapegrad::detail::thread_tapes.top;
  const int recording_before = tapegrad::detail::thread_tapes.recording;
  {
    GradientTape outer(tapegrad::persistent);
    outer.watch(x);
    const auto y = tapegrad::square(x);
    const tapegrad::detail::TapeState* top = tapegrad::detail::thread_tapes.top;
    const auto fails = [&](auto&& f) {
      CHECK_THROWS(f());
      CHECK(tapegrad::detail::thread_tapes.top == top);
    };
    fails([&] { return y + Tensor<double>({1.0, 2.0, 3.0}); });             // binary
    fails([&] { return tapegrad::sum(y, 3); });                             // reduction
    fails([&] { return tapegrad::reshape(y, {3}); });                       // shape
    fails([&] { return tapegrad::gather(y, Tensor<std::int32_t>({2})); });  // indexing
    fails([&] { return tapegrad::matmul(tapegrad::reshape(y, {1, 2}), y, true); });
    fails([&] { return tapegrad::softmax_cross_entropy(y, tapegrad::reshape(y, {1, 2})); });
    fails([&] {
      return tapegrad::conv2d(tapegrad::reshape(y, {1, 1, 2, 1}),
                              Tensor<double>::ones({3, 3, 1, 1}));
    });
    fails([&] { return outer.gradient({y}, {x}, {Tensor<double>({1.0})}); });  // tape call
    fails([&] { return outer.jacobian(y, Tensor<double>(1.0)).shape(); });
    fails([&] {
      GradientTape inner;
      inner.watch(y);
      return tapegrad::log_softmax(y, 4);
    });
    CHECK(outer.gradient(tapegrad::sum(y), x).to_vector() == std::vector<double>{1.0, 3.0});
  }
  CHECK(tapegrad::detail::thread_tapes.top == top_before);
  CHECK(tapegrad::detail::thread_tapes.recording == recording_before);
  GradientTape fresh;
  fresh.watch(x);
  CHECK(fresh.gradient(tapegrad::sum(x * x * x), x).to_vector() == std::vector<double>{0.75, 6.75});
}
