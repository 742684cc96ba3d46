#include "test_util.hpp"

#include <cmath>
#include <cstdint>
#include <limits>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using Inputs = std::vector<Tensor<double>>;
using tapegrad_test::printed;
using tapegrad_test::sample;

TEST_CASE("comparisons give broadcast boolean masks", "[ops][compare]") {
  Tensor<double> m({{1.0, 5.0, 3.0}, {4.0, 2.0, 6.0}});
  Tensor<double> row({2.0, 5.0, 6.0});
  CHECK((m > 2.5).to_vector() == std::vector<bool>{false, true, true, true, false, true});
  CHECK((m <= row).to_vector() == std::vector<bool>{true, true, true, false, true, true});
  CHECK((3.0 < m).to_vector() == std::vector<bool>{false, true, false, true, false, true});
  CHECK(tapegrad::equal(m, row).to_vector() ==
        std::vector<bool>{false, true, false, false, false, true});
  CHECK(tapegrad::not_equal(m, 5.0).to_vector() ==
        std::vector<bool>{true, false, true, true, true, true});
  CHECK((m >= row).shape() == Shape{2, 3});
  // NaN compares false with everything, except not_equal.
  Tensor<double> nan(std::numeric_limits<double>::quiet_NaN());
  CHECK_FALSE(tapegrad::equal(nan, nan).item());
  CHECK(tapegrad::not_equal(nan, nan).item());
  CHECK_FALSE((nan < 1.0).item());
  // Integer tensors compare too (labels against predictions).
  Tensor<std::int32_t> labels({1, 0, 2});
  CHECK(tapegrad::equal(labels, Tensor<std::int32_t>({1, 1, 2})).to_vector() ==
        std::vector<bool>{true, false, true});
  CHECK_THROWS_WITH(m < Tensor<double>({1.0, 2.0}),
                    "less: incompatible shapes for broadcasting: [2,3] vs. [2]");
}

TEST_CASE("masks combine, print like NumPy and convert", "[ops][compare]") {
  Tensor<double> x({-1.0, 0.5, 2.0});
  const Tensor<bool> inside = (x > 0.0) & (x < 1.0);
  CHECK(inside.to_vector() == std::vector<bool>{false, true, false});
  CHECK((!inside).to_vector() == std::vector<bool>{true, false, true});
  CHECK(((x < 0.0) | (x > 1.0)).to_vector() == std::vector<bool>{true, false, true});
  CHECK(printed(inside) == "Tensor([False  True False], shape=(3,), dtype=bool)");
  CHECK(printed(tapegrad::any(inside)) == "Tensor(True, shape=(), dtype=bool)");
  CHECK_FALSE(tapegrad::all(inside).item());
  CHECK(tapegrad::all(Tensor<bool>(Shape{0}, false)).item());
  CHECK_FALSE(tapegrad::any(Tensor<bool>(Shape{0}, true)).item());
  CHECK(tapegrad::cast<float>(inside).to_vector() == std::vector<float>{0, 1, 0});
  CHECK(tapegrad::cast<bool>(x).to_vector() == std::vector<bool>{true, true, true});
  CHECK(tapegrad::cast<std::int32_t>(Tensor<double>({-1.7, 2.9})).to_vector() ==
        std::vector<std::int32_t>{-1, 2});
  Tensor<double> special({1.0, std::nan(""), std::numeric_limits<double>::infinity()});
  CHECK(tapegrad::is_nan(special).to_vector() == std::vector<bool>{false, true, false});
  CHECK(tapegrad::is_finite(special).to_vector() == std::vector<bool>{true, false, false});
}

