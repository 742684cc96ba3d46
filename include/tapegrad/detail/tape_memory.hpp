#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "tapegrad/detail/tape_state.hpp"

// NOTE [ Which bytes a tape keeps alive ]
// A tape holds tensors in two ways: its entries' saved tensors and the tensors it watches. A
// block is held by the tapes when one of these is it, or an alias of it (an alias keeps its
// base alive). The tapes alone keep a block alive when they hold every reference to it: then
// it is freed with them. So count the references the tapes hold to each block and compare
// with its reference count; a block freed that way drops its reference to its base, which may
// then be freed too. Counting per set of tapes lets a report charge each tape what only it
// keeps and say what several share. A block freed that way also drops its tangents (NOTE
// [ Tangents live on their primal ]) and the out-of-line record that holds them: a tangent
// whose every reference came from freed blocks is freed too, and counts as held by the tapes,
// charged where its primal is. Tensors a custom gradient's function captured are out of sight
// (an op that wants them counted saves them in its entry, as recompute_grad's does); a
// Variable's value belongs to the variable.
namespace tapegrad::detail {

/// A block the tapes hold, charged to the first entry that holds it.
struct HeldBlock {
  const TensorImpl* block;
  std::size_t bytes;   // block_bytes(): the header and, unless an alias, the elements (with
                       // the room that aligns them, NOTE [ Element alignment ])
  std::size_t tape;    // which of the tapes, by position in the list given
  std::int64_t entry;  // its entry on that tape, or -1 for a watched tensor
  bool freed = false;  // freed when these tapes are, since nothing else holds it
};

/// Every block that tapes[0..n) hold, each once, in the order first met (entries oldest
/// first, then watched tensors; a base right after its first alias). Not thread-safe against
/// other threads copying the same tensors meanwhile.
inline std::vector<HeldBlock> held_blocks(const TapeState* const* tapes, std::size_t n) {
  std::vector<HeldBlock> blocks;
  std::vector<std::int64_t> held;  // the references the tapes hold, by position in blocks
  std::unordered_map<const TensorImpl*, std::size_t> position;
  auto meet = [&](const TensorImpl* t, std::size_t tape, std::int64_t entry) {
    for (bool referenced = true; t != nullptr; t = t->base, referenced = false) {
      auto [it, added] = position.emplace(t, blocks.size());
      if (added) {
        blocks.push_back({t, block_bytes(t), tape, entry});
        held.push_back(0);
      }
      if (referenced) ++held[it->second];
      if (!added) break;  // its bases were met with it
    }
  };
  for (std::size_t k = 0; k < n; ++k) {
    const TapeState& tape = *tapes[k];
    for (std::size_t i = 0; i < tape.entries.size(); ++i) {
      const Entry& e = tape.entries[i];
      for (std::size_t j = 0; j < max_op_inputs; ++j)
        meet(e.saved(j).impl(), k, static_cast<std::int64_t>(i));
      if (e.extra)
        for (const ImplRef& s : e.extra->saved) meet(s.get(), k, static_cast<std::int64_t>(i));
    }
    for (const ImplRef& t : tape.watched_tensor_refs) meet(t.get(), k, -1);
  }
  std::vector<std::size_t> pending(blocks.size());
  for (std::size_t i = 0; i < blocks.size(); ++i) pending[i] = blocks.size() - 1 - i;
  // A reference that a freed block drops: to a block met already, or to one (a tangent, or its
  // base) that joins the list once every reference to it has been dropped.
  std::unordered_map<const TensorImpl*, std::int64_t> dropped;
  auto drop = [&](const TensorImpl* t, const HeldBlock& from) {
    if (const auto it = position.find(t); it != position.end()) {
      ++held[it->second];
      pending.push_back(it->second);
      return;
    }
    const std::int64_t refs = ++dropped[t];
    if (refs != t->refs.load(std::memory_order_acquire)) return;
    position.emplace(t, blocks.size());
    blocks.push_back({t, block_bytes(t), from.tape, from.entry});
    held.push_back(refs);
    pending.push_back(blocks.size() - 1);
  };
  while (!pending.empty()) {
    const std::size_t i = pending.back();
    pending.pop_back();
    if (blocks[i].freed || held[i] != blocks[i].block->refs.load(std::memory_order_acquire))
      continue;
    blocks[i].freed = true;
    const HeldBlock b = blocks[i];  // a copy: drop() may grow `blocks`
    if (b.block->base) drop(b.block->base, b);
    if (const TensorExtras* extras = b.block->extras) {
      blocks[i].bytes += sizeof(TensorExtras);
      if (extras->first.tangent) drop(extras->first.tangent.get(), b);
      for (const TensorExtras::Tangent& t : extras->more_tangents)
        if (t.tangent) drop(t.tangent.get(), b);
    }
  }
  return blocks;
}

/// The bytes of the tensor blocks that would be freed with the tape (NOTE [ Which bytes a
/// tape keeps alive ]).   std::size_t bytes = detail::bytes_only_tape_holds(tape.internal_state());
inline std::size_t bytes_only_tape_holds(const TapeState& tape) {
  const TapeState* const tapes[] = {&tape};
  std::size_t bytes = 0;
  for (const HeldBlock& b : held_blocks(tapes, 1)) bytes += b.freed ? b.bytes : 0;
  return bytes;
}

}  // namespace tapegrad::detail
