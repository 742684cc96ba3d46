#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "tapegrad/config.hpp"
#include "tapegrad/detail/op_observer.hpp"
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

namespace detail {

/// The index of the first NaN or infinity in a float or double tensor, or -1.
inline std::int64_t first_non_finite(const TensorImpl& t, bool& is_nan) {
  auto scan = [&](const auto* p) -> std::int64_t {
    for (std::int64_t i = 0; i < t.size(); ++i)
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
  for (std::size_t k = 0; k < n; ++k) out += (k ? ", " : "") + (*inputs[k])->shape().str();
  return out.empty() ? "no inputs" : out;
}

/// Throws anomaly_error if an op's result holds a NaN or infinity. `backward_op` and
/// `backward_site` name the op whose backward runs the op, if one does.
TAPEGRAD_NOINLINE inline void check_forward_anomaly(const ImplRef& output, const char* op,
                                                    const ImplRef* const* inputs,
                                                    std::size_t n_inputs, const char* backward_op,
                                                    const std::string& backward_site) {
  bool is_nan = false;
  const std::int64_t bad = first_non_finite(*output.get(), is_nan);
  if (bad < 0) return;
  if (backward_op != nullptr)  // a step of a gradient: blame the op being differentiated
    detail::fail<anomaly_error>("anomaly: the backward of ", backward_op, " produced ",
                                (is_nan ? "NaN" : "inf"), " (element ", bad, " of ",
                                output->shape(), ", computing ", op, ")",
                                (backward_site.empty() ? "" : "; the op had " + backward_site));
  bool inputs_finite = true;
  for (std::size_t k = 0; k < n_inputs; ++k) {
    bool unused = false;
    inputs_finite = inputs_finite && first_non_finite(*inputs[k]->get(), unused) < 0;
  }
  detail::fail<anomaly_error>("anomaly: ", op, " produced ", (is_nan ? "NaN" : "inf"), " (element ",
                              bad, " of ", output->shape(), ") from ",
                              (inputs_finite ? "finite inputs " : "inputs (not all finite) "),
                              input_shapes(inputs, n_inputs), ", ", location_text(current_op_site));
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
                              " (element ", bad, " of ", grad->shape(), ")",
                              (site.empty() ? "" : "; the op had " + site));
}

// NOTE [ Anomaly mode as an observer ]
// Anomaly mode is an op observer (NOTE [ The op observer ]) that sees the ops a backward runs:
// it checks each op's result before any tape records it, keeps for each entry recorded while
// it lives where its op was called (until the tape's record is retired), and checks each
// backward step's gradients. Nothing of it is in the tapes, record() or the sweep.
// - Guards alive at once on a thread share one store of sites, so nested guards know the same.
// - A backward run under a guard that was not alive when its entries were recorded names the
//   op but not its call site (the site lived with the earlier guard).
class AnomalyObserver final : public OpObserver {
 public:
  AnomalyObserver() : sites_(shared_sites()) {}
  bool sees_backward_ops() const override { return true; }

  void before_op(const OpCall& call) override {
    const ThreadTapes::BackwardStep* step = thread_tapes.backward_step;
    if (step == nullptr) {
      check_forward_anomaly(call.output, call.definition.name, call.inputs, call.n_inputs, nullptr,
                            no_site());
      return;
    }
    check_forward_anomaly(call.output, call.definition.name, call.inputs, call.n_inputs,
                          step->tape->entries[step->index].name(),
                          site_of(*step->tape, step->index));
  }
  void on_op(const OpCall& call) override {
    if (!call.recorded) return;
    try {
      const std::string site = "inputs " + input_shapes(call.inputs, call.n_inputs) + ", " +
                               location_text(current_op_site);
      for (int k = 0; k < call.n_tapes; ++k) {
        std::vector<std::string>& sites = (*sites_)[call.tapes[k]->id];
        const std::size_t index = call.entries[k];
        if (sites.size() <= index) sites.resize(index + 1);
        sites[index] = site;
      }
    } catch (const std::bad_alloc&) {
      // The tapes have recorded the op: losing a site for reports beats failing the op.
    }
  }
  void after_backward_step(const TapeState& tape, std::size_t index, const bool* needs,
                           ImplRef* grads) override {
    const Entry& e = tape.entries[index];
    for (std::uint32_t k = 0; k < e.n_inputs; ++k)
      if (needs[k] && grads[k]) check_backward_anomaly(grads[k], e.name(), k, site_of(tape, index));
  }
  void on_tape_retired(std::uint64_t tape_id) noexcept override { sites_->erase(tape_id); }

 private:
  static const std::string& no_site() {
    static const std::string empty;
    return empty;
  }
  using Sites = std::unordered_map<std::uint64_t, std::vector<std::string>>;  // tape id, entry
  /// The store every guard alive on this thread shares; made by the first, freed with the last.
  static std::shared_ptr<Sites> shared_sites() {
    static thread_local std::weak_ptr<Sites> current;
    std::shared_ptr<Sites> sites = current.lock();
    if (!sites) {
      sites = std::make_shared<Sites>();
      current = sites;
    }
    return sites;
  }
  /// Where the op of entry `index` was called, if a guard was alive when it was recorded.
  const std::string& site_of(const TapeState& tape, std::size_t index) const {
    const auto it = sites_->find(tape.id);
    if (it == sites_->end() || index >= it->second.size()) return no_site();
    return it->second[index];
  }
  std::shared_ptr<Sites> sites_;
};

}  // namespace detail

/// While alive, every op on this thread checks its result, and every backward its gradients,
/// for NaN and infinity, and throws anomaly_error naming the op, its input shapes and the
/// line of user code that called it (as PyTorch's detect_anomaly, which names only the
/// backward function). Off by default; when off it costs one thread-local test per op.
/// Operators (+ - * /) cannot take a source location in C++, so their reports give none;
/// the named forms (add, subtract, multiply, divide) do.
///   { tapegrad::DetectAnomaly anomaly; auto loss = model(x); tape.gradient(loss, w); }
class DetectAnomaly {
 public:
  DetectAnomaly() : scope_(observer_) {}
  DetectAnomaly(const DetectAnomaly&) = delete;
  DetectAnomaly& operator=(const DetectAnomaly&) = delete;

 private:
  detail::AnomalyObserver observer_;
  detail::ObserverScope scope_;
};

}  // namespace tapegrad
