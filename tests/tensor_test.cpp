#include "test_util.hpp"

#include <Eigen/Core>
#include <cstdint>

using tapegrad::Shape;
using tapegrad::Tensor;

TEMPLATE_TEST_CASE("Tensor construction", "[tensor]", float, double) {
  using T = TestType;
  SECTION("from a scalar: rank 0") {
    Tensor<T> s(T(2.5));
    CHECK(s.rank() == 0);
    CHECK(s.size() == 1);
    CHECK(s.item() == T(2.5));
    CHECK(s.at() == T(2.5));
  }
  SECTION("from nested initializer lists") {
    Tensor<T> one({T(7)});  // a braced list is never a scalar
    CHECK(one.shape() == Shape{1});
    Tensor<T> column({{T(1)}, {T(2)}});
    CHECK(column.shape() == Shape{2, 1});
    Tensor<T> v({T(1), T(2), T(3)});
    CHECK(v.shape() == Shape{3});
    CHECK(v.at(2) == T(3));
    Tensor<T> m({{T(1), T(2), T(3)}, {T(4), T(5), T(6)}});
    CHECK(m.shape() == Shape{2, 3});
    CHECK(m.at(1, 0) == T(4));
    Tensor<T> c({{{T(1), T(2)}, {T(3), T(4)}}, {{T(5), T(6)}, {T(7), T(8)}}});
    CHECK(c.shape() == Shape{2, 2, 2});
    CHECK(c.at(1, 0, 1) == T(6));
  }
  SECTION("from shape and fill, and from values") {
    auto z = Tensor<T>::zeros({2, 3, 1, 1, 2, 1});
    CHECK(z.rank() == 6);
    CHECK(z.size() == 12);
    CHECK(z.array().abs().sum() == T(0));
    auto f = Tensor<T>::full({2}, T(7));
    CHECK(f.to_vector() == std::vector<T>{T(7), T(7)});
    Tensor<T> v(Shape{2, 2}, std::vector<T>{T(1), T(2), T(3), T(4)});
    CHECK(v.at(1, 1) == T(4));
    CHECK(Tensor<T>::ones({0, 3}).size() == 0);
  }
  SECTION("from an Eigen matrix, read back through Eigen views without copying") {
    Eigen::Matrix<T, 2, 3> m;
    m << 1, 2, 3, 4, 5, 6;
    Tensor<T> t(m);
    CHECK(t.shape() == Shape{2, 3});
    CHECK(t.at(1, 2) == T(6));
    CHECK(t.matrix() == m);
    CHECK(t.matrix().data() == t.data());
    CHECK(t.array().data() == t.data());
    CHECK(t.array().sum() == T(21));
  }
}

TEST_CASE("Tensor copies share storage and nothing mutates them", "[tensor]") {
  Tensor<float> a({1.f, 2.f});
  Tensor<float> b = a;
  CHECK(a.data() == b.data());
  auto c = a * 2.f;
  CHECK(a.to_vector() == std::vector<float>{1.f, 2.f});
  CHECK(c.to_vector() == std::vector<float>{2.f, 4.f});
}

TEST_CASE("Integer tensors exist as data", "[tensor]") {
  Tensor<std::int32_t> labels({3, 1, 4});
  CHECK(labels.dtype() == tapegrad::DType::int32);
  CHECK(labels.at(2) == 4);
  CHECK(Tensor<std::int64_t>(Shape{2}, 5).to_vector() == std::vector<std::int64_t>{5, 5});
}

TEST_CASE("Tensor misuse throws with a clear message", "[tensor][errors]") {
  Tensor<float> m({{1.f, 2.f}, {3.f, 4.f}});
  CHECK_THROWS_WITH(m.at(2, 0), "Tensor::at: index 2 is out of range for axis 0 of shape [2,2]");
  CHECK_THROWS_WITH(m.at(0), "Tensor::at: 1 indices for a tensor of shape [2,2]");
  CHECK_THROWS_WITH(m.item(), "Tensor::item: needs exactly one element, got shape [2,2]");
  CHECK_THROWS_AS(Tensor<float>({{1.f, 2.f}, {3.f}}), tapegrad::shape_error);
  CHECK_THROWS_WITH((Tensor<float>(Shape{2, 2}, std::vector<float>{1.f})),
                    "Tensor: 1 values do not fill shape [2,2] of 4 elements");
  Tensor<float> none;
  CHECK_FALSE(none.has_value());
  CHECK_THROWS_AS(none.shape(), tapegrad::value_error);
  CHECK_THROWS_WITH(tapegrad::sin(none), Catch::StartsWith("sin: an input has no value"));
  CHECK(Tensor<float>({1.f, 2.f, 3.f}).matrix().rows() == 3);  // a vector reads as a column
  CHECK(Tensor<float>({1.f, 2.f, 3.f}).matrix().cols() == 1);
  CHECK_THROWS_WITH(Tensor<float>::zeros({1, 2, 3}).matrix(),
                    "Tensor::matrix: needs rank <= 2, got shape [1,2,3]");
}

