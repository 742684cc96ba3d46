#pragma once

#include <type_traits>

#include "tapegrad/detail/elementwise.hpp"
#include "tapegrad/ops/shape.hpp"

// Arithmetic: + - * / between tensors (NumPy broadcasting; each gradient is summed back to
// its input's shape) and between a tensor and a scalar, which is an attribute of the op
// rather than a tensor, so `x * 0.5` allocates nothing for the 0.5.
namespace tapegrad {
namespace detail {

// Rules are written once for tensors and Eigen arrays (NOTE [ One rule, two dialects ]); a
// rule that returns its g (`const V&`) hands the incoming gradient on without a copy.

struct Neg {
  static constexpr const char* name = "neg";
  static constexpr unsigned reads = 0;
  template <class A>
  static auto forward(const A& x) {
    return -x;
  }
  template <class V>
  static auto dx(const V&, const V&, const V& g) {
    return -g;
  }
};

struct Add {
  static constexpr const char* name = "add";
  static constexpr unsigned reads = 0;
  template <class A, class B>
  static auto forward(const A& a, const B& b) {
    return a + b;
  }
  template <class V>
  static const V& da(const V&, const V&, const V&, const V& g) {
    return g;
  }
  template <class V>
  static const V& db(const V&, const V&, const V&, const V& g) {
    return g;
  }
};

struct Sub {
  static constexpr const char* name = "sub";
  static constexpr unsigned reads = 0;
  template <class A, class B>
  static auto forward(const A& a, const B& b) {
    return a - b;
  }
  template <class V>
  static const V& da(const V&, const V&, const V&, const V& g) {
    return g;
  }
  template <class V>
  static auto db(const V&, const V&, const V&, const V& g) {
    return -g;
  }
};

struct Mul {
  static constexpr const char* name = "mul";
  static constexpr unsigned reads = reads_a | reads_b;
  template <class A, class B>
  static auto forward(const A& a, const B& b) {
    return a * b;
  }
  template <class V>
  static auto da(const V&, const V& b, const V&, const V& g) {
    return g * b;
  }
  template <class V>
  static auto db(const V& a, const V&, const V&, const V& g) {
    return g * a;
  }
};

struct Div {
  static constexpr const char* name = "div";
  static constexpr unsigned reads = reads_a | reads_b;
  template <class A, class B>
  static auto forward(const A& a, const B& b) {
    return a / b;
  }
  template <class V>
  static auto da(const V&, const V& b, const V&, const V& g) {
    return g / b;
  }
  template <class V>
  static auto db(const V& a, const V& b, const V&, const V& g) {
    return g * (-a / b / b);
  }
};

// Tensor-scalar ops: the scalar is the op's attribute, not a tensor.

struct AddScalar {
  static constexpr const char* name = "add";
  static constexpr unsigned reads = 0;
  static constexpr bool takes_scalar = true;
  template <class A, class S>
  static auto forward(const A& x, S s) {
    return x + s;
  }
  template <class V, class S>
  static const V& dx(const V&, const V&, const V& g, S) {
    return g;
  }
};

/// s - x
struct SubFromScalar {
  static constexpr const char* name = "sub";
  static constexpr unsigned reads = 0;
  static constexpr bool takes_scalar = true;
  template <class A, class S>
  static auto forward(const A& x, S s) {
    return s - x;
  }
  template <class V, class S>
  static auto dx(const V&, const V&, const V& g, S) {
    return -g;
  }
};

struct MulScalar {
  static constexpr const char* name = "mul";
  static constexpr unsigned reads = 0;
  static constexpr bool takes_scalar = true;
  template <class A, class S>
  static auto forward(const A& x, S s) {
    return x * s;
  }
  template <class V, class S>
  static auto dx(const V&, const V&, const V& g, S s) {
    return g * s;
  }
};

/// x / s
struct DivByScalar {
  static constexpr const char* name = "div";
  static constexpr unsigned reads = 0;
  static constexpr bool takes_scalar = true;
  template <class A, class S>
  static auto forward(const A& x, S s) {
    return x / s;
  }
  template <class V, class S>
  static auto dx(const V&, const V&, const V& g, S s) {
    return g / s;
  }
};

/// s / x
struct DivScalarBy {
  static constexpr const char* name = "div";
  static constexpr unsigned reads = reads_x;
  static constexpr bool takes_scalar = true;
  template <class A, class S>
  static auto forward(const A& x, S s) {
    return s / x;
  }
  template <class V, class S>
  static auto dx(const V& x, const V&, const V& g, S s) {
    return g * (-s / (x * x));
  }
};

}  // namespace detail

/// -x elementwise.   auto y = -x;
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> operator-(const X& x) {
  return detail::apply_unary<detail::Neg>(detail::arg(x, "neg"));
}
/// -x elementwise.   auto y = tapegrad::neg(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> neg(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Neg>(detail::arg(x, "neg"));
}
/// Elementwise sum with broadcasting.   auto z = x + y;  auto w = x + 1.0;
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> operator+(const X& a, const Y& b) {
  const auto& ta = detail::arg(a, "add");  // read a before b, as written
  return detail::apply_binary<detail::Add>(ta, detail::arg(b, "add"));
}
template <class X, class S, detail::if_tensor_and_scalar<X, S> = 0>
Tensor<detail::element_t<X>> operator+(const X& x, S s) {
  using T = detail::element_t<X>;
  return detail::apply_unary<detail::AddScalar>(detail::arg(x, "add"), static_cast<T>(s));
}
template <class X, class S, detail::if_tensor_and_scalar<X, S> = 0>
Tensor<detail::element_t<X>> operator+(S s, const X& x) {
  return x + s;
}

