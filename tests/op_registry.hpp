#pragma once

// One row per differentiable op: a double -> double function using it, and at least eight
// input samples (0-d, empty, size-1 dimensions, broadcasting both ways, small and large
// magnitudes, wherever the op takes them). tests/ops/registry_test.cpp runs every row
// through gradcheck and gradgradcheck and fails, listing them, for public ops without a row.

#include <tapegrad/tapegrad.hpp>
#include <tapegrad/testing/gradcheck.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

namespace tapegrad_test {

using tapegrad::Shape;
using tapegrad::Tensor;
using Inputs = std::vector<Tensor<double>>;

struct OpSample {
  std::string label;
  Inputs inputs;
};

struct OpRow {
  std::string op;       // the public function this row exercises
  std::string variant;  // which form of it
  std::function<Tensor<double>(const Inputs&)> f;
  std::vector<OpSample> samples;
  /// For elementwise ops: the same function on one double, to compare special values.
  std::function<double(double)> reference;
  tapegrad::testing::GradcheckOptions options{};
};

namespace registry_detail {

/// Deterministic values in [lo, hi] (golden-ratio steps, so no two coincide and none sits on
/// a kink such as 0 or an integer).
inline Tensor<double> values(const Shape& shape, double lo, double hi, unsigned salt) {
  std::vector<double> v(static_cast<std::size_t>(shape.size()));
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double u =
        std::fmod(0.6180339887498949 * static_cast<double>(i + 1 + 7 * salt) + 0.05, 1.0);
    v[i] = lo + (hi - lo) * (0.02 + 0.96 * u);
  }
  return Tensor<double>(shape, v);
}

struct Range {
  double lo, hi;
};
/// Where a function is smooth: ordinary values, values near 0 and large ones.
struct Domain {
  Range ordinary;
  Range small;
  Range large;
};

inline std::vector<OpSample> unary_samples(const Domain& d) {
  std::vector<OpSample> out;
  const Shape shapes[] = {Shape{}, Shape{0}, Shape{1}, Shape{5}, Shape{2, 3}, Shape{1, 4, 1}};
  unsigned salt = 1;
  for (const Shape& s : shapes)
    out.push_back({"shape " + s.str(), {values(s, d.ordinary.lo, d.ordinary.hi, salt++)}});
  out.push_back({"small magnitudes", {values({2, 2}, d.small.lo, d.small.hi, salt++)}});
  out.push_back({"large magnitudes", {values({3}, d.large.lo, d.large.hi, salt++)}});
  return out;
}

inline std::vector<OpSample> binary_samples(const Domain& a, const Domain& b) {
  const std::pair<Shape, Shape> shapes[] = {{Shape{}, Shape{}},      {Shape{0}, Shape{0}},
                                            {Shape{0, 2}, Shape{}},  {Shape{3}, Shape{}},
                                            {Shape{}, Shape{3}},     {Shape{2, 3}, Shape{3}},
                                            {Shape{3}, Shape{2, 3}}, {Shape{2, 1}, Shape{1, 3}},
                                            {Shape{1, 4}, Shape{4}}, {Shape{2, 3}, Shape{2, 3}}};
  std::vector<OpSample> out;
  unsigned salt = 1;
  for (const auto& [sa, sb] : shapes)
    out.push_back({sa.str() + " with " + sb.str(),
                   {values(sa, a.ordinary.lo, a.ordinary.hi, salt),
                    values(sb, b.ordinary.lo, b.ordinary.hi, salt + 3)}}),
        ++salt;
  out.push_back(
      {"small magnitudes",
       {values({3}, a.small.lo, a.small.hi, 20), values({3}, b.small.lo, b.small.hi, 21)}});
  out.push_back(
      {"large magnitudes",
       {values({3}, a.large.lo, a.large.hi, 22), values({3}, b.large.lo, b.large.hi, 23)}});
  return out;
}

/// Samples of rank >= min_rank for ops over axes, in [lo, hi] and scaled small and large.
inline std::vector<OpSample> tensor_samples(double lo, double hi, int min_rank = 0,
                                            double small = 1e-3, double large = 1e2) {
  const Shape shapes[] = {Shape{},     Shape{1},       Shape{5},    Shape{2, 3}, Shape{1, 4},
                          Shape{3, 1}, Shape{2, 1, 3}, Shape{0, 3}, Shape{3, 3}, Shape{2, 2, 2}};
  std::vector<OpSample> out;
  unsigned salt = 1;
  for (const Shape& s : shapes)
    if (s.rank() >= min_rank) out.push_back({"shape " + s.str(), {values(s, lo, hi, salt++)}});
  out.push_back({"small magnitudes", {values({2, 3}, lo * small, hi * small, 30)}});
  out.push_back({"large magnitudes", {values({2, 3}, lo * large, hi * large, 31)}});
  if (min_rank <= 1) out.push_back({"shape [4]", {values({4}, lo, hi, 32)}});
  return out;
}

inline std::vector<OpSample> pairs(const std::vector<std::pair<Shape, Shape>>& shapes, double lo,
                                   double hi) {
  std::vector<OpSample> out;
  unsigned salt = 1;
  for (const auto& [sa, sb] : shapes)
    out.push_back(
        {sa.str() + " with " + sb.str(), {values(sa, lo, hi, salt), values(sb, lo, hi, salt + 5)}}),
        ++salt;
  return out;
}

constexpr Domain everywhere{{-2, 2}, {-1e-3, 1e-3}, {-1e3, 1e3}};
constexpr Domain positive{{0.2, 3}, {1e-3, 2e-3}, {1e3, 1e5}};

}  // namespace registry_detail

