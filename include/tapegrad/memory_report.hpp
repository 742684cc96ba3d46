#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "tapegrad/detail/tape_memory.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/tape.hpp"
#include "tapegrad/tape_details.hpp"

// What a tape holds, in bytes (NOTE [ Which bytes a tape keeps alive ]): per op kind, the
// largest entries, and for several tapes what each keeps alone and what they share.
namespace tapegrad {

/// The memory that one or more tapes hold; print it for an aligned table.
///   std::cout << tapegrad::memory_report(tape);
struct MemoryReport {
  /// One tape: its record (entries and node table, which are not tensor bytes), the tensor
  /// blocks it holds, and those that would be freed if it alone were destroyed.
  struct TapeRow {
    std::uint64_t id = 0;
    std::size_t entries = 0;
    std::size_t record_bytes = 0;
    std::size_t held_bytes = 0;
    std::size_t own_bytes = 0;
  };
  /// The blocks that entries of one op kind hold, each charged to the first entry holding it.
  struct OpRow {
    std::string op;
    std::size_t entries = 0;
    std::size_t held_bytes = 0;
    std::size_t freed_bytes = 0;  // of which freed with the tapes
  };
  /// One entry, with what the thread's TapeDetails noted of it ("?" where nothing was).
  struct EntryRow {
    std::size_t tape = 0;  // position in `tapes`
    std::size_t index = 0;
    std::string op, shape, where;
    std::size_t held_bytes = 0;
    std::size_t freed_bytes = 0;
  };

