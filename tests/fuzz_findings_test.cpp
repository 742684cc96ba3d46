// Regression tests for what the API fuzzer (fuzz/api_fuzzer.cpp) found: each crashed, broke the
// thread's tape stack or was undefined behaviour (visible under the sanitizers) before its fix.
#include "test_util.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <sstream>
#include <utility>
#include <vector>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;

namespace {

/// Tapes on this thread's stack, and whether ops see a listener: both must be back to 0 once
/// every tape is gone.
int tapes_on_stack() {
  int n = 0;
  for (auto* t = tapegrad::detail::thread_tapes.top; t; t = t->below) n += t->barrier ? 0 : 1;
  return n;
}

/// d/dx of 3x recorded by a fresh tape: proof that the stack works after a test's abuse.
void fresh_tape_works() {
  const Tensor<double> x(2.0);
  GradientTape tape;
  tape.watch(x);
  CHECK(tape.gradient(x * 3.0, x).item() == 3.0);
}

/// A custom op x -> 2x whose forward runs `inside` first.
template <class F>
Tensor<double> custom_with_forward(const Tensor<double>& x, F inside) {
  const auto op = tapegrad::custom_gradient([&](const Tensor<double>& a) {
    inside();
    return std::make_pair(a * 2.0, [](const Tensor<double>& g) { return g * 2.0; });
  });
  return op(x);
}

}  // namespace

// ---- tapes inside a custom gradient's forward ----

TEST_CASE("An outer tape stopped inside a custom gradient's forward stays stopped",
          "[regression][fuzz]") {
  const Tensor<double> x(1.5);
  {
    GradientTape outer;
    outer.watch(x);
    const auto y = custom_with_forward(x, [&] { outer.stop(); });
    CHECK_FALSE(outer.recording());
    CHECK(tapes_on_stack() == 0);
    CHECK_FALSE(tapegrad::detail::any_tape_recording());
    // The custom op is recorded when its forward returns, by then on no tape.
    CHECK_FALSE(outer.gradient(y, x).has_value());
  }
  fresh_tape_works();
}

TEST_CASE("An outer tape destroyed inside a custom gradient's forward leaves the stack whole",
          "[regression][fuzz]") {
  const Tensor<double> x(1.5);
  GradientTape bottom;
  bottom.watch(x);
  auto middle = std::make_unique<GradientTape>();
  const auto y = custom_with_forward(x, [&] { middle.reset(); });
  CHECK(tapes_on_stack() == 1);
  CHECK(bottom.gradient(y * y, x).item() == Approx(8 * 1.5));
  CHECK(tapes_on_stack() == 0);
  fresh_tape_works();
}

TEST_CASE("A tape opened inside a custom gradient's forward and kept records afterwards",
          "[regression][fuzz]") {
  const Tensor<double> x(1.5);
  std::unique_ptr<GradientTape> kept;
  {
    GradientTape outer(tapegrad::persistent);
    outer.watch(x);
    const auto y = custom_with_forward(x, [&] {
      kept = std::make_unique<GradientTape>();
      kept->watch(x);
      // Inside the forward only the new tape records.
      const auto inner_value = x * x;
      CHECK(kept->gradient(inner_value, x).item() == 3.0);
      kept->start();
      kept->watch(x);
    });
    CHECK(tapes_on_stack() == 2);
    const auto z = x * 5.0;  // recorded by both, the kept tape being on top
    CHECK(kept->gradient(z, x).item() == 5.0);
    CHECK(outer.gradient(y + z, x).item() == 7.0);
  }
  kept.reset();
  CHECK(tapes_on_stack() == 0);
  CHECK_FALSE(tapegrad::detail::any_tape_recording());
  fresh_tape_works();
}

TEST_CASE("A stopped tape restarted inside a custom gradient's forward stays on the stack",
          "[regression][fuzz]") {
  const Tensor<double> x(1.5);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  tape.stop();
  const auto y = custom_with_forward(x, [&] { tape.start(); });
  CHECK(tape.recording());
  CHECK(tapes_on_stack() == 1);
  // The custom op, recorded when its forward returns, and the ops after it are on the tape.
  CHECK(tape.gradient(y, x).item() == 2.0);
  CHECK(tape.gradient(x * 4.0, x).item() == 4.0);
}

