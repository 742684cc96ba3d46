#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <string>

#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/detail/gemm.hpp"
#include "tapegrad/ops/binary.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape.hpp"

// Matrix products on one GEMM (Eigen's, or a BLAS: NOTE [ One GEMM for every product ]),
// batched with NumPy broadcasting of the batch dimensions, and the diagonal family (diag,
// diag_part, trace).
namespace tapegrad {
namespace detail {

/// The sizes of a matrix product y[batch..., m, n] = a[..., m, k] b[..., k, n].
struct MatmulDims {
  Shape batch;  // the broadcast batch dimensions
  std::int64_t m = 0, k = 0, n = 0;
};

inline std::string matmul_operand(const Shape& s, bool transposed) {
  return s.str() + (transposed && s.rank() >= 2 ? "^T" : "");
}

/// The batch dimensions of a matmul operand: all but its last two.
inline Shape matmul_batch(const Shape& s) {
  return s.rank() <= 2 ? Shape{} : Shape(s.begin(), s.end() - 2);
}

/// Checks matmul's operands (see NOTE [ matmul with vectors ] for 1-D ones) and gives the
/// sizes of the product. The messages name the shapes as the user passed them.
inline MatmulDims matmul_dims(const Shape& sa, const Shape& sb, bool ta, bool tb) {
  const int ra = sa.rank(), rb = sb.rank();
  // Spelled out only for an error: a product that fits allocates nothing here.
  auto shapes = [&] { return matmul_operand(sa, ta) + " x " + matmul_operand(sb, tb); };
  TAPEGRAD_CHECK(!(ra == 0 || rb == 0), shape_error, "matmul: expected tensors of rank >= 1, got ",
                 shapes());
  MatmulDims d;
  d.m = ra == 1 ? 1 : sa[ta ? ra - 1 : ra - 2];
  d.k = ra == 1 ? sa[0] : sa[ta ? ra - 2 : ra - 1];
  const std::int64_t kb = rb == 1 ? sb[0] : sb[tb ? rb - 1 : rb - 2];
  d.n = rb == 1 ? 1 : sb[tb ? rb - 2 : rb - 1];
  TAPEGRAD_CHECK(d.k == kb, shape_error, "matmul: inner dimensions differ: ", shapes());
  const Shape batch_a = matmul_batch(sa), batch_b = matmul_batch(sb);
  try {
    d.batch = broadcast_shapes(batch_a, batch_b, "matmul");
  } catch (const shape_error&) {
    detail::fail<shape_error>("matmul: batch dimensions ", batch_a, " and ", batch_b,
                              " do not broadcast: ", shapes());
  }
  return d;
}

template <class T>
Tensor<T> batch_matmul(const Tensor<T>& a, const Tensor<T>& b, bool transpose_a, bool transpose_b);

// NOTE [ Tiny matrices in a batch ]
// A batch of millions of tiny products (a [55,1,2,1,30,1,1]^T x [55,1,2,1,30,1,1,5] has 10.9
// million 1x1-by-1x5 ones) spent most of its time setting up one Eigen product per slice:
// at -O2 the whole call took 2.3x an elementwise product of the same operands. Up to
// tiny_matmul_work multiply-adds a slice is a plain loop, summed in ascending order of the
// inner index (so the result does not depend on where the slices lie in memory).
constexpr std::int64_t tiny_matmul_work = 64;

/// y = op(a) op(b) for one slice of sizes d (see NOTE [ Tiny matrices in a batch ]); a and b
/// are row-major with a_cols and b_cols columns as stored.
template <class T>
void tiny_matmul(const T* a, const T* b, T* y, const MatmulDims& d, std::int64_t a_cols,
                 std::int64_t b_cols, bool transpose_a, bool transpose_b) {
  // Strides of op(a)(i, p) and op(b)(p, j) along their two indices.
  const std::int64_t a_i = transpose_a ? 1 : a_cols, a_p = transpose_a ? a_cols : 1;
  const std::int64_t b_p = transpose_b ? 1 : b_cols, b_j = transpose_b ? b_cols : 1;
  for (std::int64_t i = 0; i < d.m; ++i) {
    for (std::int64_t j = 0; j < d.n; ++j) {
      T sum(0);
      for (std::int64_t p = 0; p < d.k; ++p) sum += a[i * a_i + p * a_p] * b[p * b_p + j * b_j];
      y[i * d.n + j] = sum;
    }
  }
}

// NOTE [ One GEMM for a shared right operand ]
// When every slice of the batch multiplies the same b (b has no batch, or a batch of one)
// and a is neither broadcast nor transposed, a's slices are consecutive rows of one
// [batch * m, k] matrix: the whole product is one GEMM, and b's gradient, a sum over the
// batch, is one GEMM as well (a^T g over those rows), with no [batch, k, n] temporary.
inline bool shares_right_operand(const Shape& sa, const Shape& sb, const Shape& batch,
                                 bool transpose_a) {
  return !transpose_a && matmul_batch(sb).size() == 1 && matmul_batch(sa).size() == batch.size();
}

// The gradients are products again,
// with the transposes folded into GEMM's arguments instead of materialised, summed back
// over the batch dimensions an operand was broadcast along.
template <class T>
void matmul_backward(const Entry& e, ImplRef&& grad, const bool* needs, ImplRef* d) {
  const Tensor<T>& a = e.saved(0).get<T>();
  const Tensor<T>& b = e.saved(1).get<T>();
  const Tensor<T> g(std::move(grad));
  const auto [ta, tb] = e.attrs().as<MatmulAttrs>();
  if (needs[0]) {
    const Tensor<T> da =
        ta ? (tb ? batch_matmul(b, g, true, true) : batch_matmul(b, g, false, true))
           : (tb ? batch_matmul(g, b, false, false) : batch_matmul(g, b, false, true));
    give(d[0], sum_to(da, a.shape()));
  }
  if (needs[1]) {
    if (a.rank() > 2 && shares_right_operand(a.shape(), b.shape(), matmul_batch(g.shape()), ta)) {
      // NOTE [ One GEMM for a shared right operand ]
      const std::int64_t rows = elements_before(a.shape(), a.rank() - 1);
      const Tensor<T> a_rows = reshape(a, Shape{rows, a.shape()[a.rank() - 1]});
      const Tensor<T> g_rows = reshape(g, Shape{rows, g.shape()[g.rank() - 1]});
      const Tensor<T> db = tb ? batch_matmul(g_rows, a_rows, true, false)
                              : batch_matmul(a_rows, g_rows, true, false);
      give(d[1], reshape(db, b.shape()));
    } else {
      const Tensor<T> db =
          tb ? (ta ? batch_matmul(g, a, true, true) : batch_matmul(g, a, true, false))
             : (ta ? batch_matmul(a, g, false, false) : batch_matmul(a, g, true, false));
      give(d[1], sum_to(db, b.shape()));
    }
  }
}

/// The product of two tensors of rank >= 2 (batches of matrices) into `py`, which holds the
/// product's elements; d = matmul_dims(a, b, ...).
template <class T>
void batch_matmul_into(const Tensor<T>& a, const Tensor<T>& b, bool transpose_a, bool transpose_b,
                       const MatmulDims& d, T* py_out) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();

