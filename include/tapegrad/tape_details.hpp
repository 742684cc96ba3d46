#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "tapegrad/detail/op_observer.hpp"
#include "tapegrad/dtype.hpp"
#include "tapegrad/shape.hpp"
#include "tapegrad/source_location.hpp"

// NOTE [ What an entry does not keep ]
// A tape's entry keeps what the sweep needs: the op, its input and output nodes, what its
// rules read. The output tensor itself, its shape and the line that called the op are not
// needed to differentiate, and keeping them would cost every recorded op a Shape (72 bytes)
// and a location. Pictures and memory reports want them, so a TapeDetails observer notes
// them, while it lives, for each op a tape records; to_dot() and memory_report() look for it
// on the calling thread and say "?" where nothing was noted.
namespace tapegrad {

/// What a TapeDetails noted about one recorded op.
struct OpDetail {
  Shape shape;  // the output's
  DType dtype = DType::float32;
  std::string file;  // the user's call, where the op knew it (empty otherwise)
  int line = 0;
  bool noted = false;
  // Which entry it describes: a failed call removes its entries again, and a later op may take
  // the same index without being noted (a paused tape's note).
  const void* definition = nullptr;
  std::uint32_t output = 0;
};

/// While alive, notes for each op that this thread's tapes record the output's shape and
/// dtype and the line that called it, for to_dot() and memory_report() (NOTE [ What an entry
/// does not keep ]). Make it before the ops to describe; it must end on its thread.
///   tapegrad::TapeDetails details;   tapegrad::GradientTape tape;   ...
///   std::cout << tapegrad::memory_report(tape);   // names shapes and lines
class TapeDetails {
 public:
  TapeDetails() : scope_(observer_) {}
  TapeDetails(const TapeDetails&) = delete;
  TapeDetails& operator=(const TapeDetails&) = delete;

  /// What was noted about entry `index` of `tape` (null if nothing was).
  const OpDetail* of(const detail::TapeState& tape, std::size_t index) const {
    auto it = observer_.details.find(tape.id);
    if (it == observer_.details.end() || index >= it->second.size()) return nullptr;
    const OpDetail& d = it->second[index];
    const detail::Entry& e = tape.entries[index];
    return d.noted && d.definition == e.definition && d.output == e.output ? &d : nullptr;
  }

  /// What any TapeDetails alive on this thread noted about entry `index` of `tape` (noted =
  /// false if none did).
  static const OpDetail& noted(const detail::TapeState& tape, std::size_t index) {
    static const OpDetail nothing_noted;
    const OpDetail* found = nullptr;
    detail::for_each_observer([&](detail::OpObserver& o) {
      if (found == nullptr)
        if (auto* notes = dynamic_cast<Observer*>(&o)) found = notes->owner->of(tape, index);
    });
    return found ? *found : nothing_noted;
  }

 private:
  struct Observer final : detail::OpObserver {
    explicit Observer(TapeDetails* noting_for) : owner(noting_for) {}
    bool hears_backward() const override { return false; }
    void on_op(const detail::OpCall& call) override {
      if (!call.recorded) return;
      try {
        OpDetail d;
        d.shape = call.output->shape();
        d.dtype = call.output->dtype;
        // Copied: a SourceLocation may point at a caller's string that will be gone.
        if (const SourceLocation* where = detail::current_op_site; where && where->file) {
          d.file = where->file;
          d.line = where->line;
        }
        d.noted = true;
        d.definition = &call.definition;
        for (int k = 0; k < call.n_tapes; ++k) {
          const detail::TapeState& tape = *call.tapes[k];
          std::vector<OpDetail>& notes = details[tape.id];
          if (notes.size() <= call.entries[k]) notes.resize(call.entries[k] + 1);
          d.output = tape.entries[call.entries[k]].output;
          notes[call.entries[k]] = d;
        }
      } catch (const std::bad_alloc&) {
        // The tapes have recorded the op: a missing detail beats failing it.
      }
    }
    void on_tape_retired(std::uint64_t tape_id) noexcept override { details.erase(tape_id); }

    TapeDetails* owner;
    std::unordered_map<std::uint64_t, std::vector<OpDetail>> details;  // tape id, entry index
  };

  Observer observer_{this};
  detail::ObserverScope scope_;
};

}  // namespace tapegrad