/// Elementwise difference with broadcasting.   auto z = x - y;  auto w = 1.0 - x;
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> operator-(const X& a, const Y& b) {
  const auto& ta = detail::arg(a, "sub");  // read a before b, as written
  return detail::apply_binary<detail::Sub>(ta, detail::arg(b, "sub"));
}
template <class X, class S, detail::if_tensor_and_scalar<X, S> = 0>
Tensor<detail::element_t<X>> operator-(const X& x, S s) {
  using T = detail::element_t<X>;
  // x + (-s) is exactly x - s in IEEE arithmetic.
  return detail::apply_unary<detail::AddScalar>(detail::arg(x, "sub"), -static_cast<T>(s));
}
template <class X, class S, detail::if_tensor_and_scalar<X, S> = 0>
Tensor<detail::element_t<X>> operator-(S s, const X& x) {
  using T = detail::element_t<X>;
  return detail::apply_unary<detail::SubFromScalar>(detail::arg(x, "sub"), static_cast<T>(s));
}

/// Elementwise product with broadcasting.   auto z = x * y;  auto w = 0.5 * x;
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> operator*(const X& a, const Y& b) {
  const auto& ta = detail::arg(a, "mul");  // read a before b, as written
  return detail::apply_binary<detail::Mul>(ta, detail::arg(b, "mul"));
}
template <class X, class S, detail::if_tensor_and_scalar<X, S> = 0>
Tensor<detail::element_t<X>> operator*(const X& x, S s) {
  using T = detail::element_t<X>;
  return detail::apply_unary<detail::MulScalar>(detail::arg(x, "mul"), static_cast<T>(s));
}
template <class X, class S, detail::if_tensor_and_scalar<X, S> = 0>
Tensor<detail::element_t<X>> operator*(S s, const X& x) {
  return x * s;
}

