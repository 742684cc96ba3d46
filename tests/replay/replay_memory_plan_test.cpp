// A replay's memory plan (NOTE [ A replay's memory plan ]): which steps run flat, where their
// values live, and that the caller's tensors are never written again.

#include "replay/replay_util.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <tapegrad/replay/arena.hpp>

namespace {

using namespace replay_test;

// n elementwise ops, as the chain benchmark runs them.
Tensor<double> chain(Tensor<double> y, int n) {
  for (int i = 0; i < n; i += 4) {
    y = y * 0.999;
    y = y + 0.001;
    y = tg::sin(y);
    y = tg::tanh(y);
  }
  return y;
}

std::pair<Tensor<double>, Tensor<double>> chain_and_gradient(const Tensor<double>& x, int n) {
  GradientTape tape;
  tape.watch(x);
  const Tensor<double> y = chain(x, n);
  return {y, tape.gradient(y, x)};
}

}  // namespace

TEST_CASE("An elementwise chain and its gradient replay flat, in an arena that reuses bytes",
          "[replay][memory_plan]") {
  constexpr int n = 64;
  for (const Shape& shape : {Shape{}, Shape{1}, Shape{16}, Shape{3, 5}}) {
    CAPTURE(shape);
    auto step = tg::function([](const Tensor<double>& x) { return chain_and_gradient(x, n); });
    const Tensor<double> x0 = sample(shape, -1, 1, 1);
    (void)step(x0);
    const auto program = step.program_for(x0);
    REQUIRE(program != nullptr);
    // every op and every rule (n of each) runs flat
    CHECK(program->flat_step_count() == 2 * n);
    // The forward values live until the sweep reads them: about n blocks, not 2n or more. A
    // block is aligned as a tensor's elements are: multiples of 64 bytes from 32 bytes on, of
    // 16 below (these shapes hold 8, 8, 128 and 120 bytes).
    const auto bytes = static_cast<std::size_t>(shape.size()) * 8;
    const std::size_t block = bytes < 32 ? 16 : (bytes + 63) / 64 * 64;
    CHECK(program->arena_bytes <= (n + 4) * block);
    CHECK(program->arena_bytes >= (n / 2) * block);
    for (unsigned salt = 2; salt < 6; ++salt) {
      const Tensor<double> x = sample(shape, -1, 1, salt);
      const auto [y, dx] = step(x);
      const auto [y_eager, dx_eager] = chain_and_gradient(x, n);
      CHECK(same_bits(y, y_eager));
      CHECK(same_bits(dx, dx_eager));
    }
  }
}

TEST_CASE("Values the call returns are tensors that later replays never write",
          "[replay][memory_plan]") {
  // f returns an intermediate, a gradient that is the upstream as it is (x + y's rule), and
  // a computed one; each is kept while the function replays at other inputs.
  const auto f_eager = [](const Tensor<double>& a, const Tensor<double>& b) {
    GradientTape tape;
    tape.watch(a);
    tape.watch(b);
    const Tensor<double> s = tg::sin(a) + b;
    const Tensor<double> loss = s * tg::exp(b);
    const auto grads = tape.gradient(loss, std::vector<Tensor<double>>{a, b});
    return std::make_tuple(s, grads[0], grads[1]);
  };
  auto f = tg::function(f_eager);
  const Shape shape{4};
  std::vector<std::tuple<Tensor<double>, Tensor<double>, Tensor<double>>> kept;
  std::vector<std::pair<Tensor<double>, Tensor<double>>> inputs;
  for (unsigned salt = 1; salt < 6; ++salt) {
    inputs.emplace_back(sample(shape, -1, 1, salt), sample(shape, -1, 1, salt + 20));
    kept.push_back(f(inputs.back().first, inputs.back().second));
  }
  REQUIRE(f.trace_count() == 1);
  const auto program = f.program_for(inputs[0].first, inputs[0].second);
  REQUIRE(program != nullptr);
  CHECK(program->flat_step_count() >= 4);
  for (std::size_t k = 0; k < kept.size(); ++k) {
    const auto eager = f_eager(inputs[k].first, inputs[k].second);
    CHECK(same_bits(std::get<0>(kept[k]), std::get<0>(eager)));
    CHECK(same_bits(std::get<1>(kept[k]), std::get<1>(eager)));
    CHECK(same_bits(std::get<2>(kept[k]), std::get<2>(eager)));
  }
}

TEST_CASE("A gradient that is its upstream as it is shares the upstream's elements",
          "[replay][memory_plan]") {
  // d(a + b)/da and d(a + b)/db are the upstream itself: eager code returns one tensor twice.
  const auto f_eager = [](const Tensor<double>& a, const Tensor<double>& b) {
    GradientTape tape;
    tape.watch(a);
    tape.watch(b);
    const Tensor<double> y = tg::sin(a + b);
    const auto grads = tape.gradient(y, std::vector<Tensor<double>>{a, b});
    return std::make_pair(grads[0], grads[1]);
  };
  auto f = tg::function(f_eager);
  const Tensor<double> a = sample({3}, -1, 1, 4), b = sample({3}, -1, 1, 5);
  (void)f(a, b);
  const auto [da, db] = f(b, a);
  const auto [da_eager, db_eager] = f_eager(b, a);
  CHECK(same_bits(da, da_eager));
  CHECK(same_bits(db, db_eager));
  CHECK(da.impl().get() == db.impl().get());
  CHECK(da_eager.impl().get() == db_eager.impl().get());
}

