#include "test_util.hpp"

#include <thread>
#include <vector>

using tapegrad::GradientTape;
using tapegrad::Tensor;
using tapegrad::Variable;

TEST_CASE("A tape records nothing done on another thread", "[threads][tape]") {
  Tensor<double> x({1.0, 2.0});
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  Tensor<double> from_other_thread;
  std::thread worker([&] {
    CHECK_FALSE(tapegrad::detail::any_tape_recording());
    from_other_thread = x * x;
  });
  worker.join();
  auto here = x * x;
  CHECK_FALSE(tape.gradient(from_other_thread, x).has_value());
  CHECK(tape.gradient(here, x).to_vector() == std::vector<double>{2.0, 4.0});
}

TEST_CASE("Threads with their own tapes over a shared variable agree", "[threads][tape]") {
  Variable<double> w({0.5, -1.0, 2.0});
  auto compute = [&](double scale) {
    GradientTape tape;
    auto loss = tapegrad::sum(tapegrad::sin(w * scale) * w);
    return tape.gradient(loss, w).to_vector();
  };
  std::vector<std::vector<double>> expected;
  for (int t = 0; t < 4; ++t) expected.push_back(compute(1.0 + t));
  std::vector<std::vector<double>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) got[static_cast<std::size_t>(t)] = compute(1.0 + t);
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t)
    CHECK(got[static_cast<std::size_t>(t)] == expected[static_cast<std::size_t>(t)]);
}

TEST_CASE(
    "16 threads x 1000 iterations of nested, persistent and plain tapes over shared variables",
    "[threads][tape][nested]") {
  Variable<double> w({0.3, -0.8}, "w");
  Variable<double> b({0.1}, "b");
  struct Result {
    std::vector<double> dw, db, d2;
  };
  auto compute = [&](int seed) {
    const double s = 0.5 + 0.01 * seed;
    Result r;
    GradientTape outer;
    Tensor<double> x({s, -s});
    outer.watch(x);
    Tensor<double> dx;
    {
      GradientTape persistent_tape(tapegrad::persistent);
      persistent_tape.watch(x);
      auto y = tapegrad::sum(tapegrad::tanh(w * x) + b * x);
      auto g = persistent_tape.gradient(y, {w, b});
      r.dw = g[0].to_vector();
      r.db = g[1].to_vector();
      dx = persistent_tape.gradient(y, x);
    }
    r.d2 = outer.gradient(dx, x).to_vector();
    return r;
  };
  constexpr int n_threads = 16, iterations = 1000;
  std::vector<Result> expected;
  for (int t = 0; t < n_threads; ++t) expected.push_back(compute(t));
  std::vector<int> mismatches(n_threads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < n_threads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < iterations; ++i) {
        const Result r = compute(t);
        const Result& e = expected[static_cast<std::size_t>(t)];
        if (r.dw != e.dw || r.db != e.db || r.d2 != e.d2) ++mismatches[static_cast<std::size_t>(t)];
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < n_threads; ++t) CHECK(mismatches[static_cast<std::size_t>(t)] == 0);
  CHECK(expected[0].d2.size() == 2);
}

TEST_CASE("Threads replay one traced function at once, each into its own buffers",
          "[threads][replay]") {
  // (NOTE [ Record once, replay many ]) The trace is shared and read-only; each replay makes
  // its own tensors, reads the shared variable under its lock, and the cache is locked.
  Variable<double> w(tapegrad_test::sample({3, 2}, -1, 1, 5), "w");
  auto gradient_of = [&](const Tensor<double>& x) {
    GradientTape tape;
    const Tensor<double> loss = tapegrad::sum(tapegrad::tanh(tapegrad::matmul(x, w.value())));
    return tape.gradient(loss, w);
  };
  auto traced = tapegrad::function(gradient_of);
  std::vector<Tensor<double>> inputs, expected;
  for (unsigned salt = 0; salt < 6; ++salt) {
    inputs.push_back(tapegrad_test::sample({4, 3}, -1, 1, salt));
    expected.push_back(gradient_of(inputs.back()));
  }
  int mismatches[2] = {0, 0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round)
        for (std::size_t k = 0; k < inputs.size(); ++k)
          mismatches[t] += traced(inputs[k]).to_vector() != expected[k].to_vector();
    });
  for (auto& thread : threads) thread.join();
  CHECK(mismatches[0] == 0);
  CHECK(mismatches[1] == 0);
  CHECK(traced.trace_count() >= 1);  // both threads may trace the first call
  CHECK(traced.trace_count() <= 2);
}