/// Elementwise quotient with broadcasting.   auto z = x / y;  auto w = 1.0 / x;
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> operator/(const X& a, const Y& b) {
  const auto& ta = detail::arg(a, "div");  // read a before b, as written
  return detail::apply_binary<detail::Div>(ta, detail::arg(b, "div"));
}
template <class X, class S, detail::if_tensor_and_scalar<X, S> = 0>
Tensor<detail::element_t<X>> operator/(const X& x, S s) {
  using T = detail::element_t<X>;
  return detail::apply_unary<detail::DivByScalar>(detail::arg(x, "div"), static_cast<T>(s));
}
template <class X, class S, detail::if_tensor_and_scalar<X, S> = 0>
Tensor<detail::element_t<X>> operator/(S s, const X& x) {
  using T = detail::element_t<X>;
  return detail::apply_unary<detail::DivScalarBy>(detail::arg(x, "div"), static_cast<T>(s));
}

// NOTE [ One-line errors for misused operators ]
// Without these, `Tensor<float> + Tensor<double>` or arithmetic on an integer tensor fails
// with pages of rejected candidates. These overloads match exactly those misuses and stop
// at a static_assert that says what to do instead.
namespace detail {
template <class X, class = void>
struct integer_tensor : std::false_type {};
template <class X>
struct integer_tensor<X, std::enable_if_t<is_tensor_like_v<X>>>
    : std::bool_constant<!is_differentiable_v<element_t<X>>> {};
template <class X>
inline constexpr bool is_integer_tensor_v = integer_tensor<X>::value;
template <class X, class Y, class = void>
struct mixed_tensors : std::false_type {};
template <class X, class Y>
struct mixed_tensors<X, Y, std::enable_if_t<is_tensor_like_v<X> && is_tensor_like_v<Y>>>
    : std::bool_constant<!std::is_same_v<element_t<X>, element_t<Y>>> {};
template <class X, class Y>
inline constexpr bool is_misused_pair_v = mixed_tensors<X, Y>::value ||
                                          (is_integer_tensor_v<X> && is_tensor_like_v<Y>) ||
                                          (is_integer_tensor_v<X> && std::is_arithmetic_v<Y>) ||
                                          (std::is_arithmetic_v<X> && is_integer_tensor_v<Y>);
template <class X, class Y>
using if_misused_pair = std::enable_if_t<is_misused_pair_v<X, Y>, int>;

template <class X, class Y>
void reject_operands() {
  static_assert(!mixed_tensors<X, Y>::value,
                "tapegrad: the operands' element types differ; convert one first, e.g. "
                "tapegrad::cast<double>(a)");
  static_assert(mixed_tensors<X, Y>::value || (!is_integer_tensor_v<X> && !is_integer_tensor_v<Y>),
                "tapegrad: integer tensors hold data (indices, labels), not values to "
                "differentiate; cast first, e.g. tapegrad::cast<float>(x)");
}
}  // namespace detail

template <class X, std::enable_if_t<detail::is_integer_tensor_v<X>, int> = 0>
void operator-(const X&) {
  detail::reject_operands<X, X>();
}
template <class X, class Y, detail::if_misused_pair<X, Y> = 0>
void operator+(const X&, const Y&) {
  detail::reject_operands<X, Y>();
}
template <class X, class Y, detail::if_misused_pair<X, Y> = 0>
void operator-(const X&, const Y&) {
  detail::reject_operands<X, Y>();
}
template <class X, class Y, detail::if_misused_pair<X, Y> = 0>
void operator*(const X&, const Y&) {
  detail::reject_operands<X, Y>();
}
template <class X, class Y, detail::if_misused_pair<X, Y> = 0>
void operator/(const X&, const Y&) {
  detail::reject_operands<X, Y>();
}

}  // namespace tapegrad

namespace tapegrad {

/// a + b, a - b, a * b, a / b as named functions (tf.add, tf.subtract, tf.multiply,
/// tf.divide): the same ops as the operators, but anomaly mode can name their line.
///   auto q = tapegrad::divide(num, den);
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> add(const X& a, const Y& b,
                                 SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return a + b;
}
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> subtract(const X& a, const Y& b,
                                      SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return a - b;
}
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> multiply(const X& a, const Y& b,
                                      SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return a * b;
}
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> divide(const X& a, const Y& b,
                                    SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return a / b;
}

}  // namespace tapegrad