TEST_CASE("Scalar-style code replays with no tensor per step and no reference to its arguments",
          "[replay][memory_plan]") {
  // f = sum_i x_i * x_{i+1}: the seed of ones reaches every product's rule through the rules
  // of +, as it is. Those values are read at the constant's elements, the arguments at theirs.
  constexpr std::size_t n = 8;
  const auto f_eager = [](const std::vector<Tensor<double>>& x) {
    GradientTape tape;
    for (const auto& t : x) tape.watch(t);
    Tensor<double> f(0.0);
    for (std::size_t i = 0; i + 1 < x.size(); ++i) f = f + x[i] * x[i + 1];
    std::vector<Tensor<double>> result = tape.gradient(f, x);
    result.push_back(f);
    return result;
  };
  auto f = tg::function(f_eager);
  const auto inputs = [&](unsigned salt) {
    std::vector<Tensor<double>> x;
    for (std::size_t i = 0; i < n; ++i) x.push_back(sample({}, -1, 1, salt * 100 + unsigned(i)));
    return x;
  };
  (void)f(inputs(1));
  const auto program = f.program_for(inputs(1));
  REQUIRE(program != nullptr);
  CHECK(program->flat_step_count() == program->steps.size());
  CHECK(program->releases.empty());  // every value in the arena, the constant or an output
  CHECK(std::count(program->argument_by_elements.begin(), program->argument_by_elements.end(), 1) ==
        static_cast<std::ptrdiff_t>(n));
  for (unsigned salt = 2; salt < 6; ++salt) {
    const auto x = inputs(salt);
    const auto replayed = f(x);
    const auto eager = f_eager(x);
    REQUIRE(replayed.size() == n + 1);
    for (std::size_t k = 0; k <= n; ++k) CHECK(same_bits(replayed[k], eager[k]));
    for (const auto& t : x) CHECK(t.impl()->refs.load() == 1);  // no reference left behind
  }
  // An argument that something other than a flat step reads is still held as a tensor.
  auto g = tg::function([](const Tensor<double>& a, const Tensor<double>& b) {
    return std::make_pair(tg::sin(a), tg::matmul(b, b));
  });
  const Tensor<double> a = sample({2, 2}, -1, 1, 7), b = sample({2, 2}, -1, 1, 8);
  (void)g(a, b);
  CHECK(g.program_for(a, b)->argument_by_elements == std::vector<char>{1, 0});
  const auto [sin_a, bb] = g(b, a);
  CHECK(same_bits(sin_a, tg::sin(b)));
  CHECK(same_bits(bb, tg::matmul(a, a)));
}

TEST_CASE("Broadcasting ops and other families run as instructions beside flat steps",
          "[replay][memory_plan]") {
  const auto f_eager = [](const Tensor<double>& x, const Tensor<double>& bias) {
    GradientTape tape;
    tape.watch(x);
    tape.watch(bias);
    const Tensor<double> h = tg::tanh(x + bias);  // bias broadcasts: not flat
    const Tensor<double> loss = tg::sum(h * h * 0.5);
    const auto grads = tape.gradient(loss, std::vector<Tensor<double>>{x, bias});
    return std::make_tuple(loss, grads[0], grads[1]);
  };
  auto f = tg::function(f_eager);
  const Tensor<double> x0 = sample({4, 3}, -1, 1, 1), b0 = sample({3}, -1, 1, 2);
  (void)f(x0, b0);
  const auto program = f.program_for(x0, b0);
  REQUIRE(program != nullptr);
  CHECK(program->flat_step_count() > 0);
  CHECK(program->flat_step_count() < program->steps.size());
  for (unsigned salt = 3; salt < 7; ++salt) {
    const Tensor<double> x = sample({4, 3}, -2, 2, salt), b = sample({3}, -1, 1, salt + 9);
    const auto replayed = f(x, b);
    const auto eager = f_eager(x, b);
    CHECK(same_bits(std::get<0>(replayed), std::get<0>(eager)));
    CHECK(same_bits(std::get<1>(replayed), std::get<1>(eager)));
    CHECK(same_bits(std::get<2>(replayed), std::get<2>(eager)));
  }
}

TEST_CASE("Two threads replay one flat program at once, each in its own arena",
          "[replay][memory_plan][threads]") {
  auto step = tg::function([](const Tensor<double>& x) { return chain_and_gradient(x, 32); });
  (void)step(sample({8}, -1, 1, 1));
  const auto work = [&](unsigned seed, bool& same) {
    same = true;
    for (unsigned k = 0; k < 50; ++k) {
      const Tensor<double> x = sample({8}, -1, 1, seed + k);
      const auto [y, dx] = step(x);
      const auto [y_eager, dx_eager] = chain_and_gradient(x, 32);
      same = same && same_bits(y, y_eager) && same_bits(dx, dx_eager);
    }
  };
  bool same_a = false, same_b = false;
  std::thread a(work, 100u, std::ref(same_a));
  std::thread b(work, 500u, std::ref(same_b));
  a.join();
  b.join();
  CHECK(same_a);
  CHECK(same_b);
  CHECK(step.trace_count() == 1);
}

TEST_CASE("An arena borrowed while the thread's is in use is a buffer of its own",
          "[replay][memory_plan]") {
  using tapegrad::detail::ArenaLease;
  const ArenaLease outer(1000);
  REQUIRE(outer.data() != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(outer.data()) % ArenaLease::alignment == 0);
  {
    const ArenaLease inner(1000);
    REQUIRE(inner.data() != nullptr);
    CHECK(inner.data() != outer.data());
    CHECK(reinterpret_cast<std::uintptr_t>(inner.data()) % ArenaLease::alignment == 0);
  }
  const ArenaLease none(0);
  CHECK(none.data() == nullptr);
}
