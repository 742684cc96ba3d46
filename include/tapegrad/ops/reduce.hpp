#pragma once

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "tapegrad/axes.hpp"
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

// The reduction family's definitions (NOTE [ Ops as data ]). A reduction's JVP is computed
// without keepdims and then given the output's shape, which has the same elements.

template <class T>
Tensor<T> sum(const Tensor<T>& x, int axis, bool keepdims);

/// The sum of x over `axis` (all elements when axis < 0), into `py`.
template <class T>
void sum_into(const Tensor<T>& x, int axis, T* py) {
  if (axis < 0)
    py[0] = detail::sum_in_fixed_order(x.elements(), x.size());
  else
    sum_to_into(x, keepdims_shape(x.shape(), axis), py);
}

/// The tangent of a reduction: `reduce` (over the axis, without keepdims) of the tangent
/// `t`, shaped like the output.
template <class T, class F>
ImplRef reduction_tangent(const ImplRef& y, F reduce) {
  Tensor<T> r = reduce();
  if (r.shape() != y->shape()) r = reshape(r, y->shape());
  return std::move(r).take_impl();
}

template <class T>
void sum_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const Shape& input_shape = e.saved(0)->shape();
  Tensor<T> grad(std::move(g));
  const auto [axis, keepdims] = e.attrs().as<ReduceAttrs>();
  if (axis >= 0 && !keepdims) grad = reshape(grad, keepdims_shape(input_shape, axis));
  give(dx[0], broadcast_to(grad, input_shape));
}
template <class T>
void sum_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  sum_into(Tensor<T>(*inputs[0]), args.as<ReduceAttrs>().axis, static_cast<T*>(out.data));
}
template <class T>
ImplRef sum_jvp(const OpArgs& args, const ImplRef* const*, const ImplRef& y,
                const ImplRef* const* t) {
  if (!*t[0]) return {};
  const int axis = args.as<ReduceAttrs>().axis;
  return reduction_tangent<T>(y, [&] { return sum(Tensor<T>(*t[0]), axis, false); });
}
template <class T>
inline constexpr OpDefinition sum_op{"sum",           OpFamily::reduction, 1, &sum_backward<T>,
                                     &sum_forward<T>, &sum_jvp<T>};

template <class T>
Tensor<T> sum(const Tensor<T>& x, int axis, bool keepdims) {
  Tensor<T> y(uninitialized, axis < 0   ? Shape{}
                             : keepdims ? keepdims_shape(x.shape(), axis)
                                        : remove_axis(x.shape(), axis));
  sum_into(x, axis, y.mutable_data());
  if (any_tape_recording())
    record_reading_shape(y.impl(), sum_op<T>, x.impl(), OpAttrs::of(ReduceAttrs{axis, keepdims}));
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

// The gradient of max/min goes to the elements equal to the result, split evenly between
// ties (TensorFlow's convention). Which elements those are does not change under a small
// perturbation, so the weights are constants to an outer tape.
// Inputs x and y with the reduced axes kept.
template <class T>
void extreme_weights_forward(const OpArgs&, const ImplRef* const* inputs, TensorImpl& out) {
  const Tensor<T> x(*inputs[0]);
  const Tensor<T> y(*inputs[1]);
  const Tensor<T> y_kept = broadcast_kernel(y, x.shape());
  MutableArrayMap<T> weights(static_cast<T*>(out.data), static_cast<Eigen::Index>(out.size()));
  weights = (x.element_array() == y_kept.element_array()).template cast<T>();
  const Tensor<T> ties =
      broadcast_kernel(sum_to_kernel(Tensor<T>(ImplRef::share(&out)), y.shape()), x.shape());
  weights /= ties.element_array();
}
/// The weights as an op with no gradient (NOTE [ Ops without a gradient ]).
template <class T>
inline constexpr OpDefinition extreme_weights_op{"extreme_weights", OpFamily::reduction, 2, nullptr,
                                                 &extreme_weights_forward<T>};
template <class T>
Tensor<T> extreme_weights(const Tensor<T>& x, const Tensor<T>& y, const Shape& keep) {
  const Tensor<T> y_kept = with_kept_axes(y, keep);
  return run_without_gradient<T>(extreme_weights_op<T>, {&x.impl(), &y_kept.impl()}, x.shape());
}

template <class T>
void extreme_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const Tensor<T>& x = e.saved(0).get<T>();
  const Shape keep = reduction_layout(x.shape(), e.attrs().as<ReduceAttrs>().axis).keep;
  const Tensor<T> weights = extreme_weights(x, e.saved(1).get<T>(), keep);
  give(dx[0], detail::reshape(Tensor<T>(std::move(g)), keep) * weights);
}

