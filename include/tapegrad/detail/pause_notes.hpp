#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <vector>

#include "tapegrad/config.hpp"
#include "tapegrad/detail/op_observer.hpp"
#include "tapegrad/detail/tape_state.hpp"

// NOTE [ What a paused tape notes ]
// An op that runs inside stop_recording() on tensors the paused tape knows is not recorded:
// no gradient crosses it, as in TensorFlow. But explain() should be able to say "the path is
// cut at 'mul', which ran inside stop_recording()" rather than "does not depend", so the tape
// notes the op as a barrier entry: its definition, input and output nodes, no rule, nothing
// saved. The note is taken by an op observer that the pause installs for its lifetime;
// record() knows nothing of pauses and skips a tape that does not record.
namespace tapegrad::detail {

/// While installed, notes each op on tensors `tape` knows as a barrier entry of `tape`.
class PauseNotes final : public OpObserver {
 public:
  explicit PauseNotes(TapeState& tape) : tape_(&tape) { stops_recording = true; }

  // In on_op, after every observer's before_op has let the op through (anomaly mode may
  // refuse it): an op that failed leaves no note. A note that cannot be made (bad_alloc) is
  // given up: explain() then knows less, and no tape or tensor has changed.
  void on_op(const OpCall& call) override {
    TapeState* const tape = tape_;
    // Not once the tape is gone or off the stack, and not during its own gradient(): the
    // rules a sweep runs are no op of the paused record.
    if (tape == nullptr || !tape->on_stack || !tape->paused || tape->sweeps > 0 || !reachable())
      return;
    NodeId small[max_op_inputs];
    std::vector<NodeId> large;
    if (call.n_inputs > max_op_inputs) large.assign(call.n_inputs, no_node);
    NodeId* const nodes = call.n_inputs > max_op_inputs ? large.data() : small;
    bool any = false;
    for (std::size_t k = 0; k < call.n_inputs; ++k) {
      nodes[k] = tape->find(call.inputs[k]->get());
      any = any || nodes[k] != no_node;
    }
    if (!any) return;
    try {
      note(*tape, call, nodes);
    } catch (const std::bad_alloc&) {
    }
  }
  bool hears_backward() const override { return false; }

  /// The tape is going away: note nothing more, and stop nothing (a pause of no tape).
  void detach() noexcept {
    tape_ = nullptr;
    stops_recording = false;
  }

 private:
  // Strong guarantee: if it throws, the tape is as it was.
  static void note(TapeState& tape, const OpCall& call, const NodeId* nodes) {
    std::unique_ptr<EntryExtra> extra = EntryExtra::make_if_needed(call.n_inputs, 0, {}, nullptr);
    Entry& entry = tape.entries.emplace_back();
    TAPEGRAD_COUNT(entries, 1);
    try {
      entry.output = tape.new_node(static_cast<std::int32_t>(tape.entries.size() - 1));
      call.output->add_mark(TapeMark{tape.id, entry.output});
    } catch (...) {
      if (entry.output != no_node) tape.producer.pop_back();
      tape.entries.pop_back();
      TAPEGRAD_COUNT(entries, -1);
      throw;
    }
    entry.definition = &call.definition;
    entry.noted_only = 1;
    entry.n_inputs = static_cast<std::uint32_t>(call.n_inputs);
    entry.extra = std::move(extra);
    for (std::size_t k = 0; k < call.n_inputs; ++k) entry.set_input(k, nodes[k]);
  }

  // Not when a barrier (a custom gradient's forward) stands between the top and the tape:
  // the forward's ops are no op of the tapes beneath.
  bool reachable() const {
    for (const TapeState* t = thread_tapes.top; t; t = t->below) {
      if (t == tape_) return true;
      if (t->barrier) return false;
    }
    return false;
  }

  TapeState* tape_;
};

/// A pause of `tape` with its notes: pauses on construction, resumes on destruction. The
/// tape knows its pause (TapeState::pause), so that a tape destroyed first detaches it.
class PausedTape {
 public:
  explicit PausedTape(TapeState& tape) : tape_(&tape), notes_(tape), scope_(notes_) {
    tape.paused = true;
    tape.pause = this;
  }
  ~PausedTape() {
    if (tape_ != nullptr) {
      tape_->paused = false;
      tape_->pause = nullptr;
    }
  }
  PausedTape(const PausedTape&) = delete;
  PausedTape& operator=(const PausedTape&) = delete;

  /// Called by the tape's destructor: the pause outlives it and must not touch it.
  void detach() noexcept {
    tape_ = nullptr;
    notes_.detach();
  }

 private:
  TapeState* tape_;
  PauseNotes notes_;
  ObserverScope scope_;
};

}  // namespace tapegrad::detail