  const std::int64_t a_rows = sa[sa.rank() - 2], a_cols = sa[sa.rank() - 1];
  const std::int64_t b_rows = sb[sb.rank() - 2], b_cols = sb[sb.rank() - 1];
  // y's slices [slices * m, n] from a's [slices * a_rows, a_cols] (stacked, so never
  // transposed) and one b slice (NOTE [ One GEMM for every product ]).
  auto product = [&](const T* pa, const T* pb, T* py, std::int64_t slices) {
    gemm(transpose_a, transpose_b, slices * d.m, d.n, d.k, pa, pb, py, false);
  };
  const std::int64_t slices = d.batch.size();
  if (slices * d.m * d.n == 0) {
    // nothing to compute
  } else if (shares_right_operand(sa, sb, d.batch, transpose_a)) {
    product(a.elements(), b.elements(), py_out, slices);
  } else {
    std::int64_t a_strides[Shape::max_rank], b_strides[Shape::max_rank];
    broadcast_strides(matmul_batch(sa), d.batch, a_strides);
    broadcast_strides(matmul_batch(sb), d.batch, b_strides);
    const std::int64_t a_slice = a_rows * a_cols, b_slice = b_rows * b_cols, y_slice = d.m * d.n;
    const bool tiny = d.k <= tiny_matmul_work && d.m * d.n <= tiny_matmul_work &&
                      d.m * d.n * d.k <= tiny_matmul_work;
    const T* pa = a.elements();
    const T* pb = b.elements();
    T* py = py_out;
    // An odometer over the batch: the next slice's offsets come from one increment, not from
    // a division per batch axis.
    std::int64_t at[Shape::max_rank] = {}, ia = 0, ib = 0;
    const int last = d.batch.rank() - 1;
    for (std::int64_t s = 0; s < slices; ++s) {
      if (tiny)
        tiny_matmul(pa + ia * a_slice, pb + ib * b_slice, py + s * y_slice, d, a_cols, b_cols,
                    transpose_a, transpose_b);
      else
        product(pa + ia * a_slice, pb + ib * b_slice, py + s * y_slice, 1);
      for (int axis = last; axis >= 0; --axis) {
        ia += a_strides[axis];
        ib += b_strides[axis];
        if (++at[axis] < d.batch[axis]) break;
        ia -= a_strides[axis] * d.batch[axis];
        ib -= b_strides[axis] * d.batch[axis];
        at[axis] = 0;
      }
    }
  }
}

template <class T>
void matmul_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const Tensor<T> a(*inputs[0]), b(*inputs[1]);
  const auto [ta, tb] = args.as<MatmulAttrs>();
  batch_matmul_into(a, b, ta, tb, matmul_dims(a.shape(), b.shape(), ta, tb),
                    static_cast<T*>(out.data));
}
/// Bilinear: d(a b) = da b + a db.
template <class T>
ImplRef matmul_jvp(const OpArgs& args, const ImplRef* const* inputs, const ImplRef&,
                   const ImplRef* const* t) {
  const MatmulAttrs flags = args.as<MatmulAttrs>();
  return bilinear_jvp<T>(inputs, t, [&](const Tensor<T>& a, const Tensor<T>& b) {
    return batch_matmul(a, b, flags.transpose_a, flags.transpose_b);
  });
}
template <class T>
inline constexpr OpDefinition matmul_op{
    "matmul", OpFamily::linalg, 2, &matmul_backward<T>, &matmul_forward<T>, &matmul_jvp<T>};

