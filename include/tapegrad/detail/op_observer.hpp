#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "tapegrad/detail/check.hpp"
#include "tapegrad/detail/tape_state.hpp"
#include "tapegrad/errors.hpp"

// NOTE [ The op observer ]
// Features that need to see ops (tracing for replay, pictures of the tape, memory reports,
// the distributed wrapper's gradient hooks, anomaly mode) observe the core rather than live in
// it. While an observer is installed on a thread, every op call reaches record(), taped or
// not, and record() and the sweep report to it. When none is installed it costs the ops
// nothing: the test that sends an op to record() is the one they already make.
namespace tapegrad::detail {

/// One op call as record() sees it: the op, its attributes and shared data (OpArgs), its
/// inputs and its output, and the tapes that recorded it with the entry each made.
struct OpCall {
  const OpDefinition& definition;
  const OpAttrs& attrs;
  const std::shared_ptr<const void>& shared;
  const ImplRef* const* inputs;
  std::size_t n_inputs;
  const ImplRef* const* saved;  // what the op's rules read (as an entry saves it)
  std::size_t n_saved;
  const ImplRef& output;
  TapeState* const* tapes;
  const std::size_t* entries;  // entries[k]: the index of the entry tapes[k] made
  int n_tapes;
  bool recorded;
};

/// Receives a thread's op calls and backward steps; override what you need. Several may be
/// installed at once (ObserverScope); each hears every event, the latest installed first.
class OpObserver {
 public:
  virtual ~OpObserver() = default;
  /// An op ran and no tape has recorded it yet: throwing here leaves every tape unchanged.
  virtual void before_op(const OpCall&) {}
  /// An op ran (after its output exists, and after any tape recorded it). Should not throw:
  /// the tapes have recorded the op by then (an entry whose output nobody receives). A forward
  /// accumulator does throw when a tangent's rule fails (a custom gradient function's error):
  /// the op then fails, observers older than it do not hear of it, and the tapes keep its
  /// entry, which no gradient reaches.
  virtual void on_op(const OpCall&) {}
  /// An op with no gradient ran (a comparison, logic on masks: NOTE [ Ops without a
  /// gradient ] in ops/compare.hpp); no tape records it. Its call names no tapes.
  virtual void on_op_without_gradient(const OpCall&) {}
  /// The sweep of `tape` is about to apply the rules of entry `index`. While the rules run,
  /// thread_tapes.backward_step names that entry.
  virtual void on_backward_step(const TapeState&, std::size_t) {}
  /// Right after on_backward_step: the rules of entry `index` get `upstream`, the gradient
  /// of its output, and compute the gradients of the inputs where `needs` is true.
  virtual void before_rule(const TapeState&, std::size_t, const ImplRef&, const bool*) {}
  /// The rules of entry `index` gave `grads` (for the inputs where `needs` is true). The
  /// observer may replace one by a new handle on the same elements (the sweep goes on with it).
  virtual void after_backward_step(const TapeState&, std::size_t, const bool*, ImplRef*) {}
  /// The sweep of `tape` has finished the gradient of source `source` (an index into the
  /// sources gradient() was given): right after the first entry that reads it, or before the
  /// first step for a source that no entry reads. `gradient` is empty when it gets none.
  /// Sources the tape never saw are not reported, nor any when none is on the tape (then no
  /// sweep runs): gradient() decides their gradients after the sweep.
  virtual void on_source_gradient(const TapeState&, std::size_t, const ImplRef&) {}
  /// A read of `variable` gives `read` (its value `value`, or a new handle on it that tapes
  /// know): the observer may replace `read` by a new handle on `value` of its own.
  virtual void on_variable_read(const VariableState&, const ImplRef&, ImplRef&) {}
  /// A variable's value changed (assign, assign_add, assign_sub; optimizers update through
  /// assign): the one path every change of state takes. `value` is the new value, `operand`
  /// the tensor the update was given (the value assigned, or the delta).
  virtual void on_variable_update(const VariableState&, const char*, const ImplRef&,
                                  const ImplRef&) {}
  /// The record of the tape whose id is `tape_id` is gone (the tape was destroyed, reset, or
  /// spent by its one gradient()): nothing will ask about its entries again. Must not throw.
  virtual void on_tape_retired(std::uint64_t) noexcept {}
  /// Whether the ops a backward runs must reach this observer one by one: then rules run as
  /// recorded ops while it is installed (as when a tape records the backward), not fused.
  virtual bool sees_backward_ops() const { return false; }
  /// Whether it wants the sweep's events (on_backward_step, after_backward_step,
  /// on_source_gradient): a sweep with no such observer installed pays nothing for them.
  virtual bool hears_backward() const { return true; }

