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
