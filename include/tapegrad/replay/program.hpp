#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "tapegrad/config.hpp"
#include "tapegrad/detail/check.hpp"
#include "tapegrad/detail/op_definition.hpp"
#include "tapegrad/detail/tape_state.hpp"
#include "tapegrad/errors.hpp"

// NOTE [ A traced program ]
// A trace is a straight-line program over numbered slots, each holding one value of the
// traced call. A slot is filled by an argument, a constant (a tensor the call captured, or
// built from values on the host), an op's forward kernel, a view (a new header on another
// slot's elements, for an op that computed nothing of its own), or a read of a variable;
// update instructions write slots into variables. A replay runs the instructions in order
// into fresh tensors and drops each slot after its last reader, so it holds no more than the
// eager call did, and a tensor it returned is never written again.
namespace tapegrad::detail {

/// Replays a variable update through the typed Variable API, the path an eager update takes.
using UpdateFn = void (*)(const std::shared_ptr<VariableState>& variable, const ImplRef& operand);

struct TraceInstruction {
  enum class Kind : std::uint8_t { op, view, read_variable, update_variable, rule };
  Kind kind = Kind::op;
  const OpDefinition* op = nullptr;  // Kind::op
  OpAttrs attrs;
  std::shared_ptr<const void> shared;
  // op: its inputs; view: the slot viewed; update: the operand; rule: the upstream gradient,
  // then the tensors the entry saved (-1 for none)
  std::vector<std::int32_t> inputs;
  std::int32_t output = -1;  // the slot it fills (op, view, read_variable)
  // rule: the slot of each input's gradient (-1 for none), and which of them the sweep needed
  std::vector<std::int32_t> outputs;
  std::unique_ptr<bool[]> needs;
  DType dtype = DType::float32;  // the output's element type and shape
  Shape shape;
  std::weak_ptr<const VariableState> variable;  // read_variable, update_variable
  const char* update = nullptr;                 // "assign", "assign_add" or "assign_sub"
  UpdateFn apply_update = nullptr;
  std::vector<std::int32_t> last_reads;  // slots that nothing after this reads
};

struct TracedProgram {
  std::int32_t n_slots = 0;
  std::vector<std::int32_t> arguments;  // the slot of each argument
  std::vector<std::pair<std::int32_t, ImplRef>> constants;
  std::vector<TraceInstruction> instructions;
  std::vector<std::int32_t> outputs;        // -1: an output with no value
  std::vector<std::size_t> output_lengths;  // of each std::vector among the outputs, in order

  /// How many op kernels a replay runs.
  std::size_t op_count() const {
    std::size_t n = 0;
    for (const TraceInstruction& i : instructions) n += i.kind == TraceInstruction::Kind::op;
    return n;
  }

  /// Fills in each instruction's last_reads: a slot goes after its last reader, or right after
  /// it is filled when nothing reads it; the outputs stay.
  void plan_lifetimes();
};

/// Applies a recorded backward step's rules, as the sweep did (NOTE [ Rules as one step ]):
/// an entry rebuilt from the slots, its definition's backward, and the input gradients into
/// their slots.
void replay_rule(const TraceInstruction& i, std::vector<ImplRef>& values);

// NOTE [ A replay's memory ]
// In the steady state a replay calls malloc zero times: its tensors and headers come from the
// thread's block cache (NOTE [ Block cache ]), which the same replay filled the time before,
// products pack into per-thread buffers (NOTE [ Packing buffers of one thread ]), and the
// vectors it works in (the slots, the outputs, the arguments) are borrowed from a pool of this
// thread's and given back empty, keeping their capacity. What still allocates: a vector it
// returns to the caller (f returned a std::vector), an op of more than 16 inputs, the entry
// of a backward step of more than max_op_inputs inputs or with shared data, blocks beyond the
// block cache's limits, and products split over OpenMP threads.

/// A vector borrowed from this thread's pool of them, given back empty when it goes.
///   Pooled<std::vector<ImplRef>> outputs;  replay(program, arguments, *outputs);
template <class Vector>
class Pooled {
 public:
  Pooled() {
    std::vector<Vector>& pool = this_thread_pool();
    if (!pool.empty()) {
      vector_ = std::move(pool.back());
      pool.pop_back();
    }
  }
  ~Pooled() {
    vector_.clear();
    try {
      this_thread_pool().push_back(std::move(vector_));
    } catch (const std::bad_alloc&) {  // a pool that cannot grow: the vector is freed instead
    }
  }
  Pooled(const Pooled&) = delete;
  Pooled& operator=(const Pooled&) = delete;

  Vector& operator*() { return vector_; }

