#pragma once

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/ops/binary.hpp"
#include "tapegrad/ops/compare.hpp"
#include "tapegrad/ops/shape.hpp"
#include "tapegrad/ops/unary.hpp"

// Reductions over all elements or over one axis, with or without keeping the reduced axis.
namespace tapegrad {
namespace detail {

/// The shape of a reduction of `shape` over `axis` that keeps the axis with size 1.
inline Shape keepdims_shape(const Shape& shape, int axis) {
  Shape out = shape;
  out.set(axis, 1);
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
    record(y.impl(), TAPEGRAD_LEGACY_OP("sum", reduction, 1, &sum_backward<T>), {&x.impl()},
           {&x.impl()}, attrs);
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
    record(y.impl(), TAPEGRAD_LEGACY_OP(IsMax ? "max" : "min", reduction, 1, &extreme_backward<T>),
           {&x.impl()}, {&x.impl(), &y.impl()}, attrs);
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
    record(s.impl(), TAPEGRAD_LEGACY_OP("softmax", reduction, 1, &softmax_backward<T>), {&x.impl()},
           {&s.impl()}, attrs);
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
    record(y.impl(), TAPEGRAD_LEGACY_OP("logsumexp", reduction, 1, &logsumexp_backward<T>),
           {&x.impl()}, {&x.impl()}, attrs);
  }
  return y;
}

}  // namespace detail

/// The sum of all elements, as a 0-d tensor.   auto total = tapegrad::sum(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> sum(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::sum(detail::arg(x, "sum"), -1, false);
}
/// The sum over one axis (negative counts from the end); keepdims keeps it with size 1.
///   auto row_sums = tapegrad::sum(m, 1);   // [r, c] -> [r]
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> sum(const X& x, int axis, bool keepdims = false,
                                 SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "sum");
  return detail::sum(t, normalize_axis("sum", axis, t.rank()), keepdims);
}

/// The mean of all elements, as a 0-d tensor.   auto m = tapegrad::mean(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> mean(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "mean");
  return detail::sum(t, -1, false) / static_cast<detail::element_t<X>>(t.size());
}
/// The mean over one axis; keepdims keeps it with size 1.
///   auto col_means = tapegrad::mean(m, 0);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> mean(const X& x, int axis, bool keepdims = false,
                                  SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "mean");
  const int a = normalize_axis("mean", axis, t.rank());
  return detail::sum(t, a, keepdims) / static_cast<detail::element_t<X>>(t.shape()[a]);
}

}  // namespace tapegrad

namespace tapegrad {

/// The largest element (as a 0-d tensor), or the largest along one axis; ties share the
/// gradient evenly; NaN propagates.   auto m = tapegrad::max(x, 1);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> max(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::extreme<detail::element_t<X>, true>(detail::arg(x, "max"), -1, false);
}
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> max(const X& x, int axis, bool keepdims = false,
                                 SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "max");
  return detail::extreme<detail::element_t<X>, true>(t, normalize_axis("max", axis, t.rank()),
                                                     keepdims);
}
/// The smallest element, or the smallest along one axis; ties share the gradient evenly.
///   auto m = tapegrad::min(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> min(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::extreme<detail::element_t<X>, false>(detail::arg(x, "min"), -1, false);
}
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> min(const X& x, int axis, bool keepdims = false,
                                 SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "min");
  return detail::extreme<detail::element_t<X>, false>(t, normalize_axis("min", axis, t.rank()),
                                                      keepdims);
}

/// log(sum(exp(x))) over all elements or one axis, computed after subtracting the maximum,
/// so it neither overflows nor underflows; logsumexp([1000, 1000]) = 1000 + log 2 with
/// gradient [0.5, 0.5], and all -inf inputs give -inf with a finite (uniform) gradient.
///   auto lse = tapegrad::logsumexp(logits, -1);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> logsumexp(const X& x,
                                       SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::logsumexp(detail::arg(x, "logsumexp"), -1, false);
}
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> logsumexp(const X& x, int axis, bool keepdims = false,
                                       SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "logsumexp");
  return detail::logsumexp(t, normalize_axis("logsumexp", axis, t.rank()), keepdims);
}

}  // namespace tapegrad