TEST_CASE("An anomaly guard ended inside a custom gradient's forward is not counted after it",
          "[regression][fuzz]") {
  const Tensor<double> x(1.5);
  auto guard = std::make_unique<tapegrad::DetectAnomaly>();
  {
    GradientTape tape;
    tape.watch(x);
    const auto y = custom_with_forward(x, [&] { guard.reset(); });
    CHECK(tape.gradient(y, x).item() == 2.0);
  }
  CHECK_FALSE(tapegrad::detail::any_tape_recording());
}

// ---- calls back into a tape from its own gradient() ----

TEST_CASE("reset(), start() and a second gradient() from inside a tape's own gradient() throw",
          "[regression][fuzz]") {
  const Tensor<double> x(1.5);
  for (int call = 0; call < 3; ++call) {
    INFO("call " << call);
    auto tape = std::make_unique<GradientTape>();
    tape->watch(x);
    bool threw = false;
    const auto op = tapegrad::custom_gradient([&](const Tensor<double>& a) {
      return std::make_pair(a * 2.0, [&](const Tensor<double>& g) {
        try {
          if (call == 0) tape->reset();
          if (call == 1) tape->start();
          if (call == 2) (void)tape->gradient(g, x);
        } catch (const tapegrad::tape_error&) {
          threw = true;
        }
        return g * 2.0;
      });
    });
    const auto y = op(x);
    CHECK(tape->gradient(y, x).item() == 2.0);
    CHECK(threw);
    tape.reset();
    CHECK(tapes_on_stack() == 0);
  }
  fresh_tape_works();
}

TEST_CASE("A persistent tape may be asked again from inside its own gradient()",
          "[regression][fuzz]") {
  const Tensor<double> x(1.5);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  const auto square = x * x;
  double inner = 0;
  const auto op = tapegrad::custom_gradient([&](const Tensor<double>& a) {
    return std::make_pair(a * 2.0, [&](const Tensor<double>& g) {
      inner = tape.gradient(square, x).item();
      return g * 2.0;
    });
  });
  CHECK(tape.gradient(op(x), x).item() == 2.0);
  CHECK(inner == 3.0);
}

TEST_CASE(
    "A tape destroyed while another tape's gradient() fails does not take the rollback "
    "with it",
    "[regression][fuzz]") {
  const Tensor<double> x(1.5);
  GradientTape tape;
  tape.watch(x);
  auto recording = std::make_unique<GradientTape>(tapegrad::persistent);
  recording->watch(x);
  const auto op = tapegrad::custom_gradient([&](const Tensor<double>& a) {
    return std::make_pair(a * 2.0, [&](const Tensor<double>& g) -> Tensor<double> {
      if (!recording) return g * 2.0;
      (void)(g * 3.0);  // recorded by both tapes' rollback snapshots
      recording.reset();
      throw tapegrad::value_error("fails after destroying a tape");
    });
  });
  const auto y = op(x);
  CHECK_THROWS_AS(tape.gradient(y, x), tapegrad::value_error);
  // The failed gradient() left its tape as it was: it can still answer.
  CHECK(tape.recording());
  CHECK(tape.gradient(y, x).item() == 2.0);
  CHECK(tapes_on_stack() == 0);
}

TEST_CASE("A tape stopped by a gradient function of its own failed gradient() stays stopped",
          "[regression][fuzz]") {
  const Tensor<double> x(1.5);
  GradientTape tape;
  tape.watch(x);
  const auto op = tapegrad::custom_gradient([&](const Tensor<double>& a) {
    return std::make_pair(a * 2.0, [&](const Tensor<double>&) -> Tensor<double> {
      tape.stop();
      throw tapegrad::value_error("fails after stopping the tape");
    });
  });
  const auto y = op(x);
  CHECK_THROWS_AS(tape.gradient(y, x), tapegrad::value_error);
  CHECK_FALSE(tape.recording());
  CHECK(tapes_on_stack() == 0);
}

