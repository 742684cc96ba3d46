#include "test_util.hpp"

#include <cmath>
#include <cstdint>
#include <limits>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using Inputs = std::vector<Tensor<double>>;
using tapegrad_test::sample;
namespace {
// The same alias as indexing_test.cpp's, which shares a unity build with this file: declared in
// the same (anonymous) namespace, it is one alias, not a shadow.
using V = std::vector<double>;
}  // namespace

TEST_CASE("reductions over several axes", "[ops][reduce]") {
  std::vector<double> v(24);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>((i * 7) % 24);
  const Tensor<double> x(Shape{2, 3, 4}, v);
  // Expected values by direct loops over the index space.
  std::vector<double> sums(3, 0), maxes(3, -1), prods(3, 1);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) {
        const double e = x.at(i, j, k);
        sums[static_cast<std::size_t>(j)] += e;
        maxes[static_cast<std::size_t>(j)] = std::max(maxes[static_cast<std::size_t>(j)], e);
        prods[static_cast<std::size_t>(j)] *= e + 1;
      }
  CHECK(tapegrad::sum(x, {0, 2}).to_vector() == sums);
  CHECK(tapegrad::sum(x, {2, 0, -1}, true).shape() == Shape{1, 3, 1});
  CHECK(tapegrad::max(x, {0, 2}).to_vector() == maxes);
  CHECK(tapegrad::prod(x + 1.0, {-1, 0}).to_vector() == prods);
  const auto m = tapegrad::mean(x, {0, 2}, true);
  CHECK(m.shape() == Shape{1, 3, 1});
  for (std::size_t j = 0; j < 3; ++j) CHECK(m.to_vector()[j] == Approx(sums[j] / 8));
  CHECK(tapegrad::sum(x, std::vector<int>{}).shape() == x.shape());
  CHECK(tapegrad::logsumexp(x, {0, 1, 2}).item() ==
        Approx(std::log(tapegrad::sum(tapegrad::exp(x)).item())));
  CHECK_THROWS_WITH(tapegrad::sum(x, {0, 3}),
                    "sum: axis 3 is out of range for a tensor of rank 3 (expected -3 <= axis < 3)");
}

TEST_CASE("prod: values, and gradients also where inputs are 0", "[ops][reduce]") {
  Tensor<double> x({{2.0, 0.0, 3.0}, {0.0, 0.0, 5.0}});
  CHECK(tapegrad::prod(x, 1).to_vector() == V{0, 0});
  CHECK(tapegrad::prod(Tensor<double>({2.0, 3.0, 4.0})).item() == 24.0);
  CHECK(tapegrad::prod(Tensor<double>::zeros({0})).item() == 1.0);
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  // Each gradient is the product of the other elements in its group.
  CHECK(tape.gradient(tapegrad::prod(x, 1), x).to_vector() == V{0, 6, 0, 0, 0, 0});
  CHECK(tape.gradient(tapegrad::prod(x, 0), x).to_vector() == V{0, 0, 5, 2, 0, 3});
  // A second derivative at a 0 input is refused, not silently wrong; at other points it works.
  GradientTape outer;
  outer.watch(x);
  Tensor<double> g;
  {
    GradientTape inner;
    inner.watch(x);
    g = inner.gradient(tapegrad::prod(x), x);
  }
  CHECK(g.to_vector() == V{0, 0, 0, 0, 0, 0});
  CHECK_THROWS_WITH(outer.gradient(g, x),
                    "prod: the second derivative at inputs that contain 0 is not provided (first "
                    "derivatives there are exact)");
  Tensor<double> y({2.0, 3.0, 4.0});
  GradientTape outer2;
  outer2.watch(y);
  Tensor<double> gy;
  {
    GradientTape inner;
    inner.watch(y);
    gy = inner.gradient(tapegrad::prod(y), y);
  }
  CHECK(gy.to_vector() == V{12, 8, 6});
  // d/dy_j of sum_i prod_{k != i} y_k = sum_{i != j} prod_{k != i, j} y_k
  CHECK(outer2.gradient(gy, y).to_vector() == V{7, 6, 5});
}

TEST_CASE("argmax and argmin: first on ties, NaN wins, integer results", "[ops][reduce]") {
  Tensor<double> m({{1.0, 5.0, 5.0}, {4.0, 2.0, -1.0}});
  CHECK(tapegrad::argmax(m, -1).to_vector() == std::vector<std::int64_t>{1, 0});
  CHECK(tapegrad::argmin(m, 0).to_vector() == std::vector<std::int64_t>{0, 1, 1});
  CHECK(tapegrad::argmax(Tensor<double>({1.0, std::nan(""), 3.0}), 0).item() == 1);
  CHECK(tapegrad::argmax(Tensor<std::int32_t>({3, 9, 2}), 0).item() == 1);
  CHECK_THROWS_WITH(tapegrad::argmax(Tensor<double>::zeros({2, 0}), -1),
                    "argmax: cannot reduce an empty axis ([2,0])");
  CHECK_THROWS_WITH(tapegrad::argmin(Tensor<double>(1.0), 0),
                    "argmin: needs a tensor of rank >= 1, got shape []");
}

