#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "tapegrad/config.hpp"
#include "tapegrad/detail/check.hpp"
#include "tapegrad/detail/op_definition.hpp"
#include "tapegrad/detail/tape_state.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/replay/arena.hpp"

// NOTE [ A traced program ]
// A trace is a straight-line program over numbered slots, each holding one value of the
// traced call. A slot is filled by an argument, a constant (a tensor the call captured, or
// built from values on the host), an op's forward kernel, a view (a new header on another
// slot's elements, for an op that computed nothing of its own), or a read of a variable;
// update instructions write slots into variables. A replay runs the instructions in order,
// each into a fresh tensor or, for elementwise steps, into the place the memory plan gave it
// (NOTE [ A replay's memory plan ]), and drops each tensor after its last reader, so it holds
// no more than the eager call did, and a tensor it returned is never written again.
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
};

/// Where a flat step finds a value: at a byte offset in the arena (>= 0; a plan that would need
/// 2 GiB or more keeps its values in tensors), or in the tensor of slot s (-1 - s). 32 bits, so
/// that a step fits a cache line.
using Location = std::int32_t;
constexpr Location no_location = std::numeric_limits<Location>::min();
constexpr Location tensor_location(std::int32_t slot) {
  return -1 - slot;
}
constexpr std::int32_t slot_of_location(Location at) {
  return -1 - at;
}

/// One step of a replay (NOTE [ A replay's memory plan ]): an instruction as traced, or an
/// elementwise op or rule run by its flat kernels. One cache line: a replay of scalar-style
/// code streams through hundreds of thousands of them.
struct alignas(64) ReplayStep {
  enum class Kind : std::uint8_t { instruction, flat_op, flat_rule };
  Kind kind = Kind::instruction;
  std::int8_t alias[2] = {-1, -1};  // flat_rule: the operand output j is, as it is (-1: none)
  std::uint8_t computes = 0;        // flat_rule: bit j set when the rule writes output j
  std::uint8_t shares = 0;          // flat_rule: bit j set when output j shares a tensor
  DType dtype = DType::float32;     // flat: the outputs' element type
  std::int32_t index = -1;  // instruction: which one; flat: its tensor outputs' shape in shapes
  // flat: the op's attributes, at this byte offset in the program's attrs (an offset, not an
  // index: the replay adds it, two instructions fewer per step)
  std::uint32_t attrs = 0;
  std::uint32_t releases_begin = 0, releases_end = 0;  // slots dropped after the step
  // flat: the operands (op: its inputs; rule: as FlatRuleFn takes them, with the upstream
  // where nothing was saved; unused ones repeat the first) and outputs
  Location operands[4] = {no_location, no_location, no_location, no_location};
  Location outputs[2] = {no_location, no_location};
  std::int64_t n = 0;  // flat: elements of each operand
  union {
    FlatForwardFn forward;  // flat_op
    FlatRuleFn rule;        // flat_rule
  } kernel{nullptr};
};
static_assert(sizeof(ReplayStep) == 64, "a replay step is one cache line");

struct TracedProgram {
  std::int32_t n_slots = 0;
  std::vector<std::int32_t> arguments;  // the slot of each argument
  std::vector<std::pair<std::int32_t, ImplRef>> constants;
  std::deque<TraceInstruction> instructions;
  std::vector<std::int32_t> outputs;        // -1: an output with no value
  std::vector<std::size_t> output_lengths;  // of each std::vector among the outputs, in order

  // The plan (NOTE [ A replay's memory plan ]), made by plan_memory when the trace ends.
  std::vector<ReplayStep> steps;
  std::vector<std::int32_t> releases;   // of every step, in order
  std::vector<std::int32_t> left_over;  // tensor slots no step drops (the outputs ...)
  // Per argument: only flat steps read it, by its elements, so the replay takes no reference
  // to it (no reference-count traffic on the caller's tensor).
  std::vector<char> argument_by_elements;
  // Per constant: read only at its elements (by flat steps), so the replay takes no reference.
  std::vector<char> constant_by_elements;
  // Per output: its slot is returned by no later output, so the replay moves it out.
  std::vector<char> output_moves;
  std::vector<Shape> shapes;   // of the tensors flat steps make
  std::vector<OpAttrs> attrs;  // of the flat steps' ops
  std::size_t arena_bytes = 0;

  /// How many op kernels a replay runs.
  std::size_t op_count() const {
    std::size_t n = 0;
    for (const TraceInstruction& i : instructions) n += i.kind == TraceInstruction::Kind::op;
    return n;
  }

  /// How many steps a replay runs flat (NOTE [ A replay's memory plan ]).
  std::size_t flat_step_count() const {
    std::size_t n = 0;
    for (const ReplayStep& s : steps) n += s.kind != ReplayStep::Kind::instruction;
    return n;
  }
};

/// Applies a recorded backward step's rules, as the sweep did (NOTE [ Rules as one step ]):
/// an entry rebuilt from the slots, its definition's backward, and the input gradients into
/// their slots.
void replay_rule(const TraceInstruction& i, std::vector<ImplRef>& values);

