#include "test_util.hpp"

#include <cstdint>
#include <stdexcept>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using Inputs = std::vector<Tensor<double>>;
using tapegrad_test::sample;

namespace {
/// 0, 1, 2, ... in a tensor of `shape`, so that positions are easy to read in expectations.
Tensor<double> iota(const Shape& shape) {
  std::vector<double> v(static_cast<std::size_t>(shape.size()));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
  return Tensor<double>(shape, v);
}
using V = std::vector<double>;
}  // namespace

TEST_CASE("transpose permutes axes", "[ops][shape]") {
  const Tensor<double> m = iota({2, 3});
  CHECK(tapegrad::transpose(m).shape() == Shape{3, 2});
  CHECK(tapegrad::transpose(m).to_vector() == V{0, 3, 1, 4, 2, 5});
  const Tensor<double> t = iota({2, 3, 4});
  const Tensor<double> p = tapegrad::transpose(t, {1, 2, 0});
  CHECK(p.shape() == Shape{3, 4, 2});
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 2; ++k) CHECK(p.at(i, j, k) == t.at(k, i, j));
  CHECK(tapegrad::transpose(Tensor<double>(2.0)).item() == 2.0);
  CHECK_THROWS_WITH(tapegrad::transpose(m, {0, 0}),
                    "transpose: axis 0 appears twice in the permutation");
  CHECK_THROWS_WITH(tapegrad::transpose(m, {0}),
                    "transpose: a permutation of 1 axes for a tensor of shape [2,3] (rank 2)");
  CHECK_THROWS_AS(tapegrad::transpose(m, {0, 2}), std::out_of_range);
}

TEST_CASE("expand_dims, squeeze and tile", "[ops][shape]") {
  const Tensor<double> v = iota({3});
  CHECK(tapegrad::expand_dims(v, 0).shape() == Shape{1, 3});
  CHECK(tapegrad::expand_dims(v, -1).shape() == Shape{3, 1});
  CHECK(tapegrad::squeeze(iota({1, 3, 1})).shape() == Shape{3});
  CHECK(tapegrad::squeeze(iota({1, 3, 1}), {-1}).shape() == Shape{1, 3});
  CHECK_THROWS_WITH(tapegrad::squeeze(iota({1, 3, 1}), {1}),
                    "squeeze: cannot squeeze axis 1 of shape [1,3,1]: its size is 3, expected 1");
  const Tensor<double> m = iota({2, 2});
  const Tensor<double> t = tapegrad::tile(m, {2, 3});
  CHECK(t.shape() == Shape{4, 6});
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; ++j) CHECK(t.at(i, j) == m.at(i % 2, j % 2));
  CHECK(tapegrad::tile(m, {0, 1}).shape() == Shape{0, 2});
  CHECK_THROWS_WITH(tapegrad::tile(m, {2}),
                    "tile: 1 multiples for a tensor of shape [2,2], expected one per axis");
  // The gradient of tile adds up the copies.
  GradientTape tape;
  tape.watch(m);
  CHECK(tape.gradient(tapegrad::tile(m, {2, 3}), m).to_vector() == V{6, 6, 6, 6});
}

TEST_CASE("slice and strided_slice follow tf.slice and Python's slicing", "[ops][shape]") {
  const Tensor<double> m = iota({3, 4});
  const Tensor<double> s = tapegrad::slice(m, {1, 1}, {2, -1});
  CHECK(s.shape() == Shape{2, 3});
  CHECK(s.to_vector() == V{5, 6, 7, 9, 10, 11});
  CHECK_THROWS_WITH(tapegrad::slice(m, {2, 0}, {2, 1}),
                    "slice: begin 2 and size 2 are out of range for axis 0 of shape [3,4]");
  CHECK_THROWS_AS(tapegrad::slice(m, {2, 0}, {2, 1}), std::out_of_range);
  const Tensor<double> v = iota({6});
  using tapegrad::none;
  CHECK(tapegrad::strided_slice(v, {1}, {none}, {2}).to_vector() == V{1, 3, 5});
  CHECK(tapegrad::strided_slice(v, {none}, {none}, {-1}).to_vector() == V{5, 4, 3, 2, 1, 0});
  CHECK(tapegrad::strided_slice(v, {-2}, {0}, {-1}).to_vector() == V{4, 3, 2, 1});
  CHECK(tapegrad::strided_slice(v, {4}, {-100}, {-2}).to_vector() == V{4, 2, 0});
  CHECK(tapegrad::strided_slice(v, {-100}, {100}, {4}).to_vector() == V{0, 4});
  CHECK(tapegrad::strided_slice(v, {3}, {1}, {1}).shape() == Shape{0});
  // Axes not given are taken whole.
  CHECK(tapegrad::strided_slice(m, {none}, {none}, {2}).to_vector() == V{0, 1, 2, 3, 8, 9, 10, 11});
  CHECK(tapegrad::strided_slice(m, {0, 3}, {3, 0}, {1, -2}).to_vector() == V{3, 1, 7, 5, 11, 9});
  CHECK_THROWS_WITH(tapegrad::strided_slice(v, {0}, {1}, {0}),
                    "strided_slice: stride of axis 0 is 0");
}