/// The product of two tensors of rank >= 2 (batches of matrices), recorded as "matmul".
template <class T>
Tensor<T> batch_matmul(const Tensor<T>& a, const Tensor<T>& b, bool transpose_a, bool transpose_b) {
  TAPEGRAD_ASSERT(a.rank() >= 2 && b.rank() >= 2);
  const MatmulDims d = matmul_dims(a.shape(), b.shape(), transpose_a, transpose_b);
  Shape shape = d.batch;
  shape.push_back(d.m);
  shape.push_back(d.n);
  Tensor<T> y(uninitialized, shape);
  batch_matmul_into(a, b, transpose_a, transpose_b, d, y.mutable_data());
  if (any_tape_recording())
    record(y.impl(), matmul_op<T>, {&a.impl(), &b.impl()}, {&a.impl(), &b.impl()},
           OpAttrs::of(MatmulAttrs{transpose_a, transpose_b}));
  return y;
}

// NOTE [ matmul with vectors ]
// As in NumPy, a 1-D a of shape [k] is the row [1, k] and a 1-D b the column [k, 1]; the
// added axis is dropped from the result ([k] x [..., k, n] -> [..., n], [..., m, k] x [k] ->
// [..., m], [k] x [k] -> []). A vector is its own transpose, so transpose flags leave a 1-D
// operand alone. The reshapes are recorded, so its gradient comes back 1-D.
template <class T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b, bool transpose_a, bool transpose_b) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  if (sa.rank() >= 2 && sb.rank() >= 2) return batch_matmul(a, b, transpose_a, transpose_b);
  const MatmulDims d = matmul_dims(sa, sb, transpose_a, transpose_b);
  Shape shape = d.batch;
  if (sa.rank() >= 2) shape.push_back(d.m);
  if (sb.rank() >= 2) shape.push_back(d.n);
  const Tensor<T> a2 = sa.rank() == 1 ? reshape(a, Shape{1, d.k}) : a;
  const Tensor<T> b2 = sb.rank() == 1 ? reshape(b, Shape{d.k, 1}) : b;
  return reshape(batch_matmul(a2, b2, transpose_a && sa.rank() >= 2, transpose_b && sb.rank() >= 2),
                 shape);
}

template <class T>
Tensor<T> diag(const Tensor<T>& v, std::int64_t rows, std::int64_t cols);
template <class T>
Tensor<T> diag_part(const Tensor<T>& x);

