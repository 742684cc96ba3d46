#pragma once

#include <cstddef>
#include <memory>
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
  explicit PauseNotes(TapeState& tape) : tape_(tape) {}

  // In before_op, so that failing to note (bad_alloc) leaves every tape as it was. Should a
  // recording tape then fail, the note stays: a barrier on an output nobody receives.
  void before_op(const OpCall& call) override {
    if (!tape_.on_stack || !tape_.paused || !reachable()) return;
    std::vector<NodeId> nodes(call.n_inputs, no_node);
    bool any = false;
    for (std::size_t k = 0; k < call.n_inputs; ++k) {
      nodes[k] = tape_.find(call.inputs[k]->get());
      any = any || nodes[k] != no_node;
    }
    if (!any) return;
    std::unique_ptr<EntryExtra> extra;
    if (call.n_inputs > max_op_inputs) {
      extra = std::make_unique<EntryExtra>();
      extra->inputs.assign(nodes.begin() + max_op_inputs, nodes.end());
    }
    Entry& entry = tape_.entries.emplace_back();
    TAPEGRAD_COUNT(entries, 1);
    try {
      entry.output = tape_.new_node(static_cast<std::int32_t>(tape_.entries.size() - 1));
      call.output->add_mark(TapeMark{tape_.id, entry.output});
    } catch (...) {
      if (entry.output != no_node) tape_.producer.pop_back();
      tape_.entries.pop_back();
      TAPEGRAD_COUNT(entries, -1);
      throw;
    }
    entry.definition = &call.definition;
    entry.n_inputs = static_cast<std::uint32_t>(call.n_inputs);
    for (std::size_t k = 0; k < call.n_inputs && k < max_op_inputs; ++k) entry.inputs[k] = nodes[k];
    entry.extra = std::move(extra);
  }

 private:
  // Not when a barrier (a custom gradient's forward) stands between the top and the tape:
  // the forward's ops are no op of the tapes beneath.
  bool reachable() const {
    for (const TapeState* t = thread_tapes.top; t; t = t->below) {
      if (t == &tape_) return true;
      if (t->barrier) return false;
    }
    return false;
  }

  TapeState& tape_;
};

/// A pause of `tape` with its notes: pauses on construction, resumes on destruction.
class PausedTape {
 public:
  explicit PausedTape(TapeState& tape) : tape_(tape), notes_(tape), scope_(notes_) {
    tape.paused = true;
  }
  ~PausedTape() { tape_.paused = false; }
  PausedTape(const PausedTape&) = delete;
  PausedTape& operator=(const PausedTape&) = delete;

 private:
  TapeState& tape_;
  PauseNotes notes_;
  ObserverScope scope_;
};

}  // namespace tapegrad::detail
