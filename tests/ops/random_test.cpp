#include "test_util.hpp"

#include <tapegrad/ops/random.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

using tapegrad::Generator;
using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using Inputs = std::vector<Tensor<double>>;
using tapegrad_test::sample;

namespace {

struct Stats {
  double mean, stddev, min, max;
};

template <class T>
Stats stats(const Tensor<T>& t) {
  double total = 0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (T v : t.to_vector()) {
    total += double(v);
    lo = std::min(lo, double(v));
    hi = std::max(hi, double(v));
  }
  const double mean = total / double(t.size());
  double squares = 0;
  for (T v : t.to_vector()) squares += (double(v) - mean) * (double(v) - mean);
  return {mean, std::sqrt(squares / double(t.size() - 1)), lo, hi};
}

}  // namespace

// ---- Generator ----

TEST_CASE("Generator is std::mt19937_64, whose output the standard fixes", "[random]") {
  // The first output for the default seed 5489, and the 10000th ([rand.predef]).
  Generator gen(5489);
  CHECK(gen.bits() == 14514284786278117030ull);
  for (int i = 1; i < 9999; ++i) gen.bits();
  CHECK(gen.bits() == 9981545732273789042ull);

  // uniform() is the top 53 bits of one draw, scaled by 2^-53.
  Generator again(5489);
  CHECK(again.uniform() == double(14514284786278117030ull >> 11) / 9007199254740992.0);
  Generator third(5489);
  CHECK(tapegrad::random_uniform<double>({1}, 0.0, 1.0, third).item() ==
        double(14514284786278117030ull >> 11) / 9007199254740992.0);

  // Copies replay the same numbers.
  Generator a(7);
  a.bits();
  Generator b = a;
  for (int i = 0; i < 5; ++i) CHECK(a.bits() == b.bits());
}

// ---- dropout ----

TEMPLATE_TEST_CASE("dropout zeroes about `rate` of the elements and scales the rest exactly",
                   "[random][dropout]", float, double) {
  using T = TestType;
  const Tensor<T> x = Tensor<T>::ones({100000});
  for (double rate : {0.1, 0.3, 0.5, 0.9}) {
    INFO("rate " << rate);
    Generator gen(1);
    const auto y = tapegrad::dropout(x, rate, gen).to_vector();
    const T scale = static_cast<T>(1.0 / (1.0 - rate));
    std::size_t dropped = 0, wrong = 0;
    for (T v : y) {
      dropped += v == T(0);
      wrong += v != T(0) && v != scale;
    }
    CHECK(wrong == 0);
    // The fraction's standard deviation is sqrt(rate (1 - rate) / 1e5) <= 0.0016.
    CHECK(double(dropped) / 1e5 == Approx(rate).margin(0.006));
  }
  // rate 0.5 doubles, rate 0.25 multiplies by 4/3 rounded to T, as x * (1 / (1 - rate)).
  const Tensor<double> xd = sample({1000}, -3, 3);
  const Tensor<T> xs(xd.shape(), std::vector<T>(xd.data(), xd.data() + 1000));
  Generator gen(2);
  const auto half = tapegrad::dropout(xs, 0.5, gen);
  const auto quarter = tapegrad::dropout(xs, 0.25, gen);
  for (std::int64_t i = 0; i < 1000; ++i) {
    const T v = xs.data()[i];
    CHECK((half.data()[i] == T(0) || half.data()[i] == v * T(2)));
    CHECK((quarter.data()[i] == T(0) || quarter.data()[i] == v * static_cast<T>(4.0 / 3.0)));
  }
}

