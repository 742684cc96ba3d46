#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "tapegrad/axes.hpp"
#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/detail/elementwise.hpp"

// Ops that change a tensor's shape: reshape (no copy), broadcast_to and its adjoint sum_to,
// which is how every broadcasting op returns a gradient of its input's shape.
namespace tapegrad {
namespace detail {

template <class T>
Tensor<T> broadcast_to(const Tensor<T>& x, const Shape& shape);
template <class T>
Tensor<T> reshape(const Tensor<T>& x, const Shape& shape);

// The shape family's definitions (NOTE [ Ops as data ]). Each op is linear, so its JVP is the
// op applied to the tangent; each rule is the adjoint op.

template <class T>
void sum_to_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  give(dx[0], broadcast_to(Tensor<T>(std::move(g)), e.saved(0)->shape()));
}
template <class T>
void sum_to_forward(const OpArgs&, const ImplRef* const* inputs, TensorImpl& out) {
  sum_to_into(Tensor<T>(*inputs[0]), out.shape(), static_cast<T*>(out.data));
}
template <class T>
ImplRef sum_to_jvp(const OpArgs&, const ImplRef* const*, const ImplRef& y,
                   const ImplRef* const* t) {
  return linear_jvp<T>(t, [&](const Tensor<T>& v) { return sum_to(v, y->shape()); });
}
template <class T>
inline constexpr OpDefinition sum_to_op{"sum_to",           OpFamily::shape, 1, &sum_to_backward<T>,
                                        &sum_to_forward<T>, &sum_to_jvp<T>};

template <class T>
void broadcast_to_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  give(dx[0], sum_to(Tensor<T>(std::move(g)), e.saved(0)->shape()));
}
template <class T>
void broadcast_to_forward(const OpArgs&, const ImplRef* const* inputs, TensorImpl& out) {
  broadcast_into(Tensor<T>(*inputs[0]), out.shape(), static_cast<T*>(out.data));
}
template <class T>
ImplRef broadcast_to_jvp(const OpArgs&, const ImplRef* const*, const ImplRef& y,
                         const ImplRef* const* t) {
  return linear_jvp<T>(t, [&](const Tensor<T>& v) { return broadcast_to(v, y->shape()); });
}
template <class T>
inline constexpr OpDefinition broadcast_to_op{
    "broadcast_to",           OpFamily::shape,     1, &broadcast_to_backward<T>,
    &broadcast_to_forward<T>, &broadcast_to_jvp<T>};

template <class T>
void reshape_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  give(dx[0], reshape(Tensor<T>(std::move(g)), e.saved(0)->shape()));
}
template <class T>
ImplRef reshape_jvp(const OpArgs&, const ImplRef* const*, const ImplRef& y,
                    const ImplRef* const* t) {
  return linear_jvp<T>(t, [&](const Tensor<T>& v) { return reshape(v, y->shape()); });
}
template <class T>
inline constexpr OpDefinition reshape_op{
    "reshape", OpFamily::shape, 1, &reshape_backward<T>, &identity_forward, &reshape_jvp<T>};

/// The sum of x over the axes along which `shape` broadcasts to x's shape, with result
/// shape `shape`: the adjoint of broadcast_to.
template <class T>
Tensor<T> sum_to(const Tensor<T>& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  TAPEGRAD_CHECK(broadcasts_to(shape, x.shape()), shape_error, "sum_to: shape ", shape,
                 " does not broadcast to the input shape ", x.shape());
  Tensor<T> y = sum_to_kernel(x, shape);
  if (any_tape_recording()) record_reading_shape(y.impl(), sum_to_op<T>, x.impl());
  return y;
}

template <class T>
Tensor<T> broadcast_to(const Tensor<T>& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  TAPEGRAD_CHECK(broadcasts_to(x.shape(), shape), shape_error,
                 "broadcast_to: cannot broadcast shape ", x.shape(), " to ", shape);
  Tensor<T> y = broadcast_kernel(x, shape);
  if (any_tape_recording()) record_reading_shape(y.impl(), broadcast_to_op<T>, x.impl());
  return y;
}