// NOTE [ A replay's memory ]
// In the steady state a replay calls malloc zero times: its tensors and headers come from the
// thread's block cache (NOTE [ Block cache ]), which the same replay filled the time before,
// products pack into per-thread buffers (NOTE [ Packing buffers of one thread ]), values the
// plan keeps out of tensors live in the thread's arena (NOTE [ The replay arena ]), and the
// vectors it works in (the slots, the outputs, the arguments) are borrowed from a pool of this
// thread's and given back empty, keeping their capacity (the slot tables keep their size too,
// 16 bytes a slot of the largest program the thread replayed). What still allocates: a vector it
// returns to the caller (f returned a std::vector), an op of more than 16 inputs, the entry
// of a backward step of more than max_op_inputs inputs or saved tensors (its EntryExtra comes
// from the block cache, its vectors do not), blocks beyond the block cache's limits, and
// products split over OpenMP threads.

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

/// The slots of one replay, borrowed from this thread: the tensors, all empty on loan and on
/// return, and each slot's elements (read only after a step has written them). Both keep
/// their size, so a replay touches only the slots it fills.
class ReplaySlots {
 public:
  explicit ReplaySlots(std::int32_t n) {
    std::vector<Table>& pool = this_thread_pool();
    if (!pool.empty()) {
      table_ = std::move(pool.back());
      pool.pop_back();
    }
    const auto size = static_cast<std::size_t>(n);
    if (table_.values.size() < size) table_.values.resize(size);
    if (table_.elements.size() < size) table_.elements.resize(size);
    used_ = size;
  }
  ~ReplaySlots() {
    if (!all_empty_)
      for (std::size_t s = 0; s < used_; ++s) table_.values[s].reset();
    try {
      this_thread_pool().push_back(std::move(table_));
    } catch (const std::bad_alloc&) {  // a pool that cannot grow: the table is freed instead
    }
  }
  ReplaySlots(const ReplaySlots&) = delete;
  ReplaySlots& operator=(const ReplaySlots&) = delete;

  std::vector<ImplRef>& values() { return table_.values; }
  void** elements() { return table_.elements.data(); }
  /// The replay has emptied every slot it filled.
  void emptied() { all_empty_ = true; }

 private:
  struct Table {
    std::vector<ImplRef> values;
    std::vector<void*> elements;
  };
  static std::vector<Table>& this_thread_pool() {
    thread_local std::vector<Table> pool;
    return pool;
  }
  Table table_;
  std::size_t used_ = 0;
  bool all_empty_ = false;
};

/// Runs instruction i: its result into its slot of `values`, and that tensor's elements into
/// `elements`.
void run_instruction(const TraceInstruction& i, std::vector<ImplRef>& values, void** elements);

/// Runs `program` on `arguments` (one per argument slot, of the traced types and shapes) into
/// `outputs` (cleared first; an empty reference for an output with no value).
///   Pooled<std::vector<ImplRef>> outputs;  replay(program, argument_refs.data(), *outputs);
void replay(const TracedProgram& program, const ImplRef* const* arguments,
            std::vector<ImplRef>& outputs);

