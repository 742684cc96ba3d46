#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "tapegrad/detail/elementwise.hpp"
#include "tapegrad/ops/binary.hpp"

// Elementwise functions of one tensor. Each is one struct: `forward` maps an Eigen array
// expression, and `dx` turns the incoming gradient g into the input's, given the input x and
// the result y (NOTE [ One rule, two dialects ] in detail/elementwise.hpp).
namespace tapegrad {
namespace detail {

// NOTE [ Op tables ]: each op below has a row in unary_op_table (after the public functions).
// Rules are written once for tensors and Eigen arrays (NOTE [ One rule, two dialects ]).

struct Sin {
  static constexpr const char* name = "sin";
  static constexpr unsigned reads = reads_x;
  template <class A>
  static auto forward(const A& x) {
    return x.sin();
  }
  template <class V>
  static auto dx(const V& x, const V&, const V& g) {
    return g * cos(x);
  }
};

struct Cos {
  static constexpr const char* name = "cos";
  static constexpr unsigned reads = reads_x;
  template <class A>
  static auto forward(const A& x) {
    return x.cos();
  }
  template <class V>
  static auto dx(const V& x, const V&, const V& g) {
    return -(g * sin(x));
  }
};

struct Exp {
  static constexpr const char* name = "exp";
  static constexpr unsigned reads = reads_y;
  template <class A>
  static auto forward(const A& x) {
    return x.exp();
  }
  // Eigen 3.4.0's SSE exp for double clamps its argument at -709.78, so that exp(-inf) and
  // every result that should be subnormal or 0 come out as 5.6e-309. The few elements below
  // the normal range are recomputed with std::exp.
  template <class T>
  static void repair(const T* x, T* y, std::int64_t n) {
    const T lowest_normal_exponent = std::log(std::numeric_limits<T>::min());
    for (std::int64_t i = 0; i < n; ++i)
      if (x[i] < lowest_normal_exponent) y[i] = std::exp(x[i]);
  }
  template <class V>
  static auto dx(const V&, const V& y, const V& g) {
    return g * y;
  }
};

struct Log {
  static constexpr const char* name = "log";
  static constexpr unsigned reads = reads_x;
  template <class A>
  static auto forward(const A& x) {
    return x.log();
  }
  template <class V>
  static auto dx(const V& x, const V&, const V& g) {
    return g / x;
  }
};

struct Tanh {
  static constexpr const char* name = "tanh";
  static constexpr unsigned reads = reads_y;
  template <class A>
  static auto forward(const A& x) {
    return x.tanh();
  }
  template <class V, class S = scalar_t<V>>
  static auto dx(const V&, const V& y, const V& g) {
    return g * (S(1) - square(y));
  }
};

struct Square {
  static constexpr const char* name = "square";
  static constexpr unsigned reads = reads_x;
  template <class A>
  static auto forward(const A& x) {
    return x.square();
  }
  template <class V, class S = scalar_t<V>>
  static auto dx(const V& x, const V&, const V& g) {
    return g * (x * S(2));
  }
};

/// z = g * 0.5 / y, the gradient of y = sqrt(x), except that z = 0 wherever g = 0, so that
/// sqrt'(0) = inf does not turn a zero gradient into NaN (TensorFlow's convention).
struct SqrtGrad {
  static constexpr const char* name = "sqrt_grad";
  static constexpr unsigned reads = reads_a | reads_y;
  template <class A, class B>
  static auto forward(const A& y, const B& g) {
    using T = scalar_t<A>;
    return (g == T(0)).select(T(0), T(0.5) * g / y);
  }
  template <class V>
  static auto da(const V& y, const V&, const V& z, const V& gz) {
    return -(gz * z / y);
  }
  template <class V>
  static auto db(const V& y, const V&, const V&, const V& gz) {
    return elementwise<SqrtGrad>(y, gz);
  }
};

struct Sqrt {
  static constexpr const char* name = "sqrt";
  static constexpr unsigned reads = reads_y;
  template <class A>
  static auto forward(const A& x) {
    return x.sqrt();
  }
  template <class V>
  static auto dx(const V&, const V& y, const V& g) {
    return elementwise<SqrtGrad>(y, g);
  }
};

// rsqrt and reciprocal follow sqrt: the derivative is infinite at 0, but a zero incoming
// gradient gives 0 (TensorFlow's RsqrtGrad and ReciprocalGrad), so masked-out zeros stay clean.
struct RsqrtGrad {
  static constexpr const char* name = "rsqrt_grad";
  static constexpr unsigned reads = reads_a | reads_b;
  template <class A, class B>
  static auto forward(const A& y, const B& g) {
    using T = scalar_t<A>;
    return (g == T(0)).select(T(0), T(-0.5) * g * y * y * y);
  }
  template <class V, class S = scalar_t<V>>
  static auto da(const V& y, const V& g, const V&, const V& gz) {
    return gz * g * square(y) * S(-1.5);
  }
  template <class V>
  static auto db(const V& y, const V&, const V&, const V& gz) {
    return elementwise<RsqrtGrad>(y, gz);
  }
};
struct Rsqrt {
  static constexpr const char* name = "rsqrt";
  static constexpr unsigned reads = reads_y;
  template <class A>
  static auto forward(const A& x) {
    return x.rsqrt();
  }
  template <class V>
  static auto dx(const V&, const V& y, const V& g) {
    return elementwise<RsqrtGrad>(y, g);
  }
};

struct ReciprocalGrad {
  static constexpr const char* name = "reciprocal_grad";
  static constexpr unsigned reads = reads_a | reads_b;
  template <class A, class B>
  static auto forward(const A& y, const B& g) {
    using T = scalar_t<A>;
    return (g == T(0)).select(T(0), -(g * y * y));
  }
  template <class V, class S = scalar_t<V>>
  static auto da(const V& y, const V& g, const V&, const V& gz) {
    return gz * g * y * S(-2);
  }
  template <class V>
  static auto db(const V& y, const V&, const V&, const V& gz) {
    return elementwise<ReciprocalGrad>(y, gz);
  }
};
struct Reciprocal {
  static constexpr const char* name = "reciprocal";
  static constexpr unsigned reads = reads_y;
  template <class A>
  static auto forward(const A& x) {
    return x.inverse();
  }
  template <class V>
  static auto dx(const V&, const V& y, const V& g) {
    return elementwise<ReciprocalGrad>(y, g);
  }
};

/// g where x > 0, else 0: the gradient of relu. relu'(0) = 0, as in TensorFlow. A step
/// function of x, so it has no rule for x: its derivative there is 0 wherever it exists.
struct ReluGrad {
  static constexpr const char* name = "relu_grad";
  static constexpr unsigned reads = reads_a;
  template <class A, class B>
  static auto forward(const A& x, const B& g) {
    using T = scalar_t<A>;
    return (x > T(0)).select(g, T(0));
  }
  template <class V>
  static auto db(const V& x, const V&, const V&, const V& gz) {
    return elementwise<ReluGrad>(x, gz);
  }
};

/// g where x <= 0, else 0: the other half of ReluGrad, selected (never multiplied, so an
/// inf or NaN in the unselected half does not leak).
struct NonPositiveSelect {
  static constexpr const char* name = "non_positive_select";
  static constexpr unsigned reads = reads_a;
  template <class A, class B>
  static auto forward(const A& x, const B& g) {
    using T = scalar_t<A>;
    return (x > T(0)).select(T(0), g);
  }
  template <class V>
  static auto db(const V& x, const V&, const V&, const V& gz) {
    return elementwise<NonPositiveSelect>(x, gz);
  }
};

struct Relu {
  static constexpr const char* name = "relu";
  static constexpr unsigned reads = reads_x;
  template <class A>
  static auto forward(const A& x) {
    return x.max(scalar_t<A>(0));
  }
  template <class V>
  static auto dx(const V& x, const V&, const V& g) {
    return elementwise<ReluGrad>(x, g);
  }
};

/// |x|; abs'(0) = sign(0) = 0, as in TensorFlow.
struct Abs {
  static constexpr const char* name = "abs";
  static constexpr unsigned reads = reads_x;
  template <class A>
  static auto forward(const A& x) {
    return x.abs();
  }
  template <class V>
  static auto dx(const V& x, const V&, const V& g) {
    return g * sign(x);
  }
};

// Piecewise-constant functions have no rule: their gradient is 0 wherever it exists.
// (TensorFlow gives zeros for sign and None for floor, ceil and round; zeros compose better
// and are what the mathematics says away from the jumps.)
struct Sign {
  static constexpr const char* name = "sign";
  static constexpr unsigned reads = 0;
  template <class A>
  static auto forward(const A& x) {
    return x.sign();
  }
};
struct Floor {
  static constexpr const char* name = "floor";
  static constexpr unsigned reads = 0;
  template <class A>
  static auto forward(const A& x) {
    return x.floor();
  }
};
struct Ceil {
  static constexpr const char* name = "ceil";
  static constexpr unsigned reads = 0;
  template <class A>
  static auto forward(const A& x) {
    return x.ceil();
  }
};
/// Rounds half to even, as tf.math.round does.
struct Round {
  static constexpr const char* name = "round";
  static constexpr unsigned reads = 0;
  template <class A>
  static auto forward(const A& x) {
    return x.rint();
  }
};

struct Expm1 {
  static constexpr const char* name = "expm1";
  static constexpr unsigned reads = reads_y;
  template <class A>
  static auto forward(const A& x) {
    return x.expm1();
  }
  template <class V, class S = scalar_t<V>>
  static auto dx(const V&, const V& y, const V& g) {
    return g * (y + S(1));
  }
};

struct Log1p {
  static constexpr const char* name = "log1p";
  static constexpr unsigned reads = reads_x;
  template <class A>
  static auto forward(const A& x) {
    return x.log1p();
  }
  template <class V, class S = scalar_t<V>>
  static auto dx(const V& x, const V&, const V& g) {
    return g / (x + S(1));
  }
};

struct Tan {
  static constexpr const char* name = "tan";
  static constexpr unsigned reads = reads_y;
  template <class A>
  static auto forward(const A& x) {
    return x.tan();
  }
  template <class V, class S = scalar_t<V>>
  static auto dx(const V&, const V& y, const V& g) {
    return g * (square(y) + S(1));
  }
};

struct Asin {
  static constexpr const char* name = "asin";
  static constexpr unsigned reads = reads_x;
  template <class A>
  static auto forward(const A& x) {
    return x.asin();
  }
  template <class V, class S = scalar_t<V>>
  static auto dx(const V& x, const V&, const V& g) {
    return g / sqrt(S(1) - square(x));
  }
};

struct Acos {
  static constexpr const char* name = "acos";
  static constexpr unsigned reads = reads_x;
  template <class A>
  static auto forward(const A& x) {
    return x.acos();
  }
  template <class V, class S = scalar_t<V>>
  static auto dx(const V& x, const V&, const V& g) {
    return -(g / sqrt(S(1) - square(x)));
  }
};

struct Atan {
  static constexpr const char* name = "atan";
  static constexpr unsigned reads = reads_x;
  template <class A>
  static auto forward(const A& x) {
    return x.atan();
  }
  template <class V, class S = scalar_t<V>>
  static auto dx(const V& x, const V&, const V& g) {
    return g / (square(x) + S(1));
  }
};

struct Sinh {
  static constexpr const char* name = "sinh";
  static constexpr unsigned reads = reads_x;
  template <class A>
  static auto forward(const A& x) {
    return x.sinh();
  }
  template <class V>
  static auto dx(const V& x, const V&, const V& g) {
    return g * cosh(x);
  }
};

struct Cosh {
  static constexpr const char* name = "cosh";
  static constexpr unsigned reads = reads_x;
  template <class A>
  static auto forward(const A& x) {
    return x.cosh();
  }
  template <class V>
  static auto dx(const V& x, const V&, const V& g) {
    return g * sinh(x);
  }
};

/// 1 / (1 + e^-x).
struct Sigmoid {
  static constexpr const char* name = "sigmoid";
  static constexpr unsigned reads = reads_y;
  template <class A>
  static auto forward(const A& x) {
    return x.logistic();
  }
  template <class V, class S = scalar_t<V>>
  static auto dx(const V&, const V& y, const V& g) {
    return g * (y * (S(1) - y));
  }
};

/// log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|) so that it neither overflows nor
/// loses the small values; its derivative is sigmoid(x).
struct Softplus {
  static constexpr const char* name = "softplus";
  static constexpr unsigned reads = reads_x;
  template <class A>
  static auto forward(const A& x) {
    using S = scalar_t<A>;
    return x.max(S(0)) + (-x.abs()).exp().log1p();
  }
  template <class V>
  static auto dx(const V& x, const V&, const V& g) {
    return g * elementwise<Sigmoid>(x);
  }
};

/// The error function; d/dx = 2/sqrt(pi) e^(-x^2).
struct Erf {
  static constexpr const char* name = "erf";
  static constexpr unsigned reads = reads_x;
  template <class A>
  static auto forward(const A& x) {
    using S = scalar_t<A>;
    return x.unaryExpr([](S v) { return std::erf(v); });
  }
  template <class V, class S = scalar_t<V>>
  static auto dx(const V& x, const V&, const V& g) {
    return g * (exp(-square(x)) * S(1.1283791670955126));
  }
};

/// x where x > 0, s x elsewhere; the gradient is s at 0 (TensorFlow's convention).
struct LeakyRelu {
  static constexpr const char* name = "leaky_relu";
  static constexpr unsigned reads = reads_x;
  static constexpr bool takes_scalar = true;
  template <class A, class S>
  static auto forward(const A& x, S s) {
    return (x > S(0)).select(x, x * s);
  }
  template <class V, class S>
  static auto dx(const V& x, const V&, const V& g, S s) {
    return elementwise<ReluGrad>(x, g) + elementwise<NonPositiveSelect>(x, g * s);
  }
};

/// x where x > 0, e^x - 1 elsewhere; the gradient is 1 at 0, where both sides agree.
struct Elu {
  static constexpr const char* name = "elu";
  static constexpr unsigned reads = reads_x | reads_y;
  template <class A>
  static auto forward(const A& x) {
    using S = scalar_t<A>;
    return (x > S(0)).select(x, x.expm1());
  }
  template <class V, class S = scalar_t<V>>
  static auto dx(const V& x, const V& y, const V& g) {
    return elementwise<ReluGrad>(x, g) + elementwise<NonPositiveSelect>(x, g * (y + S(1)));
  }
};

/// x^p for a constant exponent p. d/dx = p x^(p-1); for p = 0 the derivative is 0 everywhere
/// (not 0 * x^-1, which would be NaN at x = 0). Its rule branches on p, so it stays composed.
struct PowScalar {
  static constexpr const char* name = "pow";
  static constexpr unsigned reads = reads_x;
  static constexpr bool takes_scalar = true;
  static constexpr bool fuses = false;
  template <class A, class S>
  static auto forward(const A& x, S p) {
    return x.pow(p);
  }
  template <class V, class S>
  static V dx(const V& x, const V&, const V& g, S p) {
    if (p == S(0)) return V::zeros(x.shape());
    return g * (pow(x, p - S(1)) * p);
  }
};

}  // namespace detail

/// sin(x) elementwise.   auto y = tapegrad::sin(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> sin(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Sin>(detail::arg(x, "sin"));
}
/// cos(x) elementwise.   auto y = tapegrad::cos(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> cos(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Cos>(detail::arg(x, "cos"));
}
/// e^x elementwise.   auto y = tapegrad::exp(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> exp(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Exp>(detail::arg(x, "exp"));
}
/// Natural logarithm elementwise.   auto y = tapegrad::log(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> log(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Log>(detail::arg(x, "log"));
}
/// tanh(x) elementwise.   auto y = tapegrad::tanh(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> tanh(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Tanh>(detail::arg(x, "tanh"));
}
/// x * x elementwise.   auto y = tapegrad::square(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> square(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Square>(detail::arg(x, "square"));
}
/// Square root elementwise; its gradient at 0 is inf, or 0 where the incoming gradient is 0.
///   auto y = tapegrad::sqrt(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> sqrt(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Sqrt>(detail::arg(x, "sqrt"));
}
/// 1 / sqrt(x) elementwise; like sqrt, a zero incoming gradient gives 0 even at x = 0.
///   auto inv_std = tapegrad::rsqrt(variance + 1e-5);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> rsqrt(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Rsqrt>(detail::arg(x, "rsqrt"));
}
/// 1 / x elementwise; like sqrt, a zero incoming gradient gives 0 even at x = 0.
///   auto inv = tapegrad::reciprocal(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> reciprocal(const X& x,
                                        SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Reciprocal>(detail::arg(x, "reciprocal"));
}
/// max(x, 0) elementwise; its gradient at 0 is 0, as in TensorFlow.
///   auto h = tapegrad::relu(tapegrad::matmul(x, w) + b);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> relu(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Relu>(detail::arg(x, "relu"));
}
/// x raised to a constant power elementwise.   auto y = tapegrad::pow(x, 3.0);
template <class X, class S, detail::if_tensor_and_scalar<X, S> = 0>
Tensor<detail::element_t<X>> pow(const X& x, S p,
                                 SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  return detail::apply_unary<detail::PowScalar>(detail::arg(x, "pow"), static_cast<T>(p));
}