template <class T>
Tensor<T> reshape(const Tensor<T>& x, const Shape& shape) {
  TAPEGRAD_CHECK(shape.size() == x.size(), shape_error, "reshape: cannot reshape ", x.shape(), " (",
                 x.size(), " elements) to ", shape, " (", shape.size(), " elements)");
  Tensor<T> y(ImplRef::adopt(allocate_alias(x.impl().get(), shape)));
  if (any_tape_recording()) record_reading_shape(y.impl(), reshape_op<T>, x.impl());
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
template <class T>
Tensor<T> stack(const std::vector<Tensor<T>>& xs, int axis);

template <class T>
void take_into(const T* x, const Shape& x_shape, const TakeAttrs& a, T* y) {
  const std::int64_t outer = elements_before(x_shape, a.axis);
  const std::int64_t inner = elements_after(x_shape, a.axis);
  for (std::int64_t o = 0; o < outer; ++o)
    std::copy_n(x + (o * a.n + a.index) * inner, inner, y + o * inner);
}
template <class T>
void embed_into(const T* x, const Shape& y_shape, const TakeAttrs& a, T* y) {
  const std::int64_t outer = elements_before(y_shape, a.axis);
  const std::int64_t inner = elements_after(y_shape, a.axis);
  std::fill_n(y, y_shape.size(), T(0));
  for (std::int64_t o = 0; o < outer; ++o)
    std::copy_n(x + o * inner, inner, y + (o * a.n + a.index) * inner);
}

template <class T>
void take_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const TakeAttrs a = e.attrs().as<TakeAttrs>();
  give(dx[0], embed(Tensor<T>(std::move(g)), a.axis, a.index, a.n));
}
template <class T>
void take_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const TensorImpl& x = *inputs[0]->get();
  take_into(static_cast<const T*>(x.data), x.shape(), args.as<TakeAttrs>(),
            static_cast<T*>(out.data));
}
template <class T>
ImplRef take_jvp(const OpArgs& args, const ImplRef* const*, const ImplRef&,
                 const ImplRef* const* t) {
  const TakeAttrs a = args.as<TakeAttrs>();
  return linear_jvp<T>(t, [&](const Tensor<T>& v) { return take(v, a.axis, a.index); });
}
template <class T>
inline constexpr OpDefinition take_op{"take",           OpFamily::shape, 1, &take_backward<T>,
                                      &take_forward<T>, &take_jvp<T>};

template <class T>
void embed_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const TakeAttrs a = e.attrs().as<TakeAttrs>();
  give(dx[0], take(Tensor<T>(std::move(g)), a.axis, a.index));
}
template <class T>
void embed_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  embed_into(static_cast<const T*>((*inputs[0])->data), out.shape(), args.as<TakeAttrs>(),
             static_cast<T*>(out.data));
}
template <class T>
ImplRef embed_jvp(const OpArgs& args, const ImplRef* const*, const ImplRef&,
                  const ImplRef* const* t) {
  const TakeAttrs a = args.as<TakeAttrs>();
  return linear_jvp<T>(t, [&](const Tensor<T>& v) { return embed(v, a.axis, a.index, a.n); });
}
template <class T>
inline constexpr OpDefinition embed_op{"embed",           OpFamily::shape, 1, &embed_backward<T>,
                                       &embed_forward<T>, &embed_jvp<T>};

/// The slice of x at `index` along `axis`, with that axis removed.
template <class T>
Tensor<T> take(const Tensor<T>& x, int axis, std::int64_t index) {
  const TakeAttrs a{axis, index, x.shape()[axis]};
  Tensor<T> y(uninitialized, remove_axis(x.shape(), axis));
  take_into(x.elements(), x.shape(), a, y.mutable_data());
  if (any_tape_recording()) record(y.impl(), take_op<T>, {&x.impl()}, {}, OpAttrs::of(a));
  return y;
}