template <class T, bool IsMax>
void extreme_into(const T* px, const ReductionLayout& l, T* py) {
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
}

template <class T, bool IsMax>
void extreme_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const TensorImpl& x = *inputs[0]->get();
  extreme_into<T, IsMax>(static_cast<const T*>(x.data),
                         reduction_layout(x.shape(), args.as<ReduceAttrs>().axis),
                         static_cast<T*>(out.data));
}
template <class T>
ImplRef extreme_jvp(const OpArgs& args, const ImplRef* const* inputs, const ImplRef& y,
                    const ImplRef* const* t) {
  if (!*t[0]) return {};
  const Tensor<T> x(*inputs[0]);
  const int axis = args.as<ReduceAttrs>().axis;
  const Shape keep = reduction_layout(x.shape(), axis).keep;
  const Tensor<T> weights = extreme_weights(x, reshape(Tensor<T>(y), keep), keep);
  return reduction_tangent<T>(y, [&] { return sum(Tensor<T>(*t[0]) * weights, axis, false); });
}
template <class T, bool IsMax>
inline constexpr OpDefinition extreme_op{
    IsMax ? "max" : "min", OpFamily::reduction,        1,
    &extreme_backward<T>,  &extreme_forward<T, IsMax>, &extreme_jvp<T>};

template <class T, bool IsMax>
Tensor<T> extreme(const Tensor<T>& x, int axis, bool keepdims) {
  Tensor<T> y(uninitialized, reduced_shape(x.shape(), axis, keepdims));
  extreme_into<T, IsMax>(x.elements(), reduction_layout(x.shape(), axis), y.mutable_data());
  if (any_tape_recording())
    record(y.impl(), extreme_op<T, IsMax>, {&x.impl()}, {&x.impl(), &y.impl()},
           OpAttrs::of(ReduceAttrs{axis, keepdims}));
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

// ds = s * (g - sum(g s)) over the axis.
// It is self-adjoint, so the same text is its JVP.
template <class T>
Tensor<T> softmax_rule(const Tensor<T>& s, const Tensor<T>& g, int axis) {
  const Tensor<T> gs = g * s;
  return s * (g - detail::sum(gs, axis, true));
}
template <class T>
void softmax_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  give(dx[0],
       softmax_rule(e.saved(0).get<T>(), Tensor<T>(std::move(g)), e.attrs().as<AxisAttrs>().axis));
}
template <class T>
void softmax_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const TensorImpl& x = *inputs[0]->get();
  softmax_kernel(static_cast<const T*>(x.data), static_cast<T*>(out.data),
                 reduction_layout(x.shape(), args.as<AxisAttrs>().axis));
}
template <class T>
ImplRef softmax_jvp(const OpArgs& args, const ImplRef* const*, const ImplRef& y,
                    const ImplRef* const* t) {
  if (!*t[0]) return {};
  return softmax_rule(Tensor<T>(y), Tensor<T>(*t[0]), args.as<AxisAttrs>().axis).take_impl();
}
template <class T>
inline constexpr OpDefinition softmax_op{
    "softmax", OpFamily::reduction, 1, &softmax_backward<T>, &softmax_forward<T>, &softmax_jvp<T>};

template <class T>
Tensor<T> softmax(const Tensor<T>& x, int axis) {
  Tensor<T> s(uninitialized, x.shape());
  softmax_kernel(x.elements(), s.mutable_data(), reduction_layout(x.shape(), axis));
  if (any_tape_recording())
    record(s.impl(), softmax_op<T>, {&x.impl()}, {&s.impl()}, OpAttrs::of(AxisAttrs{axis}));
  return s;
}

