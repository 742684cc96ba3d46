#pragma once

#include <Eigen/Core>
#include <string>

#include "tapegrad/detail/apply_op.hpp"

// Matrix products on Eigen's GEMM.
namespace tapegrad {
namespace detail {

template <class T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b, bool transpose_a, bool transpose_b);

// attrs.ints[0]: transpose_a, attrs.ints[1]: transpose_b. The gradients are products again,
// with the transposes folded into GEMM's arguments instead of materialised.
template <class T>
void matmul_backward(const Entry& e, ImplRef&& grad, const bool* needs, ImplRef* d) {
  const Tensor<T>& a = e.saved[0].get<T>();
  const Tensor<T>& b = e.saved[1].get<T>();
  const Tensor<T> g(std::move(grad));
  const bool ta = e.attrs.ints[0] != 0, tb = e.attrs.ints[1] != 0;
  if (needs[0])
    d[0] = (ta ? (tb ? matmul(b, g, true, true) : matmul(b, g, false, true))
               : (tb ? matmul(g, b, false, false) : matmul(g, b, false, true)))
               .take_impl();
  if (needs[1])
    d[1] = (tb ? (ta ? matmul(g, a, true, true) : matmul(g, a, true, false))
               : (ta ? matmul(a, g, false, false) : matmul(a, g, true, false)))
               .take_impl();
}

template <class T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b, bool transpose_a, bool transpose_b) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  if (sa.rank() != 2 || sb.rank() != 2)
    throw shape_error("matmul: expected two 2-D tensors, got " + sa.str() + " x " + sb.str());
  const std::int64_t m = transpose_a ? sa[1] : sa[0];
  const std::int64_t k = transpose_a ? sa[0] : sa[1];
  const std::int64_t kb = transpose_b ? sb[1] : sb[0];
  const std::int64_t n = transpose_b ? sb[0] : sb[1];
  if (k != kb)
    throw shape_error("matmul: inner dimensions differ: " + sa.str() + (transpose_a ? "^T" : "") +
                      " x " + sb.str() + (transpose_b ? "^T" : ""));
  Tensor<T> y(uninitialized, Shape{m, n});
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Map<const Matrix> A(a.data(), sa[0], sa[1]);
  const Eigen::Map<const Matrix> B(b.data(), sb[0], sb[1]);
  Eigen::Map<Matrix> Y(y.mutable_data(), m, n);
  if (k == 0) {
    Y.setZero();
  } else if (transpose_a) {
    if (transpose_b)
      Y.noalias() = A.transpose() * B.transpose();
    else
      Y.noalias() = A.transpose() * B;
  } else {
    if (transpose_b)
      Y.noalias() = A * B.transpose();
    else
      Y.noalias() = A * B;
  }
  if (any_tape_recording()) {
    OpAttrs attrs;
    attrs.ints[0] = transpose_a;
    attrs.ints[1] = transpose_b;
    record(y.impl(), "matmul", &matmul_backward<T>, {&a.impl(), &b.impl()}, {&a.impl(), &b.impl()},
           attrs);
  }
  return y;
}

}  // namespace detail

/// The matrix product of two 2-D tensors, optionally transposing either operand first.
///   auto y = tapegrad::matmul(x, w);          // [b, k] x [k, n] -> [b, n]
///   auto z = tapegrad::matmul(x, w, false, true);  // x * w^T
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> matmul(const X& a, const Y& b, bool transpose_a = false,
                                    bool transpose_b = false) {
  const auto& ta = detail::arg(a, "matmul");  // read a before b, as written
  return detail::matmul(ta, detail::arg(b, "matmul"), transpose_a, transpose_b);
}

}  // namespace tapegrad