// Reductions over several axes, prod, argmax/argmin, norms and variance.
namespace tapegrad {
namespace detail {

/// The distinct axes, normalised and sorted.
inline std::vector<int> normalize_axes(const std::vector<int>& axes, int rank, const char* op) {
  std::vector<int> out;
  for (int axis : axes) out.push_back(normalize_axis(op, axis, rank));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

inline Shape keep_axes_shape(const Shape& shape, const std::vector<int>& axes) {
  Shape keep = shape;
  for (int a : axes) keep.set(a, 1);
  return keep;
}
inline Shape drop_axes_shape(const Shape& shape, const std::vector<int>& axes) {
  Shape out;
  for (int i = 0; i < shape.rank(); ++i)
    if (!std::binary_search(axes.begin(), axes.end(), i)) out.push_back(shape[i]);
  return out;
}

// NOTE [ Reducing several axes ]
// A reduction over several axes moves them to the end (transpose), merges them into one
// (reshape) and reduces that one axis. Each step is a recorded op, so the gradient, of any
// order, comes from the one-axis reduction without further code; the price is one copy.
template <class T, class Reduce>
Tensor<T> reduce_axes(const Tensor<T>& x, const std::vector<int>& axes_in, bool keepdims,
                      const char* op, Reduce reduce_one_axis) {
  const std::vector<int> axes = normalize_axes(axes_in, x.rank(), op);
  if (axes.empty()) return unchanged(x, op);  // NOTE [ Ops that leave their input unchanged ]
  if (axes.size() == 1) return reduce_one_axis(x, axes[0], keepdims);
  std::vector<int> perm;
  Shape merged;
  std::int64_t n = 1;
  for (int i = 0; i < x.rank(); ++i)
    if (!std::binary_search(axes.begin(), axes.end(), i)) {
      perm.push_back(i);
      merged.push_back(x.shape()[i]);
    }
  for (int a : axes) {
    perm.push_back(a);
    n *= x.shape()[a];
  }
  merged.push_back(n);
  const Tensor<T> y =
      reduce_one_axis(reshape(transpose(x, perm.data()), merged), merged.rank() - 1, false);
  return keepdims ? reshape(y, keep_axes_shape(x.shape(), axes)) : y;
}

// ---- prod ----

template <class T>
Tensor<T> prod(const Tensor<T>& x, int axis, bool keepdims);

// attrs.ints[0]: axis (-1 for all), attrs.ints[1]: keepdims.
// d prod / dx_i is the product of the other elements. Where no element is 0 (and no product
// under- or overflowed) that is prod / x_i, an expression of recorded ops, so an outer tape
// differentiates it. Otherwise the products of the others are formed directly (prefix times
// suffix), and an outer tape that tries to differentiate them gets a tape_error instead of
// a wrong answer.
template <class T>
void prod_others_backward(const Entry&, ImplRef&&, const bool*, ImplRef*) {
  detail::fail<tape_error>(
      "prod: the second derivative at inputs that contain 0 is not provided (first "
      "derivatives there are exact)");
}

template <class T>
void prod_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const Tensor<T>& x = e.saved[0].get<T>();
  const Tensor<T>& y = e.saved[1].get<T>();
  const int axis = static_cast<int>(e.attrs.ints[0]);
  const ReductionLayout l = reduction_layout(x.shape(), axis);
  const Tensor<T> grad = detail::reshape(Tensor<T>(std::move(g)), l.keep);
  // y / x is exact enough only where no product under- or overflowed.
  const bool quotient_ok = !(x.array() == T(0)).any() &&
                           (y.array().abs() >= std::numeric_limits<T>::min()).all() &&
                           y.array().isFinite().all();
  if (quotient_ok) {
    dx[0] = (grad * (detail::reshape(y, l.keep) / x)).take_impl();
    return;
  }
  Tensor<T> others(uninitialized, x.shape());
  const T* px = x.data();
  T* po = others.mutable_data();
  for (std::int64_t o = 0; o < l.outer; ++o)
    for (std::int64_t i = 0; i < l.inner; ++i) {
      auto at = [&](std::int64_t k) { return (o * l.n + k) * l.inner + i; };
      T prefix = 1;
      for (std::int64_t k = 0; k < l.n; ++k) {
        po[at(k)] = prefix;
        prefix *= px[at(k)];
      }
      T suffix = 1;
      for (std::int64_t k = l.n - 1; k >= 0; --k) {
        po[at(k)] *= suffix;
        suffix *= px[at(k)];
      }
    }
  if (any_tape_recording())
    record(others.impl(), TAPEGRAD_LEGACY_OP("prod_others", reduction, 1, &prod_others_backward<T>),
           {&x.impl()}, {});
  dx[0] = (grad * others).take_impl();
}

template <class T>
Tensor<T> prod(const Tensor<T>& x, int axis, bool keepdims) {
  const ReductionLayout l = reduction_layout(x.shape(), axis);
  Tensor<T> y(uninitialized, reduced_shape(x.shape(), axis, keepdims));
  const T* px = x.data();
  T* py = y.mutable_data();
  for (std::int64_t o = 0; o < l.outer; ++o)
    for (std::int64_t i = 0; i < l.inner; ++i) {
      T p = 1;
      for (std::int64_t k = 0; k < l.n; ++k) p *= px[(o * l.n + k) * l.inner + i];
      py[o * l.inner + i] = p;
    }
  if (any_tape_recording()) {
    OpAttrs attrs;
    attrs.ints[0] = axis;
    attrs.ints[1] = keepdims;
    record(y.impl(), TAPEGRAD_LEGACY_OP("prod", reduction, 1, &prod_backward<T>), {&x.impl()},
           {&x.impl(), &y.impl()}, attrs);
  }
  return y;
}

// ---- argmax / argmin ----

template <class T, bool IsMax>
Tensor<std::int64_t> arg_extreme(const Tensor<T>& x, int axis) {
  const ReductionLayout l = reduction_layout(x.shape(), axis);
  TAPEGRAD_CHECK(l.n != 0, shape_error, IsMax ? "argmax" : "argmin",
                 ": cannot reduce an empty axis (", x.shape(), ")");
  Tensor<std::int64_t> y(uninitialized, reduced_shape(x.shape(), axis, false));
  const T* px = x.data();
  std::int64_t* py = y.mutable_data();
  for (std::int64_t o = 0; o < l.outer; ++o)
    for (std::int64_t i = 0; i < l.inner; ++i) {
      std::int64_t best = 0;
      T value = px[o * l.n * l.inner + i];
      for (std::int64_t k = 1; k < l.n && !std::isnan(value); ++k) {
        const T v = px[(o * l.n + k) * l.inner + i];
        if ((IsMax ? v > value : v < value) || std::isnan(v)) {
          value = v;
          best = k;
        }
      }
      py[o * l.inner + i] = best;
    }
  return y;
}

// ---- Euclidean norm ----

// attrs.ints[0]: axis (-1 for all), attrs.ints[1]: keepdims. d|x|/dx = x / |x|, taken as 0
// where |x| = 0 (the subgradient TensorFlow's users expect from a norm penalty). The
// division is by where(|x| > 0, |x|, 1), so that no branch of the where is NaN and the
// second derivative at 0 is finite too.
template <class T>
void euclidean_norm_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const Tensor<T>& x = e.saved[0].get<T>();
  const Tensor<T>& y = e.saved[1].get<T>();
  const Shape keep = reduction_layout(x.shape(), static_cast<int>(e.attrs.ints[0])).keep;
  const Tensor<T> y_kept = detail::reshape(y, keep);
  Tensor<bool> positive(uninitialized, keep);
  positive.mutable_array() = y_kept.array() > T(0);
  const Tensor<T> one(T(1)), zero(T(0));
  const Tensor<T> safe = detail::where(positive, y_kept, one);
  dx[0] = (detail::reshape(Tensor<T>(std::move(g)), keep) * detail::where(positive, x / safe, zero))
              .take_impl();
}

template <class T>
Tensor<T> euclidean_norm(const Tensor<T>& x, int axis, bool keepdims) {
  const ReductionLayout l = reduction_layout(x.shape(), axis);
  Tensor<T> y(uninitialized, reduced_shape(x.shape(), axis, keepdims));
  const T* px = x.data();
  T* py = y.mutable_data();
  for (std::int64_t o = 0; o < l.outer; ++o)
    for (std::int64_t i = 0; i < l.inner; ++i) {
      // Scaled by the largest magnitude, so that squares neither overflow nor underflow.
      T scale = 0;
      for (std::int64_t k = 0; k < l.n; ++k)
        scale = std::max(scale, std::abs(px[(o * l.n + k) * l.inner + i]));
      T total = 0;
      if (scale > 0 && std::isfinite(scale))
        for (std::int64_t k = 0; k < l.n; ++k) {
          const T v = px[(o * l.n + k) * l.inner + i] / scale;
          total += v * v;
        }
      T result = scale > 0 && std::isfinite(scale) ? scale * std::sqrt(total) : scale;
      for (std::int64_t k = 0; k < l.n; ++k)
        if (std::isnan(px[(o * l.n + k) * l.inner + i])) result = px[(o * l.n + k) * l.inner + i];
      py[o * l.inner + i] = result;
    }
  if (any_tape_recording()) {
    OpAttrs attrs;
    attrs.ints[0] = axis;
    attrs.ints[1] = keepdims;
    record(y.impl(), TAPEGRAD_LEGACY_OP("norm", reduction, 1, &euclidean_norm_backward<T>),
           {&x.impl()}, {&x.impl(), &y.impl()}, attrs);
  }
  return y;
}

}  // namespace detail