/// Zeros with a new axis of length n at `axis`, holding x at `index`: the adjoint of take.
template <class T>
Tensor<T> embed(const Tensor<T>& x, int axis, std::int64_t index, std::int64_t n) {
  const TakeAttrs a{axis, index, n};
  Tensor<T> y(uninitialized, insert_axis(x.shape(), axis, n));
  embed_into(x.elements(), y.shape(), a, y.mutable_data());
  if (any_tape_recording()) record(y.impl(), embed_op<T>, {&x.impl()}, {}, OpAttrs::of(a));
  return y;
}

/// The inputs laid side by side along a new axis of y, whose shape is given.
template <class T>
void stack_into(const T* const* xs, std::int64_t n, const Shape& y_shape, int axis, T* y) {
  const std::int64_t outer = elements_before(y_shape, axis);
  const std::int64_t inner = elements_after(y_shape, axis);
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t k = 0; k < n; ++k)
      std::copy_n(xs[k] + o * inner, inner, y + (o * n + k) * inner);
}

template <class T>
void stack_backward(const Entry& e, ImplRef&& g, const bool* needs, ImplRef* dx) {
  const Tensor<T> grad(std::move(g));
  const int axis = e.attrs().as<AxisAttrs>().axis;
  for (std::uint32_t k = 0; k < e.n_inputs; ++k)
    if (needs[k]) give(dx[k], take(grad, axis, k));
}
template <class T>
void stack_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const int axis = args.as<AxisAttrs>().axis;
  const std::int64_t n = out.shape()[axis];
  std::vector<const T*> xs(static_cast<std::size_t>(n));
  for (std::int64_t k = 0; k < n; ++k) xs[k] = static_cast<const T*>((*inputs[k])->data);
  stack_into(xs.data(), n, out.shape(), axis, static_cast<T*>(out.data));
}
template <class T>
ImplRef stack_jvp(const OpArgs& args, const ImplRef* const* inputs, const ImplRef& y,
                  const ImplRef* const* t) {
  const int axis = args.as<AxisAttrs>().axis;
  const std::int64_t n = y->shape()[axis];
  bool any = false;
  std::vector<Tensor<T>> parts;
  for (std::int64_t k = 0; k < n; ++k) {
    any = any || static_cast<bool>(*t[k]);
    parts.push_back(*t[k] ? Tensor<T>(*t[k]) : Tensor<T>::zeros((*inputs[k])->shape()));
  }
  if (!any) return {};
  return detail::stack(parts, axis).take_impl();
}
template <class T>
inline constexpr OpDefinition stack_op{"stack",           OpFamily::shape, -1, &stack_backward<T>,
                                       &stack_forward<T>, &stack_jvp<T>};

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
  Tensor<T> y(uninitialized, insert_axis(s, axis, n));
  std::vector<const T*> data;
  for (const auto& x : xs) data.push_back(x.elements());
  stack_into(data.data(), n, y.shape(), axis, y.mutable_data());
  if (any_tape_recording()) {
    std::vector<const ImplRef*> inputs;
    inputs.reserve(xs.size());
    for (const auto& x : xs) inputs.push_back(&x.impl());
    record(y.impl(), stack_op<T>, inputs.data(), inputs.size(), nullptr, 0,
           OpAttrs::of(AxisAttrs{axis}));
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

/// A new tensor with x's value and a node of its own on the recording tapes (tf.identity); the
/// gradient passes through unchanged. No copy.   auto y = tapegrad::identity(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> identity(const X& x,
                                      SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::unchanged(detail::arg(x, "identity"), "identity");
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

inline TransposeAttrs transpose_attrs(const int* perm, int rank) {
  TransposeAttrs a{};
  for (int i = 0; i < rank; ++i) a.perm[i] = static_cast<std::int8_t>(perm[i]);
  a.rank = rank;
  return a;
}

template <class T>
Tensor<T> transpose(const Tensor<T>& x, const int* perm);

/// y with y's axis i being x's axis a.perm[i], into `y`.
template <class T>
void transpose_into(const T* x, const Shape& s, const TransposeAttrs& a, T* y) {
  const int rank = a.rank;
  std::int64_t x_strides[Shape::max_rank] = {}, read_strides[Shape::max_rank] = {},
               unused[Shape::max_rank] = {};
  Shape shape;
  std::int64_t stride = 1;
  for (int i = rank - 1; i >= 0; --i) {
    x_strides[i] = stride;
    stride *= s[i];
  }
  for (int i = 0; i < rank; ++i) {
    shape.push_back(s[a.perm[i]]);
    read_strides[i] = x_strides[a.perm[i]];
  }
  const std::int64_t step = rank ? read_strides[rank - 1] : 1;
  for_each_row(shape, read_strides, unused,
               [&](std::int64_t out, std::int64_t in, std::int64_t, std::int64_t length) {
                 for (std::int64_t k = 0; k < length; ++k) y[out + k] = x[in + k * step];
               });
}

template <class T>
void transpose_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const TransposeAttrs a = e.attrs().as<TransposeAttrs>();
  int inverse[Shape::max_rank];
  for (int i = 0; i < a.rank; ++i) inverse[a.perm[i]] = i;
  give(dx[0], transpose(Tensor<T>(std::move(g)), inverse));
}
template <class T>
void transpose_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const TensorImpl& x = *inputs[0]->get();
  transpose_into(static_cast<const T*>(x.data), x.shape(), args.as<TransposeAttrs>(),
                 static_cast<T*>(out.data));
}
template <class T>
ImplRef transpose_jvp(const OpArgs& args, const ImplRef* const*, const ImplRef&,
                      const ImplRef* const* t) {
  const TransposeAttrs a = args.as<TransposeAttrs>();
  int perm[Shape::max_rank];
  for (int i = 0; i < a.rank; ++i) perm[i] = a.perm[i];
  return linear_jvp<T>(t, [&](const Tensor<T>& v) { return transpose(v, perm); });
}
template <class T>
inline constexpr OpDefinition transpose_op{
    "transpose",           OpFamily::shape,  1, &transpose_backward<T>,
    &transpose_forward<T>, &transpose_jvp<T>};

