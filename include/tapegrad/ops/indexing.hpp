#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/ops/shape.hpp"
#include "tapegrad/unconnected_gradients.hpp"  // NOTE [ Declared before tapegrad::none ]

// Reading parts of a tensor and writing tensors into larger ones: strided slices and their
// adjoint (placing a tensor into zeros), pad, concat, split, and gather along an axis with
// its adjoint, scatter_add. Each pair are each other's gradients, so every order works.
namespace tapegrad {
namespace detail {

// NOTE [ Windows ]
// A strided window of a larger tensor: element i of the window is element
// begin + i * stride (per axis, stride may be negative) of the larger one. slice copies a
// window out; place writes a window into a fresh tensor filled with a constant. The one
// description serves both directions, so the gradient of each is the other.
struct Window {
  Shape outer;  // the larger tensor
  Shape inner;  // the window
  std::int64_t begin[Shape::max_rank] = {};
  std::int64_t stride[Shape::max_rank] = {};
};

/// Calls copy(outer_offset, inner_offset, length, outer_step) for each innermost row.
template <class F>
void for_each_window_row(const Window& w, F copy) {
  const int rank = w.inner.rank();
  std::int64_t outer_strides[Shape::max_rank] = {}, steps[Shape::max_rank] = {},
               unused[Shape::max_rank] = {};
  std::int64_t stride = 1, base = 0;
  for (int i = rank - 1; i >= 0; --i) {
    outer_strides[i] = stride;
    stride *= w.outer[i];
  }
  for (int i = 0; i < rank; ++i) {
    steps[i] = w.stride[i] * outer_strides[i];
    base += w.begin[i] * outer_strides[i];
  }
  const std::int64_t step = rank ? steps[rank - 1] : 1;
  for_each_row(w.inner, steps, unused,
               [&](std::int64_t inner, std::int64_t outer, std::int64_t, std::int64_t length) {
                 copy(base + outer, inner, length, step);
               });
}

template <class T>
Tensor<T> slice_window(const Tensor<T>& x, const std::shared_ptr<const Window>& w);
template <class T>
Tensor<T> place_window(const Tensor<T>& x, const std::shared_ptr<const Window>& w, T fill);

// slice and pad keep their window as the entry's shared data: a shared_ptr to the window, so
// that a rule can hand it on. Both are linear: the JVP applies the op to the tangent (pad with
// a zero fill), and each one's rule is the other.
using SharedWindow = std::shared_ptr<const Window>;

template <class T>
void slice_into(const T* px, const Window& w, T* py) {
  for_each_window_row(
      w, [&](std::int64_t outer, std::int64_t inner, std::int64_t length, std::int64_t step) {
        if (step == 1)
          std::copy_n(px + outer, length, py + inner);
        else
          for (std::int64_t k = 0; k < length; ++k) py[inner + k] = px[outer + k * step];
      });
}
template <class T>
void place_into(const T* px, const Window& w, T fill, T* py) {
  std::fill_n(py, w.outer.size(), fill);
  for_each_window_row(
      w, [&](std::int64_t outer, std::int64_t inner, std::int64_t length, std::int64_t step) {
        if (step == 1)
          std::copy_n(px + inner, length, py + outer);
        else
          for (std::int64_t k = 0; k < length; ++k) py[outer + k * step] = px[inner + k];
      });
}

template <class T>
const SharedWindow& window_of(const Entry& e) {
  return *static_cast<const SharedWindow*>(e.extra->closure.get());
}

template <class T>
void slice_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  give(dx[0], place_window(Tensor<T>(std::move(g)), window_of<T>(e), T(0)));
}
template <class T>
void slice_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  slice_into(static_cast<const T*>((*inputs[0])->data), *args.data<SharedWindow>(),
             static_cast<T*>(out.data));
}
template <class T>
ImplRef slice_jvp(const OpArgs& args, const ImplRef* const*, const ImplRef&,
                  const ImplRef* const* t) {
  return linear_jvp<T>(
      t, [&](const Tensor<T>& v) { return slice_window(v, args.data<SharedWindow>()); });
}
template <class T>
inline constexpr OpDefinition slice_op{"slice",           OpFamily::indexing, 1, &slice_backward<T>,
                                       &slice_forward<T>, &slice_jvp<T>};

