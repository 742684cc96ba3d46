#include "test_util.hpp"

#include <tapegrad/train/layers.hpp>
#include <tapegrad/train/optimizers.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

using tapegrad::Conv2D;
using tapegrad::Dense;
using tapegrad::Flatten;
using tapegrad::Generator;
using tapegrad::GradientTape;
using tapegrad::MaxPool2D;
using tapegrad::Padding;
using tapegrad::Sequential;
using tapegrad::Shape;
using tapegrad::Tensor;
using tapegrad::Variable;

namespace {

template <class T>
std::vector<double> as_doubles(const Tensor<T>& t) {
  std::vector<double> out;
  for (T v : t.to_vector()) out.push_back(double(v));
  return out;
}

template <class T>
void check_values(const Tensor<T>& got, const std::vector<double>& expected) {
  const auto v = as_doubles(got);
  REQUIRE(v.size() == expected.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    INFO("element " << i);
    CHECK(v[i] == Approx(expected[i]).epsilon(1e-6).margin(1e-6));
  }
}

const auto relu = [](const auto& x) { return tapegrad::relu(x); };

}  // namespace

// ---- Dense ----

TEMPLATE_TEST_CASE("Dense starts from glorot_uniform kernels and zero biases", "[layers]", float,
                   double) {
  Generator gen(42), replay(42);
  Dense<TestType> dense(3, 2, gen);
  CHECK(dense.kernel().shape() == Shape{3, 2});
  CHECK(dense.bias().shape() == Shape{2});
  CHECK(dense.kernel().name() == "dense/kernel");
  CHECK(dense.bias().name() == "dense/bias");
  CHECK(dense.kernel().value().to_vector() ==
        tapegrad::glorot_uniform<TestType>({3, 2}, replay).to_vector());
  CHECK(dense.bias().value().to_vector() == std::vector<TestType>{0, 0});
  const double limit = std::sqrt(6.0 / (3 + 2));
  for (TestType k : dense.kernel().value().to_vector()) CHECK(std::abs(double(k)) < limit);

  // The generator advanced: a second layer gets other numbers.
  Dense<TestType> other(3, 2, gen, "other");
  CHECK(other.kernel().value().to_vector() != dense.kernel().value().to_vector());
  CHECK(other.kernel().name() == "other/kernel");

  const auto vars = dense.trainable_variables();
  REQUIRE(vars.size() == 2);
  CHECK(vars[0].state() == dense.kernel().state());
  CHECK(vars[1].state() == dense.bias().state());
}

TEMPLATE_TEST_CASE("Dense computes activation(x kernel + bias)", "[layers]", float, double) {
  using T = TestType;
  Generator gen(1);
  Dense<T> linear(3, 2, gen);
  Dense<T> rectified(3, 2, relu, gen);
  const Tensor<T> kernel({{T(1), T(-1)}, {T(0), T(2)}, {T(-2), T(1)}});
  const Tensor<T> bias({T(0.5), T(-0.5)});
  for (Dense<T>* d : {&linear, &rectified}) {
    Variable<T>(d->kernel()).assign(kernel);
    Variable<T>(d->bias()).assign(bias);
  }
  const Tensor<T> x({{T(1), T(2), T(3)}, {T(-1), T(0), T(1)}});
  // Row 0: [1 - 6, -1 + 4 + 3] + bias = [-4.5, 5.5]; row 1: [-1 - 2, 1 + 1] + bias = [-2.5, 1.5].
  const Tensor<T> y = linear(x);
  CHECK(y.shape() == Shape{2, 2});
  check_values(y, {-4.5, 5.5, -2.5, 1.5});
  check_values(rectified(x), {0, 5.5, 0, 1.5});

  // Leading axes beyond the batch are kept: [2, 1, 3] -> [2, 1, 2].
  const Tensor<T> x3 = tapegrad::reshape(x, {2, 1, 3});
  const Tensor<T> y3 = linear(x3);
  CHECK(y3.shape() == Shape{2, 1, 2});
  check_values(y3, {-4.5, 5.5, -2.5, 1.5});
}

