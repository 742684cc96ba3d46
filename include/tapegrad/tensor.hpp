#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

#include "tapegrad/detail/tensor_impl.hpp"
#include "tapegrad/dtype.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/shape.hpp"
#include "tapegrad/source_location.hpp"

namespace tapegrad {

namespace detail {
/// Tag for the internal constructor that leaves elements uninitialised.
struct Uninitialized {};
inline constexpr Uninitialized uninitialized{};

/// An element of a 1-d initializer list. Converting to it is a user-defined conversion, so
/// {{1.f}, {2.f}} picks the 2-d constructor (a column) instead of being ambiguous.
template <class T>
struct ListElement {
  ListElement(T v) : value(v) {}  // NOLINT(google-explicit-constructor)
  T value;
};

class SavedTensor;
}  // namespace detail

template <class T>
using FlatMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using MatrixMap =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

/// An immutable n-d array of T (float, double; int32/int64/bool as plain data), row-major and
/// contiguous. Copies share storage and no op changes an existing tensor, as with
/// TensorFlow's eager tensors. A default-constructed Tensor is "no value": what
/// GradientTape::gradient returns for a source the target does not depend on.
///   tapegrad::Tensor<float> x({{1.f, 2.f}, {3.f, 4.f}});  // shape (2, 2)
template <class T>
class Tensor {
  static_assert(is_supported_element_v<T>,
                "tapegrad: Tensor<T> holds float, double, std::int32_t, std::int64_t or bool");

 public:
  using value_type = T;

  /// No value (TensorFlow's None).
  Tensor() = default;
  /// A 0-d tensor (a scalar): Tensor<float>(3.f). A template, so that a braced list such as
  /// Tensor<float>({3.f}) is never taken for a scalar: that is a 1-d tensor of one element.
  template <class S, std::enable_if_t<std::is_arithmetic_v<S>, int> = 0>
  Tensor(S value) : Tensor(Shape{}, static_cast<T>(value)) {}  // NOLINT: like tf.constant(3.0)
  /// A 1-d tensor: Tensor<float>({1.f, 2.f}).
  Tensor(std::initializer_list<detail::ListElement<T>> values)
      : Tensor(detail::uninitialized, Shape{static_cast<std::int64_t>(values.size())}) {
    T* out = mutable_data();
    for (const auto& v : values) *out++ = v.value;
    note_host_values();
  }
  /// A 2-d tensor from rows of equal length: Tensor<float>({{1.f, 2.f}, {3.f, 4.f}}).
  Tensor(std::initializer_list<std::initializer_list<T>> rows)
      : Tensor(detail::uninitialized,
               Shape{static_cast<std::int64_t>(rows.size()),
                     rows.size() ? static_cast<std::int64_t>(rows.begin()->size()) : 0}) {
    T* out = mutable_data();
    for (const auto& row : rows) {
      TAPEGRAD_CHECK(!(static_cast<std::int64_t>(row.size()) != shape()[1]), shape_error,
                     "Tensor: rows of a nested initializer list differ in length (", shape()[1],
                     " vs. ", row.size(), ")");
      out = std::copy(row.begin(), row.end(), out);
    }
    note_host_values();
  }
  /// A 3-d tensor from nested lists of equal lengths.
  Tensor(std::initializer_list<std::initializer_list<std::initializer_list<T>>> blocks) {
    const auto n0 = static_cast<std::int64_t>(blocks.size());
    const auto n1 = n0 ? static_cast<std::int64_t>(blocks.begin()->size()) : 0;
    const auto n2 = n1 ? static_cast<std::int64_t>(blocks.begin()->begin()->size()) : 0;
    *this = Tensor(detail::uninitialized, Shape{n0, n1, n2});
    T* out = mutable_data();
    for (const auto& block : blocks) {
      TAPEGRAD_CHECK(!(static_cast<std::int64_t>(block.size()) != n1), shape_error,
                     "Tensor: nested initializer lists differ in length");
      for (const auto& row : block) {
        TAPEGRAD_CHECK(!(static_cast<std::int64_t>(row.size()) != n2), shape_error,
                       "Tensor: nested initializer lists differ in length");
        out = std::copy(row.begin(), row.end(), out);
      }
    }
    note_host_values();
  }
  /// Every element equal to `fill`: Tensor<float>(Shape{2, 3}, 0.f). Explicit, as is the
  /// (Shape, values) form, so that a mistyped nested list such as {{1, 2}, 3} is a compile
  /// error instead of a shape and a fill.
  explicit Tensor(const Shape& shape, T fill) : Tensor(detail::uninitialized, shape) {
    std::fill_n(mutable_data(), size(), fill);
    note_host_values();
  }
  /// Zeros of the given shape (tf.zeros): Tensor<float>(Shape{2, 3}).
  explicit Tensor(const Shape& shape) : Tensor(shape, T(0)) {}
  /// Elements in row-major order; their count must match the shape.
  explicit Tensor(const Shape& shape, const std::vector<T>& values)
      : Tensor(detail::uninitialized, shape) {
    TAPEGRAD_CHECK(!(static_cast<std::int64_t>(values.size()) != size()), shape_error,
                   "Tensor: ", values.size(), " values do not fill shape ", shape, " of ", size(),
                   " elements");
    std::copy(values.begin(), values.end(), mutable_data());
    note_host_values();
  }
  /// A 1-d tensor of the vector's elements: Tensor<float>(std::vector<float>{1.f, 2.f}).
  explicit Tensor(const std::vector<T>& values)
      : Tensor(Shape{static_cast<std::int64_t>(values.size())}, values) {}
  /// A copy of an Eigen matrix, array or vector. Decided by the type, not by the value: a
  /// column vector (ColsAtCompileTime == 1: VectorXf, Vector3d, ArrayXf) becomes a 1-d tensor
  /// of shape (n), as matrix() reads a 1-d tensor back as a column; anything else is a 2-d
  /// tensor of shape (rows, cols), so a dynamic matrix that has one column stays (n, 1) and
  /// a row vector (RowVectorXf) stays the (1, n) matrix it is.
  ///   tapegrad::Tensor<float> v(Eigen::VectorXf::Ones(3));  // shape (3)
  template <class Derived>
  explicit Tensor(const Eigen::DenseBase<Derived>& m)
      : Tensor(detail::uninitialized, Derived::ColsAtCompileTime == 1
                                          ? Shape{static_cast<std::int64_t>(m.rows())}
                                          : Shape{static_cast<std::int64_t>(m.rows()),
                                                  static_cast<std::int64_t>(m.cols())}) {
    Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
        mutable_data(), m.rows(), m.cols()) = m.derived().template cast<T>();
    note_host_values();
  }