template <class T>
void pad_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  give(dx[0], slice_window(Tensor<T>(std::move(g)), window_of<T>(e)));
}
template <class T>
void pad_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  place_into(static_cast<const T*>((*inputs[0])->data), *args.data<SharedWindow>(),
             static_cast<T>(args.as<ScalarAttrs>().scalar), static_cast<T*>(out.data));
}
template <class T>
ImplRef pad_jvp(const OpArgs& args, const ImplRef* const*, const ImplRef&,
                const ImplRef* const* t) {
  return linear_jvp<T>(
      t, [&](const Tensor<T>& v) { return place_window(v, args.data<SharedWindow>(), T(0)); });
}
template <class T>
inline constexpr OpDefinition pad_op{"pad",           OpFamily::indexing, 1, &pad_backward<T>,
                                     &pad_forward<T>, &pad_jvp<T>};

template <class T>
void record_window(const Tensor<T>& y, const Tensor<T>& x, const OpDefinition& op,
                   const SharedWindow& w, T fill = T(0)) {
  const ImplRef* inputs[] = {&x.impl()};
  record(y.impl(), op, inputs, 1, nullptr, 0, OpAttrs::of(ScalarAttrs{static_cast<double>(fill)}),
         std::make_shared<const SharedWindow>(w));
}

template <class T>
Tensor<T> slice_window(const Tensor<T>& x, const SharedWindow& w) {
  Tensor<T> y(uninitialized, w->inner);
  slice_into(x.elements(), *w, y.mutable_data());
  if (any_tape_recording()) record_window(y, x, slice_op<T>, w);
  return y;
}

template <class T>
Tensor<T> place_window(const Tensor<T>& x, const SharedWindow& w, T fill) {
  Tensor<T> y(uninitialized, w->outer);
  place_into(x.elements(), *w, fill, y.mutable_data());
  if (any_tape_recording()) record_window(y, x, pad_op<T>, w, fill);
  return y;
}

/// The contiguous window [begin, begin + size) of `shape` along every axis.
inline std::shared_ptr<Window> box(const Shape& shape, const Shape& size,
                                   const std::vector<std::int64_t>& begin) {
  auto w = std::make_shared<Window>();
  w->outer = shape;
  w->inner = size;
  for (int i = 0; i < shape.rank(); ++i) {
    w->begin[i] = begin[static_cast<std::size_t>(i)];
    w->stride[i] = 1;
  }
  return w;
}

template <class T, class I>
Tensor<T> gather(const Tensor<T>& params, const Tensor<I>& indices, int axis);
template <class T, class I>
Tensor<T> scatter_add(const Tensor<T>& updates, const Tensor<I>& indices, int axis, std::int64_t n);

template <class I>
void check_indices(const char* op, const Tensor<I>& indices, std::int64_t n, int axis);

template <class T, class I>
void gather_into(const Tensor<T>& params, const Tensor<I>& indices, int axis, T* py) {
  const Shape& s = params.shape();
  const std::int64_t n = s[axis], outer = elements_before(s, axis), inner = elements_after(s, axis),
                     count = indices.size();
  const T* px = params.elements();
  const I* pi = indices.elements();
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t j = 0; j < count; ++j)
      std::copy_n(px + (o * n + pi[j]) * inner, inner, py + (o * count + j) * inner);
}
/// into `py`, which holds `shape`'s elements (the axis of length n).
template <class T, class I>
void scatter_add_into(const Tensor<T>& updates, const Tensor<I>& indices, int axis,
                      const Shape& shape, T* py) {
  const std::int64_t outer = elements_before(updates.shape(), axis), count = indices.size();
  const std::int64_t n = shape[axis], inner = elements_after(shape, axis);
  std::fill_n(py, shape.size(), T(0));
  const T* pu = updates.elements();
  const I* pi = indices.elements();
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t j = 0; j < count; ++j) {
      T* dst = py + (o * n + pi[j]) * inner;
      const T* src = pu + (o * count + j) * inner;
      for (std::int64_t k = 0; k < inner; ++k) dst[k] += src[k];
    }
}