/// v on the main diagonals of zero [rows, cols] matrices, into `py` (`matrices` of them).
template <class T>
void diag_into(const T* pv, std::int64_t matrices, const MatrixAttrs& m, T* py) {
  const std::int64_t p = std::min(m.rows, m.cols);
  std::fill_n(py, matrices * m.rows * m.cols, T(0));
  for (std::int64_t b = 0; b < matrices; ++b)
    for (std::int64_t i = 0; i < p; ++i) py[b * m.rows * m.cols + i * (m.cols + 1)] = pv[b * p + i];
}
/// The main diagonals of `matrices` [rows, cols] matrices, into `py`.
template <class T>
void diag_part_into(const T* px, std::int64_t matrices, const MatrixAttrs& m, T* py) {
  const std::int64_t p = std::min(m.rows, m.cols);
  for (std::int64_t b = 0; b < matrices; ++b)
    for (std::int64_t i = 0; i < p; ++i) py[b * p + i] = px[b * m.rows * m.cols + i * (m.cols + 1)];
}

// diag and diag_part are each other's adjoint, and linear: the JVP applies the op itself.
template <class T>
void diag_backward(const Entry&, ImplRef&& g, const bool*, ImplRef* dx) {
  give(dx[0], diag_part(Tensor<T>(std::move(g))));
}
template <class T>
void diag_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const TensorImpl& v = *inputs[0]->get();
  diag_into(static_cast<const T*>(v.data), elements_before(v.shape(), v.shape().rank() - 1),
            args.as<MatrixAttrs>(), static_cast<T*>(out.data));
}
template <class T>
ImplRef diag_jvp(const OpArgs& args, const ImplRef* const*, const ImplRef&,
                 const ImplRef* const* t) {
  const MatrixAttrs m = args.as<MatrixAttrs>();
  return linear_jvp<T>(t, [&](const Tensor<T>& v) { return diag(v, m.rows, m.cols); });
}
template <class T>
inline constexpr OpDefinition diag_op{"diag",           OpFamily::linalg, 1, &diag_backward<T>,
                                      &diag_forward<T>, &diag_jvp<T>};

template <class T>
void diag_part_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const auto [rows, cols] = e.attrs().as<MatrixAttrs>();
  give(dx[0], diag(Tensor<T>(std::move(g)), rows, cols));
}
template <class T>
void diag_part_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const TensorImpl& x = *inputs[0]->get();
  diag_part_into(static_cast<const T*>(x.data), elements_before(x.shape(), x.shape().rank() - 2),
                 args.as<MatrixAttrs>(), static_cast<T*>(out.data));
}
template <class T>
ImplRef diag_part_jvp(const OpArgs&, const ImplRef* const*, const ImplRef&,
                      const ImplRef* const* t) {
  return linear_jvp<T>(t, [&](const Tensor<T>& v) { return diag_part(v); });
}
template <class T>
inline constexpr OpDefinition diag_part_op{
    "diag_part",           OpFamily::linalg, 1, &diag_part_backward<T>,
    &diag_part_forward<T>, &diag_part_jvp<T>};

/// [..., min(rows, cols)] -> [..., rows, cols]: zero matrices holding v on the main diagonal.
template <class T>
Tensor<T> diag(const Tensor<T>& v, std::int64_t rows, std::int64_t cols) {
  const Shape& s = v.shape();
  TAPEGRAD_ASSERT(s.rank() >= 1 && s[s.rank() - 1] == std::min(rows, cols));
  Shape shape = remove_axis(s, s.rank() - 1);
  shape.push_back(rows);
  shape.push_back(cols);
  Tensor<T> y(uninitialized, shape);
  const MatrixAttrs m{rows, cols};
  diag_into(v.elements(), elements_before(s, s.rank() - 1), m, y.mutable_data());
  if (any_tape_recording()) record(y.impl(), diag_op<T>, {&v.impl()}, {}, OpAttrs::of(m));
  return y;
}

/// [..., rows, cols] -> [..., min(rows, cols)]: the main diagonal of each matrix.
template <class T>
Tensor<T> diag_part(const Tensor<T>& x) {
  const Shape& s = x.shape();
  TAPEGRAD_ASSERT(s.rank() >= 2);
  const MatrixAttrs m{s[s.rank() - 2], s[s.rank() - 1]};
  Shape shape = remove_axis(s, s.rank() - 1);
  shape.set(s.rank() - 2, std::min(m.rows, m.cols));
  Tensor<T> y(uninitialized, shape);
  diag_part_into(x.elements(), elements_before(s, s.rank() - 2), m, y.mutable_data());
  if (any_tape_recording()) record(y.impl(), diag_part_op<T>, {&x.impl()}, {}, OpAttrs::of(m));
  return y;
}

inline void check_matrix_rank(const char* op, const Shape& s) {
  TAPEGRAD_CHECK(!(s.rank() < 2), shape_error, op,
                 ": expected a tensor of rank >= 2 (matrices), got ", s);
}

}  // namespace detail

