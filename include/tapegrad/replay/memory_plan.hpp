#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <unordered_map>
#include <vector>

#include "tapegrad/config.hpp"
#include "tapegrad/replay/program.hpp"

// NOTE [ A replay's memory plan ]
// When a trace ends, plan_memory decides how each instruction replays and where each value
// lives. An elementwise op, or the fused rule of one, whose operands all have one shape runs
// flat (NOTE [ Flat kernels ]). A value that only flat steps write and read, and that the call
// does not return, lives in the replay's arena (NOTE [ The replay arena ]) at an offset fixed
// now: values whose lifetimes do not overlap share bytes, each aligned as a tensor's elements
// are (NOTE [ Element alignment ]: 64 bytes, or 16 for values under 32 bytes, which keeps
// scalar-style programs' values dense). Every other value (an argument, a constant, an output of
// the call, whatever a matmul, a view, a variable update or a step of the sweep run whole reads) is
// a tensor of its own at each replay, as before, so a tensor the caller holds is never written
// again. A rule that returns its upstream gradient as it is (x + y) gives the same elements again,
// as the eager rule shares the tensor: the upstream and the gradient are one value, whose
// lifetime covers both.
// A replay holds a reference to a tensor only where something reads the tensor itself (an
// instruction, the caller): an argument or a constant that only flat steps read is read at
// its elements, which the caller or the program keeps alive, and so is a value that is a
// constant as it is (the ones a gradient starts from, passed down by the rules of + and -).
// Scalar-style code, a 0-d tensor per number, then pays no reference-count traffic per
// number; outputs are moved out, not copied.
namespace tapegrad::detail {

/// Fills in program.steps, the arena's layout and the releases, from the instructions and
/// `slots`, a header of each slot's value in the traced call (its type, shape and elements).
void plan_memory(TracedProgram& program, const std::vector<ImplRef>& slots);

#if TAPEGRAD_HEADER_DEFINITIONS
/// Whether `x` can be an operand of a flat step whose output is `y`.
inline bool flat_compatible(const TensorImpl& x, const TensorImpl& y) {
  return x.data != nullptr && x.dtype == y.dtype && x.same_shape(y);
}

/// The slots each instruction reads last, as one list ordered by instruction: those of
/// instruction k are slots[begin[k]] to slots[begin[k + 1]]. A slot goes after its last reader,
/// or right after it is filled when nothing reads it; the outputs stay.
struct LastReads {
  std::vector<std::uint32_t> begin;
  std::vector<std::int32_t> slots;
};

TAPEGRAD_PRECOMPILED_INLINE LastReads last_reads(const TracedProgram& program) {
  const auto n = static_cast<std::int64_t>(program.instructions.size());
  std::vector<std::int64_t> last(static_cast<std::size_t>(program.n_slots), -1);
  for (std::int64_t k = 0; k < n; ++k) {
    const TraceInstruction& i = program.instructions[static_cast<std::size_t>(k)];
    for (std::int32_t s : i.inputs)
      if (s >= 0) last[static_cast<std::size_t>(s)] = k;
    if (i.output >= 0) last[static_cast<std::size_t>(i.output)] = k;
    for (std::int32_t s : i.outputs)
      if (s >= 0) last[static_cast<std::size_t>(s)] = k;
  }
  for (std::int32_t s : program.outputs)
    if (s >= 0) last[static_cast<std::size_t>(s)] = n;
  LastReads reads;  // a counting sort of the slots by their last reader
  reads.begin.assign(static_cast<std::size_t>(n) + 2, 0);
  for (const std::int64_t k : last)
    if (k >= 0 && k < n) ++reads.begin[static_cast<std::size_t>(k) + 2];
  for (std::size_t k = 2; k < reads.begin.size(); ++k) reads.begin[k] += reads.begin[k - 1];
  reads.slots.resize(reads.begin.back());
  for (std::int32_t s = 0; s < program.n_slots; ++s) {
    const std::int64_t k = last[static_cast<std::size_t>(s)];
    if (k >= 0 && k < n) reads.slots[reads.begin[static_cast<std::size_t>(k) + 1]++] = s;
  }
  reads.begin.pop_back();
  return reads;
}

/// The byte offset of `a` in `table`, which it joins unless one of the last few entries equals it
/// (a program's elementwise ops repeat a handful of attributes: they stay in one cache line).
inline std::uint32_t intern(const OpAttrs& a, std::vector<OpAttrs>& table) {
  constexpr std::size_t looked_at = 8;
  const auto offset_of = [](std::size_t k) {
    return static_cast<std::uint32_t>(k * sizeof(OpAttrs));
  };
  for (std::size_t k = table.size(); k > 0 && k + looked_at > table.size(); --k)
    if (std::memcmp(&table[k - 1], &a, sizeof(OpAttrs)) == 0) return offset_of(k - 1);
  TAPEGRAD_CHECK(table.size() < std::numeric_limits<std::uint32_t>::max() / sizeof(OpAttrs),
                 trace_error, "function: the traced call has more than ", table.size(),
                 " distinct attributes of elementwise ops, more than a replay step addresses; "
                 "call it directly");
  table.push_back(a);
  return offset_of(table.size() - 1);
}

/// Instruction i as a flat step (every operand in its slot's tensor until the plan places it),
/// or as itself when it cannot run flat.
TAPEGRAD_PRECOMPILED_INLINE ReplayStep flat_step(const TraceInstruction& i,
                                                 const std::vector<ImplRef>& slots,
                                                 std::vector<OpAttrs>& attrs) {
  ReplayStep step;
  const FlatKernels* flat = i.op != nullptr ? i.op->flat : nullptr;
  if (flat == nullptr || i.shared || i.op->arity < 1 || i.op->arity > 2) return step;
  const auto arity = static_cast<std::size_t>(i.op->arity);
  const auto value = [&](std::int32_t s) -> const TensorImpl& {
    return *slots[static_cast<std::size_t>(s)].get();
  };
  if (i.kind == TraceInstruction::Kind::op) {
    const TensorImpl& out = value(i.output);
    if (i.inputs.size() != arity) return step;
    for (std::int32_t s : i.inputs)
      if (!flat_compatible(value(s), out)) return step;
    step.kind = ReplayStep::Kind::flat_op;
    step.kernel.forward = flat->forward;
    for (std::size_t k = 0; k < 4; ++k)
      step.operands[k] = tensor_location(i.inputs[k < arity ? k : 0]);
    step.outputs[0] = tensor_location(i.output);
    step.n = out.size();
    step.dtype = out.dtype;
    step.attrs = intern(i.attrs, attrs);
    return step;
  }
  if (i.kind != TraceInstruction::Kind::rule) return step;
  constexpr std::size_t n_operands = 1 + max_op_inputs;
  static_assert(n_operands <= 4, "a flat rule takes the upstream and at most three saved");
  if (i.inputs.size() != n_operands || i.outputs.size() != arity) return step;
  const TensorImpl& upstream = value(i.inputs[0]);
  if (upstream.data == nullptr) return step;
  for (std::size_t k = 1; k < n_operands; ++k)
    if (i.inputs[k] >= 0 && !flat_compatible(value(i.inputs[k]), upstream)) return step;
  for (std::size_t j = 0; j < arity; ++j) {
    if (i.outputs[j] < 0) continue;
    const std::int8_t source = flat->gradient_source(static_cast<int>(j));
    if (source == flat_unsupported || source >= static_cast<std::int8_t>(n_operands) ||
        !flat_compatible(value(i.outputs[j]), upstream))
      return step;
    // An operand that was not saved is the upstream, as in the op's backward.
    if (source >= 0) step.alias[j] = i.inputs[static_cast<std::size_t>(source)] >= 0 ? source : 0;
  }
  step.kind = ReplayStep::Kind::flat_rule;
  step.kernel.rule = flat->rule;
  for (std::size_t k = 0; k < n_operands; ++k)
    step.operands[k] = tensor_location(i.inputs[i.inputs[k] >= 0 ? k : 0]);
  for (std::size_t j = 0; j < arity; ++j) {
    if (i.outputs[j] < 0) continue;
    step.outputs[j] = tensor_location(i.outputs[j]);
    if (step.alias[j] < 0) step.computes = static_cast<std::uint8_t>(step.computes | (1u << j));
  }
  step.n = upstream.size();
  step.dtype = upstream.dtype;
  step.attrs = intern(i.attrs, attrs);
  return step;
}

TAPEGRAD_PRECOMPILED_INLINE void plan_memory(TracedProgram& program,
                                             const std::vector<ImplRef>& slots) {
  const auto n_slots = static_cast<std::size_t>(program.n_slots);
  const auto& instructions = program.instructions;
  program.steps.clear();
  program.releases.clear();
  program.left_over.clear();
  program.shapes.clear();
  program.attrs.clear();
  program.arena_bytes = 0;
  program.argument_by_elements.assign(program.arguments.size(), 0);
  program.output_moves.assign(program.outputs.size(), 0);
  {
    std::vector<char> returned_later(n_slots, 0);
    for (std::size_t k = program.outputs.size(); k-- > 0;) {
      const std::int32_t s = program.outputs[k];
      if (s < 0) continue;
      program.output_moves[k] = !returned_later[static_cast<std::size_t>(s)];
      returned_later[static_cast<std::size_t>(s)] = 1;
    }
  }

  // Values that are one (a rule's upstream and the gradient it returns as it is) share a root.
  std::vector<std::int32_t> root(n_slots);
  std::iota(root.begin(), root.end(), 0);
  const auto find = [&](std::int32_t s) {
    while (root[static_cast<std::size_t>(s)] != s) {
      root[static_cast<std::size_t>(s)] =
          root[static_cast<std::size_t>(root[static_cast<std::size_t>(s)])];
      s = root[static_cast<std::size_t>(s)];
    }
    return s;
  };
  std::vector<char> is_tensor(n_slots, 0);  // read or written as a tensor
  const auto mark = [&](std::int32_t s) {
    if (s >= 0) is_tensor[static_cast<std::size_t>(s)] = 1;
  };
  for (std::size_t k = 0; k < instructions.size(); ++k) {
    const TraceInstruction& i = instructions[k];
    ReplayStep step = flat_step(i, slots, program.attrs);
    if (step.kind == ReplayStep::Kind::instruction) {
      step.index = static_cast<std::int32_t>(k);
      for (std::int32_t s : i.inputs) mark(s);
      mark(i.output);
      for (std::int32_t s : i.outputs) mark(s);
    } else if (step.kind == ReplayStep::Kind::flat_rule) {
      for (int j = 0; j < 2; ++j)
        if (step.outputs[j] != no_location && step.alias[j] >= 0)
          root[static_cast<std::size_t>(find(slot_of_location(step.outputs[j])))] =
              find(slot_of_location(step.operands[step.alias[j]]));
    }
    program.steps.push_back(step);
  }
  // Slots whose tensor something other than a flat step reads: an instruction, or the caller.
  std::vector<char> needs_tensor = is_tensor;
  for (std::int32_t s : program.outputs)
    if (s >= 0) needs_tensor[static_cast<std::size_t>(s)] = 1;
  // An argument that only flat steps read, and that no other value is (a gradient that is
  // the argument as it is), is read through its elements alone.
  std::vector<char> by_elements(n_slots, 0);
  {
    std::vector<std::int32_t> values_in_root(n_slots, 0);
    for (std::size_t s = 0; s < n_slots; ++s)
      ++values_in_root[static_cast<std::size_t>(find(static_cast<std::int32_t>(s)))];
    for (std::int32_t s : program.arguments)
      by_elements[static_cast<std::size_t>(s)] = !is_tensor[static_cast<std::size_t>(s)] &&
                                                 values_in_root[static_cast<std::size_t>(s)] == 1;
    for (std::int32_t s : program.outputs)
      if (s >= 0) by_elements[static_cast<std::size_t>(s)] = 0;
  }
  for (std::size_t k = 0; k < program.arguments.size(); ++k)
    program.argument_by_elements[k] = by_elements[static_cast<std::size_t>(program.arguments[k])];
  // A value that is a constant as it is (the ones a gradient starts from, passed down by the
  // rules of + and -) is read at the constant's elements, which the program keeps; only the
  // slots whose tensor is read get a reference to it (and the constant's slot keeps one to
  // the end, to copy from).
  std::vector<char> is_constant(n_slots, 0);
  for (const auto& constant : program.constants)
    is_constant[static_cast<std::size_t>(constant.first)] = 1;
  const auto constant_root = [&](std::int32_t s) {
    return is_constant[static_cast<std::size_t>(find(s))] != 0;
  };
  std::vector<char> kept_to_the_end(n_slots, 0), group_needs_tensor(n_slots, 0);
  for (std::size_t s = 0; s < n_slots; ++s) {
    const auto slot = static_cast<std::int32_t>(s);
    if (!constant_root(slot)) continue;
    if (needs_tensor[s]) group_needs_tensor[static_cast<std::size_t>(find(slot))] = 1;
    if (find(slot) == slot) continue;
    kept_to_the_end[static_cast<std::size_t>(find(slot))] = 1;
    if (!needs_tensor[s]) by_elements[s] = 1;
  }
  program.constant_by_elements.assign(program.constants.size(), 0);
  for (std::size_t k = 0; k < program.constants.size(); ++k) {
    const auto slot = static_cast<std::size_t>(program.constants[k].first);
    by_elements[slot] = group_needs_tensor[slot] == 0;
    program.constant_by_elements[k] = by_elements[slot];
  }
  for (std::int32_t s : program.arguments) mark(s);
  for (const auto& constant : program.constants) mark(constant.first);
  for (std::int32_t s : program.outputs) mark(s);
  std::vector<char> root_is_tensor(n_slots, 0);
  for (std::size_t s = 0; s < n_slots; ++s)
    if (is_tensor[s])
      root_is_tensor[static_cast<std::size_t>(find(static_cast<std::int32_t>(s)))] = 1;
  const auto in_arena = [&](std::int32_t s) {
    return root_is_tensor[static_cast<std::size_t>(find(s))] == 0;
  };

  // Each arena value's lifetime: from the first step that touches it to the last.
  constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();
  std::vector<std::int64_t> first(n_slots, never), last(n_slots, -1);
  const auto touch = [&](std::int32_t s, std::int64_t k) {
    if (s < 0) return;
    const auto r = static_cast<std::size_t>(find(s));
    first[r] = std::min(first[r], k);
    last[r] = std::max(last[r], k);
  };
  for (std::size_t k = 0; k < instructions.size(); ++k) {
    const TraceInstruction& i = instructions[k];
    const auto at = static_cast<std::int64_t>(k);
    for (std::int32_t s : i.inputs) touch(s, at);
    touch(i.output, at);
    for (std::int32_t s : i.outputs) touch(s, at);
  }
  std::vector<std::int32_t> by_first, by_last;
  for (std::size_t s = 0; s < n_slots; ++s) {
    const auto slot = static_cast<std::int32_t>(s);
    if (find(slot) == slot && in_arena(slot) && first[s] != never) {
      by_first.push_back(slot);
      by_last.push_back(slot);
    }
  }
  // Sorted by the step their lifetimes start and end at (a counting sort: steps are few).
  const auto sort_by = [&](std::vector<std::int32_t>& roots,
                           const std::vector<std::int64_t>& when) {
    std::vector<std::uint32_t> begin(instructions.size() + 1, 0);
    for (std::int32_t r : roots)
      ++begin[static_cast<std::size_t>(when[static_cast<std::size_t>(r)]) + 1];
    for (std::size_t k = 1; k < begin.size(); ++k) begin[k] += begin[k - 1];
    std::vector<std::int32_t> sorted(roots.size());
    for (std::int32_t r : roots)
      sorted[begin[static_cast<std::size_t>(when[static_cast<std::size_t>(r)])]++] = r;
    roots.swap(sorted);
  };
  sort_by(by_first, first);
  sort_by(by_last, last);
  // The bytes a value takes in the arena, a multiple of its alignment: a tensor's (NOTE
  // [ Element alignment ]). Blocks of one size share an alignment, so a freed block fits any
  // value of its size.
  constexpr std::size_t small_alignment = 16;
  const auto bytes_of = [&](std::int32_t s) {
    const TensorImpl& x = *slots[static_cast<std::size_t>(s)].get();
    const std::size_t bytes = static_cast<std::size_t>(x.size()) * dtype_size(x.dtype);
    const std::size_t a = bytes < small_elements_bytes ? small_alignment : element_alignment;
    return std::max(a, (bytes + a - 1) / a * a);
  };
  // Values are placed as their lifetimes begin, in a block of the same size freed by a value
  // whose lifetime ended at an earlier step (the last freed first), or at the end.
  std::unordered_map<std::size_t, std::vector<std::size_t>> free_blocks;
  std::vector<std::size_t> offset(n_slots, 0);
  std::size_t next_first = 0, next_last = 0;
  for (std::int64_t k = 0; k < static_cast<std::int64_t>(instructions.size()); ++k) {
    for (;
         next_first < by_first.size() && first[static_cast<std::size_t>(by_first[next_first])] == k;
         ++next_first) {
      const std::int32_t r = by_first[next_first];
      const std::size_t bytes = bytes_of(r);
      std::vector<std::size_t>& blocks = free_blocks[bytes];
      if (!blocks.empty()) {
        offset[static_cast<std::size_t>(r)] = blocks.back();
        blocks.pop_back();
      } else {
        // Sizes under 64 are those of small values (bytes_of).
        const std::size_t a = bytes < element_alignment ? small_alignment : element_alignment;
        program.arena_bytes = (program.arena_bytes + a - 1) / a * a;
        offset[static_cast<std::size_t>(r)] = program.arena_bytes;
        program.arena_bytes += bytes;
      }
    }
    for (; next_last < by_last.size() && last[static_cast<std::size_t>(by_last[next_last])] == k;
         ++next_last) {
      const std::int32_t r = by_last[next_last];
      free_blocks[bytes_of(r)].push_back(offset[static_cast<std::size_t>(r)]);
    }
  }

  // A Location addresses 2 GiB of arena; a plan that needs more keeps every value in a tensor
  // (what a value out of the arena costs, a tensor header, is small beside such values).
  if (program.arena_bytes > static_cast<std::size_t>(std::numeric_limits<Location>::max())) {
    std::fill(root_is_tensor.begin(), root_is_tensor.end(), 1);
    program.arena_bytes = 0;
  }

  // Each flat step's locations, its tensor outputs' shape, and the tensors each step drops.
  // An operand that is a constant as it is reads the constant; an output that is one names
  // the constant only when its slot gets no tensor of its own.
  const auto place = [&](Location& where, bool operand) {
    if (where == no_location) return;
    const std::int32_t slot = slot_of_location(where);
    if (in_arena(slot))
      where = static_cast<Location>(offset[static_cast<std::size_t>(find(slot))]);
    else if (constant_root(slot) && (operand || by_elements[static_cast<std::size_t>(slot)]))
      where = tensor_location(find(slot));
  };
  std::vector<char> dropped(n_slots, 0);
  const LastReads reads = last_reads(program);
  for (std::size_t k = 0; k < program.steps.size(); ++k) {
    ReplayStep& step = program.steps[k];
    if (step.kind != ReplayStep::Kind::instruction) {
      for (Location& where : step.operands) place(where, true);
      for (Location& where : step.outputs) place(where, false);
      for (int j = 0; j < 2; ++j)
        if (step.kind == ReplayStep::Kind::flat_rule && step.alias[j] >= 0 &&
            step.outputs[j] != no_location && step.outputs[j] < 0 &&
            step.outputs[j] != step.operands[step.alias[j]])
          step.shares = static_cast<std::uint8_t>(step.shares | (1u << j));
      for (const Location where : step.outputs) {
        if (where == no_location || where >= 0) continue;
        const Shape& shape = slots[static_cast<std::size_t>(slot_of_location(where))]->shape();
        if (program.shapes.empty() || !(program.shapes.back() == shape))
          program.shapes.push_back(shape);
        step.index = static_cast<std::int32_t>(program.shapes.size() - 1);
        break;
      }
    }
    step.releases_begin = static_cast<std::uint32_t>(program.releases.size());
    for (std::uint32_t r = reads.begin[k]; r < reads.begin[k + 1]; ++r) {
      const std::int32_t s = reads.slots[r];
      if (in_arena(s) || by_elements[static_cast<std::size_t>(s)] ||
          kept_to_the_end[static_cast<std::size_t>(s)])
        continue;
      program.releases.push_back(s);
      dropped[static_cast<std::size_t>(s)] = 1;
    }
    step.releases_end = static_cast<std::uint32_t>(program.releases.size());
  }
  for (std::size_t s = 0; s < n_slots; ++s)
    if (!dropped[s] && !in_arena(static_cast<std::int32_t>(s)) && !by_elements[s])
      program.left_over.push_back(static_cast<std::int32_t>(s));
}
#endif  // TAPEGRAD_HEADER_DEFINITIONS

}  // namespace tapegrad::detail