// gather's and scatter_add's inputs are the tensor and its indices (a constant: no tape knows
// an integer tensor). Each is the other's adjoint, and both are linear in the tensor.
template <class T, class I>
void gather_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const GatherAttrs a = e.attrs().as<GatherAttrs>();
  give(dx[0], detail::scatter_add(Tensor<T>(std::move(g)), e.saved(0).get<I>(), a.axis, a.size));
}
template <class T, class I>
void gather_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  // The public gather checked its indices; a replay runs only this, on new ones.
  const Tensor<T> params(*inputs[0]);
  const Tensor<I> indices(*inputs[1]);
  const int axis = args.as<GatherAttrs>().axis;
  check_indices("gather", indices, params.shape()[axis], axis);
  gather_into(params, indices, axis, static_cast<T*>(out.data));
}
template <class T, class I>
ImplRef gather_jvp(const OpArgs& args, const ImplRef* const* inputs, const ImplRef&,
                   const ImplRef* const* t) {
  return linear_jvp<T>(t, [&](const Tensor<T>& v) {
    return detail::gather(v, Tensor<I>(*inputs[1]), args.as<GatherAttrs>().axis);
  });
}
template <class T, class I>
inline constexpr OpDefinition gather_op{
    "gather",         OpFamily::indexing, 2, &gather_backward<T, I>, &gather_forward<T, I>,
    &gather_jvp<T, I>};

template <class T, class I>
void scatter_add_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  give(dx[0], detail::gather(Tensor<T>(std::move(g)), e.saved(0).get<I>(),
                             e.attrs().as<GatherAttrs>().axis));
}
template <class T, class I>
void scatter_add_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const Tensor<I> indices(*inputs[1]);
  const int axis = args.as<GatherAttrs>().axis;
  check_indices("scatter_add", indices, out.shape()[axis], axis);
  scatter_add_into(Tensor<T>(*inputs[0]), indices, axis, out.shape(), static_cast<T*>(out.data));
}
template <class T, class I>
ImplRef scatter_add_jvp(const OpArgs& args, const ImplRef* const* inputs, const ImplRef&,
                        const ImplRef* const* t) {
  const GatherAttrs a = args.as<GatherAttrs>();
  return linear_jvp<T>(t, [&](const Tensor<T>& v) {
    return detail::scatter_add(v, Tensor<I>(*inputs[1]), a.axis, a.size);
  });
}
template <class T, class I>
inline constexpr OpDefinition scatter_add_op{"scatter_add",
                                             OpFamily::indexing,
                                             2,
                                             &scatter_add_backward<T, I>,
                                             &scatter_add_forward<T, I>,
                                             &scatter_add_jvp<T, I>};

template <class I>
void check_indices(const char* op, const Tensor<I>& indices, std::int64_t n, int axis) {
  const I* p = indices.elements();
  for (std::int64_t j = 0; j < indices.size(); ++j)
    TAPEGRAD_CHECK(!(p[j] < 0 || p[j] >= n), index_error, op, ": index ", p[j], " (at position ", j,
                   ") is out of range for axis ", axis, " of size ", n);
}

/// params.shape[:axis] + indices.shape + params.shape[axis+1:]
inline Shape gather_shape(const Shape& params, const Shape& indices, int axis) {
  Shape out;
  for (int i = 0; i < axis; ++i) out.push_back(params[i]);
  for (int i = 0; i < indices.rank(); ++i) out.push_back(indices[i]);
  for (int i = axis + 1; i < params.rank(); ++i) out.push_back(params[i]);
  return out;
}

template <class T, class I>
Tensor<T> gather(const Tensor<T>& params, const Tensor<I>& indices, int axis) {
  const Shape& s = params.shape();
  Tensor<T> y(uninitialized, gather_shape(s, indices.shape(), axis));
  gather_into(params, indices, axis, y.mutable_data());
  if (any_tape_recording())
    record(y.impl(), gather_op<T, I>, {&params.impl(), &indices.impl()}, {&indices.impl()},
           OpAttrs::of(GatherAttrs{axis, s[axis]}));
  return y;
}

