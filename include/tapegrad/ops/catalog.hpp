#pragma once

#include <cstddef>
#include <iterator>

// The public ops, family by family, as data. docs/ops.md is rendered from these tables
// (tests/ops/catalog_test.cpp fails when the committed file differs), and the test that scans
// the op headers fails for a public function missing from them. Elementwise unary ops also
// have a row in ops/elementwise_table.hpp, which the tests and the fuzzer iterate.
// Not included by tapegrad.hpp: nothing in the library reads it.
namespace tapegrad {

/// One public op: how it is called and its convention where it is not differentiable.
///   for (const auto& family : tapegrad::op_families) std::puts(family.name);
struct OpDoc {
  const char* name;       // as declared (operators as `operator+`)
  const char* signature;  // the call forms, arguments with their defaults
  const char* at_kinks;   // the gradient where the op is not differentiable; "" if smooth
};

/// A family of ops and its table.
struct OpFamilyDoc {
  const char* name;
  const char* note;  // what the whole family shares
  const OpDoc* ops;
  std::size_t size;
};

inline constexpr OpDoc elementwise_ops[] = {
    {"operator+", "a + b (tensors or a scalar), add(a, b)", ""},
    {"add", "add(a, b)", ""},
    {"operator-", "a - b, -x", ""},
    {"subtract", "subtract(a, b)", ""},
    {"operator*", "a * b", ""},
    {"multiply", "multiply(a, b)", ""},
    {"operator/", "a / b", ""},
    {"divide", "divide(a, b)", ""},
    {"neg", "neg(x)", ""},
    {"abs", "abs(x)", "x = 0: 0 (sign(0))"},
    {"sign", "sign(x)", "everywhere: 0"},
    {"square", "square(x)", ""},
    {"sqrt", "sqrt(x)", "x = 0: inf, but 0 where the incoming gradient is 0 (not NaN)"},
    {"rsqrt", "rsqrt(x)", "x = 0: -inf, but 0 where the incoming gradient is 0"},
    {"reciprocal", "reciprocal(x)", "x = 0: -inf, but 0 where the incoming gradient is 0"},
    {"exp", "exp(x)", ""},
    {"expm1", "expm1(x)", ""},
    {"log", "log(x)", ""},
    {"log1p", "log1p(x)", ""},
    {"sin", "sin(x)", ""},
    {"cos", "cos(x)", ""},
    {"tan", "tan(x)", ""},
    {"asin", "asin(x)", ""},
    {"acos", "acos(x)", ""},
    {"atan", "atan(x)", ""},
    {"sinh", "sinh(x)", ""},
    {"cosh", "cosh(x)", ""},
    {"tanh", "tanh(x)", ""},
    {"sigmoid", "sigmoid(x)", ""},
    {"softplus", "softplus(x), computed as max(x, 0) + log1p(exp(-|x|))", ""},
    {"erf", "erf(x)", ""},
    {"relu", "relu(x)", "x = 0: 0"},
    {"leaky_relu", "leaky_relu(x, alpha = 0.2)", "x = 0: alpha"},
    {"elu", "elu(x)", "x = 0: 1 (both sides agree)"},
    {"selu", "selu(x)", "x = 0: scale * alpha (the left side), as TensorFlow"},
    {"gelu", "gelu(x), exact (erf)", ""},
    {"floor", "floor(x)", "everywhere: 0"},
    {"ceil", "ceil(x)", "everywhere: 0"},
    {"round", "round(x), halves to even", "everywhere: 0"},
    {"pow", "pow(a, b), pow(x, scalar), pow(scalar, x)",
     "a <= 0: 0 for the exponent; pow(x, 0): 0 for every x, also 0"},
    {"maximum", "maximum(a, b)", "a = b: all to a"},
    {"minimum", "minimum(a, b)", "a = b: all to a"},
    {"atan2", "atan2(y, x)", ""},
    {"squared_difference", "squared_difference(a, b)", ""},
    {"clip_by_value", "clip_by_value(x, lo, hi), numbers or tensors as bounds",
     "x at a bound: passes (1) to x"},
};

inline constexpr OpDoc mask_ops[] = {
    {"operator<", "a < b (tensors or a scalar), less(a, b)", ""},
    {"operator<=", "a <= b, less_equal(a, b)", ""},
    {"operator>", "a > b, greater(a, b)", ""},
    {"operator>=", "a >= b, greater_equal(a, b)", ""},
    {"operator&", "m & n, logical_and(m, n)", ""},
    {"operator|", "m | n, logical_or(m, n)", ""},
    {"operator!", "!m, logical_not(m)", ""},
    {"logical_and", "logical_and(m, n)", ""},
    {"logical_or", "logical_or(m, n)", ""},
    {"logical_not", "logical_not(m)", ""},
    {"any", "any(m)", ""},
    {"all", "all(m)", ""},
    {"is_nan", "is_nan(x)", ""},
    {"is_finite", "is_finite(x)", ""},
    {"where", "where(cond, a, b) (a or b may be a scalar)", "the branch not taken gets exactly 0"},
    {"cast", "cast<U>(x), x.cast<U>()", "to or from an integer type or bool: no gradient"},
};

inline constexpr OpDoc reduction_ops[] = {
    {"sum", "sum(x, axes = all_axes, keepdims = false)", ""},
    {"mean", "mean(x, axes = all_axes, keepdims = false)", ""},
    {"prod", "prod(x, axes = all_axes, keepdims = false)",
     "an input is 0: the product of the others (exact); second derivative: tape_error"},
    {"max", "max(x, axes = all_axes, keepdims = false)", "ties: split evenly"},
    {"min", "min(x, axes = all_axes, keepdims = false)", "ties: split evenly"},
    {"logsumexp", "logsumexp(x, axes = all_axes, keepdims = false)",
     "all inputs -inf: finite (uniform 1/n)"},
    {"variance", "variance(x, axes = all_axes, keepdims = false)", ""},
    {"norm", "norm(x, axes = all_axes, keepdims = false), norm(x, NormOrder(p), axes, keepdims)",
     "x = 0: 0 (L2, and a finite second derivative; L1 as abs)"},
    {"argmax", "argmax(x, axis), int64 result", "ties: the first index; NaN wins"},
    {"argmin", "argmin(x, axis), int64 result", "ties: the first index; NaN wins"},
};

inline constexpr OpDoc shape_ops[] = {
    {"reshape", "reshape(x, shape), one dimension may be -1; no copy", ""},
    {"identity", "identity(x), a new node on the tapes; no copy", ""},
    {"transpose", "transpose(x, perm = reversed axes)", ""},
    {"expand_dims", "expand_dims(x, axis)", ""},
    {"squeeze", "squeeze(x, axes = all_axes)", ""},
    {"broadcast_to", "broadcast_to(x, shape)", ""},
    {"sum_to", "sum_to(x, shape)", ""},
    {"tile", "tile(x, multiples)", ""},
    {"stack", "stack({x, y, ...}, axis = 0)", ""},
};

inline constexpr OpDoc indexing_ops[] = {
    {"concat", "concat({x, y, ...}, axis = 0)", ""},
    {"split", "split(x, pieces, axis), split(x, {sizes...}, axis = 0)", ""},
    {"slice", "slice(x, begin, size), as tf.slice", ""},
    {"strided_slice", "strided_slice(x, begin, end, strides), negative strides, tapegrad::none",
     ""},
    {"pad", "pad(x, {{before, after}, ...}, value = 0)", ""},
    {"gather", "gather(params, indices, axis = 0), int32 or int64 indices",
     "duplicate indices: their gradients add up"},
};

inline constexpr OpDoc linalg_ops[] = {
    {"matmul", "matmul(a, b, transpose_a = false, transpose_b = false), batched, vectors", ""},
    {"matvec", "matvec(a, b, transpose_a = false), batched", ""},
    {"outer", "outer(a, b)", ""},
    {"diag", "diag(v)", ""},
    {"diag_part", "diag_part(x)", ""},
    {"trace", "trace(x)", ""},
};

inline constexpr OpDoc nn_ops[] = {
    {"softmax", "softmax(x, axis = -1)", ""},
    {"log_softmax", "log_softmax(x, axis = -1)", ""},
    {"softmax_cross_entropy", "softmax_cross_entropy(labels, logits, axis = -1)", ""},
    {"sparse_softmax_cross_entropy", "sparse_softmax_cross_entropy(labels, logits)", ""},
    {"sigmoid_cross_entropy", "sigmoid_cross_entropy(labels, logits)", "logits = 0: 0.5 - label"},
    {"mse", "mse(a, b)", ""},
    {"huber", "huber(a, b, delta = 1)", ""},
    {"one_hot", "one_hot<T>(indices, depth, on = 1, off = 0)", ""},
    {"conv2d", "conv2d(input, filter, strides = {1, 1}, padding = valid, dilations = {1, 1}), NHWC",
     ""},
    {"conv2d_backprop_input",
     "conv2d_backprop_input(grad, filter, input_shape, strides, padding, dilations)", ""},
    {"conv2d_backprop_filter",
     "conv2d_backprop_filter(input, grad, filter_shape, strides, padding, dilations)", ""},
    {"max_pool2d", "max_pool2d(input, ksize, strides, padding = valid)",
     "ties in a window: all to the first maximum in row-major order; NaN wins"},
    {"avg_pool2d", "avg_pool2d(input, ksize, strides, padding = valid)",
     "SAME border windows: divide by the in-bounds elements only"},
    {"dropout", "dropout(x, rate, generator, training = true)", ""},
};

inline constexpr OpDoc creation_ops[] = {
    {"zeros", "zeros<T>(shape)", ""},
    {"ones", "ones<T>(shape)", ""},
    {"full", "full(shape, value)", ""},
    {"zeros_like", "zeros_like(x)", ""},
    {"ones_like", "ones_like(x)", ""},
    {"eye", "eye<T>(rows, cols = rows)", ""},
    {"range", "range(limit), range(start, limit, delta = 1)", ""},
    {"arange", "arange(limit), arange(start, limit, delta = 1)", ""},
    {"linspace", "linspace<T>(start, stop, num)", ""},
    {"random_uniform", "random_uniform<T>(shape, lo = 0, hi = 1, generator = default_generator())",
     ""},
    {"random_normal",
     "random_normal<T>(shape, mean = 0, stddev = 1, generator = default_generator())", ""},
    {"truncated_normal", "truncated_normal<T>(shape, mean, stddev, generator)", ""},
    {"glorot_uniform", "glorot_uniform<T>(shape, generator)", ""},
    {"glorot_normal", "glorot_normal<T>(shape, generator)", ""},
    {"he_uniform", "he_uniform<T>(shape, generator)", ""},
    {"he_normal", "he_normal<T>(shape, generator)", ""},
};

/// Every family, in the order docs/ops.md lists them.
inline constexpr OpFamilyDoc op_families[] = {
    {"elementwise", "Tensors and scalars; two tensors broadcast like NumPy.", elementwise_ops,
     std::size(elementwise_ops)},
    {"masks", "Tensor<bool> results or inputs; no gradient flows through a mask.", mask_ops,
     std::size(mask_ops)},
    {"reductions", "Over all elements (all_axes), one axis or several ({0, 2}; {} is none).",
     reduction_ops, std::size(reduction_ops)},
    {"shape", "No arithmetic; each gradient is the adjoint shape op.", shape_ops,
     std::size(shape_ops)},
    {"indexing", "Windows and gathers; the gradient scatters back.", indexing_ops,
     std::size(indexing_ops)},
    {"linear algebra", "On Eigen's GEMM.", linalg_ops, std::size(linalg_ops)},
    {"neural networks", "Layers' ops and losses.", nn_ops, std::size(nn_ops)},
    {"creation", "Constants and random initialisers (no gradient).", creation_ops,
     std::size(creation_ops)},
};

}  // namespace tapegrad
