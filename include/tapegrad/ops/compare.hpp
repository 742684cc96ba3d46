#pragma once

#include <array>
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

// NOTE [ Ops without a gradient ]
// Comparisons, logic on masks, any/all and is_nan/is_finite give masks that no gradient
// crosses, so no tape records them. They are op definitions all the same (a name and a
// forward kernel, no rules), reported to the thread's observers after they run, so that a
// trace replays them (NOTE [ Tracing a function ]) instead of freezing a mask it cannot see.

/// The comparisons and logic on masks, each a functor named for its op.
#define TAPEGRAD_MASK_OP(Name, op_name, expression) \
  struct Name {                                     \
    static constexpr const char* name = op_name;    \
    template <class L, class R>                     \
    auto operator()(const L& l, const R& r) const { \
      return expression;                            \
    }                                               \
  };
TAPEGRAD_MASK_OP(Equal, "equal", l == r)
TAPEGRAD_MASK_OP(NotEqual, "not_equal", l != r)
TAPEGRAD_MASK_OP(Less, "less", l < r)
TAPEGRAD_MASK_OP(LessEqual, "less_equal", l <= r)
TAPEGRAD_MASK_OP(Greater, "greater", l > r)
TAPEGRAD_MASK_OP(GreaterEqual, "greater_equal", l >= r)
TAPEGRAD_MASK_OP(LogicalAnd, "logical_and", l&& r)
TAPEGRAD_MASK_OP(LogicalOr, "logical_or", l || r)
#undef TAPEGRAD_MASK_OP

template <class T, class Cmp>
void compare_forward(const OpArgs&, const ImplRef* const* inputs, TensorImpl& out) {
  map_binary_into(Tensor<T>(*inputs[0]), Tensor<T>(*inputs[1]), out, static_cast<bool*>(out.data),
                  Cmp{});
}
template <class T, class Cmp>
inline constexpr OpDefinition compare_op{Cmp::name, OpFamily::elementwise, 2, nullptr,
                                         &compare_forward<T, Cmp>};

template <class T, class Cmp>
Tensor<bool> compare(const Tensor<T>& a, const Tensor<T>& b) {
  return run_without_gradient<bool>(compare_op<T, Cmp>, {&a.impl(), &b.impl()},
                                    broadcast_shapes(a.shape(), b.shape(), Cmp::name));
}

/// A mask computed elementwise from one tensor: logical_not, is_nan, is_finite.
#define TAPEGRAD_UNARY_MASK_OP(Name, op_name, expression) \
  struct Name {                                           \
    static constexpr const char* name = op_name;          \
    template <class A>                                    \
    auto operator()(const A& a) const {                   \
      return expression;                                  \
    }                                                     \
  };
TAPEGRAD_UNARY_MASK_OP(LogicalNot, "logical_not", !a)
TAPEGRAD_UNARY_MASK_OP(IsNan, "is_nan", a.isNaN())
TAPEGRAD_UNARY_MASK_OP(IsFinite, "is_finite", a.isFinite())
#undef TAPEGRAD_UNARY_MASK_OP

template <class T, class Mask>
void unary_mask_forward(const OpArgs&, const ImplRef* const* inputs, TensorImpl& out) {
  const Tensor<T> x(*inputs[0]);
  MutableArrayMap<bool>(static_cast<bool*>(out.data), static_cast<Eigen::Index>(x.size())) =
      Mask{}(x.element_array());
}
template <class T, class Mask>
inline constexpr OpDefinition unary_mask_op{Mask::name, OpFamily::elementwise, 1, nullptr,
                                            &unary_mask_forward<T, Mask>};

template <class T, class Mask>
Tensor<bool> unary_mask(const Tensor<T>& x) {
  return run_without_gradient<bool>(unary_mask_op<T, Mask>, {&x.impl()}, x.shape());
}

/// any (all) of a mask's elements, as a 0-d mask.
template <bool all>
void any_all_forward(const OpArgs&, const ImplRef* const* inputs, TensorImpl& out) {
  const Tensor<bool> mask(*inputs[0]);
  *static_cast<bool*>(out.data) = all ? mask.element_array().all() : mask.element_array().any();
}
template <bool all>
inline constexpr OpDefinition any_all_op{all ? "all" : "any", OpFamily::reduction, 1, nullptr,
                                         &any_all_forward<all>};