TEST_CASE("pad, concat and split", "[ops][shape]") {
  const Tensor<double> m = iota({2, 2});
  const Tensor<double> p = tapegrad::pad(m, {{1, 0}, {0, 2}}, -1.0);
  CHECK(p.shape() == Shape{3, 4});
  CHECK(p.to_vector() == V{-1, -1, -1, -1, 0, 1, -1, -1, 2, 3, -1, -1});
  CHECK_THROWS_WITH(tapegrad::pad(m, {{1, 0}}),
                    "pad: 1 paddings for shape [2,2], expected one pair per axis");
  const Tensor<double> c = tapegrad::concat({m, iota({2, 1}) + 10.0}, 1);
  CHECK(c.shape() == Shape{2, 3});
  CHECK(c.to_vector() == V{0, 1, 10, 2, 3, 11});
  CHECK(tapegrad::concat({m, m}, 0).to_vector() == V{0, 1, 2, 3, 0, 1, 2, 3});
  CHECK_THROWS_WITH(tapegrad::concat({m, iota({3, 1})}, 1),
                    "concat: tensor 1 has shape [3,1], which does not match [2,2] outside axis 1");
  const auto parts = tapegrad::split(iota({2, 5}), {2, -1}, 1);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].to_vector() == V{0, 1, 5, 6});
  CHECK(parts[1].to_vector() == V{2, 3, 4, 7, 8, 9});
  CHECK(tapegrad::split(iota({4}), 2, 0)[1].to_vector() == V{2, 3});
  CHECK_THROWS_WITH(tapegrad::split(iota({5}), 2, 0),
                    "split: axis 0 of [5] cannot be split into 2 equal parts");
  CHECK_THROWS_WITH(tapegrad::split(iota({5}), {2, 2}, 0),
                    "split: sizes add up to 4 but axis 0 of [5] has 5");
}

TEST_CASE("gather reads slices at integer indices; its gradient accumulates duplicates",
          "[ops][shape]") {
  const Tensor<double> params = iota({4, 2});
  const Tensor<std::int32_t> idx({3, 0, 3});
  const Tensor<double> rows = tapegrad::gather(params, idx);
  CHECK(rows.shape() == Shape{3, 2});
  CHECK(rows.to_vector() == V{6, 7, 0, 1, 6, 7});
  const Tensor<double> cols = tapegrad::gather(params, Tensor<std::int64_t>({{1, 0}}), 1);
  CHECK(cols.shape() == Shape{4, 1, 2});
  CHECK(cols.to_vector() == V{1, 0, 3, 2, 5, 4, 7, 6});
  GradientTape tape;
  tape.watch(params);
  CHECK(tape.gradient(tapegrad::gather(params, idx), params).to_vector() ==
        V{1, 1, 0, 0, 0, 0, 2, 2});
  CHECK_THROWS_WITH(tapegrad::gather(params, Tensor<std::int32_t>({1, 4})),
                    "gather: index 4 (at position 1) is out of range for axis 0 of size 4");
  CHECK_THROWS_AS(tapegrad::gather(params, Tensor<std::int32_t>({-1})), std::out_of_range);
}

TEST_CASE("shape and indexing ops: gradients of every order match finite differences",
          "[ops][shape][gradcheck]") {
  const Inputs m{sample({2, 3, 4}, -1, 1, 1)};
  CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::transpose(x[0], {2, 0, 1}); }, m);
  CHECK_GRADIENTS(
      [](const Inputs& x) {
        return tapegrad::square(tapegrad::tile(x[0], {1, 2, 2}));
      },
      m);
  CHECK_GRADIENTS(
      [](const Inputs& x) {
        return tapegrad::strided_slice(x[0], {1, -1}, {0, 0}, {-1, -2});
      },
      m);
  CHECK_GRADIENTS(
      [](const Inputs& x) {
        return tapegrad::pad(x[0] * x[0], {{0, 1}, {2, 0}, {1, 1}});
      },
      m);
  CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::concat({x[0], x[0] * x[0]}, 1); }, m);
  CHECK_GRADIENTS(
      [](const Inputs& x) {
        const auto parts = tapegrad::split(x[0], {1, 3}, 2);
        return parts[0] * parts[1];
      },
      m);
  CHECK_GRADIENTS(
      [](const Inputs& x) {
        return tapegrad::gather(x[0] * x[0], Tensor<std::int32_t>({{2, 0}, {2, 2}}), 2);
      },
      m);
}
