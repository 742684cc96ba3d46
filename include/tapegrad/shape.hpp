#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "tapegrad/errors.hpp"

namespace tapegrad {

namespace detail {
struct TensorImpl;
}

/// The dimensions of a tensor, outermost first (row-major). Rank 0 is a scalar.
///   tapegrad::Shape s{2, 3};  // s.rank() == 2, s.size() == 6, s.str() == "[2,3]"
class Shape {
 public:
  static constexpr int max_rank = 8;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims) {
    for (std::int64_t d : dims) push_back(d);
  }
  template <class Iterator>
  Shape(Iterator first, Iterator last) {
    for (; first != last; ++first) push_back(static_cast<std::int64_t>(*first));
  }

  int rank() const { return rank_; }
  /// Number of elements: the product of the dimensions (1 for rank 0). It cannot overflow:
  /// the dimensions other than 0 multiply to at most 2^63 - 1 (push_back and set refuse
  /// more), so neither can any product of some of them, in any order.
  std::int64_t size() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[static_cast<std::size_t>(i)];
    return n;
  }
  std::int64_t operator[](int axis) const { return dims_[static_cast<std::size_t>(axis)]; }
  /// Changes one dimension, with push_back's checks.
  void set(int axis, std::int64_t dim) {
    const std::int64_t old = dims_[static_cast<std::size_t>(axis)];
    dims_[static_cast<std::size_t>(axis)] = 1;
    try {
      check(dim);
    } catch (...) {
      dims_[static_cast<std::size_t>(axis)] = old;
      throw;
    }
    dims_[static_cast<std::size_t>(axis)] = dim;
  }
  const std::int64_t* begin() const { return dims_.data(); }
  const std::int64_t* end() const { return dims_.data() + rank_; }

  void push_back(std::int64_t dim) {
    TAPEGRAD_CHECK(rank_ != max_rank, shape_error, "Shape: rank above the maximum of ", max_rank);
    check(dim);
    dims_[static_cast<std::size_t>(rank_++)] = dim;
  }

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a[i] != b[i]) return false;
    return true;
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

  /// "[2,3]", the form error messages use.
  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank_; ++i) {
      if (i) s += ',';
      s += std::to_string(dims_[static_cast<std::size_t>(i)]);
    }
    return s + ']';
  }

 private:
  friend struct detail::TensorImpl;
  // A tensor's own dimensions, which were checked when it was made.
  Shape(const std::uint32_t* dims, int rank) noexcept : rank_(rank) {
    for (int i = 0; i < rank; ++i) dims_[static_cast<std::size_t>(i)] = dims[i];
  }

  /// Refuses a negative dimension, and one that would make the dimensions other than 0
  /// multiply past 2^63 - 1 (a shape with a 0 in it has no elements, but its strides and
  /// partial sizes are still products of the others).
  void check(std::int64_t dim) const {
    TAPEGRAD_CHECK(!(dim < 0), shape_error, "Shape: negative dimension ", dim);
    if (dim <= 1) return;
    std::int64_t span = dim;
    for (int i = 0; i < rank_; ++i) {
      const std::int64_t d = dims_[static_cast<std::size_t>(i)];
      if (d > 1 && __builtin_mul_overflow(span, d, &span)) throw_too_large(dim);
    }
  }
  [[noreturn]] void throw_too_large(std::int64_t dim) const {
    detail::fail<shape_error>("Shape: adding dimension ", dim, " to ", str(),
                              " makes its dimensions multiply past 2^63 - 1");
  }

  std::array<std::int64_t, max_rank> dims_{};
  int rank_ = 0;
};

/// The NumPy broadcast of two shapes; throws shape_error naming `op` when they do not fit.
///   broadcast_shapes({2, 1}, {3}, "add") == Shape{2, 3}
inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const int rank = a.rank() > b.rank() ? a.rank() : b.rank();
  Shape out;
  for (int i = 0; i < rank; ++i) {
    const int ia = i - (rank - a.rank());
    const int ib = i - (rank - b.rank());
    const std::int64_t da = ia >= 0 ? a[ia] : 1;
    const std::int64_t db = ib >= 0 ? b[ib] : 1;
    TAPEGRAD_CHECK(!(da != db && da != 1 && db != 1), shape_error, op,
                   ": incompatible shapes for broadcasting: ", a, " vs. ", b);
    out.push_back(da == 1 ? db : da);
  }
  return out;
}

/// True when `from` broadcasts to exactly `to` (NumPy rules, `to` unchanged).
inline bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.rank() > to.rank()) return false;
  const int offset = to.rank() - from.rank();
  for (int i = 0; i < from.rank(); ++i)
    if (from[i] != 1 && from[i] != to[i + offset]) return false;
  return true;
}

/// Maps a possibly negative axis into [0, rank); throws value_error naming `op` if out of range.
inline int normalize_axis(const char* op, int axis, int rank) {
  TAPEGRAD_CHECK(!(axis < -rank || axis >= rank), index_error, op, ": axis ", axis,
                 " is out of range for a tensor of rank ", rank, " (expected -", rank,
                 " <= axis < ", rank, ")");
  return axis < 0 ? axis + rank : axis;
}

}  // namespace tapegrad
