#include "test_util.hpp"

#include "tapegrad/ops/conv.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

using tapegrad::GradientTape;
using tapegrad::HeightWidth;
using tapegrad::Padding;
using tapegrad::Shape;
using tapegrad::Tensor;
using Inputs = std::vector<Tensor<double>>;
using tapegrad_test::sample;

namespace {

// ---- direct, slow references, written from TensorFlow's definitions ----

struct Axis {
  std::int64_t out, pad_before;
};
// tf.nn: VALID out = ceil((in - span + 1) / stride); SAME out = ceil(in / stride) with
// pad_total = max((out - 1) * stride + span - in, 0), pad_before = pad_total / 2.
Axis axis_of(std::int64_t in, std::int64_t k, std::int64_t stride, std::int64_t dilation,
             Padding padding) {
  const std::int64_t span = (k - 1) * dilation + 1;
  if (padding == Padding::valid) return {(in - span + stride) / stride, 0};
  const std::int64_t out = (in + stride - 1) / stride;
  return {out, std::max<std::int64_t>((out - 1) * stride + span - in, 0) / 2};
}

std::int64_t flat(const Shape& s, std::int64_t a, std::int64_t b, std::int64_t c, std::int64_t d) {
  return ((a * s[1] + b) * s[2] + c) * s[3] + d;
}

struct Reference {
  Shape shape;
  std::vector<double> values;
};

Reference conv_reference(const Tensor<double>& x, const Tensor<double>& w, HeightWidth strides,
                         Padding padding, HeightWidth dilations) {
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  const Axis ah = axis_of(xs[1], ws[0], strides.h, dilations.h, padding);
  const Axis aw = axis_of(xs[2], ws[1], strides.w, dilations.w, padding);
  const Shape ys{xs[0], ah.out, aw.out, ws[3]};
  std::vector<double> y(static_cast<std::size_t>(ys.size()), 0.0);
  for (std::int64_t n = 0; n < xs[0]; ++n)
    for (std::int64_t oh = 0; oh < ah.out; ++oh)
      for (std::int64_t ow = 0; ow < aw.out; ++ow)
        for (std::int64_t i = 0; i < ws[0]; ++i)
          for (std::int64_t j = 0; j < ws[1]; ++j)
            for (std::int64_t ci = 0; ci < xs[3]; ++ci)
              for (std::int64_t co = 0; co < ws[3]; ++co) {
                const std::int64_t ih = oh * strides.h - ah.pad_before + i * dilations.h;
                const std::int64_t iw = ow * strides.w - aw.pad_before + j * dilations.w;
                if (ih < 0 || ih >= xs[1] || iw < 0 || iw >= xs[2]) continue;  // zero padding
                y[static_cast<std::size_t>(flat(ys, n, oh, ow, co))] +=
                    x.data()[flat(xs, n, ih, iw, ci)] * w.data()[flat(ws, i, j, ci, co)];
              }
  return {ys, y};
}

Reference pool_reference(const Tensor<double>& x, HeightWidth ksize, HeightWidth strides,
                         Padding padding, bool is_max) {
  const Shape& xs = x.shape();
  const Axis ah = axis_of(xs[1], ksize.h, strides.h, 1, padding);
  const Axis aw = axis_of(xs[2], ksize.w, strides.w, 1, padding);
  const Shape ys{xs[0], ah.out, aw.out, xs[3]};
  std::vector<double> y(static_cast<std::size_t>(ys.size()));
  for (std::int64_t n = 0; n < xs[0]; ++n)
    for (std::int64_t oh = 0; oh < ah.out; ++oh)
      for (std::int64_t ow = 0; ow < aw.out; ++ow)
        for (std::int64_t c = 0; c < xs[3]; ++c) {
          double best = -std::numeric_limits<double>::infinity(), total = 0;
          int count = 0;
          for (std::int64_t i = 0; i < ksize.h; ++i)
            for (std::int64_t j = 0; j < ksize.w; ++j) {
              const std::int64_t ih = oh * strides.h - ah.pad_before + i;
              const std::int64_t iw = ow * strides.w - aw.pad_before + j;
              if (ih < 0 || ih >= xs[1] || iw < 0 || iw >= xs[2]) continue;  // not counted
              const double v = x.data()[flat(xs, n, ih, iw, c)];
              best = std::max(best, v);
              total += v;
              ++count;
            }
          y[static_cast<std::size_t>(flat(ys, n, oh, ow, c))] = is_max ? best : total / count;
        }
  return {ys, y};
}

template <class T>
Tensor<T> as(const Tensor<double>& x) {
  const std::vector<double> v = x.to_vector();
  return Tensor<T>(x.shape(), std::vector<T>(v.begin(), v.end()));
}

template <class T>
void check_close(const Tensor<T>& got, const Reference& expected) {
  REQUIRE(got.shape() == expected.shape);
  const double tolerance = std::is_same_v<T, float> ? 2e-5 : 1e-12;
  for (std::size_t i = 0; i < expected.values.size(); ++i) {
    INFO("element " << i);
    CHECK(static_cast<double>(got.data()[i]) ==
          Approx(expected.values[i]).epsilon(tolerance).margin(tolerance));
  }
}

std::string padding_name(Padding p) {
  return p == Padding::same ? "SAME" : "VALID";
}

/// The gradient of f with respect to its input `wrt`, as a function of all the inputs: a
/// function gradcheck can differentiate again (its tape records this inner gradient).
std::function<Tensor<double>(const Inputs&)> gradient_of(
    std::function<Tensor<double>(const Inputs&)> f, std::size_t wrt) {
  return [f, wrt](const Inputs& x) {
    GradientTape tape;
    for (const auto& t : x) tape.watch(t);
    return tape.gradient(f(x), x[wrt]);
  };
}

double dot(const Tensor<double>& a, const Tensor<double>& b) {
  return tapegrad::sum(a * b).item();
}

struct ConvCase {
  Shape input, filter;
  HeightWidth strides, dilations;
  Padding padding;
};

// Small configurations for gradient checks: strided, dilated, SAME and VALID, 1x1 filters,
// batch 2, non-square inputs and filters.
const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases{
      {{1, 4, 5, 2}, {3, 2, 2, 3}, 1, 1, Padding::valid},
      {{2, 5, 4, 3}, {3, 3, 3, 2}, 2, 1, Padding::same},
      {{1, 6, 5, 2}, {2, 2, 2, 2}, 1, 2, Padding::same},
      {{2, 3, 3, 4}, {1, 1, 4, 3}, 1, 1, Padding::valid},
      {{1, 5, 6, 1}, {2, 3, 1, 2}, {2, 1}, {1, 2}, Padding::valid},
      {{1, 4, 4, 2}, {1, 1, 2, 2}, 2, 1, Padding::same},
      {{2, 3, 5, 2}, {1, 3, 2, 2}, 1, 1, Padding::valid},
  };
  return cases;
}

}  // namespace

