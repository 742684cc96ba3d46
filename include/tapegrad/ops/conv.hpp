#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/detail/gemm.hpp"
#include "tapegrad/detail/rule_helpers.hpp"

// 2-D convolution and pooling in TensorFlow's NHWC layout: input [batch, height, width,
// channels], filter [filter_height, filter_width, in_channels, out_channels].
//
// NOTE [ Convolution as three linear maps ]
// T(x, w, g) = sum g[n,oh,ow,co] x[n, oh*sh - pad_top + i*dh, ow*sw - pad_left + j*dw, ci]
//              w[i,j,ci,co]
// is linear in each of x, w and g. Its three partial derivatives are the three primitives
// here: conv2d(x, w) = dT/dg, conv2d_backprop_input(g, w) = dT/dx and
// conv2d_backprop_filter(x, g) = dT/dw. The gradient of any one of them is again one of the
// three (the mixed partials of T), so each backward calls the other two and an outer tape
// can differentiate a convolution's gradient as often as it likes.
//
// Each computes through Eigen's GEMM: im2col copies every window into a row of a
// [rows, kh*kw*in_c] patch matrix, and conv2d is patches * filter (the filter read as
// [kh*kw*in_c, out_c]); backprop_filter is patches^T * g; backprop_input is g * filter^T,
// whose rows col2im adds back into the windows they came from. A 1x1 filter at stride 1
// needs no patch matrix: the input already is one.
namespace tapegrad {

/// Padding of a convolution or pooling window, as TensorFlow's "VALID" and "SAME".
/// valid: windows lie inside the input, out = ceil((in - (k-1)*dilation) / stride).
/// same: out = ceil(in / stride); the input is padded with
/// max((out-1)*stride + (k-1)*dilation + 1 - in, 0) elements, half of them (rounded down)
/// before and the rest after. Convolutions pad with zeros; pooling ignores padded positions.
enum class Padding { valid, same };

/// A (height, width) pair for strides, dilations and pooling windows; one number means the
/// same for both.   tapegrad::conv2d(x, w, {2, 1});  tapegrad::max_pool2d(x, 2, 2);
struct HeightWidth {
  HeightWidth(std::int64_t both) : h(both), w(both) {}  // NOLINT: as TF's strides=2
  HeightWidth(std::int64_t height, std::int64_t width) : h(height), w(width) {}
  std::int64_t h, w;
  std::string str() const { return "[" + std::to_string(h) + "," + std::to_string(w) + "]"; }
};

namespace detail {

/// Where every window of a convolution or pooling lies: the input [batch, in_h, in_w, in_c],
/// the window [k_h, k_w] (with the filter's out_c; a pool's out_c is in_c), the output
/// [batch, out_h, out_w, out_c], and how windows step and are padded.
struct WindowGeometry {
  std::int64_t batch, in_h, in_w, in_c;
  std::int64_t k_h, k_w, out_c;
  std::int64_t out_h, out_w;
  std::int64_t stride_h, stride_w, dilation_h, dilation_w;
  std::int64_t pad_top, pad_left;

