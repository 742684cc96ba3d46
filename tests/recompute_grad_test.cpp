#include "test_util.hpp"

#include <stdexcept>
#include <vector>

#include <tapegrad/detail/tape_memory.hpp>
#include <tapegrad/recompute_grad.hpp>
#include <tapegrad/testing/live_objects.hpp>

using tapegrad::ForwardAccumulator;
using tapegrad::GradientTape;
using tapegrad::Tensor;
using tapegrad::Variable;

namespace recompute_grad_test {

// Two tanh layers with weights read inside the block, as a model's block reads its layers'.
struct Block {
  Variable<double> w1{tapegrad_test::sample({4, 4}, -0.8, 0.8, 1)};
  Variable<double> b1{tapegrad_test::sample({4}, -0.3, 0.3, 2)};
  Variable<double> w2{tapegrad_test::sample({4, 4}, -0.8, 0.8, 3)};

  Tensor<double> operator()(const Tensor<double>& x) const {
    auto h = tapegrad::tanh(tapegrad::matmul(x, w1) + b1);
    return tapegrad::tanh(tapegrad::matmul(h, w2)) * x;
  }
};

std::vector<double> flat(const std::vector<Tensor<double>>& tensors) {
  std::vector<double> out;
  for (const auto& t : tensors)
    for (double v : t.to_vector()) out.push_back(v);
  return out;
}

}  // namespace recompute_grad_test

using recompute_grad_test::Block;
using recompute_grad_test::flat;

TEST_CASE("recompute_grad: the gradients of inputs and variables are the same bits",
          "[recompute_grad]") {
  Block block;
  const auto checkpointed =
      tapegrad::recompute_grad([&](const Tensor<double>& x) { return block(x); });
  const Tensor<double> x = tapegrad_test::sample({3, 4}, -1.0, 1.0, 4);
  auto grads_of = [&](bool recompute) {
    GradientTape tape;
    tape.watch(x);
    auto h = recompute ? checkpointed(x) : block(x);
    auto loss = tapegrad::sum(recompute ? checkpointed(h) : block(h));
    return tape.gradient(loss, {x, block.w1, block.b1, block.w2});
  };
  const auto plain = grads_of(false);
  const auto recomputed = grads_of(true);
  REQUIRE(recomputed.size() == 4);
  for (const auto& g : recomputed) REQUIRE(g.has_value());
  CHECK(flat(recomputed) == flat(plain));
}

TEST_CASE("recompute_grad: the tape keeps the block's inputs and output only", "[recompute_grad]") {
  Block block;
  const auto checkpointed =
      tapegrad::recompute_grad([&](const Tensor<double>& x) { return block(x); });
  const Tensor<double> x = tapegrad_test::sample({64, 4}, -1.0, 1.0, 5);
  auto held = [&](bool recompute) {
    GradientTape tape;
    tape.watch(x);
    Tensor<double> y = x;
    for (int i = 0; i < 4; ++i) y = recompute ? checkpointed(y) : block(y);
    return tapegrad::detail::bytes_only_tape_holds(tape.internal_state());
  };
  const std::size_t plain = held(false);
  const std::size_t recomputed = held(true);
  INFO("plain " << plain << " bytes, recomputed " << recomputed << " bytes");
  // The outputs of blocks 1 to 3, saved as the inputs of blocks 2 to 4 (x and the last output
  // are the test's too); each is a new handle on the value the block returned.
  const std::size_t activation = sizeof(tapegrad::detail::TensorImpl) +
                                 tapegrad::detail::bytes_before_elements(64 * 4 * sizeof(double)) +
                                 64 * 4 * sizeof(double);
  CHECK(recomputed == 3 * activation);
  CHECK(plain > 3 * recomputed);
}