template <bool all>
Tensor<bool> any_all(const Tensor<bool>& mask) {
  return run_without_gradient<bool>(any_all_op<all>, {&mask.impl()}, Shape{});
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
      c.element_array().select(x.element_array(), z.element_array());
}
template <class T>
void where_backward(const Entry& e, ImplRef&& g, const bool* needs, ImplRef* grads) {
  const Tensor<bool>& cond = e.saved(0).get<bool>();
  const Tensor<T> grad(std::move(g));
  const Tensor<T> zero(T(0));
  if (needs[0]) give(grads[0], sum_to(where(cond, grad, zero), e.saved(1)->shape()));
  if (needs[1]) give(grads[1], sum_to(where(cond, zero, grad), e.saved(2)->shape()));
}
template <class T>
void where_forward(const OpArgs&, const ImplRef* const* inputs, TensorImpl& out) {
  where_into(Tensor<bool>(*inputs[2]), Tensor<T>(*inputs[0]), Tensor<T>(*inputs[1]), out.shape(),
             static_cast<T*>(out.data));
}
template <class T>
ImplRef where_jvp(const OpArgs&, const ImplRef* const* inputs, const ImplRef& y,
                  const ImplRef* const* t) {
  if (!*t[0] && !*t[1]) return {};
  auto tangent = [&](int k) { return *t[k] ? Tensor<T>(*t[k]) : Tensor<T>(T(0)); };
  const Tensor<T> ty = where(Tensor<bool>(*inputs[2]), tangent(0), tangent(1));
  return broadcast_to(ty, y->shape()).take_impl();
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
  MutableArrayMap<To>(static_cast<To*>(out.data), static_cast<Eigen::Index>(out.size())) =
      Tensor<From>(*inputs[0]).element_array().template cast<To>();
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
  const T* p = x.elements();
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

/// x's elements converted to To into `out`, as cast<To>(x) converts them.
template <class From, class To>
void checked_cast_forward(const OpArgs&, const ImplRef* const* inputs, TensorImpl& out) {
  const Tensor<From> x(*inputs[0]);
  if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To> &&
                !std::is_same_v<To, bool>)
    check_integer_cast<To>(x);
  MutableArrayMap<To> y(static_cast<To*>(out.data), static_cast<Eigen::Index>(out.size()));
  if constexpr (std::is_same_v<To, bool>)
    y = x.element_array() != From(0);
  else
    y = x.element_array().template cast<To>();
}
/// A cast to or from an integer or a mask, where a gradient stops (NOTE [ Ops without a
/// gradient ]).
template <class From, class To>
inline constexpr OpDefinition cast_without_gradient_op{"cast", OpFamily::elementwise, 1, nullptr,
                                                       &checked_cast_forward<From, To>};

template <class U, class T>
Tensor<U> cast(const Tensor<T>& x) {
  if constexpr (std::is_same_v<U, T>) {
    return x;
  } else {
    Tensor<U> y(uninitialized, x.shape());
    checked_cast_forward<T, U>(OpArgs{OpAttrs{}, no_closure}, std::array{&x.impl()}.data(),
                               *y.impl().get());
    // Only float <-> double carries a gradient; through an integer or a mask it stops, as
    // in TensorFlow.
    if constexpr (is_differentiable_v<T> && is_differentiable_v<U>) {
      if (any_tape_recording()) record(y.impl(), cast_op<T, U>, {&x.impl()}, {});
    } else {
      report_op_without_gradient(y.impl(), cast_without_gradient_op<T, U>, {&x.impl()});
    }
    return y;
  }
}

}  // namespace detail

/// Elementwise comparisons with broadcasting, giving a Tensor<bool> mask (no gradient).
///   Tensor<bool> positive = x > 0.0;   auto same = tapegrad::equal(labels, predictions);
#define TAPEGRAD_COMPARISON(function, Cmp)                                                    \
  template <class X, class Y, detail::if_comparable<X, Y> = 0>                                \
  Tensor<bool> function(const X& a, const Y& b) {                                             \
    const auto& ta = detail::arg(a, #function);                                               \
    return detail::compare<detail::element_t<X>, detail::Cmp>(ta, detail::arg(b, #function)); \
  }                                                                                           \
  template <class X, class S, detail::if_comparable_scalar<X, S> = 0>                         \
  Tensor<bool> function(const X& a, S s) {                                                    \
    using T = detail::element_t<X>;                                                           \
    const auto& ta = detail::arg(a, #function);                                               \
    if constexpr (detail::compare_in_double_v<T, S>)                                          \
      return function(detail::cast<double>(ta), Tensor<double>(static_cast<double>(s)));      \
    else                                                                                      \
      return function(ta, Tensor<T>(static_cast<T>(s)));                                      \
  }                                                                                           \
  template <class X, class S, detail::if_comparable_scalar<X, S> = 0>                         \
  Tensor<bool> function(S s, const X& a) {                                                    \
    using T = detail::element_t<X>;                                                           \
    const auto& ta = detail::arg(a, #function);                                               \
    if constexpr (detail::compare_in_double_v<T, S>)                                          \
      return function(Tensor<double>(static_cast<double>(s)), detail::cast<double>(ta));      \
    else                                                                                      \
      return function(Tensor<T>(static_cast<T>(s)), ta);                                      \
  }

TAPEGRAD_COMPARISON(equal, Equal)
TAPEGRAD_COMPARISON(not_equal, NotEqual)
TAPEGRAD_COMPARISON(less, Less)
TAPEGRAD_COMPARISON(less_equal, LessEqual)
TAPEGRAD_COMPARISON(greater, Greater)
TAPEGRAD_COMPARISON(greater_equal, GreaterEqual)
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
  return detail::compare<bool, detail::LogicalAnd>(detail::arg(a, "logical_and"),
                                                   detail::arg(b, "logical_and"));
}
inline Tensor<bool> logical_or(const Tensor<bool>& a, const Tensor<bool>& b,
                               SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::compare<bool, detail::LogicalOr>(detail::arg(a, "logical_or"),
                                                  detail::arg(b, "logical_or"));
}
inline Tensor<bool> logical_not(const Tensor<bool>& a,
                                SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::unary_mask<bool, detail::LogicalNot>(detail::arg(a, "logical_not"));
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
  return detail::any_all<false>(detail::arg(mask, "any"));
}
inline Tensor<bool> all(const Tensor<bool>& mask,
                        SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::any_all<true>(detail::arg(mask, "all"));
}

/// Masks of NaN and of finite elements.   auto bad = tapegrad::is_nan(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<bool> is_nan(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::unary_mask<detail::element_t<X>, detail::IsNan>(detail::arg(x, "is_nan"));
}
template <class X, detail::if_differentiable<X> = 0>
Tensor<bool> is_finite(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::unary_mask<detail::element_t<X>, detail::IsFinite>(detail::arg(x, "is_finite"));
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
  const T* px = x.data();  // a host decision: refused on traced values while tracing
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