TEST_CASE("dropout: the gradient is mask / (1 - rate)", "[random][dropout][gradcheck]") {
  const Tensor<double> x = sample({4, 50}, 0.5, 2);  // no zeros, so y == 0 marks a drop
  for (const double rate : {0.2, 0.6}) {
    INFO("rate " << rate);
    for (bool recording : {false, true}) {
      INFO("outer tape recording: " << recording);
      std::optional<GradientTape> outer;
      if (recording) outer.emplace();  // makes the backward composed, not fused
      Generator gen(3);
      GradientTape tape;
      tape.watch(x);
      const Tensor<double> y = tapegrad::dropout(x, rate, gen);
      const Tensor<double> w = sample({4, 50}, 0.5, 1.5, 9);
      const auto g = tape.gradient(tapegrad::sum(y * w), x).to_vector();
      int kept = 0;
      for (std::size_t i = 0; i < g.size(); ++i) {
        const double mask = y.data()[i] == 0.0 ? 0.0 : 1.0;
        kept += int(mask);
        CHECK(g[i] == w.data()[i] * (mask * (1.0 / (1.0 - rate))));
      }
      CHECK(kept > 0);
      CHECK(kept < 200);
    }
  }
  for (const Shape& s : {Shape{}, Shape{1}, Shape{7}, Shape{3, 4}, Shape{2, 1, 3}}) {
    INFO("shape " << s.str());
    CHECK_GRADIENTS(
        [](const Inputs& in) {
          Generator gen(11);  // the same mask on every evaluation
          return tapegrad::dropout(in[0] * in[0], 0.4, gen);
        },
        Inputs{sample(s, -2, 2, 1)});
  }
  // Linear in x: the second derivative is 0.
  Tensor<double> v({1.0, -2.0, 3.0, 0.5});
  GradientTape outer;
  outer.watch(v);
  Tensor<double> g;
  {
    GradientTape inner;
    inner.watch(v);
    Generator gen(5);
    g = inner.gradient(tapegrad::dropout(v, 0.5, gen), v);
  }
  const Tensor<double> h = outer.gradient(g, v);
  if (h.has_value())
    for (double e : h.to_vector()) CHECK(e == 0.0);
}

TEST_CASE("dropout: reproducible masks, inference mode, rate checks", "[random][dropout]") {
  const Tensor<float> x = Tensor<float>::ones({1000});
  Generator a(42), b(42), c(43);
  const auto ya = tapegrad::dropout(x, 0.5, a).to_vector();
  CHECK(tapegrad::dropout(x, 0.5, b).to_vector() == ya);
  CHECK(tapegrad::dropout(x, 0.5, c).to_vector() != ya);
  // The generator advanced: the next mask differs from the first.
  CHECK(tapegrad::dropout(x, 0.5, a).to_vector() != ya);

  // training = false returns x and draws nothing.
  Generator d(42), fresh(42);
  const auto same = tapegrad::dropout(x, 0.5, d, false);
  CHECK(same.to_vector() == x.to_vector());
  CHECK(d.bits() == fresh.bits());

  // rate 0 keeps everything unscaled; a Variable goes in like a Tensor.
  tapegrad::Variable<double> v({1.0, 2.0, 3.0});
  Generator e(1);
  CHECK(tapegrad::dropout(v, 0.0, e).to_vector() == std::vector<double>{1.0, 2.0, 3.0});

  // A dropped inf gives 0, not 0 * inf = NaN (TensorFlow selects).
  const float inf = std::numeric_limits<float>::infinity();
  Generator f(8);
  int zeros = 0;
  for (float y : tapegrad::dropout(Tensor<float>(Shape{100}, inf), 0.5, f).to_vector()) {
    CHECK((y == 0.f || y == inf));
    zeros += y == 0.f;
  }
  CHECK(zeros > 0);

  Generator g(1);
  CHECK_THROWS_AS(tapegrad::dropout(x, 1.0, g), tapegrad::value_error);
  CHECK_THROWS_WITH(tapegrad::dropout(x, -0.1, g),
                    "dropout: rate must be in the range [0, 1), got -0.100000");
  CHECK_THROWS_AS(tapegrad::dropout(x, std::nan(""), g), tapegrad::value_error);
  CHECK_THROWS_AS(tapegrad::dropout(x, 1.5, g, false), tapegrad::value_error);
}

// ---- initialisers ----