TEST_CASE("recompute_grad: several inputs, and a persistent tape asked twice", "[recompute_grad]") {
  const auto f = [](const Tensor<double>& a, const Tensor<double>& b) {
    return tapegrad::sin(a * b) + tapegrad::square(a);
  };
  const auto checkpointed = tapegrad::recompute_grad(f);
  const Tensor<double> a = tapegrad_test::sample({2, 3}, -1.0, 1.0, 6);
  const Tensor<double> b = tapegrad_test::sample({3}, -1.0, 1.0, 7);
  GradientTape plain_tape;
  plain_tape.watch(a);
  plain_tape.watch(b);
  const auto expected = plain_tape.gradient(f(a, b), {a, b});

  GradientTape tape(tapegrad::persistent);
  tape.watch(a);
  tape.watch(b);
  auto y = checkpointed(a, b);
  CHECK(y.to_vector() == f(a, b).to_vector());
  CHECK(flat(tape.gradient(y, {a, b})) == flat(expected));
  CHECK(flat(tape.gradient(y, {a, b})) == flat(expected));
  const auto of_list = [&](const std::vector<Tensor<double>>& v) {
    return checkpointed(v[0], v[1]);
  };
  CHECK_GRADIENTS(of_list, {a, b});
  const auto second = tapegrad::testing::gradgradcheck(of_list, {a, b});
  INFO(second.report);
  CHECK(second.ok);
}

TEST_CASE("recompute_grad: nested tapes give second derivatives through it", "[recompute_grad]") {
  const auto f = [](const Tensor<double>& x) { return tapegrad::sin(x) * x * x; };
  const auto checkpointed = tapegrad::recompute_grad(f);
  const Tensor<double> x = tapegrad_test::sample({5}, -2.0, 2.0, 8);
  auto second = [&](bool recompute) {
    GradientTape outer;
    outer.watch(x);
    Tensor<double> dx;
    {
      GradientTape inner;
      inner.watch(x);
      auto y = recompute ? checkpointed(x) : f(x);
      dx = inner.gradient(y, x);
    }
    return outer.gradient(dx, x).to_vector();
  };
  const auto expected = second(false);
  const auto got = second(true);
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(expected[i]).epsilon(1e-13));
  // d2/dx2 of x^2 sin x = 2 sin x + 4 x cos x - x^2 sin x
  const auto xs = x.to_vector();
  for (std::size_t i = 0; i < got.size(); ++i)
    CHECK(got[i] == Approx(2 * std::sin(xs[i]) + 4 * xs[i] * std::cos(xs[i]) -
                           xs[i] * xs[i] * std::sin(xs[i]))
                        .epsilon(1e-12));
}

TEST_CASE("recompute_grad: random ops draw the same numbers when run again", "[recompute_grad]") {
  const auto f = [](const Tensor<double>& x) {
    auto noise = tapegrad::random_normal<double>(x.shape());
    return tapegrad::dropout(x * noise, 0.5, tapegrad::default_generator());
  };
  const auto checkpointed = tapegrad::recompute_grad(f);
  const Tensor<double> x = tapegrad_test::sample({32}, 0.5, 1.5, 9);
  auto run = [&](bool recompute) {
    tapegrad::set_seed(7);
    GradientTape tape;
    tape.watch(x);
    auto y = recompute ? checkpointed(x) : f(x);
    auto g = tape.gradient(tapegrad::sum(y), x);
    // What the generator gives next: the recomputation must not have moved it.
    auto after = tapegrad::random_uniform<double>({4});
    return std::make_pair(g.to_vector(), after.to_vector());
  };
  const auto plain = run(false);
  const auto recomputed = run(true);
  CHECK(recomputed.first == plain.first);
  CHECK(recomputed.second == plain.second);
  std::size_t dropped = 0;
  for (double g : plain.first) dropped += g == 0.0 ? 1 : 0;
  CHECK(dropped > 0);  // the mask matters, so equal gradients mean equal draws
  CHECK(dropped < plain.first.size());
}

TEST_CASE("recompute_grad: a forward accumulator gives its tangent", "[recompute_grad]") {
  Block block;
  const auto checkpointed =
      tapegrad::recompute_grad([&](const Tensor<double>& x) { return block(x); });
  const Tensor<double> x = tapegrad_test::sample({2, 4}, -1.0, 1.0, 10);
  const Tensor<double> t = tapegrad_test::sample({2, 4}, -1.0, 1.0, 11);
  Tensor<double> expected, got;
  {
    ForwardAccumulator acc(x, t);
    expected = acc.jvp(block(x));
  }
  {
    ForwardAccumulator acc(x, t);
    got = acc.jvp(checkpointed(x));
  }
  REQUIRE(got.has_value());
  const auto e = expected.to_vector();
  const auto g = got.to_vector();
  for (std::size_t i = 0; i < g.size(); ++i) CHECK(g[i] == Approx(e[i]).epsilon(1e-13));
}

