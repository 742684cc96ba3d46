#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "tapegrad/detail/tape_state.hpp"

// What a tape keeps alive: the tensors its entries saved and the tensors it watches. A block
// counts when the tape holds every reference to it, so that it is freed when the tape goes;
// an alias the tape frees in turn drops a reference to its base.
namespace tapegrad::detail {

/// The bytes of the tensor blocks that would be freed with the tape (NOTE [ Tensor storage ]).
/// Tensors held by a custom gradient's closure are not seen. Not thread-safe against other
/// threads copying the same tensors meanwhile.
///   std::size_t bytes = detail::bytes_only_tape_holds(tape.internal_state());
inline std::size_t bytes_only_tape_holds(const TapeState& tape) {
  std::unordered_map<const TensorImpl*, std::int32_t> held;  // references the tape holds
  std::vector<const TensorImpl*> pending;
  auto hold = [&](const TensorImpl* t) {
    if (t == nullptr) return;
    if (held[t]++ == 0) pending.push_back(t);
  };
  for (std::size_t i = 0; i < tape.entries.size(); ++i) {
    const Entry& e = tape.entries[i];
    for (const SavedTensor& s : e.saved) hold(s.impl());
    if (e.extra)
      for (const ImplRef& s : e.extra->saved) hold(s.get());
  }
  for (const ImplRef& t : tape.watched_tensor_refs) hold(t.get());
  std::size_t bytes = 0;
  std::unordered_map<const TensorImpl*, bool> freed;
  while (!pending.empty()) {
    const TensorImpl* t = pending.back();
    pending.pop_back();
    if (freed[t] || held[t] != t->refs.load(std::memory_order_acquire)) continue;
    freed[t] = true;
    bytes += block_bytes(t);
    if (t->base) {
      ++held[t->base];
      pending.push_back(t->base);
    }
  }
  return bytes;
}

}  // namespace tapegrad::detail
