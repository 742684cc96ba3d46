#pragma once

#include <cmath>
#include <limits>
#include <type_traits>

#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/ops/binary.hpp"
#include "tapegrad/ops/unary.hpp"

// Elementwise functions of two tensors, with NumPy broadcasting: maximum, minimum, atan2,
// pow, and the compositions squared_difference and clip_by_value.
namespace tapegrad {
namespace detail {

/// 1 where a >= b (a <= b for minimum), else 0, at the broadcast shape: which argument a
/// maximum or minimum takes. Ties go to the first argument, as in TensorFlow. The mask does
/// not change under a small perturbation, so it is a constant to an outer tape.
template <bool Greater, class T>
Tensor<T> first_wins(const Tensor<T>& a, const Tensor<T>& b) {
  return map_binary(a, b, Greater ? "maximum" : "minimum", [](const auto& x, const auto& z) {
    if constexpr (Greater)
      return (x >= z).template cast<T>();
    else
      return (x <= z).template cast<T>();
  });
}

template <bool Greater>
struct Extremum {
  static constexpr const char* name = Greater ? "maximum" : "minimum";
  template <class A, class B>
  static auto forward(const A& a, const B& b) {
    // NaN on either side gives NaN, as tf.maximum does (Eigen's max returns one side).
    using T = typename std::decay_t<A>::Scalar;
    return a.binaryExpr(b, [](T u, T v) {
      if (std::isnan(u) || std::isnan(v)) return std::numeric_limits<T>::quiet_NaN();
      return (Greater ? u >= v : u <= v) ? u : v;
    });
  }
  template <class T>
  static void gradient(const Tensor<T>& a, const Tensor<T>& b, const Tensor<T>&, const Tensor<T>& g,
                       unsigned needs, Tensor<T>& da, Tensor<T>& db) {
    const Tensor<T> mask = first_wins<Greater>(a, b);
    if (needs & 1u) da = g * mask;
    if (needs & 2u) db = g * (T(1) - mask);
  }
};

struct Atan2 {
  static constexpr const char* name = "atan2";
  template <class A, class B>
  static auto forward(const A& y, const B& x) {
    using T = typename std::decay_t<A>::Scalar;
    return y.binaryExpr(x, [](T u, T v) { return std::atan2(u, v); });
  }
  template <class T>
  static void gradient(const Tensor<T>& y, const Tensor<T>& x, const Tensor<T>&, const Tensor<T>& g,
                       unsigned needs, Tensor<T>& dy, Tensor<T>& dx) {
    const Tensor<T> r2 = square(x) + square(y);
    if (needs & 1u) dy = g * x / r2;
    if (needs & 2u) dx = -(g * y / r2);
  }
};

/// a^b. d/da = b a^(b-1); d/db = a^b log(a) where a > 0 and 0 elsewhere (TensorFlow's
/// convention, so a negative or zero base gives no NaN to the exponent).
struct Pow {
  static constexpr const char* name = "pow";
  template <class A, class B>
  static auto forward(const A& a, const B& b) {
    using T = typename std::decay_t<A>::Scalar;
    return a.binaryExpr(b, [](T u, T v) { return std::pow(u, v); });
  }
  template <class T>
  static void gradient(const Tensor<T>& a, const Tensor<T>& b, const Tensor<T>& y,
                       const Tensor<T>& g, unsigned needs, Tensor<T>& da, Tensor<T>& db) {
    if (needs & 1u) da = g * b * apply_binary<Pow>(a, b - T(1));
    if (needs & 2u) {
      const Tensor<T> positive =
          map_unary(a, [](const auto& v) { return (v > T(0)).template cast<T>(); });
      const Tensor<T> safe_base = a * positive + (T(1) - positive);  // 1 where a <= 0
      // Select rather than multiply by the mask: y may be inf or NaN where a <= 0.
      db = apply_binary<ReluGrad>(a, g * y * log(safe_base));
    }
  }
};

}  // namespace detail

/// The larger of a and b elementwise, with broadcasting; on ties the gradient goes to a.
///   auto y = tapegrad::maximum(x, Tensor<float>(0.f));
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> maximum(const X& a, const Y& b,
                                     SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& ta = detail::arg(a, "maximum");
  return detail::apply_binary<detail::Extremum<true>>(ta, detail::arg(b, "maximum"));
}
/// The smaller of a and b elementwise, with broadcasting; on ties the gradient goes to a.
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> minimum(const X& a, const Y& b,
                                     SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& ta = detail::arg(a, "minimum");
  return detail::apply_binary<detail::Extremum<false>>(ta, detail::arg(b, "minimum"));
}
/// The angle of (x, y) elementwise, in (-pi, pi].   auto angle = tapegrad::atan2(y, x);
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> atan2(const X& y, const Y& x,
                                   SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& ty = detail::arg(y, "atan2");
  return detail::apply_binary<detail::Atan2>(ty, detail::arg(x, "atan2"));
}
/// a^b elementwise with broadcasting (tensor^tensor); see also pow(x, scalar).
///   auto y = tapegrad::pow(base, exponent);
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> pow(const X& a, const Y& b,
                                 SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& ta = detail::arg(a, "pow");
  return detail::apply_binary<detail::Pow>(ta, detail::arg(b, "pow"));
}
/// s^x elementwise for a scalar base.   auto y = tapegrad::pow(2.0, x);
template <class S, class X, detail::if_tensor_and_scalar<X, S> = 0>
Tensor<detail::element_t<X>> pow(S base, const X& x,
                                 SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  return pow(Tensor<T>(static_cast<T>(base)), detail::arg(x, "pow"));
}
/// (a - b)^2 elementwise.   auto d = tapegrad::squared_difference(a, b);
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> squared_difference(const X& a, const Y& b,
                                                SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return square(a - b);
}
/// x limited to [lo, hi]; the gradient passes where lo <= x <= hi, bounds included (as in
/// TensorFlow).   auto y = tapegrad::clip_by_value(x, -1.0, 1.0);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> clip_by_value(const X& x, double lo, double hi,
                                           SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  TAPEGRAD_CHECK(lo <= hi, value_error, "clip_by_value: the lower bound ", lo,
                 " is above the upper bound ", hi);
  return minimum(maximum(detail::arg(x, "clip_by_value"), Tensor<T>(static_cast<T>(lo))),
                 Tensor<T>(static_cast<T>(hi)));
}

}  // namespace tapegrad
