#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/ops/binary.hpp"
#include "tapegrad/ops/binary_functions.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/unary.hpp"

// Losses beyond those in ops/nn.hpp, and one_hot. Every loss is a composition of existing ops,
// so its gradient and second derivative come from theirs.
namespace tapegrad {
namespace detail {

template <class I>
inline constexpr bool is_index_v =
    std::is_same_v<I, std::int32_t> || std::is_same_v<I, std::int64_t>;

// NOTE [ Selecting instead of multiplying by a mask ]
// ReluGrad(mask, v) is v where mask > 0 and 0 elsewhere, and its gradient in v is the same
// selection of the incoming gradient (in mask, zeros). Used with a constant 0/1 mask it
// picks elements the way tf.where does: an inf or NaN in an unpicked element gives 0, where
// mask * v would give 0 * inf = NaN (a masked -inf logit, an overflowed activation).
template <class T>
Tensor<T> select_where(const Tensor<T>& mask, const Tensor<T>& v) {
  return apply_binary<ReluGrad>(mask, v);
}

}  // namespace detail

namespace detail {
/// one_hot's attributes: the depth and the values on and off.
struct OneHotAttrs {
  std::int64_t depth;
  double on, off;
};
/// one_hot into `out`; with CheckLabels (the sparse losses), an index outside [0, depth) is
/// an index_error, checked here so that a replay checks new labels too.
template <class T, class I, bool CheckLabels>
void one_hot_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const OneHotAttrs a = args.as<OneHotAttrs>();
  const Tensor<I> indices(*inputs[0]);
  const I* in = indices.elements();
  T* y = static_cast<T*>(out.data);
  std::fill_n(y, out.size(), static_cast<T>(a.off));
  for (std::int64_t i = 0; i < indices.size(); ++i) {
    const auto label = static_cast<std::int64_t>(in[i]);
    if constexpr (CheckLabels)
      TAPEGRAD_CHECK(!(label < 0 || label >= a.depth), index_error,
                     "sparse_softmax_cross_entropy: received a label value of ", label,
                     " which is outside the valid range of [0, ", a.depth, ") for ", a.depth,
                     " classes");
    if (label >= 0 && label < a.depth) y[i * a.depth + label] = static_cast<T>(a.on);
  }
}
/// An op with no gradient (NOTE [ Ops without a gradient ] in ops/compare.hpp).
template <class T, class I, bool CheckLabels>
inline constexpr OpDefinition one_hot_op{"one_hot", OpFamily::indexing, 1, nullptr,
                                         &one_hot_forward<T, I, CheckLabels>};
}  // namespace detail

/// A tensor of shape indices.shape() + [depth] that is `on` at each index and `off`
/// elsewhere (tf.one_hot). An index outside [0, depth) gives a row of `off`, as in
/// TensorFlow. The element type is the template argument (float unless given), not deduced
/// from on/off. The result is a constant: nothing flows back to the indices.
///   auto labels = tapegrad::one_hot<double>(Tensor<std::int32_t>({2, 0}), 3);  // [2,3]
template <class T = float, class I,
          std::enable_if_t<is_differentiable_v<T> && detail::is_index_v<I>, int> = 0>
Tensor<T> one_hot(const Tensor<I>& indices, std::int64_t depth, detail::identity_t<T> on = T(1),
                  detail::identity_t<T> off = T(0),
                  SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const Tensor<I>& idx = detail::arg(indices, "one_hot");
  TAPEGRAD_CHECK(!(depth < 0), value_error, "one_hot: depth must be non-negative, got ", depth);
  TAPEGRAD_CHECK(idx.rank() != Shape::max_rank, shape_error, "one_hot: indices of shape ",
                 idx.shape(), " have rank ", idx.rank(),
                 "; the result would exceed the maximum rank ", Shape::max_rank);
  Shape shape = idx.shape();
  shape.push_back(depth);
  return detail::run_without_gradient<T>(detail::one_hot_op<T, I, false>, {&idx.impl()}, shape,
                                         detail::OpAttrs::of(detail::OneHotAttrs{depth, on, off}));
}