// ---- Jacobians whose rank Shape cannot hold ----

TEST_CASE("A Jacobian of rank above 8 is refused before the tape is spent", "[regression][fuzz]") {
  const Tensor<double> x = Tensor<double>::ones({1, 1, 1, 1, 1});
  GradientTape tape;
  tape.watch(x);
  const auto y = x * 2.0;
  CHECK_THROWS_WITH(tape.jacobian(y, x),
                    "GradientTape::jacobian: the Jacobian of a target of shape [1,1,1,1,1] with "
                    "respect to a source of shape [1,1,1,1,1] would have rank 10, above the "
                    "maximum of 8");
  CHECK_THROWS_AS(tape.batch_jacobian(y, x), tapegrad::shape_error);
  // Not spent: the tape still gives its one set of gradients.
  CHECK(tape.gradient(y, x).to_vector() == std::vector<double>{2.0});
}

TEST_CASE("The Jacobian of a 0-d target with respect to a rank-8 source", "[regression][fuzz]") {
  const Tensor<double> x = Tensor<double>::ones({1, 2, 1, 1, 1, 1, 1, 2});
  GradientTape tape;
  tape.watch(x);
  const auto j = tape.jacobian(tapegrad::sum(x * 3.0), x);
  CHECK(j.shape() == x.shape());
  CHECK(j.to_vector() == std::vector<double>(4, 3.0));
}

// ---- float to integer casts ----

TEST_CASE("A float-to-integer cast refuses values the integer type cannot hold",
          "[regression][fuzz]") {
  const double inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH(tapegrad::cast<std::int32_t>(Tensor<double>({1.0, std::nan("")})),
                    "cast: element 1 of a float64 tensor of shape [2] is nan, which int32 cannot "
                    "hold (it needs a finite value in [-2147483648, 2147483647] after truncation "
                    "toward zero)");
  CHECK_THROWS_AS(tapegrad::cast<std::int64_t>(Tensor<double>(inf)), tapegrad::value_error);
  CHECK_THROWS_AS(tapegrad::cast<std::int64_t>(Tensor<float>(-INFINITY)), tapegrad::value_error);
  CHECK_THROWS_AS(tapegrad::cast<std::int32_t>(Tensor<double>(2147483648.0)),
                  tapegrad::value_error);
  CHECK_THROWS_AS(tapegrad::cast<std::int32_t>(Tensor<double>(-2147483649.0)),
                  tapegrad::value_error);
  CHECK_THROWS_AS(tapegrad::cast<std::int64_t>(Tensor<double>(9223372036854775808.0)),
                  tapegrad::value_error);
  // The edges that truncate into range are fine.
  CHECK(tapegrad::cast<std::int32_t>(Tensor<double>({2147483647.9, -2147483648.9, -0.5}))
            .to_vector() == std::vector<std::int32_t>{2147483647, -2147483647 - 1, 0});
  CHECK(tapegrad::cast<std::int32_t>(Tensor<float>(-2147483648.f)).item() == -2147483647 - 1);
  CHECK(tapegrad::cast<std::int64_t>(Tensor<double>(-9223372036854775808.0)).item() ==
        std::numeric_limits<std::int64_t>::min());
  // To bool every value is fine: NaN is true, as in TensorFlow.
  CHECK(tapegrad::cast<bool>(Tensor<double>(std::nan(""))).item());
}

// ---- shapes whose sizes overflow ----