// d/dx = softmax(x).
template <class T>
Tensor<T> softmax_over(const Tensor<T>& x, int axis) {
  return axis < 0 ? detail::reshape(softmax(detail::reshape(x, Shape{x.size()}), 0), x.shape())
                  : softmax(x, axis);
}
template <class T>
void logsumexp_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const Tensor<T>& x = e.saved(0).get<T>();
  const int axis = e.attrs().as<ReduceAttrs>().axis;
  const Shape keep = reduction_layout(x.shape(), axis).keep;
  give(dx[0], detail::reshape(Tensor<T>(std::move(g)), keep) * softmax_over(x, axis));
}

template <class T>
void logsumexp_into(const T* px, const ReductionLayout& l, T* py) {
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
}
template <class T>
void logsumexp_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const TensorImpl& x = *inputs[0]->get();
  logsumexp_into(static_cast<const T*>(x.data),
                 reduction_layout(x.shape(), args.as<ReduceAttrs>().axis),
                 static_cast<T*>(out.data));
}
template <class T>
ImplRef logsumexp_jvp(const OpArgs& args, const ImplRef* const* inputs, const ImplRef& y,
                      const ImplRef* const* t) {
  if (!*t[0]) return {};
  const int axis = args.as<ReduceAttrs>().axis;
  const Tensor<T> s = softmax_over(Tensor<T>(*inputs[0]), axis);
  return reduction_tangent<T>(y, [&] { return sum(Tensor<T>(*t[0]) * s, axis, false); });
}
template <class T>
inline constexpr OpDefinition logsumexp_op{
    "logsumexp",           OpFamily::reduction, 1, &logsumexp_backward<T>,
    &logsumexp_forward<T>, &logsumexp_jvp<T>};

template <class T>
Tensor<T> logsumexp(const Tensor<T>& x, int axis, bool keepdims) {
  Tensor<T> y(uninitialized, reduced_shape(x.shape(), axis, keepdims));
  logsumexp_into(x.elements(), reduction_layout(x.shape(), axis), y.mutable_data());
  if (any_tape_recording())
    record(y.impl(), logsumexp_op<T>, {&x.impl()}, {&x.impl()},
           OpAttrs::of(ReduceAttrs{axis, keepdims}));
  return y;
}

}  // namespace detail

namespace detail {
/// A reduction over one axis, reduce(x, axis, keepdims), where axis -1 means all elements. A
/// function pointer rather than a lambda's type, so that reduce_over<T> is one function the
/// precompiled part can hold (NOTE [ The precompiled part ]).
template <class T>
using ReduceOneAxis = Tensor<T> (*)(const Tensor<T>& x, int axis, bool keepdims);
template <class T>
Tensor<T> reduce_over(const Tensor<T>& x, const Axes& axes, bool keepdims, const char* op,
                      identity_t<ReduceOneAxis<T>> reduce_one_axis);
}  // namespace detail

/// The sum over `axes` (NOTE [ One axis type ]): all elements by default, one axis, or
/// several; keepdims keeps them with size 1.
///   auto total = tapegrad::sum(x);   auto row_sums = tapegrad::sum(m, 1);   // [r, c] -> [r]
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> sum(const X& x, const Axes& axes = all_axes, bool keepdims = false,
                                 SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  return detail::reduce_over(
      detail::arg(x, "sum"), axes, keepdims, "sum",
      [](const Tensor<T>& v, int a, bool k) { return detail::sum(v, a, k); });
}

/// The mean over `axes` (all elements by default); keepdims keeps them with size 1.
///   auto m = tapegrad::mean(x);   auto col_means = tapegrad::mean(m, 0);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> mean(const X& x, const Axes& axes = all_axes, bool keepdims = false,
                                  SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  const auto& t = detail::arg(x, "mean");
  std::int64_t count = 1;
  for (int a : axes.normalized("mean", t.rank())) count *= t.shape()[a];
  return sum(t, axes, keepdims) / static_cast<T>(count);
}

/// The largest elements over `axes` (all by default); ties share the gradient evenly; NaN
/// propagates.   auto m = tapegrad::max(x, 1);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> max(const X& x, const Axes& axes = all_axes, bool keepdims = false,
                                 SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  return detail::reduce_over(
      detail::arg(x, "max"), axes, keepdims, "max",
      [](const Tensor<T>& v, int a, bool k) { return detail::extreme<T, true>(v, a, k); });
}
/// The smallest elements over `axes` (all by default); ties share the gradient evenly.
///   auto m = tapegrad::min(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> min(const X& x, const Axes& axes = all_axes, bool keepdims = false,
                                 SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  return detail::reduce_over(
      detail::arg(x, "min"), axes, keepdims, "min",
      [](const Tensor<T>& v, int a, bool k) { return detail::extreme<T, false>(v, a, k); });
}

