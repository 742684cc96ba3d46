#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/ops/binary.hpp"
#include "tapegrad/ops/shape.hpp"

// Reductions over all elements or over one axis, with or without keeping the reduced axis.
namespace tapegrad {
namespace detail {

/// The shape of a reduction of `shape` over `axis` that keeps the axis with size 1.
inline Shape keepdims_shape(const Shape& shape, int axis) {
  Shape out = shape;
  out[axis] = 1;
  return out;
}

// attrs.ints[0]: the axis, or -1 for all elements; attrs.ints[1]: keepdims.
template <class T>
void sum_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const Shape& input_shape = e.saved[0]->shape;
  Tensor<T> grad(std::move(g));
  const auto axis = static_cast<int>(e.attrs.ints[0]);
  if (axis >= 0 && !e.attrs.ints[1]) grad = reshape(grad, keepdims_shape(input_shape, axis));
  dx[0] = broadcast_to(grad, input_shape).take_impl();
}

template <class T>
Tensor<T> sum(const Tensor<T>& x, int axis, bool keepdims) {
  Tensor<T> y;
  if (axis < 0) {
    y = Tensor<T>(uninitialized, Shape{});
    y.mutable_data()[0] = x.array().sum();
  } else {
    y = sum_to_kernel(x, keepdims_shape(x.shape(), axis));
    // Nobody has seen y yet, so dropping the size-1 axis is just a relabelling.
    if (!keepdims) y.impl()->shape = remove_axis(x.shape(), axis);
  }
  if (any_tape_recording()) {
    OpAttrs attrs;
    attrs.ints[0] = axis;
    attrs.ints[1] = keepdims;
    record(y.impl(), "sum", &sum_backward<T>, {&x.impl()}, {&x.impl()}, attrs);
  }
  return y;
}

/// The (outer, n, inner) view of a reduction over `axis` (all elements when axis < 0).
struct ReductionLayout {
  std::int64_t outer, n, inner;
  Shape keep;  // the result's shape with keepdims
};
inline ReductionLayout reduction_layout(const Shape& shape, int axis) {
  if (axis < 0) {
    Shape keep;
    for (int i = 0; i < shape.rank(); ++i) keep.push_back(1);
    return {1, shape.size(), 1, keep};
  }
  return {elements_before(shape, axis), shape[axis], elements_after(shape, axis),
          keepdims_shape(shape, axis)};
}
inline Shape reduced_shape(const Shape& shape, int axis, bool keepdims) {
  if (keepdims) return reduction_layout(shape, axis).keep;
  return axis < 0 ? Shape{} : remove_axis(shape, axis);
}
/// y viewed with the reduced axes kept (size 1), without copying or recording.
template <class T>
Tensor<T> with_kept_axes(const Tensor<T>& y, const Shape& keep) {
  return Tensor<T>(ImplRef::adopt(allocate_alias(y.impl().get(), keep)));
}

// attrs.ints[0]: axis (-1 for all elements), attrs.ints[1]: keepdims.
// The gradient of max/min goes to the elements equal to the result, split evenly between
// ties (TensorFlow's convention). Which elements those are does not change under a small
// perturbation, so the weights are constants to an outer tape.
template <class T>
void extreme_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const Tensor<T>& x = e.saved[0].get<T>();
  const Tensor<T>& y = e.saved[1].get<T>();
  const Shape keep = reduction_layout(x.shape(), static_cast<int>(e.attrs.ints[0])).keep;
  const Tensor<T> y_kept = broadcast_kernel(with_kept_axes(y, keep), x.shape());
  Tensor<T> weights(uninitialized, x.shape());
  weights.mutable_array() = (x.array() == y_kept.array()).template cast<T>();
  const Tensor<T> ties = broadcast_kernel(sum_to_kernel(weights, keep), x.shape());
  weights.mutable_array() /= ties.array();
  dx[0] = (detail::reshape(Tensor<T>(std::move(g)), keep) * weights).take_impl();
}