TEMPLATE_TEST_CASE("conv2d matches a direct loop over many configurations", "[ops][conv]", float,
                   double) {
  using T = TestType;
  const std::vector<Shape> inputs{{1, 5, 7, 3}, {2, 6, 4, 2}, {2, 3, 3, 1}};
  const std::vector<std::vector<std::int64_t>> filters{{1, 1, 4}, {3, 3, 2}, {2, 3, 1}, {1, 3, 2}};
  const std::vector<HeightWidth> strides{1, 2, {2, 1}};
  const std::vector<HeightWidth> dilations{1, 2, {1, 2}};
  int checked = 0;
  for (const Shape& xs : inputs)
    for (const auto& f : filters)
      for (const HeightWidth& s : strides)
        for (const HeightWidth& d : dilations)
          for (Padding p : {Padding::valid, Padding::same}) {
            const Shape ws{f[0], f[1], xs[3], f[2]};
            if (p == Padding::valid &&
                ((ws[0] - 1) * d.h + 1 > xs[1] || (ws[1] - 1) * d.w + 1 > xs[2]))
              continue;
            INFO("input " << xs.str() << " filter " << ws.str() << " strides " << s.str()
                          << " dilations " << d.str() << " " << padding_name(p));
            const Tensor<double> x = sample(xs, -1.5, 1.5, 1), w = sample(ws, -1, 1, 2);
            check_close(tapegrad::conv2d(as<T>(x), as<T>(w), s, p, d),
                        conv_reference(x, w, s, p, d));
            ++checked;
          }
  CHECK(checked > 170);
}

