#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "tapegrad/config.hpp"
#include "tapegrad/detail/tape_state.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/source_location.hpp"

// Anomaly mode: find the op that first produced a NaN or an infinity, forward or backward.
namespace tapegrad {

/// A NaN or infinity found by anomaly mode: "anomaly: div produced NaN (element 2 of [3])
/// from finite inputs [3], [3], called at model.cpp:42".
/// Its message names the place itself (the op's call, or the forward op a backward step
/// differentiates), so no " (called at ...)" is added.
class anomaly_error : public error {
 public:
  explicit anomaly_error(const std::string& message) : error(message, detail::without_location) {}
};

/// While alive, every op on this thread checks its result, and every backward its gradients,
/// for NaN and infinity, and throws anomaly_error naming the op, its input shapes and the
/// line of user code that called it (as PyTorch's detect_anomaly, which names only the
/// backward function). Off by default; when off it costs one thread-local test per op.
/// Operators (+ - * /) cannot take a source location in C++, so their reports give none;
/// the named forms (add, subtract, multiply, divide) do.
///   { tapegrad::DetectAnomaly anomaly; auto loss = model(x); tape.gradient(loss, w); }
class DetectAnomaly {
 public:
  DetectAnomaly() noexcept {
    detail::ThreadTapes& tapes = detail::thread_tapes;
    ++tapes.anomaly;
    ++tapes.recording;  // so that every op reaches record(), where the check lives
  }
  ~DetectAnomaly() {
    --detail::thread_tapes.anomaly;
    --detail::thread_tapes.recording;
  }
  DetectAnomaly(const DetectAnomaly&) = delete;
  DetectAnomaly& operator=(const DetectAnomaly&) = delete;
};

namespace detail {

inline bool anomaly_mode() noexcept {
  return thread_tapes.anomaly != 0;
}

/// The index of the first NaN or infinity in a float or double tensor, or -1.
inline std::int64_t first_non_finite(const TensorImpl& t, bool& is_nan) {
  auto scan = [&](const auto* p) -> std::int64_t {
    for (std::int64_t i = 0; i < t.size; ++i)
      if (!std::isfinite(p[i])) {
        is_nan = std::isnan(p[i]);
        return i;
      }
    return -1;
  };
  if (t.dtype == DType::float32) return scan(static_cast<const float*>(t.data));
  if (t.dtype == DType::float64) return scan(static_cast<const double*>(t.data));
  return -1;
}

inline std::string location_text(const SourceLocation* where) {
  if (where == nullptr || where->file == nullptr)
    return "called through an operator or internally (no source location; the named op "
           "gives one)";
  return std::string("called at ") + where->file + ":" + std::to_string(where->line);
}

/// "[3], [] ": the shapes of an op's inputs.
inline std::string input_shapes(const ImplRef* const* inputs, std::size_t n) {
  std::string out;
  for (std::size_t k = 0; k < n; ++k) out += (k ? ", " : "") + (*inputs[k])->shape.str();
  return out.empty() ? "no inputs" : out;
}

/// Throws anomaly_error if an op's result holds a NaN or infinity.
TAPEGRAD_NOINLINE inline void check_forward_anomaly(const ImplRef& output, const char* op,
                                                    const ImplRef* const* inputs,
                                                    std::size_t n_inputs) {
  bool is_nan = false;
  const std::int64_t bad = first_non_finite(*output.get(), is_nan);
  if (bad < 0) return;
  const ThreadTapes& tapes = thread_tapes;
  if (tapes.backward_op != nullptr)  // a step of a gradient: blame the op being differentiated
    detail::fail<anomaly_error>(
        "anomaly: the backward of ", tapes.backward_op, " produced ", (is_nan ? "NaN" : "inf"),
        " (element ", bad, " of ", output->shape, ", computing ", op, ")",
        (tapes.backward_site->empty() ? "" : "; the op had " + *tapes.backward_site));
  bool inputs_finite = true;
  for (std::size_t k = 0; k < n_inputs; ++k) {
    bool unused = false;
    inputs_finite = inputs_finite && first_non_finite(*inputs[k]->get(), unused) < 0;
  }
  detail::fail<anomaly_error>(
      "anomaly: ", op, " produced ", (is_nan ? "NaN" : "inf"), " (element ", bad, " of ",
      output->shape, ") from ", (inputs_finite ? "finite inputs " : "inputs (not all finite) "),
      input_shapes(inputs, n_inputs), ", ", location_text(thread_tapes.location));
}

/// Throws anomaly_error if the gradient the backward of `op` computed for input k holds a
/// NaN or infinity; `site` says where the op was called and on what shapes.
TAPEGRAD_NOINLINE inline void check_backward_anomaly(const ImplRef& grad, const char* op,
                                                     std::uint32_t k, const std::string& site) {
  bool is_nan = false;
  const std::int64_t bad = first_non_finite(*grad.get(), is_nan);
  if (bad < 0) return;
  detail::fail<anomaly_error>("anomaly: the backward of ", op, " produced ",
                              (is_nan ? "NaN" : "inf"), " in the gradient of input ", k,
                              " (element ", bad, " of ", grad->shape, ")",
                              (site.empty() ? "" : "; the op had " + site));
}

/// While alive, ops are steps of the backward of `op` (called with `site`), for reports.
class BackwardScope {
 public:
  BackwardScope(const char* op, const std::string& site) noexcept
      : saved_op_(thread_tapes.backward_op), saved_site_(thread_tapes.backward_site) {
    thread_tapes.backward_op = op;
    thread_tapes.backward_site = &site;
  }
  ~BackwardScope() {
    thread_tapes.backward_op = saved_op_;
    thread_tapes.backward_site = saved_site_;
  }
  BackwardScope(const BackwardScope&) = delete;
  BackwardScope& operator=(const BackwardScope&) = delete;

 private:
  const char* saved_op_;
  const std::string* saved_site_;
};

}  // namespace detail
}  // namespace tapegrad
