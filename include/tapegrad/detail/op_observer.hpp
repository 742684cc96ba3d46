#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "tapegrad/detail/check.hpp"
#include "tapegrad/detail/tape_state.hpp"
#include "tapegrad/errors.hpp"

// NOTE [ The op observer ]
// Features that need to see ops (tracing for replay, pictures of the tape, memory reports,
// the distributed wrapper's gradient hooks) observe the core rather than live in it. One
// observer per thread may be installed; while it is, every op call reaches record(), taped or
// not, and record() and the sweep report to it. When none is installed it costs the ops
// nothing: the test that sends an op to record() is the one they already make.
namespace tapegrad::detail {

/// One op call as record() sees it: the op, its attributes and shared data (OpArgs), its
/// inputs and its output, and whether a tape recorded it.
struct OpCall {
  const OpDefinition& definition;
  const OpAttrs& attrs;
  const std::shared_ptr<const void>& shared;
  const ImplRef* const* inputs;
  std::size_t n_inputs;
  const ImplRef& output;
  bool recorded;
};

/// Receives a thread's op calls and backward steps; override what you need.
class OpObserver {
 public:
  virtual ~OpObserver() = default;
  /// An op ran (after its output exists, and after any tape recorded it).
  virtual void on_op(const OpCall&) {}
  /// The sweep of `tape` is about to apply the rules of entry `index`.
  virtual void on_backward_step(const TapeState&, std::size_t) {}
  /// The sweep of `tape` has finished the gradient of source `source` (an index into the
  /// sources gradient() was given); `gradient` is empty when the source gets none.
  virtual void on_source_gradient(const TapeState&, std::size_t, const ImplRef&) {}
};

/// Installs `observer` on this thread for the scope's lifetime.
///   detail::ObserverScope scope(my_observer);
class ObserverScope {
 public:
  explicit ObserverScope(OpObserver& observer) : tapes_(&thread_tapes) {
    TAPEGRAD_CHECK(tapes_->observer == nullptr, tape_error,
                   "an op observer is already installed on this thread");
    tapes_->observer = &observer;
    tapes_->observing = 1;
    ++tapes_->recording;
  }
  ~ObserverScope() {
    tapes_->observer = nullptr;
    tapes_->observing = 0;
    --tapes_->recording;
  }
  ObserverScope(const ObserverScope&) = delete;
  ObserverScope& operator=(const ObserverScope&) = delete;

 private:
  ThreadTapes* tapes_;
};

}  // namespace tapegrad::detail
