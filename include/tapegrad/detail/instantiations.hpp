#pragma once

#include <cstdint>
#include <vector>

#include "tapegrad/detail/double_vjp.hpp"
#include "tapegrad/detail/elementwise.hpp"
#include "tapegrad/format.hpp"
#include "tapegrad/ops/binary.hpp"
#include "tapegrad/ops/binary_functions.hpp"
#include "tapegrad/ops/compare.hpp"
#include "tapegrad/ops/conv.hpp"
#include "tapegrad/ops/indexing.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/losses.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape.hpp"
#include "tapegrad/ops/unary.hpp"
#include "tapegrad/tape.hpp"

// NOTE [ The precompiled part ]
// Every op is a template, so a program that includes tapegrad compiles each op it uses, with
// its backward and forward rules and their Eigen kernels, and then the tape's own functions:
// most of a small program's compile time (the examples took 4 to 7 times an Eigen hello
// world). The CMake target tapegrad::precompiled is a static library (src/precompiled.cpp)
// that compiles two kinds of code once, and defines TAPEGRAD_PRECOMPILED for its users:
// - Templates: the typed entry points that the public ops call (apply_unary<Op, T>,
//   detail::matmul<T>, reduce_over<T>, ...), the training toolkit's templates
//   (train/instantiations.hpp) and printing, for float and double (printing: every element
//   type). The lists below become explicit instantiation declarations (`extern template`) in
//   the users, which tell the compiler to call the library's copies instead of instantiating
//   them. Each is a function template that is not inline, since a compiler may still
//   instantiate an inline one to inline it. The public templates themselves are not listed:
//   their arguments (Tensor or Variable, scalars) vary per call, and they are thin.
// - Non-template functions that run once per tape or per gradient() call, never per op (the
//   reverse sweep, GradientTape::compute, explain(), the memory report, error messages): the
//   headers define them only where TAPEGRAD_HEADER_DEFINITIONS is 1 (config.hpp), so the users
//   see declarations and link the library's one definition.
// Nothing else changes: the same headers define the same functions, and a template left off
// the list is compiled where it is used, as without the library (ctest
// precompiled_part_holds_every_op fails when an entry point is missing). Both sides must see
// the same definitions: every translation unit of a program that links the library sees
// TAPEGRAD_PRECOMPILED (the target's usage requirement), and a program that defines
// TAPEGRAD_LIVE_COUNTERS (tapegrad's tests do) must not link it, as the library's allocations
// would go uncounted.

/// Applies X(prefix, T, Op) to each elementwise op struct with one tensor input.
#define TAPEGRAD_UNARY_OP_STRUCTS(X, prefix, T) \
  X(prefix, T, Neg)                             \
  X(prefix, T, Abs)                             \
  X(prefix, T, Sign)                            \
  X(prefix, T, Square)                          \
  X(prefix, T, Sqrt)                            \
  X(prefix, T, Rsqrt)                           \
  X(prefix, T, Reciprocal)                      \
  X(prefix, T, Exp)                             \
  X(prefix, T, Expm1)                           \
  X(prefix, T, Log)                             \
  X(prefix, T, Log1p)                           \
  X(prefix, T, Sin)                             \
  X(prefix, T, Cos)                             \
  X(prefix, T, Tan)                             \
  X(prefix, T, Asin)                            \
  X(prefix, T, Acos)                            \
  X(prefix, T, Atan)                            \
  X(prefix, T, Sinh)                            \
  X(prefix, T, Cosh)                            \
  X(prefix, T, Tanh)                            \
  X(prefix, T, Sigmoid)                         \
  X(prefix, T, Softplus)                        \
  X(prefix, T, Erf)                             \
  X(prefix, T, Relu)                            \
  X(prefix, T, Elu)                             \
  X(prefix, T, LeakyRelu)                       \
  X(prefix, T, Floor)                           \
  X(prefix, T, Ceil)                            \
  X(prefix, T, Round)                           \
  X(prefix, T, PowScalar)                       \
  X(prefix, T, AddScalar)                       \
  X(prefix, T, SubFromScalar)                   \
  X(prefix, T, MulScalar)                       \
  X(prefix, T, DivByScalar)                     \
  X(prefix, T, DivScalarBy)

/// Applies X(prefix, T, Op) to each elementwise op struct with two tensor inputs, the named
/// backward ops among them.
#define TAPEGRAD_BINARY_OP_STRUCTS(X, prefix, T) \
  X(prefix, T, Add)                              \
  X(prefix, T, Sub)                              \
  X(prefix, T, Mul)                              \
  X(prefix, T, Div)                              \
  X(prefix, T, Pow)                              \
  X(prefix, T, Atan2)                            \
  X(prefix, T, Extremum<true>)                   \
  X(prefix, T, Extremum<false>)                  \
  X(prefix, T, SqrtGrad)                         \
  X(prefix, T, RsqrtGrad)                        \
  X(prefix, T, ReciprocalGrad)                   \
  X(prefix, T, ReluGrad)                         \
  X(prefix, T, NonPositiveSelect)

#define TAPEGRAD_INSTANTIATE_UNARY(prefix, T, Op) \
  prefix Tensor<T> apply_unary<Op, T>(const Tensor<T>&, T);
#define TAPEGRAD_INSTANTIATE_BINARY(prefix, T, Op) \
  prefix Tensor<T> apply_binary<Op, T>(const Tensor<T>&, const Tensor<T>&);