/// Cross-entropy between integer class labels [batch...] and unnormalised logits
/// [batch..., classes], one value per example (tf.nn.sparse_softmax_cross_entropy_with_logits).
/// A label outside [0, classes) throws index_error (a std::out_of_range), as TensorFlow raises.
///   auto loss = tapegrad::mean(tapegrad::sparse_softmax_cross_entropy(labels, logits));
template <class I, class X, std::enable_if_t<detail::is_index_v<I>, int> = 0,
          detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> sparse_softmax_cross_entropy(
    const Tensor<I>& labels, const X& logits, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  const auto& y = detail::arg(labels, "sparse_softmax_cross_entropy");
  const auto& z = detail::arg(logits, "sparse_softmax_cross_entropy");
  TAPEGRAD_CHECK(z.rank() != 0, shape_error,
                 "sparse_softmax_cross_entropy: logits must have a class axis, got shape ",
                 z.shape());
  const Shape z_shape = z.shape();
  const Shape batch(z_shape.begin(), z_shape.end() - 1);
  TAPEGRAD_CHECK(y.shape() == batch, shape_error,
                 "sparse_softmax_cross_entropy: labels have shape ", y.shape(),
                 " but logits have shape ", z.shape(),
                 "; labels must have the shape of logits without the class axis, ", batch);
  const std::int64_t classes = z.shape()[z.rank() - 1];
  Shape one_hot_shape = y.shape();
  one_hot_shape.push_back(classes);
  // The labels are checked by the op that spreads them, so that a replay checks new ones.
  const Tensor<T> labels_one_hot =
      detail::run_without_gradient<T>(detail::one_hot_op<T, I, true>, {&y.impl()}, one_hot_shape,
                                      detail::OpAttrs::of(detail::OneHotAttrs{classes, 1.0, 0.0}));
  // logsumexp(z) - z[label] rather than -sum(one_hot * log_softmax(z)): a -inf logit off
  // the label leaves the loss finite, as in TensorFlow (see NOTE [ Selecting instead of
  // multiplying by a mask ]). The gradient is softmax(z) - one_hot.
  const Tensor<T> picked = detail::select_where(labels_one_hot, z);
  return logsumexp(z, -1) - sum(picked, -1);
}

/// Logistic loss of logits x against labels z in [0, 1], elementwise
/// (tf.nn.sigmoid_cross_entropy_with_logits): max(x, 0) - x z + log(1 + e^-|x|), stable for
/// any |x|. Its gradient in x is sigmoid(x) - z everywhere, x = 0 included; in z it is -x.
///   auto loss = tapegrad::mean(tapegrad::sigmoid_cross_entropy(targets, logits));
template <class L, class X, detail::if_both_differentiable<L, X> = 0>
Tensor<detail::element_t<X>> sigmoid_cross_entropy(
    const L& labels, const X& logits, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& z = detail::arg(labels, "sigmoid_cross_entropy");
  const auto& x = detail::arg(logits, "sigmoid_cross_entropy");
  TAPEGRAD_CHECK(z.shape() == x.shape(), shape_error, "sigmoid_cross_entropy: labels have shape ",
                 z.shape(), " but logits have shape ", x.shape(), "; they must match");
  // softplus computes max(x, 0) + log1p(e^-|x|) and differentiates to sigmoid(x). Writing
  // the three terms out with relu and abs would give the slope -z at x = 0 instead of
  // 0.5 - z, since relu'(0) = abs'(0) = 0.
  return softplus(x) - x * z;
}

/// Huber loss of d = a - b elementwise: d^2 / 2 where |d| <= delta, delta (|d| - delta / 2)
/// elsewhere; delta must be positive. Not averaged: tf.keras.losses.Huber(delta)(b, a) is
/// mean(huber(a, b, delta)). The gradient is d clipped to [-delta, delta].
///   auto loss = tapegrad::mean(tapegrad::huber(prediction, target, 1.0));
template <class A, class B, detail::if_both_differentiable<A, B> = 0>
Tensor<detail::element_t<A>> huber(const A& a, const B& b, double delta = 1.0,
                                   SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<A>;
  TAPEGRAD_CHECK(!(!(delta > 0) || !std::isfinite(delta)), value_error,
                 "huber: delta must be positive and finite, got ", delta);
  const Tensor<T> d = detail::arg(a, "huber") - detail::arg(b, "huber");
  // c = d clipped to [-delta, delta]: 0.5 c^2 is the quadratic part and delta (|d| - |c|) the
  // linear part. Near d = 0 the linear part is |d| - |d|, whose derivative cancels exactly, so
  // the second derivative there is 1; written with |d| inside the square it would go through
  // abs'(0) = 0 and be 0. At |d| = delta either branch of the clip gives slope delta sign(d).
  const Tensor<T> c = clip_by_value(d, -delta, delta);
  return square(c) * 0.5 + (abs(d) - abs(c)) * delta;
}

}  // namespace tapegrad
