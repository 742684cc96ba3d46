#pragma once

#include <algorithm>
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
void sum_to_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  dx[0] = broadcast_to(Tensor<T>(std::move(g)), e.saved[0]->shape).take_impl();
}
template <class T>
void broadcast_to_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  dx[0] = sum_to(Tensor<T>(std::move(g)), e.saved[0]->shape).take_impl();
}
template <class T>
void reshape_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  dx[0] = reshape(Tensor<T>(std::move(g)), e.saved[0]->shape).take_impl();
}

/// The sum of x over the axes along which `shape` broadcasts to x's shape, with result
/// shape `shape`: the adjoint of broadcast_to.
template <class T>
Tensor<T> sum_to(const Tensor<T>& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  TAPEGRAD_CHECK(broadcasts_to(shape, x.shape()), shape_error, "sum_to: shape ", shape,
                 " does not broadcast to the input shape ", x.shape());
  Tensor<T> y = sum_to_kernel(x, shape);
  if (any_tape_recording())
    record(y.impl(), TAPEGRAD_LEGACY_OP("sum_to", shape, 1, &sum_to_backward<T>), {&x.impl()},
           {&x.impl()});
  return y;
}

template <class T>
Tensor<T> broadcast_to(const Tensor<T>& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  TAPEGRAD_CHECK(broadcasts_to(x.shape(), shape), shape_error,
                 "broadcast_to: cannot broadcast shape ", x.shape(), " to ", shape);
  Tensor<T> y = broadcast_kernel(x, shape);
  if (any_tape_recording())
    record(y.impl(), TAPEGRAD_LEGACY_OP("broadcast_to", shape, 1, &broadcast_to_backward<T>),
           {&x.impl()}, {&x.impl()});
  return y;
}

template <class T>
Tensor<T> reshape(const Tensor<T>& x, const Shape& shape) {
  TAPEGRAD_CHECK(shape.size() == x.size(), shape_error, "reshape: cannot reshape ", x.shape(), " (",
                 x.size(), " elements) to ", shape, " (", shape.size(), " elements)");
  Tensor<T> y(ImplRef::adopt(allocate_alias(x.impl().get(), shape)));
  if (any_tape_recording())
    record(y.impl(), TAPEGRAD_LEGACY_OP("reshape", shape, 1, &reshape_backward<T>), {&x.impl()},
           {&x.impl()});
  return y;
}

// NOTE [ Ops that leave their input unchanged ]
// broadcast_to to the same shape, tile by ones, a reduction over no axes, a cast to the same
// type and dropout when not training compute nothing, but must still return a new tensor:
// were it x itself, a tape paused by stop_recording() or reset() since would take the result
// for x and let a gradient through where TensorFlow, whose ops always make a new tensor,
// gives None. The result shares x's elements and records an identity op under the op's name.
template <class T>
Tensor<T> unchanged(const Tensor<T>& x, const char* op) {
  Tensor<T> y(ImplRef::adopt(allocate_alias(x.impl().get(), x.shape())));
  if constexpr (is_differentiable_v<T>) {
    if (any_tape_recording()) record(y.impl(), identity_op_named(op), {&x.impl()}, {});
  }
  return y;
}

inline Shape insert_axis(const Shape& shape, int axis, std::int64_t n) {
  Shape out;
  for (int i = 0; i < axis; ++i) out.push_back(shape[i]);
  out.push_back(n);
  for (int i = axis; i < shape.rank(); ++i) out.push_back(shape[i]);
  return out;
}
inline Shape remove_axis(const Shape& shape, int axis) {
  Shape out;
  for (int i = 0; i < shape.rank(); ++i)
    if (i != axis) out.push_back(shape[i]);
  return out;
}
/// Elements before and after `axis` in row-major order: shape = [outer, shape[axis], inner].
inline std::int64_t elements_before(const Shape& shape, int axis) {
  std::int64_t n = 1;
  for (int i = 0; i < axis; ++i) n *= shape[i];
  return n;
}
inline std::int64_t elements_after(const Shape& shape, int axis) {
  std::int64_t n = 1;
  for (int i = axis + 1; i < shape.rank(); ++i) n *= shape[i];
  return n;
}

template <class T>
Tensor<T> take(const Tensor<T>& x, int axis, std::int64_t index);
template <class T>
Tensor<T> embed(const Tensor<T>& x, int axis, std::int64_t index, std::int64_t n);

// attrs.ints[0]: axis, attrs.ints[1]: index, attrs.scalar: the length n of the axis.
template <class T>
void take_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  dx[0] = embed(Tensor<T>(std::move(g)), static_cast<int>(e.attrs.ints[0]), e.attrs.ints[1],
                static_cast<std::int64_t>(e.attrs.scalar))
              .take_impl();
}
template <class T>
void embed_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  dx[0] =
      take(Tensor<T>(std::move(g)), static_cast<int>(e.attrs.ints[0]), e.attrs.ints[1]).take_impl();
}