/// The matrix product, as tf.linalg.matmul and NumPy's matmul: [..., m, k] x [..., k, n] ->
/// [..., m, n], the batch dimensions (all but the last two) broadcast NumPy style; either
/// operand may be transposed first (its last two axes), and a 1-D operand is a vector
/// (NOTE [ matmul with vectors ]).
///   auto y = tapegrad::matmul(x, w);                 // [b, k] x [k, n] -> [b, n]
///   auto z = tapegrad::matmul(q, k, false, true);    // [h, s, d] x [h, t, d]^T -> [h, s, t]
///   auto v = tapegrad::matmul(m, x);                 // [m, k] x [k] -> [m]
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> matmul(const X& a, const Y& b, bool transpose_a = false,
                                    bool transpose_b = false,
                                    SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& ta = detail::arg(a, "matmul");  // read a before b, as written
  return detail::matmul(ta, detail::arg(b, "matmul"), transpose_a, transpose_b);
}

/// The matrix-vector product, as tf.linalg.matvec: [..., m, n] x [..., n] -> [..., m], the
/// batch dimensions broadcast; the matrix may be transposed first (its last two axes).
///   auto y = tapegrad::matvec(w, x);   // [3, 4] x [4] -> [3]
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> matvec(const X& a, const Y& b, bool transpose_a = false,
                                    SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& ta = detail::arg(a, "matvec");
  const auto& tb = detail::arg(b, "matvec");
  TAPEGRAD_CHECK(!(ta.rank() < 2 || tb.rank() < 1), shape_error,
                 "matvec: expected a matrix [..., m, n] and a vector [..., n], got ", ta.shape(),
                 " and ", tb.shape());
  const std::int64_t n = ta.shape()[ta.rank() - (transpose_a ? 2 : 1)];
  TAPEGRAD_CHECK(n == tb.shape()[tb.rank() - 1], shape_error, "matvec: the matrix ", ta.shape(),
                 transpose_a ? " transposed" : "", " has ", n, " columns but the vector ",
                 tb.shape(), " has length ", tb.shape()[tb.rank() - 1]);
  Shape column = tb.shape();
  column.push_back(1);
  const Tensor<detail::element_t<X>> y =
      detail::matmul(ta, detail::reshape(tb, column), transpose_a, false);
  const Shape y_shape = y.shape();
  return detail::reshape(y, Shape(y_shape.begin(), y_shape.end() - 1));
}

/// The outer product of two vectors: [m] and [n] -> [m, n] with y[i, j] = a[i] * b[j].
///   auto m = tapegrad::outer(u, v);
template <class X, class Y, detail::if_both_differentiable<X, Y> = 0>
Tensor<detail::element_t<X>> outer(const X& a, const Y& b,
                                   SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& ta = detail::arg(a, "outer");
  const auto& tb = detail::arg(b, "outer");
  TAPEGRAD_CHECK(!(ta.rank() != 1 || tb.rank() != 1), shape_error,
                 "outer: expected two 1-D tensors, got ", ta.shape(), " and ", tb.shape());
  return detail::reshape(ta, Shape{ta.size(), 1}) * detail::reshape(tb, Shape{1, tb.size()});
}

/// Diagonal matrices from their diagonals, as tf.linalg.diag: [..., n] -> [..., n, n].
///   auto d = tapegrad::diag(v);   // [3] -> [3, 3]
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> diag(const X& v, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(v, "diag");
  TAPEGRAD_CHECK(t.rank() != 0, shape_error,
                 "diag: expected a tensor of rank >= 1 (the diagonal), got ", t.shape());
  const std::int64_t n = t.shape()[t.rank() - 1];
  return detail::diag(t, n, n);
}

/// The main diagonal of each matrix, as tf.linalg.diag_part: [..., m, n] -> [..., min(m, n)].
///   auto d = tapegrad::diag_part(m);   // [2, 3, 3] -> [2, 3]
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> diag_part(const X& x,
                                       SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "diag_part");
  detail::check_matrix_rank("diag_part", t.shape());
  return detail::diag_part(t);
}

/// The sum of each matrix's main diagonal, as tf.linalg.trace: [..., m, n] -> [...].
///   auto t = tapegrad::trace(m);   // [3, 3] -> []
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> trace(const X& x, SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto& t = detail::arg(x, "trace");
  detail::check_matrix_rank("trace", t.shape());
  return detail::sum(detail::diag_part(t), t.rank() - 2, false);
}

}  // namespace tapegrad
