// Random-graph differential testing: at least 10,000 random programs per run, each checked
// against finite differences (tests/random_graph.hpp says what is checked and how).
//
// Environment variables:
//   TAPEGRAD_RANDOM_GRAPH_PROGRAMS=n   programs to check (default 10,000; 3,000 under
//                                      AddressSanitizer, see NOTE [ Program count ])
//   TAPEGRAD_RANDOM_GRAPH_BASE=n       the base seed the program seeds derive from
//   TAPEGRAD_RANDOM_GRAPH_SEED=0x...   check only this program, and print it as C++
//   TAPEGRAD_RANDOM_GRAPH_SECONDS=s    stop early after s seconds (reporting the count)
//   TAPEGRAD_RANDOM_GRAPH_TRACE=1      print each program's seed before checking it

#include "random_graph.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace rg = tapegrad_test::random_graph;
namespace tg = tapegrad;

namespace {

// NOTE [ Program count ]
// Measured on one core of the development machine (CPU time; wall time grows with the
// machine's load): 10,000 programs take about 21 s in a Debug (-O0 -g) build with g++ or
// clang++, 2 s at -O2, and 19 s under AddressSanitizer + UndefinedBehaviorSanitizer at -O1.
// A sanitized build, whose job is memory errors rather than more programs, checks 3,000 by
// default, so that the asan-ubsan suite stays quick; TAPEGRAD_RANDOM_GRAPH_PROGRAMS sets any
// count in any build.
#if defined(__SANITIZE_ADDRESS__)
#define RANDOM_GRAPH_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RANDOM_GRAPH_SANITIZED 1
#endif
#endif
#ifdef RANDOM_GRAPH_SANITIZED
constexpr long default_programs = 3000;
#else
constexpr long default_programs = 10000;
#endif

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* s = std::getenv(name);
  return s && *s ? std::strtoull(s, nullptr, 0) : fallback;
}

constexpr std::uint64_t default_base_seed = 20240607;

}  // namespace