/// Zeros of params' shape (axis of size n) with each slice of `updates` added at its index;
/// duplicate indices accumulate. The adjoint of gather.
template <class T, class I>
Tensor<T> scatter_add(const Tensor<T>& updates, const Tensor<I>& indices, int axis,
                      std::int64_t n) {
  const Shape& su = updates.shape();
  Shape shape;
  for (int i = 0; i < axis; ++i) shape.push_back(su[i]);
  shape.push_back(n);
  for (int i = axis + indices.rank(); i < su.rank(); ++i) shape.push_back(su[i]);
  Tensor<T> y(uninitialized, shape);
  scatter_add_into(updates, indices, axis, shape, y.mutable_data());
  if (any_tape_recording())
    record(y.impl(), scatter_add_op<T, I>, {&updates.impl(), &indices.impl()}, {&indices.impl()},
           OpAttrs::of(GatherAttrs{axis, n}));
  return y;
}

// concat: the closure holds each input's extent along the axis.
template <class T>
Tensor<T> concat(const std::vector<Tensor<T>>& xs, int axis);

/// The inputs joined along `axis` (of `shape`, the result's), each `sizes[k]` long there.
template <class T>
void concat_into(const T* const* xs, const std::vector<std::int64_t>& sizes, const Shape& shape,
                 int axis, T* py) {
  const std::int64_t outer = elements_before(shape, axis), inner = elements_after(shape, axis);
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      const std::int64_t row = sizes[k] * inner;
      py = std::copy_n(xs[k] + o * row, row, py);
    }
}

// concat keeps each input's extent along the axis as its shared data. Linear: the JVP joins
// the tangents, and each input's gradient is its block of the incoming one.
using ConcatSizes = std::vector<std::int64_t>;
template <class T>
void concat_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const ConcatSizes& sizes = args.data<ConcatSizes>();
  std::vector<const T*> xs;
  for (std::size_t k = 0; k < sizes.size(); ++k)
    xs.push_back(static_cast<const T*>((*inputs[k])->data));
  concat_into(xs.data(), sizes, out.shape(), args.as<AxisAttrs>().axis, static_cast<T*>(out.data));
}
template <class T>
ImplRef concat_jvp(const OpArgs& args, const ImplRef* const* inputs, const ImplRef&,
                   const ImplRef* const* t) {
  const ConcatSizes& sizes = args.data<ConcatSizes>();
  bool any = false;
  std::vector<Tensor<T>> parts;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    any = any || static_cast<bool>(*t[k]);
    parts.push_back(*t[k] ? Tensor<T>(*t[k]) : Tensor<T>::zeros((*inputs[k])->shape()));
  }
  if (!any) return {};
  return detail::concat(parts, args.as<AxisAttrs>().axis).take_impl();
}
template <class T>
void concat_backward(const Entry& e, ImplRef&& g, const bool* needs, ImplRef* dx);
template <class T>
inline constexpr OpDefinition concat_op{
    "concat", OpFamily::indexing, -1, &concat_backward<T>, &concat_forward<T>, &concat_jvp<T>};

template <class T>
void concat_backward(const Entry& e, ImplRef&& g, const bool* needs, ImplRef* dx) {
  const Tensor<T> grad(std::move(g));
  const auto& sizes = *static_cast<const ConcatSizes*>(e.extra->closure.get());
  const int axis = e.attrs().as<AxisAttrs>().axis;
  std::vector<std::int64_t> begin(static_cast<std::size_t>(grad.rank()), 0);
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    if (needs[k]) {
      Shape size = grad.shape();
      size.set(axis, sizes[k]);
      give(dx[k], slice_window(grad, box(grad.shape(), size, begin)));
    }
    begin[static_cast<std::size_t>(axis)] += sizes[k];
  }
}

