#pragma once

#include <cstring>
#include <utility>

#include "tapegrad/detail/tensor_impl.hpp"
#include "tapegrad/tensor.hpp"

// What derivative rules share (NOTE [ Ops as data ]): putting a gradient into the slot a
// backward is given, and the tangents of linear and bilinear ops.
namespace tapegrad::detail {

/// Puts a gradient into its slot: the tensor itself into an empty slot, its elements into the
/// buffer a slot already holds (BackwardFn's destinations).
template <class T>
void give(ImplRef& slot, Tensor<T>&& value) {
  if (!slot) {
    slot = std::move(value).take_impl();
    return;
  }
  TAPEGRAD_ASSERT(slot->shape() == value.shape() && slot->dtype == dtype_of<T>());
  if (slot.get() != value.impl().get())
    std::memcpy(slot->data, value.elements(), static_cast<std::size_t>(value.size()) * sizeof(T));
}
/// The tensor a fused rule writes into: the slot's buffer, or a new one of `shape`.
template <class T>
Tensor<T> destination(ImplRef& slot, const Shape& shape) {
  if (slot) return Tensor<T>(std::move(slot));
  return Tensor<T>(uninitialized, shape);
}
template <class T>
Tensor<T> destination(ImplRef& slot, const TensorImpl& shaped_like) {
  if (slot) return Tensor<T>(std::move(slot));
  return Tensor<T>(uninitialized, shaped_like);
}

/// The tangent of a linear op of one input: `op` applied to the input's tangent (none: zero).
template <class T, class F>
ImplRef linear_jvp(const ImplRef* const* tangents, F op) {
  if (!*tangents[0]) return {};
  return op(Tensor<T>(*tangents[0])).take_impl();
}

/// The tangent of a bilinear op f(a, b): f(ta, b) + f(a, tb), each term where its tangent is
/// given.
template <class T, class F>
ImplRef bilinear_jvp(const ImplRef* const* inputs, const ImplRef* const* t, F f) {
  const Tensor<T> a(*inputs[0]), b(*inputs[1]);
  Tensor<T> sum;
  if (*t[0]) sum = f(Tensor<T>(*t[0]), b);
  if (*t[1]) {
    const Tensor<T> term = f(a, Tensor<T>(*t[1]));
    // operator+ is found at instantiation (ops/binary.hpp), which this header precedes.
    sum = sum.has_value() ? Tensor<T>(sum + term) : term;
  }
  return sum.has_value() ? std::move(sum).take_impl() : ImplRef();
}

}  // namespace tapegrad::detail
