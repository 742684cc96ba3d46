#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "tapegrad/dtype.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/shape.hpp"
#include "tapegrad/tensor.hpp"

// Loops that every op family shares: elementwise maps with NumPy broadcasting, and the
// reduction that undoes a broadcast. They compute values only; recording is the ops' job.
namespace tapegrad::detail {

template <class T>
using ArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using MutableArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstantArray = decltype(Eigen::Array<T, Eigen::Dynamic, 1>::Constant(1, T(0)));

/// Row-major strides that `from` has when read as the broadcast shape `to` (0 on axes
/// where `from` has size 1 or is missing).
inline void broadcast_strides(const Shape& from, const Shape& to, std::int64_t* strides) {
  const int offset = to.rank() - from.rank();
  std::int64_t stride = 1;
  for (int i = to.rank() - 1; i >= 0; --i) {
    const int j = i - offset;
    if (j < 0 || from[j] == 1) {
      strides[i] = 0;
    } else {
      strides[i] = stride;
    }
    if (j >= 0) stride *= from[j];
  }
}

/// Calls row(out_offset, a_offset, b_offset, length) for each innermost row of `shape`,
/// where the output is contiguous and a, b are read with the given strides.
template <class F>
void for_each_row(const Shape& shape, const std::int64_t* a_strides, const std::int64_t* b_strides,
                  F row) {
  const int rank = shape.rank();
  if (rank == 0) {
    row(std::int64_t{0}, std::int64_t{0}, std::int64_t{0}, std::int64_t{1});
    return;
  }
  if (shape.size() == 0) return;
  const std::int64_t length = shape[rank - 1];
  std::int64_t index[Shape::max_rank] = {};
  std::int64_t a = 0, b = 0, out = 0;
  for (;;) {
    row(out, a, b, length);
    out += length;
    int axis = rank - 2;
    for (; axis >= 0; --axis) {
      a += a_strides[axis];
      b += b_strides[axis];
      if (++index[axis] < shape[axis]) break;
      a -= a_strides[axis] * shape[axis];
      b -= b_strides[axis] * shape[axis];
      index[axis] = 0;
    }
    if (axis < 0) return;
  }
}

/// y = f(x) elementwise, where f maps an Eigen array expression to one.
template <class T, class F>
Tensor<T> map_unary(const Tensor<T>& x, F f) {
  Tensor<T> y(uninitialized, *x.impl().get());
  y.mutable_array() = f(x.element_array());
  return y;
}

/// An uninitialised result for a op b: of their common shape, or the broadcast one
/// (shape_error naming `op`).
template <class Out, class T>
Tensor<Out> broadcast_result(const Tensor<T>& a, const Tensor<T>& b, const char* op) {
  if (a.impl()->same_shape(*b.impl().get())) return Tensor<Out>(uninitialized, *a.impl().get());
  return Tensor<Out>(uninitialized, broadcast_shapes(a.shape(), b.shape(), op));
}

/// y = f(a, b) elementwise with NumPy broadcasting, into `py`, which holds the elements of
/// `shape`, the broadcast shape. f must accept any mix of Eigen array maps and constant arrays
/// (a generic lambda over operators does).
template <class T, class Out, class F>
void map_binary_into(const Tensor<T>& a, const Tensor<T>& b, const Shape& shape, Out* py, F f) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  if (a.impl()->same_shape(*b.impl().get())) {
    MutableArrayMap<Out>(py, static_cast<Eigen::Index>(a.size())) =
        f(a.element_array(), b.element_array());
    return;
  }
  const Shape sa = a.shape();
  const Shape sb = b.shape();
  const auto n = static_cast<Eigen::Index>(shape.size());
  if (sa.size() == 1 && sb == shape) {
    MutableArrayMap<Out>(py, n) = f(Array::Constant(n, a.elements()[0]), b.element_array());
    return;
  }
  if (sb.size() == 1 && sa == shape) {
    MutableArrayMap<Out>(py, n) = f(a.element_array(), Array::Constant(n, b.elements()[0]));
    return;
  }
  std::int64_t a_strides[Shape::max_rank], b_strides[Shape::max_rank];
  broadcast_strides(sa, shape, a_strides);
  broadcast_strides(sb, shape, b_strides);
  const bool a_row = shape.rank() > 0 && a_strides[shape.rank() - 1] != 0;
  const bool b_row = shape.rank() > 0 && b_strides[shape.rank() - 1] != 0;
  const T* pa = a.elements();
  const T* pb = b.elements();
  for_each_row(shape, a_strides, b_strides,
               [&](std::int64_t out, std::int64_t ia, std::int64_t ib, std::int64_t length) {
                 const auto len = static_cast<Eigen::Index>(length);
                 MutableArrayMap<Out> dst(py + out, len);
                 if (a_row && b_row)
                   dst = f(ArrayMap<T>(pa + ia, len), ArrayMap<T>(pb + ib, len));
                 else if (a_row)
                   dst = f(ArrayMap<T>(pa + ia, len), Array::Constant(len, pb[ib]));
                 else if (b_row)
                   dst = f(Array::Constant(len, pa[ia]), ArrayMap<T>(pb + ib, len));
                 else
                   dst = f(Array::Constant(len, pa[ia]), Array::Constant(len, pb[ib]));
               });
}

