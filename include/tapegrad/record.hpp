#pragma once

#include <memory>
#include <mutex>

#include "tapegrad/config.hpp"
#include "tapegrad/detail/op_observer.hpp"
#include "tapegrad/detail/tape_state.hpp"
#include "tapegrad/tensor.hpp"

// The one interface between an op and the tapes: "these inputs produced this output; this is
// the op (its definition and attributes)". Ops call it only when any_tape_recording() says
// something listens: a tape, anomaly mode or an observer (NOTE [ The op observer ]).
namespace tapegrad::detail {

/// How many inputs and saved tensors an op call records: known when the op is compiled (the
/// common case: the loops unroll, and the anomaly and observer code stays out of the way) or
/// only when it runs.
template <std::size_t NI, std::size_t NS>
struct FixedCounts {
  static_assert(NI <= max_op_inputs && NS <= max_op_inputs,
                "more than record() counts on the stack");
  static constexpr bool fixed = true;
  static constexpr std::size_t inputs = NI;
  static constexpr std::size_t saved = NS;
};
struct RuntimeCounts {
  static constexpr bool fixed = false;
  std::size_t inputs;
  std::size_t saved;
};

/// Records `output = op(inputs)` on every recording tape of this thread that knows one of
/// the inputs, marks `output` as a node of each of those tapes, and reports the call to the
/// thread's observer. `saved` are the tensors the rules read (inputs or the output), kept
/// alive by the entry; `closure` is shared data the rules need (a custom gradient's function).
/// Strong guarantee: if it throws, no tape and no tensor has changed.
template <class Counts>
TAPEGRAD_NOINLINE void record_counted(Counts counts, const ImplRef& output,
                                      const OpDefinition& definition, const ImplRef* const* inputs,
                                      const ImplRef* const* saved, const OpAttrs& attrs,
                                      const std::shared_ptr<const void>& closure) {
  if constexpr (Counts::fixed) {
    if (TAPEGRAD_UNLIKELY(thread_tapes.observer != nullptr))
      return record_counted(RuntimeCounts{Counts::inputs, Counts::saved}, output, definition,
                            inputs, saved, attrs, closure);
  }
  const std::size_t n_inputs = counts.inputs;
  const std::size_t n_saved = counts.saved;
  TapeState* done[max_nested_tapes];
  std::size_t done_entry[max_nested_tapes];  // the index of the entry each made
  int n_done = 0;
  NodeId small_nodes[max_op_inputs];
  std::vector<NodeId> large_nodes;
  if (n_inputs > max_op_inputs) large_nodes.resize(n_inputs);
  NodeId* nodes = n_inputs > max_op_inputs ? large_nodes.data() : small_nodes;
  if (!Counts::fixed && TAPEGRAD_UNLIKELY(thread_tapes.observer != nullptr)) {
    const OpCall call{definition, attrs,  closure, inputs,     n_inputs, saved,
                      n_saved,    output, done,    done_entry, 0,        false};
    for_each_observer([&](OpObserver& o) { o.before_op(call); });
  }
  try {
    for (TapeState* tape = thread_tapes.top; tape && !tape->barrier; tape = tape->below) {
      if (!tape->recording()) continue;  // a paused tape's notes: NOTE [ What a paused tape notes ]
      // (Only an installed observer, a forward accumulator, sets the limit.)
      if (!Counts::fixed && !sees_current_ops(tape->pushed_serial)) continue;
      bool any = false;
      for (std::size_t k = 0; k < n_inputs; ++k) {
        nodes[k] = tape->find(inputs[k]->get());
        any = any || nodes[k] != no_node;
      }
      if (!any) continue;
      std::unique_ptr<EntryExtra> extra;
      if (!Counts::fixed || n_inputs > inline_inputs || !attrs.fits_in_word())
        extra = EntryExtra::make_if_needed(n_inputs, n_saved, attrs, closure);
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
      entry.definition = &definition;
      entry.n_inputs = static_cast<std::uint32_t>(n_inputs);
      if (TAPEGRAD_UNLIKELY(extra != nullptr)) entry.extra = std::move(extra);
      for (std::size_t k = 0; k < n_inputs; ++k) entry.set_input(k, nodes[k]);
      for (std::size_t k = 0; k < n_saved; ++k) entry.save(k, *saved[k]);
      entry.set_attrs(attrs);
      done_entry[n_done] = tape->entries.size() - 1;
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
  if (!Counts::fixed && TAPEGRAD_UNLIKELY(thread_tapes.observer != nullptr)) {
    const OpCall call{definition, attrs,  closure, inputs,     n_inputs, saved,
                      n_saved,    output, done,    done_entry, n_done,   n_done > 0};
    for_each_observer([&](OpObserver& o) { o.on_op(call); });
  }
}

/// The shared data of an op that has none.
inline const std::shared_ptr<const void> no_closure{};

/// record() for an op with any number of inputs, saved tensors or shared data.
inline void record(const ImplRef& output, const OpDefinition& definition,
                   const ImplRef* const* inputs, std::size_t n_inputs, const ImplRef* const* saved,
                   std::size_t n_saved, const OpAttrs& attrs,
                   const std::shared_ptr<const void>& closure = nullptr) {
  record_counted(RuntimeCounts{n_inputs, n_saved}, output, definition, inputs, saved, attrs,
                 closure);
}

/// record() for the common case of a few inputs and saved tensors, listed in braces:
///   record(y.impl(), exp_op<T>, {&x.impl()}, {&y.impl()});
template <std::size_t NI, std::size_t NS>
TAPEGRAD_ALWAYS_INLINE void record(const ImplRef& output, const OpDefinition& definition,
                                   const ImplRef* const (&inputs)[NI],
                                   const ImplRef* const (&saved)[NS], const OpAttrs& attrs = {}) {
  record_counted(FixedCounts<NI, NS>{}, output, definition, inputs, saved, attrs, no_closure);
}
/// The empty list `{}` of saved tensors, for an op whose rules read nothing.
struct NothingSaved {};
template <std::size_t NI>
TAPEGRAD_ALWAYS_INLINE void record(const ImplRef& output, const OpDefinition& definition,
                                   const ImplRef* const (&inputs)[NI], NothingSaved,
                                   const OpAttrs& attrs = {}) {
  record_counted(FixedCounts<NI, 0>{}, output, definition, inputs, nullptr, attrs, no_closure);
}

/// Tells this thread's observers that `output = op(inputs)` ran, for an op with no gradient
/// (NOTE [ Ops without a gradient ] in ops/compare.hpp), which no tape records.
///   report_op_without_gradient(mask.impl(), compare_op<T, Less>, {&a.impl(), &b.impl()});
template <std::size_t NI>
void report_op_without_gradient(const ImplRef& output, const OpDefinition& definition,
                                const ImplRef* const (&inputs)[NI], const OpAttrs& attrs = {},
                                const std::shared_ptr<const void>& shared = no_closure) {
  if (TAPEGRAD_LIKELY(thread_tapes.observer == nullptr)) return;
  const OpCall call{definition, attrs,  shared,  inputs,  NI, nullptr,
                    0,          output, nullptr, nullptr, 0,  false};
  for_each_observer([&](OpObserver& o) { o.on_op_without_gradient(call); });
}

/// report_op_without_gradient for an op with any number of inputs, none included.
inline void report_op_without_gradient(const ImplRef& output, const OpDefinition& definition,
                                       const ImplRef* const* inputs, std::size_t n_inputs,
                                       const OpAttrs& attrs,
                                       const std::shared_ptr<const void>& shared) {
  if (TAPEGRAD_LIKELY(thread_tapes.observer == nullptr)) return;
  const OpCall call{definition, attrs,  shared,  inputs,  n_inputs, nullptr,
                    0,          output, nullptr, nullptr, 0,        false};
  for_each_observer([&](OpObserver& o) { o.on_op_without_gradient(call); });
}

/// Runs an op with no gradient through its definition (its forward into a new tensor of
/// `shape`) and reports it to the thread's observers.
///   Tensor<bool> y = run_without_gradient<bool>(compare_op<T, Less>, {&a.impl(), &b.impl()}, s);
template <class U>
Tensor<U> run_without_gradient(const OpDefinition& definition, const ImplRef* const* inputs,
                               std::size_t n_inputs, const Shape& shape, const OpAttrs& attrs,
                               const std::shared_ptr<const void>& shared) {
  Tensor<U> y(uninitialized, shape);
  definition.forward(OpArgs{attrs, shared}, inputs, *y.impl().get());
  report_op_without_gradient(y.impl(), definition, inputs, n_inputs, attrs, shared);
  return y;
}
/// run_without_gradient for inputs listed in braces.
template <class U, std::size_t NI>
Tensor<U> run_without_gradient(const OpDefinition& definition, const ImplRef* const (&inputs)[NI],
                               const Shape& shape, const OpAttrs& attrs = {},
                               const std::shared_ptr<const void>& shared = no_closure) {
  return run_without_gradient<U>(definition, inputs, NI, shape, attrs, shared);
}

// NOTE [ Saving a shape ]
// A rule that reads only an input's shape (sum, sum_to, broadcast_to, reshape, where, and the
// broadcast operand of add or subtract) must not keep the input's elements alive until the
// tape goes, as PyTorch saves such an input's sizes. Above 512 bytes of elements the entry
// keeps a header with the shape and no elements; below, the tensor itself, whose reference
// costs less than a new header.
/// What an entry saves of `x` when its rules read only x's shape: &x, or `holder`, set to a
/// header with x's shape and no elements.
///   ImplRef holder;  record(y.impl(), op, {&x.impl()}, {shape_to_save(x.impl(), holder)});
inline const ImplRef* shape_to_save(const ImplRef& x, ImplRef& holder) {
  if (static_cast<std::size_t>(x->size()) * dtype_size(x->dtype) <= 512) return &x;
  holder = ImplRef::adopt(allocate_shape_only(*x.get()));
  return &holder;
}

/// record() for an op of one input whose rules read only that input's shape.
inline void record_reading_shape(const ImplRef& output, const OpDefinition& definition,
                                 const ImplRef& input, const OpAttrs& attrs = {}) {
  ImplRef holder;
  record(output, definition, {&input}, {shape_to_save(input, holder)}, attrs);
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
    if (!tape->recording() || !sees_current_ops(tape->pushed_serial)) continue;
    NodeId node = tape->find(variable.get());
    if (node == no_node && tape->watch_accessed_variables && variable->trainable)
      node = tape->watch(variable);
    if (node == no_node) continue;
    if (!alias) alias = ImplRef::adopt(allocate_alias(value.get(), value->shape()));
    alias->add_mark(TapeMark{tape->id, node});
  }
  if (TAPEGRAD_UNLIKELY(thread_tapes.observer != nullptr)) {
    ImplRef read = alias ? alias : value;
    for_each_observer([&](OpObserver& o) { o.on_variable_read(*variable, value, read); });
    return read;
  }
  return alias ? alias : value;
}

/// A read of `variable` that no tape watches and every observer hears: an optimizer's read of
/// the state it updates, which a trace must replay (NOTE [ How an optimizer updates a
/// variable ] in train/optimizers.hpp) but no gradient flows from.
inline ImplRef read_variable_unwatched(const std::shared_ptr<VariableState>& variable) {
  ImplRef value;
  {
    std::lock_guard<std::mutex> lock(variable->mutex);
    value = variable->value;
  }
  if (TAPEGRAD_LIKELY(thread_tapes.observer == nullptr)) return value;
  ImplRef read = value;
  for_each_observer([&](OpObserver& o) { o.on_variable_read(*variable, value, read); });
  return read;
}

}  // namespace tapegrad::detail