template <class T, bool IsMax>
Tensor<T> extreme(const Tensor<T>& x, int axis, bool keepdims) {
  const ReductionLayout l = reduction_layout(x.shape(), axis);
  Tensor<T> y(uninitialized, reduced_shape(x.shape(), axis, keepdims));
  const T* px = x.data();
  T* py = y.mutable_data();
  for (std::int64_t o = 0; o < l.outer; ++o)
    for (std::int64_t i = 0; i < l.inner; ++i) {
      // The identity of max is -inf (TensorFlow's result for an empty reduction); NaN wins.
      T best = IsMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
      for (std::int64_t k = 0; k < l.n; ++k) {
        const T v = px[(o * l.n + k) * l.inner + i];
        if ((IsMax ? v > best : v < best) || std::isnan(v)) best = v;
        if (std::isnan(best)) break;
      }
      py[o * l.inner + i] = best;
    }
  if (any_tape_recording()) {
    OpAttrs attrs;
    attrs.ints[0] = axis;
    attrs.ints[1] = keepdims;
    record(y.impl(), IsMax ? "max" : "min", &extreme_backward<T>, {&x.impl()},
           {&x.impl(), &y.impl()}, attrs);
  }
  return y;
}

/// Softmax over `axis` of the (outer, n, inner) layout, with the largest element subtracted
/// first; a group whose elements are all -inf gets the uniform 1/n (the limit for equal
/// inputs), so that logsumexp's gradient stays finite there.
template <class T>
void softmax_kernel(const T* x, T* s, const ReductionLayout& l) {
  for (std::int64_t o = 0; o < l.outer; ++o)
    for (std::int64_t i = 0; i < l.inner; ++i) {
      auto at = [&](std::int64_t k) { return (o * l.n + k) * l.inner + i; };
      T m = -std::numeric_limits<T>::infinity();
      bool nan = false;
      for (std::int64_t k = 0; k < l.n; ++k) {
        const T v = x[at(k)];
        if (std::isnan(v))
          nan = true;
        else
          m = std::max(m, v);
      }
      if (m == -std::numeric_limits<T>::infinity() && !nan) {
        for (std::int64_t k = 0; k < l.n; ++k) s[at(k)] = T(1) / static_cast<T>(l.n);
        continue;
      }
      // A NaN, or +inf (inf - inf), makes the group NaN, as in TensorFlow.
      const T shift = m == -std::numeric_limits<T>::infinity() ? T(0) : m;
      T total = 0;
      for (std::int64_t k = 0; k < l.n; ++k) total += (s[at(k)] = std::exp(x[at(k)] - shift));
      for (std::int64_t k = 0; k < l.n; ++k) s[at(k)] /= total;
    }
}

template <class T>
Tensor<T> softmax(const Tensor<T>& x, int axis);

// attrs.ints[0]: axis. ds = s * (g - sum(g s)) over the axis.
template <class T>
void softmax_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const Tensor<T>& s = e.saved[0].get<T>();
  const Tensor<T> grad(std::move(g));
  const int axis = static_cast<int>(e.attrs.ints[0]);
  const Tensor<T> gs = grad * s;
  dx[0] = (s * (grad - detail::sum(gs, axis, true))).take_impl();
}

template <class T>
Tensor<T> softmax(const Tensor<T>& x, int axis) {
  Tensor<T> s(uninitialized, x.shape());
  softmax_kernel(x.data(), s.mutable_data(), reduction_layout(x.shape(), axis));
  if (any_tape_recording()) {
    OpAttrs attrs;
    attrs.ints[0] = axis;
    record(s.impl(), "softmax", &softmax_backward<T>, {&x.impl()}, {&s.impl()}, attrs);
  }
  return s;
}

// attrs.ints[0]: axis (-1 for all), attrs.ints[1]: keepdims. d/dx = softmax(x).
template <class T>
void logsumexp_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const Tensor<T>& x = e.saved[0].get<T>();
  const int axis = static_cast<int>(e.attrs.ints[0]);
  const Shape keep = reduction_layout(x.shape(), axis).keep;
  const Tensor<T> s =
      axis < 0 ? detail::reshape(softmax(detail::reshape(x, Shape{x.size()}), 0), x.shape())
               : softmax(x, axis);
  dx[0] = (detail::reshape(Tensor<T>(std::move(g)), keep) * s).take_impl();
}

