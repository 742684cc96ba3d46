// What a new user reaches for in the first hour: the traps that used to give wrong results
// silently (Eigen vectors, views of temporaries, braced lists), the helpers TensorFlow and
// NumPy users expect, and printing. Compile-time misuses are in tests/compile_fail.
#include "test_util.hpp"

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace tg = tapegrad;
using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using tapegrad::Variable;

namespace {
template <class X>
std::string printed(const X& x, int precision = -1) {
  std::ostringstream os;
  if (precision >= 0) os << std::setprecision(precision);
  os << x;
  return os.str();
}
}  // namespace

// ---- silent traps ----

TEST_CASE("An Eigen column vector becomes a 1-D tensor, decided by its type",
          "[first_hour][tensor]") {
  Eigen::VectorXf dynamic(3);
  dynamic << 1, 2, 3;
  CHECK(Tensor<float>(dynamic).shape() == Shape{3});
  CHECK(Tensor<double>(Eigen::Vector2d(1, 2)).shape() == Shape{2});
  CHECK(Tensor<float>(Eigen::ArrayXf::Ones(4)).shape() == Shape{4});
  // Anything that is not a column vector by type keeps its two dimensions.
  Eigen::MatrixXf one_column(3, 1);
  one_column << 1, 2, 3;
  CHECK(Tensor<float>(one_column).shape() == Shape{3, 1});
  Eigen::RowVectorXf row(3);
  row << 1, 2, 3;
  CHECK(Tensor<float>(row).shape() == Shape{1, 3});
  // The trap itself: mse of a prediction built from a VectorXf against a 1-D target was
  // broadcast to [3, 3] and gave 2.33 instead of 0.33.
  const Tensor<float> prediction(dynamic);
  const Tensor<float> target({1.f, 2.f, 4.f});
  CHECK(tg::mse(prediction, target).item() == Approx(1.0 / 3.0));
  // matrix() reads a 1-D tensor back as the column it came from.
  const Eigen::MatrixXf back = prediction.matrix();
  CHECK(back.rows() == 3);
  CHECK(back.cols() == 1);
  CHECK(back == dynamic);
  CHECK(Tensor<float>(row).matrix() == row);
}

TEST_CASE("array() and matrix() of a temporary own their elements", "[first_hour][tensor]") {
  const Tensor<double> x({0.0, 1.0, 2.0});
  // Under AddressSanitizer this was a heap-use-after-free: the view outlived the temporary.
  auto a = tg::exp(x).array();
  static_assert(std::is_same_v<decltype(a), Eigen::Array<double, Eigen::Dynamic, 1>>);
  auto m = tg::exp(x).matrix();
  static_assert(
      std::is_same_v<decltype(m),
                     Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>);
  const Tensor<double> y = tg::exp(x);  // something else now owns the blocks freed above
  CHECK(a(2) == std::exp(2.0));
  CHECK(m(2, 0) == std::exp(2.0));
  CHECK(tg::exp(x).array().sum() == Approx(1.0 + std::exp(1.0) + std::exp(2.0)));
  // On a named tensor they stay views, without a copy.
  static_assert(std::is_same_v<decltype(y.array()), tg::FlatMap<double>>);
  CHECK(y.array().data() == y.data());
  CHECK(y.matrix().data() == y.data());
}

TEST_CASE("A mistyped nested list is never taken for a shape and a fill", "[first_hour][tensor]") {
  // {{1, 2}, 3} used to become a [1,2] tensor of threes, {{{1, 2}}, {3, 4}} a [1,2] tensor
  // holding 3 and 4: both now fail to compile (tests/compile_fail/braced_shape_fill.cpp).
  static_assert(!std::is_convertible_v<std::pair<Shape, float>, Tensor<float>>);
  // What they were meant to be is still spelled the same, and a ragged list is a shape_error.
  CHECK(Tensor<float>({{1.f, 2.f}, {3.f, 4.f}}).shape() == Shape{2, 2});
  CHECK_THROWS_AS(Tensor<float>({{1.f, 2.f}, {3.f}}), tg::shape_error);
  CHECK(Tensor<float>(Shape{1, 2}, 3.f).to_vector() == std::vector<float>{3.f, 3.f});
}

TEST_CASE("Tensor::at out of range throws index_error, a std::out_of_range",
          "[first_hour][tensor][errors]") {
  const Tensor<float> m({{1.f, 2.f}, {3.f, 4.f}});
  CHECK_THROWS_AS(m.at(2, 0), tg::index_error);
  CHECK_THROWS_AS(m.at(0, -1), std::out_of_range);
  CHECK_THROWS_WITH(
      m.at(0, 5),
      Catch::Matchers::StartsWith("Tensor::at: index 5 is out of range for axis 1 of shape [2,2]"));
  CHECK_THROWS_AS(m.at(0), tg::value_error);  // a wrong number of indices is not a range error
}

