#include "test_util.hpp"

#include <cmath>
#include <vector>

using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using Inputs = std::vector<Tensor<double>>;
using tapegrad_test::sample;

namespace {
// Broadcast pairs in both directions, size-1 dimensions and 0-d tensors.
const std::vector<std::pair<Shape, Shape>> shape_pairs = {
    {{}, {}},      {{3}, {3}},          {{2, 3}, {2, 3}}, {{2, 3}, {3}},
    {{3}, {2, 3}}, {{2, 1}, {1, 3}},    {{1}, {2, 2}},    {{}, {2, 3}},
    {{2, 3}, {}},  {{4, 1, 3}, {2, 1}}, {{1, 1}, {1}},    {{2, 1, 2}, {2, 2, 1}}};
}  // namespace

TEST_CASE("+ - * / gradients match finite differences on broadcast shapes", "[ops][gradcheck]") {
  for (const auto& [sa, sb] : shape_pairs) {
    INFO("shapes " << sa.str() << " and " << sb.str());
    const Inputs xs{sample(sa, -1.5, 1.5, 1), sample(sb, 0.5, 2.0, 2)};
    CHECK_GRADIENTS([](const Inputs& x) { return x[0] + x[1]; }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return x[0] - x[1]; }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return x[0] * x[1]; }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return x[0] / x[1]; }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return x[1] / (x[0] * x[0] + 1.0); }, xs);
  }
}

TEST_CASE("Tensor-scalar arithmetic gradients match finite differences", "[ops][gradcheck]") {
  for (const Shape& s : {Shape{}, Shape{1}, Shape{4}, Shape{2, 3}}) {
    INFO("shape " << s.str());
    const Inputs xs{sample(s, 0.5, 2.0)};
    CHECK_GRADIENTS([](const Inputs& x) { return x[0] + 2.5; }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return 2.5 + x[0]; }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return x[0] - 2.5; }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return 2.5 - x[0]; }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return x[0] * -1.5; }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return -1.5 * x[0]; }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return x[0] / 3.0; }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return 3.0 / x[0]; }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return -x[0]; }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::neg(x[0]); }, xs);
  }
}

TEMPLATE_TEST_CASE("Arithmetic values and broadcasting", "[ops]", float, double) {
  using T = TestType;
  Tensor<T> m({{T(1), T(2), T(3)}, {T(4), T(5), T(6)}});
  Tensor<T> row({T(10), T(20), T(30)});
  Tensor<T> col({{T(100)}, {T(200)}});
  CHECK((m + row).to_vector() == std::vector<T>{11, 22, 33, 14, 25, 36});
  CHECK((m * col).to_vector() == std::vector<T>{100, 200, 300, 800, 1000, 1200});
  CHECK((row - col).to_vector() == std::vector<T>{-90, -80, -70, -190, -180, -170});
  CHECK((m / T(2)).to_vector() == std::vector<T>{T(0.5), 1, T(1.5), 2, T(2.5), 3});
  CHECK((T(6) / Tensor<T>({T(2), T(3)})).to_vector() == std::vector<T>{3, 2});
  CHECK((T(1) - Tensor<T>({T(2)})).item() == T(-1));
  CHECK((Tensor<T>(T(2)) * m).shape() == Shape{2, 3});
}

TEMPLATE_TEST_CASE("Broadcast gradients are summed back to each input's shape", "[ops]", float,
                   double) {
  using T = TestType;
  Tensor<T> m({{T(1), T(2), T(3)}, {T(4), T(5), T(6)}});
  Tensor<T> row({T(1), T(1), T(1)});
  Tensor<T> col({{T(1)}, {T(2)}});
  tapegrad::GradientTape tape;
  tape.watch(row);
  tape.watch(col);
  auto y = m * row * col;
  auto g = tape.gradient(y, {row, col});
  CHECK(g[0].shape() == Shape{3});
  CHECK(g[0].to_vector() == std::vector<T>{9, 12, 15});  // sum_i m[i,j] col[i]
  CHECK(g[1].shape() == Shape{2, 1});
  CHECK(g[1].to_vector() == std::vector<T>{6, 15});  // sum_j m[i,j] row[j]
}

TEST_CASE("maximum, minimum, atan2, pow, squared_difference gradients on broadcast shapes",
          "[ops][gradcheck]") {
  for (const auto& [sa, sb] : shape_pairs) {
    INFO("shapes " << sa.str() << " and " << sb.str());
    const Inputs xs{sample(sa, -1.5, 1.5, 1), sample(sb, -1.4, 1.6, 2)};
    CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::maximum(x[0], x[1]); }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::minimum(x[0], x[1]); }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::atan2(x[0], x[1]); }, xs);
    CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::squared_difference(x[0], x[1]); }, xs);
    const Inputs positive{sample(sa, 0.5, 2.0, 1), sample(sb, -1.5, 1.5, 2)};
    CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::pow(x[0], x[1]); }, positive);
  }
  CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::pow(2.0, x[0]); }, Inputs{sample({3})});
  CHECK_GRADIENTS([](const Inputs& x) { return tapegrad::clip_by_value(x[0], -0.5, 0.7); },
                  Inputs{sample({2, 3})});
}

TEST_CASE("Kinks of maximum, minimum, clip_by_value and pow", "[ops][kinks]") {
  Tensor<double> a({1.0, 2.0, 3.0}), b({1.0, 5.0, 0.0});
  GradientTape tape(tapegrad::persistent);
  tape.watch(a);
  tape.watch(b);
  auto mx = tape.gradient(tapegrad::maximum(a, b), {a, b});
  CHECK(mx[0].to_vector() == std::vector<double>{1, 0, 1});  // the tie goes to a
  CHECK(mx[1].to_vector() == std::vector<double>{0, 1, 0});
  auto mn = tape.gradient(tapegrad::minimum(a, b), {a, b});
  CHECK(mn[0].to_vector() == std::vector<double>{1, 1, 0});
  CHECK(mn[1].to_vector() == std::vector<double>{0, 0, 1});
  // clip passes the gradient at the bounds.
  Tensor<double> x({-1.0, 0.0, 1.0, 2.0});
  tape.watch(x);
  CHECK(tape.gradient(tapegrad::clip_by_value(x, 0.0, 1.0), x).to_vector() ==
        std::vector<double>{0, 1, 1, 0});
  CHECK(tapegrad::clip_by_value(x, 0.0, 1.0).to_vector() == std::vector<double>{0, 0, 1, 1});
  CHECK_THROWS_AS(tapegrad::clip_by_value(x, 1.0, 0.0), tapegrad::value_error);
  // The exponent's gradient is 0 where the base is <= 0, never NaN.
  Tensor<double> base({-2.0, 0.0, 2.0}), exponent({2.0, 2.0, 2.0});
  tape.watch(base);
  tape.watch(exponent);
  auto pg = tape.gradient(tapegrad::pow(base, exponent), {base, exponent});
  CHECK(pg[0].to_vector() == std::vector<double>{-4.0, 0.0, 4.0});
  CHECK(pg[1].to_vector() == std::vector<double>{0.0, 0.0, 4.0 * std::log(2.0)});
}