/// map_binary_into for a result `out`, whose Shape is built only when a and b differ in shape.
template <class T, class Out, class F>
void map_binary_into(const Tensor<T>& a, const Tensor<T>& b, const TensorImpl& out, Out* py, F f) {
  if (a.impl()->same_shape(*b.impl().get())) {
    MutableArrayMap<Out>(py, static_cast<Eigen::Index>(a.size())) =
        f(a.element_array(), b.element_array());
    return;
  }
  map_binary_into(a, b, out.shape(), py, f);
}

/// y = f(a, b) elementwise with NumPy broadcasting, with elements of type R (T unless given;
/// bool for comparisons).
template <class R = void, class T, class F, class Out = std::conditional_t<std::is_void_v<R>, T, R>>
Tensor<Out> map_binary(const Tensor<T>& a, const Tensor<T>& b, const char* op, F f) {
  Tensor<Out> y = broadcast_result<Out>(a, b, op);
  map_binary_into(a, b, *y.impl().get(), y.mutable_data(), f);
  return y;
}

// NOTE [ Sums in a fixed order ]
// Eigen's vectorised reductions start at the first element aligned to a whole packet, so with
// vectors wider than 16 bytes (-march=native: 32 or 64 bytes) the same numbers at another
// address add in another order and may differ in the last bit. Tensors' elements start on a
// 64-byte boundary (NOTE [ Element alignment ]), but a sum also runs over parts of a tensor
// (a row, a window), and replay, recompute_grad and threads promise bit-identical results,
// so every sum over many elements goes through sum_in_fixed_order: 16 running sums, lane j taking
// the elements whose index is j modulo 16, combined in a fixed tree at the end. The order depends
// on the count alone, so the result is the same at any address and with any vector width, and the
// lanes still vectorise. tests/wide_vectors_test.cpp checks it with the machine's widest vectors.