  static Tensor zeros(const Shape& shape) { return Tensor(shape, T(0)); }
  static Tensor ones(const Shape& shape) { return Tensor(shape, T(1)); }
  static Tensor full(const Shape& shape, T value) { return Tensor(shape, value); }

  /// False for "no value" (a gradient TensorFlow would return as None).
  bool has_value() const noexcept { return static_cast<bool>(impl_); }
  /// has_value(), for if (g) { ... }. Not for a mask: `if (x > 0.0)` would silently test
  /// whether the mask exists, so on Tensor<bool> it does not compile (use any/all/item).
  template <class U = T, std::enable_if_t<!std::is_same_v<U, bool>, int> = 0>
  explicit operator bool() const noexcept {
    return has_value();
  }
  // Deleted rather than a static_assert, so that std::is_constructible_v<bool, Tensor<bool>>
  // stays false; compilers quote this line, so the message is on it.
  template <class U = T, std::enable_if_t<std::is_same_v<U, bool>, int> = 0>
  explicit operator bool() const = delete;  // a mask: use tapegrad::any(m).item() or all(m).item()

  /// The dimensions, outermost first (a copy: the header keeps them compactly).
  ///   for (std::int64_t d : x.shape()) std::cout << d << ' ';
  Shape shape() const { return checked()->shape(); }
  int rank() const { return checked()->rank; }
  std::int64_t size() const { return checked()->size(); }
  static constexpr DType dtype() { return dtype_of<T>(); }
  // NOTE [ Host reads while tracing ]
  // The accessors below read elements on the host. While a function is traced (replay/),
  // reading a value the trace computes would let the host decide something a replay cannot
  // repeat, so they throw trace_error there, naming the caller's line; constants read fine.
  // The library's own kernels read through elements() and its kin, which never check.

  /// The elements, row-major and contiguous.   const float* p = x.data();
  const T* data(SourceLocation where = SourceLocation::current()) const {
    note_host_read("data", where);
    return elements();
  }
  /// The elements as a flat Eigen array, without copying: x.array().maxCoeff().
  FlatMap<T> array(SourceLocation where = SourceLocation::current()) const& {
    note_host_read("array", where);
    return element_array();
  }
  /// On a temporary, a copy that owns the elements, so that tapegrad::exp(x).array().sum()
  /// works and `auto a = tapegrad::exp(x).array();` cannot outlive what it reads.
  Eigen::Array<T, Eigen::Dynamic, 1> array(
      SourceLocation where = SourceLocation::current()) const&& {
    note_host_read("array", where);
    return element_array();
  }
  /// A rank-0, 1 or 2 tensor as a row-major Eigen matrix view: (1, 1), a column (n, 1) or
  /// (rows, cols), without copying. The inverse of the Eigen constructor: a VectorXf comes
  /// back as the column it was.
  ///   Eigen::MatrixXf w = weights.matrix();
  MatrixMap<T> matrix(SourceLocation where = SourceLocation::current()) const& {
    note_host_read("matrix", where);
    return element_matrix();
  }
  /// On a temporary, a copy that owns the elements (see array() on a temporary).
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> matrix(
      SourceLocation where = SourceLocation::current()) const&& {
    note_host_read("matrix", where);
    return element_matrix();
  }