TEST_CASE("conv2d: TensorFlow's SAME pads the extra row and column after", "[ops][conv]") {
  std::vector<double> v(9);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i + 1);
  const Tensor<double> x(Shape{1, 3, 3, 1}, v);
  const Tensor<double> ones = Tensor<double>::ones({2, 2, 1, 1});
  auto same = tapegrad::conv2d(x, ones, 1, Padding::same);
  CHECK(same.shape() == Shape{1, 3, 3, 1});
  CHECK(same.to_vector() == std::vector<double>{12, 16, 9, 24, 28, 15, 15, 17, 9});
  CHECK(tapegrad::conv2d(x, ones).to_vector() == std::vector<double>{12, 16, 24, 28});
  // Stride 2, SAME: out = ceil(3 / 2) = 2, pad_total = 2 + 2 - 3 = 1, after.
  CHECK(tapegrad::conv2d(x, ones, 2, Padding::same).to_vector() ==
        std::vector<double>{12, 9, 15, 9});
  // Dilation 2 with a 2x2 filter: the corners.
  CHECK(tapegrad::conv2d(x, ones, 1, Padding::valid, 2).to_vector() ==
        std::vector<double>{1 + 3 + 7 + 9});
  // Batch 0 and 0 input channels give empty and zero results.
  CHECK(tapegrad::conv2d(Tensor<double>::zeros({0, 3, 3, 2}), Tensor<double>::ones({2, 2, 2, 3}))
            .shape() == Shape{0, 2, 2, 3});
  CHECK(tapegrad::conv2d(Tensor<double>::zeros({1, 3, 3, 0}), Tensor<double>::ones({2, 2, 0, 2}))
            .to_vector() == std::vector<double>(8, 0.0));
}

TEMPLATE_TEST_CASE("max_pool2d and avg_pool2d match a direct loop", "[ops][pool]", float, double) {
  using T = TestType;
  const std::vector<Shape> inputs{{1, 5, 7, 3}, {2, 4, 4, 2}, {1, 1, 3, 1}};
  const std::vector<HeightWidth> ksizes{1, 2, 3, {2, 3}, {1, 2}};
  const std::vector<HeightWidth> strides{1, 2, {1, 2}, 3};
  for (const Shape& xs : inputs)
    for (const HeightWidth& k : ksizes)
      for (const HeightWidth& s : strides)
        for (Padding p : {Padding::valid, Padding::same}) {
          if (p == Padding::valid && (k.h > xs[1] || k.w > xs[2])) continue;
          INFO("input " << xs.str() << " ksize " << k.str() << " strides " << s.str() << " "
                        << padding_name(p));
          const Tensor<double> x = sample(xs, -2, 1, 3);  // mostly negative: padding is no 0
          check_close(tapegrad::max_pool2d(as<T>(x), k, s, p), pool_reference(x, k, s, p, true));
          check_close(tapegrad::avg_pool2d(as<T>(x), k, s, p), pool_reference(x, k, s, p, false));
        }
}

