#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/errors.hpp"
#include "tapegrad/ops/binary_functions.hpp"
#include "tapegrad/tensor.hpp"

// Gradient clipping between GradientTape::gradient and Optimizer::apply_gradients. A gradient
// with no value (TensorFlow's None) passes through unchanged, as in TensorFlow.
namespace tapegrad {

/// Each gradient limited to [lo, hi] elementwise (the clip_by_value op on each).
///   auto clipped = tapegrad::clip_by_value(tape.gradient(loss, vars), -1.0, 1.0);
template <class T>
std::vector<Tensor<T>> clip_by_value(const std::vector<Tensor<T>>& grads, double lo, double hi) {
  TAPEGRAD_CHECK(lo <= hi, value_error, "clip_by_value: the lower bound ", lo,
                 " is above the upper bound ", hi);
  std::vector<Tensor<T>> out;
  out.reserve(grads.size());
  for (const auto& g : grads) out.push_back(g.has_value() ? clip_by_value(g, lo, hi) : g);
  return out;
}

// NOTE [ Global-norm clipping is not recorded ]
// tf.clip_by_global_norm is an op like any other, but clipping sits between gradient() and
// apply_gradients() and is not differentiated in practice. It is computed here directly with
// Eigen instead: one read of each gradient for the norm, summed in double so that a float
// gradient's squares do not overflow, and one scaled copy only when clipping happens.

/// The gradients scaled together so that their global norm
/// sqrt(sum of every element squared) is at most clip_norm, and that global norm before
/// clipping (tf.clip_by_global_norm). When the norm is <= clip_norm they come back unchanged
/// (the same tensors); otherwise each is multiplied by clip_norm / global_norm. When the norm
/// is infinite or NaN every element becomes NaN, as in TensorFlow.
///   auto [clipped, norm] = tapegrad::clip_by_global_norm(tape.gradient(loss, vars), 5.0);
template <class T>
std::pair<std::vector<Tensor<T>>, T> clip_by_global_norm(const std::vector<Tensor<T>>& grads,
                                                         double clip_norm) {
  static_assert(is_differentiable_v<T>, "clip_by_global_norm: gradients are float or double");
  TAPEGRAD_CHECK(!(!(clip_norm >= 0) || !std::isfinite(clip_norm)), value_error,
                 "clip_by_global_norm: clip_norm must be finite and >= 0, got ", clip_norm);
  double squares = 0;
  for (const auto& g : grads)
    if (g.has_value())  // NOTE [ Sums in a fixed order ]
      squares += detail::sum_in_fixed_order<double>(g.data(), g.size(),
                                                    [](const auto& v) { return v * v; });
  const double norm = std::sqrt(squares);
  if (norm <= clip_norm) return {grads, static_cast<T>(norm)};
  const T scale =
      std::isfinite(norm) ? static_cast<T>(clip_norm / norm) : std::numeric_limits<T>::quiet_NaN();
  std::vector<Tensor<T>> out;
  out.reserve(grads.size());
  for (const auto& g : grads) {
    if (!g.has_value()) {
      out.push_back(g);
      continue;
    }
    Tensor<T> scaled(detail::uninitialized, g.shape());
    scaled.mutable_array() = g.array() * scale;
    out.push_back(std::move(scaled));
  }
  return {std::move(out), static_cast<T>(norm)};
}

}  // namespace tapegrad

// Last: the precompiled list names this header's templates (NOTE [ The precompiled part ]).
#include "tapegrad/train/instantiations.hpp"