/// log(sum(exp(x))) over `axes` (all by default), computed after subtracting the maximum,
/// so it neither overflows nor underflows; logsumexp([1000, 1000]) = 1000 + log 2 with
/// gradient [0.5, 0.5], and all -inf inputs give -inf with a finite (uniform) gradient.
///   auto lse = tapegrad::logsumexp(logits, -1);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> logsumexp(const X& x, const Axes& axes = all_axes,
                                       bool keepdims = false,
                                       SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  return detail::reduce_over(
      detail::arg(x, "logsumexp"), axes, keepdims, "logsumexp",
      [](const Tensor<T>& v, int a, bool k) { return detail::logsumexp(v, a, k); });
}

}  // namespace tapegrad

// Reductions over several axes, prod, argmax/argmin, norms and variance.
namespace tapegrad {
namespace detail {

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
Tensor<T> reduce_axes(const Tensor<T>& x, const std::vector<int>& axes, bool keepdims,
                      const char* op, Reduce reduce_one_axis) {
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

/// A reduction over `axes` (NOTE [ One axis type ]), from its one-axis form
/// reduce_one_axis(x, axis, keepdims), where axis -1 means all elements.
template <class T>
Tensor<T> reduce_over(const Tensor<T>& x, const Axes& axes, bool keepdims, const char* op,
                      identity_t<ReduceOneAxis<T>> reduce_one_axis) {
  if (axes.all() && !keepdims) return reduce_one_axis(x, -1, false);
  return reduce_axes(x, axes.normalized(op, x.rank()), keepdims, op, reduce_one_axis);
}

// ---- prod ----

template <class T>
Tensor<T> prod(const Tensor<T>& x, int axis, bool keepdims);

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
/// The product of the other elements along the axis, for each element (prefix times suffix).
template <class T>
void prod_others_into(const T* px, const ReductionLayout& l, T* po) {
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
}
template <class T>
void prod_others_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const TensorImpl& x = *inputs[0]->get();
  prod_others_into(static_cast<const T*>(x.data),
                   reduction_layout(x.shape(), args.as<ReduceAttrs>().axis),
                   static_cast<T*>(out.data));
}
/// No JVP either: a tangent through it would be the second derivative it refuses.
template <class T>
inline constexpr OpDefinition prod_others_op{"prod_others", OpFamily::reduction, 1,
                                             &prod_others_backward<T>, &prod_others_forward<T>};

/// d prod / dx, shaped like x: y / x where that is exact, else the products of the others.
template <class T>
Tensor<T> prod_factor(const Tensor<T>& x, const Tensor<T>& y, int axis) {
  const ReductionLayout l = reduction_layout(x.shape(), axis);
  // y / x is exact enough only where no product under- or overflowed.
  // A decision on the host: the checked reads, so that a trace refuses to freeze it (inside a
  // backward step replayed whole it is made again at each replay).
  const bool quotient_ok = !(x.array() == T(0)).any() &&
                           (y.array().abs() >= std::numeric_limits<T>::min()).all() &&
                           y.array().isFinite().all();
  if (quotient_ok) return detail::reshape(y, l.keep) / x;
  Tensor<T> others(uninitialized, x.shape());
  prod_others_into(x.elements(), l, others.mutable_data());
  if (any_tape_recording())
    record(others.impl(), prod_others_op<T>, {&x.impl()}, {},
           OpAttrs::of(ReduceAttrs{axis, false}));
  return others;
}

template <class T>
void prod_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const Tensor<T>& x = e.saved(0).get<T>();
  const int axis = e.attrs().as<ReduceAttrs>().axis;
  const Shape keep = reduction_layout(x.shape(), axis).keep;
  give(dx[0],
       detail::reshape(Tensor<T>(std::move(g)), keep) * prod_factor(x, e.saved(1).get<T>(), axis));
}
template <class T>
void prod_into(const T* px, const ReductionLayout& l, T* py) {
  for (std::int64_t o = 0; o < l.outer; ++o)
    for (std::int64_t i = 0; i < l.inner; ++i) {
      T p = 1;
      for (std::int64_t k = 0; k < l.n; ++k) p *= px[(o * l.n + k) * l.inner + i];
      py[o * l.inner + i] = p;
    }
}
template <class T>
void prod_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const TensorImpl& x = *inputs[0]->get();
  prod_into(static_cast<const T*>(x.data), reduction_layout(x.shape(), args.as<ReduceAttrs>().axis),
            static_cast<T*>(out.data));
}
template <class T>
ImplRef prod_jvp(const OpArgs& args, const ImplRef* const* inputs, const ImplRef& y,
                 const ImplRef* const* t) {
  if (!*t[0]) return {};
  const Tensor<T> x(*inputs[0]);
  const int axis = args.as<ReduceAttrs>().axis;
  const Tensor<T> factor =
      prod_factor(x, detail::reshape(Tensor<T>(y), reduction_layout(x.shape(), axis).keep), axis);
  return reduction_tangent<T>(y, [&] { return sum(Tensor<T>(*t[0]) * factor, axis, false); });
}
template <class T>
inline constexpr OpDefinition prod_op{"prod",           OpFamily::reduction, 1, &prod_backward<T>,
                                      &prod_forward<T>, &prod_jvp<T>};