TEST_CASE("Pooling with SAME padding ignores the padded positions", "[ops][pool]") {
  std::vector<double> v(16);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i + 1);
  const Tensor<double> x16(Shape{1, 4, 4, 1}, v);
  // ksize 3, stride 2: out 2, pad_total 1, all of it after: windows of 9, 6, 6 and 4.
  CHECK(tapegrad::avg_pool2d(x16, 3, 2, Padding::same).to_vector() ==
        std::vector<double>{6, 7.5, 12, 13.5});
  CHECK(tapegrad::max_pool2d(x16, 3, 2, Padding::same).to_vector() ==
        std::vector<double>{11, 12, 15, 16});
  v.resize(9);
  const Tensor<double> x9(Shape{1, 3, 3, 1}, v);
  CHECK(tapegrad::avg_pool2d(x9, 2, 1, Padding::same).to_vector() ==
        std::vector<double>{3, 4, 4.5, 6, 7, 7.5, 7.5, 8.5, 9});
  CHECK(tapegrad::max_pool2d(-x9, 2, 1, Padding::same).to_vector() ==
        std::vector<double>{-1, -2, -3, -4, -5, -6, -7, -8, -9});
  // -inf everywhere still picks an element (and routes the gradient to it).
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor<double> low(Shape{1, 2, 2, 1}, -inf);
  GradientTape tape;
  tape.watch(low);
  auto y = tapegrad::max_pool2d(low, 2, 2);
  CHECK(y.item() == -inf);
  CHECK(tape.gradient(y, low).to_vector() == std::vector<double>{1, 0, 0, 0});
  const Tensor<double> with_nan(Shape{1, 1, 3, 1}, std::vector<double>{1.0, std::nan(""), 2.0});
  CHECK(std::isnan(tapegrad::max_pool2d(with_nan, {1, 3}, 1).item()));
}

TEST_CASE("max_pool2d routes the gradient to the first maximum of each window",
          "[ops][pool][kinks]") {
  // Ties: the first in row-major window order takes all of it, as TensorFlow.
  const Tensor<double> ones = Tensor<double>::ones({1, 2, 2, 1});
  GradientTape t1;
  t1.watch(ones);
  CHECK(t1.gradient(tapegrad::max_pool2d(ones, 2, 2), ones).to_vector() ==
        std::vector<double>{1, 0, 0, 0});
  // Overlapping windows add up at a shared maximum; channels are pooled separately.
  const Tensor<double> x(Shape{1, 3, 3, 2}, std::vector<double>{1, 0, 5, 0, 2, 0,  //
                                                                3, 0, 4, 0, 0, 0,  //
                                                                6, 0, 1, 0, 2, 7});
  GradientTape t2;
  t2.watch(x);
  auto y = tapegrad::max_pool2d(x, 2, 1);
  CHECK(y.to_vector() == std::vector<double>{5, 0, 5, 0, 6, 0, 4, 7});
  CHECK(t2.gradient(y, x).to_vector() ==
        std::vector<double>{0, 1, 2, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1});
}

TEST_CASE("The three convolution maps are each other's adjoints", "[ops][conv]") {
  for (const ConvCase& c : conv_cases()) {
    INFO("input " << c.input.str() << " filter " << c.filter.str());
    const Tensor<double> x = sample(c.input, -1, 1, 1), w = sample(c.filter, -1, 1, 2);
    const Tensor<double> y = tapegrad::conv2d(x, w, c.strides, c.padding, c.dilations);
    const Tensor<double> g = sample(y.shape(), -1, 1, 3);
    const double t = dot(y, g);
    CHECK(dot(x, tapegrad::conv2d_backprop_input(g, w, c.input, c.strides, c.padding,
                                                 c.dilations)) == Approx(t).epsilon(1e-12));
    CHECK(dot(w, tapegrad::conv2d_backprop_filter(x, g, c.filter, c.strides, c.padding,
                                                  c.dilations)) == Approx(t).epsilon(1e-12));
  }
}

