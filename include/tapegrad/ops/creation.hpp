#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/source_location.hpp"
#include "tapegrad/tensor.hpp"

// Tensors made from nothing but a shape or a few numbers (tf.zeros, tf.ones, tf.fill,
// tf.zeros_like, tf.eye, tf.range, tf.linspace). They are constants: no tape records them.
namespace tapegrad {

namespace detail {
template <class T>
inline constexpr bool is_number_element_v = is_supported_element_v<T> && !std::is_same_v<T, bool>;
}  // namespace detail

/// Zeros of a shape, float unless told (tf.zeros).   auto z = tapegrad::zeros({2, 3});
template <class T = float>
Tensor<T> zeros(const Shape& shape) {
  return Tensor<T>(shape, T(0));
}

/// Ones of a shape, float unless told (tf.ones).   auto o = tapegrad::ones<double>({4});
template <class T = float>
Tensor<T> ones(const Shape& shape) {
  return Tensor<T>(shape, T(1));
}

/// Every element equal to `value`, of value's type (tf.fill).
///   auto h = tapegrad::full({2, 2}, 0.5f);   // float
template <class T>
Tensor<T> full(const Shape& shape, T value) {
  return Tensor<T>(shape, value);
}

/// Zeros (ones) of x's shape and element type; x may be a Tensor or a Variable, whose value
/// is not read, so no tape watches it (tf.zeros_like).   auto g0 = tapegrad::zeros_like(w);
template <class X, std::enable_if_t<detail::is_tensor_like_v<X>, int> = 0>
Tensor<detail::element_t<X>> zeros_like(const X& x) {
  using T = detail::element_t<X>;
  return Tensor<T>(x.shape(), T(0));
}
template <class X, std::enable_if_t<detail::is_tensor_like_v<X>, int> = 0>
Tensor<detail::element_t<X>> ones_like(const X& x) {
  using T = detail::element_t<X>;
  return Tensor<T>(x.shape(), T(1));
}

/// The identity matrix [rows, cols] (cols = rows unless given), float unless told (tf.eye).
///   auto i3 = tapegrad::eye(3);   auto r = tapegrad::eye<double>(2, 4);
template <class T = float>
Tensor<T> eye(std::int64_t rows, std::int64_t cols = -1,
              SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  if (cols == -1) cols = rows;
  TAPEGRAD_CHECK(!(rows < 0 || cols < 0), value_error,
                 "eye: needs non-negative sizes, got rows = ", rows, ", cols = ", cols);
  Tensor<T> y(Shape{rows, cols}, T(0));
  T* out = y.mutable_data();
  for (std::int64_t i = 0; i < std::min(rows, cols); ++i) out[i * cols + i] = T(1);
  return y;
}

/// start, start + delta, ... up to but not including limit, of the arguments' common type
/// (tf.range; NumPy's arange). The i-th element is start + i * delta computed in that type.
///   auto i = tapegrad::range(5);                // int32 [0 1 2 3 4]
///   auto t = tapegrad::range(0.0, 1.0, 0.25);  // double [0. 0.25 0.5 0.75]
template <
    class A, class B, class C = A,
    std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B> && std::is_arithmetic_v<C>,
                     int> = 0>
Tensor<std::common_type_t<A, B, C>> range(A start, B limit, C delta = C(1),
                                          SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = std::common_type_t<A, B, C>;
  static_assert(detail::is_number_element_v<T>,
                "tapegrad::range: the arguments' common type must be float, double, int32 or "
                "int64");
  const T s = static_cast<T>(start), l = static_cast<T>(limit), d = static_cast<T>(delta);
  const auto text = [](T v) { return std::to_string(v); };
  TAPEGRAD_CHECK(d != T(0), value_error, "range: delta must not be 0");
  TAPEGRAD_CHECK(
      !(!std::isfinite(static_cast<double>(s)) || !std::isfinite(static_cast<double>(l)) ||
        !std::isfinite(static_cast<double>(d))),
      value_error, "range: needs finite start, limit and delta, got ", text(s), ", ", text(l), ", ",
      text(d));
  TAPEGRAD_CHECK(!((d > T(0) && s > l) || (d < T(0) && s < l)), value_error, "range: start ",
                 text(s), " does not reach limit ", text(l), " in steps of delta ", text(d));
  // The element count in double, as TensorFlow computes it: ceil(|limit - start| / |delta|).
  const double count = std::ceil(
      std::abs((static_cast<double>(l) - static_cast<double>(s)) / static_cast<double>(d)));
  TAPEGRAD_CHECK(!(count > static_cast<double>(std::int64_t{1} << 40)), value_error,
                 "range: ", text(s), " to ", text(l), " in steps of ", text(d),
                 " would have more than 2^40 elements");
  const auto n = static_cast<std::int64_t>(count);
  Tensor<T> y(detail::uninitialized, Shape{n});
  T* out = y.mutable_data();
  for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(s + static_cast<T>(i) * d);
  detail::note_host_values(y.impl().get());
  return y;
}
/// 0, 1, ..., limit - 1 (tf.range(limit)).   auto idx = tapegrad::range(std::int64_t{10});
template <class A, std::enable_if_t<std::is_arithmetic_v<A>, int> = 0>
Tensor<A> range(A limit, SourceLocation where = SourceLocation::current()) {
  return range(A(0), limit, A(1), where);
}
/// NumPy's name for range; an error names the caller's line, as range's does.
///   auto x = tapegrad::arange(0.0, 2.0, 0.5);
template <
    class A, class B, class C = A,
    std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B> && std::is_arithmetic_v<C>,
                     int> = 0>
Tensor<std::common_type_t<A, B, C>> arange(A start, B limit, C delta = C(1),
                                           SourceLocation where = SourceLocation::current()) {
  return range(start, limit, delta, where);
}
template <class A, std::enable_if_t<std::is_arithmetic_v<A>, int> = 0>
Tensor<A> arange(A limit, SourceLocation where = SourceLocation::current()) {
  return range(A(0), limit, A(1), where);
}

/// num evenly spaced values from start to stop, both included; float unless told
/// (tf.linspace). The last element is exactly stop.
///   auto t = tapegrad::linspace(0.0, 1.0, 5);   // [0. 0.25 0.5 0.75 1.]
template <class T = float>
Tensor<T> linspace(double start, double stop, std::int64_t num,
                   SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  static_assert(is_differentiable_v<T>, "tapegrad::linspace makes float or double tensors");
  TAPEGRAD_CHECK(!(num <= 0), value_error, "linspace: num must be positive, got ", num);
  TAPEGRAD_CHECK(!(!std::isfinite(start) || !std::isfinite(stop)), value_error,
                 "linspace: needs finite start and stop, got ", start, " and ", stop);
  Tensor<T> y(detail::uninitialized, Shape{num});
  T* out = y.mutable_data();
  const double step = num > 1 ? (stop - start) / static_cast<double>(num - 1) : 0.0;
  for (std::int64_t i = 0; i < num; ++i)
    out[i] = static_cast<T>(start + static_cast<double>(i) * step);
  if (num > 1) out[num - 1] = static_cast<T>(stop);
  detail::note_host_values(y.impl().get());
  return y;
}

}  // namespace tapegrad