/// y[i0, ..., ik] = x[...] with y's axis i being x's axis perm[i]; perm is valid.
template <class T>
Tensor<T> transpose(const Tensor<T>& x, const int* perm) {
  const Shape& s = x.shape();
  const TransposeAttrs a = transpose_attrs(perm, s.rank());
  Shape shape;
  for (int i = 0; i < s.rank(); ++i) shape.push_back(s[perm[i]]);
  Tensor<T> y(uninitialized, shape);
  transpose_into(x.elements(), s, a, y.mutable_data());
  if (any_tape_recording()) record(y.impl(), transpose_op<T>, {&x.impl()}, {}, OpAttrs::of(a));
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

/// x without its size-1 axes (the default, all_axes), or without the given ones, which must
/// have size 1 (no copy; NOTE [ One axis type ]: an empty list removes none).
///   auto v = tapegrad::squeeze(column);           // [n, 1] -> [n]
///   auto w = tapegrad::squeeze(x, 0);             // [1, 3, 1] -> [3, 1]
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> squeeze(const X& x, const Axes& axes = all_axes,
                                     SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "squeeze");
  const Shape& s = t.shape();
  bool drop[Shape::max_rank] = {};
  if (axes.all()) {
    for (int i = 0; i < s.rank(); ++i) drop[i] = s[i] == 1;
  } else {
    for (int a : axes.normalized("squeeze", s.rank())) {
      TAPEGRAD_CHECK(s[a] == 1, shape_error, "squeeze: cannot squeeze axis ", a, " of shape ", s,
                     ": its size is ", s[a], ", expected 1");
      drop[a] = true;
    }
  }
  Shape out;
  for (int i = 0; i < s.rank(); ++i)
    if (!drop[i]) out.push_back(s[i]);
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