inline std::vector<OpRow> op_registry() {
  using namespace registry_detail;
  namespace tg = tapegrad;
  std::vector<OpRow> rows;
  auto unary = [&](std::string op, std::function<Tensor<double>(const Tensor<double>&)> f,
                   std::function<double(double)> reference, Domain d) {
    rows.push_back({op, "", [f](const Inputs& x) { return f(x[0]); }, unary_samples(d), reference});
  };
  // ---- elementwise ----
  unary(
      "neg", [](const auto& x) { return tg::neg(x); }, [](double v) { return -v; }, everywhere);
  unary(
      "operator-", [](const auto& x) { return -x; }, [](double v) { return -v; }, everywhere);
  unary(
      "abs", [](const auto& x) { return tg::abs(x); }, [](double v) { return std::abs(v); },
      everywhere);
  unary(
      "sign", [](const auto& x) { return tg::sign(x); },
      [](double v) { return std::isnan(v) ? v
                            : v > 0       ? 1.0
                            : v < 0       ? -1.0
                                          : v; }, everywhere);
  unary(
      "square", [](const auto& x) { return tg::square(x); }, [](double v) { return v * v; },
      everywhere);
  unary(
      "sqrt", [](const auto& x) { return tg::sqrt(x); }, [](double v) { return std::sqrt(v); },
      positive);
  unary(
      "rsqrt", [](const auto& x) { return tg::rsqrt(x); },
      [](double v) { return 1 / std::sqrt(v); }, {{0.2, 3}, {1e-2, 2e-2}, {1e2, 1e4}});
  unary(
      "reciprocal", [](const auto& x) { return tg::reciprocal(x); }, [](double v) { return 1 / v; },
      {{0.3, 3}, {1e-2, 2e-2}, {-1e4, -1e2}});
  unary(
      "exp", [](const auto& x) { return tg::exp(x); }, [](double v) { return std::exp(v); },
      {{-2, 2}, {-1e-3, 1e-3}, {10, 20}});
  unary(
      "expm1", [](const auto& x) { return tg::expm1(x); }, [](double v) { return std::expm1(v); },
      {{-2, 2}, {-1e-3, 1e-3}, {10, 20}});
  unary(
      "log", [](const auto& x) { return tg::log(x); }, [](double v) { return std::log(v); },
      positive);
  unary(
      "log1p", [](const auto& x) { return tg::log1p(x); }, [](double v) { return std::log1p(v); },
      {{-0.5, 2}, {-1e-3, 1e-3}, {1e3, 1e5}});
  unary(
      "sin", [](const auto& x) { return tg::sin(x); }, [](double v) { return std::sin(v); },
      {{-3, 3}, {-1e-3, 1e-3}, {1e2, 1e3}});
  unary(
      "cos", [](const auto& x) { return tg::cos(x); }, [](double v) { return std::cos(v); },
      {{-3, 3}, {-1e-3, 1e-3}, {1e2, 1e3}});
  unary(
      "tan", [](const auto& x) { return tg::tan(x); }, [](double v) { return std::tan(v); },
      {{-1.2, 1.2}, {-1e-3, 1e-3}, {1.4, 1.5}});
  unary(
      "asin", [](const auto& x) { return tg::asin(x); }, [](double v) { return std::asin(v); },
      {{-0.9, 0.9}, {-1e-3, 1e-3}, {0.9, 0.99}});
  unary(
      "acos", [](const auto& x) { return tg::acos(x); }, [](double v) { return std::acos(v); },
      {{-0.9, 0.9}, {-1e-3, 1e-3}, {-0.99, -0.9}});
  unary(
      "atan", [](const auto& x) { return tg::atan(x); }, [](double v) { return std::atan(v); },
      {{-3, 3}, {-1e-3, 1e-3}, {1e2, 1e4}});
  unary(
      "sinh", [](const auto& x) { return tg::sinh(x); }, [](double v) { return std::sinh(v); },
      {{-2, 2}, {-1e-3, 1e-3}, {10, 20}});
  unary(
      "cosh", [](const auto& x) { return tg::cosh(x); }, [](double v) { return std::cosh(v); },
      {{-2, 2}, {-1e-3, 1e-3}, {10, 20}});
  unary(
      "tanh", [](const auto& x) { return tg::tanh(x); }, [](double v) { return std::tanh(v); },
      {{-2, 2}, {-1e-3, 1e-3}, {5, 10}});
  unary(
      "sigmoid", [](const auto& x) { return tg::sigmoid(x); },
      [](double v) { return 1 / (1 + std::exp(-v)); }, {{-3, 3}, {-1e-3, 1e-3}, {10, 30}});
  unary(
      "softplus", [](const auto& x) { return tg::softplus(x); },
      [](double v) { return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); },
      {{-3, 3}, {-1e-3, 1e-3}, {10, 30}});
  unary(
      "relu", [](const auto& x) { return tg::relu(x); },
      [](double v) { return std::isnan(v) ? v
                            : v > 0       ? v
                                          : 0.0; }, everywhere);
  unary(
      "leaky_relu", [](const auto& x) { return tg::leaky_relu(x); },
      [](double v) { return std::isnan(v) ? v
                            : v > 0       ? v
                                          : 0.2 * v; }, everywhere);
  unary(
      "elu", [](const auto& x) { return tg::elu(x); },
      [](double v) { return v > 0 ? v : std::expm1(v); }, {{-2, 2}, {-1e-3, 1e-3}, {-20, 20}});
  unary("selu", [](const auto& x) { return tg::selu(x); }, nullptr,
        {{-3, 3}, {-1e-3, 1e-3}, {-10, 10}});
  unary("gelu", [](const auto& x) { return tg::gelu(x); }, nullptr,
        {{-3, 3}, {-1e-3, 1e-3}, {-10, 10}});
  unary(
      "erf", [](const auto& x) { return tg::erf(x); }, [](double v) { return std::erf(v); },
      {{-2, 2}, {-1e-3, 1e-3}, {3, 5}});
  unary(
      "floor", [](const auto& x) { return tg::floor(x); }, [](double v) { return std::floor(v); },
      everywhere);
  unary(
      "ceil", [](const auto& x) { return tg::ceil(x); }, [](double v) { return std::ceil(v); },
      everywhere);
  unary(
      "round", [](const auto& x) { return tg::round(x); },
      [](double v) { return std::nearbyint(v); }, everywhere);
  unary(
      "pow", [](const auto& x) { return tg::pow(x, 2.5); },
      [](double v) { return std::pow(v, 2.5); }, positive);
  rows.back().variant = "tensor ^ scalar";
  unary(
      "operator+", [](const auto& x) { return x + 2.5; }, [](double v) { return v + 2.5; },
      everywhere);
  rows.back().variant = "tensor + scalar";
  unary(
      "operator-", [](const auto& x) { return 2.5 - x; }, [](double v) { return 2.5 - v; },
      everywhere);
  rows.back().variant = "scalar - tensor";
  unary(
      "operator*", [](const auto& x) { return 3.0 * x; }, [](double v) { return 3 * v; },
      everywhere);
  rows.back().variant = "scalar * tensor";
  unary(
      "operator/", [](const auto& x) { return 1.5 / x; }, [](double v) { return 1.5 / v; },
      positive);
  rows.back().variant = "scalar / tensor";
  unary(
      "operator/", [](const auto& x) { return x / 4.0; }, [](double v) { return v / 4; },
      everywhere);
  rows.back().variant = "tensor / scalar";
  unary(
      "clip_by_value", [](const auto& x) { return tg::clip_by_value(x, -0.5, 0.8); },
      [](double v) { return std::isnan(v) ? v : std::min(std::max(v, -0.5), 0.8); }, everywhere);
  unary(
      "identity", [](const auto& x) { return tg::identity(x * x); }, [](double v) { return v * v; },
      everywhere);
  unary("cast", [](const auto& x) { return tg::cast<double>(tg::square(tg::cast<float>(x))); },
        nullptr, {{-2, 2}, {-1e-1, 1e-1}, {10, 20}});
  rows.back().variant = "through float";
  rows.back().options = {1e-2, 1e-3, 1e-3};

  auto binary = [&](std::string op, std::string variant,
                    std::function<Tensor<double>(const Tensor<double>&, const Tensor<double>&)> f,
                    Domain a, Domain b) {
    rows.push_back({op, variant, [f](const Inputs& x) { return f(x[0], x[1]); },
                    binary_samples(a, b), nullptr});
  };
  binary(
      "operator+", "", [](const auto& a, const auto& b) { return a + b; }, everywhere, everywhere);
  binary(
      "operator-", "", [](const auto& a, const auto& b) { return a - b; }, everywhere, everywhere);
  binary(
      "operator*", "", [](const auto& a, const auto& b) { return a * b; }, everywhere, everywhere);
  binary("operator/", "", [](const auto& a, const auto& b) { return a / b; }, everywhere,
         {{0.5, 2}, {1e-2, 2e-2}, {1e2, 1e3}});
  binary(
      "add", "", [](const auto& a, const auto& b) { return tg::add(a, b); }, everywhere,
      everywhere);
  binary(
      "subtract", "", [](const auto& a, const auto& b) { return tg::subtract(a, b); }, everywhere,
      everywhere);
  binary(
      "multiply", "", [](const auto& a, const auto& b) { return tg::multiply(a, b); }, everywhere,
      everywhere);
  binary("divide", "", [](const auto& a, const auto& b) { return tg::divide(a, b); }, everywhere,
         {{0.5, 2}, {1e-2, 2e-2}, {1e2, 1e3}});
  binary("pow", "tensor ^ tensor", [](const auto& a, const auto& b) { return tg::pow(a, b); },
         {{0.5, 2}, {1e-2, 2e-2}, {10, 20}}, {{-2, 2}, {-1e-3, 1e-3}, {2, 4}});
  rows.push_back({"pow", "scalar ^ tensor", [](const Inputs& x) { return tg::pow(2.0, x[0]); },
                  unary_samples({{-2, 2}, {-1e-3, 1e-3}, {10, 20}}),
                  [](double v) { return std::pow(2.0, v); }});
  binary(
      "maximum", "", [](const auto& a, const auto& b) { return tg::maximum(a, b); }, everywhere,
      everywhere);
  binary(
      "minimum", "", [](const auto& a, const auto& b) { return tg::minimum(a, b); }, everywhere,
      everywhere);
  binary("atan2", "", [](const auto& a, const auto& b) { return tg::atan2(a, b); }, everywhere,
         {{0.3, 2}, {1e-3, 2e-3}, {1e2, 1e3}});
  binary(
      "squared_difference", "",
      [](const auto& a, const auto& b) { return tg::squared_difference(a, b); }, everywhere,
      everywhere);
  binary(
      "huber", "", [](const auto& a, const auto& b) { return tg::huber(a, b, 0.7); }, everywhere,
      everywhere);
  binary(
      "where", "", [](const auto& a, const auto& b) { return tg::where(a > 0.3, a * b, b); },
      everywhere, everywhere);
  {
    // Bounds that are tensors: the gradient flows into a bound where it clips.
    const std::tuple<Shape, Shape, Shape> shapes[] = {{Shape{}, Shape{}, Shape{}},
                                                      {Shape{5}, Shape{}, Shape{}},
                                                      {Shape{2, 3}, Shape{3}, Shape{2, 1}},
                                                      {Shape{3}, Shape{3}, Shape{1}},
                                                      {Shape{1, 4}, Shape{4}, Shape{1}},
                                                      {Shape{0}, Shape{}, Shape{}},
                                                      {Shape{2, 3}, Shape{2, 3}, Shape{2, 3}},
                                                      {Shape{3, 2}, Shape{1, 2}, Shape{}}};
    std::vector<OpSample> samples;
    unsigned salt = 40;
    for (const auto& [sx, slo, shi] : shapes)
      samples.push_back({sx.str() + " between " + slo.str() + " and " + shi.str(),
                         {values(sx, -2, 2, salt), values(slo, -1.2, -0.2, salt + 1),
                          values(shi, 0.2, 1.2, salt + 2)}}),
          salt += 3;
    rows.push_back({"clip_by_value", "tensor bounds",
                    [](const Inputs& x) { return tg::clip_by_value(x[0], x[1], x[2]); }, samples,
                    nullptr});
  }
  binary("sigmoid_cross_entropy", "logits",
         [](const auto& a, const auto& b) {
           // Labels are constants (no gradient), derived from the logits' shape.
           const Tensor<double> labels =
               tg::broadcast_to(registry_detail::values(b.shape(), 0, 1, 9), b.shape());
           return tg::sigmoid_cross_entropy(labels, b) * a;
         },
         everywhere, {{-3, 3}, {-1e-3, 1e-3}, {-30, 30}});

  // ---- reductions ----
  auto over = [&](std::string op, std::string variant,
                  std::function<Tensor<double>(const Tensor<double>&)> f, double lo, double hi,
                  int min_rank) {
    rows.push_back({op, variant, [f](const Inputs& x) { return f(x[0]); },
                    tensor_samples(lo, hi, min_rank), nullptr});
  };
  for (bool keep : {false, true}) {
    const std::string k = keep ? ", keepdims" : "";
    over(
        "sum", "last axis" + k, [keep](const auto& x) { return tg::sum(x, -1, keep); }, -2, 2, 1);
    over(
        "sum", "first and last axes" + k,
        [keep](const auto& x) {
          return tg::sum(x, {0, -1}, keep);
        },
        -2, 2, 1);
    over(
        "mean", "first axis" + k, [keep](const auto& x) { return tg::mean(x, 0, keep); }, -2, 2, 1);
    over(
        "mean", "first and last axes" + k,
        [keep](const auto& x) {
          return tg::mean(x, {0, -1}, keep);
        },
        -2, 2, 1);
    over(
        "max", "last axis" + k, [keep](const auto& x) { return tg::max(x, -1, keep); }, -2, 2, 1);
    over(
        "max", "first and last axes" + k,
        [keep](const auto& x) {
          return tg::max(x, {0, -1}, keep);
        },
        -2, 2, 1);
    over(
        "min", "first axis" + k, [keep](const auto& x) { return tg::min(x, 0, keep); }, -2, 2, 1);
    over(
        "min", "first and last axes" + k,
        [keep](const auto& x) {
          return tg::min(x, {-1, 0}, keep);
        },
        -2, 2, 1);
    over(
        "logsumexp", "last axis" + k, [keep](const auto& x) { return tg::logsumexp(x, -1, keep); },
        -2, 2, 1);
    over(
        "logsumexp", "first and last axes" + k,
        [keep](const auto& x) {
          return tg::logsumexp(x, {0, -1}, keep);
        },
        -2, 2, 1);
    over(
        "prod", "last axis" + k, [keep](const auto& x) { return tg::prod(x, -1, keep); }, -2, 2, 1);
    over(
        "prod", "first and last axes" + k,
        [keep](const auto& x) {
          return tg::prod(x, {0, -1}, keep);
        },
        -2, 2, 1);
    over(
        "norm", "L2, last axis" + k, [keep](const auto& x) { return tg::norm(x, -1, keep); }, -2, 2,
        1);
    over(
        "norm", "L1, first axis" + k,
        [keep](const auto& x) { return tg::norm(x, tg::NormOrder(1), 0, keep); }, -2, 2, 1);
    over(
        "norm", "inf, last axis" + k,
        [keep](const auto& x) { return tg::norm(x, tg::NormOrder(HUGE_VAL), -1, keep); }, -2, 2, 1);
    over(
        "variance", "last axis" + k, [keep](const auto& x) { return tg::variance(x, -1, keep); },
        -2, 2, 1);
  }
  over(
      "sum", "all", [](const auto& x) { return tg::sum(x); }, -2, 2, 0);
  over(
      "mean", "all", [](const auto& x) { return tg::mean(x); }, -2, 2, 0);
  over(
      "max", "all", [](const auto& x) { return tg::max(x); }, -2, 2, 0);
  over(
      "min", "all", [](const auto& x) { return tg::min(x); }, -2, 2, 0);
  over(
      "logsumexp", "all", [](const auto& x) { return tg::logsumexp(x); }, -2, 2, 0);
  over(
      "prod", "all", [](const auto& x) { return tg::prod(x); }, 0.5, 1.5, 0);
  over(
      "norm", "L2, all", [](const auto& x) { return tg::norm(x); }, -2, 2, 0);
  over(
      "variance", "all", [](const auto& x) { return tg::variance(x); }, -2, 2, 0);

  // ---- shape and indexing ----
  over(
      "reshape", "to [-1]", [](const auto& x) { return tg::reshape(x * x, {-1}); }, -2, 2, 0);
  over(
      "transpose", "reversed axes", [](const auto& x) { return tg::transpose(x * x); }, -2, 2, 0);
  over(
      "expand_dims", "axis 0", [](const auto& x) { return tg::expand_dims(x * x, 0); }, -2, 2, 0);
  over(
      "squeeze", "all size-1 axes", [](const auto& x) { return tg::squeeze(x * x); }, -2, 2, 0);
  over(
      "broadcast_to", "[2] + shape",
      [](const auto& x) {
        Shape s{2};
        for (int i = 0; i < x.rank(); ++i) s.push_back(x.shape()[i]);
        return tg::broadcast_to(x * x, s);
      },
      -2, 2, 0);
  over(
      "sum_to", "leading axes summed",
      [](const auto& x) {
        Shape s;
        for (int i = 0; i < x.rank(); ++i) s.push_back(i == 0 ? 1 : x.shape()[i]);
        return tg::sum_to(x * x, s);
      },
      -2, 2, 0);
  over(
      "tile", "twice along each axis",
      [](const auto& x) {
        return tg::tile(x * x, std::vector<std::int64_t>(static_cast<std::size_t>(x.rank()), 2));
      },
      -2, 2, 0);
  over(
      "stack", "with its square",
      [](const auto& x) {
        return tg::stack({x, x * x}, 0);
      },
      -2, 2, 0);
  over(
      "concat", "with its square, axis 0",
      [](const auto& x) {
        return tg::concat({x * x, x}, 0);
      },
      -2, 2, 1);
  over(
      "split", "first element off axis 0",
      [](const auto& x) {
        if (x.shape()[0] < 1) return x * 1.0;
        const auto parts = tg::split(x, {1, -1}, 0);
        return tg::concat({parts[1] * parts[1], parts[0]}, 0);
      },
      -2, 2, 1);
  over(
      "slice", "all but the first element of each axis",
      [](const auto& x) {
        std::vector<std::int64_t> begin, size;
        for (int i = 0; i < x.rank(); ++i) {
          begin.push_back(x.shape()[i] > 1 ? 1 : 0);
          size.push_back(-1);
        }
        return tg::slice(x * x, begin, size);
      },
      -2, 2, 0);
  over(
      "strided_slice", "reversed, every second element",
      [](const auto& x) {
        const auto n = static_cast<std::size_t>(x.rank());
        return tg::strided_slice(x * x, std::vector<std::int64_t>(n, tg::none),
                                 std::vector<std::int64_t>(n, tg::none),
                                 std::vector<std::int64_t>(n, -2));
      },
      -2, 2, 0);
  over(
      "pad", "one before, two after",
      [](const auto& x) {
        return tg::pad(x * x,
                       std::vector<std::pair<std::int64_t, std::int64_t>>(
                           static_cast<std::size_t>(x.rank()), {1, 2}),
                       0.5);
      },
      -2, 2, 0);
  over(
      "gather", "repeated indices along axis 0",
      [](const auto& x) {
        const std::int64_t n = x.shape()[0];
        std::vector<std::int32_t> idx;
        for (std::int64_t i = 0; i < 2 * n; ++i)
          idx.push_back(static_cast<std::int32_t>((i * 3) % n));
        return tg::gather(x * x, Tensor<std::int32_t>(Shape{2, n}, idx), 0);
      },
      -2, 2, 1);

  // ---- linear algebra ----
  rows.push_back({"matmul", "", [](const Inputs& x) { return tg::matmul(x[0], x[1]); },
                  pairs({{Shape{2, 3}, Shape{3, 4}},
                         {Shape{1, 3}, Shape{3, 1}},
                         {Shape{3}, Shape{3, 2}},
                         {Shape{2, 3}, Shape{3}},
                         {Shape{3}, Shape{3}},
                         {Shape{2, 2, 3}, Shape{3, 4}},
                         {Shape{2, 1, 2, 3}, Shape{3, 3, 2}},
                         {Shape{0, 3}, Shape{3, 2}},
                         {Shape{2, 0}, Shape{0, 2}}},
                        -2, 2),
                  nullptr});
  rows.push_back({"matmul", "transposed",
                  [](const Inputs& x) { return tg::matmul(x[0], x[1], true, true); },
                  pairs({{Shape{3, 2}, Shape{4, 3}},
                         {Shape{3, 1}, Shape{1, 3}},
                         {Shape{1, 1}, Shape{1, 1}},
                         {Shape{2, 3, 2}, Shape{4, 3}},
                         {Shape{3, 2}, Shape{2, 4, 3}},
                         {Shape{1, 3, 2}, Shape{2, 4, 3}},
                         {Shape{3, 0}, Shape{2, 3}},
                         {Shape{0, 2}, Shape{3, 0}}},
                        -2, 2),
                  nullptr});
  rows.push_back({"matvec", "", [](const Inputs& x) { return tg::matvec(x[0], x[1]); },
                  pairs({{Shape{2, 3}, Shape{3}},
                         {Shape{1, 1}, Shape{1}},
                         {Shape{3, 1}, Shape{1}},
                         {Shape{2, 2, 3}, Shape{3}},
                         {Shape{2, 3}, Shape{4, 3}},
                         {Shape{2, 1, 2, 3}, Shape{3, 3}},
                         {Shape{0, 3}, Shape{3}},
                         {Shape{2, 0}, Shape{0}}},
                        -2, 2),
                  nullptr});
  rows.push_back({"matvec", "transposed",
                  [](const Inputs& x) { return tg::matvec(x[0], x[1], true); },
                  pairs({{Shape{3, 2}, Shape{3}},
                         {Shape{1, 1}, Shape{1}},
                         {Shape{1, 3}, Shape{1}},
                         {Shape{2, 3, 2}, Shape{3}},
                         {Shape{3, 2}, Shape{4, 3}},
                         {Shape{0, 2}, Shape{0}},
                         {Shape{3, 0}, Shape{3}},
                         {Shape{2, 2}, Shape{2}}},
                        -2, 2),
                  nullptr});
  rows.push_back({"outer", "", [](const Inputs& x) { return tg::outer(x[0], x[1]); },
                  pairs({{Shape{3}, Shape{2}},
                         {Shape{1}, Shape{4}},
                         {Shape{4}, Shape{1}},
                         {Shape{0}, Shape{2}},
                         {Shape{2}, Shape{0}},
                         {Shape{1}, Shape{1}},
                         {Shape{5}, Shape{3}},
                         {Shape{2}, Shape{2}}},
                        -2, 2),
                  nullptr});
  over(
      "diag", "of the last axis", [](const auto& x) { return tg::diag(x * x); }, -2, 2, 1);
  over(
      "diag_part", "of the last two axes", [](const auto& x) { return tg::diag_part(x * x); }, -2,
      2, 2);
  over(
      "trace", "of the last two axes", [](const auto& x) { return tg::trace(x * x); }, -2, 2, 2);

  // ---- neural-network functions ----
  over(
      "softmax", "last axis", [](const auto& x) { return tg::softmax(x); }, -3, 3, 1);
  over(
      "softmax", "first axis", [](const auto& x) { return tg::softmax(x, 0); }, -3, 3, 1);
  over(
      "log_softmax", "last axis", [](const auto& x) { return tg::log_softmax(x); }, -3, 3, 1);
  over(
      "softmax_cross_entropy", "dense labels",
      [](const auto& x) {
        const Tensor<double> labels = tg::softmax(registry_detail::values(x.shape(), -1, 1, 7));
        return tg::softmax_cross_entropy(labels, x);
      },
      -3, 3, 1);
  over(
      "sparse_softmax_cross_entropy", "integer labels",
      [](const auto& x) {
        const Shape& s = x.shape();
        Shape batch;
        for (int i = 0; i + 1 < s.rank(); ++i) batch.push_back(s[i]);
        std::vector<std::int64_t> labels(static_cast<std::size_t>(batch.size()));
        for (std::size_t i = 0; i < labels.size(); ++i)
          labels[i] =
              static_cast<std::int64_t>((i * 2 + 1) % static_cast<std::size_t>(s[s.rank() - 1]));
        return tg::sparse_softmax_cross_entropy(Tensor<std::int64_t>(batch, labels), x);
      },
      -3, 3, 1);
  rows.push_back({"mse", "", [](const Inputs& x) { return tg::mse(x[0], x[1]); },
                  binary_samples(everywhere, everywhere), nullptr});
  // The mean of no elements is NaN, and so are its finite differences.
  rows.back().samples.erase(rows.back().samples.begin() + 2);

  // ---- convolution and pooling (NHWC) ----
  struct ConvCase {
    Shape input, filter;
    tg::HeightWidth strides, dilations;
    tg::Padding padding;
  };
  const std::vector<ConvCase> convs = {
      {{1, 3, 3, 1}, {2, 2, 1, 1}, 1, 1, tg::Padding::valid},
      {{1, 4, 5, 2}, {3, 3, 2, 3}, 1, 1, tg::Padding::same},
      {{2, 5, 4, 1}, {3, 2, 1, 2}, {2, 1}, 1, tg::Padding::same},
      {{1, 5, 5, 2}, {2, 2, 2, 1}, 2, 1, tg::Padding::valid},
      {{1, 6, 5, 1}, {2, 2, 1, 2}, 1, 2, tg::Padding::same},
      {{2, 3, 4, 3}, {1, 1, 3, 2}, 1, 1, tg::Padding::valid},
      {{1, 4, 4, 1}, {3, 3, 1, 1}, 2, 1, tg::Padding::same},
      {{1, 1, 1, 2}, {1, 1, 2, 2}, 1, 1, tg::Padding::valid},
      {{1, 7, 3, 1}, {3, 1, 1, 1}, {2, 1}, {2, 1}, tg::Padding::valid}};
  auto conv_name = [](const ConvCase& c) {
    return c.input.str() + " * " + c.filter.str() + ", strides " + c.strides.str() +
           ", dilations " + c.dilations.str() +
           (c.padding == tg::Padding::same ? ", SAME" : ", VALID");
  };
  OpRow conv{"conv2d", "", nullptr, {}, nullptr};
  unsigned salt = 40;
  for (const ConvCase& c : convs) {
    conv.samples.push_back(
        {conv_name(c), {values(c.input, -1, 1, salt), values(c.filter, -1, 1, salt + 1)}});
    salt += 2;
  }
  // Each sample carries its geometry in its label; the function reads it back from the
  // shapes, so one function serves all samples.
  auto geometry_of = [convs](const Inputs& x) {
    for (const ConvCase& c : convs)
      if (c.input == x[0].shape() && c.filter == x[1].shape()) return c;
    return convs[0];
  };
  conv.f = [geometry_of](const Inputs& x) {
    const ConvCase c = geometry_of(x);
    return tg::conv2d(x[0], x[1], c.strides, c.padding, c.dilations);
  };
  rows.push_back(conv);
  OpRow backprop_input = conv, backprop_filter = conv;
  backprop_input.op = "conv2d_backprop_input";
  backprop_input.f = [geometry_of](const Inputs& x) {
    const ConvCase c = geometry_of(x);
    const Tensor<double> y = tg::conv2d(x[0], x[1], c.strides, c.padding, c.dilations);
    return tg::conv2d_backprop_input(y * y, x[1], c.input, c.strides, c.padding, c.dilations);
  };
  rows.push_back(backprop_input);
  backprop_filter.op = "conv2d_backprop_filter";
  backprop_filter.f = [geometry_of](const Inputs& x) {
    const ConvCase c = geometry_of(x);
    const Tensor<double> y = tg::conv2d(x[0], x[1], c.strides, c.padding, c.dilations);
    return tg::conv2d_backprop_filter(x[0], y * y, c.filter, c.strides, c.padding, c.dilations);
  };
  rows.push_back(backprop_filter);
  struct PoolCase {
    Shape input;
    tg::HeightWidth ksize, strides;
    tg::Padding padding;
  };
  const std::vector<PoolCase> pools = {
      {{1, 4, 4, 1}, 2, 2, tg::Padding::valid}, {{1, 5, 5, 2}, 2, 2, tg::Padding::same},
      {{2, 3, 4, 1}, 3, 1, tg::Padding::same},  {{1, 5, 3, 2}, {3, 1}, {2, 1}, tg::Padding::valid},
      {{1, 1, 1, 3}, 1, 1, tg::Padding::valid}, {{1, 6, 6, 1}, 3, 2, tg::Padding::same},
      {{2, 2, 2, 2}, 2, 1, tg::Padding::valid}, {{1, 7, 4, 1}, {2, 3}, {3, 2}, tg::Padding::same}};
  for (const bool is_max : {true, false}) {
    OpRow pool{is_max ? "max_pool2d" : "avg_pool2d", "", nullptr, {}, nullptr};
    for (const PoolCase& p : pools)
      pool.samples.push_back({p.input.str() + ", ksize " + p.ksize.str() + ", strides " +
                                  p.strides.str() +
                                  (p.padding == tg::Padding::same ? ", SAME" : ", VALID"),
                              {values(p.input, -2, 2, salt++)}});
    pool.f = [pools, is_max](const Inputs& x) {
      for (const PoolCase& p : pools)
        if (p.input == x[0].shape())
          return is_max ? tg::max_pool2d(x[0] * x[0], p.ksize, p.strides, p.padding)
                        : tg::avg_pool2d(x[0] * x[0], p.ksize, p.strides, p.padding);
      return x[0];
    };
    rows.push_back(pool);
  }
  over(
      "dropout", "rate 0.3, fixed seed",
      [](const auto& x) {
        tg::Generator gen(7);
        return tg::dropout(x * x, 0.3, gen);
      },
      -2, 2, 0);
  return rows;
}

