#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
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
  SourceLocation where;  // the user's call, where the op knew it (file null otherwise)
  bool noted = false;
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

  /// What was noted about entry `index` of the tape whose id is `tape_id` (noted = false if
  /// nothing was).
  const OpDetail& of(std::uint64_t tape_id, std::size_t index) const {
    static const OpDetail nothing_noted;
    auto it = observer_.details.find(tape_id);
    if (it == observer_.details.end() || index >= it->second.size()) return nothing_noted;
    return it->second[index];
  }

  /// The TapeDetails alive on this thread (the latest made), or null.
  static const TapeDetails* current() {
    const TapeDetails* found = nullptr;
    detail::for_each_observer([&](detail::OpObserver& o) {
      if (found == nullptr)
        if (auto* notes = dynamic_cast<Observer*>(&o)) found = notes->owner;
    });
    return found;
  }

 private:
  struct Observer final : detail::OpObserver {
    explicit Observer(TapeDetails* noting_for) : owner(noting_for) {}
    bool hears_backward() const override { return false; }
    void on_op(const detail::OpCall& call) override {
      if (!call.recorded) return;
      try {
        OpDetail d;
        d.shape = call.output->shape;
        d.dtype = call.output->dtype;
        if (detail::current_op_site != nullptr) d.where = *detail::current_op_site;
        d.noted = true;
        for (int k = 0; k < call.n_tapes; ++k) {
          std::vector<OpDetail>& notes = details[call.tapes[k]->id];
          if (notes.size() <= call.entries[k]) notes.resize(call.entries[k] + 1);
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