// ---- helpers ----

TEST_CASE("zeros, ones, full, zeros_like, ones_like", "[first_hour][creation]") {
  CHECK(tg::zeros({2, 3}).shape() == Shape{2, 3});
  static_assert(std::is_same_v<decltype(tg::zeros({2})), Tensor<float>>);
  CHECK(tg::zeros<double>({2}).to_vector() == std::vector<double>{0.0, 0.0});
  CHECK(tg::ones({3}).to_vector() == std::vector<float>{1.f, 1.f, 1.f});
  CHECK(tg::full({2}, 2.5).to_vector() == std::vector<double>{2.5, 2.5});
  CHECK(tg::full(Shape{}, std::int64_t{7}).item() == 7);
  const Variable<double> w({1.0, 2.0, 3.0});
  GradientTape tape;
  const Tensor<double> z = tg::zeros_like(w);
  CHECK(z.to_vector() == std::vector<double>{0.0, 0.0, 0.0});
  CHECK(tg::ones_like(Tensor<float>({{1.f, 2.f}})).shape() == Shape{1, 2});
  CHECK(tape.watched_variables<double>().empty());  // zeros_like does not read the variable
  CHECK_FALSE(tape.gradient(z, w).has_value());
}

TEST_CASE("eye, range (arange) and linspace", "[first_hour][creation]") {
  CHECK(tg::eye(2).to_vector() == std::vector<float>{1.f, 0.f, 0.f, 1.f});
  CHECK(tg::eye<double>(2, 3).to_vector() == std::vector<double>{1, 0, 0, 0, 1, 0});
  CHECK(tg::eye(0).shape() == Shape{0, 0});
  CHECK_THROWS_AS(tg::eye(-1), tg::value_error);

  const Tensor<std::int32_t> r = tg::range(5);
  CHECK(r.to_vector() == std::vector<std::int32_t>{0, 1, 2, 3, 4});
  CHECK(tg::range(2, 11, 3).to_vector() == std::vector<std::int32_t>{2, 5, 8});
  CHECK(tg::range(5, 0, -2).to_vector() == std::vector<std::int32_t>{5, 3, 1});
  CHECK(tg::range(3, 3).size() == 0);
  // TensorFlow's count, ceil(|limit - start| / |delta|): 0, 0.1, ..., 0.9 (ten elements).
  CHECK(tg::range(0.0, 1.0, 0.1).size() == 10);
  CHECK(tg::arange(0.0, 1.0, 0.25).to_vector() == std::vector<double>{0.0, 0.25, 0.5, 0.75});
  CHECK(tg::arange(std::int64_t{3}).to_vector() == std::vector<std::int64_t>{0, 1, 2});
  CHECK_THROWS_WITH(tg::range(0, 5, 0), Catch::Matchers::StartsWith("range: delta must not be 0"));
  CHECK_THROWS_AS(tg::range(5, 0, 1), tg::value_error);
  CHECK_THROWS_AS(tg::range(0.0, std::numeric_limits<double>::infinity()), tg::value_error);

  CHECK(tg::linspace(0.0, 1.0, 5).to_vector() == std::vector<float>{0.f, 0.25f, 0.5f, 0.75f, 1.f});
  const Tensor<double> l = tg::linspace<double>(-1.0, 0.3, 7);
  CHECK(l.at(6) == 0.3);  // the last element is exactly stop
  CHECK(l.at(0) == -1.0);
  CHECK(tg::linspace(2.0, 3.0, 1).to_vector() == std::vector<float>{2.f});
  CHECK_THROWS_AS(tg::linspace(0.0, 1.0, 0), tg::value_error);
}

TEST_CASE("Variable(Shape, fill), a 1-D Tensor from a std::vector, member cast",
          "[first_hour][creation]") {
  const Variable<float> b(Shape{2, 3}, 0.5f, "b");
  CHECK(b.shape() == Shape{2, 3});
  CHECK(b.name() == "b");
  CHECK(b.snapshot().to_vector() == std::vector<float>(6, 0.5f));
  const Tensor<double> v(std::vector<double>{1.0, 2.0, 4.0});
  CHECK(v.shape() == Shape{3});
  CHECK(v.at(2) == 4.0);
  CHECK(Tensor<float>(std::vector<float>{}).shape() == Shape{0});
  // x.cast<U>() is tapegrad::cast<U>(x), gradient included.
  const Tensor<float> x({1.5f, -2.f});
  GradientTape tape;
  tape.watch(x);
  const Tensor<double> y = x.cast<double>() * 2.0;
  CHECK(y.dtype() == tg::DType::float64);
  CHECK(tape.gradient(y, x).to_vector() == std::vector<float>{2.f, 2.f});
  CHECK(Tensor<double>({2.7, -0.2}).cast<std::int32_t>().to_vector() ==
        std::vector<std::int32_t>{2, 0});
}