TEMPLATE_TEST_CASE("random_uniform, random_normal, truncated_normal: reproducible, statistics",
                   "[random][init]", float, double) {
  using T = TestType;
  const Shape big{400, 500};
  {
    Generator a(3), b(3), c(4);
    const auto u = tapegrad::random_uniform<T>(big, -1.0, 3.0, a);
    CHECK(u.shape() == big);
    CHECK(tapegrad::random_uniform<T>(big, -1.0, 3.0, b).to_vector() == u.to_vector());
    CHECK(tapegrad::random_uniform<T>(big, -1.0, 3.0, c).to_vector() != u.to_vector());
    // Uniform on [-1, 3): mean 1, stddev 4 / sqrt(12); the mean's stddev is about 0.0026.
    const Stats s = stats(u);
    CHECK(s.mean == Approx(1.0).margin(0.01));
    CHECK(s.stddev == Approx(4 / std::sqrt(12.0)).epsilon(0.005));
    CHECK(s.min >= -1.0);
    CHECK(s.max < 3.0);
    CHECK(s.min < -0.999);
    CHECK(s.max > 2.999);
  }
  {
    // A range narrower than T's spacing: lo + (hi - lo) u rounds up to hi half the time,
    // and must still stay below it.
    const T lo = 1, hi = std::nextafter(T(1), T(2));
    Generator gen(5);
    const auto u = tapegrad::random_uniform<T>({1000}, lo, hi, gen).to_vector();
    CHECK(std::count(u.begin(), u.end(), lo) == 1000);
  }
  {
    Generator a(3), b(3), c(4);
    const auto n = tapegrad::random_normal<T>(big, 2.0, 3.0, a);
    CHECK(tapegrad::random_normal<T>(big, 2.0, 3.0, b).to_vector() == n.to_vector());
    CHECK(tapegrad::random_normal<T>(big, 2.0, 3.0, c).to_vector() != n.to_vector());
    const Stats s = stats(n);
    CHECK(s.mean == Approx(2.0).margin(0.03));  // the mean's stddev is 0.0067
    CHECK(s.stddev == Approx(3.0).epsilon(0.01));
    // About 68.27% within one stddev, and the tails reach beyond 4 stddev in 2e5 draws.
    int within = 0;
    for (T v : n.to_vector()) within += std::abs(double(v) - 2.0) <= 3.0;
    CHECK(within / 2e5 == Approx(0.682689).margin(0.005));
    CHECK(s.max > 2.0 + 4 * 3.0);
    CHECK(s.min < 2.0 - 4 * 3.0);
  }
  {
    Generator a(3), b(3);
    const auto t = tapegrad::truncated_normal<T>(big, -1.0, 0.5, a);
    CHECK(tapegrad::truncated_normal<T>(big, -1.0, 0.5, b).to_vector() == t.to_vector());
    const Stats s = stats(t);
    // Never beyond 2 stddev; the stddev of a unit normal truncated to [-2, 2] is 0.8796.
    CHECK(s.min >= T(-1.0 - 2 * 0.5));
    CHECK(s.max <= T(-1.0 + 2 * 0.5));
    CHECK(s.min < -1.99);
    CHECK(s.max > -0.01);
    CHECK(s.mean == Approx(-1.0).margin(0.005));
    CHECK(s.stddev == Approx(0.5 * 0.87962566103423978).epsilon(0.01));
  }
  Generator gen(1);
  CHECK(tapegrad::random_uniform<T>({0, 3}, 0.0, 1.0, gen).shape() == Shape{0, 3});
  CHECK(tapegrad::random_normal<T>({}, 0.0, 1.0, gen).shape() == Shape{});
  CHECK(tapegrad::random_normal<T>({4}, 1.5, 0.0, gen).to_vector() == std::vector<T>(4, T(1.5)));
}

TEST_CASE("Initialiser arguments are checked", "[random][init][errors]") {
  Generator gen(1);
  CHECK_THROWS_AS(tapegrad::random_uniform<double>({2}, 1.0, 1.0, gen), tapegrad::value_error);
  CHECK_THROWS_WITH(tapegrad::random_uniform<double>({2}, 2.0, 1.0, gen),
                    "random_uniform: needs bounds with lo < hi whose difference is finite in "
                    "float64, got lo = 2.000000, hi = 1.000000");
  CHECK_THROWS_AS(tapegrad::random_uniform<double>({2}, -1e308, 1e308, gen), tapegrad::value_error);
  CHECK_THROWS_WITH(tapegrad::random_normal<float>({2}, 0.0, -1.0, gen),
                    "random_normal: stddev must be non-negative, got -1.000000");
  CHECK_THROWS_WITH(tapegrad::truncated_normal<float>({2}, std::nan(""), 1.0, gen),
                    "truncated_normal: mean must be finite, got nan");
  CHECK_THROWS_AS(
      tapegrad::truncated_normal<float>({2}, 0.0, std::numeric_limits<double>::infinity(), gen),
      tapegrad::value_error);
}