TEST_CASE("A shape whose other dimensions overflow is refused even with a 0 in it",
          "[regression][fuzz]") {
  constexpr std::int64_t big = std::int64_t{1} << 40;
  CHECK_THROWS_AS((Shape{0, big, big}), tapegrad::shape_error);
  CHECK_THROWS_WITH((Shape{big, 0, big}),
                    "Shape: adding dimension 1099511627776 to [1099511627776,0] makes its "
                    "dimensions multiply past 2^63 - 1");
  CHECK((Shape{0, big, 1 << 20}).size() == 0);
  const Tensor<double> empty = Tensor<double>::zeros({0, big});
  CHECK_THROWS_AS(tapegrad::tile(empty, {big, 1}), tapegrad::shape_error);
  CHECK(tapegrad::tile(empty, {1, 2}).shape() == Shape{0, 2 * big});
  CHECK_THROWS_AS(tapegrad::pad(Tensor<double>::zeros({0, big, 1}), {{0, 0}, {0, 0}, {0, big}}),
                  tapegrad::shape_error);
  CHECK_THROWS_AS(tapegrad::reshape(empty, {0, big, big}), tapegrad::shape_error);
  CHECK_THROWS_AS(tapegrad::reshape(Tensor<double>::zeros({4}), {big, big, -1}),
                  tapegrad::shape_error);
}

TEST_CASE("slice with a begin near INT64_MIN and size -1 is an index error", "[regression][fuzz]") {
  const Tensor<double> x({1.0, 2.0, 3.0});
  CHECK_THROWS_AS(tapegrad::slice(x, {std::numeric_limits<std::int64_t>::min() + 1}, {-1}),
                  tapegrad::index_error);
  CHECK_THROWS_AS(tapegrad::slice(x, {std::numeric_limits<std::int64_t>::min()}, {-1}),
                  tapegrad::index_error);
  CHECK(tapegrad::slice(x, {1}, {-1}).to_vector() == std::vector<double>{2.0, 3.0});
  CHECK(tapegrad::slice(x, {3}, {-1}).shape() == Shape{0});
}

TEST_CASE("An empty tensor with huge other dimensions prints at once", "[regression][fuzz]") {
  // Before the fix this walked 2^40 indices: the test hung (ctest's timeout) instead of
  // failing, so no clock is read here.
  const Tensor<float> t = Tensor<float>::zeros({1 << 20, 1 << 20, 0});
  std::ostringstream os;
  os << t;
  CHECK(os.str() == "Tensor([], shape=(1048576, 1048576, 0), dtype=float32)");
  CHECK(tapegrad::to_string(Tensor<double>::zeros({2, 0})) == "[]");
}

TEST_CASE("tile checks every multiple before it copies anything", "[regression][fuzz]") {
  // Tiled axis by axis, a negative last multiple was found only after the others had built
  // the intermediate: [1,1,1] by (2^20, 2^20, -1) asked for 2^40 elements (a 4 TiB
  // allocation) before its shape_error; the fuzzer's case took 68 s and 3.6 GB.
  const Tensor<float> x = Tensor<float>::ones({1, 1, 1});
  const std::int64_t m = std::int64_t{1} << 20;
  CHECK_THROWS_WITH(tapegrad::tile(x, {m, m, -1}),
                    Catch::Matchers::Contains("tile: multiple -1 for axis 2 is negative"));
  CHECK(tapegrad::tile(x, {2, 1, 3}).shape() == Shape{2, 1, 3});
}

TEST_CASE("A batched matmul whose batch broadcasts to many tiny products", "[regression][fuzz]") {
  // The fuzzer's timeout ([55,1,2,1,30,1,1]^T x [55,1,2,1,30,1,1,5]: 10.9 million 1x1-by-1x5
  // products), scaled down to 900 products over the same six broadcast batch axes. With an
  // inner dimension of 1 every element is one product, so an elementwise product of the
  // same operands gives the same bits.
  const Tensor<double> a = tapegrad_test::sample({5, 1, 2, 1, 3, 1, 1}, -1, 1, 1);
  const Tensor<double> b = tapegrad_test::sample({5, 1, 2, 1, 3, 1, 1, 5}, -1, 1, 2);
  const Tensor<double> y = tapegrad::matmul(a, b, true, false);
  CHECK(y.shape() == Shape{5, 5, 2, 2, 3, 3, 1, 5});
  const Tensor<double> expected = tapegrad::expand_dims(a, 0) * b;
  CHECK(expected.shape() == y.shape());
  CHECK(y.to_vector() == expected.to_vector());
}