template <class T>
Tensor<T> logsumexp(const Tensor<T>& x, int axis, bool keepdims) {
  const ReductionLayout l = reduction_layout(x.shape(), axis);
  Tensor<T> y(uninitialized, reduced_shape(x.shape(), axis, keepdims));
  const T* px = x.data();
  T* py = y.mutable_data();
  for (std::int64_t o = 0; o < l.outer; ++o)
    for (std::int64_t i = 0; i < l.inner; ++i) {
      auto at = [&](std::int64_t k) { return (o * l.n + k) * l.inner + i; };
      T m = -std::numeric_limits<T>::infinity();
      for (std::int64_t k = 0; k < l.n; ++k) m = std::max(m, px[at(k)]);
      const T shift = std::isfinite(m) ? m : T(0);
      T total = 0;
      for (std::int64_t k = 0; k < l.n; ++k) total += std::exp(px[at(k)] - shift);
      py[o * l.inner + i] = std::log(total) + shift;
    }
  if (any_tape_recording()) {
    OpAttrs attrs;
    attrs.ints[0] = axis;
    attrs.ints[1] = keepdims;
    record(y.impl(), "logsumexp", &logsumexp_backward<T>, {&x.impl()}, {&x.impl()}, attrs);
  }
  return y;
}

}  // namespace detail

/// The sum of all elements, as a 0-d tensor.   auto total = tapegrad::sum(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> sum(const X& x) {
  return detail::sum(detail::arg(x, "sum"), -1, false);
}
/// The sum over one axis (negative counts from the end); keepdims keeps it with size 1.
///   auto row_sums = tapegrad::sum(m, 1);   // [r, c] -> [r]
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> sum(const X& x, int axis, bool keepdims = false) {
  const auto& t = detail::arg(x, "sum");
  return detail::sum(t, normalize_axis(axis, t.rank(), "sum"), keepdims);
}

/// The mean of all elements, as a 0-d tensor.   auto m = tapegrad::mean(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> mean(const X& x) {
  const auto& t = detail::arg(x, "mean");
  return detail::sum(t, -1, false) / static_cast<detail::element_t<X>>(t.size());
}
/// The mean over one axis; keepdims keeps it with size 1.
///   auto col_means = tapegrad::mean(m, 0);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> mean(const X& x, int axis, bool keepdims = false) {
  const auto& t = detail::arg(x, "mean");
  const int a = normalize_axis(axis, t.rank(), "mean");
  return detail::sum(t, a, keepdims) / static_cast<detail::element_t<X>>(t.shape()[a]);
}

}  // namespace tapegrad

namespace tapegrad {

/// The largest element (as a 0-d tensor), or the largest along one axis; ties share the
/// gradient evenly; NaN propagates.   auto m = tapegrad::max(x, 1);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> max(const X& x) {
  return detail::extreme<detail::element_t<X>, true>(detail::arg(x, "max"), -1, false);
}
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> max(const X& x, int axis, bool keepdims = false) {
  const auto& t = detail::arg(x, "max");
  return detail::extreme<detail::element_t<X>, true>(t, normalize_axis(axis, t.rank(), "max"),
                                                     keepdims);
}
/// The smallest element, or the smallest along one axis; ties share the gradient evenly.
///   auto m = tapegrad::min(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> min(const X& x) {
  return detail::extreme<detail::element_t<X>, false>(detail::arg(x, "min"), -1, false);
}
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> min(const X& x, int axis, bool keepdims = false) {
  const auto& t = detail::arg(x, "min");
  return detail::extreme<detail::element_t<X>, false>(t, normalize_axis(axis, t.rank(), "min"),
                                                      keepdims);
}

/// log(sum(exp(x))) over all elements or one axis, computed after subtracting the maximum,
/// so it neither overflows nor underflows; logsumexp([1000, 1000]) = 1000 + log 2 with
/// gradient [0.5, 0.5], and all -inf inputs give -inf with a finite (uniform) gradient.
///   auto lse = tapegrad::logsumexp(logits, -1);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> logsumexp(const X& x) {
  return detail::logsumexp(detail::arg(x, "logsumexp"), -1, false);
}
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> logsumexp(const X& x, int axis, bool keepdims = false) {
  const auto& t = detail::arg(x, "logsumexp");
  return detail::logsumexp(t, normalize_axis(axis, t.rank(), "logsumexp"), keepdims);
}

}  // namespace tapegrad