TEST_CASE("cast between float and double keeps the gradient; to integers it stops",
          "[ops][compare]") {
  Tensor<float> x({0.5f, 2.0f});
  GradientTape tape(tapegrad::persistent);
  tape.watch(x);
  const Tensor<double> y = tapegrad::cast<double>(x);
  const Tensor<float> g = tape.gradient(tapegrad::sum(y * y), x);
  CHECK(g.to_vector() == std::vector<float>{1.0f, 4.0f});
  const Tensor<std::int32_t> i = tapegrad::cast<std::int32_t>(x);
  CHECK(i.to_vector() == std::vector<std::int32_t>{0, 2});
  // Same type: a new tensor on the same elements (NOTE [ Ops that leave their input unchanged ]).
  const Tensor<float> same = tapegrad::cast<float>(x);
  CHECK(same.impl().get() != x.impl().get());
  CHECK(same.data() == x.data());
  CHECK(tape.gradient(same * 3.0f, x).to_vector() == std::vector<float>{3.0f, 3.0f});
  CHECK_GRADIENTS(
      [](const Inputs& v) {
        return tapegrad::cast<double>(tapegrad::cast<float>(v[0]) * tapegrad::cast<float>(v[0]));
      },
      Inputs{sample({3}, -1, 1)}, tapegrad::testing::GradcheckOptions{1e-3, 1e-4, 1e-3});
}

TEST_CASE("where selects with broadcasting and routes the gradient to the branch taken",
          "[ops][compare][gradcheck]") {
  Tensor<double> x({-1.0, 0.5, 2.0});
  CHECK(tapegrad::where(x > 0.0, x, -x).to_vector() == std::vector<double>{1.0, 0.5, 2.0});
  CHECK(tapegrad::where(Tensor<bool>({true, false}), 1.0, Tensor<double>({{3.0}, {4.0}}))
            .to_vector() == std::vector<double>{1, 3, 1, 4});
  CHECK_THROWS_WITH(tapegrad::where(x > 0.0, x, Tensor<double>({1.0, 2.0})),
                    "where: incompatible shapes for broadcasting: [3] vs. [2]");
  for (const Shape& s : {Shape{}, Shape{4}, Shape{2, 3}, Shape{1, 3}}) {
    INFO("shape " << s.str());
    const Inputs xs{sample(s, -2, 2, 1), sample({3}, -2, 2, 5)};
    if (s.rank() == 0 || s[s.rank() - 1] == 3)
      CHECK_GRADIENTS(
          [](const Inputs& v) { return tapegrad::where(v[0] > 0.0, v[0] * v[1], v[1] * 2.0); }, xs);
    CHECK_GRADIENTS(
        [](const Inputs& v) { return tapegrad::where(v[0] < 0.5, tapegrad::sin(v[0]), 1.0); },
        Inputs{xs[0]});
  }
}

TEST_CASE("where(x > 0, sqrt(x), 0) has gradient 0, never NaN, for x <= 0", "[ops][kinks]") {
  Tensor<double> x({-4.0, 0.0, 4.0});
  GradientTape tape;
  tape.watch(x);
  const auto y = tapegrad::where(x > 0.0, tapegrad::sqrt(x), 0.0);
  CHECK(tape.gradient(y, x).to_vector() == std::vector<double>{0.0, 0.0, 0.25});
}

TEST_CASE("rsqrt and reciprocal: values, gradients and the zero-upstream convention",
          "[ops][kinks][gradcheck]") {
  const double inf = std::numeric_limits<double>::infinity();
  Tensor<double> x({0.0, 4.0});
  CHECK(tapegrad::rsqrt(x).to_vector() == std::vector<double>{inf, 0.5});
  CHECK(tapegrad::reciprocal(x).to_vector() == std::vector<double>{inf, 0.25});
  {
    GradientTape tape(tapegrad::persistent);
    tape.watch(x);
    const Tensor<double> mask({0.0, 1.0});
    // At 0 the derivative is infinite, but a zero incoming gradient gives 0, not NaN.
    CHECK(tape.gradient(tapegrad::rsqrt(x) * mask, x).to_vector() ==
          std::vector<double>{0.0, -0.0625});
    CHECK(tape.gradient(tapegrad::reciprocal(x) * mask, x).to_vector() ==
          std::vector<double>{0.0, -0.0625});
    CHECK(tape.gradient(tapegrad::reciprocal(x), x).to_vector()[0] == -inf);
  }
  for (const Shape& s : {Shape{}, Shape{1}, Shape{2, 3}}) {
    const Inputs xs{sample(s, 0.3, 2.5, 2)};
    CHECK_GRADIENTS([](const Inputs& v) { return tapegrad::rsqrt(v[0]); }, xs);
    CHECK_GRADIENTS([](const Inputs& v) { return tapegrad::reciprocal(v[0]); }, xs);
  }
}