TEST_CASE("Glorot and He initialisers use Keras's fans and limits", "[random][init]") {
  // The default element type is float.
  Generator g0(1);
  static_assert(std::is_same_v<decltype(tapegrad::glorot_uniform({2, 2}, g0)), Tensor<float>>);

  // Each is a uniform or truncated normal with a hand-computed bound, from the same numbers.
  struct Case {
    Shape shape;
    double fan_in, fan_out;
  };
  for (const Case& c : {Case{{3, 5}, 3, 5}, Case{{3, 3, 4, 8}, 36, 72}, Case{{2, 5, 6}, 10, 12},
                        Case{{7}, 7, 7}, Case{{}, 1, 1}}) {
    INFO("shape " << c.shape.str());
    const double glorot_limit = std::sqrt(6 / (c.fan_in + c.fan_out));
    const double he_limit = std::sqrt(6 / c.fan_in);
    const double glorot_std = std::sqrt(2 / (c.fan_in + c.fan_out)) / 0.87962566103423978;
    const double he_std = std::sqrt(2 / c.fan_in) / 0.87962566103423978;
    auto same = [](const Tensor<double>& got, const Tensor<double>& want) {
      REQUIRE(got.shape() == want.shape());
      for (std::int64_t i = 0; i < got.size(); ++i)
        CHECK(got.data()[i] == Approx(want.data()[i]).epsilon(1e-14));
    };
    Generator a(9), b(9);
    same(tapegrad::glorot_uniform<double>(c.shape, a),
         tapegrad::random_uniform<double>(c.shape, -glorot_limit, glorot_limit, b));
    same(tapegrad::he_uniform<double>(c.shape, a),
         tapegrad::random_uniform<double>(c.shape, -he_limit, he_limit, b));
    same(tapegrad::glorot_normal<double>(c.shape, a),
         tapegrad::truncated_normal<double>(c.shape, 0.0, glorot_std, b));
    same(tapegrad::he_normal<double>(c.shape, a),
         tapegrad::truncated_normal<double>(c.shape, 0.0, he_std, b));
  }

  // On a large kernel: bounds respected and reached; the normals have the target stddev
  // sqrt(2 / fan_in) or sqrt(2 / (fan_in + fan_out)) after the truncation correction.
  const Shape kernel{500, 300};
  Generator gen(21);
  const Stats gu = stats(tapegrad::glorot_uniform<float>(kernel, gen));
  const double gl = std::sqrt(6.0 / 800);
  CHECK(gu.max < gl);
  CHECK(gu.min >= -gl);
  CHECK(gu.max > 0.999 * gl);
  CHECK(gu.stddev == Approx(gl / std::sqrt(3.0)).epsilon(0.01));
  const Stats hu = stats(tapegrad::he_uniform<float>(kernel, gen));
  CHECK(hu.max < std::sqrt(6.0 / 500));
  CHECK(hu.stddev == Approx(std::sqrt(2.0 / 500)).epsilon(0.01));
  const Stats gn = stats(tapegrad::glorot_normal<double>(kernel, gen));
  CHECK(gn.stddev == Approx(std::sqrt(2.0 / 800)).epsilon(0.01));
  CHECK(gn.max <= 2 * std::sqrt(2.0 / 800) / 0.87962566103423978);
  CHECK(gn.mean == Approx(0.0).margin(0.001));
  const Stats hn = stats(tapegrad::he_normal<double>(kernel, gen));
  CHECK(hn.stddev == Approx(std::sqrt(2.0 / 500)).epsilon(0.01));
  CHECK(-hn.min <= 2 * std::sqrt(2.0 / 500) / 0.87962566103423978);
}