  /// Checked element access: x.at(1, 2) on a rank-2 tensor; x.at() on a 0-d one. An index
  /// out of range throws index_error (a std::out_of_range), a wrong count value_error.
  template <class... Index>
  T at(Index... index) const {
    static_assert((std::is_integral_v<Index> && ...), "Tensor::at takes integer indices");
    const Shape& s = shape();
    TAPEGRAD_CHECK(!(static_cast<int>(sizeof...(Index)) != s.rank()), value_error,
                   "Tensor::at: ", sizeof...(Index), " indices for a tensor of shape ", s);
    const std::int64_t idx[] = {static_cast<std::int64_t>(index)..., 0};
    std::int64_t flat = 0;
    for (int i = 0; i < s.rank(); ++i) {
      TAPEGRAD_CHECK(!(idx[i] < 0 || idx[i] >= s[i]), index_error, "Tensor::at: index ", idx[i],
                     " is out of range for axis ", i, " of shape ", s);
      flat = flat * s[i] + idx[i];
    }
    note_host_read("at", SourceLocation{nullptr, 0});  // (no default argument after a pack)
    return elements()[flat];
  }
  /// The one element of a tensor with exactly one element (any rank).
  T item(SourceLocation where = SourceLocation::current()) const {
    TAPEGRAD_CHECK(size() == 1, value_error, "Tensor::item: needs exactly one element, got shape ",
                   shape());
    note_host_read("item", where);
    return elements()[0];
  }
  /// The elements in row-major order.
  std::vector<T> to_vector(SourceLocation where = SourceLocation::current()) const {
    note_host_read("to_vector", where);
    return std::vector<T>(elements(), elements() + size());
  }
  /// The elements converted to U, as tapegrad::cast<U>(x) (ops/compare.hpp defines it).
  ///   auto x64 = x.cast<double>();
  template <class U>
  Tensor<U> cast(SourceLocation where = SourceLocation::current()) const;

  // Internal: kernels read elements through these, which never refuse (NOTE [ Host reads
  // while tracing ]).
  const T* elements() const { return static_cast<const T*>(checked()->data); }
  TAPEGRAD_ALWAYS_INLINE FlatMap<T> element_array() const {
    const detail::TensorImpl* impl = checked();
    return FlatMap<T>(static_cast<const T*>(impl->data), static_cast<Eigen::Index>(impl->size()));
  }
  MatrixMap<T> element_matrix() const {
    const Shape& s = shape();
    TAPEGRAD_CHECK(!(s.rank() > 2), shape_error, "Tensor::matrix: needs rank <= 2, got shape ", s);
    const auto rows = s.rank() == 0 ? 1 : s[0];
    const auto cols = s.rank() == 2 ? s[1] : 1;
    return MatrixMap<T>(elements(), static_cast<Eigen::Index>(rows),
                        static_cast<Eigen::Index>(cols));
  }

  // Internal: ops build tensors through these.
  Tensor(detail::Uninitialized, const Shape& shape)
      : impl_(detail::ImplRef::adopt(detail::allocate_impl(dtype(), shape))) {}
  /// Elements uninitialised, the shape of `shaped_like` (any element type).
  Tensor(detail::Uninitialized, const detail::TensorImpl& shaped_like)
      : impl_(detail::ImplRef::adopt(detail::allocate_like(dtype(), shaped_like))) {}
  explicit Tensor(detail::ImplRef impl) : impl_(std::move(impl)) {}
  const detail::ImplRef& impl() const noexcept { return impl_; }
  /// Moves the handle out, leaving this tensor without a value (no reference-count traffic).
  detail::ImplRef take_impl() && noexcept { return std::move(impl_); }
  /// Writable elements of a tensor this code has just created and nobody else has seen yet.
  T* mutable_data() { return static_cast<T*>(impl_->data); }
  Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> mutable_array() {
    return Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(mutable_data(),
                                                          static_cast<Eigen::Index>(size()));
  }

 private:
  void note_host_read(const char* accessor, const SourceLocation& where) const {
    if (TAPEGRAD_UNLIKELY(detail::trace_hooks != nullptr))
      detail::trace_hooks->on_host_read(checked(), accessor, where.file, where.line);
  }
  // A constant, to a function being traced (NOTE [ Tracing a function ]).
  void note_host_values() const noexcept { detail::note_host_values(impl_.get()); }
  detail::TensorImpl* checked() const {
    TAPEGRAD_CHECK(impl_, value_error,
                   "Tensor has no value (a gradient that does not exist, TensorFlow's None); check "
                   "has_value() first");
    return impl_.get();
  }

  // Reads the handle through whichever Tensor<T> of its union is active.
  friend class detail::SavedTensor;

  detail::ImplRef impl_;
};

}  // namespace tapegrad