TEST_CASE("Random programs: tape gradients agree with finite differences", "[random_graph]") {
  const rg::CheckOptions options;
  rg::Stats stats;
  const char* only = std::getenv("TAPEGRAD_RANDOM_GRAPH_SEED");
  if (only && *only) {
    const std::uint64_t seed = std::strtoull(only, nullptr, 0);
    const rg::Program p = rg::generate(seed);
    const rg::Outcome o = rg::check_program(p, options, stats);
    // A failure prints the program as the check that failed runs it; a pass as it first runs.
    std::cout << (o.ok ? rg::to_cpp(p, rg::Scenario::first_order, rg::output_weights(p)) : o.report)
              << '\n';
    CHECK(o.ok);
    return;
  }
  const auto count =
      static_cast<long>(env_number("TAPEGRAD_RANDOM_GRAPH_PROGRAMS", default_programs));
  const std::uint64_t base = env_number("TAPEGRAD_RANDOM_GRAPH_BASE", default_base_seed);
  const double budget = static_cast<double>(env_number("TAPEGRAD_RANDOM_GRAPH_SECONDS", 0));
  // Names each program before it runs, for a crash that leaves no report.
  const bool trace = env_number("TAPEGRAD_RANDOM_GRAPH_TRACE", 0) != 0;
  const auto start = std::chrono::steady_clock::now();
  int failures = 0;
  long checked = 0;
  for (long k = 0; k < count && failures < 3; ++k) {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (budget > 0 && elapsed > budget) break;
    const std::uint64_t seed = rg::program_seed(base, static_cast<std::uint64_t>(k));
    if (trace) std::cout << "random_graph: program " << rg::hex(seed) << std::endl;
    rg::Outcome o;
    try {
      o = rg::check_program(rg::generate(seed), options, stats);
    } catch (const std::exception& e) {
      o.ok = false;
      o.report = "random_graph: program " + rg::hex(seed) + " threw: " + e.what() +
                 "\nReproduce with TAPEGRAD_RANDOM_GRAPH_SEED=" + rg::hex(seed) + "\n";
    }
    ++checked;
    if (!o.ok) {
      // Printed whole, not through Catch, which wraps long lines and would break the C++.
      ++failures;
      std::cout << o.report << '\n';
      FAIL_CHECK("random_graph: program " << rg::hex(seed) << " failed (report above)");
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "random_graph: base seed " << base << ", " << checked << " programs in " << seconds
            << " s\n"
            << stats.summary();
  CHECK(failures == 0);
  if (budget == 0 && failures == 0) CHECK(checked == count);
}

TEST_CASE("Random programs are a function of their seed", "[random_graph]") {
  for (std::uint64_t k = 0; k < 20; ++k) {
    const std::uint64_t seed = rg::program_seed(7, k);
    const rg::Program a = rg::generate(seed), b = rg::generate(seed);
    CHECK(rg::to_cpp(a, rg::Scenario::first_order, {}) ==
          rg::to_cpp(b, rg::Scenario::first_order, {}));
  }
  CHECK(rg::program_seed(7, 0) != rg::program_seed(7, 1));
}

TEST_CASE("Every elementwise registry row with a reference takes part", "[random_graph]") {
  // The rows the generator draws from, each with the interval where it is smooth.
  const auto& ops = rg::unary_ops();
  long with_reference = 0;
  for (const auto& row : tapegrad_test::op_registry()) with_reference += row.reference != nullptr;
  CHECK(static_cast<long>(ops.size()) == with_reference);
  for (const auto& u : ops) {
    INFO(u.op << " " << u.variant);
    CHECK(u.lo < u.hi);
    // The printed spelling computes what the row computes (checked here for the rows spelled
    // through the registry; the others are spelled as the registry writes them).
    if (u.pattern.find("registry_unary") != std::string::npos) {
      const tg::Tensor<double> x({u.lo * 0.6 + u.hi * 0.4});
      CHECK(rg::registry_unary(u.op, u.variant)(x).item() == u.f({x}).item());
    }
  }
}

TEST_CASE("Kinks and jumps are recognised near where they are", "[random_graph]") {
  auto relu = [](double v) { return v > 0 ? v : 0.0; };
  auto floor = [](double v) { return std::floor(v); };
  auto elu = [](double v) { return v > 0 ? v : std::expm1(v); };
  CHECK(rg::near_kink(relu, 1e-3));
  CHECK(rg::near_kink(relu, 0.0));  // central differences alone are blind to a kink here
  CHECK(rg::near_kink([](double v) { return std::abs(v); }, 0.0));
  CHECK_FALSE(rg::near_kink(relu, 0.05));
  CHECK(rg::near_kink(floor, 1.0005));
  CHECK_FALSE(rg::near_kink(floor, 1.5));
  CHECK(rg::near_kink(elu, -5e-4));  // a kink of the second derivative
  CHECK_FALSE(rg::near_kink([](double v) { return std::sin(v); }, 0.3));
}

TEST_CASE("Finite differences hold stop_gradient nodes at their base value", "[random_graph]") {
  // y = x * stop_gradient(x): the tape says dy/dx = x, which is also what finite differences
  // of the program with the stopped node frozen give (2x if it were not frozen).
  rg::Program p;
  p.seed = 1;
  rg::Input x;
  x.kind = rg::InputKind::constant;
  x.value = tg::Tensor<double>({0.7, -1.3});
  x.watched = true;
  p.inputs = {x};
  rg::Step in, stop, mul;
  in.op = rg::Op::input;
  in.index = 0;
  stop.op = rg::Op::stop_gradient;
  stop.a = 0;
  mul.op = rg::Op::mul;
  mul.a = 0;
  mul.b = 1;
  p.steps = {in, stop, mul};
  p.targets = {2};
  rg::Stats stats;
  const rg::Outcome o = rg::check_program(p, {}, stats);
  INFO(o.report);
  CHECK(o.ok);
  CHECK(stats.elements_compared == 2);
}

TEST_CASE("A failing program is reported with its seed and as C++", "[random_graph]") {
  // Tolerances no gradient can meet stand in for a bug.
  rg::CheckOptions impossible;
  impossible.atol = -1;
  rg::Stats stats;
  for (std::uint64_t k = 0;; ++k) {
    const rg::Program p = rg::generate(rg::program_seed(3, k));
    const rg::Outcome o = rg::check_program(p, impossible, stats);
    if (o.ok) continue;  // nothing differentiable to compare
    CHECK_THAT(o.report, Catch::Contains("TAPEGRAD_RANDOM_GRAPH_SEED=" + rg::hex(p.seed)));
    CHECK_THAT(o.report, Catch::Contains("TEST_CASE(\"random_graph program " + rg::hex(p.seed)));
    CHECK_THAT(o.report, Catch::Contains("->gradient("));
    break;
  }
}

// Found by the random programs: ops that compute nothing (broadcast_to to the same shape and
// the others below) returned their operand itself, so a tape paused by stop_recording(), or
// reset since, took the result for the operand and let a gradient through where TensorFlow
// gives None (NOTE [ Ops that leave their input unchanged ] in ops/shape.hpp).
namespace {
using Unchanging = std::function<tg::Tensor<double>(const tg::Tensor<double>&)>;
std::vector<std::pair<const char*, Unchanging>> ops_that_change_nothing() {
  static tg::Generator generator(7);
  return {
      {"broadcast_to", [](const auto& x) { return tg::broadcast_to(x, x.shape()); }},
      {"sum_to", [](const auto& x) { return tg::sum_to(x, x.shape()); }},
      {"tile", [](const auto& x) { return tg::tile(x, {1}); }},
      {"sum over no axes", [](const auto& x) { return tg::sum(x, std::vector<int>{}); }},
      {"cast", [](const auto& x) { return tg::cast<double>(x); }},
      {"dropout", [](const auto& x) { return tg::dropout(x, 0.5, generator, false); }},
  };
}
}  // namespace

TEST_CASE("An op that changes nothing still makes a new tensor for the tapes",
          "[random_graph][regression]") {
  const tg::Tensor<double> x({1.0, 2.0});
  for (const auto& [name, op] : ops_that_change_nothing()) {
    INFO(name);
    SECTION(std::string("stop_recording cuts it: ") + name) {
      tg::GradientTape tape;
      tape.watch(x);
      tg::Tensor<double> y;
      {
        const auto pause = tape.stop_recording();
        y = op(x);
      }
      CHECK(y.to_vector() == x.to_vector());
      CHECK_FALSE(tape.gradient(y * 3.0, x).has_value());
    }
    SECTION(std::string("a result from before reset() is a constant: ") + name) {
      tg::GradientTape tape;
      tape.watch(x);
      const auto y = op(x);
      tape.reset();
      tape.watch(x);
      CHECK_FALSE(tape.gradient(y * 3.0, x).has_value());
    }
    SECTION(std::string("recorded, the gradient passes through unchanged: ") + name) {
      tg::GradientTape tape;
      tape.watch(x);
      const auto g = tape.gradient(op(x) * 3.0, x);
      REQUIRE(g.has_value());
      CHECK(g.to_vector() == std::vector<double>{3.0, 3.0});
    }
  }
}

// Found by the random programs: huber's second derivative where a == b was 0.
TEST_CASE("huber's second derivative is 1 where a == b", "[random_graph][regression]") {
  // d/da and d2/da2 of huber(a, 0.5, 0.7), from a tape nested in another.
  const auto first_and_second = [](double a_value) {
    const tg::Tensor<double> a(a_value), b(0.5);
    tg::GradientTape outer;
    outer.watch(a);
    tg::Tensor<double> g;
    {
      tg::GradientTape inner;
      inner.watch(a);
      g = inner.gradient(tg::huber(a, b, 0.7), a);
    }
    return std::make_pair(g.item(), outer.gradient(g, a).item());
  };
  for (const double d : {0.0, 1e-9, -0.3, 0.69}) {
    INFO("a - b = " << d);
    const auto [first, second] = first_and_second(0.5 + d);
    CHECK(first == Approx((0.5 + d) - 0.5));
    CHECK(second == 1.0);
  }
  // Beyond delta the loss is linear: slope delta sign(d), second derivative 0.
  const auto [first, second] = first_and_second(2.0);
  CHECK(first == Approx(0.7));
  CHECK(second == 0.0);
}