/// |x| elementwise; abs'(0) = 0.   auto y = tapegrad::abs(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> abs(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Abs>(detail::arg(x, "abs"));
}
/// -1, 0 or 1 elementwise; gradient 0.   auto y = tapegrad::sign(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> sign(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Sign>(detail::arg(x, "sign"));
}
/// Largest integer <= x elementwise; gradient 0.   auto y = tapegrad::floor(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> floor(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Floor>(detail::arg(x, "floor"));
}
/// Smallest integer >= x elementwise; gradient 0.   auto y = tapegrad::ceil(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> ceil(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Ceil>(detail::arg(x, "ceil"));
}
/// Nearest integer, halves to even (tf.math.round); gradient 0.   auto y = tapegrad::round(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> round(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Round>(detail::arg(x, "round"));
}
/// e^x - 1, accurate near 0.   auto y = tapegrad::expm1(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> expm1(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Expm1>(detail::arg(x, "expm1"));
}
/// log(1 + x), accurate near 0.   auto y = tapegrad::log1p(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> log1p(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Log1p>(detail::arg(x, "log1p"));
}
/// tan(x) elementwise.   auto y = tapegrad::tan(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> tan(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Tan>(detail::arg(x, "tan"));
}
/// arcsin(x) elementwise.   auto y = tapegrad::asin(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> asin(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Asin>(detail::arg(x, "asin"));
}
/// arccos(x) elementwise.   auto y = tapegrad::acos(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> acos(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Acos>(detail::arg(x, "acos"));
}
/// arctan(x) elementwise.   auto y = tapegrad::atan(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> atan(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Atan>(detail::arg(x, "atan"));
}
/// sinh(x) elementwise.   auto y = tapegrad::sinh(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> sinh(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Sinh>(detail::arg(x, "sinh"));
}
/// cosh(x) elementwise.   auto y = tapegrad::cosh(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> cosh(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Cosh>(detail::arg(x, "cosh"));
}
/// 1 / (1 + e^-x) elementwise.   auto y = tapegrad::sigmoid(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> sigmoid(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Sigmoid>(detail::arg(x, "sigmoid"));
}
/// log(1 + e^x) elementwise, without overflow.   auto y = tapegrad::softplus(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> softplus(const X& x,
                                      SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Softplus>(detail::arg(x, "softplus"));
}
/// The error function elementwise.   auto y = tapegrad::erf(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> erf(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Erf>(detail::arg(x, "erf"));
}
/// x where x > 0, alpha x elsewhere (TensorFlow's default alpha is 0.2); its gradient is
/// alpha at 0, as in TensorFlow.   auto y = tapegrad::leaky_relu(x, 0.2);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> leaky_relu(const X& x, double alpha = 0.2,
                                        SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  return detail::apply_unary<detail::LeakyRelu>(detail::arg(x, "leaky_relu"),
                                                static_cast<T>(alpha));
}
/// x where x > 0, e^x - 1 elsewhere; its gradient at 0 is 1.   auto y = tapegrad::elu(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> elu(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  return detail::apply_unary<detail::Elu>(detail::arg(x, "elu"));
}
}  // namespace tapegrad