TEST_CASE("recompute_grad: a block that runs a tape and gradient() inside", "[recompute_grad]") {
  // gradient() inside the block, as a training step nested in a checkpoint would.
  const auto f = [](const Tensor<double>& x) {
    GradientTape tape;
    tape.watch(x);
    auto y = tapegrad::sum(tapegrad::exp(x));
    return tape.gradient(y, x) * x;  // exp(x) * x, with the exp from an inner sweep
  };
  const auto checkpointed = tapegrad::recompute_grad(f);
  const Tensor<double> x = tapegrad_test::sample({3}, -1.0, 1.0, 12);
  CHECK_GRADIENTS([&](const std::vector<Tensor<double>>& v) { return checkpointed(v[0]); }, {x});
}

TEST_CASE("recompute_grad: a failed recomputation leaves the tape usable", "[recompute_grad]") {
  int calls = 0;
  const auto flaky = tapegrad::recompute_grad([&](const Tensor<double>& x) {
    if (++calls == 2) throw std::runtime_error("the block failed on recomputation");
    return tapegrad::square(x);
  });
  const Tensor<double> x({1.0, 2.0});
  const auto before = tapegrad::testing::live_objects();
  {
    GradientTape tape(tapegrad::persistent);
    tape.watch(x);
    auto y = flaky(x);
    CHECK_THROWS_WITH(tape.gradient(y, x), Catch::Contains("failed on recomputation"));
    CHECK(tape.gradient(y, x).to_vector() == std::vector<double>{2.0, 4.0});
  }
  CHECK(tapegrad::testing::live_objects() == before);
}

TEST_CASE("recompute_grad: blocks nest", "[recompute_grad]") {
  const auto inner = tapegrad::recompute_grad(
      [](const Tensor<double>& x) { return tapegrad::sin(x) * tapegrad::exp(x); });
  const auto outer = tapegrad::recompute_grad(
      [&](const Tensor<double>& x) { return inner(tapegrad::tanh(x)) + x; });
  const Tensor<double> x = tapegrad_test::sample({4}, -1.0, 1.0, 13);
  const auto plain = [](const Tensor<double>& v) {
    auto t = tapegrad::tanh(v);
    return tapegrad::sin(t) * tapegrad::exp(t) + v;
  };
  GradientTape plain_tape, tape;
  plain_tape.watch(x);
  tape.watch(x);
  auto expected = plain_tape.gradient(plain(x), x);
  auto got = tape.gradient(outer(x), x);
  CHECK(got.to_vector() == expected.to_vector());
  CHECK_GRADIENTS([&](const std::vector<Tensor<double>>& v) { return outer(v[0]); }, {x});
}

TEST_CASE("recompute_grad: a tensor passed twice gets its gradient once", "[recompute_grad]") {
  const auto f = [](const Tensor<double>& a, const Tensor<double>& b) {
    return tapegrad::sin(a) * b;
  };
  const auto checkpointed = tapegrad::recompute_grad(f);
  const Tensor<double> x = tapegrad_test::sample({3}, -1.0, 1.0, 14);
  GradientTape plain_tape, tape;
  plain_tape.watch(x);
  tape.watch(x);
  const auto expected = plain_tape.gradient(f(x, x), x).to_vector();
  const auto got = tape.gradient(checkpointed(x, x), x).to_vector();
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(expected[i]).epsilon(1e-14));
}

TEST_CASE("recompute_grad: what the block does not depend on gets no gradient, as without it",
          "[recompute_grad]") {
  Variable<double> unused(Tensor<double>({1.0, 2.0}), "unused");
  // Reads the variable and takes b, but the result depends on neither.
  const auto checkpointed =
      tapegrad::recompute_grad([&](const Tensor<double>& a, const Tensor<double>& b) {
        (void)unused.value();
        (void)b;
        return tapegrad::exp(a);
      });
  const Tensor<double> a({0.5, 1.0}), b({3.0});
  GradientTape tape(tapegrad::persistent);
  tape.watch(a);
  tape.watch(b);
  auto grads = tape.gradient(checkpointed(a, b), {a, b});
  CHECK(grads[0].has_value());
  CHECK_FALSE(grads[1].has_value());  // None, not zeros
  CHECK_FALSE(tape.gradient(checkpointed(a, b), unused).has_value());
}