  std::vector<TapeRow> tapes;
  std::size_t held_bytes = 0;     // tensor blocks the tapes hold, each counted once
  std::size_t freed_bytes = 0;    // of which freed when all these tapes are destroyed
  std::size_t shared_bytes = 0;   // of the freed, those two or more of the tapes keep together
  std::size_t outside_bytes = 0;  // held, and kept alive outside the tapes too (held - freed)
  std::vector<OpRow> by_op;       // the most bytes first
  std::vector<EntryRow> largest;  // the entries holding the most bytes, at most 10
};

namespace detail {

inline std::string byte_text(std::size_t bytes) {
  std::ostringstream out;
  if (bytes < 1024) {
    out << bytes << " B";
  } else {
    const char* unit[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes) / 1024;
    int u = 0;
    while (v >= 1024 && u < 3) v /= 1024, ++u;
    out << std::fixed << std::setprecision(v < 10 ? 2 : 1) << v << ' ' << unit[u];
  }
  return out.str();
}

/// "file.cpp:42" (the file without its directory), or "?" where no line was noted.
inline std::string where_text(const OpDetail& d) {
  if (d.file.empty()) return "?";
  const std::size_t slash = d.file.find_last_of('/');
  return (slash == std::string::npos ? d.file : d.file.substr(slash + 1)) + ":" +
         std::to_string(d.line);
}

inline std::size_t record_bytes(const TapeState& tape) {
  std::size_t bytes =
      tape.entries.size() * sizeof(Entry) + tape.producer.capacity() * sizeof(std::int32_t);
  for (std::size_t i = 0; i < tape.entries.size(); ++i)
    if (const EntryExtra* x = tape.entries[i].extra.get())
      bytes += sizeof(EntryExtra) + x->inputs.capacity() * sizeof(NodeId) +
               x->saved.capacity() * sizeof(ImplRef);
  return bytes;
}

}  // namespace detail

/// The memory report of several tapes at once, nested or not: a block two of them hold is
/// counted once, each tape is charged what only it keeps alive, and `shared_bytes` says what
/// they keep together.   std::cout << tapegrad::memory_report({&outer, &inner});
#if TAPEGRAD_HEADER_DEFINITIONS
TAPEGRAD_PRECOMPILED_INLINE MemoryReport
memory_report(const std::vector<const GradientTape*>& tapes) {
  std::vector<const detail::TapeState*> states;
  for (const GradientTape* t : tapes) {
    TAPEGRAD_CHECK(t != nullptr, value_error, "memory_report: a tape pointer is null");
    TAPEGRAD_CHECK(std::find(states.begin(), states.end(), &t->internal_state()) == states.end(),
                   value_error, "memory_report: tape ", states.size(),
                   " is given twice; a report counts each tape once");
    states.push_back(&t->internal_state());
  }
  MemoryReport report;
  const std::vector<detail::HeldBlock> blocks = detail::held_blocks(states.data(), states.size());
  std::map<std::string, MemoryReport::OpRow> by_op;
  std::map<std::pair<std::size_t, std::int64_t>, MemoryReport::EntryRow> by_entry;
  std::size_t own_total = 0;
  for (std::size_t k = 0; k < states.size(); ++k) {
    const detail::TapeState& tape = *states[k];
    MemoryReport::TapeRow row;
    row.id = tape.id;
    row.entries = tape.entries.size();
    row.record_bytes = detail::record_bytes(tape);
    for (const detail::HeldBlock& b : detail::held_blocks(&states[k], 1)) {
      row.held_bytes += b.bytes;
      row.own_bytes += b.freed ? b.bytes : 0;
    }
    own_total += row.own_bytes;
    report.tapes.push_back(row);
    for (std::size_t i = 0; i < tape.entries.size(); ++i) ++by_op[tape.entries[i].name()].entries;
  }
  for (const detail::HeldBlock& b : blocks) {
    report.held_bytes += b.bytes;
    report.freed_bytes += b.freed ? b.bytes : 0;
    const detail::TapeState& tape = *states[b.tape];
    const std::string op = b.entry < 0 ? "(watched)" : tape.entries[b.entry].name();
    MemoryReport::OpRow& row = by_op[op];
    row.op = op;
    row.held_bytes += b.bytes;
    row.freed_bytes += b.freed ? b.bytes : 0;
    if (b.entry < 0) continue;
    MemoryReport::EntryRow& e = by_entry[{b.tape, b.entry}];
    if (e.op.empty()) {
      const std::size_t index = static_cast<std::size_t>(b.entry);
      const OpDetail& d = TapeDetails::noted(tape, index);
      e.tape = b.tape;
      e.index = index;
      e.op = op;
      e.shape = d.noted ? d.shape.str() + " " + dtype_name(d.dtype) : "?";
      e.where = detail::where_text(d);
    }
    e.held_bytes += b.bytes;
    e.freed_bytes += b.freed ? b.bytes : 0;
  }
  report.shared_bytes = report.freed_bytes - std::min(report.freed_bytes, own_total);
  report.outside_bytes = report.held_bytes - report.freed_bytes;
  for (auto& [name, row] : by_op) {
    row.op = name;
    report.by_op.push_back(row);
  }
  std::stable_sort(report.by_op.begin(), report.by_op.end(),
                   [](const auto& a, const auto& b) { return a.held_bytes > b.held_bytes; });
  for (auto& [key, row] : by_entry) report.largest.push_back(row);
  std::stable_sort(report.largest.begin(), report.largest.end(),
                   [](const auto& a, const auto& b) { return a.held_bytes > b.held_bytes; });
  if (report.largest.size() > 10) report.largest.resize(10);
  return report;
}
#else
MemoryReport memory_report(const std::vector<const GradientTape*>& tapes);
#endif

/// What one tape holds: bytes per op kind, the largest entries, and the bytes freed with it.
///   std::cout << tapegrad::memory_report(tape);
inline MemoryReport memory_report(const GradientTape& tape) {
  return memory_report(std::vector<const GradientTape*>{&tape});
}

/// An aligned table: totals, one row per tape when there are several, per op kind, and the
/// largest entries.
#if TAPEGRAD_HEADER_DEFINITIONS
TAPEGRAD_PRECOMPILED_INLINE std::ostream& operator<<(std::ostream& out, const MemoryReport& r) {
  using detail::byte_text;
  std::ostringstream s;
  s << "tensor bytes held: " << byte_text(r.held_bytes) << " (" << byte_text(r.freed_bytes)
    << " freed with the tape" << (r.tapes.size() > 1 ? "s" : "") << ", "
    << byte_text(r.outside_bytes) << " also held elsewhere";
  if (r.tapes.size() > 1) s << ", " << byte_text(r.shared_bytes) << " shared between the tapes";
  s << ")\n";
  std::size_t entries = 0, record = 0;
  for (const auto& t : r.tapes) entries += t.entries, record += t.record_bytes;
  s << "record: " << entries << " entries, " << byte_text(record) << "\n";
  if (r.tapes.size() > 1) {
    s << "\n"
      << std::left << std::setw(10) << "tape" << std::right << std::setw(9) << "entries"
      << std::setw(12) << "held" << std::setw(12) << "own"
      << "\n";
    for (std::size_t k = 0; k < r.tapes.size(); ++k)
      s << std::left << std::setw(10) << k << std::right << std::setw(9) << r.tapes[k].entries
        << std::setw(12) << byte_text(r.tapes[k].held_bytes) << std::setw(12)
        << byte_text(r.tapes[k].own_bytes) << "\n";
  }
  std::size_t width = 2;
  for (const auto& row : r.by_op) width = std::max(width, row.op.size());
  for (const auto& row : r.largest) width = std::max(width, row.op.size());
  s << "\n"
    << std::left << std::setw(static_cast<int>(width)) << "op" << std::right << std::setw(9)
    << "entries" << std::setw(12) << "held" << std::setw(12) << "freed"
    << "\n";
  for (const auto& row : r.by_op)
    s << std::left << std::setw(static_cast<int>(width)) << row.op << std::right << std::setw(9)
      << row.entries << std::setw(12) << byte_text(row.held_bytes) << std::setw(12)
      << byte_text(row.freed_bytes) << "\n";
  if (!r.largest.empty()) {
    std::size_t shape_width = 5, where_width = 4;
    for (const auto& e : r.largest) {
      shape_width = std::max(shape_width, e.shape.size());
      where_width = std::max(where_width, e.where.size());
    }
    s << "\nlargest entries\n"
      << std::left << std::setw(static_cast<int>(width)) << "op"
      << "  " << std::setw(static_cast<int>(shape_width)) << "shape"
      << "  " << std::setw(static_cast<int>(where_width)) << "line" << std::right << std::setw(12)
      << "held" << std::setw(12) << "freed"
      << "\n";
    for (const auto& e : r.largest)
      s << std::left << std::setw(static_cast<int>(width)) << e.op << "  "
        << std::setw(static_cast<int>(shape_width)) << e.shape << "  "
        << std::setw(static_cast<int>(where_width)) << e.where << std::right << std::setw(12)
        << byte_text(e.held_bytes) << std::setw(12) << byte_text(e.freed_bytes) << "\n";
  }
  return out << s.str();
}
#else
std::ostream& operator<<(std::ostream& out, const MemoryReport& r);
#endif

}  // namespace tapegrad
