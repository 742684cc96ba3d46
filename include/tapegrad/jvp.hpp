#pragma once

#include <type_traits>
#include <utility>
#include <vector>

#include "tapegrad/errors.hpp"
#include "tapegrad/forward_accumulator.hpp"
#include "tapegrad/ops/shape.hpp"
#include "tapegrad/tape.hpp"
#include "tapegrad/tensor.hpp"

// Functions of functions built on ForwardAccumulator, named as JAX names them: jvp (value and
// directional derivative), jacfwd (a Jacobian one input direction at a time) and
// hessian_vector_product (forward-over-reverse, NOTE [ Who sees a tangent's ops ]). They are
// made of ops, so an outer tape or accumulator differentiates them again.
namespace tapegrad {

/// f(primal) and its derivative along `tangent` (jax.jvp), in one forward pass.
///   auto [y, dy] = tapegrad::jvp([](const auto& x) { return tapegrad::exp(x); }, x, v);
template <class T, class F>
std::pair<Tensor<T>, Tensor<T>> jvp(F&& f, const Tensor<T>& primal, const Tensor<T>& tangent) {
  ForwardAccumulator accumulator(primal, tangent);
  Tensor<T> y = std::forward<F>(f)(primal);
  TAPEGRAD_CHECK(y.has_value(), value_error, "jvp: the function returned a tensor with no value");
  Tensor<T> dy = accumulator.jvp(y, UnconnectedGradients::zero);
  return {std::move(y), std::move(dy)};
}

/// f(primals) and its derivative along `tangents`, for f of several tensors (called with the
/// vector).   auto [y, dy] = tapegrad::jvp(f, {a, b}, {ta, tb});
template <class T, class F>
std::pair<Tensor<T>, Tensor<T>> jvp(F&& f, const std::vector<Tensor<T>>& primals,
                                    const std::vector<Tensor<T>>& tangents) {
  ForwardAccumulator accumulator(std::vector<Source<T>>(primals.begin(), primals.end()), tangents);
  Tensor<T> y = std::forward<F>(f)(primals);
  TAPEGRAD_CHECK(y.has_value(), value_error, "jvp: the function returned a tensor with no value");
  Tensor<T> dy = accumulator.jvp(y, UnconnectedGradients::zero);
  return {std::move(y), std::move(dy)};
}

/// The Jacobian of f at x by forward mode (jax.jacfwd): one JVP per element of x, so choose it
/// when x has fewer elements than f(x). Shaped f(x).shape + x.shape, as GradientTape::jacobian.
///   auto j = tapegrad::jacfwd([](const auto& x) { return tapegrad::sin(x); }, x);  // [n, n]
template <class T, class F>
Tensor<T> jacfwd(F&& f, const Tensor<T>& x) {
  TAPEGRAD_CHECK(x.has_value(), value_error, "jacfwd: the input has no value");
  std::vector<Tensor<T>> columns;
  columns.reserve(static_cast<std::size_t>(x.size()));
  Shape y_shape;
  for (std::int64_t i = 0; i < x.size(); ++i) {
    Tensor<T> direction = Tensor<T>::zeros(x.shape());
    direction.mutable_data()[i] = T(1);
    auto [y, dy] = jvp(f, x, direction);
    if (i == 0) y_shape = y.shape();
    TAPEGRAD_CHECK(y.shape() == y_shape, shape_error, "jacfwd: the function returned shape ",
                   y.shape(), " for direction ", i, " but ", y_shape, " for direction 0");
    columns.push_back(std::move(dy));
  }
  if (columns.empty()) y_shape = std::forward<F>(f)(x).shape();  // no direction: the shape alone
  Shape shape = y_shape;
  for (std::int64_t d : x.shape()) shape.push_back(d);
  if (columns.empty()) return Tensor<T>::zeros(shape);
  return detail::reshape(detail::stack(columns, y_shape.rank()), shape);
}

/// H v, the Hessian of the scalar f at x times v, by forward-over-reverse: the gradient of f
/// under a ForwardAccumulator. Costs about one gradient, and the tape keeps the forward only.
///   auto hv = tapegrad::hessian_vector_product([](const auto& x) { return sum(x * x * x); }, x,
///   v);
template <class T, class F>
Tensor<T> hessian_vector_product(F&& f, const Tensor<T>& x, const Tensor<T>& v) {
  ForwardAccumulator accumulator(x, v);
  Tensor<T> g;
  {
    GradientTape tape;
    tape.watch(x);
    const Tensor<T> y = std::forward<F>(f)(x);
    TAPEGRAD_CHECK(y.has_value() && y.size() == 1, shape_error,
                   "hessian_vector_product: f must return one element, not shape ",
                   y.has_value() ? y.shape() : Shape{});
    g = tape.gradient(y, x, UnconnectedGradients::zero);
  }
  return accumulator.jvp(g, UnconnectedGradients::zero);
}

}  // namespace tapegrad