  /// The observer installed before this one, still installed, or null.
  OpObserver* below() const { return below_; }

  /// Whether it stands for a stop_recording() scope: forward accumulators made before it
  /// give no tangents to the ops it sees (NOTE [ Who sees a tangent's ops ]).
  bool stops_recording = false;
  /// Whether it is a forward accumulator (forward_accumulator.hpp), which hear an op oldest
  /// first, unlike other observers.
  bool accumulates_tangents = false;

 private:
  friend class ObserverScope;
  OpObserver* below_ = nullptr;
};

/// Calls f(observer) for every observer installed on this thread, the latest first.
template <class F>
void for_each_observer(F&& f) {
  for (OpObserver* o = thread_tapes.observer; o != nullptr; o = o->below()) f(*o);
}

/// Tells this thread's observers that `variable` now holds `value`, set by `op` from `operand`.
inline void notify_variable_update(const VariableState& variable, const char* op,
                                   const ImplRef& value, const ImplRef& operand) {
  if (TAPEGRAD_LIKELY(thread_tapes.observer == nullptr)) return;
  for_each_observer([&](OpObserver& o) { o.on_variable_update(variable, op, value, operand); });
}

/// Tells this thread's observers that the record of tape `tape_id` is gone.
inline void notify_tape_retired(std::uint64_t tape_id) noexcept {
  if (TAPEGRAD_LIKELY(thread_tapes.observer == nullptr)) return;
  for_each_observer([&](OpObserver& o) { o.on_tape_retired(tape_id); });
}

/// Installs `observer` on this thread for the scope's lifetime, above those already there.
///   detail::ObserverScope scope(my_observer);
class ObserverScope {
 public:
  explicit ObserverScope(OpObserver& observer)
      : tapes_(&thread_tapes),
        observer_(&observer),
        watches_only_(!observer.sees_backward_ops()),
        hears_backward_(observer.hears_backward()) {
    for_each_observer([&](OpObserver& o) {
      TAPEGRAD_CHECK(&o != &observer, tape_error,
                     "ObserverScope: this observer is already installed on this thread");
    });
    observer.below_ = tapes_->observer;
    tapes_->observer = &observer;
    ++tapes_->observers;
    ++tapes_->recording;
    if (watches_only_) ++tapes_->observing;
    if (hears_backward_) ++tapes_->hearing_backward;
  }
  /// Scopes may end out of order (a guard reset inside a custom gradient's forward): the
  /// observer is unlinked wherever it is.
  ~ObserverScope() {
    TAPEGRAD_ASSERT(tapes_ == &thread_tapes && "an ObserverScope ends on the thread it began on");
    for (OpObserver** link = &tapes_->observer; *link; link = &(*link)->below_)
      if (*link == observer_) {
        *link = observer_->below_;
        break;
      }
    --tapes_->observers;
    --tapes_->recording;
    if (watches_only_) --tapes_->observing;
    if (hears_backward_) --tapes_->hearing_backward;
  }
  ObserverScope(const ObserverScope&) = delete;
  ObserverScope& operator=(const ObserverScope&) = delete;

 private:
  ThreadTapes* tapes_;
  OpObserver* observer_;
  bool watches_only_;
  bool hears_backward_;
};

}  // namespace tapegrad::detail
