#pragma once

#include <initializer_list>
#include <type_traits>
#include <vector>

#include "tapegrad/detail/check.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/shape.hpp"

namespace tapegrad {

/// The tag for "every axis", the default of the reductions and of squeeze.
///   auto total = tapegrad::sum(x, tapegrad::all_axes, true);   // keeps every axis, size 1
struct AllAxes {
  explicit constexpr AllAxes(int) {}
};
inline constexpr AllAxes all_axes{0};

// NOTE [ One axis type ]
// Every op that reduces or removes axes takes them as one type: an int (negative counts from
// the end), a braced list, a std::vector, or all_axes. So squeeze(x, 0) reads like sum(x, 0),
// and an int in an op's second place is an axis wherever it appears (norm's order is a
// NormOrder, never an int). The list is held inline: naming an axis allocates nothing.

/// Which axes an op works along: one (`1`, `-1`), several (`{0, 2}`; `{}` is none), or all
/// (`tapegrad::all_axes`, the default).
///   tapegrad::sum(m, 1);  tapegrad::mean(images, {1, 2}, true);  tapegrad::squeeze(x, 0);
class Axes {
 public:
  Axes(AllAxes) noexcept {}  // NOLINT: implicit on purpose
  template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  Axes(I axis) noexcept : all_(false), n_(1) {  // NOLINT
    axes_[0] = static_cast<int>(axis);
  }
  // A floating value in an axis's place is a mistake (norm's order), not an axis.
  template <class F, std::enable_if_t<std::is_floating_point_v<F>, int> = 0>
  Axes(F) = delete;  // an axis is an integer; for a norm's order write tapegrad::NormOrder(p)
  Axes(std::initializer_list<int> axes) : all_(false) {  // NOLINT
    assign(axes.begin(), axes.end());
  }
  Axes(const std::vector<int>& axes) : all_(false) {  // NOLINT
    assign(axes.data(), axes.data() + axes.size());
  }

  /// Whether these are all of a tensor's axes.
  bool all() const noexcept { return all_; }
  /// The axes as given, unnormalised (empty when all()).
  std::vector<int> list() const { return std::vector<int>(axes_, axes_ + n_); }
  /// The axes normalised against `rank` (all of them when all()), sorted, without duplicates;
  /// shape_error naming `op` for one out of range.
  std::vector<int> normalized(const char* op, int rank) const {
    TAPEGRAD_CHECK(n_ <= Shape::max_rank, shape_error, op, ": ", n_,
                   " axes given, more than a tensor can have (", Shape::max_rank, ")");
    bool seen[Shape::max_rank] = {};
    if (all_)
      for (int i = 0; i < rank; ++i) seen[i] = true;
    for (int i = 0; i < n_; ++i) seen[normalize_axis(op, axes_[i], rank)] = true;
    std::vector<int> out;
    for (int i = 0; i < rank; ++i)
      if (seen[i]) out.push_back(i);
    return out;
  }

 private:
  template <class It>
  void assign(It begin, It end) {
    for (It it = begin; it != end; ++it) {
      if (n_ < Shape::max_rank) axes_[n_] = *it;
      ++n_;
    }
  }

  int axes_[Shape::max_rank] = {};
  bool all_ = true;
  int n_ = 0;  // may exceed max_rank: normalized() then throws
};

/// The order p of a vector norm: 1, 2 or infinity. A type of its own, so that norm(x, -1)
/// means the last axis, as sum(x, -1) does.
///   auto l1 = tapegrad::norm(w, tapegrad::NormOrder(1));
struct NormOrder {
  explicit constexpr NormOrder(double order) : p(order) {}
  double p;
};

}  // namespace tapegrad
