#include "test_util.hpp"

#include <tapegrad/testing/live_objects.hpp>

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

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
    CHECK(during.bytes > before.bytes + 1000 * 16 * 8);  // the inputs sin saved
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

// NOTE [ Saving a shape ]: above 512 bytes of elements, an entry whose rules read only an
// input's shape keeps a header without elements; its gradients stay those of finite
// differences, and below the threshold it keeps the tensor itself.
TEST_CASE("Entries that read only an input's shape keep no elements of a large input",
          "[lifetime][memory]") {
  namespace tg = tapegrad;
  using Inputs = std::vector<Tensor<double>>;
  struct Case {
    const char* op;
    tg::Shape shape;  // of the input whose shape alone is saved (input 0)
    std::size_t slot;
    std::function<Tensor<double>(const Inputs&)> f;
  };
  const Tensor<bool> mask = tapegrad_test::sample({8, 12}, -1, 1, 7) > 0.0;
  const std::vector<Case> cases = {
      {"sum", {8, 12}, 0, [](const Inputs& x) { return tg::sum(x[0], 1); }},
      {"sum_to",
       {8, 12},
       0,
       [](const Inputs& x) {
         return tg::detail::sum_to(x[0], tg::Shape{1, x[0].shape()[1]});
       }},
      {"broadcast_to",
       {1, 96},
       0,
       [](const Inputs& x) {
         return tg::broadcast_to(x[0], {3, x[0].shape()[1]}) * 1.5;
       }},
      {"reshape",
       {8, 12},
       0,
       [](const Inputs& x) {
         return tg::reshape(x[0], {x[0].shape()[1], x[0].shape()[0]});
       }},
      {"add", {1, 96}, 1, [](const Inputs& x) { return tg::sin(x[1]) + x[0]; }},
      {"where",
       {8, 12},
       1,
       [&](const Inputs& x) { return tg::where(mask, x[0], tg::Tensor<double>(2.0)); }},
  };
  for (const Case& c : cases)
    for (bool large : {true, false}) {
      INFO(c.op << (large ? ", large input" : ", small input"));
      tg::Shape shape = c.shape;
      if (!large) shape = tg::Shape{2, 3};
      if (!large && std::string(c.op) == "add") shape = tg::Shape{1, 3};
      if (!large && std::string(c.op) == "broadcast_to") shape = tg::Shape{1, 3};
      if (!large && std::string(c.op) == "where") continue;  // the mask's shape is fixed
      Inputs xs{tapegrad_test::sample(shape, -1, 1, 1),
                tapegrad_test::sample({3, shape[shape.rank() - 1]}, -1, 1, 2)};
      if (std::string(c.op) != "add") xs.pop_back();
      GradientTape tape(tg::persistent);
      for (const auto& x : xs) tape.watch(x);
      const Tensor<double> y = c.f(xs);
      const tg::detail::Entry* entry = nullptr;
      for (std::size_t i = 0; i < tape.internal_state().entries.size(); ++i)
        if (std::string(tape.internal_state().entries[i].name()) == c.op)
          entry = &tape.internal_state().entries[i];
      REQUIRE(entry != nullptr);
      REQUIRE(entry->saved(c.slot).impl() != nullptr);
      CHECK(entry->saved(c.slot)->shape() == shape);
      CHECK((entry->saved(c.slot)->data == nullptr) == large);
      CHECK_GRADIENTS(c.f, xs);
    }
}