  Shape input_shape() const { return {batch, in_h, in_w, in_c}; }
  Shape filter_shape() const { return {k_h, k_w, in_c, out_c}; }
  Shape output_shape() const { return {batch, out_h, out_w, out_c}; }
  /// Columns of the patch matrix: the elements of one window.
  std::int64_t patch_size() const { return k_h * k_w * in_c; }
  /// A 1x1 window at stride 1 without padding: the input is its own patch matrix.
  bool input_is_patches() const {
    return k_h == 1 && k_w == 1 && stride_h == 1 && stride_w == 1 && pad_top == 0 && pad_left == 0;
  }
};
using GeometryRef = std::shared_ptr<const WindowGeometry>;

inline void check_4d(const char* op, const char* what, const char* layout, const Shape& s) {
  TAPEGRAD_CHECK(s.rank() == 4, shape_error, op, ": ", what, " must be 4-D ", layout,
                 ", got shape ", s);
}
inline void check_positive(const char* op, const char* what, const HeightWidth& v) {
  TAPEGRAD_CHECK(!(v.h <= 0 || v.w <= 0), value_error, op, ": ", what, " must be positive, got ",
                 v);
}

/// Output size and padding before the first window along one axis, TensorFlow's
/// GetWindowedOutputSize. The caller has checked that a VALID window fits.
/// (k - 1) * dilation + 1, or the error `op` throws when that passes 2^63.
inline std::int64_t window_span(const char* op, std::int64_t k, std::int64_t dilation) {
  std::int64_t span = 0;
  TAPEGRAD_CHECK(
      !(__builtin_mul_overflow(k - 1, dilation, &span) || __builtin_add_overflow(span, 1, &span)),
      shape_error, op, ": a window of ", k, " with dilation ", dilation, " spans more than 2^63");
  return span;
}

inline void window_axis(std::int64_t in, std::int64_t span, std::int64_t stride, Padding padding,
                        std::int64_t& out, std::int64_t& pad_before) {
  if (padding == Padding::valid) {
    out = (in - span) / stride + 1;
    pad_before = 0;
  } else {
    out = in / stride + (in % stride != 0);  // ceil(in / stride) without overflow
    pad_before = std::max<std::int64_t>(((out - 1) * stride - in) + span, 0) / 2;
  }
}

/// The geometry of a window [k_h, k_w] (dilated by `dilations`) over `input`, or the error
/// `op` throws when a VALID window does not fit; `window_note` and `shapes_note` add what
/// the message should say about the window and the other operand.
inline WindowGeometry make_geometry(const char* op, const Shape& input, std::int64_t k_h,
                                    std::int64_t k_w, std::int64_t out_c,
                                    const HeightWidth& strides, Padding padding,
                                    const HeightWidth& dilations, const std::string& window_note,
                                    const std::string& shapes_note) {
  WindowGeometry g{};
  g.batch = input[0];
  g.in_h = input[1];
  g.in_w = input[2];
  g.in_c = input[3];
  g.k_h = k_h;
  g.k_w = k_w;
  g.out_c = out_c;
  g.stride_h = strides.h;
  g.stride_w = strides.w;
  g.dilation_h = dilations.h;
  g.dilation_w = dilations.w;
  const std::int64_t span_h = window_span(op, k_h, dilations.h);
  const std::int64_t span_w = window_span(op, k_w, dilations.w);
  TAPEGRAD_CHECK(!(padding == Padding::valid && (span_h > g.in_h || span_w > g.in_w)), shape_error,
                 op, ": the window ", span_h, "x", span_w, window_note,
                 " is larger than the input ", g.in_h, "x", g.in_w, " with VALID padding (input ",
                 input, shapes_note, ")");
  window_axis(g.in_h, span_h, strides.h, padding, g.out_h, g.pad_top);
  window_axis(g.in_w, span_w, strides.w, padding, g.out_w, g.pad_left);
  return g;
}

/// Checks a convolution's arguments and works out its geometry; `op` names the public
/// function in the messages.
inline WindowGeometry conv_geometry(const char* op, const Shape& input, const Shape& filter,
                                    const HeightWidth& strides, Padding padding,
                                    const HeightWidth& dilations) {
  check_4d(op, "input", "[batch, height, width, channels]", input);
  check_4d(op, "filter", "[filter_height, filter_width, in_channels, out_channels]", filter);
  TAPEGRAD_CHECK(input[3] == filter[2], shape_error, op, ": input has ", input[3],
                 " channels but filter expects ", filter[2], " (input ", input, ", filter ", filter,
                 ")");
  TAPEGRAD_CHECK(!(filter[0] == 0 || filter[1] == 0), shape_error, op,
                 ": filter height and width must be positive, got filter ", filter);
  check_positive(op, "strides", strides);
  check_positive(op, "dilations", dilations);
  const std::string window_note = " (a " + std::to_string(filter[0]) + "x" +
                                  std::to_string(filter[1]) + " filter with dilations " +
                                  dilations.str() + ")";
  return make_geometry(op, input, filter[0], filter[1], filter[3], strides, padding, dilations,
                       window_note, ", filter " + filter.str());
}

/// Checks a pooling's arguments and works out its geometry.
inline WindowGeometry pool_geometry(const char* op, const Shape& input, const HeightWidth& ksize,
                                    const HeightWidth& strides, Padding padding) {
  check_4d(op, "input", "[batch, height, width, channels]", input);
  check_positive(op, "ksize", ksize);
  check_positive(op, "strides", strides);
  return make_geometry(op, input, ksize.h, ksize.w, input[3], strides, padding, HeightWidth(1), "",
                       "");
}

// ---- kernels: values only ----

/// Walks the windows of images [n0, n1) in the patch matrix's order (image, oh, ow, then
/// i, j within the window) and calls tap(offset) for each window position: the offset of
/// its in_c input elements, or -1 where it falls into the padding.
template <class F>
void for_each_tap(const WindowGeometry& g, std::int64_t n0, std::int64_t n1, F tap) {
  for (std::int64_t n = n0; n < n1; ++n)
    for (std::int64_t oh = 0; oh < g.out_h; ++oh)
      for (std::int64_t ow = 0; ow < g.out_w; ++ow)
        for (std::int64_t i = 0; i < g.k_h; ++i) {
          const std::int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
          const bool row_inside = ih >= 0 && ih < g.in_h;
          for (std::int64_t j = 0; j < g.k_w; ++j) {
            const std::int64_t iw = ow * g.stride_w - g.pad_left + j * g.dilation_w;
            tap(row_inside && iw >= 0 && iw < g.in_w ? ((n * g.in_h + ih) * g.in_w + iw) * g.in_c
                                                     : std::int64_t{-1});
          }
        }
}

/// The patch matrix of images [n0, n1): one row per output position, kh*kw*in_c columns.
template <class T>
void im2col(const T* x, const WindowGeometry& g, std::int64_t n0, std::int64_t n1, T* patches) {
  const std::int64_t c = g.in_c;
  for_each_tap(g, n0, n1, [&](std::int64_t at) {
    if (at < 0)
      std::fill_n(patches, c, T(0));
    else
      std::copy_n(x + at, c, patches);
    patches += c;
  });
}

/// The adjoint of im2col: adds each patch row back into the window it came from.
template <class T>
void col2im(const T* patches, const WindowGeometry& g, std::int64_t n0, std::int64_t n1, T* x) {
  const auto c = static_cast<Eigen::Index>(g.in_c);
  for_each_tap(g, n0, n1, [&](std::int64_t at) {
    if (at >= 0) MutableArrayMap<T>(x + at, c) += ArrayMap<T>(patches, c);
    patches += c;
  });
}

/// Walks the images in chunks whose patch matrix stays under a fixed budget (yet has
/// enough rows for an efficient GEMM), calling chunk(n0, n1, patches) with a buffer of
/// (n1 - n0) * out_h * out_w rows.
template <class T, class F>
void for_each_chunk(const WindowGeometry& g, F chunk) {
  const std::int64_t per_image = std::max<std::int64_t>(g.out_h * g.out_w * g.patch_size(), 1);
  const std::int64_t images = std::clamp<std::int64_t>((std::int64_t{1} << 21) / per_image, 1,
                                                       std::max<std::int64_t>(g.batch, 1));
  Eigen::Matrix<T, Eigen::Dynamic, 1> buffer(static_cast<Eigen::Index>(images * per_image));
  for (std::int64_t n0 = 0; n0 < g.batch; n0 += images)
    chunk(n0, std::min(n0 + images, g.batch), buffer.data());
}

template <class T>
void conv2d_kernel(const T* x, const T* w, const WindowGeometry& g, T* y) {
  const auto k = static_cast<Eigen::Index>(g.patch_size());
  const auto co = static_cast<Eigen::Index>(g.out_c);
  const std::int64_t positions = g.out_h * g.out_w;
  if (k == 0 || positions * g.batch * co == 0) {
    std::fill_n(y, g.batch * positions * g.out_c, T(0));
    return;
  }
  if (g.input_is_patches()) {
    gemm(false, false, g.batch * positions, co, k, x, w, y, false);
    return;
  }
  for_each_chunk<T>(g, [&](std::int64_t n0, std::int64_t n1, T* patches) {
    const std::int64_t rows = (n1 - n0) * positions;
    im2col(x, g, n0, n1, patches);
    gemm(false, false, rows, co, k, patches, w, y + n0 * positions * co, false);
  });
}

template <class T>
void conv2d_backprop_input_kernel(const T* grad, const T* w, const WindowGeometry& g, T* dx) {
  const auto k = static_cast<Eigen::Index>(g.patch_size());
  const auto co = static_cast<Eigen::Index>(g.out_c);
  const std::int64_t positions = g.out_h * g.out_w;
  std::fill_n(dx, g.batch * g.in_h * g.in_w * g.in_c, T(0));
  if (k == 0 || positions * g.batch * co == 0) return;
  if (g.input_is_patches()) {
    gemm(false, true, g.batch * positions, k, co, grad, w, dx, false);
    return;
  }
  for_each_chunk<T>(g, [&](std::int64_t n0, std::int64_t n1, T* patches) {
    const std::int64_t rows = (n1 - n0) * positions;
    gemm(false, true, rows, k, co, grad + n0 * positions * co, w, patches, false);
    col2im(patches, g, n0, n1, dx);
  });
}

template <class T>
void conv2d_backprop_filter_kernel(const T* x, const T* grad, const WindowGeometry& g, T* dw) {
  const auto k = static_cast<Eigen::Index>(g.patch_size());
  const auto co = static_cast<Eigen::Index>(g.out_c);
  const std::int64_t positions = g.out_h * g.out_w;
  std::fill_n(dw, k * co, T(0));
  if (k == 0 || positions * g.batch * co == 0) return;
  if (g.input_is_patches()) {
    gemm(true, false, k, co, g.batch * positions, x, grad, dw, false);
    return;
  }
  for_each_chunk<T>(g, [&](std::int64_t n0, std::int64_t n1, T* patches) {
    const std::int64_t rows = (n1 - n0) * positions;
    im2col(x, g, n0, n1, patches);
    gemm(true, false, k, co, rows, patches, grad + n0 * positions * co, dw, true);
  });
}

/// Calls window(y_offset, n, h0, h1, w0, w1) for every output position (image n) of a
/// pooling, with the
/// window's rows [h0, h1) and columns [w0, w1) clipped to the input (never empty: a SAME
/// window always overlaps the input).
template <class F>
void for_each_pool_window(const WindowGeometry& g, F window) {
  for (std::int64_t n = 0; n < g.batch; ++n)
    for (std::int64_t oh = 0; oh < g.out_h; ++oh) {
      const std::int64_t top = oh * g.stride_h - g.pad_top;
      const std::int64_t h0 = std::max<std::int64_t>(top, 0), h1 = std::min(top + g.k_h, g.in_h);
      for (std::int64_t ow = 0; ow < g.out_w; ++ow) {
        const std::int64_t left = ow * g.stride_w - g.pad_left;
        const std::int64_t w0 = std::max<std::int64_t>(left, 0),
                           w1 = std::min(left + g.k_w, g.in_w);
        window(((n * g.out_h + oh) * g.out_w + ow) * g.in_c, n, h0, h1, w0, w1);
      }
    }
}

// ---- recorded primitives ----

template <class T>
Tensor<T> conv2d(const Tensor<T>& x, const Tensor<T>& w, const GeometryRef& g);
template <class T>
Tensor<T> conv2d_backprop_input(const Tensor<T>& grad, const Tensor<T>& w, const GeometryRef& g);
template <class T>
Tensor<T> conv2d_backprop_filter(const Tensor<T>& x, const Tensor<T>& grad, const GeometryRef& g);

inline GeometryRef geometry_of(const Entry& e) {
  return std::static_pointer_cast<const WindowGeometry>(e.extra->closure);
}
/// record() for an op that keeps its geometry as the entry's shared data.
inline void record_windowed(const ImplRef& y, const OpDefinition& op,
                            std::initializer_list<const ImplRef*> inputs,
                            std::initializer_list<const ImplRef*> saved, const GeometryRef& g) {
  record(y, op, inputs.begin(), inputs.size(), saved.begin(), saved.size(), OpAttrs{}, g);
}

// NOTE [ Convolution as three linear maps ]: each backward is made of the other two ops, and
// each op is bilinear, so its JVP is the op applied to one tangent at a time.
template <class T>
void conv2d_backward(const Entry& e, ImplRef&& grad, const bool* needs, ImplRef* d) {
  const Tensor<T>& x = e.saved(0).get<T>();
  const Tensor<T>& w = e.saved(1).get<T>();
  const Tensor<T> g(std::move(grad));
  const GeometryRef geometry = geometry_of(e);
  if (needs[0]) give(d[0], conv2d_backprop_input(g, w, geometry));
  if (needs[1]) give(d[1], conv2d_backprop_filter(x, g, geometry));
}
template <class T>
void conv2d_forward(const OpArgs& args, const ImplRef* const* in, TensorImpl& out) {
  conv2d_kernel(static_cast<const T*>((*in[0])->data), static_cast<const T*>((*in[1])->data),
                args.data<WindowGeometry>(), static_cast<T*>(out.data));
}
template <class T>
ImplRef conv2d_jvp(const OpArgs& args, const ImplRef* const* in, const ImplRef&,
                   const ImplRef* const* t) {
  const GeometryRef g = args.data_ref<WindowGeometry>();
  return bilinear_jvp<T>(in, t,
                         [&](const Tensor<T>& x, const Tensor<T>& w) { return conv2d(x, w, g); });
}
template <class T>
inline constexpr OpDefinition conv2d_op{
    "conv2d", OpFamily::convolution, 2, &conv2d_backward<T>, &conv2d_forward<T>, &conv2d_jvp<T>};

template <class T>
void conv2d_backprop_input_backward(const Entry& e, ImplRef&& grad, const bool* needs, ImplRef* d) {
  const Tensor<T>& g = e.saved(0).get<T>();
  const Tensor<T>& w = e.saved(1).get<T>();
  const Tensor<T> h(std::move(grad));  // shaped like the convolution's input
  const GeometryRef geometry = geometry_of(e);
  if (needs[0]) give(d[0], conv2d(h, w, geometry));
  if (needs[1]) give(d[1], conv2d_backprop_filter(h, g, geometry));
}
template <class T>
void conv2d_backprop_input_forward(const OpArgs& args, const ImplRef* const* in, TensorImpl& out) {
  conv2d_backprop_input_kernel(static_cast<const T*>((*in[0])->data),
                               static_cast<const T*>((*in[1])->data), args.data<WindowGeometry>(),
                               static_cast<T*>(out.data));
}
template <class T>
ImplRef conv2d_backprop_input_jvp(const OpArgs& args, const ImplRef* const* in, const ImplRef&,
                                  const ImplRef* const* t) {
  const GeometryRef g = args.data_ref<WindowGeometry>();
  return bilinear_jvp<T>(in, t, [&](const Tensor<T>& grad, const Tensor<T>& w) {
    return conv2d_backprop_input(grad, w, g);
  });
}
template <class T>
inline constexpr OpDefinition conv2d_backprop_input_op{"conv2d_backprop_input",
                                                       OpFamily::convolution,
                                                       2,
                                                       &conv2d_backprop_input_backward<T>,
                                                       &conv2d_backprop_input_forward<T>,
                                                       &conv2d_backprop_input_jvp<T>};

template <class T>
void conv2d_backprop_filter_backward(const Entry& e, ImplRef&& grad, const bool* needs,
                                     ImplRef* d) {
  const Tensor<T>& x = e.saved(0).get<T>();
  const Tensor<T>& g = e.saved(1).get<T>();
  const Tensor<T> k(std::move(grad));  // shaped like the filter
  const GeometryRef geometry = geometry_of(e);
  if (needs[0]) give(d[0], conv2d_backprop_input(g, k, geometry));
  if (needs[1]) give(d[1], conv2d(x, k, geometry));
}
template <class T>
void conv2d_backprop_filter_forward(const OpArgs& args, const ImplRef* const* in, TensorImpl& out) {
  conv2d_backprop_filter_kernel(static_cast<const T*>((*in[0])->data),
                                static_cast<const T*>((*in[1])->data), args.data<WindowGeometry>(),
                                static_cast<T*>(out.data));
}
template <class T>
ImplRef conv2d_backprop_filter_jvp(const OpArgs& args, const ImplRef* const* in, const ImplRef&,
                                   const ImplRef* const* t) {
  const GeometryRef g = args.data_ref<WindowGeometry>();
  return bilinear_jvp<T>(in, t, [&](const Tensor<T>& x, const Tensor<T>& grad) {
    return conv2d_backprop_filter(x, grad, g);
  });
}
template <class T>
inline constexpr OpDefinition conv2d_backprop_filter_op{"conv2d_backprop_filter",
                                                        OpFamily::convolution,
                                                        2,
                                                        &conv2d_backprop_filter_backward<T>,
                                                        &conv2d_backprop_filter_forward<T>,
                                                        &conv2d_backprop_filter_jvp<T>};

template <class T>
Tensor<T> conv2d(const Tensor<T>& x, const Tensor<T>& w, const GeometryRef& g) {
  Tensor<T> y(uninitialized, g->output_shape());
  conv2d_kernel(x.elements(), w.elements(), *g, y.mutable_data());
  if (any_tape_recording())
    record_windowed(y.impl(), conv2d_op<T>, {&x.impl(), &w.impl()}, {&x.impl(), &w.impl()}, g);
  return y;
}

template <class T>
Tensor<T> conv2d_backprop_input(const Tensor<T>& grad, const Tensor<T>& w, const GeometryRef& g) {
  Tensor<T> dx(uninitialized, g->input_shape());
  conv2d_backprop_input_kernel(grad.elements(), w.elements(), *g, dx.mutable_data());
  if (any_tape_recording())
    record_windowed(dx.impl(), conv2d_backprop_input_op<T>, {&grad.impl(), &w.impl()},
                    {&grad.impl(), &w.impl()}, g);
  return dx;
}

template <class T>
Tensor<T> conv2d_backprop_filter(const Tensor<T>& x, const Tensor<T>& grad, const GeometryRef& g) {
  Tensor<T> dw(uninitialized, g->filter_shape());
  conv2d_backprop_filter_kernel(x.elements(), grad.elements(), *g, dw.mutable_data());
  if (any_tape_recording())
    record_windowed(dw.impl(), conv2d_backprop_filter_op<T>, {&x.impl(), &grad.impl()},
                    {&x.impl(), &grad.impl()}, g);
  return dw;
}

// NOTE [ Max pooling routes through its argmax ]
// max_pool2d keeps, for each output element, the flat input index of the maximum it chose
// (the first in row-major window order among equals, as TensorFlow; a NaN wins, as in
// tapegrad::max). Its gradient scatters g to those indices (max_pool2d_grad); the gradient
// of that scatter with respect to g gathers from the same indices (max_pool2d_grad_grad),
// whose gradient is the scatter again. Both take the pooled input x as well, as
// TensorFlow's MaxPoolGrad does: the indices are piecewise constant in x, so the gradient
// with respect to x is zeros (not "no gradient"). The indices are the routing ops' third
// input, a constant to every tape.

template <class T>
Tensor<T> max_pool2d_grad(const Tensor<T>& x, const Tensor<T>& grad,
                          const Tensor<std::int64_t>& argmax);
template <class T>
Tensor<T> max_pool2d_grad_grad(const Tensor<T>& x, const Tensor<T>& h,
                               const Tensor<std::int64_t>& argmax);

/// The window maxima of x into py, and where each was found into pa.
template <class T>
void max_pool2d_into(const T* px, const WindowGeometry& g, T* py, std::int64_t* pa) {
  const std::int64_t c = g.in_c;
  for_each_pool_window(g, [&](std::int64_t out, std::int64_t n, std::int64_t h0, std::int64_t h1,
                              std::int64_t w0, std::int64_t w1) {
    T* best = py + out;
    std::int64_t* where = pa + out;
    for (std::int64_t ih = h0; ih < h1; ++ih)
      for (std::int64_t iw = w0; iw < w1; ++iw) {
        const std::int64_t at = ((n * g.in_h + ih) * g.in_w + iw) * c;
        const bool first = ih == h0 && iw == w0;
        for (std::int64_t k = 0; k < c; ++k) {
          const T v = px[at + k];
          if (first || v > best[k] || (std::isnan(v) && !std::isnan(best[k]))) {
            best[k] = v;
            where[k] = at + k;
          }
        }
      }
  });
}
template <class T>
void max_pool2d_grad_into(const std::int64_t* pa, std::int64_t n, const T* pg, std::int64_t size,
                          T* pdx) {
  std::fill_n(pdx, size, T(0));
  for (std::int64_t i = 0; i < n; ++i) pdx[pa[i]] += pg[i];
}
template <class T>
void max_pool2d_grad_grad_into(const std::int64_t* pa, std::int64_t n, const T* ph, T* py) {
  for (std::int64_t i = 0; i < n; ++i) py[i] = ph[pa[i]];
}

template <class T>
void max_pool2d_backward(const Entry& e, ImplRef&& grad, const bool*, ImplRef* d) {
  give(d[0], max_pool2d_grad(e.saved(0).get<T>(), Tensor<T>(std::move(grad)),
                             e.saved(1).get<std::int64_t>()));
}
// The maxima are the elements the indices name: the op takes the indices (computed once, by
// max_pool2d_argmax, which a trace replays before it) as a second input and reads them.
template <class T>
void max_pool2d_forward(const OpArgs&, const ImplRef* const* in, TensorImpl& out) {
  max_pool2d_grad_grad_into(static_cast<const std::int64_t*>((*in[1])->data), out.size(),
                            static_cast<const T*>((*in[0])->data), static_cast<T*>(out.data));
}
/// The tangent of each maximum is the tangent of the element it took.
template <class T>
ImplRef max_pool2d_jvp(const OpArgs&, const ImplRef* const* in, const ImplRef&,
                       const ImplRef* const* t) {
  if (!*t[0]) return {};
  return max_pool2d_grad_grad(Tensor<T>(*in[0]), Tensor<T>(*t[0]), Tensor<std::int64_t>(*in[1]))
      .take_impl();
}
/// Inputs: x, and the indices of its maxima (no gradient flows to them).
template <class T>
inline constexpr OpDefinition max_pool2d_op{
    "max_pool2d",           OpFamily::convolution, 2, &max_pool2d_backward<T>,
    &max_pool2d_forward<T>, &max_pool2d_jvp<T>};

/// Backward of both routing ops: zeros for x, the other routing op for the routed tensor.
template <class T, bool Scatter>
void max_pool2d_routing_backward(const Entry& e, ImplRef&& grad, const bool* needs, ImplRef* d) {
  const Tensor<T>& x = e.saved(0).get<T>();
  const Tensor<std::int64_t>& argmax = e.saved(1).get<std::int64_t>();
  if (needs[0]) give(d[0], Tensor<T>::zeros(x.shape()));
  if (!needs[1]) return;
  if constexpr (Scatter)
    give(d[1], max_pool2d_grad_grad(x, Tensor<T>(std::move(grad)), argmax));
  else
    give(d[1], max_pool2d_grad(x, Tensor<T>(std::move(grad)), argmax));
}
template <class T, bool Scatter>
void max_pool2d_routing_forward(const OpArgs&, const ImplRef* const* in, TensorImpl& out) {
  const TensorImpl& argmax = *in[2]->get();
  const auto* pa = static_cast<const std::int64_t*>(argmax.data);
  const auto* routed = static_cast<const T*>((*in[1])->data);
  if constexpr (Scatter)
    max_pool2d_grad_into(pa, argmax.size(), routed, out.size(), static_cast<T*>(out.data));
  else
    max_pool2d_grad_grad_into(pa, argmax.size(), routed, static_cast<T*>(out.data));
}
/// Linear in the routed tensor; the tangent of x moves no index, so it adds nothing.
template <class T, bool Scatter>
ImplRef max_pool2d_routing_jvp(const OpArgs&, const ImplRef* const* in, const ImplRef&,
                               const ImplRef* const* t) {
  if (!*t[1]) return {};
  const Tensor<T> x(*in[0]), routed(*t[1]);
  const Tensor<std::int64_t> argmax(*in[2]);
  if constexpr (Scatter)
    return max_pool2d_grad(x, routed, argmax).take_impl();
  else
    return max_pool2d_grad_grad(x, routed, argmax).take_impl();
}
template <class T, bool Scatter>
inline constexpr OpDefinition max_pool2d_routing_op{
    Scatter ? "max_pool2d_grad" : "max_pool2d_grad_grad",
    OpFamily::convolution,
    3,
    &max_pool2d_routing_backward<T, Scatter>,
    &max_pool2d_routing_forward<T, Scatter>,
    &max_pool2d_routing_jvp<T, Scatter>};

/// The indices alone, as an op with no gradient (NOTE [ Ops without a gradient ] in
/// ops/compare.hpp), so that a trace replays the routing of a gradient it records.
template <class T>
void max_pool2d_argmax_forward(const OpArgs& args, const ImplRef* const* in, TensorImpl& out) {
  Tensor<T> maxima(uninitialized, out.shape());
  max_pool2d_into(static_cast<const T*>((*in[0])->data), args.data<WindowGeometry>(),
                  maxima.mutable_data(), static_cast<std::int64_t*>(out.data));
}
template <class T>
inline constexpr OpDefinition max_pool2d_argmax_op{"max_pool2d_argmax", OpFamily::convolution, 1,
                                                   nullptr, &max_pool2d_argmax_forward<T>};

template <class T>
Tensor<T> max_pool2d(const Tensor<T>& x, const WindowGeometry& g) {
  Tensor<T> y(uninitialized, g.output_shape());
  Tensor<std::int64_t> argmax(uninitialized, g.output_shape());
  max_pool2d_into(x.elements(), g, y.mutable_data(), argmax.mutable_data());
  if (any_tape_recording()) {
    const auto geometry = std::make_shared<const WindowGeometry>(g);
    report_op_without_gradient(argmax.impl(), max_pool2d_argmax_op<T>, {&x.impl()}, OpAttrs{},
                               geometry);
    record_windowed(y.impl(), max_pool2d_op<T>, {&x.impl(), &argmax.impl()},
                    {&x.impl(), &argmax.impl()}, geometry);
  }
  return y;
}

/// Zeros shaped like x with each grad element added at its argmax position.
template <class T>
Tensor<T> max_pool2d_grad(const Tensor<T>& x, const Tensor<T>& grad,
                          const Tensor<std::int64_t>& argmax) {
  Tensor<T> dx(uninitialized, x.shape());
  max_pool2d_grad_into(argmax.elements(), argmax.size(), grad.elements(), dx.size(),
                       dx.mutable_data());
  if (any_tape_recording())
    record(dx.impl(), max_pool2d_routing_op<T, true>, {&x.impl(), &grad.impl(), &argmax.impl()},
           {&x.impl(), &argmax.impl()});
  return dx;
}

/// h (shaped like x) read at each output's argmax position.
template <class T>
Tensor<T> max_pool2d_grad_grad(const Tensor<T>& x, const Tensor<T>& h,
                               const Tensor<std::int64_t>& argmax) {
  Tensor<T> y(uninitialized, argmax.shape());
  max_pool2d_grad_grad_into(argmax.elements(), argmax.size(), h.elements(), y.mutable_data());
  if (any_tape_recording())
    record(y.impl(), max_pool2d_routing_op<T, false>, {&x.impl(), &h.impl(), &argmax.impl()},
           {&x.impl(), &argmax.impl()});
  return y;
}

// avg_pool2d and avg_pool2d_grad are linear maps and each other's adjoint (transpose), so
// each one's backward is the other, and each one's JVP is itself.
template <class T>
Tensor<T> avg_pool2d(const Tensor<T>& x, const GeometryRef& g);
template <class T>
Tensor<T> avg_pool2d_grad(const Tensor<T>& grad, const GeometryRef& g);

template <class T>
void avg_pool2d_into(const T* px, const WindowGeometry& g, T* py) {
  const auto c = static_cast<Eigen::Index>(g.in_c);
  for_each_pool_window(g, [&](std::int64_t out, std::int64_t n, std::int64_t h0, std::int64_t h1,
                              std::int64_t w0, std::int64_t w1) {
    MutableArrayMap<T> mean(py + out, c);
    mean.setZero();
    for (std::int64_t ih = h0; ih < h1; ++ih)
      for (std::int64_t iw = w0; iw < w1; ++iw)
        mean += ArrayMap<T>(px + ((n * g.in_h + ih) * g.in_w + iw) * c, c);
    mean /= static_cast<T>((h1 - h0) * (w1 - w0));
  });
}
template <class T>
void avg_pool2d_grad_into(const T* pg, const WindowGeometry& g, T* pdx) {
  const auto c = static_cast<Eigen::Index>(g.in_c);
  std::fill_n(pdx, g.input_shape().size(), T(0));
  for_each_pool_window(g, [&](std::int64_t out, std::int64_t n, std::int64_t h0, std::int64_t h1,
                              std::int64_t w0, std::int64_t w1) {
    const auto share = ArrayMap<T>(pg + out, c) / static_cast<T>((h1 - h0) * (w1 - w0));
    for (std::int64_t ih = h0; ih < h1; ++ih)
      for (std::int64_t iw = w0; iw < w1; ++iw)
        MutableArrayMap<T>(pdx + ((n * g.in_h + ih) * g.in_w + iw) * c, c) += share;
  });
}

template <class T>
void avg_pool2d_backward(const Entry& e, ImplRef&& grad, const bool*, ImplRef* d) {
  give(d[0], avg_pool2d_grad(Tensor<T>(std::move(grad)), geometry_of(e)));
}
template <class T>
void avg_pool2d_forward(const OpArgs& args, const ImplRef* const* in, TensorImpl& out) {
  avg_pool2d_into(static_cast<const T*>((*in[0])->data), args.data<WindowGeometry>(),
                  static_cast<T*>(out.data));
}
template <class T>
ImplRef avg_pool2d_jvp(const OpArgs& args, const ImplRef* const*, const ImplRef&,
                       const ImplRef* const* t) {
  const GeometryRef g = args.data_ref<WindowGeometry>();
  return linear_jvp<T>(t, [&](const Tensor<T>& v) { return avg_pool2d(v, g); });
}
template <class T>
inline constexpr OpDefinition avg_pool2d_op{
    "avg_pool2d",           OpFamily::convolution, 1, &avg_pool2d_backward<T>,
    &avg_pool2d_forward<T>, &avg_pool2d_jvp<T>};

template <class T>
void avg_pool2d_grad_backward(const Entry& e, ImplRef&& grad, const bool*, ImplRef* d) {
  give(d[0], avg_pool2d(Tensor<T>(std::move(grad)), geometry_of(e)));
}
template <class T>
void avg_pool2d_grad_forward(const OpArgs& args, const ImplRef* const* in, TensorImpl& out) {
  avg_pool2d_grad_into(static_cast<const T*>((*in[0])->data), args.data<WindowGeometry>(),
                       static_cast<T*>(out.data));
}
template <class T>
ImplRef avg_pool2d_grad_jvp(const OpArgs& args, const ImplRef* const*, const ImplRef&,
                            const ImplRef* const* t) {
  const GeometryRef g = args.data_ref<WindowGeometry>();
  return linear_jvp<T>(t, [&](const Tensor<T>& v) { return avg_pool2d_grad(v, g); });
}
template <class T>
inline constexpr OpDefinition avg_pool2d_grad_op{
    "avg_pool2d_grad",           OpFamily::convolution,  1, &avg_pool2d_grad_backward<T>,
    &avg_pool2d_grad_forward<T>, &avg_pool2d_grad_jvp<T>};

/// The mean over each window's in-bounds elements (SAME padding divides by their count).
template <class T>
Tensor<T> avg_pool2d(const Tensor<T>& x, const GeometryRef& g) {
  Tensor<T> y(uninitialized, g->output_shape());
  avg_pool2d_into(x.elements(), *g, y.mutable_data());
  if (any_tape_recording()) record_windowed(y.impl(), avg_pool2d_op<T>, {&x.impl()}, {}, g);
  return y;
}

/// Each grad element divided by its window's count, added to the window's elements.
template <class T>
Tensor<T> avg_pool2d_grad(const Tensor<T>& grad, const GeometryRef& g) {
  Tensor<T> dx(uninitialized, g->input_shape());
  avg_pool2d_grad_into(grad.elements(), *g, dx.mutable_data());
  if (any_tape_recording())
    record_windowed(dx.impl(), avg_pool2d_grad_op<T>, {&grad.impl()}, {}, g);
  return dx;
}

}  // namespace detail

/// 2-D convolution (cross-correlation, as tf.nn.conv2d) of an NHWC input
/// [batch, height, width, in_channels] with a filter
/// [filter_height, filter_width, in_channels, out_channels]; the result is
/// [batch, out_height, out_width, out_channels] (see Padding for the output size).
///   auto y = tapegrad::conv2d(images, filter, {2, 2}, tapegrad::Padding::same);
template <class X, class F, detail::if_both_differentiable<X, F> = 0>
Tensor<detail::element_t<X>> conv2d(const X& input, const F& filter, HeightWidth strides = {1, 1},
                                    Padding padding = Padding::valid,
                                    HeightWidth dilations = {1, 1},
                                    SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& x = detail::arg(input, "conv2d");  // read input before filter, as written
  const auto& w = detail::arg(filter, "conv2d");
  return detail::conv2d(x, w,
                        std::make_shared<const detail::WindowGeometry>(detail::conv_geometry(
                            "conv2d", x.shape(), w.shape(), strides, padding, dilations)));
}

/// The gradient of conv2d with respect to its input, for an input of `input_shape`
/// (tf.nn.conv2d_backprop_input; a transposed convolution). `grad` is shaped like conv2d's
/// result.   auto dx = tapegrad::conv2d_backprop_input(g, filter, x.shape(), {2, 2});
template <class G, class F, detail::if_both_differentiable<G, F> = 0>
Tensor<detail::element_t<G>> conv2d_backprop_input(
    const G& grad, const F& filter, const Shape& input_shape, HeightWidth strides = {1, 1},
    Padding padding = Padding::valid, HeightWidth dilations = {1, 1},
    SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  constexpr const char* op = "conv2d_backprop_input";
  const auto& g = detail::arg(grad, op);
  const auto& w = detail::arg(filter, op);
  const detail::WindowGeometry geometry =
      detail::conv_geometry(op, input_shape, w.shape(), strides, padding, dilations);
  TAPEGRAD_CHECK(g.shape() == geometry.output_shape(), shape_error, op, ": the gradient has shape ",
                 g.shape(), " but the convolution's output has shape ", geometry.output_shape(),
                 " (input ", input_shape, ", filter ", w.shape(), ")");
  return detail::conv2d_backprop_input(g, w,
                                       std::make_shared<const detail::WindowGeometry>(geometry));
}

/// The gradient of conv2d with respect to its filter, for a filter of `filter_shape`
/// (tf.nn.conv2d_backprop_filter). `grad` is shaped like conv2d's result.
///   auto dw = tapegrad::conv2d_backprop_filter(x, g, w.shape(), 1, tapegrad::Padding::same);
template <class X, class G, detail::if_both_differentiable<X, G> = 0>
Tensor<detail::element_t<X>> conv2d_backprop_filter(
    const X& input, const G& grad, const Shape& filter_shape, HeightWidth strides = {1, 1},
    Padding padding = Padding::valid, HeightWidth dilations = {1, 1},
    SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  constexpr const char* op = "conv2d_backprop_filter";
  const auto& x = detail::arg(input, op);
  const auto& g = detail::arg(grad, op);
  const detail::WindowGeometry geometry =
      detail::conv_geometry(op, x.shape(), filter_shape, strides, padding, dilations);
  TAPEGRAD_CHECK(g.shape() == geometry.output_shape(), shape_error, op, ": the gradient has shape ",
                 g.shape(), " but the convolution's output has shape ", geometry.output_shape(),
                 " (input ", x.shape(), ", filter ", filter_shape, ")");
  return detail::conv2d_backprop_filter(x, g,
                                        std::make_shared<const detail::WindowGeometry>(geometry));
}

/// The maximum over each [ksize.h, ksize.w] window of an NHWC input, per channel
/// (tf.nn.max_pool2d). The gradient goes to the first maximum of a window in row-major
/// order; padded positions are never chosen.
///   auto y = tapegrad::max_pool2d(x, {2, 2}, {2, 2}, tapegrad::Padding::same);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> max_pool2d(const X& input, HeightWidth ksize, HeightWidth strides,
                                        Padding padding = Padding::valid,
                                        SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& x = detail::arg(input, "max_pool2d");
  return detail::max_pool2d(
      x, detail::pool_geometry("max_pool2d", x.shape(), ksize, strides, padding));
}

/// The mean over each [ksize.h, ksize.w] window of an NHWC input, per channel
/// (tf.nn.avg_pool2d); with SAME padding a window divides by its in-bounds elements only.
///   auto y = tapegrad::avg_pool2d(x, 3, 1, tapegrad::Padding::same);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> avg_pool2d(const X& input, HeightWidth ksize, HeightWidth strides,
                                        Padding padding = Padding::valid,
                                        SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& x = detail::arg(input, "avg_pool2d");
  return detail::avg_pool2d(x, std::make_shared<const detail::WindowGeometry>(detail::pool_geometry(
                                   "avg_pool2d", x.shape(), ksize, strides, padding)));
}

}  // namespace tapegrad