TEST_CASE("Random tensors with TensorFlow's defaults and a default-seeded generator",
          "[first_hour][random]") {
  // random_uniform defaults to [0, 1), random_normal to mean 0 and stddev 1; without a
  // generator they draw from this thread's default one, which starts from
  // Generator::default_seed, so set_seed(Generator::default_seed) replays them.
  tg::set_seed(tg::Generator::default_seed);
  const Tensor<float> u = tg::random_uniform({1000});
  const Tensor<double> z = tg::random_normal<double>({20000});
  CHECK(u.array().minCoeff() >= 0.f);
  CHECK(u.array().maxCoeff() < 1.f);
  CHECK(u.array().mean() == Approx(0.5).margin(0.05));
  CHECK(z.array().mean() == Approx(0.0).margin(0.05));
  CHECK(std::sqrt((z.array() - z.array().mean()).square().mean()) == Approx(1.0).epsilon(0.05));
  tg::set_seed(tg::Generator::default_seed);
  CHECK(tg::random_uniform({1000}).to_vector() == u.to_vector());
  // Generator() is seeded with the same default, so it draws the same numbers.
  tg::Generator gen;
  CHECK(tg::random_uniform({1000}, gen).to_vector() == u.to_vector());
  tg::Generator seeded(7), again(7);
  CHECK(tg::random_normal({5}, seeded).to_vector() ==
        tg::random_normal<float>({5}, 0.0, 1.0, again).to_vector());
}

TEST_CASE("allclose as numpy.allclose", "[first_hour][compare]") {
  const Tensor<double> a({1.0, 2.0, 3.0});
  CHECK(tg::allclose(a, a));
  CHECK(tg::allclose(a, a + 1e-9));
  CHECK_FALSE(tg::allclose(a, a + 1e-3));
  CHECK(tg::allclose(a, a + 1e-3, 1e-3));                                    // rtol
  CHECK(tg::allclose(a, a + 1e-3, 0.0, 2e-3));                               // atol
  CHECK(tg::allclose(Tensor<double>({{1.0}, {1.0}}), Tensor<double>(1.0)));  // broadcasting
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(tg::allclose(Tensor<double>({inf, -inf}), Tensor<double>({inf, -inf})));
  CHECK_FALSE(tg::allclose(Tensor<double>({inf}), Tensor<double>({-inf})));
  CHECK_FALSE(tg::allclose(Tensor<double>({std::nan("")}), Tensor<double>({std::nan("")})));
  CHECK_THROWS_AS(tg::allclose(a, Tensor<double>({1.0, 2.0})), tg::shape_error);
  const Variable<double> w({1.0, 2.0, 3.0});
  GradientTape tape;
  CHECK(tg::allclose(w, a));
  CHECK(tape.watched_variables<double>().empty());  // a comparison does not read it for a tape
}

// ---- printing ----

TEST_CASE("Variables, shapes and element types print", "[first_hour][format]") {
  const Variable<float> w({1.f, 2.f}, "w");
  CHECK(printed(w) == "Variable('w', [1. 2.], shape=(2,), dtype=float32)");
  CHECK(printed(Variable<double>(Tensor<double>(0.5))) == "Variable(0.5, shape=(), dtype=float64)");
  CHECK(printed(Shape{2, 3}) == "[2,3]");
  CHECK(printed(Shape{}) == "[]");
  CHECK(printed(tg::DType::float64) == "float64");
  CHECK(printed(Tensor<std::int32_t>({1}).dtype()) == "int32");
  GradientTape tape;
  (void)printed(w);
  CHECK(tape.watched_variables<float>().empty());  // printing does not watch
}

TEST_CASE("Printing honours the stream's precision once set", "[first_hour][format]") {
  const Tensor<double> x({3.14159265358979, 2.0});
  CHECK(printed(x) == "Tensor([3.14159265 2.        ], shape=(2,), dtype=float64)");
  CHECK(printed(x, 3) == "Tensor([3.142 2.   ], shape=(2,), dtype=float64)");
  CHECK(printed(x, 0) == "Tensor([3. 2.], shape=(2,), dtype=float64)");
  CHECK(printed(Tensor<double>(3.14159265358979), 2) == "Tensor(3.14, shape=(), dtype=float64)");
  CHECK(printed(Tensor<double>(3.14159265358979)) ==
        "Tensor(3.14159265358979, shape=(), dtype=float64)");
  CHECK(printed(Variable<float>({0.123456f}), 2) == "Variable([0.12], shape=(1,), dtype=float32)");
  CHECK(tg::to_string(x, 1) == "[3.1 2. ]");
}