/// The slice of x at `index` along `axis`, with that axis removed.
template <class T>
Tensor<T> take(const Tensor<T>& x, int axis, std::int64_t index) {
  const Shape& s = x.shape();
  const std::int64_t n = s[axis], outer = elements_before(s, axis), inner = elements_after(s, axis);
  Tensor<T> y(uninitialized, remove_axis(s, axis));
  for (std::int64_t o = 0; o < outer; ++o)
    std::copy_n(x.data() + (o * n + index) * inner, inner, y.mutable_data() + o * inner);
  if (any_tape_recording()) {
    OpAttrs attrs;
    attrs.ints[0] = axis;
    attrs.ints[1] = index;
    attrs.scalar = static_cast<double>(n);
    record(y.impl(), TAPEGRAD_LEGACY_OP("take", shape, 1, &take_backward<T>), {&x.impl()}, {},
           attrs);
  }
  return y;
}

/// Zeros with a new axis of length n at `axis`, holding x at `index`: the adjoint of take.
template <class T>
Tensor<T> embed(const Tensor<T>& x, int axis, std::int64_t index, std::int64_t n) {
  const Shape shape = insert_axis(x.shape(), axis, n);
  const std::int64_t outer = elements_before(shape, axis), inner = elements_after(shape, axis);
  Tensor<T> y(shape, T(0));
  for (std::int64_t o = 0; o < outer; ++o)
    std::copy_n(x.data() + o * inner, inner, y.mutable_data() + (o * n + index) * inner);
  if (any_tape_recording()) {
    OpAttrs attrs;
    attrs.ints[0] = axis;
    attrs.ints[1] = index;
    record(y.impl(), TAPEGRAD_LEGACY_OP("embed", shape, 1, &embed_backward<T>), {&x.impl()}, {},
           attrs);
  }
  return y;
}

// attrs.ints[0]: axis.
template <class T>
void stack_backward(const Entry& e, ImplRef&& g, const bool* needs, ImplRef* dx) {
  const Tensor<T> grad(std::move(g));
  for (std::uint32_t k = 0; k < e.n_inputs; ++k)
    if (needs[k]) dx[k] = take(grad, static_cast<int>(e.attrs.ints[0]), k).take_impl();
}

template <class T>
Tensor<T> stack(const std::vector<Tensor<T>>& xs, int axis) {
  TAPEGRAD_CHECK(!xs.empty(), value_error, "stack: needs at least one tensor");
  const Shape& s = xs[0].shape();
  for (std::size_t k = 1; k < xs.size(); ++k)
    TAPEGRAD_CHECK(xs[k].shape() == s, shape_error,
                   "stack: all tensors must have the same shape, got ", s, " and ", xs[k].shape(),
                   " (tensor ", k, ")");
  TAPEGRAD_CHECK(s.rank() != Shape::max_rank, shape_error, "stack: ", s,
                 " already has the maximum rank ", Shape::max_rank);
  axis = normalize_axis("stack", axis, s.rank() + 1);
  const auto n = static_cast<std::int64_t>(xs.size());
  const Shape shape = insert_axis(s, axis, n);
  const std::int64_t outer = elements_before(shape, axis), inner = elements_after(shape, axis);
  Tensor<T> y(uninitialized, shape);
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t k = 0; k < n; ++k)
      std::copy_n(xs[static_cast<std::size_t>(k)].data() + o * inner, inner,
                  y.mutable_data() + (o * n + k) * inner);
  if (any_tape_recording()) {
    std::vector<const ImplRef*> inputs;
    inputs.reserve(xs.size());
    for (const auto& x : xs) inputs.push_back(&x.impl());
    OpAttrs attrs;
    attrs.ints[0] = axis;
    record(y.impl(), TAPEGRAD_LEGACY_OP("stack", shape, -1, &stack_backward<T>), inputs.data(),
           inputs.size(), nullptr, 0, attrs);
  }
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
      detail::fail<shape_error>("reshape: bad target dimension ", dims[i],
                                " (only one -1 is allowed, other dimensions must be >= 0)");
    } else if (__builtin_mul_overflow(known, dims[i], &known)) {
      detail::fail<shape_error>("reshape: the target dimensions multiply past 2^63 - 1");
    }
  }
  std::vector<std::int64_t> out = dims;
  if (unknown >= 0) {
    TAPEGRAD_CHECK(!(known == 0 || size % known != 0), shape_error, "reshape: cannot reshape ",
                   from, " (", size, " elements) to a shape with -1 and ", known,
                   " known elements");
    out[static_cast<std::size_t>(unknown)] = size / known;
  }
  return Shape(out.begin(), out.end());
}

}  // namespace detail

