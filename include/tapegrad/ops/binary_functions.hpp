#pragma once

#include <cmath>
#include <limits>
#include <type_traits>

#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/ops/binary.hpp"
#include "tapegrad/ops/compare.hpp"
#include "tapegrad/ops/unary.hpp"

// Elementwise functions of two tensors, with NumPy broadcasting: maximum, minimum, atan2,
// pow, and the compositions squared_difference and clip_by_value (number or tensor bounds).
namespace tapegrad {
namespace detail {

/// 1 where a >= b (a <= b for minimum), else 0, at the broadcast shape: which argument a
/// maximum or minimum takes. Ties go to the first argument, as in TensorFlow. The mask does
/// not change under a small perturbation, so it is a constant to an outer tape.
template <bool Greater, class A, class B, std::enable_if_t<!is_tensor_like_v<A>, int> = 0>
auto first_wins(const A& a, const B& b) {
  using T = scalar_t<A>;
  if constexpr (Greater)
    return (a >= b).template cast<T>();
  else
    return (a <= b).template cast<T>();
}
template <bool Greater, class T>
void first_wins_forward(const OpArgs&, const ImplRef* const* inputs, TensorImpl& out) {
  map_binary_into(Tensor<T>(*inputs[0]), Tensor<T>(*inputs[1]), out, static_cast<T*>(out.data),
                  [](const auto& x, const auto& z) { return first_wins<Greater>(x, z); });
}
/// The mask as an op with no gradient (NOTE [ Ops without a gradient ]).
template <bool Greater, class T>
inline constexpr OpDefinition first_wins_op{Greater ? "maximum_mask" : "minimum_mask",
                                            OpFamily::elementwise, 2, nullptr,
                                            &first_wins_forward<Greater, T>};
template <bool Greater, class T>
Tensor<T> first_wins(const Tensor<T>& a, const Tensor<T>& b) {
  return run_without_gradient<T>(
      first_wins_op<Greater, T>, {&a.impl(), &b.impl()},
      broadcast_shapes(a.shape(), b.shape(), Greater ? "maximum" : "minimum"));
}

/// 1 where a > 0, else 0: a constant to an outer tape (NOTE [ Ops without a gradient ]).
template <class A, std::enable_if_t<!is_tensor_like_v<A>, int> = 0>
auto positive_mask(const A& a) {
  using S = scalar_t<A>;
  return (a > S(0)).template cast<S>();
}
template <class T>
Tensor<T> positive_mask(const Tensor<T>& a) {
  return cast<T>(compare<T, Greater>(a, Tensor<T>(T(0))));
}

template <bool Greater>
struct Extremum {
  static constexpr const char* name = Greater ? "maximum" : "minimum";
  static constexpr unsigned reads = reads_a | reads_b;
  template <class A, class B>
  static auto forward(const A& a, const B& b) {
    // NaN on either side gives NaN, as tf.maximum does (Eigen's max returns one side).
    using T = typename std::decay_t<A>::Scalar;
    return a.binaryExpr(b, [](T u, T v) {
      if (std::isnan(u) || std::isnan(v)) return std::numeric_limits<T>::quiet_NaN();
      return (Greater ? u >= v : u <= v) ? u : v;
    });
  }
  template <class V>
  static auto da(const V& a, const V& b, const V&, const V& g) {
    return g * first_wins<Greater>(a, b);
  }
  template <class V, class S = scalar_t<V>>
  static auto db(const V& a, const V& b, const V&, const V& g) {
    return g * (S(1) - first_wins<Greater>(a, b));
  }
};

struct Atan2 {
  static constexpr const char* name = "atan2";
  static constexpr unsigned reads = reads_a | reads_b;
  // Scalar code (std::atan2), so the rules stay composed (NOTE [ One rule, two dialects ]).
  static constexpr bool fuses = false;
  template <class A, class B>
  static auto forward(const A& y, const B& x) {
    using T = typename std::decay_t<A>::Scalar;
    return y.binaryExpr(x, [](T u, T v) { return std::atan2(u, v); });
  }
  template <class V>
  static auto da(const V& y, const V& x, const V&, const V& g) {
    return g * x / (square(x) + square(y));
  }
  template <class V>
  static auto db(const V& y, const V& x, const V&, const V& g) {
    return -(g * y / (square(x) + square(y)));
  }
};

/// a^b. d/da = b a^(b-1); d/db = a^b log(a) where a > 0 and 0 elsewhere (TensorFlow's
/// convention, so a negative or zero base gives no NaN to the exponent). Its forward is scalar
/// code (std::pow), so its rules stay composed (NOTE [ One rule, two dialects ]).
struct Pow {
  static constexpr const char* name = "pow";
  static constexpr bool fuses = false;
  template <class A, class B>
  static auto forward(const A& a, const B& b) {
    using T = typename std::decay_t<A>::Scalar;
    return a.binaryExpr(b, [](T u, T v) { return std::pow(u, v); });
  }
  template <class V, class S = scalar_t<V>>
  static auto da(const V& a, const V& b, const V&, const V& g) {
    return g * b * elementwise<Pow>(a, b - S(1));
  }
  template <class V, class S = scalar_t<V>>
  static auto db(const V& a, const V&, const V& y, const V& g) {
    const V positive = positive_mask(a);
    const V safe_base = a * positive + (S(1) - positive);  // 1 where a <= 0
    // Select rather than multiply by the mask: y may be inf or NaN where a <= 0.
    return elementwise<ReluGrad>(a, g * y * log(safe_base));
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

/// x limited to [lo, hi] elementwise, with bounds that are tensors (broadcast to x's shape):
/// TensorFlow's maximum(minimum(x, hi), lo), so the gradient flows into a bound where it
/// clips and into x where lo <= x <= hi, bounds included. A lo above its hi is a value_error
/// (TensorFlow returns lo there), and bounds that would widen x a shape_error.
///   auto y = tapegrad::clip_by_value(x, lower, upper);
template <class X, class L, class H,
          std::enable_if_t<detail::is_tensor_like_v<L> && detail::is_tensor_like_v<H>, int> = 0,
          detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> clip_by_value(const X& x, const L& lo, const H& hi,
                                           SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  const Tensor<T>& tx = detail::arg(x, "clip_by_value");
  const Tensor<T>& tlo = detail::arg(lo, "clip_by_value");
  const Tensor<T>& thi = detail::arg(hi, "clip_by_value");
  // Checked on the host: bounds a trace computes are refused there, since a replay would not
  // check them again.
  (void)tlo.data();
  (void)thi.data();
  const Tensor<bool> inverted = greater(tlo, thi);
  for (std::int64_t i = 0; i < inverted.size(); ++i)
    TAPEGRAD_CHECK(!inverted.elements()[i], value_error,
                   "clip_by_value: a lower bound is above its "
                   "upper bound (lo ",
                   tlo.shape(), ", hi ", thi.shape(), ", element ", i, " of their broadcast)");
  Tensor<T> y = maximum(minimum(tx, thi), tlo);
  // TensorFlow asserts that the bounds do not widen x: the result has x's shape.
  TAPEGRAD_CHECK(y.shape() == tx.shape(), shape_error, "clip_by_value: bounds of shapes ",
                 tlo.shape(), " and ", thi.shape(), " would widen x of shape ", tx.shape(), " to ",
                 y.shape());
  return y;
}

}  // namespace tapegrad