template <class T>
Tensor<T> prod(const Tensor<T>& x, int axis, bool keepdims) {
  Tensor<T> y(uninitialized, reduced_shape(x.shape(), axis, keepdims));
  prod_into(x.elements(), reduction_layout(x.shape(), axis), y.mutable_data());
  if (any_tape_recording())
    record(y.impl(), prod_op<T>, {&x.impl()}, {&x.impl(), &y.impl()},
           OpAttrs::of(ReduceAttrs{axis, keepdims}));
  return y;
}

// ---- argmax / argmin ----

/// argmax (IsMax) or argmin along attrs' axis, into `out` (NOTE [ Ops without a gradient ]).
template <class T, bool IsMax>
void arg_extreme_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const TensorImpl& x = *inputs[0]->get();
  const ReductionLayout l = reduction_layout(x.shape(), args.as<ReduceAttrs>().axis);
  const T* px = static_cast<const T*>(x.data);
  std::int64_t* py = static_cast<std::int64_t*>(out.data);
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
}
template <class T, bool IsMax>
inline constexpr OpDefinition arg_extreme_op{IsMax ? "argmax" : "argmin", OpFamily::reduction, 1,
                                             nullptr, &arg_extreme_forward<T, IsMax>};

template <class T, bool IsMax>
Tensor<std::int64_t> arg_extreme(const Tensor<T>& x, int axis) {
  const ReductionLayout l = reduction_layout(x.shape(), axis);
  TAPEGRAD_CHECK(l.n != 0, shape_error, IsMax ? "argmax" : "argmin",
                 ": cannot reduce an empty axis (", x.shape(), ")");
  return run_without_gradient<std::int64_t>(arg_extreme_op<T, IsMax>, {&x.impl()},
                                            reduced_shape(x.shape(), axis, false),
                                            OpAttrs::of(ReduceAttrs{axis, false}));
}

// ---- Euclidean norm ----

// d|x|/dx = x / |x|, taken as 0
// where |x| = 0 (the subgradient TensorFlow's users expect from a norm penalty). The
// division is by where(|x| > 0, |x|, 1), so that no branch of the where is NaN and the
// second derivative at 0 is finite too.
/// d|x|/dx shaped like x, given y = |x| with the reduced axes kept.
template <class T>
Tensor<T> norm_factor(const Tensor<T>& x, const Tensor<T>& y_kept) {
  const Tensor<T> one(T(1)), zero(T(0));
  const Tensor<bool> positive = compare<T, Greater>(y_kept, zero);
  const Tensor<T> safe = detail::where(positive, y_kept, one);
  return detail::where(positive, x / safe, zero);
}
template <class T>
void euclidean_norm_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const Tensor<T>& x = e.saved(0).get<T>();
  const Shape keep = reduction_layout(x.shape(), e.attrs().as<ReduceAttrs>().axis).keep;
  const Tensor<T> factor = norm_factor(x, detail::reshape(e.saved(1).get<T>(), keep));
  give(dx[0], detail::reshape(Tensor<T>(std::move(g)), keep) * factor);
}
template <class T>
void euclidean_norm_into(const T* px, const ReductionLayout& l, T* py) {
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
}
template <class T>
void euclidean_norm_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const TensorImpl& x = *inputs[0]->get();
  euclidean_norm_into(static_cast<const T*>(x.data),
                      reduction_layout(x.shape(), args.as<ReduceAttrs>().axis),
                      static_cast<T*>(out.data));
}
template <class T>
ImplRef euclidean_norm_jvp(const OpArgs& args, const ImplRef* const* inputs, const ImplRef& y,
                           const ImplRef* const* t) {
  if (!*t[0]) return {};
  const Tensor<T> x(*inputs[0]);
  const int axis = args.as<ReduceAttrs>().axis;
  const Tensor<T> factor =
      norm_factor(x, detail::reshape(Tensor<T>(y), reduction_layout(x.shape(), axis).keep));
  return reduction_tangent<T>(y, [&] { return sum(Tensor<T>(*t[0]) * factor, axis, false); });
}
template <class T>
inline constexpr OpDefinition euclidean_norm_op{"norm",
                                                OpFamily::reduction,
                                                1,
                                                &euclidean_norm_backward<T>,
                                                &euclidean_norm_forward<T>,
                                                &euclidean_norm_jvp<T>};