TEST_CASE("conv2d gradients match finite differences", "[ops][conv][gradcheck]") {
  for (const ConvCase& c : conv_cases()) {
    INFO("input " << c.input.str() << " filter " << c.filter.str() << " strides " << c.strides.str()
                  << " dilations " << c.dilations.str() << " " << padding_name(c.padding));
    const Inputs xw{sample(c.input, -1, 1, 1), sample(c.filter, -1, 1, 2)};
    CHECK_GRADIENTS(
        [&](const Inputs& v) {
          return tapegrad::conv2d(v[0], v[1], c.strides, c.padding, c.dilations);
        },
        xw);
    const Shape y = tapegrad::conv2d(xw[0], xw[1], c.strides, c.padding, c.dilations).shape();
    CHECK_GRADIENTS(
        [&](const Inputs& v) {
          return tapegrad::conv2d_backprop_input(v[0], v[1], c.input, c.strides, c.padding,
                                                 c.dilations);
        },
        Inputs{sample(y, -1, 1, 3), xw[1]});
    CHECK_GRADIENTS(
        [&](const Inputs& v) {
          return tapegrad::conv2d_backprop_filter(v[0], v[1], c.filter, c.strides, c.padding,
                                                  c.dilations);
        },
        Inputs{xw[0], sample(y, -1, 1, 3)});
  }
}

TEST_CASE("Pooling gradients match finite differences", "[ops][pool][gradcheck]") {
  struct PoolCase {
    Shape input;
    HeightWidth ksize, strides;
    Padding padding;
  };
  for (const PoolCase& c : std::vector<PoolCase>{{{1, 4, 4, 2}, 2, 2, Padding::valid},
                                                 {{2, 5, 4, 1}, 3, 2, Padding::same},
                                                 {{1, 3, 5, 2}, {2, 3}, 1, Padding::same},
                                                 {{1, 5, 5, 1}, 3, {1, 2}, Padding::valid}}) {
    INFO("input " << c.input.str() << " ksize " << c.ksize.str() << " strides " << c.strides.str()
                  << " " << padding_name(c.padding));
    const Inputs x{sample(c.input, -2, 2, 4)};  // distinct values: no ties within eps
    CHECK_GRADIENTS(
        [&](const Inputs& v) { return tapegrad::max_pool2d(v[0], c.ksize, c.strides, c.padding); },
        x);
    CHECK_GRADIENTS(
        [&](const Inputs& v) { return tapegrad::avg_pool2d(v[0], c.ksize, c.strides, c.padding); },
        x);
    // Second derivatives, through the gradients' own gradients.
    auto max_loss = [&](const Inputs& v) {
      return tapegrad::sum(
          tapegrad::square(tapegrad::max_pool2d(v[0], c.ksize, c.strides, c.padding)));
    };
    auto avg_loss = [&](const Inputs& v) {
      return tapegrad::sum(
          tapegrad::square(tapegrad::avg_pool2d(v[0], c.ksize, c.strides, c.padding)));
    };
    CHECK_GRADIENTS(gradient_of(max_loss, 0), x);
    CHECK_GRADIENTS(gradient_of(avg_loss, 0), x);
  }
}

TEST_CASE("Second derivatives of conv2d through nested tapes", "[ops][conv][nested]") {
  for (const ConvCase& c : conv_cases()) {
    INFO("input " << c.input.str() << " filter " << c.filter.str() << " strides " << c.strides.str()
                  << " dilations " << c.dilations.str() << " " << padding_name(c.padding));
    const Inputs xw{sample(c.input, -1, 1, 1), sample(c.filter, -1, 1, 2)};
    auto loss = [&](const Inputs& v) {
      return tapegrad::sum(
          tapegrad::tanh(tapegrad::conv2d(v[0], v[1], c.strides, c.padding, c.dilations)));
    };
    // d/dx and d/dw of the input gradient and of the filter gradient: every mixed partial.
    CHECK_GRADIENTS(gradient_of(loss, 0), xw);
    CHECK_GRADIENTS(gradient_of(loss, 1), xw);
  }
}