/// The ops' typed entry points for element type T, each preceded by `prefix`: `template` in
/// the library, `extern template` in its users.
#define TAPEGRAD_OP_INSTANTIATIONS(prefix, T)                                                   \
  TAPEGRAD_UNARY_OP_STRUCTS(TAPEGRAD_INSTANTIATE_UNARY, prefix, T)                              \
  TAPEGRAD_BINARY_OP_STRUCTS(TAPEGRAD_INSTANTIATE_BINARY, prefix, T)                            \
  prefix Tensor<T> sum_to<T>(const Tensor<T>&, const Shape&);                                   \
  prefix Tensor<T> broadcast_to<T>(const Tensor<T>&, const Shape&);                             \
  prefix Tensor<T> reshape<T>(const Tensor<T>&, const Shape&);                                  \
  prefix Tensor<T> transpose<T>(const Tensor<T>&, const int*);                                  \
  prefix Tensor<T> take<T>(const Tensor<T>&, int, std::int64_t);                                \
  prefix Tensor<T> stack<T>(const std::vector<Tensor<T>>&, int);                                \
  prefix Tensor<T> concat<T>(const std::vector<Tensor<T>>&, int);                               \
  prefix Tensor<T> slice_window<T>(const Tensor<T>&, const SharedWindow&);                      \
  prefix Tensor<T> gather<T, std::int32_t>(const Tensor<T>&, const Tensor<std::int32_t>&, int); \
  prefix Tensor<T> gather<T, std::int64_t>(const Tensor<T>&, const Tensor<std::int64_t>&, int); \
  prefix Tensor<T> matmul<T>(const Tensor<T>&, const Tensor<T>&, bool, bool);                   \
  prefix Tensor<T> batch_matmul<T>(const Tensor<T>&, const Tensor<T>&, bool, bool);             \
  prefix Tensor<T> sum<T>(const Tensor<T>&, int, bool);                                         \
  prefix Tensor<T> prod<T>(const Tensor<T>&, int, bool);                                        \
  prefix Tensor<T> extreme<T, true>(const Tensor<T>&, int, bool);                               \
  prefix Tensor<T> extreme<T, false>(const Tensor<T>&, int, bool);                              \
  prefix Tensor<T> softmax<T>(const Tensor<T>&, int);                                           \
  prefix Tensor<T> logsumexp<T>(const Tensor<T>&, int, bool);                                   \
  prefix Tensor<T> reduce_over<T>(const Tensor<T>&, const Axes&, bool, const char*,             \
                                  ReduceOneAxis<T>);                                            \
  prefix Tensor<T> vector_norm<T>(const Tensor<T>&, NormOrder, const Axes&, bool);              \
  prefix Tensor<T> select_where<T>(const Tensor<T>&, const Tensor<T>&);                         \
  prefix Tensor<T> conv2d<T>(const Tensor<T>&, const Tensor<T>&, const GeometryRef&);           \
  prefix Tensor<T> max_pool2d<T>(const Tensor<T>&, const WindowGeometry&);                      \
  prefix Tensor<T> avg_pool2d<T>(const Tensor<T>&, const GeometryRef&);                         \
  prefix Tensor<T> cast<T, bool>(const Tensor<bool>&);                                          \
  prefix ImplRef double_vjp_tangent<T>(const OpDefinition&, const Entry&, const OpCall&,        \
                                       const ImplRef* const*);

/// Printing a tensor of element type T (any of the five), each preceded by `prefix`.
#define TAPEGRAD_FORMAT_INSTANTIATIONS(prefix, T)         \
  prefix std::string to_string<T>(const Tensor<T>&, int); \
  prefix std::ostream& operator<< <T>(std::ostream&, const Tensor<T>&);

/// Every list above, for every element type it takes, each entry preceded by `prefix`.
#define TAPEGRAD_ALL_INSTANTIATIONS(prefix)                                                      \
  namespace tapegrad {                                                                           \
  namespace detail {                                                                             \
  TAPEGRAD_OP_INSTANTIATIONS(prefix, float)                                                      \
  TAPEGRAD_OP_INSTANTIATIONS(prefix, double)                                                     \
  }                                                                                              \
  prefix std::vector<Tensor<float>> GradientTape::gradient_of<float>(                            \
      const GradientTape::TargetRef&, const std::vector<Source<float>>&, UnconnectedGradients);  \
  prefix std::vector<Tensor<double>> GradientTape::gradient_of<double>(                          \
      const GradientTape::TargetRef&, const std::vector<Source<double>>&, UnconnectedGradients); \
  TAPEGRAD_FORMAT_INSTANTIATIONS(prefix, float)                                                  \
  TAPEGRAD_FORMAT_INSTANTIATIONS(prefix, double)                                                 \
  TAPEGRAD_FORMAT_INSTANTIATIONS(prefix, std::int32_t)                                           \
  TAPEGRAD_FORMAT_INSTANTIATIONS(prefix, std::int64_t)                                           \
  TAPEGRAD_FORMAT_INSTANTIATIONS(prefix, bool)                                                   \
  prefix std::ostream& operator<< <float>(std::ostream&, const Variable<float>&);                \
  prefix std::ostream& operator<< <double>(std::ostream&, const Variable<double>&);              \
  }

#if !TAPEGRAD_HEADER_DEFINITIONS
TAPEGRAD_ALL_INSTANTIATIONS(extern template)
#endif