TEST_CASE("norm: L1, L2, inf; gradient 0 at 0; no overflow", "[ops][reduce][kinks]") {
  Tensor<double> x({3.0, -4.0});
  CHECK(tapegrad::norm(x).item() == 5.0);
  CHECK(tapegrad::norm(x, tapegrad::NormOrder(1)).item() == 7.0);
  CHECK(tapegrad::norm(x, tapegrad::NormOrder(std::numeric_limits<double>::infinity())).item() ==
        4.0);
  CHECK(tapegrad::norm(Tensor<double>({3e200, 4e200})).item() == Approx(5e200));
  CHECK(tapegrad::norm(Tensor<double>({3e-200, 4e-200})).item() == Approx(5e-200));
  CHECK(tapegrad::norm(Tensor<double>({{3.0, 4.0}, {0.0, 1.0}}), 1).to_vector() == V{5, 1});
  CHECK_THROWS_WITH(tapegrad::norm(x, tapegrad::NormOrder(3)),
                    "norm: ord must be 1, 2 or inf, got 3.000000");
  Tensor<double> zero({0.0, 0.0});
  GradientTape outer;
  outer.watch(zero);
  Tensor<double> g;
  {
    GradientTape tape(tapegrad::persistent);
    tape.watch(zero);
    CHECK(tape.gradient(tapegrad::norm(zero, tapegrad::NormOrder(1)), zero).to_vector() == V{0, 0});
    g = tape.gradient(tapegrad::norm(zero), zero);
    CHECK(g.to_vector() == V{0, 0});
  }
  // The second derivative at 0 is finite (0) too, not NaN.
  CHECK(outer.gradient(tapegrad::sum(g), zero).to_vector() == V{0, 0});
}

TEST_CASE("variance: two-pass values", "[ops][reduce]") {
  Tensor<double> x({{1e9 + 1, 1e9 + 2, 1e9 + 3}, {1.0, 1.0, 4.0}});
  CHECK(tapegrad::variance(x, 1).to_vector()[0] == Approx(2.0 / 3));
  CHECK(tapegrad::variance(x, 1).to_vector()[1] == Approx(2.0));
  CHECK(tapegrad::variance(Tensor<double>({1.0, 3.0})).item() == 1.0);
  CHECK(tapegrad::variance(x, 0, true).shape() == Shape{1, 3});
}

TEST_CASE("several-axis reductions, prod, norm and variance match finite differences",
          "[ops][reduce][gradcheck]") {
  const Inputs x{sample({2, 3, 2}, -2, 2, 4)};
  for (bool keep : {false, true}) {
    CHECK_GRADIENTS([&](const Inputs& v) { return tapegrad::sum(v[0] * v[0], {0, 2}, keep); }, x);
    CHECK_GRADIENTS([&](const Inputs& v) { return tapegrad::mean(v[0], {1, 2}, keep); }, x);
    CHECK_GRADIENTS([&](const Inputs& v) { return tapegrad::max(v[0], {0, 1}, keep); }, x);
    CHECK_GRADIENTS([&](const Inputs& v) { return tapegrad::min(v[0], {0, 2}, keep); }, x);
    CHECK_GRADIENTS([&](const Inputs& v) { return tapegrad::logsumexp(v[0], {2, 1}, keep); }, x);
    CHECK_GRADIENTS([&](const Inputs& v) { return tapegrad::prod(v[0], {0, 2}, keep); }, x);
    CHECK_GRADIENTS([&](const Inputs& v) { return tapegrad::prod(v[0], 1, keep); }, x);
    CHECK_GRADIENTS([&](const Inputs& v) { return tapegrad::norm(v[0], 1, keep); }, x);
    CHECK_GRADIENTS(
        [&](const Inputs& v) { return tapegrad::norm(v[0], tapegrad::NormOrder(1), 0, keep); }, x);
    CHECK_GRADIENTS([&](const Inputs& v) { return tapegrad::variance(v[0], 2, keep); }, x);
  }
  CHECK_GRADIENTS([](const Inputs& v) { return tapegrad::prod(v[0]); }, x);
  CHECK_GRADIENTS([](const Inputs& v) { return tapegrad::norm(v[0]); }, x);
  CHECK_GRADIENTS([](const Inputs& v) { return tapegrad::variance(v[0]); }, x);
}

TEST_CASE("One axis type: an int, a list, or all_axes, in every op that takes axes",
          "[ops][reduce]") {
  const Tensor<double> x = sample({1, 3, 1}, -2, 2, 5);
  // squeeze takes one axis as sum does.
  CHECK(tapegrad::squeeze(x, 0).shape() == Shape{3, 1});
  CHECK(tapegrad::squeeze(x, -1).shape() == Shape{1, 3});
  CHECK(tapegrad::squeeze(x).shape() == Shape{3});
  CHECK(tapegrad::squeeze(x, {}).shape() == Shape{1, 3, 1});  // an empty list removes none
  // norm(x, -1) is the last axis, as sum(x, -1) is; the order is a NormOrder.
  const Tensor<double> m({{3.0, -4.0}, {0.0, 1.0}});
  CHECK(tapegrad::norm(m, -1).to_vector() == V{5, 1});
  CHECK(tapegrad::norm(m, tapegrad::NormOrder(1), -1).to_vector() == V{7, 1});
  CHECK(tapegrad::sum(m, {}).shape() == Shape{2, 2});  // reduces nothing
  CHECK(tapegrad::sum(m, tapegrad::all_axes, true).shape() == Shape{1, 1});
  CHECK(tapegrad::max(m, tapegrad::all_axes, true).item() == 3.0);
  CHECK(tapegrad::mean(m, std::vector<int>{0, 1}).item() == 0.0);
  CHECK(tapegrad::sum(m, std::size_t{1}).to_vector() == V{-1, 1});
  CHECK_THROWS_WITH(
      tapegrad::sum(m, {0, 1, 0, 1, 0, 1, 0, 1, 0}),
      Catch::Matchers::Contains("sum: 9 axes given, more than a tensor can have (8)"));
  CHECK_THROWS_AS(tapegrad::norm(m, 2), tapegrad::index_error);  // axis 2 of a matrix
}