TEST_CASE("d/dinput of sum(v * grad_filter) for a bilinear loss is conv2d_backprop_input",
          "[ops][conv][nested]") {
  // L = sum(u * conv2d(x, w)): grad_w = conv2d_backprop_filter(x, u), linear in x, so
  // d/dx sum(v * grad_w) = conv2d_backprop_input(u, v), and grad_w does not depend on w.
  const Shape xs{2, 5, 6, 2}, ws{3, 2, 2, 3};
  const HeightWidth strides{2, 1};
  const Tensor<double> x = sample(xs, -1, 1, 1), w = sample(ws, -1, 1, 2);
  const Tensor<double> u = sample(tapegrad::conv2d(x, w, strides, Padding::same).shape(), -1, 1, 3);
  const Tensor<double> v = sample(ws, -1, 1, 4);
  GradientTape outer(tapegrad::persistent);
  outer.watch(x);
  outer.watch(w);
  Tensor<double> grad_w;
  {
    GradientTape inner;
    inner.watch(w);
    grad_w = inner.gradient(tapegrad::sum(u * tapegrad::conv2d(x, w, strides, Padding::same)), w);
  }
  const auto penalty = tapegrad::sum(v * grad_w);
  const auto expected = tapegrad::conv2d_backprop_input(u, v, xs, strides, Padding::same);
  const auto got = outer.gradient(penalty, x);
  REQUIRE(got.shape() == xs);
  for (std::int64_t i = 0; i < got.size(); ++i)
    CHECK(got.data()[i] == Approx(expected.data()[i]).epsilon(1e-12).margin(1e-14));
  CHECK_FALSE(outer.gradient(penalty, w).has_value());
}

TEST_CASE("Third derivatives of conv2d", "[ops][conv][nested]") {
  const Inputs xw{sample({1, 3, 4, 1}, -1, 1, 1), sample({2, 2, 1, 2}, -1, 1, 2)};
  auto loss = [](const Inputs& v) {
    return tapegrad::sum(tapegrad::sin(tapegrad::conv2d(v[0], v[1], 1, Padding::same, {1, 2})));
  };
  auto second = [&](const Inputs& v) {
    return tapegrad::sum(gradient_of(loss, 0)(v) * sample({1, 3, 4, 1}, -1, 1, 5));
  };
  CHECK_GRADIENTS(gradient_of(second, 1), xw);
}

TEST_CASE("max_pool2d's gradient: a gather in the upstream gradient, zero in the input",
          "[ops][pool][nested]") {
  // L = sum(u * max_pool2d(x)): grad_x scatters u to the argmax positions.
  const Inputs xu{sample({1, 4, 5, 2}, -2, 2, 6), sample({1, 2, 3, 2}, -1, 1, 7)};
  auto loss = [](const Inputs& v) {
    return tapegrad::sum(v[1] * tapegrad::max_pool2d(v[0], 2, 2, Padding::same));
  };
  CHECK_GRADIENTS(gradient_of(loss, 0), xu);
  // Third order: the gather's own gradient (in r) is the scatter again.
  auto penalty_of = [&](const Inputs& v) {
    return tapegrad::sum(v[2] * gradient_of(loss, 0)(Inputs{v[0], v[1]}));
  };
  CHECK_GRADIENTS(gradient_of(penalty_of, 1), Inputs{xu[0], xu[1], sample({1, 4, 5, 2}, -1, 1, 9)});

  const Tensor<double> r = sample({1, 4, 5, 2}, -1, 1, 8);
  GradientTape outer(tapegrad::persistent);
  outer.watch(xu[0]);
  outer.watch(xu[1]);
  Tensor<double> grad_x;
  {
    GradientTape inner;
    inner.watch(xu[0]);
    grad_x = inner.gradient(loss(xu), xu[0]);
  }
  const auto penalty = tapegrad::sum(r * grad_x);
  const auto d_input = outer.gradient(penalty, xu[0]);
  REQUIRE(d_input.has_value());  // zeros, as TensorFlow's MaxPoolGrad, rather than None
  CHECK(d_input.to_vector() == std::vector<double>(40, 0.0));
  // d/du: r read at each window's argmax.
  const auto d_upstream = outer.gradient(penalty, xu[1]);
  GradientTape probe;
  probe.watch(xu[0]);
  const auto routes = probe.gradient(tapegrad::max_pool2d(xu[0], 2, 2, Padding::same), xu[0]);
  double total = 0;
  for (std::int64_t i = 0; i < routes.size(); ++i) total += routes.data()[i] * r.data()[i];
  CHECK(tapegrad::sum(d_upstream).item() == Approx(total).epsilon(1e-12));
}