// Outside the classes, so that the precompiled part can hold them (TAPEGRAD_HEADER_DEFINITIONS
// in config.hpp): they run once per trace or per replayed call, never per op of a program.
#if TAPEGRAD_HEADER_DEFINITIONS
TAPEGRAD_PRECOMPILED_INLINE void replay_rule(const TraceInstruction& i,
                                             std::vector<ImplRef>& values) {
  const std::size_t n_inputs = i.outputs.size();
  Entry entry;
  entry.definition = i.op;
  entry.n_inputs = static_cast<std::uint32_t>(n_inputs);
  const std::size_t n_saved = i.inputs.size() - 1;
  entry.extra = EntryExtra::make_if_needed(n_inputs, n_saved, i.attrs, i.shared);
  for (std::size_t k = 0; k < n_saved; ++k)
    if (i.inputs[k + 1] >= 0) entry.save(k, values[static_cast<std::size_t>(i.inputs[k + 1])]);
  entry.set_attrs(i.attrs);
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

TAPEGRAD_PRECOMPILED_INLINE void run_instruction(const TraceInstruction& i,
                                                 std::vector<ImplRef>& values, void** elements) {
  const auto filled = [&](std::int32_t slot) {
    const ImplRef& value = values[static_cast<std::size_t>(slot)];
    elements[slot] = value ? value->data : nullptr;
  };
  switch (i.kind) {
    case TraceInstruction::Kind::op: {
      constexpr std::size_t few = 16;  // more (a concat of many) take a vector
      const ImplRef* few_inputs[few];
      std::vector<const ImplRef*> many_inputs;
      const std::size_t n = i.inputs.size();
      if (n > few) many_inputs.resize(n);
      const ImplRef** inputs = n > few ? many_inputs.data() : few_inputs;
      for (std::size_t k = 0; k < n; ++k)
        inputs[k] = &values[static_cast<std::size_t>(i.inputs[k])];
      ImplRef out = ImplRef::adopt(allocate_impl(i.dtype, i.shape));
      i.op->forward(OpArgs{i.attrs, i.shared}, inputs, *out.get());
      values[static_cast<std::size_t>(i.output)] = std::move(out);
      filled(i.output);
      break;
    }
    case TraceInstruction::Kind::view:
      values[static_cast<std::size_t>(i.output)] = ImplRef::adopt(
          allocate_alias(values[static_cast<std::size_t>(i.inputs[0])].get(), i.shape));
      filled(i.output);
      break;
    case TraceInstruction::Kind::read_variable: {
      const std::shared_ptr<const VariableState> variable = i.variable.lock();
      TAPEGRAD_CHECK(variable != nullptr, trace_error,
                     "function: a variable the traced call read no longer exists");
      values[static_cast<std::size_t>(i.output)] = current_value(*variable);
      filled(i.output);
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
      for (std::int32_t s : i.outputs)
        if (s >= 0) filled(s);
      break;
  }
}

TAPEGRAD_PRECOMPILED_INLINE void replay(const TracedProgram& program,
                                        const ImplRef* const* arguments,
                                        std::vector<ImplRef>& outputs) {
  ReplaySlots slots(program.n_slots);
  std::vector<ImplRef>& values = slots.values();
  void** elements = slots.elements();  // of the slots that are tensors
  const ArenaLease arena(program.arena_bytes);
  char* const base = arena.data();
  const auto attrs_of = [attrs = reinterpret_cast<const char*>(program.attrs.data())](
                            const ReplayStep& step) -> const OpAttrs& {
    return *reinterpret_cast<const OpAttrs*>(attrs + step.attrs);
  };
  for (std::size_t k = 0; k < program.arguments.size(); ++k) {
    const std::int32_t slot = program.arguments[k];
    if (!program.argument_by_elements[k]) values[static_cast<std::size_t>(slot)] = *arguments[k];
    elements[slot] = (*arguments[k])->data;
  }
  for (std::size_t k = 0; k < program.constants.size(); ++k) {
    const auto& [slot, constant] = program.constants[k];
    if (!program.constant_by_elements[k]) values[static_cast<std::size_t>(slot)] = constant;
    elements[slot] = constant->data;
  }
  const auto at = [&](Location where) -> void* {
    return where >= 0 ? base + where : elements[slot_of_location(where)];
  };
  // A flat step's output in a slot's tensor gets a tensor of its own.
  const auto output = [&](const ReplayStep& step, int j) -> void* {
    const Location where = step.outputs[j];
    if (where >= 0) return base + where;
    const std::int32_t slot = slot_of_location(where);
    ImplRef& value = values[static_cast<std::size_t>(slot)];
    value = ImplRef::adopt(
        allocate_impl(step.dtype, program.shapes[static_cast<std::size_t>(step.index)]));
    return elements[slot] = value->data;
  };
  for (const ReplayStep& step : program.steps) {
    switch (step.kind) {
      case ReplayStep::Kind::flat_op: {
        const void* in[2] = {at(step.operands[0]), at(step.operands[1])};
        step.kernel.forward(attrs_of(step), in, output(step, 0), step.n);
        break;
      }
      case ReplayStep::Kind::flat_rule: {
        const void* in[4] = {at(step.operands[0]), at(step.operands[1]), at(step.operands[2]),
                             at(step.operands[3])};
        void* grads[2] = {(step.computes & 1u) ? output(step, 0) : nullptr,
                          (step.computes & 2u) ? output(step, 1) : nullptr};
        step.kernel.rule(attrs_of(step), in, grads, step.n);
        if (step.shares == 0) break;
        // A gradient that is an operand as it is shares its tensor, as the eager rule does (in
        // the arena, it has the operand's place already).
        for (int j = 0; j < 2; ++j) {
          if (!(step.shares & (1u << j))) continue;
          const std::int32_t slot = slot_of_location(step.outputs[j]);
          const std::int32_t source = slot_of_location(step.operands[step.alias[j]]);
          values[static_cast<std::size_t>(slot)] = values[static_cast<std::size_t>(source)];
          elements[slot] = elements[source];
        }
        break;
      }
      case ReplayStep::Kind::instruction:
        run_instruction(program.instructions[static_cast<std::size_t>(step.index)], values,
                        elements);
        break;
    }
    for (std::uint32_t r = step.releases_begin; r < step.releases_end; ++r)
      values[static_cast<std::size_t>(program.releases[r])].reset();
  }
  outputs.clear();
  for (std::size_t k = 0; k < program.outputs.size(); ++k) {
    const std::int32_t s = program.outputs[k];
    if (s < 0)
      outputs.emplace_back();
    else if (program.output_moves[k])
      outputs.push_back(std::move(values[static_cast<std::size_t>(s)]));
    else
      outputs.push_back(values[static_cast<std::size_t>(s)]);
  }
  for (std::int32_t s : program.left_over) values[static_cast<std::size_t>(s)].reset();
  slots.emptied();
}
#endif  // TAPEGRAD_HEADER_DEFINITIONS

}  // namespace tapegrad::detail
