#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapegrad/errors.hpp"
#include "tapegrad/ops/binary.hpp"
#include "tapegrad/ops/conv.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/random.hpp"
#include "tapegrad/ops/shape.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/variable.hpp"

// A minimal layer toolkit after tf.keras.layers: Dense, Conv2D, MaxPool2D, Flatten and
// Sequential. Layers are plain callables built from tapegrad's ops, so a GradientTape open
// around a forward pass records it and watches the layers' variables when they are read.
// Kernels start from glorot_uniform (Keras's default) drawn from a seeded Generator, biases
// from zeros. Copies of a layer share its variables, as Python references to one layer do.
namespace tapegrad {

/// A layer: a function of one tensor with trainable variables. Derive from it for your own.
///   struct Square : tapegrad::Layer<float> {
///     tapegrad::Tensor<float> operator()(const tapegrad::Tensor<float>& x) const override {
///       return x * x; } };
template <class T = float>
class Layer {
  static_assert(is_differentiable_v<T>, "tapegrad: layers compute in float or double");

 public:
  using value_type = T;
  virtual ~Layer() = default;
  /// The layer's output for `x`.
  virtual Tensor<T> operator()(const Tensor<T>& x) const = 0;
  /// The variables an optimizer trains, in a fixed order (kernel before bias).
  virtual std::vector<Variable<T>> trainable_variables() const { return {}; }
};

/// An elementwise function applied to a layer's output: a lambda, or a std::function.
///   tapegrad::Dense<float> d(4, 2, [](const auto& x) { return tapegrad::relu(x); }, gen);
template <class T>
using Activation = std::function<Tensor<T>(const Tensor<T>&)>;

namespace detail {

inline void check_positive_size(const char* layer, const char* what, std::int64_t v) {
  TAPEGRAD_CHECK(!(v <= 0), value_error, layer, ": `", what, "` must be positive, got ", v);
}

/// Keras's wording for an input whose last axis does not fit the layer.
inline shape_error incompatible_input(const std::string& layer, int min_rank,
                                      std::int64_t axis_value, const Shape& got) {
  if (got.rank() < min_rank)
    return shape_error("Input 0 of layer \"" + layer + "\" is incompatible with the layer: " +
                       "expected min_ndim=" + std::to_string(min_rank) + ", found ndim=" +
                       std::to_string(got.rank()) + ". Full shape received: " + got.str());
  return shape_error("Input 0 of layer \"" + layer + "\" is incompatible with the layer: " +
                     "expected axis -1 of input shape to have value " + std::to_string(axis_value) +
                     ", but received input with shape " + got.str());
}

}  // namespace detail

/// A fully connected layer, y = activation(x kernel + bias), kernel [in, out] and bias [out]
/// (tf.keras.layers.Dense). x is [batch, in], or [..., in] with the leading axes kept.
///   tapegrad::Generator gen(0);  tapegrad::Dense<float> dense(784, 128, gen);
template <class T = float>
class Dense : public Layer<T> {
 public:
  Dense(std::int64_t in, std::int64_t out, Generator& gen, std::string name = "dense")
      : Dense(in, out, nullptr, gen, std::move(name)) {}
  Dense(std::int64_t in, std::int64_t out, Activation<T> activation, Generator& gen,
        std::string name = "dense")
      : kernel_(make_kernel(in, out, gen), name + "/kernel"),
        bias_(Tensor<T>(Shape{out}), name + "/bias"),
        activation_(std::move(activation)),
        name_(std::move(name)) {}

  Tensor<T> operator()(const Tensor<T>& x) const override {
    const Shape& s = x.shape();
    const std::int64_t in = kernel_.shape()[0], out = kernel_.shape()[1];
    if (s.rank() < 2 || s[s.rank() - 1] != in) throw detail::incompatible_input(name_, 2, in, s);
    Tensor<T> y;
    if (s.rank() == 2) {
      y = matmul(x, kernel_) + bias_;
    } else {  // matmul is 2-D: fold the leading axes into one and unfold them afterwards
      std::vector<std::int64_t> dims(s.begin(), s.end() - 1);
      dims.push_back(out);
      y = reshape(matmul(reshape(x, {-1, in}), kernel_) + bias_, dims);
    }
    return activation_ ? activation_(y) : y;
  }
  std::vector<Variable<T>> trainable_variables() const override { return {kernel_, bias_}; }

