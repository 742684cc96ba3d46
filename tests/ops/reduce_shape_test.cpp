#include "test_util.hpp"

#include <vector>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using Inputs = std::vector<Tensor<double>>;
using tapegrad_test::sample;

TEST_CASE("sum and mean: values", "[ops][reduce]") {
  Tensor<double> m({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  CHECK(tapegrad::sum(m).item() == 21.0);
  CHECK(tapegrad::sum(m).shape() == Shape{});
  CHECK(tapegrad::sum(m, 0).to_vector() == std::vector<double>{5, 7, 9});
  CHECK(tapegrad::sum(m, 0).shape() == Shape{3});
  CHECK(tapegrad::sum(m, 1, true).shape() == Shape{2, 1});
  CHECK(tapegrad::sum(m, -1).to_vector() == std::vector<double>{6, 15});
  CHECK(tapegrad::mean(m).item() == 3.5);
  CHECK(tapegrad::mean(m, 0).to_vector() == std::vector<double>{2.5, 3.5, 4.5});
  CHECK(tapegrad::mean(m, 1, true).to_vector() == std::vector<double>{2.0, 5.0});
  CHECK(tapegrad::sum(Tensor<double>(4.0)).item() == 4.0);
  CHECK(tapegrad::sum(Tensor<double>::zeros({0, 2})).item() == 0.0);
  CHECK(tapegrad::sum(Tensor<double>::zeros({0, 2}), 0).to_vector() == std::vector<double>{0, 0});
}

TEST_CASE("sum and mean gradients match finite differences", "[ops][reduce][gradcheck]") {
  for (const Shape& s :
       {Shape{}, Shape{1}, Shape{4}, Shape{2, 3}, Shape{1, 3, 2}, Shape{2, 1, 3}}) {
    INFO("shape " << s.str());
    const Inputs xs{sample(s)};
    CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::sum(x[0] * x[0]); }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::mean(x[0] * x[0]); }, xs);
    for (int axis = 0; axis < s.rank(); ++axis) {
      INFO("axis " << axis);
      for (bool keepdims : {false, true}) {
        CHECK_GRADIENTS([&](const Inputs& x) { return tapegrad::sum(x[0] * x[0], axis, keepdims); },
                        xs);
        CHECK_GRADIENTS(
            [&](const Inputs& x) { return tapegrad::mean(x[0] * x[0], axis, keepdims); }, xs);
      }
      CHECK_GRADIENTS([&](const Inputs& x) { return tapegrad::sum(x[0], axis - s.rank()); }, xs);
    }
  }
}

TEST_CASE("reshape, broadcast_to and sum_to: values", "[ops][shape]") {
  Tensor<double> v({1.0, 2.0, 3.0, 4.0, 5.0, 6.0});
  auto m = tapegrad::reshape(v, {2, -1});
  CHECK(m.shape() == Shape{2, 3});
  CHECK(m.data() == v.data());  // no copy
  CHECK(tapegrad::reshape(v, {-1}).shape() == Shape{6});
  CHECK(tapegrad::reshape(Tensor<double>({7.0}), {}).shape() == Shape{});
  auto b = tapegrad::broadcast_to(Tensor<double>({1.0, 2.0}), {3, 2});
  CHECK(b.to_vector() == std::vector<double>{1, 2, 1, 2, 1, 2});
  auto c = tapegrad::broadcast_to(Tensor<double>({{1.0}, {2.0}}), {2, 3});
  CHECK(c.to_vector() == std::vector<double>{1, 1, 1, 2, 2, 2});
  CHECK(tapegrad::sum_to(m, {1, 3}).to_vector() == std::vector<double>{5, 7, 9});
  CHECK(tapegrad::sum_to(m, {2, 1}).to_vector() == std::vector<double>{6, 15});
  CHECK(tapegrad::sum_to(m, {3}).to_vector() == std::vector<double>{5, 7, 9});
  CHECK(tapegrad::sum_to(m, {}).item() == 21.0);
}

TEST_CASE("reshape, broadcast_to and sum_to gradients match finite differences",
          "[ops][shape][gradcheck]") {
  const Inputs m{sample({2, 3})};
  CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::reshape(x[0] * x[0], {3, 2}); }, m);
  CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::reshape(x[0], {6}) * 2.0; }, m);
  CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::sum_to(x[0] * x[0], {1, 3}); }, m);
  CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::sum_to(x[0] * x[0], {2, 1}); }, m);
  CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::sum_to(x[0] * x[0], {}); }, m);
  CHECK_GRADIENTS(
      [](const Inputs& x) {
        return tapegrad::broadcast_to(x[0] * x[0], {4, 2, 3});
      },
      m);
  const Inputs col{sample({2, 1})};
  CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::broadcast_to(x[0], {2, 5}); }, col);
  const Inputs scalar{sample({})};
  CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::broadcast_to(x[0], {3}); }, scalar);
  CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::reshape(x[0], {1, 1}); }, scalar);
}

TEST_CASE("Second derivatives through broadcasting and reductions", "[ops][nested]") {
  // f(x) = sum((x * row)^2) over a [2,1] x [3] broadcast; d2f/dx_i^2 = 2 sum_j row_j^2.
  Tensor<double> x({{1.0}, {2.0}});
  Tensor<double> row({1.0, 2.0, 3.0});
  GradientTape outer;
  outer.watch(x);
  Tensor<double> g;
  {
    GradientTape inner;
    inner.watch(x);
    g = inner.gradient(tapegrad::sum(tapegrad::square(x * row)), x);
  }
  CHECK(g.to_vector() == std::vector<double>{28.0, 56.0});
  CHECK(outer.gradient(g, x).to_vector() == std::vector<double>{28.0, 28.0});
}