/// The sum of term(p[k]) for k < n in Acc, added in an order that depends on n alone. `term`
/// takes one Acc or an Eigen array of them:  [](const auto& v) { return v * v; }
template <class Acc, class T, class Term>
Acc sum_in_fixed_order(const T* p, std::int64_t n, Term term) {
  constexpr int lanes = 16;
  // Starting from the first elements rather than from +0 keeps the sum of -0s -0, as Eigen's.
  if (n < lanes) {  // one after another: as fixed an order, without the lanes' set-up
    Acc sum = n > 0 ? term(static_cast<Acc>(p[0])) : Acc(0);
    for (std::int64_t i = 1; i < n; ++i) sum += term(static_cast<Acc>(p[i]));
    return sum;
  }
  using Lanes = Eigen::Array<Acc, lanes, 1>;
  using Elements = Eigen::Map<const Eigen::Array<T, lanes, 1>>;
  Lanes sums = term(Elements(p).template cast<Acc>());
  std::int64_t i = lanes;
  for (; i + lanes <= n; i += lanes) sums += term(Elements(p + i).template cast<Acc>());
  for (int j = 0; i + j < n; ++j) sums[j] += term(static_cast<Acc>(p[i + j]));
  for (int width = lanes / 2; width > 0; width /= 2)
    for (int j = 0; j < width; ++j) sums[j] += sums[j + width];
  return sums[0];
}
/// The sum of p[0], ..., p[n - 1], added in an order that depends on n alone.
template <class T>
T sum_in_fixed_order(const T* p, std::int64_t n) {
  return sum_in_fixed_order<T>(p, n, [](const auto& v) { return v; });
}

/// The sum of x over the axes along which `shape` was broadcast to x's shape, into `py`,
/// which holds shape's elements.
template <class T>
void sum_to_into(const Tensor<T>& x, const Shape& shape, T* py) {
  const Shape& sx = x.shape();
  std::fill_n(py, shape.size(), T(0));
  if (shape.size() == 1) {
    py[0] = sum_in_fixed_order(x.elements(), x.size());
    return;
  }
  std::int64_t y_strides[Shape::max_rank], unused[Shape::max_rank] = {};
  broadcast_strides(shape, sx, y_strides);
  const bool y_row = sx.rank() > 0 && y_strides[sx.rank() - 1] != 0;
  const T* px = x.elements();
  for_each_row(sx, y_strides, unused,
               [&](std::int64_t in, std::int64_t iy, std::int64_t, std::int64_t length) {
                 const auto len = static_cast<Eigen::Index>(length);
                 if (y_row)
                   MutableArrayMap<T>(py + iy, len) += ArrayMap<T>(px + in, len);
                 else
                   py[iy] += sum_in_fixed_order(px + in, length);
               });
}
template <class T>
Tensor<T> sum_to_kernel(const Tensor<T>& x, const Shape& shape) {
  Tensor<T> y(uninitialized, shape);
  sum_to_into(x, shape, y.mutable_data());
  return y;
}

/// x repeated along the axes where it has size 1 (or is missing) to fill `shape`, into `py`.
template <class T>
void broadcast_into(const Tensor<T>& x, const Shape& shape, T* py) {
  std::int64_t x_strides[Shape::max_rank], unused[Shape::max_rank] = {};
  broadcast_strides(x.shape(), shape, x_strides);
  const bool x_row = shape.rank() > 0 && x_strides[shape.rank() - 1] != 0;
  const T* px = x.elements();
  for_each_row(shape, x_strides, unused,
               [&](std::int64_t out, std::int64_t ix, std::int64_t, std::int64_t length) {
                 const auto len = static_cast<Eigen::Index>(length);
                 if (x_row)
                   MutableArrayMap<T>(py + out, len) = ArrayMap<T>(px + ix, len);
                 else
                   MutableArrayMap<T>(py + out, len).setConstant(px[ix]);
               });
}
template <class T>
Tensor<T> broadcast_kernel(const Tensor<T>& x, const Shape& shape) {
  Tensor<T> y(uninitialized, shape);
  broadcast_into(x, shape, y.mutable_data());
  return y;
}

/// Calls f(T{}) with T the element type `dtype` names; floating types only.
template <class F>
decltype(auto) dispatch_floating(DType dtype, F&& f) {
  if (dtype == DType::float32) return f(float{});
  TAPEGRAD_CHECK(dtype == DType::float64, dtype_error, "expected a float32 or float64 tensor, got ",
                 dtype_name(dtype));
  return f(double{});
}

}  // namespace tapegrad::detail