/// Public functions that have no registry row, and why.
inline std::vector<std::pair<std::string, std::string>> ops_without_rows() {
  const std::string constant = "returns a constant (no gradient)";
  const std::string mask = "works on masks (no gradient)";
  const std::string random = "draws random numbers (no gradient)";
  return {{"all", mask},
          {"any", mask},
          {"logical_and", mask},
          {"logical_or", mask},
          {"logical_not", mask},
          {"operator!", mask},
          {"operator&", mask},
          {"operator|", mask},
          {"operator<", constant},
          {"operator<=", constant},
          {"operator>", constant},
          {"operator>=", constant},
          {"is_nan", constant},
          {"is_finite", constant},
          {"argmax", constant},
          {"argmin", constant},
          {"one_hot", constant},
          {"random_uniform", random},
          {"random_normal", random},
          {"truncated_normal", random},
          {"glorot_uniform", random},
          {"glorot_normal", random},
          {"he_uniform", random},
          {"he_normal", random},
          {"zeros", constant},
          {"ones", constant},
          {"full", constant},
          {"zeros_like", constant},
          {"ones_like", constant},
          {"eye", constant},
          {"range", constant},
          {"arange", constant},
          {"linspace", constant},
          {"Tensor<T>::cast", "x.cast<U>() is tapegrad::cast<U>(x), whose row it is"}};
}

}  // namespace tapegrad_test
