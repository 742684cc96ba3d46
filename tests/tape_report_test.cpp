#include "test_util.hpp"

#include <sstream>
#include <string>
#include <vector>

#include <tapegrad/memory_report.hpp>
#include <tapegrad/recompute_grad.hpp>
#include <tapegrad/tape_picture.hpp>
#include <tapegrad/testing/live_objects.hpp>

using tapegrad::GradientTape;
using tapegrad::Tensor;
using tapegrad::Variable;

namespace tape_report_test {

std::int64_t live_bytes() {
  return tapegrad::testing::live_objects().bytes;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

const tapegrad::MemoryReport::OpRow* row_of(const tapegrad::MemoryReport& r,
                                            const std::string& op) {
  for (const auto& row : r.by_op)
    if (row.op == op) return &row;
  return nullptr;
}

}  // namespace tape_report_test

using tape_report_test::count;
using tape_report_test::live_bytes;
using tape_report_test::row_of;

TEST_CASE("memory_report: the tangents on what a tape alone keeps are freed with it",
          "[memory_report]") {
  REQUIRE(tapegrad::testing::live_objects().counted);
  const Tensor<double> x = tapegrad_test::sample({16, 8}, -1, 1, 3);
  const Tensor<double> v = tapegrad_test::sample({16, 8}, -1, 1, 4);
  tapegrad::ForwardAccumulator acc(x, v);
  tapegrad::MemoryReport report;
  std::int64_t with_tape = 0;
  Tensor<double> loss;
  {
    GradientTape tape;
    tape.watch(x);
    // The tape saves tanh's and exp's outputs, each with a tangent of its own that nothing
    // else holds; the tangent of `loss` stays with loss.
    loss = tapegrad::sum(tapegrad::exp(tapegrad::tanh(x) * 3.0));
    report = tapegrad::memory_report(tape);
    with_tape = live_bytes();
  }
  const std::int64_t without_tape = live_bytes();
  INFO(report);
  CHECK(static_cast<std::int64_t>(report.freed_bytes) == with_tape - without_tape);
  // Two saved outputs of 16 x 8 doubles and their two tangents, at the least.
  CHECK(report.freed_bytes >= 4 * 16 * 8 * sizeof(double));
  CHECK(report.held_bytes == report.freed_bytes + report.outside_bytes);
  CHECK(acc.jvp(loss).has_value());
}

TEST_CASE("memory_report: the bytes freed with a tape are the bytes the counters lose",
          "[memory_report]") {
  REQUIRE(tapegrad::testing::live_objects().counted);
  Variable<double> w(tapegrad_test::sample({8, 16}), "w");
  const Tensor<double> x = tapegrad_test::sample({32, 8}, -1, 1, 1);
  tapegrad::MemoryReport report;
  std::int64_t with_tape = 0, without_tape = 0;
  Tensor<double> loss;
  {
    GradientTape tape;
    tape.watch(x);
    auto h = tapegrad::tanh(tapegrad::matmul(x, w));
    auto shared = h * 2.0;  // kept by the test as well as saved by the tape
    loss = tapegrad::sum(tapegrad::exp(shared) * h);
    report = tapegrad::memory_report(tape);
    with_tape = live_bytes();
    h = Tensor<double>();
    const std::int64_t h_dropped = live_bytes();
    CHECK(h_dropped == with_tape);  // the tape holds h still
    shared = Tensor<double>();
    with_tape = live_bytes();
    report = tapegrad::memory_report(tape);  // now `shared` is the tape's alone
  }
  without_tape = live_bytes();
  INFO(report);
  CHECK(static_cast<std::int64_t>(report.freed_bytes) == with_tape - without_tape);
  CHECK(report.freed_bytes > 0);
  CHECK(report.outside_bytes > 0);  // x (the test's) and w's value (the variable's)
  CHECK(report.held_bytes == report.freed_bytes + report.outside_bytes);
  REQUIRE(report.tapes.size() == 1);
  CHECK(report.tapes[0].own_bytes == report.freed_bytes);
  CHECK(report.tapes[0].entries == 6);
  std::size_t by_op_total = 0;
  for (const auto& row : report.by_op) by_op_total += row.held_bytes;
  CHECK(by_op_total == report.held_bytes);
  REQUIRE(row_of(report, "matmul") != nullptr);
  CHECK(row_of(report, "matmul")->entries == 1);
}

TEST_CASE("memory_report: a block saved by two entries is counted once", "[memory_report]") {
  const Tensor<double> x = tapegrad_test::sample({100});
  GradientTape tape;
  tape.watch(x);
  auto y = tapegrad::exp(x);  // saves its output
  auto z = y * y;             // saves y twice
  const auto r = tapegrad::memory_report(tape);
  const std::size_t y_block =
      tapegrad::detail::bytes_before_elements(100 * sizeof(double)) + 100 * sizeof(double);
  // y is also the test's, so it is held, not freed; x is watched and the test's.
  CHECK(r.held_bytes == y_block + tapegrad::detail::bytes_before_elements(100 * sizeof(double)) +
                            100 * sizeof(double));
  REQUIRE(row_of(r, "exp") != nullptr);
  REQUIRE(row_of(r, "mul") != nullptr);
  REQUIRE(row_of(r, "(watched)") != nullptr);
  CHECK(row_of(r, "exp")->held_bytes == y_block);
  CHECK(row_of(r, "mul")->held_bytes == 0);  // charged to exp, which saved it first
  CHECK(row_of(r, "(watched)")->held_bytes == y_block);
  CHECK_THROWS_AS(tapegrad::memory_report({&tape, &tape}), tapegrad::value_error);
}

TEST_CASE("memory_report: nested tapes are charged what each keeps alone", "[memory_report]") {
  const Tensor<double> x = tapegrad_test::sample({64});
  std::int64_t before = 0, with_tapes = 0;
  tapegrad::MemoryReport both, outer_alone;
  {
    GradientTape outer;
    outer.watch(x);
    std::unique_ptr<GradientTape> inner = std::make_unique<GradientTape>();
    inner->watch(x);
    before = live_bytes();
    {
      auto a = tapegrad::exp(x);  // both tapes save a
      auto b = tapegrad::sin(a);  // both save a again (sin reads its input)
      auto s = tapegrad::sum(b);
      (void)s;
    }
    {
      auto pause = inner->stop_recording();
      auto c = tapegrad::tanh(x);  // only the outer tape saves c
      (void)c;
    }
    with_tapes = live_bytes();
    both = tapegrad::memory_report({&outer, inner.get()});
    INFO(both);
    REQUIRE(both.tapes.size() == 2);
    CHECK(static_cast<std::int64_t>(both.freed_bytes) == with_tapes - before);
    // Both tapes mark a, b and c (the paused one notes c), and a tensor's second mark lives
    // out of line (NOTE [ Tensor storage ]).
    const std::size_t block = tapegrad::detail::bytes_before_elements(64 * sizeof(double)) +
                              64 * sizeof(double) + sizeof(tapegrad::detail::TensorExtras);
    // sum keeps b, which nothing else holds, to read its shape (NOTE [ Saving a shape ]).
    CHECK(both.tapes[0].own_bytes == block);  // c
    CHECK(both.tapes[1].own_bytes == 0);      // a and b are the outer tape's too
    CHECK(both.shared_bytes == 2 * block);    // a and b, each counted once
    CHECK(both.freed_bytes ==
          both.tapes[0].own_bytes + both.tapes[1].own_bytes + both.shared_bytes);
    CHECK(both.tapes[0].held_bytes > both.tapes[1].held_bytes);
    CHECK(both.held_bytes < both.tapes[0].held_bytes + both.tapes[1].held_bytes);
    inner.reset();
    outer_alone = tapegrad::memory_report(outer);
    CHECK(outer_alone.freed_bytes == 3 * block);  // a and b are now the outer tape's alone
  }
  CHECK(live_bytes() == before);
}

TEST_CASE("memory_report: the table names ops, shapes and lines", "[memory_report]") {
  tapegrad::TapeDetails details;
  Variable<float> w(Tensor<float>::ones({4, 3}), "w");
  const Tensor<float> x = Tensor<float>::ones({5, 4});
  GradientTape tape;
  auto y = tapegrad::relu(tapegrad::matmul(x, w));  // line_of_relu
  const int line_of_relu = __LINE__ - 1;
  const auto r = tapegrad::memory_report(tape);
  REQUIRE_FALSE(r.largest.empty());
  bool found = false;
  for (const auto& e : r.largest)
    if (e.op == "relu") {
      found = true;
      CHECK(e.shape == "[5,3] float32");
      CHECK(e.where == "tape_report_test.cpp:" + std::to_string(line_of_relu));
    }
  CHECK(found);
  std::ostringstream text;
  text << r;
  CHECK(count(text.str(), "matmul") == 2);  // a row per op kind, and one largest entry
  CHECK(text.str().find("largest entries") != std::string::npos);
}

TEST_CASE("memory_report: recompute_grad saves its inputs, not its activations",
          "[memory_report][recompute_grad]") {
  // Each block saves five activations of its own (the outputs of exp, tanh, exp, tanh, and
  // the product's other factor); recompute_grad saves the block's input only.
  const auto block = [](const Tensor<double>& x) {
    auto h = tapegrad::tanh(tapegrad::exp(x));
    return tapegrad::tanh(tapegrad::exp(h) * (h + 1.0));
  };
  const auto checkpointed = tapegrad::recompute_grad(block);
  const Tensor<double> x = tapegrad_test::sample({256});
  GradientTape plain, recomputed;
  {
    auto pause = recomputed.stop_recording();
    plain.watch(x);
    auto y = x;
    for (int i = 0; i < 4; ++i) y = block(y);
  }
  {
    auto pause = plain.stop_recording();
    recomputed.watch(x);
    auto y = x;
    for (int i = 0; i < 4; ++i) y = checkpointed(y);
  }
  const auto p = tapegrad::memory_report(plain);
  const auto r = tapegrad::memory_report(recomputed);
  INFO(p << "\n" << r);
  REQUIRE(row_of(r, "recompute_grad") != nullptr);
  CHECK(row_of(r, "recompute_grad")->entries == 4);
  CHECK(r.freed_bytes > 0);  // the inputs of blocks 2 to 4
  CHECK(r.freed_bytes * 4 <= p.freed_bytes);
}

TEST_CASE("to_dot: boxes, sources, cuts and the target", "[to_dot]") {
  tapegrad::TapeDetails details;
  Variable<double> w(tapegrad_test::sample({3, 2}), "weights");
  const Tensor<double> x = tapegrad_test::sample({4, 3});
  GradientTape tape;
  tape.watch(x);
  auto h = tapegrad::matmul(x, w);
  auto cut = tapegrad::stop_gradient(h);
  Tensor<double> paused;
  {
    auto pause = tape.stop_recording();
    paused = h * 3.0;
  }
  auto loss = tapegrad::sum(tapegrad::square(h) + cut + paused);
  auto unrelated = tapegrad::exp(x);

  const std::string all = tapegrad::to_dot(tape);
  CHECK(all.rfind("digraph tape {", 0) == 0);
  CHECK(all.back() == '\n');
  CHECK(count(all, "[shape=box") == tape.internal_state().entries.size());
  CHECK(all.find("Variable weights") != std::string::npos);
  CHECK(all.find("watched [4,3] float64") != std::string::npos);
  CHECK(all.find("matmul\\n[4,2] float64") != std::string::npos);
  CHECK(all.find("stop_gradient") != std::string::npos);
  CHECK(all.find("(no gradient crosses)") != std::string::npos);
  CHECK(all.find("(paused: not recorded)") != std::string::npos);
  CHECK(all.find("tape_report_test.cpp:") != std::string::npos);
  CHECK(all.find("exp") != std::string::npos);

  const std::string path = tapegrad::to_dot(tape, loss, {w});
  CHECK(path.find("exp") == std::string::npos);  // not on a path from w to the loss
  CHECK(path.find("Variable weights") != std::string::npos);
  CHECK(path.find("stop_gradient") != std::string::npos);  // the cut on the path is shown
  CHECK(count(path, "peripheries=2") == 1);
  CHECK(path.find("sum") != std::string::npos);
  CHECK(count(path, "[shape=box") < count(all, "[shape=box"));
}

TEST_CASE("to_dot: without TapeDetails the shapes are unknown, not wrong", "[to_dot]") {
  const Tensor<double> x = tapegrad_test::sample({2});
  GradientTape tape;
  tape.watch(x);
  auto y = tapegrad::exp(x);
  const std::string dot = tapegrad::to_dot(tape);
  CHECK(dot.find("exp\\n?") != std::string::npos);
  CHECK_THROWS_AS(tapegrad::to_dot(tape, Tensor<double>(), {x}), tapegrad::value_error);
}

TEST_CASE("to_dot: an input made off the drawn paths is named, not left bare", "[to_dot]") {
  Variable<double> w(Tensor<double>({1.0, 2.0}), "w");
  const Tensor<double> x({3.0, 4.0});
  GradientTape tape;
  tape.watch(x);
  auto from_x = tapegrad::exp(x);
  auto loss = tapegrad::sum(w * from_x);
  const std::string dot = tapegrad::to_dot(tape, loss, {w});
  CHECK(dot.find("exp (off the path)") != std::string::npos);
  // Every edge's tail is declared: an entry box, a source, or an off-path name.
  for (std::size_t at = dot.find(" -> "); at != std::string::npos; at = dot.find(" -> ", at + 1)) {
    const std::size_t start = dot.rfind(' ', at - 1) + 1;
    const std::string tail = dot.substr(start, at - start);
    CHECK(dot.find("  " + tail + " [") != std::string::npos);
  }
}
