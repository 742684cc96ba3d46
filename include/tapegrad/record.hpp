#pragma once

#include <initializer_list>
#include <memory>
#include <mutex>

#include "tapegrad/config.hpp"
#include "tapegrad/detail/tape_state.hpp"
#include "tapegrad/tensor.hpp"

// The one interface between an op and the tapes: "these inputs produced this output; here
// is the backward". Ops call it only when any_tape_recording() says a tape is listening.
namespace tapegrad::detail {

/// Records `output = op(inputs)` on every recording tape of this thread that knows one of
/// the inputs, and marks `output` as a node of each of those tapes. `saved` are the tensors
/// the backward reads (inputs or the output), kept alive by the entry.
/// Strong guarantee: if it throws, no tape and no tensor has changed.
TAPEGRAD_NOINLINE inline void record(const ImplRef& output, const char* op, BackwardFn backward,
                                     std::initializer_list<const ImplRef*> inputs,
                                     std::initializer_list<const ImplRef*> saved,
                                     const OpAttrs& attrs = {}) {
  TAPEGRAD_ASSERT(inputs.size() <= max_op_inputs && saved.size() <= max_op_inputs);
  TapeState* done[max_nested_tapes];
  int n_done = 0;
  TapeState* tape = thread_tapes.top;
  try {
    for (; tape; tape = tape->below) {
      if (!tape->recording()) continue;
      NodeId nodes[max_op_inputs];
      bool any = false;
      int i = 0;
      for (const ImplRef* input : inputs) {
        nodes[i] = tape->find(input->get());
        any = any || nodes[i] != no_node;
        ++i;
      }
      if (!any) continue;
      Entry& entry = tape->entries.emplace_back();
      try {
        entry.output = tape->new_node(static_cast<std::int32_t>(tape->entries.size() - 1));
        output->add_mark(TapeMark{tape->id, entry.output});
      } catch (...) {
        if (entry.output != no_node) tape->producer.pop_back();
        tape->entries.pop_back();
        throw;
      }
      entry.backward = backward;
      entry.op = op;
      entry.n_inputs = static_cast<std::uint8_t>(inputs.size());
      for (int k = 0; k < i; ++k) entry.inputs[k] = nodes[k];
      int s = 0;
      for (const ImplRef* tensor : saved) entry.saved[s++] = *tensor;
      entry.attrs = attrs;
      done[n_done++] = tape;
    }
  } catch (...) {
    for (int k = 0; k < n_done; ++k) {
      done[k]->entries.pop_back();
      done[k]->producer.pop_back();
      output->remove_mark(done[k]->id);
    }
    throw;
  }
}

/// The tensor a read of `variable` gives: its value, and where a recording tape watches the
/// variable (or watches accessed trainable variables), a new handle on the same elements
/// that those tapes know as the variable's node.
inline ImplRef read_variable(const std::shared_ptr<VariableState>& variable) {
  ImplRef value;
  {
    std::lock_guard<std::mutex> lock(variable->mutex);
    value = variable->value;
  }
  if (TAPEGRAD_LIKELY(!any_tape_recording())) return value;
  ImplRef alias;
  for (TapeState* tape = thread_tapes.top; tape; tape = tape->below) {
    if (!tape->recording()) continue;
    NodeId node = tape->find(variable.get());
    if (node == no_node && tape->watch_accessed_variables && variable->trainable)
      node = tape->watch(variable);
    if (node == no_node) continue;
    if (!alias) alias = ImplRef::adopt(allocate_alias(value.get(), value->shape));
    alias->add_mark(TapeMark{tape->id, node});
  }
  return alias ? alias : value;
}

}  // namespace tapegrad::detail