template <class T>
Tensor<T> concat(const std::vector<Tensor<T>>& xs, int axis) {
  TAPEGRAD_CHECK(!xs.empty(), value_error, "concat: needs at least one tensor");
  const Shape& first = xs[0].shape();
  TAPEGRAD_CHECK(first.rank() != 0, shape_error,
                 "concat: cannot concatenate 0-d tensors; use stack");
  axis = normalize_axis("concat", axis, first.rank());
  Shape shape = first;
  std::int64_t joined = 0;
  auto sizes = std::make_shared<std::vector<std::int64_t>>();
  for (std::size_t k = 0; k < xs.size(); ++k) {
    const Shape& s = xs[k].shape();
    bool fits = s.rank() == first.rank();
    for (int i = 0; fits && i < s.rank(); ++i) fits = i == axis || s[i] == first[i];
    TAPEGRAD_CHECK(fits, shape_error, "concat: tensor ", k, " has shape ", s,
                   ", which does not match ", first, " outside axis ", axis);
    sizes->push_back(s[axis]);
    TAPEGRAD_CHECK(!(__builtin_add_overflow(joined, s[axis], &joined)), shape_error,
                   "concat: the joined axis ", axis, " would be longer than 2^63");
  }
  shape.set(axis, joined);
  Tensor<T> y(uninitialized, shape);
  std::vector<const T*> data;
  for (const auto& x : xs) data.push_back(x.elements());
  concat_into(data.data(), *sizes, shape, axis, y.mutable_data());
  if (any_tape_recording()) {
    std::vector<const ImplRef*> inputs;
    for (const auto& x : xs) inputs.push_back(&x.impl());
    record(y.impl(), concat_op<T>, inputs.data(), inputs.size(), nullptr, 0,
           OpAttrs::of(AxisAttrs{axis}), std::shared_ptr<const void>(sizes));
  }
  return y;
}

}  // namespace detail

/// Python's None in a slice: as begin, where the walk starts (0, or the last element for a
/// negative stride); as end, past where it stops.
inline constexpr std::int64_t none = std::numeric_limits<std::int64_t>::max();

/// The block of `size` elements from `begin` along each axis (tf.slice); a size of -1 runs
/// to the end of the axis.   auto corner = tapegrad::slice(m, {0, 1}, {2, -1});
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> slice(const X& x, const std::vector<std::int64_t>& begin,
                                   const std::vector<std::int64_t>& size,
                                   SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "slice");
  const Shape& s = t.shape();
  TAPEGRAD_CHECK(
      !(static_cast<int>(begin.size()) != s.rank() || static_cast<int>(size.size()) != s.rank()),
      shape_error, "slice: begin and size need one entry per axis of ", s, ", got ", begin.size(),
      " and ", size.size());
  Shape out;
  for (int i = 0; i < s.rank(); ++i) {
    const std::int64_t b = begin[static_cast<std::size_t>(i)];
    std::int64_t n = size[static_cast<std::size_t>(i)];
    TAPEGRAD_CHECK(!(b < 0 || b > s[i] || n < -1 || (n >= 0 && n > s[i] - b)), index_error,
                   "slice: begin ", b, " and size ", size[static_cast<std::size_t>(i)],
                   " are out of range for axis ", i, " of shape ", s);
    out.push_back(n == -1 ? s[i] - b : n);
  }
  return detail::slice_window(t, detail::box(s, out, begin));
}

