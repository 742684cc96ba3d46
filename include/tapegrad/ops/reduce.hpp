#pragma once

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
