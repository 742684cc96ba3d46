// Every misuse throws a typed exception whose message names the op, the shapes and what was
// expected; afterwards tapes, tensors and variables work as before.
#include "test_util.hpp"

using tapegrad::GradientTape;
using tapegrad::Tensor;
using tapegrad::Variable;

TEST_CASE("Shape errors name the op and both shapes", "[errors]") {
  Tensor<float> a = Tensor<float>::ones({2, 3});
  Tensor<float> b = Tensor<float>::ones({4, 5});
  CHECK_THROWS_WITH(tapegrad::matmul(a, b), "matmul: inner dimensions differ: [2,3] x [4,5]");
  CHECK_THROWS_WITH(tapegrad::matmul(a, a, false, true) * 0.f + tapegrad::matmul(a, a, true),
                    "add: incompatible shapes for broadcasting: [2,2] vs. [3,3]");
  CHECK_THROWS_WITH(tapegrad::matmul(a, b, true, false),
                    "matmul: inner dimensions differ: [2,3]^T x [4,5]");
  CHECK_THROWS_WITH(tapegrad::matmul(Tensor<float>({1.f, 2.f, 3.f}), a),
                    "matmul: inner dimensions differ: [3] x [2,3]");
  CHECK_THROWS_WITH(a + Tensor<float>::ones({4}),
                    "add: incompatible shapes for broadcasting: [2,3] vs. [4]");
  CHECK_THROWS_WITH(a - Tensor<float>::ones({2}),
                    "sub: incompatible shapes for broadcasting: [2,3] vs. [2]");
  CHECK_THROWS_WITH(a * Tensor<float>::ones({3, 3}),
                    "mul: incompatible shapes for broadcasting: [2,3] vs. [3,3]");
  CHECK_THROWS_WITH(a / Tensor<float>::ones({2, 3, 2}),
                    "div: incompatible shapes for broadcasting: [2,3] vs. [2,3,2]");
  CHECK_THROWS_WITH(tapegrad::reshape(a, {4}),
                    "reshape: cannot reshape [2,3] (6 elements) to [4] (4 elements)");
  CHECK_THROWS_WITH(tapegrad::reshape(a, {-1, 4}),
                    "reshape: cannot reshape [2,3] (6 elements) to a shape with -1 and 4 known "
                    "elements");
  CHECK_THROWS_WITH(tapegrad::broadcast_to(a, {3, 3}),
                    "broadcast_to: cannot broadcast shape [2,3] to [3,3]");
  CHECK_THROWS_WITH(tapegrad::sum_to(a, {2}),
                    "sum_to: shape [2] does not broadcast to the input shape [2,3]");
}

TEST_CASE("Bad axes are index errors (std::out_of_range) naming the op", "[errors]") {
  Tensor<double> a = Tensor<double>::ones({2, 3});
  CHECK_THROWS_WITH(tapegrad::sum(a, 2),
                    "sum: axis 2 is out of range for a tensor of rank 2 (expected -2 <= axis < 2)");
  CHECK_THROWS_WITH(
      tapegrad::mean(a, -3),
      "mean: axis -3 is out of range for a tensor of rank 2 (expected -2 <= axis < 2)");
  CHECK_THROWS_AS(tapegrad::sum(Tensor<double>(1.0), 0), tapegrad::index_error);
  CHECK_THROWS_AS(tapegrad::sum(Tensor<double>(1.0), 0), std::out_of_range);
}

TEST_CASE(
    "Error types derive from tapegrad::error and std::runtime_error, index errors from "
    "std::out_of_range",
    "[errors]") {
  CHECK_THROWS_AS(tapegrad::matmul(Tensor<float>(1.f), Tensor<float>(1.f)), tapegrad::error);
  CHECK_THROWS_AS(tapegrad::matmul(Tensor<float>(1.f), Tensor<float>(1.f)), std::runtime_error);
  CHECK_THROWS_AS(tapegrad::sum(Tensor<float>(1.f), 3), std::logic_error);
  Tensor<double> x(1.0);
  GradientTape tape;
  tape.watch(x);
  tape.gradient(x * x, x);
  CHECK_THROWS_AS(tape.gradient(x * x, x), std::runtime_error);
}

TEST_CASE("After any exception every tape, tensor and variable still works", "[errors]") {
  Variable<double> w({1.0, 2.0});
  Tensor<double> x({3.0, 4.0});
  GradientTape outer(tapegrad::persistent);
  GradientTape inner(tapegrad::persistent);
  inner.watch(x);
  auto y = w * x;
  CHECK_THROWS(y + Tensor<double>::ones({3}));
  CHECK_THROWS(tapegrad::sum(y, 5));
  CHECK_THROWS(tapegrad::reshape(y, {3}));
  CHECK_THROWS(w.assign(Tensor<double>::ones({3})));
  CHECK_THROWS(inner.gradient(y, Tensor<double>()));
  auto loss = tapegrad::sum(y * y);
  auto g = inner.gradient(loss, {w, x});
  CHECK(g[0].to_vector() == std::vector<double>{18.0, 64.0});  // 2 w x^2
  CHECK(g[1].to_vector() == std::vector<double>{6.0, 32.0});   // 2 w^2 x
  CHECK(outer.gradient(loss, w).to_vector() == std::vector<double>{18.0, 64.0});
  CHECK(w.value().to_vector() == std::vector<double>{1.0, 2.0});
}
