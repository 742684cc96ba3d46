#pragma once

#include <atomic>
#include <cstdint>

// NOTE [ Live-object counters ]
// Tests that look for leaks need to know how many tensors, element bytes, tape entries and
// tapes exist. Counting them costs an atomic add per allocation, which the per-op budget
// cannot afford, so the counters exist only when TAPEGRAD_LIVE_COUNTERS is defined (the
// test suite defines it); otherwise TAPEGRAD_COUNT compiles to nothing.
namespace tapegrad::detail {

#ifdef TAPEGRAD_LIVE_COUNTERS
struct LiveCounters {
  std::atomic<std::int64_t> tensors{0};     // tensor headers, aliases included
  std::atomic<std::int64_t> bytes{0};       // bytes of the blocks they occupy
  std::atomic<std::int64_t> entries{0};     // entries on all tapes
  std::atomic<std::int64_t> tapes{0};       // tape states (a GradientTape, or a copy's share)
  std::atomic<std::int64_t> peak_bytes{0};  // the most `bytes` has been since it was reset
};
inline LiveCounters live_counters;
inline void count_live(std::atomic<std::int64_t>& counter, std::int64_t delta) {
  const std::int64_t now = counter.fetch_add(delta, std::memory_order_relaxed) + delta;
  if (&counter != &live_counters.bytes || delta <= 0) return;
  std::int64_t peak = live_counters.peak_bytes.load(std::memory_order_relaxed);
  while (now > peak &&
         !live_counters.peak_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}
#define TAPEGRAD_COUNT(field, delta)                                      \
  ::tapegrad::detail::count_live(::tapegrad::detail::live_counters.field, \
                                 static_cast<std::int64_t>(delta))
#else
#define TAPEGRAD_COUNT(field, delta) ((void)0)
#endif

}  // namespace tapegrad::detail