/// Python's x[b0:e0:s0, b1:e1:s1, ...]: negative begin and end count from the end, both are
/// clamped to the axis, strides may be negative (but not 0), and axes not given are taken
/// whole; tapegrad::none stands for an omitted begin or end.
///   auto odd = tapegrad::strided_slice(v, {1}, {tapegrad::none}, {2});   // v[1::2]
///   auto reversed = tapegrad::strided_slice(v, {tapegrad::none}, {tapegrad::none}, {-1});
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> strided_slice(const X& x, const std::vector<std::int64_t>& begin,
                                           const std::vector<std::int64_t>& end,
                                           const std::vector<std::int64_t>& strides,
                                           SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "strided_slice");
  const Shape& s = t.shape();
  TAPEGRAD_CHECK(
      !(begin.size() != end.size() || begin.size() != strides.size() ||
        static_cast<int>(begin.size()) > s.rank()),
      shape_error, "strided_slice: begin, end and strides need the same length, at most ", s.rank(),
      " for shape ", s, ", got ", begin.size(), ", ", end.size(), " and ", strides.size());
  auto w = std::make_shared<detail::Window>();
  w->outer = s;
  for (int i = 0; i < s.rank(); ++i) {
    const auto k = static_cast<std::size_t>(i);
    const std::int64_t n = s[i];
    if (k >= begin.size()) {
      w->inner.push_back(n);
      w->stride[i] = 1;
      continue;
    }
    TAPEGRAD_CHECK(strides[k] != 0, value_error, "strided_slice: stride of axis ", i, " is 0");
    // A step at least as long as the axis takes at most one element, so its magnitude is
    // clamped to the axis length (at least 1): same result, and no overflow below.
    const std::int64_t limit = std::max<std::int64_t>(n, 1);
    const std::int64_t step =
        strides[k] > 0 ? std::min(strides[k], limit) : (strides[k] < -limit ? -limit : strides[k]);
    // Python's rule: count negatives from the end, then clamp to [0, n] (or [-1, n-1] when
    // walking backwards).
    auto resolve = [&](std::int64_t v, bool is_begin) {
      if (v == none) return step > 0 ? (is_begin ? 0 : n) : (is_begin ? n - 1 : -1);
      if (v < 0) v += n;
      return step > 0 ? std::clamp<std::int64_t>(v, 0, n) : std::clamp<std::int64_t>(v, -1, n - 1);
    };
    const std::int64_t b = resolve(begin[k], true), e = resolve(end[k], false);
    const std::int64_t length = step > 0 ? (e > b ? (e - b + step - 1) / step : 0)
                                         : (b > e ? (b - e - step - 1) / -step : 0);
    w->inner.push_back(length);
    w->begin[i] = length ? b : 0;
    w->stride[i] = step;
  }
  return detail::slice_window(t, std::shared_ptr<const detail::Window>(std::move(w)));
}

/// x surrounded by `paddings[i].first` elements before and `.second` after along each axis,
/// all equal to `value` (tf.pad, constant mode).
///   auto padded = tapegrad::pad(image, {{0, 0}, {1, 1}, {1, 1}, {0, 0}});
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> pad(const X& x,
                                 const std::vector<std::pair<std::int64_t, std::int64_t>>& paddings,
                                 double value = 0,
                                 SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  const auto& t = detail::arg(x, "pad");
  const Shape& s = t.shape();
  TAPEGRAD_CHECK(!(static_cast<int>(paddings.size()) != s.rank()), shape_error,
                 "pad: ", paddings.size(), " paddings for shape ", s,
                 ", expected one pair per axis");
  Shape outer;
  std::vector<std::int64_t> begin;
  for (int i = 0; i < s.rank(); ++i) {
    const auto [before, after] = paddings[static_cast<std::size_t>(i)];
    TAPEGRAD_CHECK(!(before < 0 || after < 0), shape_error,
                   "pad: paddings must be non-negative, got (", before, ", ", after, ") for axis ",
                   i);
    std::int64_t padded = 0;
    TAPEGRAD_CHECK(!(__builtin_add_overflow(before, s[i], &padded) ||
                     __builtin_add_overflow(padded, after, &padded)),
                   shape_error, "pad: paddings (", before, ", ", after, ") for axis ", i, " of ", s,
                   " give a dimension beyond 2^63");
    outer.push_back(padded);
    begin.push_back(before);
  }
  return detail::place_window(t, detail::box(outer, s, begin), static_cast<T>(value));
}

/// Joins tensors along an existing axis; they must agree on every other axis (tf.concat).
///   auto both = tapegrad::concat({a, b}, 1);   // [n, 2] and [n, 3] -> [n, 5]
template <class T>
Tensor<T> concat(const std::vector<Tensor<T>>& xs, int axis = 0,
                 SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  static_assert(is_differentiable_v<T>, "concat: needs float or double tensors");
  for (const auto& x : xs) detail::arg(x, "concat");
  return detail::concat(xs, axis);
}
template <class T>
Tensor<T> concat(std::initializer_list<Tensor<T>> xs, int axis = 0,
                 SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return concat(std::vector<Tensor<T>>(xs), axis);
}