// ---- several axes ----

/// Sums over several axes (duplicates ignored, an empty list reduces nothing).
///   auto per_channel = tapegrad::sum(images, {0, 1, 2});   // NHWC -> [C]
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> sum(const X& x, const std::vector<int>& axes, bool keepdims = false,
                                 SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  const auto& t = detail::arg(x, "sum");
  return detail::reduce_axes(t, axes, keepdims, "sum", [](const Tensor<T>& v, int a, bool k) {
    return detail::sum(v, a, k);
  });
}
/// Means over several axes.   auto m = tapegrad::mean(images, {1, 2}, true);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> mean(const X& x, const std::vector<int>& axes, bool keepdims = false,
                                  SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  const auto& t = detail::arg(x, "mean");
  std::int64_t count = 1;
  for (int a : detail::normalize_axes(axes, t.rank(), "mean")) count *= t.shape()[a];
  return sum(t, axes, keepdims) / static_cast<T>(count);
}
/// The largest (smallest) elements over several axes; ties share the gradient evenly.
///   auto m = tapegrad::max(x, {1, 2});
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> max(const X& x, const std::vector<int>& axes, bool keepdims = false,
                                 SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  return detail::reduce_axes(
      detail::arg(x, "max"), axes, keepdims, "max",
      [](const Tensor<T>& v, int a, bool k) { return detail::extreme<T, true>(v, a, k); });
}
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> min(const X& x, const std::vector<int>& axes, bool keepdims = false,
                                 SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  return detail::reduce_axes(
      detail::arg(x, "min"), axes, keepdims, "min",
      [](const Tensor<T>& v, int a, bool k) { return detail::extreme<T, false>(v, a, k); });
}
/// logsumexp over several axes.   auto lse = tapegrad::logsumexp(x, {1, 2});
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> logsumexp(const X& x, const std::vector<int>& axes,
                                       bool keepdims = false,
                                       SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  return detail::reduce_axes(
      detail::arg(x, "logsumexp"), axes, keepdims, "logsumexp",
      [](const Tensor<T>& v, int a, bool k) { return detail::logsumexp(v, a, k); });
}