TEST_CASE("Dense's gradients reach its kernel and bias", "[layers]") {
  Generator gen(3);
  Dense<double> dense(3, 2, gen);
  const Tensor<double> x({{1.0, 2.0, 3.0}, {-1.0, 0.0, 1.0}});
  GradientTape tape;
  auto loss = tapegrad::sum(dense(x));
  const auto grads = tape.gradient(loss, dense.trainable_variables());
  // d sum(x K + b) / dK[i][j] = sum over rows of x[:, i]; / db[j] = rows.
  CHECK(grads[0].to_vector() == std::vector<double>{0, 0, 2, 2, 4, 4});
  CHECK(grads[1].to_vector() == std::vector<double>{2, 2});
}

TEST_CASE("Dense rejects inputs that do not fit, in Keras's words", "[layers]") {
  Generator gen(0);
  Dense<float> dense(3, 2, gen);
  CHECK_THROWS_WITH(dense(Tensor<float>(Shape{4, 5})),
                    "Input 0 of layer \"dense\" is incompatible with the layer: expected axis -1 "
                    "of input shape to have value 3, but received input with shape [4,5]");
  CHECK_THROWS_AS(dense(Tensor<float>({1.f, 2.f, 3.f})), tapegrad::shape_error);  // rank 1
  CHECK_THROWS_AS(Dense<float>(0, 2, gen), tapegrad::value_error);
  CHECK_THROWS_AS(Dense<float>(3, -1, gen), tapegrad::value_error);
}

// ---- Conv2D, MaxPool2D, Flatten ----