 private:
  static std::vector<Vector>& this_thread_pool() {
    thread_local std::vector<Vector> pool;
    return pool;
  }
  Vector vector_;
};

/// Runs `program` on `arguments` (one per argument slot, of the traced types and shapes) into
/// `outputs` (cleared first; an empty reference for an output with no value).
///   Pooled<std::vector<ImplRef>> outputs;  replay(program, argument_refs.data(), *outputs);
void replay(const TracedProgram& program, const ImplRef* const* arguments,
            std::vector<ImplRef>& outputs);

// Outside the classes, so that the precompiled part can hold them (TAPEGRAD_HEADER_DEFINITIONS
// in config.hpp): they run once per trace or per replayed call, never per op of a program.
#if TAPEGRAD_HEADER_DEFINITIONS
TAPEGRAD_PRECOMPILED_INLINE void TracedProgram::plan_lifetimes() {
  std::vector<std::int64_t> last(static_cast<std::size_t>(n_slots), -1);
  const auto n = static_cast<std::int64_t>(instructions.size());
  for (std::int64_t k = 0; k < n; ++k) {
    const TraceInstruction& i = instructions[static_cast<std::size_t>(k)];
    for (std::int32_t s : i.inputs)
      if (s >= 0) last[static_cast<std::size_t>(s)] = k;
    if (i.output >= 0) last[static_cast<std::size_t>(i.output)] = k;
    for (std::int32_t s : i.outputs)
      if (s >= 0) last[static_cast<std::size_t>(s)] = k;
  }
  for (std::int32_t s : outputs)
    if (s >= 0) last[static_cast<std::size_t>(s)] = n;
  for (TraceInstruction& i : instructions) i.last_reads.clear();
  for (std::int32_t s = 0; s < n_slots; ++s) {
    const std::int64_t k = last[static_cast<std::size_t>(s)];
    if (k >= 0 && k < n) instructions[static_cast<std::size_t>(k)].last_reads.push_back(s);
  }
}

TAPEGRAD_PRECOMPILED_INLINE void replay_rule(const TraceInstruction& i,
                                             std::vector<ImplRef>& values) {
  const std::size_t n_inputs = i.outputs.size();
  Entry entry;
  entry.backward = i.op->backward;
  entry.definition = i.op;
  entry.n_inputs = static_cast<std::uint32_t>(n_inputs);
  entry.attrs = i.attrs;
  const std::size_t n_saved = i.inputs.size() - 1;
  for (std::size_t k = 0; k < n_saved && k < max_op_inputs; ++k)
    if (i.inputs[k + 1] >= 0) entry.saved[k].set(values[static_cast<std::size_t>(i.inputs[k + 1])]);
  if (n_inputs > max_op_inputs || n_saved > max_op_inputs || i.shared) {
    entry.extra = std::make_unique<EntryExtra>();
    if (n_inputs > max_op_inputs) entry.extra->inputs.assign(n_inputs - max_op_inputs, no_node);
    for (std::size_t k = max_op_inputs; k < n_saved; ++k)
      entry.extra->saved.push_back(
          i.inputs[k + 1] >= 0 ? values[static_cast<std::size_t>(i.inputs[k + 1])] : ImplRef());
    entry.extra->closure = i.shared;
  }
  ImplRef few_grads[max_op_inputs];
  std::vector<ImplRef> many_grads;
  ImplRef* grads = few_grads;
  if (n_inputs > max_op_inputs) {
    many_grads.resize(n_inputs);
    grads = many_grads.data();
  }
  ImplRef upstream = values[static_cast<std::size_t>(i.inputs[0])];
  i.op->backward(entry, std::move(upstream), i.needs.get(), grads);
  for (std::size_t k = 0; k < n_inputs; ++k)
    if (i.outputs[k] >= 0) values[static_cast<std::size_t>(i.outputs[k])] = std::move(grads[k]);
}

TAPEGRAD_PRECOMPILED_INLINE void replay(const TracedProgram& program,
                                        const ImplRef* const* arguments,
                                        std::vector<ImplRef>& outputs) {
  Pooled<std::vector<ImplRef>> pooled;
  std::vector<ImplRef>& values = *pooled;
  values.resize(static_cast<std::size_t>(program.n_slots));
  for (std::size_t k = 0; k < program.arguments.size(); ++k)
    values[static_cast<std::size_t>(program.arguments[k])] = *arguments[k];
  for (const auto& [slot, constant] : program.constants)
    values[static_cast<std::size_t>(slot)] = constant;
  constexpr std::size_t few = 16;  // more (a concat of many) take a vector
  const ImplRef* few_inputs[few];
  std::vector<const ImplRef*> many_inputs;
  for (const TraceInstruction& i : program.instructions) {
    switch (i.kind) {
      case TraceInstruction::Kind::op: {
        const std::size_t n = i.inputs.size();
        if (n > few) many_inputs.resize(n);
        const ImplRef** inputs = n > few ? many_inputs.data() : few_inputs;
        for (std::size_t k = 0; k < n; ++k)
          inputs[k] = &values[static_cast<std::size_t>(i.inputs[k])];
        ImplRef out = ImplRef::adopt(allocate_impl(i.dtype, i.shape));
        i.op->forward(OpArgs{i.attrs, i.shared}, inputs, *out.get());
        values[static_cast<std::size_t>(i.output)] = std::move(out);
        break;
      }
      case TraceInstruction::Kind::view:
        values[static_cast<std::size_t>(i.output)] = ImplRef::adopt(
            allocate_alias(values[static_cast<std::size_t>(i.inputs[0])].get(), i.shape));
        break;
      case TraceInstruction::Kind::read_variable: {
        const std::shared_ptr<const VariableState> variable = i.variable.lock();
        TAPEGRAD_CHECK(variable != nullptr, trace_error,
                       "function: a variable the traced call read no longer exists");
        values[static_cast<std::size_t>(i.output)] = current_value(*variable);
        break;
      }
      case TraceInstruction::Kind::update_variable: {
        const std::shared_ptr<const VariableState> variable = i.variable.lock();
        TAPEGRAD_CHECK(variable != nullptr, trace_error, "function: a variable the traced call ",
                       i.update, " no longer exists");
        i.apply_update(std::const_pointer_cast<VariableState>(variable),
                       values[static_cast<std::size_t>(i.inputs[0])]);
        break;
      }
      case TraceInstruction::Kind::rule:
        replay_rule(i, values);
        break;
    }
    for (std::int32_t s : i.last_reads) values[static_cast<std::size_t>(s)].reset();
  }
  outputs.clear();
  for (std::int32_t s : program.outputs)
    outputs.push_back(s >= 0 ? values[static_cast<std::size_t>(s)] : ImplRef{});
}
#endif  // TAPEGRAD_HEADER_DEFINITIONS

}  // namespace tapegrad::detail
