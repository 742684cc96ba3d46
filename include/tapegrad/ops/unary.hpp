#pragma once

#include <type_traits>

#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/ops/binary.hpp"

// Elementwise functions of one tensor. Each is one struct: `forward` maps an Eigen array
// expression, `gradient` turns the incoming gradient g into dx with tapegrad's own ops, given
// the input x and the result y (so an outer tape can differentiate it again).
namespace tapegrad {
namespace detail {

template <class A>
using scalar_of = typename std::decay_t<A>::Scalar;

struct Sin {
  static constexpr const char* name = "sin";
  template <class A>
  static auto forward(const A& x) {
    return x.sin();
  }
  template <class T>
  static Tensor<T> gradient(const Tensor<T>& x, const Tensor<T>&, const Tensor<T>& g) {
    return g * cos(x);
  }
  // The same gradient as one Eigen expression, used when no tape records the backward pass
  // (see NOTE [ Fused first-order gradients ]).
  static constexpr bool fused_gradient = true;
  template <class X, class Y, class G>
  static auto fused(const X& x, const Y&, const G& g) {
    return g * x.cos();
  }
};

struct Cos {
  static constexpr const char* name = "cos";
  template <class A>
  static auto forward(const A& x) {
    return x.cos();
  }
  template <class T>
  static Tensor<T> gradient(const Tensor<T>& x, const Tensor<T>&, const Tensor<T>& g) {
    return -(g * sin(x));
  }
  // The same gradient as one Eigen expression, used when no tape records the backward pass
  // (see NOTE [ Fused first-order gradients ]).
  static constexpr bool fused_gradient = true;
  template <class X, class Y, class G>
  static auto fused(const X& x, const Y&, const G& g) {
    return -(g * x.sin());
  }
};

struct Exp {
  static constexpr const char* name = "exp";
  template <class A>
  static auto forward(const A& x) {
    return x.exp();
  }
  template <class T>
  static Tensor<T> gradient(const Tensor<T>&, const Tensor<T>& y, const Tensor<T>& g) {
    return g * y;
  }
  // The same gradient as one Eigen expression, used when no tape records the backward pass
  // (see NOTE [ Fused first-order gradients ]).
  static constexpr bool fused_gradient = true;
  template <class X, class Y, class G>
  static auto fused(const X&, const Y& y, const G& g) {
    return g * y;
  }
};

struct Log {
  static constexpr const char* name = "log";
  template <class A>
  static auto forward(const A& x) {
    return x.log();
  }
  template <class T>
  static Tensor<T> gradient(const Tensor<T>& x, const Tensor<T>&, const Tensor<T>& g) {
    return g / x;
  }
  // The same gradient as one Eigen expression, used when no tape records the backward pass
  // (see NOTE [ Fused first-order gradients ]).
  static constexpr bool fused_gradient = true;
  template <class X, class Y, class G>
  static auto fused(const X& x, const Y&, const G& g) {
    return g / x;
  }
};

struct Tanh {
  static constexpr const char* name = "tanh";
  template <class A>
  static auto forward(const A& x) {
    return x.tanh();
  }
  template <class T>
  static Tensor<T> gradient(const Tensor<T>&, const Tensor<T>& y, const Tensor<T>& g) {
    return g * (T(1) - square(y));
  }
  // The same gradient as one Eigen expression, used when no tape records the backward pass
  // (see NOTE [ Fused first-order gradients ]).
  static constexpr bool fused_gradient = true;
  template <class X, class Y, class G>
  static auto fused(const X&, const Y& y, const G& g) {
    return g * (scalar_of<Y>(1) - y.square());
  }
};

struct Square {
  static constexpr const char* name = "square";
  template <class A>
  static auto forward(const A& x) {
    return x.square();
  }
  template <class T>
  static Tensor<T> gradient(const Tensor<T>& x, const Tensor<T>&, const Tensor<T>& g) {
    return g * (x * T(2));
  }
  // The same gradient as one Eigen expression, used when no tape records the backward pass
  // (see NOTE [ Fused first-order gradients ]).
  static constexpr bool fused_gradient = true;
  template <class X, class Y, class G>
  static auto fused(const X& x, const Y&, const G& g) {
    return g * (x * scalar_of<X>(2));
  }
};

/// z = g * 0.5 / y, the gradient of y = sqrt(x), except that z = 0 wherever g = 0, so that
/// sqrt'(0) = inf does not turn a zero gradient into NaN (TensorFlow's convention).
struct SqrtGrad {
  static constexpr const char* name = "sqrt_grad";
  template <class A, class B>
  static auto forward(const A& y, const B& g) {
    using T = scalar_of<A>;
    return (g == T(0)).select(T(0), T(0.5) * g / y);
  }
  template <class T>
  static void gradient(const Tensor<T>& y, const Tensor<T>&, const Tensor<T>& z,
                       const Tensor<T>& gz, unsigned needs, Tensor<T>& dy, Tensor<T>& dg) {
    if (needs & 1u) dy = -(gz * z / y);
    if (needs & 2u) dg = detail::apply_binary<SqrtGrad>(y, gz);
  }
};

struct Sqrt {
  static constexpr const char* name = "sqrt";
  template <class A>
  static auto forward(const A& x) {
    return x.sqrt();
  }
  template <class T>
  static Tensor<T> gradient(const Tensor<T>&, const Tensor<T>& y, const Tensor<T>& g) {
    return apply_binary<SqrtGrad>(y, g);
  }
  // The same gradient as one Eigen expression, used when no tape records the backward pass
  // (see NOTE [ Fused first-order gradients ]).
  static constexpr bool fused_gradient = true;
  template <class X, class Y, class G>
  static auto fused(const X&, const Y& y, const G& g) {
    return (g == scalar_of<G>(0)).select(scalar_of<G>(0), scalar_of<G>(0.5) * g / y);
  }
};

/// g where x > 0, else 0: the gradient of relu. relu'(0) = 0, as in TensorFlow.
struct ReluGrad {
  static constexpr const char* name = "relu_grad";
  template <class A, class B>
  static auto forward(const A& x, const B& g) {
    using T = scalar_of<A>;
    return (x > T(0)).select(g, T(0));
  }
  template <class T>
  static void gradient(const Tensor<T>& x, const Tensor<T>&, const Tensor<T>&, const Tensor<T>& gz,
                       unsigned needs, Tensor<T>& dx, Tensor<T>& dg) {
    // A step function of x: its derivative in x is 0 wherever it exists.
    if (needs & 1u) dx = Tensor<T>::zeros(x.shape());
    if (needs & 2u) dg = apply_binary<ReluGrad>(x, gz);
  }
};

struct Relu {
  static constexpr const char* name = "relu";
  template <class A>
  static auto forward(const A& x) {
    return x.max(scalar_of<A>(0));
  }
  template <class T>
  static Tensor<T> gradient(const Tensor<T>& x, const Tensor<T>&, const Tensor<T>& g) {
    return apply_binary<ReluGrad>(x, g);
  }
  // The same gradient as one Eigen expression, used when no tape records the backward pass
  // (see NOTE [ Fused first-order gradients ]).
  static constexpr bool fused_gradient = true;
  template <class X, class Y, class G>
  static auto fused(const X& x, const Y&, const G& g) {
    return (x > scalar_of<X>(0)).select(g, scalar_of<G>(0));
  }
};

/// x^p for a constant exponent p. d/dx = p x^(p-1); for p = 0 the derivative is 0 everywhere
/// (not 0 * x^-1, which would be NaN at x = 0).
struct PowScalar {
  static constexpr const char* name = "pow";
  template <class A, class S>
  static auto forward(const A& x, S p) {
    return x.pow(p);
  }
  template <class T>
  static Tensor<T> gradient(const Tensor<T>& x, const Tensor<T>&, const Tensor<T>& g, T p) {
    if (p == T(0)) return Tensor<T>::zeros(x.shape());
    return g * (pow(x, p - T(1)) * p);
  }
};

}  // namespace detail

/// sin(x) elementwise.   auto y = tapegrad::sin(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> sin(const X& x) {
  return detail::apply_unary<detail::Sin>(detail::arg(x, "sin"));
}
/// cos(x) elementwise.   auto y = tapegrad::cos(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> cos(const X& x) {
  return detail::apply_unary<detail::Cos>(detail::arg(x, "cos"));
}
/// e^x elementwise.   auto y = tapegrad::exp(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> exp(const X& x) {
  return detail::apply_unary<detail::Exp>(detail::arg(x, "exp"));
}
/// Natural logarithm elementwise.   auto y = tapegrad::log(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> log(const X& x) {
  return detail::apply_unary<detail::Log>(detail::arg(x, "log"));
}
/// tanh(x) elementwise.   auto y = tapegrad::tanh(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> tanh(const X& x) {
  return detail::apply_unary<detail::Tanh>(detail::arg(x, "tanh"));
}
/// x * x elementwise.   auto y = tapegrad::square(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> square(const X& x) {
  return detail::apply_unary<detail::Square>(detail::arg(x, "square"));
}
/// Square root elementwise; its gradient at 0 is inf, or 0 where the incoming gradient is 0.
///   auto y = tapegrad::sqrt(x);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> sqrt(const X& x) {
  return detail::apply_unary<detail::Sqrt>(detail::arg(x, "sqrt"));
}
/// max(x, 0) elementwise; its gradient at 0 is 0, as in TensorFlow.
///   auto h = tapegrad::relu(tapegrad::matmul(x, w) + b);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> relu(const X& x) {
  return detail::apply_unary<detail::Relu>(detail::arg(x, "relu"));
}
/// x raised to a constant power elementwise.   auto y = tapegrad::pow(x, 3.0);
template <class X, class S, detail::if_tensor_and_scalar<X, S> = 0>
Tensor<detail::element_t<X>> pow(const X& x, S p) {
  using T = detail::element_t<X>;
  return detail::apply_scalar<detail::PowScalar>(detail::arg(x, "pow"), static_cast<T>(p));
}

}  // namespace tapegrad