/// The same elements under another shape (no copy); one dimension may be -1.
///   auto m = tapegrad::reshape(x, {2, -1});
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> reshape(const X& x, const std::vector<std::int64_t>& dims,
                                     SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "reshape");
  return detail::reshape(t, detail::resolve_shape(dims, t.size(), t.shape()));
}

/// x repeated along size-1 (or missing leading) axes to fill `shape`, NumPy style.
///   auto m = tapegrad::broadcast_to(row, {4, 3});
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> broadcast_to(const X& x, const Shape& shape,
                                          SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "broadcast_to");
  if (t.shape() == shape) return detail::unchanged(t, "broadcast_to");
  return detail::broadcast_to(t, shape);
}

/// Joins tensors of one shape along a new axis.
///   auto m = tapegrad::stack({a, b, c}, 0);   // three [n] tensors -> [3, n]
template <class T>
Tensor<T> stack(const std::vector<Tensor<T>>& xs, int axis = 0,
                SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  static_assert(is_differentiable_v<T>, "stack: needs float or double tensors");
  for (const auto& x : xs) detail::arg(x, "stack");
  return detail::stack(xs, axis);
}

template <class T>
Tensor<T> stack(std::initializer_list<Tensor<T>> xs, int axis = 0,
                SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return stack(std::vector<Tensor<T>>(xs), axis);
}

/// Sums x down to `shape`, which must broadcast to x's shape: the adjoint of broadcast_to.
///   auto col = tapegrad::sum_to(m, {4, 1});
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> sum_to(const X& x, const Shape& shape,
                                    SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "sum_to");
  if (t.shape() == shape) return detail::unchanged(t, "sum_to");
  return detail::sum_to(t, shape);
}

}  // namespace tapegrad

namespace tapegrad {
namespace detail {

// A permutation of up to 8 axes, packed four bits per axis into one OpAttrs integer.
inline std::int64_t pack_permutation(const int* perm, int rank) {
  std::int64_t packed = 0;
  for (int i = 0; i < rank; ++i) packed |= static_cast<std::int64_t>(perm[i]) << (4 * i);
  return packed;
}
inline void unpack_permutation(std::int64_t packed, int rank, int* perm) {
  for (int i = 0; i < rank; ++i) perm[i] = static_cast<int>((packed >> (4 * i)) & 0xF);
}

template <class T>
Tensor<T> transpose(const Tensor<T>& x, const int* perm);

template <class T>
void transpose_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const int rank = static_cast<int>(e.attrs.ints[1]);
  int perm[Shape::max_rank], inverse[Shape::max_rank];
  unpack_permutation(e.attrs.ints[0], rank, perm);
  for (int i = 0; i < rank; ++i) inverse[perm[i]] = i;
  dx[0] = transpose(Tensor<T>(std::move(g)), inverse).take_impl();
}

/// y[i0, ..., ik] = x[...] with y's axis i being x's axis perm[i]; perm is valid.
template <class T>
Tensor<T> transpose(const Tensor<T>& x, const int* perm) {
  const Shape& s = x.shape();
  const int rank = s.rank();
  std::int64_t x_strides[Shape::max_rank] = {}, read_strides[Shape::max_rank] = {},
               unused[Shape::max_rank] = {};
  Shape shape;
  std::int64_t stride = 1;
  for (int i = rank - 1; i >= 0; --i) {
    x_strides[i] = stride;
    stride *= s[i];
  }
  for (int i = 0; i < rank; ++i) {
    shape.push_back(s[perm[i]]);
    read_strides[i] = x_strides[perm[i]];
  }
  Tensor<T> y(uninitialized, shape);
  const T* px = x.data();
  T* py = y.mutable_data();
  const std::int64_t step = rank ? read_strides[rank - 1] : 1;
  for_each_row(shape, read_strides, unused,
               [&](std::int64_t out, std::int64_t in, std::int64_t, std::int64_t length) {
                 for (std::int64_t k = 0; k < length; ++k) py[out + k] = px[in + k * step];
               });
  if (any_tape_recording()) {
    OpAttrs attrs;
    attrs.ints[0] = pack_permutation(perm, rank);
    attrs.ints[1] = rank;
    record(y.impl(), TAPEGRAD_LEGACY_OP("transpose", shape, 1, &transpose_backward<T>), {&x.impl()},
           {}, attrs);
  }
  return y;
}

}  // namespace detail