TEST_CASE("Reused blocks of every size class hold exactly their own values", "[tensor][memory]") {
  // Sizes straddle the small classes, the large classes (four per power of two) and the
  // limit beyond which blocks are not cached; blocks are freed and reused many times.
  const std::vector<std::int64_t> sizes = {1,    15,   16,   17,    100,   127,    128,     129,
                                           1000, 4096, 5000, 65536, 70000, 300000, 70000000};
  for (int round = 0; round < 3; ++round) {
    std::vector<Tensor<float>> live;
    for (std::int64_t n : sizes) {
      std::vector<float> v(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; i += 997) v[static_cast<std::size_t>(i)] = float(i + round);
      live.emplace_back(Shape{n}, v);
    }
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      const std::int64_t n = sizes[k];
      REQUIRE(live[k].size() == n);
      for (std::int64_t i = 0; i < n; i += 997) REQUIRE(live[k].data()[i] == float(i + round));
    }
  }
}

TEST_CASE("A header is one cache line; wide shapes and further tape marks live out of line",
          "[tensor][memory]") {
  CHECK(sizeof(tapegrad::detail::TensorImpl) == 64);
  CHECK(sizeof(tapegrad::detail::Entry) == 64);
  const std::int64_t big = std::int64_t{1} << 33;
  struct Case {
    Shape shape;
    bool wide;
  };
  // Compact: rank at most 4 and fewer than 2^32 elements, each dimension too.
  const std::vector<Case> cases = {{Shape{}, false},
                                   {Shape{3}, false},
                                   {Shape{2, 3, 4, 5}, false},
                                   {Shape{0, 70000, 70000}, false},
                                   {Shape{1, 2, 1, 3, 2}, true},
                                   {Shape{2, 1, 1, 1, 1, 1, 1, 3}, true},
                                   {Shape{0, big}, true}};
  for (const Case& c : cases) {
    INFO(c.shape);
    const Tensor<double> x = tapegrad_test::sample(c.shape);
    CHECK(x.impl()->wide == c.wide);
    CHECK(x.shape() == c.shape);
    CHECK(x.rank() == c.shape.rank());
    CHECK(x.size() == c.shape.size());
    const Tensor<double> like = tapegrad::sin(x);  // a new header shaped like x's
    CHECK(like.shape() == c.shape);
    CHECK(like.impl()->same_shape(*x.impl().get()));
    CHECK(tapegrad::reshape(x, std::vector<std::int64_t>(c.shape.begin(), c.shape.end())).shape() ==
          c.shape);
    // Three tapes mark each result: one mark in the header, the second and third out of line.
    tapegrad::GradientTape outer, middle, inner;
    outer.watch(x), middle.watch(x), inner.watch(x);
    const Tensor<double> y = tapegrad::sum(x * x);
    for (tapegrad::GradientTape* tape : {&inner, &middle, &outer}) {
      const Tensor<double> g = tape->gradient(y, x);
      REQUIRE(g.shape() == c.shape);
      CHECK(g.to_vector() == (x * 2.0).to_vector());
    }
  }
  // Broadcasting across a wide and a compact shape, and its gradient's sum back to each.
  const Tensor<double> a = tapegrad_test::sample({1, 2, 1, 3, 2}, -1.0, 1.0, 1);
  const Tensor<double> b = tapegrad_test::sample({2, 2, 1, 1}, -1.0, 1.0, 2);
  tapegrad::GradientTape tape(tapegrad::persistent);
  tape.watch(a), tape.watch(b);
  const Tensor<double> y = a * b;
  CHECK(y.shape() == Shape{1, 2, 2, 3, 2});
  CHECK(tape.gradient(y, a).shape() == a.shape());
  CHECK(tape.gradient(y, b).shape() == b.shape());
}