TEMPLATE_TEST_CASE("Conv2D computes conv2d(x, kernel) + bias", "[layers]", float, double) {
  using T = TestType;
  Generator gen(5), replay(5);
  Conv2D<T> conv(2, 2, 1, 2, gen);
  CHECK(conv.kernel().shape() == Shape{2, 2, 1, 2});
  CHECK(conv.bias().shape() == Shape{2});
  CHECK(conv.kernel().value().to_vector() ==
        tapegrad::glorot_uniform<T>({2, 2, 1, 2}, replay).to_vector());
  CHECK(conv.trainable_variables().size() == 2);

  // Output channel 0 uses [[1, 2], [0, -1]], channel 1 averages the window times 2; bias [1, 0].
  Variable<T>(conv.kernel())
      .assign(Tensor<T>(Shape{2, 2, 1, 2}, {1, 0.5, 2, 0.5, 0, 0.5, -1, 0.5}));
  Variable<T>(conv.bias()).assign(Tensor<T>({T(1), T(0)}));
  const Tensor<T> x(Shape{1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const Tensor<T> y = conv(x);
  CHECK(y.shape() == Shape{1, 2, 2, 2});
  // Window at (0,0): 1 + 2*2 - 5 + 1 = 1 and (1+2+4+5)/2 = 6; the others alike.
  check_values(y, {1, 6, 3, 8, 7, 12, 9, 14});
}

TEST_CASE("Conv2D with strides, SAME padding and an activation", "[layers]") {
  Generator gen(9);
  Conv2D<float> conv(3, 3, 3, 4, 2, Padding::same, relu, gen);
  const Tensor<float> x = tapegrad::random_normal<float>({2, 5, 5, 3}, 0.0, 1.0, gen);
  const Tensor<float> y = conv(x);
  CHECK(y.shape() == Shape{2, 3, 3, 4});
  for (float v : y.to_vector()) CHECK(v >= 0.f);
  // The same as the ops it is made of.
  const auto expected =
      tapegrad::relu(tapegrad::conv2d(x, conv.kernel(), 2, Padding::same) + conv.bias());
  CHECK(y.to_vector() == expected.to_vector());

  CHECK_THROWS_WITH(conv(Tensor<float>(Shape{1, 5, 5, 2})),
                    Catch::Matchers::Contains("expected axis -1 of input shape to have value 3"));
  CHECK_THROWS_AS(conv(Tensor<float>(Shape{5, 5, 3})), tapegrad::shape_error);
  CHECK_THROWS_AS(Conv2D<float>(3, 3, 3, 4, 0, Padding::same, gen), tapegrad::value_error);
  CHECK_THROWS_AS(Conv2D<float>(0, 3, 3, 4, gen), tapegrad::value_error);
}

TEST_CASE("MaxPool2D takes each window's maximum; strides default to the pool size", "[layers]") {
  std::vector<double> v(16);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = double((i * 7) % 16);
  const Tensor<double> x(Shape{1, 4, 4, 1}, v);
  // x = [[0 7 14 5] [12 3 10 1] [8 15 6 13] [4 11 2 9]]
  MaxPool2D<double> pool(2);
  const auto y = pool(x);
  CHECK(y.shape() == Shape{1, 2, 2, 1});
  check_values(y, {12, 14, 15, 13});
  CHECK(pool.trainable_variables().empty());

  MaxPool2D<double> overlapping(2, 1);
  const auto z = overlapping(x);
  CHECK(z.shape() == Shape{1, 3, 3, 1});
  check_values(z, {12, 14, 14, 15, 15, 13, 15, 15, 13});

  MaxPool2D<double> padded(3, 2, Padding::same);
  CHECK(padded(x).shape() == Shape{1, 2, 2, 1});
}

TEST_CASE("Flatten keeps the batch axis and joins the rest", "[layers]") {
  Flatten<double> flatten;
  const Tensor<double> x(Shape{2, 2, 2, 1}, {1, 2, 3, 4, 5, 6, 7, 8});
  const auto y = flatten(x);
  CHECK(y.shape() == Shape{2, 4});
  CHECK(y.to_vector() == x.to_vector());
  CHECK(flatten(Tensor<double>({1.0, 2.0})).shape() == Shape{2, 1});
  CHECK(flatten(Tensor<double>(Shape{0, 3})).shape() == Shape{0, 3});
  CHECK_THROWS_AS(flatten(Tensor<double>(1.0)), tapegrad::shape_error);
  CHECK(flatten.trainable_variables().empty());
}

// ---- Sequential ----

TEST_CASE("Sequential chains layers and gathers their variables in order", "[layers]") {
  Generator gen(11);
  Sequential model(Conv2D<float>(3, 3, 1, 4, 1, Padding::same, relu, gen), MaxPool2D<float>(2),
                   Flatten<float>(), Dense<float>(36, 3, gen));
  static_assert(std::is_same_v<decltype(model), Sequential<float>>);
  CHECK(model.size() == 4);
  const Tensor<float> x = tapegrad::random_uniform<float>({2, 6, 6, 1}, -1, 1, gen);
  const Tensor<float> y = model(x);
  CHECK(y.shape() == Shape{2, 3});

  const auto vars = model.trainable_variables();
  REQUIRE(vars.size() == 4);
  CHECK(vars[0].shape() == Shape{3, 3, 1, 4});
  CHECK(vars[1].shape() == Shape{4});
  CHECK(vars[2].shape() == Shape{36, 3});
  CHECK(vars[3].shape() == Shape{3});
  CHECK(vars[0].name() == "conv2d/kernel");
  CHECK(vars[3].name() == "dense/bias");

  // The same as calling the layers by hand.
  auto by_hand = model.layer(3)(model.layer(2)(model.layer(1)(model.layer(0)(x))));
  CHECK(by_hand.to_vector() == y.to_vector());

  // Every variable gets a gradient of its own shape.
  GradientTape tape;
  const Tensor<std::int32_t> labels({0, 2});
  auto loss = tapegrad::mean(tapegrad::sparse_softmax_cross_entropy(labels, model(x)));
  const auto grads = tape.gradient(loss, vars);
  for (std::size_t i = 0; i < vars.size(); ++i) {
    REQUIRE(grads[i].has_value());
    CHECK(grads[i].shape() == vars[i].shape());
  }

  CHECK_THROWS_AS(model.layer(4), tapegrad::value_error);
  CHECK_THROWS_AS(model.add(std::shared_ptr<tapegrad::Layer<float>>()), tapegrad::value_error);
}

TEST_CASE("Sequential takes custom layers, shared layers and nests", "[layers]") {
  struct Double : tapegrad::Layer<double> {
    Tensor<double> operator()(const Tensor<double>& x) const override { return x * 2.0; }
  };
  Generator gen(2);
  auto shared = std::make_shared<Dense<double>>(2, 2, gen);
  Sequential<double> inner;
  inner.add(Double()).add(shared);
  Sequential<double> outer;
  outer.add(inner).add(shared);  // the same Dense twice: its variables appear twice
  CHECK(outer.trainable_variables().size() == 4);
  Variable<double>(shared->kernel()).assign(Tensor<double>({{1.0, 0.0}, {0.0, 1.0}}));
  Variable<double>(shared->bias()).assign(Tensor<double>({1.0, -1.0}));
  // (2x + b) + b
  check_values(outer(Tensor<double>({{1.0, 2.0}})), {4.0, 2.0});
}

// ---- fitting ----

TEST_CASE("A Dense layer learns a linear map with Adam", "[layers][fit]") {
  Generator gen(7);
  Dense<double> dense(3, 2, gen);
  const Tensor<double> x = tapegrad_test::sample({32, 3}, -1.0, 1.0);
  const Tensor<double> a({{1.0, -2.0}, {0.5, 0.0}, {-1.5, 3.0}});
  const Tensor<double> c({0.25, -0.75});
  const Tensor<double> target = tapegrad::matmul(x, a) + c;

  tapegrad::Adam opt(0.05);
  const auto vars = dense.trainable_variables();
  double first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    GradientTape tape;
    auto loss = tapegrad::mse(dense(x), target);
    if (step == 0) first = loss.item();
    last = loss.item();
    opt.apply_gradients(tape.gradient(loss, vars), vars);
  }
  INFO("loss " << first << " -> " << last);
  CHECK(last < 1e-4 * first);
  const auto k = dense.kernel().value().to_vector(), ak = a.to_vector();
  for (std::size_t i = 0; i < k.size(); ++i) CHECK(k[i] == Approx(ak[i]).margin(0.02));
  const auto b = dense.bias().value().to_vector();
  CHECK(b[0] == Approx(0.25).margin(0.02));
  CHECK(b[1] == Approx(-0.75).margin(0.02));
}

TEST_CASE("A small float MLP fits XOR with SGD and momentum", "[layers][fit]") {
  Generator gen(2024);
  Sequential model(Dense<float>(2, 16, relu, gen), Dense<float>(16, 2, gen));
  const Tensor<float> x({{0.f, 0.f}, {0.f, 1.f}, {1.f, 0.f}, {1.f, 1.f}});
  const Tensor<std::int32_t> labels({0, 1, 1, 0});
  tapegrad::SGD opt(0.2, 0.9);
  const auto vars = model.trainable_variables();
  float first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    GradientTape tape;
    auto loss = tapegrad::mean(tapegrad::sparse_softmax_cross_entropy(labels, model(x)));
    if (step == 0) first = loss.item();
    last = loss.item();
    opt.apply_gradients(tape.gradient(loss, vars), vars);
  }
  INFO("loss " << first << " -> " << last);
  CHECK(last < 0.1f * first);
  const auto logits = model(x);
  for (int i = 0; i < 4; ++i) CHECK((logits.at(i, 1) > logits.at(i, 0)) == (labels.at(i) == 1));
}