template <class T>
Tensor<T> euclidean_norm(const Tensor<T>& x, int axis, bool keepdims) {
  Tensor<T> y(uninitialized, reduced_shape(x.shape(), axis, keepdims));
  euclidean_norm_into(x.elements(), reduction_layout(x.shape(), axis), y.mutable_data());
  if (any_tape_recording())
    record(y.impl(), euclidean_norm_op<T>, {&x.impl()}, {&x.impl(), &y.impl()},
           OpAttrs::of(ReduceAttrs{axis, keepdims}));
  return y;
}

}  // namespace detail

// ---- prod ----

/// The product over `axes` (all elements by default). Its gradient is the product of the
/// other elements, exact also where inputs are 0; a second derivative there throws
/// tape_error.   auto p = tapegrad::prod(x, 1);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> prod(const X& x, const Axes& axes = all_axes, bool keepdims = false,
                                  SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  return detail::reduce_over(
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
Tensor<T> vector_norm(const Tensor<T>& x, NormOrder ord, const Axes& axes, bool keepdims) {
  const double p = ord.p;
  TAPEGRAD_CHECK(p == 1 || p == 2 || (std::isinf(p) && p > 0), value_error,
                 "norm: ord must be 1, 2 or inf, got ", p);
  if (p == 2)
    return reduce_over(x, axes, keepdims, "norm",
                       [](const Tensor<T>& v, int a, bool k) { return euclidean_norm(v, a, k); });
  if (p == 1)
    return reduce_over(abs(x), axes, keepdims, "norm",
                       [](const Tensor<T>& v, int a, bool k) { return detail::sum(v, a, k); });
  return reduce_over(abs(x), axes, keepdims, "norm",
                     [](const Tensor<T>& v, int a, bool k) { return extreme<T, true>(v, a, k); });
}
}  // namespace detail

/// The Euclidean norm over `axes` (all elements by default); its gradient at 0 is 0 (x/|x|
/// taken as 0 at x = 0).   auto penalty = tapegrad::norm(w);   auto lengths = tapegrad::norm(v,
/// -1);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> norm(const X& x, const Axes& axes = all_axes, bool keepdims = false,
                                  SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::vector_norm(detail::arg(x, "norm"), NormOrder(2), axes, keepdims);
}
/// The vector norm of order 1, 2 or inf over `axes` (all elements by default); abs'(0) = 0.
///   auto l1 = tapegrad::norm(w, tapegrad::NormOrder(1), -1);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> norm(const X& x, NormOrder ord, const Axes& axes = all_axes,
                                  bool keepdims = false,
                                  SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::vector_norm(detail::arg(x, "norm"), ord, axes, keepdims);
}

/// The (biased, divide-by-n) variance over `axes` (all elements by default), computed in two
/// passes about the mean.   auto v = tapegrad::variance(x, 0);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> variance(const X& x, const Axes& axes = all_axes,
                                      bool keepdims = false,
                                      SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "variance");
  (void)axes.normalized("variance", t.rank());  // so that a bad axis is named as variance's
  return mean(square(t - mean(t, axes, true)), axes, keepdims);
}

}  // namespace tapegrad