TEST_CASE("recompute_grad: variables, trainable or watched, passed or read", "[recompute_grad]") {
  Variable<double> w(tapegrad_test::sample({3}, -1.0, 1.0, 15), "w");
  Variable<double> frozen(tapegrad_test::sample({3}, -1.0, 1.0, 16), "frozen", false);
  const auto f = [&](const Tensor<double>& x) {
    return tapegrad::sin(x * w) * frozen + tapegrad::square(w);
  };
  const auto checkpointed = tapegrad::recompute_grad(f);
  auto grads_of = [&](bool recompute) {
    GradientTape tape;
    tape.watch(frozen);  // not trainable: only an explicit watch gives it a gradient
    // w passed as the argument and read inside as well: both paths count.
    auto y = recompute ? checkpointed(w) : f(w.value());
    return tape.gradient(tapegrad::sum(y), {w, frozen});
  };
  const auto plain = grads_of(false);
  const auto recomputed = grads_of(true);
  REQUIRE(plain[0].has_value());
  REQUIRE(plain[1].has_value());
  REQUIRE(recomputed[0].has_value());
  REQUIRE(recomputed[1].has_value());
  for (int k = 0; k < 2; ++k) {
    const auto e = plain[k].to_vector(), g = recomputed[k].to_vector();
    for (std::size_t i = 0; i < e.size(); ++i) CHECK(g[i] == Approx(e[i]).epsilon(1e-14));
  }
}

TEST_CASE("recompute_grad: nested blocks pass on the variables read inside", "[recompute_grad]") {
  Variable<double> w(tapegrad_test::sample({4}, -1.0, 1.0, 17), "w");
  const auto inner =
      tapegrad::recompute_grad([&](const Tensor<double>& x) { return tapegrad::tanh(x * w); });
  const auto outer =
      tapegrad::recompute_grad([&](const Tensor<double>& x) { return inner(x) * x; });
  const Tensor<double> x = tapegrad_test::sample({4}, -1.0, 1.0, 18);
  GradientTape plain_tape, tape;
  const auto expected = plain_tape.gradient(tapegrad::sum(tapegrad::tanh(x * w) * x), w);
  const auto got = tape.gradient(tapegrad::sum(outer(x)), w);
  REQUIRE(got.has_value());
  CHECK(got.to_vector() == expected.to_vector());
}

TEST_CASE("recompute_grad: a variable assigned before gradient() is refused", "[recompute_grad]") {
  Variable<double> w(Tensor<double>({1.0, 2.0}), "w");
  const auto f = tapegrad::recompute_grad([&](const Tensor<double>& x) { return x * w; });
  const Tensor<double> x({3.0, 4.0});
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  auto y = f(x);
  CHECK(tape.gradient(y, x).to_vector() == std::vector<double>{1.0, 2.0});
  w.assign_sub(Tensor<double>({0.5, 0.5}));  // an optimizer step between two gradient() calls
  CHECK_THROWS_AS(tape.gradient(y, x), tapegrad::tape_error);
  CHECK_THROWS_WITH(tape.gradient(y, x),
                    Catch::Contains("variable 'w' was assigned after the block ran"));
  w.assign(Tensor<double>({1.0, 2.0}));
  CHECK_THROWS_AS(tape.gradient(y, x), tapegrad::tape_error);  // equal values, but another state
}

TEST_CASE("recompute_grad: the generator is put back when the recomputation throws",
          "[recompute_grad]") {
  int calls = 0;
  const auto f = tapegrad::recompute_grad([&](const Tensor<double>& x) {
    auto noise = tapegrad::random_uniform<double>(x.shape());
    if (++calls == 2) throw std::runtime_error("failed on recomputation");
    return x * noise;
  });
  const Tensor<double> x({1.0, 2.0, 3.0});
  tapegrad::set_seed(11);
  GradientTape tape;
  tape.watch(x);
  auto y = f(x);
  const tapegrad::Generator reached = tapegrad::default_generator();
  CHECK_THROWS_AS(tape.gradient(y, x), std::runtime_error);
  tapegrad::Generator expected = reached;
  CHECK(tapegrad::default_generator().bits() == expected.bits());
}
