// Every misuse in README's table, with its exact message: each row is run here, and the test
// fails if README.md no longer quotes the message the library throws.
#include "test_util.hpp"

#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#ifndef TAPEGRAD_README
#define TAPEGRAD_README TAPEGRAD_INCLUDE_DIR "/../README.md"
#endif

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using tapegrad::Variable;

namespace {

struct Misuse {
  const char* what;
  std::function<void()> run;
  std::string expected;
};

/// README shows a named op's error as called at main.cpp:12: the suffix every such error
/// ends with names the caller's file and line, here this file and a line in it.
std::string as_in_readme(const std::string& what, const tapegrad::SourceLocation& where) {
  if (where.file == nullptr) return what;
  const std::string suffix =
      std::string(" (called at ") + where.file + ":" + std::to_string(where.line) + ")";
  if (std::string(where.file).find("misuse_table_test.cpp") == std::string::npos ||
      what.size() < suffix.size() ||
      what.compare(what.size() - suffix.size(), suffix.size(), suffix) != 0)
    return what + " [unexpected location suffix]";
  return what.substr(0, what.size() - suffix.size()) + " (called at main.cpp:12)";
}

std::string message_of(const std::function<void()>& run) {
  try {
    run();
  } catch (const tapegrad::error& e) {
    return as_in_readme(e.what(), e.location());
  } catch (const tapegrad::index_error& e) {
    return as_in_readme(e.what(), e.location());
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

std::vector<Misuse> misuses() {
  const Tensor<float> m23(Shape{2, 3}, 1.f), m45(Shape{4, 5}, 1.f), v4(Shape{4}, 1.f);
  return {
      {"operands that do not broadcast", [=] { (void)(m23 + v4); },
       "add: incompatible shapes for broadcasting: [2,3] vs. [4]"},
      {"matmul with mismatched inner dimensions", [=] { (void)tapegrad::matmul(m23, m45); },
       "matmul: inner dimensions differ: [2,3] x [4,5] (called at main.cpp:12)"},
      {"an axis out of range", [=] { (void)tapegrad::sum(m23, 2); },
       "sum: axis 2 is out of range for a tensor of rank 2 (expected -2 <= axis < 2) (called at "
       "main.cpp:12)"},
      {"a gather index out of range",
       [=] {
         (void)tapegrad::gather(m23, Tensor<std::int32_t>({0, 2}));
       },
       "gather: index 2 (at position 1) is out of range for axis 0 of size 2 (called at "
       "main.cpp:12)"},
      {"a class label out of range",
       [=] {
         (void)tapegrad::sparse_softmax_cross_entropy(Tensor<std::int32_t>({0, 3}), m23);
       },
       "sparse_softmax_cross_entropy: received a label value of 3 which is outside the valid "
       "range of [0, 3) for 3 classes (called at main.cpp:12)"},
      {"reshape to a different element count",
       [=] {
         (void)tapegrad::reshape(m23, {4, 2});
       },
       "reshape: cannot reshape [2,3] (6 elements) to [4,2] (8 elements) (called at main.cpp:12)"},
      {"a convolution whose channels differ",
       [] {
         (void)tapegrad::conv2d(Tensor<float>(Shape{1, 5, 5, 3}), Tensor<float>(Shape{3, 3, 4, 8}));
       },
       "conv2d: input has 3 channels but filter expects 4 (input [1,5,5,3], filter [3,3,4,8]) "
       "(called at main.cpp:12)"},
      {"a second gradient() on a non-persistent tape",
       [] {
         Tensor<float> x(2.f);
         GradientTape tape;
         tape.watch(x);
         const auto y = x * x;
         (void)tape.gradient(y, x);
         (void)tape.gradient(y, x);
       },
       "A non-persistent GradientTape can only be used to compute one set of gradients (or "
       "jacobians)"},
      {"reset() on a tape that is not recording",
       [] {
         GradientTape tape;
         tape.stop();
         tape.reset();
       },
       "Tape is not recording."},
      {"stop_recording() on a tape that is not recording",
       [] {
         GradientTape tape;
         tape.stop();
         auto pause = tape.stop_recording();
       },
       "Trying to stop recording a tape which is not recording."},
      {"a gradient that does not exist used as a tensor",
       [] {
         Tensor<float> none;
         (void)(none + 1.f);
       },
       "add: an input has no value (a gradient that does not exist, TensorFlow's None)"},
      {"assign with another shape",
       [] {
         Variable<float> w({1.f, 2.f}, "w");
         w.assign(Tensor<float>({1.f, 2.f, 3.f}));
       },
       "Variable::assign: shape [3] does not match the variable's shape [2]"},
      {"output_gradients of the wrong shape",
       [] {
         Tensor<float> x({1.f, 2.f});
         GradientTape tape;
         tape.watch(x);
         const auto y = x * x;
         (void)tape.gradient({y}, {x}, {Tensor<float>({1.f})});
       },
       "GradientTape::gradient: output_gradients[0] has shape [1] but its target has shape [2]"},
      {"a shape too large for memory",
       [] {
         (void)Tensor<float>(Shape{std::int64_t{1} << 40, std::int64_t{1} << 21});
       },
       "Tensor: shape [1099511627776,2097152] needs more bytes than memory can hold"},
      {"a shape of more than 2^63 - 1 elements",
       [] {
         (void)Shape{std::int64_t{1} << 40, std::int64_t{1} << 30};
       },
       "Shape: adding dimension 1073741824 to [1099511627776] makes its dimensions multiply past "
       "2^63 - 1"},
      {"a float-to-integer cast of NaN",
       [] {
         (void)tapegrad::cast<std::int32_t>(Tensor<float>({1.f, NAN}));
       },
       "cast: element 1 of a float32 tensor of shape [2] is nan, which int32 cannot hold (it "
       "needs a finite value in [-2147483648, 2147483647] after truncation toward zero) (called "
       "at main.cpp:12)"},
      {"reset() from a custom gradient function during the tape's own gradient()",
       [] {
         const Tensor<float> x(1.f);
         GradientTape tape(tapegrad::persistent);
         tape.watch(x);
         const auto op = tapegrad::custom_gradient([&](const Tensor<float>& a) {
           return std::make_pair(a * 2.f, [&](const Tensor<float>& g) {
             tape.reset();
             return g;
           });
         });
         (void)tape.gradient(op(x), x);
       },
       "GradientTape::reset: called while this tape's gradient() runs (from a custom gradient "
       "function)"},
      {"reading a traced value on the host inside tapegrad::function",
       [] {
         auto f = tapegrad::function([](const Tensor<float>& x) {
           const Tensor<float> y = tapegrad::exp(x);
           return tapegrad::sum(y).item() > 1.f ? y : x;
         });
         (void)f(Tensor<float>({1.f, 2.f}));
       },
       "function: Tensor::item reads a traced value of shape [] on the host while tracing; a "
       "replay repeats the ops, not what the host decided from their values (compute it with ops "
       "such as tapegrad::where, or return the value and read it after the call) (called at "
       "main.cpp:12)"},
      {"a NaN under anomaly mode",
       [] {
         tapegrad::DetectAnomaly anomaly;
         (void)tapegrad::log(Tensor<float>({-1.f}), tapegrad::SourceLocation{"model.cpp", 42});
       },
       "anomaly: log produced NaN (element 0 of [1]) from finite inputs [1], called at "
       "model.cpp:42"},
  };
}

}  // namespace

TEST_CASE("Each misuse throws its exact message, and README's table quotes it", "[errors]") {
  std::ifstream in(TAPEGRAD_README);
  REQUIRE(in);
  std::stringstream readme;
  readme << in.rdbuf();
  for (const auto& m : misuses()) {
    INFO(m.what);
    CHECK(message_of(m.run) == m.expected);
    CHECK_THAT(readme.str(), Catch::Contains("`" + m.expected + "`"));
  }
}

TEST_CASE("An error from a named op names the caller's line once, and gives it", "[errors]") {
  const Tensor<float> m23(Shape{2, 3}, 1.f), m45(Shape{4, 5}, 1.f);
  // The outermost named op wins: mse is built from other named ops, and names this line.
  const int line = __LINE__ + 2;
  try {
    (void)tapegrad::mse(m23, m45);
    FAIL("mse of [2,3] and [4,5] did not throw");
  } catch (const tapegrad::shape_error& e) {
    CHECK(e.location().line == line);
    CHECK_THAT(e.location().file, Catch::EndsWith("misuse_table_test.cpp"));
    CHECK(std::string(e.what()) ==
          e.message() + " (called at " + e.location().file + ":" + std::to_string(line) + ")");
    CHECK(e.message() == "sub: incompatible shapes for broadcasting: [2,3] vs. [4,5]");
  }
  // Operators and tape methods are not named ops: no location.
  try {
    (void)(m23 + m45);
  } catch (const tapegrad::shape_error& e) {
    CHECK(e.location().file == nullptr);
    CHECK(std::string(e.what()) == e.message());
  }
  // Once the op has returned, nothing is left behind for a later error to pick up.
  try {
    tapegrad::Variable<float> w({1.f});
    w.assign(Tensor<float>({1.f, 2.f}));
  } catch (const tapegrad::shape_error& e) {
    CHECK(e.location().file == nullptr);
  }
}