// ---- prod ----

/// The product of all elements (0-d), over one axis, or over several. Its gradient is the
/// product of the other elements, exact also where inputs are 0; a second derivative there
/// throws tape_error.   auto p = tapegrad::prod(x, 1);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> prod(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::prod(detail::arg(x, "prod"), -1, false);
}
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> prod(const X& x, int axis, bool keepdims = false,
                                  SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "prod");
  return detail::prod(t, normalize_axis("prod", axis, t.rank()), keepdims);
}
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> prod(const X& x, const std::vector<int>& axes, bool keepdims = false,
                                  SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  return detail::reduce_axes(
      detail::arg(x, "prod"), axes, keepdims, "prod",
      [](const Tensor<T>& v, int a, bool k) { return detail::prod(v, a, k); });
}

// ---- argmax / argmin ----

/// The index of the largest (smallest) element along `axis`, the first on ties, a NaN if any
/// (as NumPy); not differentiable. The axis is required: TensorFlow's default is 0, NumPy's
/// and PyTorch's flatten, and a silent guess would be wrong for someone.
///   auto predicted = tapegrad::argmax(logits, -1);
template <class X, std::enable_if_t<detail::is_tensor_like_v<X>, int> = 0>
Tensor<std::int64_t> argmax(const X& x, int axis,
                            SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "argmax");
  TAPEGRAD_CHECK(t.rank() != 0, shape_error, "argmax: needs a tensor of rank >= 1, got shape []");
  return detail::arg_extreme<detail::element_t<X>, true>(t,
                                                         normalize_axis("argmax", axis, t.rank()));
}
template <class X, std::enable_if_t<detail::is_tensor_like_v<X>, int> = 0>
Tensor<std::int64_t> argmin(const X& x, int axis,
                            SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "argmin");
  TAPEGRAD_CHECK(t.rank() != 0, shape_error, "argmin: needs a tensor of rank >= 1, got shape []");
  return detail::arg_extreme<detail::element_t<X>, false>(t,
                                                          normalize_axis("argmin", axis, t.rank()));
}

