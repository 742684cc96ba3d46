#pragma once

#include "tapegrad/detail/elementwise.hpp"
#include "tapegrad/ops/binary.hpp"
#include "tapegrad/ops/binary_functions.hpp"
#include "tapegrad/ops/unary.hpp"

// NOTE [ Op tables ]
// One table per family lists its public ops, each with the definition it records. Tests, the
// fuzzer and the op list iterate the table instead of keeping lists of their own, so adding an
// op touches its definition, its row here and its registry samples (tests/op_registry.hpp).
// A test checks that each row records its definition and has registry samples, and the
// registry's header scan still fails for a public op with no samples.
namespace tapegrad::detail {

/// A public elementwise function of one tensor, with its default attributes.
template <class T>
struct UnaryOpRow {
  const char* name;                        // the public function
  Tensor<T> (*apply)(const Tensor<T>& x);  // it, on x
  const OpDefinition* definition;          // what it records
};

/// The elementwise functions of one tensor.
///   for (const auto& row : detail::unary_op_table<float>) auto y = row.apply(x);
template <class T>
inline const UnaryOpRow<T> unary_op_table[] = {
    {"neg", [](const Tensor<T>& x) { return tapegrad::neg(x); }, &unary_definition<Neg, T>},
    {"abs", [](const Tensor<T>& x) { return tapegrad::abs(x); }, &unary_definition<Abs, T>},
    {"sign", [](const Tensor<T>& x) { return tapegrad::sign(x); }, &unary_definition<Sign, T>},
    {"square", [](const Tensor<T>& x) { return tapegrad::square(x); },
     &unary_definition<Square, T>},
    {"sqrt", [](const Tensor<T>& x) { return tapegrad::sqrt(x); }, &unary_definition<Sqrt, T>},
    {"rsqrt", [](const Tensor<T>& x) { return tapegrad::rsqrt(x); }, &unary_definition<Rsqrt, T>},
    {"reciprocal", [](const Tensor<T>& x) { return tapegrad::reciprocal(x); },
     &unary_definition<Reciprocal, T>},
    {"exp", [](const Tensor<T>& x) { return tapegrad::exp(x); }, &unary_definition<Exp, T>},
    {"expm1", [](const Tensor<T>& x) { return tapegrad::expm1(x); }, &unary_definition<Expm1, T>},
    {"log", [](const Tensor<T>& x) { return tapegrad::log(x); }, &unary_definition<Log, T>},
    {"log1p", [](const Tensor<T>& x) { return tapegrad::log1p(x); }, &unary_definition<Log1p, T>},
    {"sin", [](const Tensor<T>& x) { return tapegrad::sin(x); }, &unary_definition<Sin, T>},
    {"cos", [](const Tensor<T>& x) { return tapegrad::cos(x); }, &unary_definition<Cos, T>},
    {"tan", [](const Tensor<T>& x) { return tapegrad::tan(x); }, &unary_definition<Tan, T>},
    {"asin", [](const Tensor<T>& x) { return tapegrad::asin(x); }, &unary_definition<Asin, T>},
    {"acos", [](const Tensor<T>& x) { return tapegrad::acos(x); }, &unary_definition<Acos, T>},
    {"atan", [](const Tensor<T>& x) { return tapegrad::atan(x); }, &unary_definition<Atan, T>},
    {"sinh", [](const Tensor<T>& x) { return tapegrad::sinh(x); }, &unary_definition<Sinh, T>},
    {"cosh", [](const Tensor<T>& x) { return tapegrad::cosh(x); }, &unary_definition<Cosh, T>},
    {"tanh", [](const Tensor<T>& x) { return tapegrad::tanh(x); }, &unary_definition<Tanh, T>},
    {"sigmoid", [](const Tensor<T>& x) { return tapegrad::sigmoid(x); },
     &unary_definition<Sigmoid, T>},
    {"softplus", [](const Tensor<T>& x) { return tapegrad::softplus(x); },
     &unary_definition<Softplus, T>},
    {"erf", [](const Tensor<T>& x) { return tapegrad::erf(x); }, &unary_definition<Erf, T>},
    {"relu", [](const Tensor<T>& x) { return tapegrad::relu(x); }, &unary_definition<Relu, T>},
    {"elu", [](const Tensor<T>& x) { return tapegrad::elu(x); }, &unary_definition<Elu, T>},
    {"leaky_relu", [](const Tensor<T>& x) { return tapegrad::leaky_relu(x); },
     &unary_definition<LeakyRelu, T>},
    {"floor", [](const Tensor<T>& x) { return tapegrad::floor(x); }, &unary_definition<Floor, T>},
    {"ceil", [](const Tensor<T>& x) { return tapegrad::ceil(x); }, &unary_definition<Ceil, T>},
    {"round", [](const Tensor<T>& x) { return tapegrad::round(x); }, &unary_definition<Round, T>},
};

}  // namespace tapegrad::detail
