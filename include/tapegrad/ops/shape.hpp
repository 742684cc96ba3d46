#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "tapegrad/detail/apply_op.hpp"

// Ops that change a tensor's shape: reshape (no copy), broadcast_to and its adjoint sum_to,
// which is how every broadcasting op returns a gradient of its input's shape.
namespace tapegrad {
namespace detail {

template <class T>
Tensor<T> broadcast_to(const Tensor<T>& x, const Shape& shape);
template <class T>
Tensor<T> reshape(const Tensor<T>& x, const Shape& shape);

template <class T>
void sum_to_backward(const Entry& e, const ImplRef& g, unsigned, ImplRef* dx) {
  dx[0] = broadcast_to(Tensor<T>(g), e.saved[0]->shape).impl();
}
template <class T>
void broadcast_to_backward(const Entry& e, const ImplRef& g, unsigned, ImplRef* dx) {
  dx[0] = sum_to(Tensor<T>(g), e.saved[0]->shape).impl();
}
template <class T>
void reshape_backward(const Entry& e, const ImplRef& g, unsigned, ImplRef* dx) {
  dx[0] = reshape(Tensor<T>(g), e.saved[0]->shape).impl();
}

/// The sum of x over the axes along which `shape` broadcasts to x's shape, with result
/// shape `shape`: the adjoint of broadcast_to.
template <class T>
Tensor<T> sum_to(const Tensor<T>& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  if (!broadcasts_to(shape, x.shape()))
    throw shape_error("sum_to: shape " + shape.str() + " does not broadcast to the input shape " +
                      x.shape().str());
  Tensor<T> y = sum_to_kernel(x, shape);
  if (any_tape_recording())
    record(y.impl(), "sum_to", &sum_to_backward<T>, {&x.impl()}, {&x.impl()});
  return y;
}

template <class T>
Tensor<T> broadcast_to(const Tensor<T>& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  if (!broadcasts_to(x.shape(), shape))
    throw shape_error("broadcast_to: cannot broadcast shape " + x.shape().str() + " to " +
                      shape.str());
  Tensor<T> y = broadcast_kernel(x, shape);
  if (any_tape_recording())
    record(y.impl(), "broadcast_to", &broadcast_to_backward<T>, {&x.impl()}, {&x.impl()});
  return y;
}

template <class T>
Tensor<T> reshape(const Tensor<T>& x, const Shape& shape) {
  if (shape.size() != x.size())
    throw shape_error("reshape: cannot reshape " + x.shape().str() + " (" +
                      std::to_string(x.size()) + " elements) to " + shape.str() + " (" +
                      std::to_string(shape.size()) + " elements)");
  Tensor<T> y(ImplRef::adopt(allocate_alias(x.impl().get(), shape)));
  if (any_tape_recording())
    record(y.impl(), "reshape", &reshape_backward<T>, {&x.impl()}, {&x.impl()});
  return y;
}

/// Resolves one -1 in `dims` so that the shape holds `size` elements.
inline Shape resolve_shape(const std::vector<std::int64_t>& dims, std::int64_t size,
                           const Shape& from) {
  std::int64_t known = 1;
  int unknown = -1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1 && unknown < 0) {
      unknown = static_cast<int>(i);
    } else if (dims[i] < 0) {
      throw shape_error("reshape: bad target dimension " + std::to_string(dims[i]) +
                        " (only one -1 is allowed, other dimensions must be >= 0)");
    } else {
      known *= dims[i];
    }
  }
  std::vector<std::int64_t> out = dims;
  if (unknown >= 0) {
    if (known == 0 || size % known != 0)
      throw shape_error("reshape: cannot reshape " + from.str() + " (" + std::to_string(size) +
                        " elements) to a shape with -1 and " + std::to_string(known) +
                        " known elements");
    out[static_cast<std::size_t>(unknown)] = size / known;
  }
  return Shape(out.begin(), out.end());
}

}  // namespace detail

/// The same elements under another shape (no copy); one dimension may be -1.
///   auto m = tapegrad::reshape(x, {2, -1});
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> reshape(const X& x, const std::vector<std::int64_t>& dims) {
  const auto& t = detail::arg(x, "reshape");
  return detail::reshape(t, detail::resolve_shape(dims, t.size(), t.shape()));
}

/// x repeated along size-1 (or missing leading) axes to fill `shape`, NumPy style.
///   auto m = tapegrad::broadcast_to(row, {4, 3});
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> broadcast_to(const X& x, const Shape& shape) {
  return detail::broadcast_to(detail::arg(x, "broadcast_to"), shape);
}

/// Sums x down to `shape`, which must broadcast to x's shape: the adjoint of broadcast_to.
///   auto col = tapegrad::sum_to(m, {4, 1});
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> sum_to(const X& x, const Shape& shape) {
  return detail::sum_to(detail::arg(x, "sum_to"), shape);
}

}  // namespace tapegrad