// ---- norms and variance ----

namespace detail {
template <class T>
Tensor<T> vector_norm(const Tensor<T>& x, double ord, int axis, bool keepdims) {
  if (ord == 2) return euclidean_norm(x, axis, keepdims);
  if (ord == 1) return detail::sum(abs(x), axis, keepdims);
  if (std::isinf(ord) && ord > 0) return extreme<T, true>(abs(x), axis, keepdims);
  detail::fail<value_error>("norm: ord must be 1, 2 or inf, got ", ord);
}
}  // namespace detail

/// The vector norm of all elements (ord 1, 2 or inf) as a 0-d tensor; its gradient at 0 is
/// 0 (abs'(0) = 0, and x/|x| taken as 0 at x = 0).   auto penalty = tapegrad::norm(w);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> norm(const X& x, double ord = 2,
                                  SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::vector_norm(detail::arg(x, "norm"), ord, -1, false);
}
/// The vector norm along one axis.   auto lengths = tapegrad::norm(vectors, 2, -1);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> norm(const X& x, double ord, int axis, bool keepdims = false,
                                  SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "norm");
  return detail::vector_norm(t, ord, normalize_axis("norm", axis, t.rank()), keepdims);
}

/// The (biased, divide-by-n) variance of all elements, or along one axis, computed in two
/// passes about the mean.   auto v = tapegrad::variance(x, 0);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> variance(const X& x,
                                      SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "variance");
  return mean(square(t - mean(t)));
}
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> variance(const X& x, int axis, bool keepdims = false,
                                      SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "variance");
  const int a = normalize_axis("variance", axis, t.rank());
  return mean(square(t - mean(t, a, true)), a, keepdims);
}

// Braced axis lists pick these: sum(x, {0, 2}), and sum(x, {}) reduces nothing.
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> sum(const X& x, std::initializer_list<int> axes, bool keepdims = false,
                                 SourceLocation where = SourceLocation::current()) {
  return sum(x, std::vector<int>(axes), keepdims, where);
}
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> mean(const X& x, std::initializer_list<int> axes,
                                  bool keepdims = false,
                                  SourceLocation where = SourceLocation::current()) {
  return mean(x, std::vector<int>(axes), keepdims, where);
}
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> max(const X& x, std::initializer_list<int> axes, bool keepdims = false,
                                 SourceLocation where = SourceLocation::current()) {
  return max(x, std::vector<int>(axes), keepdims, where);
}
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> min(const X& x, std::initializer_list<int> axes, bool keepdims = false,
                                 SourceLocation where = SourceLocation::current()) {
  return min(x, std::vector<int>(axes), keepdims, where);
}
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> logsumexp(const X& x, std::initializer_list<int> axes,
                                       bool keepdims = false,
                                       SourceLocation where = SourceLocation::current()) {
  return logsumexp(x, std::vector<int>(axes), keepdims, where);
}
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> prod(const X& x, std::initializer_list<int> axes,
                                  bool keepdims = false,
                                  SourceLocation where = SourceLocation::current()) {
  return prod(x, std::vector<int>(axes), keepdims, where);
}

}  // namespace tapegrad
