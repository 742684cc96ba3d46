#pragma once

#include <initializer_list>
#include <memory>
#include <mutex>

#include "tapegrad/anomaly.hpp"
#include "tapegrad/config.hpp"
#include "tapegrad/detail/op_observer.hpp"
#include "tapegrad/detail/tape_state.hpp"
#include "tapegrad/tensor.hpp"

// The one interface between an op and the tapes: "these inputs produced this output; this is
// the op (its definition and attributes)". Ops call it only when any_tape_recording() says
// something listens: a tape, anomaly mode or an observer (NOTE [ The op observer ]).
namespace tapegrad::detail {

/// Records `output = op(inputs)` on every recording tape of this thread that knows one of
/// the inputs, marks `output` as a node of each of those tapes, and reports the call to the
/// thread's observer. `saved` are the tensors the rules read (inputs or the output), kept
/// alive by the entry; `closure` is shared data the rules need (a custom gradient's function).
/// Strong guarantee: if it throws, no tape and no tensor has changed.
TAPEGRAD_NOINLINE inline void record(const ImplRef& output, const OpDefinition& definition,
                                     const ImplRef* const* inputs, std::size_t n_inputs,
                                     const ImplRef* const* saved, std::size_t n_saved,
                                     const OpAttrs& attrs,
                                     const std::shared_ptr<const void>& closure = nullptr) {
  const char* const op = definition.name;
  const bool anomaly = TAPEGRAD_UNLIKELY(thread_tapes.anomaly != 0);
  std::string site;
  if (anomaly) {
    check_forward_anomaly(output, op, inputs, n_inputs);
    site = "inputs " + input_shapes(inputs, n_inputs) + ", " + location_text(thread_tapes.location);
  }
  TapeState* done[max_nested_tapes];
  int n_done = 0;
  const bool needs_extra = n_inputs > max_op_inputs || n_saved > max_op_inputs || closure;
  NodeId small_nodes[max_op_inputs];
  std::vector<NodeId> large_nodes;
  if (n_inputs > max_op_inputs) large_nodes.resize(n_inputs);
  NodeId* nodes = n_inputs > max_op_inputs ? large_nodes.data() : small_nodes;
  try {
    for (TapeState* tape = thread_tapes.top; tape && !tape->barrier; tape = tape->below) {
      if (!tape->on_stack) continue;
      bool any = false;
      for (std::size_t k = 0; k < n_inputs; ++k) {
        nodes[k] = tape->find(inputs[k]->get());
        any = any || nodes[k] != no_node;
      }
      if (!any) continue;
      std::unique_ptr<EntryExtra> extra;
      if (TAPEGRAD_UNLIKELY(needs_extra)) {
        extra = std::make_unique<EntryExtra>();
        if (n_inputs > max_op_inputs) extra->inputs.assign(nodes + max_op_inputs, nodes + n_inputs);
        for (std::size_t k = max_op_inputs; k < n_saved; ++k) extra->saved.push_back(*saved[k]);
        extra->closure = closure;
      }
      if (anomaly) {
        if (tape->anomaly_sites.size() < tape->entries.size() + 1)
          tape->anomaly_sites.resize(tape->entries.size() + 1);
        tape->anomaly_sites[tape->entries.size()] = site;
      }
      Entry& entry = tape->entries.emplace_back();
      TAPEGRAD_COUNT(entries, 1);
      try {
        entry.output = tape->new_node(static_cast<std::int32_t>(tape->entries.size() - 1));
        output->add_mark(TapeMark{tape->id, entry.output});
      } catch (...) {
        if (entry.output != no_node) tape->producer.pop_back();
        tape->entries.pop_back();
        TAPEGRAD_COUNT(entries, -1);
        throw;
      }
      // A paused tape keeps only a barrier: no backward, nothing saved, but the op's name.
      const bool paused = tape->paused;
      entry.backward = paused ? nullptr : definition.backward;
      entry.definition = &definition;
      entry.n_inputs = static_cast<std::uint32_t>(n_inputs);
      for (std::size_t k = 0; k < n_inputs && k < max_op_inputs; ++k) entry.inputs[k] = nodes[k];
      if (!paused) {
        for (std::size_t k = 0; k < n_saved && k < max_op_inputs; ++k)
          entry.saved[k].set(*saved[k]);
        entry.attrs = attrs;
        if (TAPEGRAD_UNLIKELY(extra != nullptr)) entry.extra = std::move(extra);
      } else if (n_inputs > max_op_inputs) {
        extra->saved.clear();
        extra->closure.reset();
        entry.extra = std::move(extra);
      }
      done[n_done++] = tape;
    }
  } catch (...) {
    for (int k = 0; k < n_done; ++k) {
      done[k]->entries.pop_back();
      TAPEGRAD_COUNT(entries, -1);
      done[k]->producer.pop_back();
      output->remove_mark(done[k]->id);
    }
    throw;
  }
  if (TAPEGRAD_UNLIKELY(thread_tapes.observer != nullptr))
    thread_tapes.observer->on_op(
        OpCall{definition, attrs, closure, inputs, n_inputs, output, n_done > 0});
}

/// record() for the common case of a few inputs and saved tensors.
TAPEGRAD_ALWAYS_INLINE void record(const ImplRef& output, const OpDefinition& definition,
                                   std::initializer_list<const ImplRef*> inputs,
                                   std::initializer_list<const ImplRef*> saved,
                                   const OpAttrs& attrs = {}) {
  record(output, definition, inputs.begin(), inputs.size(), saved.begin(), saved.size(), attrs);
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
  if (TAPEGRAD_UNLIKELY(variable_watcher != nullptr)) {
    bool seen = false;
    for (const auto& v : *variable_watcher) seen = seen || v == variable;
    if (!seen) variable_watcher->push_back(variable);
  }
  if (TAPEGRAD_LIKELY(!any_tape_recording())) return value;
  ImplRef alias;
  for (TapeState* tape = thread_tapes.top; tape && !tape->barrier; tape = tape->below) {
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