  const Variable<T>& kernel() const { return kernel_; }
  const Variable<T>& bias() const { return bias_; }

 private:
  static Tensor<T> make_kernel(std::int64_t in, std::int64_t out, Generator& gen) {
    detail::check_positive_size("Dense", "in", in);
    detail::check_positive_size("Dense", "out", out);
    return glorot_uniform<T>({in, out}, gen);
  }

  Variable<T> kernel_, bias_;
  Activation<T> activation_;
  std::string name_;
};

/// A 2-D convolution over NHWC images, y = activation(conv2d(x, kernel) + bias), kernel
/// [kh, kw, in_channels, out_channels] and bias [out_channels] (tf.keras.layers.Conv2D).
///   tapegrad::Conv2D<float> conv(3, 3, 1, 8, 1, tapegrad::Padding::same, gen);
template <class T = float>
class Conv2D : public Layer<T> {
 public:
  Conv2D(std::int64_t kh, std::int64_t kw, std::int64_t in_channels, std::int64_t out_channels,
         Generator& gen, std::string name = "conv2d")
      : Conv2D(kh, kw, in_channels, out_channels, 1, Padding::valid, nullptr, gen,
               std::move(name)) {}
  Conv2D(std::int64_t kh, std::int64_t kw, std::int64_t in_channels, std::int64_t out_channels,
         HeightWidth strides, Padding padding, Generator& gen, std::string name = "conv2d")
      : Conv2D(kh, kw, in_channels, out_channels, strides, padding, nullptr, gen, std::move(name)) {
  }
  Conv2D(std::int64_t kh, std::int64_t kw, std::int64_t in_channels, std::int64_t out_channels,
         HeightWidth strides, Padding padding, Activation<T> activation, Generator& gen,
         std::string name = "conv2d")
      : kernel_(make_kernel(kh, kw, in_channels, out_channels, gen), name + "/kernel"),
        bias_(Tensor<T>(Shape{out_channels}), name + "/bias"),
        strides_(strides),
        padding_(padding),
        activation_(std::move(activation)),
        name_(std::move(name)) {
    TAPEGRAD_CHECK(!(strides.h <= 0 || strides.w <= 0), value_error,
                   "Conv2D: strides must be positive, got ", strides);
  }

  Tensor<T> operator()(const Tensor<T>& x) const override {
    const Shape& s = x.shape();
    const std::int64_t in_c = kernel_.shape()[2];
    if (s.rank() != 4 || s[3] != in_c) throw detail::incompatible_input(name_, 4, in_c, s);
    Tensor<T> y = conv2d(x, kernel_, strides_, padding_) + bias_;
    return activation_ ? activation_(y) : y;
  }
  std::vector<Variable<T>> trainable_variables() const override { return {kernel_, bias_}; }

  const Variable<T>& kernel() const { return kernel_; }
  const Variable<T>& bias() const { return bias_; }

 private:
  static Tensor<T> make_kernel(std::int64_t kh, std::int64_t kw, std::int64_t in_c,
                               std::int64_t out_c, Generator& gen) {
    detail::check_positive_size("Conv2D", "kernel height", kh);
    detail::check_positive_size("Conv2D", "kernel width", kw);
    detail::check_positive_size("Conv2D", "in_channels", in_c);
    detail::check_positive_size("Conv2D", "out_channels", out_c);
    return glorot_uniform<T>({kh, kw, in_c, out_c}, gen);
  }

