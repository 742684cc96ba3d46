#pragma once

#include <string>

#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/ops/binary.hpp"
#include "tapegrad/ops/binary_functions.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/unary.hpp"

// Neural-network functions. softmax is a primitive (its forward handles the max shift and
// all -inf rows); the losses are compositions and need no backward code of their own.
namespace tapegrad {

/// scale * (x where x > 0, alpha (e^x - 1) elsewhere) with the self-normalising constants of
/// Klambauer et al., as tf.nn.selu.   auto y = tapegrad::selu(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> selu(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "selu");
  constexpr double alpha = 1.6732632423543772848170429916717;
  constexpr double scale = 1.0507009873554804934193349852946;
  using T = detail::element_t<X>;
  // expm1(min(x, 0)) rather than elu(x) - relu(x), which is inf - inf at +inf; minimum's tie
  // goes to x, so the slope at 0 is scale * alpha, as in TensorFlow.
  return (relu(t) + expm1(minimum(t, Tensor<T>(T(0)))) * alpha) * scale;
}
/// x Phi(x) with the exact normal CDF (tf.nn.gelu with approximate=False).
///   auto y = tapegrad::gelu(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> gelu(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "gelu");
  return t * (erf(t * 0.70710678118654752440) + 1.0) * 0.5;
}

/// exp(x) / sum(exp(x)) along `axis` (the last by default), computed after subtracting the
/// maximum.   auto p = tapegrad::softmax(logits);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> softmax(const X& x, int axis = -1,
                                     SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "softmax");
  return detail::softmax(t, normalize_axis("softmax", axis, t.rank()));
}

/// x - logsumexp(x) along `axis`: the log of softmax without its underflow.
///   auto log_p = tapegrad::log_softmax(logits);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> log_softmax(const X& x, int axis = -1,
                                         SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "log_softmax");
  return t - logsumexp(t, axis, true);
}

/// Cross-entropy between label distributions and unnormalised logits along `axis`, one value
/// per example (tf.nn.softmax_cross_entropy_with_logits). Gradients flow into both, as in
/// TensorFlow 2: -log_softmax(logits) into the labels, and into the logits the exact
/// softmax * sum(labels) - labels, where TensorFlow's fused kernel gives softmax - labels
/// (the same when each row of labels sums to 1).
///   auto loss = tapegrad::mean(tapegrad::softmax_cross_entropy(one_hot, logits));
template <class L, class X, detail::if_both_differentiable<L, X> = 0>
Tensor<detail::element_t<X>> softmax_cross_entropy(
    const L& labels, const X& logits, int axis = -1,
    SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& y = detail::arg(labels, "softmax_cross_entropy");
  const auto& z = detail::arg(logits, "softmax_cross_entropy");
  TAPEGRAD_CHECK(y.shape() == z.shape(), shape_error, "softmax_cross_entropy: labels have shape ",
                 y.shape(), " but logits have shape ", z.shape(), "; they must match");
  return -sum(y * log_softmax(z, axis), axis);
}

/// The mean of (a - b)^2 over all elements.   auto loss = tapegrad::mse(prediction, target);
template <class A, class B, detail::if_both_differentiable<A, B> = 0>
Tensor<detail::element_t<A>> mse(const A& a, const B& b,
                                 SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return mean(square(a - b));
}

}  // namespace tapegrad