/// x cut along `axis` into pieces of the given sizes, which must add up to the axis (one may
/// be -1: the rest) (tf.split).   auto parts = tapegrad::split(x, {2, 3}, 1);
template <class X, detail::if_differentiable<X> = 0>
std::vector<Tensor<detail::element_t<X>>> split(const X& x, std::vector<std::int64_t> sizes,
                                                int axis = 0,
                                                SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "split");
  TAPEGRAD_CHECK(t.rank() != 0, shape_error, "split: cannot split a 0-d tensor");
  const int a = normalize_axis("split", axis, t.rank());
  const Shape& s = t.shape();
  std::int64_t total = 0, unknown = -1;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    if (sizes[k] == -1 && unknown < 0)
      unknown = static_cast<std::int64_t>(k);
    else if (sizes[k] < 0)
      detail::fail<shape_error>("split: size ", sizes[k], " is negative (only one -1 is allowed)");
    else if (__builtin_add_overflow(total, sizes[k], &total))
      detail::fail<shape_error>("split: sizes add up to more than 2^63");
  }
  if (unknown >= 0 && total <= s[a])
    sizes[static_cast<std::size_t>(unknown)] = s[a] - total;
  else if (total != s[a])
    detail::fail<shape_error>("split: sizes add up to ", total, " but axis ", a, " of ", s, " has ",
                              s[a]);
  std::vector<Tensor<detail::element_t<X>>> parts;
  std::vector<std::int64_t> begin(static_cast<std::size_t>(s.rank()), 0);
  for (std::int64_t n : sizes) {
    Shape size = s;
    size.set(a, n);
    parts.push_back(detail::slice_window(t, detail::box(s, size, begin)));
    begin[static_cast<std::size_t>(a)] += n;
  }
  return parts;
}
/// split with a braced list of sizes: split(x, {3}, 1) is one piece of 3, not three pieces.
template <class X, detail::if_differentiable<X> = 0>
std::vector<Tensor<detail::element_t<X>>> split(const X& x,
                                                std::initializer_list<std::int64_t> sizes,
                                                int axis = 0,
                                                SourceLocation where = SourceLocation::current()) {
  return split(x, std::vector<std::int64_t>(sizes), axis, where);
}
/// x cut into `pieces` equal parts along `axis`, which must divide evenly.
///   auto [left, right] = ... tapegrad::split(x, 2, 1) ...
template <class X, detail::if_differentiable<X> = 0>
std::vector<Tensor<detail::element_t<X>>> split(const X& x, int pieces, int axis,
                                                SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "split");
  TAPEGRAD_CHECK(t.rank() != 0, shape_error, "split: cannot split a 0-d tensor");
  const std::int64_t n = t.shape()[normalize_axis("split", axis, t.rank())];
  TAPEGRAD_CHECK(!(pieces <= 0 || n % pieces != 0), shape_error, "split: axis ", axis, " of ",
                 t.shape(), " cannot be split into ", pieces, " equal parts");
  return split(t, std::vector<std::int64_t>(static_cast<std::size_t>(pieces), n / pieces), axis);
}

/// The slices of params at the given integer indices along `axis` (tf.gather): the result
/// has shape params.shape[:axis] + indices.shape + params.shape[axis+1:]. The gradient adds
/// into the gathered rows; an index taken twice gets both contributions.
///   auto rows = tapegrad::gather(embeddings, token_ids);   // [v, d] and [n] -> [n, d]
template <class X, class I, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> gather(const X& params, const Tensor<I>& indices, int axis = 0,
                                    SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  static_assert(std::is_same_v<I, std::int32_t> || std::is_same_v<I, std::int64_t>,
                "gather: indices must be a Tensor<std::int32_t> or Tensor<std::int64_t>");
  const auto& p = detail::arg(params, "gather");
  detail::arg(indices, "gather");
  TAPEGRAD_CHECK(p.rank() != 0, shape_error, "gather: params must have rank >= 1, got shape []");
  const int a = normalize_axis("gather", axis, p.rank());
  TAPEGRAD_CHECK(!(p.rank() + indices.rank() - 1 > Shape::max_rank), shape_error,
                 "gather: the result would have rank above ", Shape::max_rank);
  detail::check_indices("gather", indices, p.shape()[a], a);
  return detail::gather(p, indices, a);
}

}  // namespace tapegrad