/// The axes of x reordered: axis i of the result is axis perm[i] of x (tf.transpose); with
/// no perm, the axes reversed.   auto t = tapegrad::transpose(m);   // [r, c] -> [c, r]
///   auto nchw = tapegrad::transpose(nhwc, {0, 3, 1, 2});
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> transpose(const X& x, const std::vector<int>& perm = {},
                                       SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "transpose");
  const int rank = t.rank();
  int p[Shape::max_rank];
  if (perm.empty()) {
    for (int i = 0; i < rank; ++i) p[i] = rank - 1 - i;
  } else {
    TAPEGRAD_CHECK(!(static_cast<int>(perm.size()) != rank), shape_error,
                   "transpose: a permutation of ", perm.size(), " axes for a tensor of shape ",
                   t.shape(), " (rank ", rank, ")");
    bool seen[Shape::max_rank] = {};
    for (int i = 0; i < rank; ++i) {
      p[i] = normalize_axis("transpose", perm[static_cast<std::size_t>(i)], rank);
      TAPEGRAD_CHECK(!seen[p[i]], shape_error, "transpose: axis ", p[i],
                     " appears twice in the permutation");
      seen[p[i]] = true;
    }
  }
  return detail::transpose(t, p);
}

/// x with a new axis of size 1 inserted at `axis` (-1 appends; no copy).
///   auto column = tapegrad::expand_dims(v, 1);   // [n] -> [n, 1]
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> expand_dims(const X& x, int axis,
                                         SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "expand_dims");
  TAPEGRAD_CHECK(t.rank() != Shape::max_rank, shape_error, "expand_dims: ", t.shape(),
                 " already has the maximum rank ", Shape::max_rank);
  const int a = normalize_axis("expand_dims", axis, t.rank() + 1);
  return detail::reshape(t, detail::insert_axis(t.shape(), a, 1));
}

/// x without its size-1 axes, or without the given ones, which must have size 1 (no copy).
///   auto v = tapegrad::squeeze(column);           // [n, 1] -> [n]
///   auto w = tapegrad::squeeze(x, {0});           // [1, 3, 1] -> [3, 1]
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> squeeze(const X& x, const std::vector<int>& axes = {},
                                     SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "squeeze");
  const Shape& s = t.shape();
  bool drop[Shape::max_rank] = {};
  for (int axis : axes) {
    const int a = normalize_axis("squeeze", axis, s.rank());
    TAPEGRAD_CHECK(s[a] == 1, shape_error, "squeeze: cannot squeeze axis ", a, " of shape ", s,
                   ": its size is ", s[a], ", expected 1");
    drop[a] = true;
  }
  Shape out;
  for (int i = 0; i < s.rank(); ++i)
    if (!(axes.empty() ? s[i] == 1 : drop[i])) out.push_back(s[i]);
  return detail::reshape(t, out);
}

/// x repeated multiples[i] times along each axis i (tf.tile); the gradient sums the copies.
///   auto t = tapegrad::tile(m, {2, 3});   // [r, c] -> [2r, 3c]
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> tile(const X& x, const std::vector<std::int64_t>& multiples,
                                  SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& input = detail::arg(x, "tile");
  Tensor<detail::element_t<X>> t = input;
  const int rank = t.rank();
  TAPEGRAD_CHECK(!(static_cast<int>(multiples.size()) != rank), shape_error,
                 "tile: ", multiples.size(), " multiples for a tensor of shape ", t.shape(),
                 ", expected one per axis");
  // Every multiple and the final shape are checked before any copy: tiling axis by axis, a
  // bad last multiple was found only after the others had built a huge tensor.
  Shape result = t.shape();
  bool any_copy = false;
  for (int a = 0; a < rank; ++a) {
    const std::int64_t m = multiples[static_cast<std::size_t>(a)];
    TAPEGRAD_CHECK(!(m < 0), shape_error, "tile: multiple ", m, " for axis ", a, " is negative");
    std::int64_t length = 0;
    TAPEGRAD_CHECK(!(__builtin_mul_overflow(m, result[a], &length)), shape_error, "tile: multiple ",
                   m, " of axis ", a, " of ", t.shape(), " gives a dimension beyond 2^63");
    result.set(a, length);  // throws when the element count overflows
    any_copy = any_copy || m != 1;
  }
  TAPEGRAD_CHECK(!(any_copy && rank == Shape::max_rank), shape_error, "tile: a tensor of rank ",
                 rank, " can only be tiled with multiples of 1 (needs one spare axis)");
  for (int a = 0; a < rank; ++a) {
    const std::int64_t m = multiples[static_cast<std::size_t>(a)];
    if (m == 1) continue;
    // One axis at a time: [.., d, ..] -> [.., 1, d, ..] -> broadcast [.., m, d, ..] -> [.., m d,
    // ..].
    const Shape s = t.shape();
    Shape widened = detail::insert_axis(s, a, m), tiled = s;
    tiled.set(a, result[a]);
    t = detail::reshape(
        detail::broadcast_to(detail::reshape(t, detail::insert_axis(s, a, 1)), widened), tiled);
  }
  if (t.impl().get() == input.impl().get()) return detail::unchanged(t, "tile");
  return t;
}

}  // namespace tapegrad