  Variable<T> kernel_, bias_;
  HeightWidth strides_;
  Padding padding_;
  Activation<T> activation_;
  std::string name_;
};

/// The maximum over each pool_size window of NHWC images (tf.keras.layers.MaxPool2D); the
/// strides default to the pool size, as in Keras.
///   tapegrad::MaxPool2D<float> pool(2);
template <class T = float>
class MaxPool2D : public Layer<T> {
 public:
  explicit MaxPool2D(HeightWidth pool_size = 2, std::optional<HeightWidth> strides = std::nullopt,
                     Padding padding = Padding::valid)
      : pool_size_(pool_size), strides_(strides.value_or(pool_size)), padding_(padding) {}

  Tensor<T> operator()(const Tensor<T>& x) const override {
    return max_pool2d(x, pool_size_, strides_, padding_);
  }

 private:
  HeightWidth pool_size_, strides_;
  Padding padding_;
};

/// Each example flattened to a vector: [batch, d1, d2, ...] -> [batch, d1 * d2 * ...]
/// (tf.keras.layers.Flatten; a 1-D input becomes [batch, 1]).
///   tapegrad::Flatten<float> flatten;
template <class T = float>
class Flatten : public Layer<T> {
 public:
  Tensor<T> operator()(const Tensor<T>& x) const override {
    const Shape& s = x.shape();
    if (s.rank() < 1) throw detail::incompatible_input("flatten", 1, 0, s);
    std::int64_t features = 1;  // not size / batch: the batch may be empty
    for (int i = 1; i < s.rank(); ++i) features *= s[i];
    return reshape(x, {s[0], features});
  }
};

/// Layers applied one after another (tf.keras.Sequential). Layers are held by shared
/// pointer: add a layer by value (it is moved in) or share one with add(pointer).
///   tapegrad::Sequential model(tapegrad::Dense<float>(2, 8, relu, gen),
///                              tapegrad::Dense<float>(8, 1, gen));
template <class T = float>
class Sequential : public Layer<T> {
  template <class L>
  static constexpr bool is_layer_v =
      std::is_base_of_v<Layer<T>, std::decay_t<L>> && !std::is_same_v<std::decay_t<L>, Sequential>;

 public:
  Sequential() = default;
  template <class... Ls, std::enable_if_t<(sizeof...(Ls) > 0) && (is_layer_v<Ls> && ...), int> = 0>
  explicit Sequential(Ls&&... layers) {
    (add(std::forward<Ls>(layers)), ...);
  }

  /// Appends a layer (a copy, which shares the original's variables).
  template <class L, std::enable_if_t<std::is_base_of_v<Layer<T>, std::decay_t<L>>, int> = 0>
  Sequential& add(L&& layer) {
    layers_.push_back(std::make_shared<std::decay_t<L>>(std::forward<L>(layer)));
    return *this;
  }
  /// Appends a layer held elsewhere too.
  Sequential& add(std::shared_ptr<Layer<T>> layer) {
    TAPEGRAD_CHECK(layer, value_error, "Sequential::add: the layer is a null pointer");
    layers_.push_back(std::move(layer));
    return *this;
  }

  Tensor<T> operator()(const Tensor<T>& x) const override {
    Tensor<T> y = x;
    for (const auto& layer : layers_) y = (*layer)(y);
    return y;
  }
  /// Every layer's variables, first layer first.
  std::vector<Variable<T>> trainable_variables() const override {
    std::vector<Variable<T>> out;
    for (const auto& layer : layers_)
      for (auto& v : layer->trainable_variables()) out.push_back(std::move(v));
    return out;
  }

  std::size_t size() const { return layers_.size(); }
  Layer<T>& layer(std::size_t i) const {
    TAPEGRAD_CHECK(!(i >= layers_.size()), value_error, "Sequential::layer: index ", i,
                   " is out of range for ", layers_.size(), " layers");
    return *layers_[i];
  }

 private:
  std::vector<std::shared_ptr<Layer<T>>> layers_;
};

template <class L, class... Ls>
Sequential(L, Ls...) -> Sequential<typename L::value_type>;

}  // namespace tapegrad

// Last: the precompiled list names this header's templates (NOTE [ The precompiled part ]).
#include "tapegrad/train/instantiations.hpp"