TEST_CASE("avg_pool2d's gradient is linear: its gradient in the upstream is avg_pool2d",
          "[ops][pool][nested]") {
  const Tensor<double> x = sample({2, 5, 4, 3}, -1, 1, 1);
  const Tensor<double> u = sample({2, 3, 2, 3}, -1, 1, 2);
  const Tensor<double> r = sample({2, 5, 4, 3}, -1, 1, 3);
  GradientTape outer;
  outer.watch(u);
  Tensor<double> grad_x;
  {
    GradientTape inner;
    inner.watch(x);
    grad_x = inner.gradient(tapegrad::sum(u * tapegrad::avg_pool2d(x, 3, 2, Padding::same)), x);
  }
  const auto got = outer.gradient(tapegrad::sum(r * grad_x), u);
  const auto expected = tapegrad::avg_pool2d(r, 3, 2, Padding::same);
  REQUIRE(got.shape() == expected.shape());
  for (std::int64_t i = 0; i < got.size(); ++i)
    CHECK(got.data()[i] == Approx(expected.data()[i]).epsilon(1e-12));
}

TEST_CASE("A small conv net trains through Variables", "[ops][conv]") {
  // conv -> tanh -> avg pool -> conv 1x1 -> max pool -> sum, gradient-checked end to end.
  CHECK_GRADIENTS(
      [](const Inputs& v) {
        auto h = tapegrad::tanh(tapegrad::conv2d(v[0], v[1], 1, Padding::same));
        h = tapegrad::avg_pool2d(h, 2, 1, Padding::valid);
        h = tapegrad::conv2d(h, v[2]);
        return tapegrad::max_pool2d(h, 2, 2, Padding::same);
      },
      Inputs{sample({2, 5, 5, 2}, -1, 1, 1), sample({3, 3, 2, 3}, -0.5, 0.5, 2),
             sample({1, 1, 3, 2}, -1, 1, 3)});
  tapegrad::Variable<float> filter(as<float>(sample({3, 3, 1, 2}, -0.5, 0.5, 4)));
  const Tensor<float> x = as<float>(sample({1, 6, 6, 1}, 0, 1, 5));
  GradientTape tape;
  auto loss = tapegrad::sum(tapegrad::square(tapegrad::conv2d(x, filter, 2, Padding::same)));
  auto g = tape.gradient(loss, filter);
  REQUIRE(g.has_value());
  CHECK(g.shape() == Shape{3, 3, 1, 2});
}

