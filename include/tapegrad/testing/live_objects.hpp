#pragma once

#include <cstdint>
#include <string>

#include "tapegrad/detail/live_counters.hpp"

namespace tapegrad::testing {

/// How many tensors (headers, aliases included), bytes of their blocks, tape entries and
/// tape states exist now, on all threads. Counted only in programs built with
/// TAPEGRAD_LIVE_COUNTERS defined (see NOTE [ Live-object counters ]); otherwise `counted`
/// is false and every count 0.
///   const auto before = tapegrad::testing::live_objects();
///   run_many_steps();
///   CHECK(tapegrad::testing::live_objects() == before);
struct LiveObjects {
  bool counted = false;
  std::int64_t tensors = 0, bytes = 0, entries = 0, tapes = 0;

  bool operator==(const LiveObjects& o) const {
    return counted == o.counted && tensors == o.tensors && bytes == o.bytes &&
           entries == o.entries && tapes == o.tapes;
  }
  bool operator!=(const LiveObjects& o) const { return !(*this == o); }
  std::string str() const {
    return "tensors " + std::to_string(tensors) + ", bytes " + std::to_string(bytes) +
           ", entries " + std::to_string(entries) + ", tapes " + std::to_string(tapes);
  }
};

inline LiveObjects live_objects() {
  LiveObjects out;
#ifdef TAPEGRAD_LIVE_COUNTERS
  const auto& c = ::tapegrad::detail::live_counters;
  out.counted = true;
  out.tensors = c.tensors.load();
  out.bytes = c.bytes.load();
  out.entries = c.entries.load();
  out.tapes = c.tapes.load();
#endif
  return out;
}

/// The most bytes tensors have held at once since reset_peak_bytes() (0 when not counted).
///   tapegrad::testing::reset_peak_bytes();  run();  auto peak = tapegrad::testing::peak_bytes();
inline std::int64_t peak_bytes() {
#ifdef TAPEGRAD_LIVE_COUNTERS
  return ::tapegrad::detail::live_counters.peak_bytes.load();
#else
  return 0;
#endif
}
/// Starts a new peak at the bytes held now.
inline void reset_peak_bytes() {
#ifdef TAPEGRAD_LIVE_COUNTERS
  auto& c = ::tapegrad::detail::live_counters;
  c.peak_bytes.store(c.bytes.load());
#endif
}

}  // namespace tapegrad::testing
