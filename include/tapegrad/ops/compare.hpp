#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>

#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/ops/shape.hpp"

// Comparisons giving boolean masks, logic on masks, where(cond, a, b) and casts. A mask is a
// constant to every tape (comparisons have no gradient), so `where` differentiates only
// through the branch each element takes: where(x > 0, sqrt(x), 0) has gradient 0, not NaN,
// for x < 0, because the untaken branch receives an incoming gradient of exactly 0.
namespace tapegrad {
namespace detail {

template <class X, class Y>
using if_comparable = std::enable_if_t<
    is_tensor_like_v<X> && is_tensor_like_v<Y> && std::is_same_v<element_t<X>, element_t<Y>>, int>;
template <class X, class S>
using if_comparable_scalar = std::enable_if_t<
    is_tensor_like_v<X> && std::is_arithmetic_v<S> && !std::is_same_v<element_t<X>, bool>, int>;

/// An integer tensor meets a floating or wider scalar: compare in double, as NumPy does,
/// instead of truncating the scalar (x >= 0.5 on integers means x >= 1, not x >= 0).
template <class T, class S>
inline constexpr bool compare_in_double_v = std::is_integral_v<T> && (std::is_floating_point_v<S> ||
                                                                      (sizeof(S) > sizeof(T)));

template <class T, class F>
Tensor<bool> compare(const Tensor<T>& a, const Tensor<T>& b, const char* op, F f) {
  return map_binary<bool>(a, b, op, f);
}

template <class T>
Tensor<T> where(const Tensor<bool>& cond, const Tensor<T>& a, const Tensor<T>& b);

// where's inputs are a, b and the mask (a constant: no tape knows a mask). The incoming
// gradient goes to the branch each element took; the other gets exactly 0. It is linear in
// (a, b), so its JVP selects between the tangents.
template <class T>
void where_into(const Tensor<bool>& cond, const Tensor<T>& a, const Tensor<T>& b,
                const Shape& shape, T* py) {
  const Tensor<bool> c = cond.shape() == shape ? cond : broadcast_kernel(cond, shape);
  const Tensor<T> x = a.shape() == shape ? a : broadcast_kernel(a, shape);
  const Tensor<T> z = b.shape() == shape ? b : broadcast_kernel(b, shape);
  MutableArrayMap<T>(py, static_cast<Eigen::Index>(shape.size())) =
      c.array().select(x.array(), z.array());
}
template <class T>
void where_backward(const Entry& e, ImplRef&& g, const bool* needs, ImplRef* grads) {
  const Tensor<bool>& cond = e.saved[0].get<bool>();
  const Tensor<T> grad(std::move(g));
  const Tensor<T> zero(T(0));
  if (needs[0]) give(grads[0], sum_to(where(cond, grad, zero), e.saved[1]->shape));
  if (needs[1]) give(grads[1], sum_to(where(cond, zero, grad), e.saved[2]->shape));
}
template <class T>
void where_forward(const OpArgs&, const ImplRef* const* inputs, TensorImpl& out) {
  where_into(Tensor<bool>(*inputs[2]), Tensor<T>(*inputs[0]), Tensor<T>(*inputs[1]), out.shape,
             static_cast<T*>(out.data));
}
template <class T>
ImplRef where_jvp(const OpArgs&, const ImplRef* const* inputs, const ImplRef& y,
                  const ImplRef* const* t) {
  if (!*t[0] && !*t[1]) return {};
  auto tangent = [&](int k) { return *t[k] ? Tensor<T>(*t[k]) : Tensor<T>(T(0)); };
  const Tensor<T> ty = where(Tensor<bool>(*inputs[2]), tangent(0), tangent(1));
  return broadcast_to(ty, y->shape).take_impl();
}
template <class T>
inline constexpr OpDefinition where_op{
    "where", OpFamily::elementwise, 3, &where_backward<T>, &where_forward<T>, &where_jvp<T>};

template <class T>
Tensor<T> where(const Tensor<bool>& cond, const Tensor<T>& a, const Tensor<T>& b) {
  const Shape shape =
      broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor<T> y(uninitialized, shape);
  where_into(cond, a, b, shape, y.mutable_data());
  if (any_tape_recording()) {
    ImplRef a_shape, b_shape;  // the rules read a's and b's shapes only
    record(y.impl(), where_op<T>, {&a.impl(), &b.impl(), &cond.impl()},
           {&cond.impl(), shape_to_save(a.impl(), a_shape), shape_to_save(b.impl(), b_shape)});
  }
  return y;
}

template <class U, class T>
Tensor<U> cast(const Tensor<T>& x);

template <class From, class To>
void cast_backward(const Entry&, ImplRef&& g, const bool*, ImplRef* dx) {
  give(dx[0], cast<From>(Tensor<To>(std::move(g))));
}
template <class From, class To>
void cast_forward(const OpArgs&, const ImplRef* const* inputs, TensorImpl& out) {
  MutableArrayMap<To>(static_cast<To*>(out.data), static_cast<Eigen::Index>(out.size)) =
      Tensor<From>(*inputs[0]).array().template cast<To>();
}
template <class From, class To>
ImplRef cast_jvp(const OpArgs&, const ImplRef* const*, const ImplRef&, const ImplRef* const* t) {
  if (!*t[0]) return {};
  return cast<To>(Tensor<From>(*t[0])).take_impl();
}
/// A cast between float and double (the only casts a gradient crosses).
template <class From, class To>
inline constexpr OpDefinition cast_op{"cast",
                                      OpFamily::elementwise,
                                      1,
                                      &cast_backward<From, To>,
                                      &cast_forward<From, To>,
                                      &cast_jvp<From, To>};

/// Refuses a float-to-integer cast of an element the integer type cannot hold after
/// truncation toward zero (NaN, an infinity, out of range): C++ leaves that conversion
/// undefined, and TensorFlow and NumPy return whatever the hardware gives.
template <class U, class T>
void check_integer_cast(const Tensor<T>& x) {
  const T low = static_cast<T>(std::numeric_limits<U>::min());  // -2^(bits-1), exact
  const T* p = x.data();
  for (std::int64_t i = 0; i < x.size(); ++i) {
    const T v = p[i];
    if ((v >= low || v > low - T(1)) && v < -low) continue;
    std::ostringstream value;
    value << v;
    detail::fail<value_error>(
        "cast: element ", i, " of a ", dtype_name(dtype_of<T>()), " tensor of shape ", x.shape(),
        " is ", value, ", which ", dtype_name(dtype_of<U>()),
        " cannot hold (it needs a finite value in [", std::numeric_limits<U>::min(), ", ",
        std::numeric_limits<U>::max(), "] after truncation toward zero)");
  }
}

template <class U, class T>
Tensor<U> cast(const Tensor<T>& x) {
  if constexpr (std::is_same_v<U, T>) {
    return x;
  } else {
    if constexpr (std::is_floating_point_v<T> && std::is_integral_v<U> && !std::is_same_v<U, bool>)
      check_integer_cast<U>(x);
    Tensor<U> y(uninitialized, x.shape());
    if constexpr (std::is_same_v<U, bool>)
      y.mutable_array() = x.array() != T(0);
    else
      y.mutable_array() = x.array().template cast<U>();
    // Only float <-> double carries a gradient; through an integer or a mask it stops, as
    // in TensorFlow.
    if constexpr (is_differentiable_v<T> && is_differentiable_v<U>) {
      if (any_tape_recording()) record(y.impl(), cast_op<T, U>, {&x.impl()}, {});
    }
    return y;
  }
}

}  // namespace detail

/// Elementwise comparisons with broadcasting, giving a Tensor<bool> mask (no gradient).
///   Tensor<bool> positive = x > 0.0;   auto same = tapegrad::equal(labels, predictions);
#define TAPEGRAD_COMPARISON(function, expression)                                        \
  template <class X, class Y, detail::if_comparable<X, Y> = 0>                           \
  Tensor<bool> function(const X& a, const Y& b) {                                        \
    const auto& ta = detail::arg(a, #function);                                          \
    return detail::compare(ta, detail::arg(b, #function), #function,                     \
                           [](const auto& l, const auto& r) { return expression; });     \
  }                                                                                      \
  template <class X, class S, detail::if_comparable_scalar<X, S> = 0>                    \
  Tensor<bool> function(const X& a, S s) {                                               \
    using T = detail::element_t<X>;                                                      \
    const auto& ta = detail::arg(a, #function);                                          \
    if constexpr (detail::compare_in_double_v<T, S>)                                     \
      return function(detail::cast<double>(ta), Tensor<double>(static_cast<double>(s))); \
    else                                                                                 \
      return function(ta, Tensor<T>(static_cast<T>(s)));                                 \
  }                                                                                      \
  template <class X, class S, detail::if_comparable_scalar<X, S> = 0>                    \
  Tensor<bool> function(S s, const X& a) {                                               \
    using T = detail::element_t<X>;                                                      \
    const auto& ta = detail::arg(a, #function);                                          \
    if constexpr (detail::compare_in_double_v<T, S>)                                     \
      return function(Tensor<double>(static_cast<double>(s)), detail::cast<double>(ta)); \
    else                                                                                 \
      return function(Tensor<T>(static_cast<T>(s)), ta);                                 \
  }

TAPEGRAD_COMPARISON(equal, l == r)
TAPEGRAD_COMPARISON(not_equal, l != r)
TAPEGRAD_COMPARISON(less, l < r)
TAPEGRAD_COMPARISON(less_equal, l <= r)
TAPEGRAD_COMPARISON(greater, l > r)
TAPEGRAD_COMPARISON(greater_equal, l >= r)
#undef TAPEGRAD_COMPARISON

// The ordering operators, as TensorFlow overloads them. == and != stay unoverloaded, so that
// they cannot be mistaken for a test of whether two tensors are equal as wholes.
template <class X, class Y, detail::if_comparable<X, Y> = 0>
Tensor<bool> operator<(const X& a, const Y& b) {
  return less(a, b);
}
template <class X, class S, detail::if_comparable_scalar<X, S> = 0>
Tensor<bool> operator<(const X& a, S s) {
  return less(a, s);
}
template <class X, class S, detail::if_comparable_scalar<X, S> = 0>
Tensor<bool> operator<(S s, const X& a) {
  return less(s, a);
}
template <class X, class Y, detail::if_comparable<X, Y> = 0>
Tensor<bool> operator<=(const X& a, const Y& b) {
  return less_equal(a, b);
}
template <class X, class S, detail::if_comparable_scalar<X, S> = 0>
Tensor<bool> operator<=(const X& a, S s) {
  return less_equal(a, s);
}
template <class X, class S, detail::if_comparable_scalar<X, S> = 0>
Tensor<bool> operator<=(S s, const X& a) {
  return less_equal(s, a);
}
template <class X, class Y, detail::if_comparable<X, Y> = 0>
Tensor<bool> operator>(const X& a, const Y& b) {
  return greater(a, b);
}
template <class X, class S, detail::if_comparable_scalar<X, S> = 0>
Tensor<bool> operator>(const X& a, S s) {
  return greater(a, s);
}
template <class X, class S, detail::if_comparable_scalar<X, S> = 0>
Tensor<bool> operator>(S s, const X& a) {
  return greater(s, a);
}
template <class X, class Y, detail::if_comparable<X, Y> = 0>
Tensor<bool> operator>=(const X& a, const Y& b) {
  return greater_equal(a, b);
}
template <class X, class S, detail::if_comparable_scalar<X, S> = 0>
Tensor<bool> operator>=(const X& a, S s) {
  return greater_equal(a, s);
}
template <class X, class S, detail::if_comparable_scalar<X, S> = 0>
Tensor<bool> operator>=(S s, const X& a) {
  return greater_equal(s, a);
}

/// Elementwise logic on masks, with broadcasting.   auto inside = (x > 0.0) & (x < 1.0);
inline Tensor<bool> logical_and(const Tensor<bool>& a, const Tensor<bool>& b,
                                SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::compare(detail::arg(a, "logical_and"), detail::arg(b, "logical_and"),
                         "logical_and", [](const auto& l, const auto& r) { return l && r; });
}
inline Tensor<bool> logical_or(const Tensor<bool>& a, const Tensor<bool>& b,
                               SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::compare(detail::arg(a, "logical_or"), detail::arg(b, "logical_or"), "logical_or",
                         [](const auto& l, const auto& r) { return l || r; });
}
inline Tensor<bool> logical_not(const Tensor<bool>& a,
                                SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  Tensor<bool> y(detail::uninitialized, detail::arg(a, "logical_not").shape());
  y.mutable_array() = !a.array();
  return y;
}
inline Tensor<bool> operator&(const Tensor<bool>& a, const Tensor<bool>& b) {
  return logical_and(a, b);
}
inline Tensor<bool> operator|(const Tensor<bool>& a, const Tensor<bool>& b) {
  return logical_or(a, b);
}
inline Tensor<bool> operator!(const Tensor<bool>& a) {
  return logical_not(a);
}

// && and || would convert each tensor to bool (whether it has a value) and give one plain
// bool, never an elementwise result; TensorFlow and NumPy refuse the same. Use & and |.
template <class X, class Y,
          std::enable_if_t<detail::is_tensor_like_v<X> || detail::is_tensor_like_v<Y>, int> = 0>
void operator&&(const X&, const Y&) = delete;
template <class X, class Y,
          std::enable_if_t<detail::is_tensor_like_v<X> || detail::is_tensor_like_v<Y>, int> = 0>
void operator||(const X&, const Y&) = delete;

/// True if any (all) elements of a mask are true, as a 0-d tensor; any of none is false,
/// all of none is true.   if (tapegrad::any(tapegrad::is_nan(x)).item()) ...
inline Tensor<bool> any(const Tensor<bool>& mask,
                        SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return Tensor<bool>(detail::arg(mask, "any").array().any());
}
inline Tensor<bool> all(const Tensor<bool>& mask,
                        SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return Tensor<bool>(detail::arg(mask, "all").array().all());
}

/// Masks of NaN and of finite elements.   auto bad = tapegrad::is_nan(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<bool> is_nan(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "is_nan");
  Tensor<bool> y(detail::uninitialized, t.shape());
  y.mutable_array() = t.array().isNaN();
  return y;
}
template <class X, detail::if_differentiable<X> = 0>
Tensor<bool> is_finite(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "is_finite");
  Tensor<bool> y(detail::uninitialized, t.shape());
  y.mutable_array() = t.array().isFinite();
  return y;
}

/// a where cond is true, b elsewhere, all three broadcast together (tf.where). The gradient
/// flows only into the branch taken: where(x > 0, sqrt(x), 0) has gradient 0 for x < 0.
///   auto y = tapegrad::where(x > 0.0, tapegrad::sqrt(x), 0.0);
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> where(const Tensor<bool>& cond, const X& a, const Y& b,
                                   SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& c = detail::arg(cond, "where");
  const auto& ta = detail::arg(a, "where");
  return detail::where(c, ta, detail::arg(b, "where"));
}
template <class X, class S, detail::if_tensor_and_scalar<X, S> = 0>
Tensor<detail::element_t<X>> where(const Tensor<bool>& cond, const X& a, S b,
                                   SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  const auto& c = detail::arg(cond, "where");
  return detail::where(c, detail::arg(a, "where"), Tensor<T>(static_cast<T>(b)));
}
template <class X, class S, detail::if_tensor_and_scalar<X, S> = 0>
Tensor<detail::element_t<X>> where(const Tensor<bool>& cond, S a, const X& b,
                                   SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  const auto& c = detail::arg(cond, "where");
  return detail::where(c, Tensor<T>(static_cast<T>(a)), detail::arg(b, "where"));
}

/// The elements converted to U (tf.cast). float <-> double keeps the gradient; a cast to or
/// from an integer type or bool is a constant to every tape, as in TensorFlow.
///   auto x64 = tapegrad::cast<double>(x32);   auto as_float = tapegrad::cast<float>(mask);
template <class U, class X, std::enable_if_t<detail::is_tensor_like_v<X>, int> = 0>
Tensor<U> cast(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "cast");
  if constexpr (std::is_same_v<U, detail::element_t<X>>)
    return detail::unchanged(t, "cast");
  else
    return detail::cast<U>(t);
}

namespace detail {
/// An argument's value without any tape watching it (a Variable's snapshot).
template <class T>
Tensor<T> as_constant(const Tensor<T>& x, const char* op) {
  return arg(x, op);
}
template <class T>
Tensor<T> as_constant(const Variable<T>& v, const char*) {
  return v.snapshot();
}
}  // namespace detail

template <class T>
template <class U>
Tensor<U> Tensor<T>::cast(SourceLocation where) const {
  return tapegrad::cast<U>(*this, where);
}

/// Whether a and b are equal within atol + rtol * |b| in every element, as numpy.allclose:
/// their shapes must broadcast together; NaN equals nothing, infinities only themselves.
///   CHECK(tapegrad::allclose(tape.gradient(y, x), expected, 1e-6));
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
bool allclose(const X& a, const Y& b, double rtol = 1e-5, double atol = 1e-8,
              SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  const Tensor<T> ta = detail::as_constant(a, "allclose"), tb = detail::as_constant(b, "allclose");
  const Shape shape = broadcast_shapes(ta.shape(), tb.shape(), "allclose");
  const Tensor<T> x = ta.shape() == shape ? ta : detail::broadcast_kernel(ta, shape);
  const Tensor<T> y = tb.shape() == shape ? tb : detail::broadcast_kernel(tb, shape);
  const T* px = x.data();
  const T* py = y.data();
  for (std::int64_t i = 0; i < x.size(); ++i) {
    const double u = static_cast<double>(px[i]), v = static_cast<double>(py[i]);
    if (u == v) continue;  // equal infinities included
    if (std::isinf(u) || std::isinf(v) || !(std::abs(u - v) <= atol + rtol * std::abs(v)))
      return false;
  }
  return true;
}

}  // namespace tapegrad