TEST_CASE("conv2d and pooling errors name the op and the shapes", "[ops][conv][errors]") {
  const auto x = Tensor<double>::ones({1, 5, 5, 3});
  const auto w = Tensor<double>::ones({3, 3, 3, 2});
  CHECK_THROWS_AS(tapegrad::conv2d(Tensor<double>::ones({5, 5, 3}), w), tapegrad::shape_error);
  CHECK_THROWS_WITH(
      tapegrad::conv2d(Tensor<double>::ones({5, 5, 3}), w),
      "conv2d: input must be 4-D [batch, height, width, channels], got shape [5,5,3]");
  CHECK_THROWS_WITH(tapegrad::conv2d(x, Tensor<double>::ones({3, 3, 3})),
                    "conv2d: filter must be 4-D [filter_height, filter_width, in_channels, "
                    "out_channels], got shape [3,3,3]");
  CHECK_THROWS_WITH(tapegrad::conv2d(x, Tensor<double>::ones({3, 3, 4, 8})),
                    "conv2d: input has 3 channels but filter expects 4 (input [1,5,5,3], filter "
                    "[3,3,4,8])");
  CHECK_THROWS_WITH(tapegrad::conv2d(x, Tensor<double>::ones({0, 3, 3, 2})),
                    "conv2d: filter height and width must be positive, got filter [0,3,3,2]");
  CHECK_THROWS_AS(tapegrad::conv2d(x, w, {0, 1}), tapegrad::value_error);
  CHECK_THROWS_WITH(tapegrad::conv2d(x, w, {0, 1}), "conv2d: strides must be positive, got [0,1]");
  CHECK_THROWS_WITH(tapegrad::conv2d(x, w, 1, Padding::same, {1, -1}),
                    "conv2d: dilations must be positive, got [1,-1]");
  CHECK_THROWS_WITH(tapegrad::conv2d(Tensor<double>::ones({1, 4, 6, 3}), w, 1, Padding::valid, 2),
                    "conv2d: the window 5x5 (a 3x3 filter with dilations [2,2]) is larger than "
                    "the input 4x6 with VALID padding (input [1,4,6,3], filter [3,3,3,2])");
  CHECK_NOTHROW(tapegrad::conv2d(Tensor<double>::ones({1, 4, 6, 3}), w, 1, Padding::same, 2));
  CHECK_THROWS_WITH(tapegrad::conv2d(Tensor<double>(), w),
                    "conv2d: an input has no value (a gradient that does not exist, "
                    "TensorFlow's None)");

  const auto g = Tensor<double>::ones({1, 3, 3, 2});
  CHECK_THROWS_WITH(
      tapegrad::conv2d_backprop_input(Tensor<double>::ones({1, 2, 3, 2}), w, x.shape()),
      "conv2d_backprop_input: the gradient has shape [1,2,3,2] but the "
      "convolution's output has shape [1,3,3,2] (input [1,5,5,3], filter "
      "[3,3,3,2])");
  CHECK_THROWS_WITH(tapegrad::conv2d_backprop_input(g, w, Shape{1, 5, 5, 4}),
                    "conv2d_backprop_input: input has 4 channels but filter expects 3 (input "
                    "[1,5,5,4], filter [3,3,3,2])");
  CHECK_THROWS_WITH(tapegrad::conv2d_backprop_filter(x, g, Shape{3, 3, 3, 4}),
                    "conv2d_backprop_filter: the gradient has shape [1,3,3,2] but the "
                    "convolution's output has shape [1,3,3,4] (input [1,5,5,3], filter "
                    "[3,3,3,4])");
  CHECK_THROWS_WITH(tapegrad::conv2d_backprop_filter(x, g, Shape{3, 3, 2}),
                    "conv2d_backprop_filter: filter must be 4-D [filter_height, filter_width, "
                    "in_channels, out_channels], got shape [3,3,2]");

  CHECK_THROWS_WITH(tapegrad::max_pool2d(Tensor<double>::ones({4, 4}), 2, 2),
                    "max_pool2d: input must be 4-D [batch, height, width, channels], got shape "
                    "[4,4]");
  CHECK_THROWS_WITH(tapegrad::max_pool2d(x, {0, 2}, 1),
                    "max_pool2d: ksize must be positive, got [0,2]");
  CHECK_THROWS_WITH(tapegrad::avg_pool2d(x, 2, {1, 0}),
                    "avg_pool2d: strides must be positive, got [1,0]");
  CHECK_THROWS_WITH(tapegrad::avg_pool2d(Tensor<double>::ones({1, 2, 5, 4}), 3, 1),
                    "avg_pool2d: the window 3x3 is larger than the input 2x5 with VALID padding "
                    "(input [1,2,5,4])");
  CHECK_THROWS_WITH(tapegrad::max_pool2d(Tensor<double>::ones({1, 2, 5, 4}), {1, 6}, 1),
                    "max_pool2d: the window 1x6 is larger than the input 2x5 with VALID padding "
                    "(input [1,2,5,4])");
  CHECK_NOTHROW(tapegrad::max_pool2d(Tensor<double>::ones({1, 2, 5, 4}), 3, 1, Padding::same));

  // A failed op leaves the tape as it was.
  GradientTape tape;
  tape.watch(x);
  CHECK_THROWS(tapegrad::conv2d(x, Tensor<double>::ones({3, 3, 4, 8})));
  const auto y = tapegrad::conv2d(x, w);
  CHECK(tape.gradient(y, x).shape() == x.shape());
}
