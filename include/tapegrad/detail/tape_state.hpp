#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tapegrad/detail/chunked_vector.hpp"
#include "tapegrad/detail/op_definition.hpp"
#include "tapegrad/detail/tensor_impl.hpp"
#include "tapegrad/dtype.hpp"
#include "tapegrad/source_location.hpp"
#include "tapegrad/tensor.hpp"

namespace tapegrad::detail {

using NodeId = std::uint32_t;
constexpr NodeId no_node = 0xffffffffu;
constexpr int max_op_inputs = 3;
/// How deeply tapes may nest on one thread (a 64th derivative is deep enough).
constexpr int max_nested_tapes = 64;

struct Entry;

// NOTE [ Saved tensors are stored typed ]
// A backward reads its saved tensors as `const Tensor<T>&`. Storing them as the Tensor<T>
// they are (in a union of the element types) lets it do so without copying a handle, which
// would cost an atomic increment and decrement per tensor per op. The union is one pointer
// wide: every Tensor<T> is a standard-layout class whose only member is its ImplRef, so the
// handle sits at the SavedTensor's own address whichever member is active, and the tensor's
// own dtype says which member that is. An empty one holds an empty Tensor<float>.
class SavedTensor {
 public:
  SavedTensor() noexcept : f_() {}
  SavedTensor(const SavedTensor&) = delete;
  SavedTensor& operator=(const SavedTensor&) = delete;
  ~SavedTensor() { destroy(); }

  void set(const ImplRef& tensor) noexcept {
    reset();
    if (!tensor) return;
    f_.~Tensor();
    switch (tensor->dtype) {
      case DType::float32:
        new (&f_) Tensor<float>(tensor);
        break;
      case DType::float64:
        new (&d_) Tensor<double>(tensor);
        break;
      case DType::int32:
        new (&i_) Tensor<std::int32_t>(tensor);
        break;
      case DType::int64:
        new (&l_) Tensor<std::int64_t>(tensor);
        break;
      case DType::boolean:
        new (&b_) Tensor<bool>(tensor);
        break;
    }
  }
  void reset() noexcept {
    if (impl() == nullptr) return;
    destroy();
    new (&f_) Tensor<float>();
  }
  template <class T>
  const Tensor<T>& get() const {
    TAPEGRAD_ASSERT(impl() != nullptr && impl()->dtype == dtype_of<T>());
    if constexpr (std::is_same_v<T, float>)
      return f_;
    else if constexpr (std::is_same_v<T, double>)
      return d_;
    else if constexpr (std::is_same_v<T, std::int32_t>)
      return i_;
    else if constexpr (std::is_same_v<T, std::int64_t>)
      return l_;
    else
      return b_;
  }
  // The class, its union, the active Tensor<T> and its ImplRef share one address.
  const TensorImpl* impl() const noexcept { return reinterpret_cast<const ImplRef*>(this)->get(); }
  const TensorImpl* operator->() const noexcept { return impl(); }

 private:
  void destroy() noexcept {
    switch (impl() ? impl()->dtype : DType::float32) {
      case DType::float32:
        f_.~Tensor();
        break;
      case DType::float64:
        d_.~Tensor();
        break;
      case DType::int32:
        i_.~Tensor();
        break;
      case DType::int64:
        l_.~Tensor();
        break;
      case DType::boolean:
        b_.~Tensor();
        break;
    }
  }

  union {
    Tensor<float> f_;
    Tensor<double> d_;
    Tensor<std::int32_t> i_;
    Tensor<std::int64_t> l_;
    Tensor<bool> b_;
  };
};
static_assert(std::is_standard_layout_v<Tensor<float>> &&
              std::is_standard_layout_v<Tensor<double>> &&
              std::is_standard_layout_v<Tensor<std::int32_t>> &&
              std::is_standard_layout_v<Tensor<std::int64_t>> &&
              std::is_standard_layout_v<Tensor<bool>> && std::is_standard_layout_v<SavedTensor> &&
              sizeof(SavedTensor) == sizeof(void*));

/// What an entry holds beyond its one cache line: inputs from the third on, saved tensors from
/// the fourth on, attributes wider than a word, and a closure (a custom gradient's function).
/// From the block cache, so that a replayed step with one (a transpose's attributes, where's
/// third input) calls no malloc once warm (NOTE [ A replay's memory plan ]).
struct EntryExtra {
  NodeId third_input = no_node;  // input inline_inputs: a three-input op needs no vector
  std::vector<NodeId> inputs;    // node ids of inputs inline_inputs + 1, inline_inputs + 2, ...
  std::vector<ImplRef> saved;    // tensors saved beyond the first max_op_inputs
  std::shared_ptr<const void> closure;
  OpAttrs attrs;
  bool has_attrs = false;

  static void* operator new(std::size_t bytes) { return allocate_block(bytes); }
  static void operator delete(void* block, std::size_t bytes) noexcept { free_block(block, bytes); }

  /// The extra part an entry of these counts needs, or null; sized for set_input() and
  /// save(), so that filling the entry cannot throw.
  static std::unique_ptr<EntryExtra> make_if_needed(std::size_t n_inputs, std::size_t n_saved,
                                                    const OpAttrs& attrs,
                                                    const std::shared_ptr<const void>& closure);
};

constexpr std::size_t inline_inputs = 2;

// NOTE [ An entry is one cache line ]
// Recording writes an entry per op and the sweep reads them all back, so an entry is 64 bytes:
// the definition (whose backward the sweep calls), the output's node, two inputs' nodes, three
// saved tensors (a binary op saves both operands and its result), attributes of one word, and
// a pointer to whatever else an op needs (EntryExtra), null for nearly every op.
/// One recorded op, kept whole (NOTE [ Ops as data ]): its definition and attributes, which
/// nodes went in, which came out, and what its rules read.
struct Entry {
  Entry() : n_inputs(0), noted_only(0) {}

  const OpDefinition* definition = nullptr;
  NodeId output = no_node;
  std::uint32_t n_inputs : 31;
  // An op a paused tape noted (NOTE [ What a paused tape notes ]): a barrier, kept so that
  // explain() can name it.
  std::uint32_t noted_only : 1;

  /// The definition's backward, or null for a barrier: stop_gradient, or an op a paused tape
  /// noted. Gradients do not cross a barrier.
  BackwardFn backward() const { return noted_only ? nullptr : definition->backward; }
  const char* name() const { return definition->name; }

  NodeId input(std::size_t k) const {
    if (k < inline_inputs) return inputs_[k];
    return k == inline_inputs ? extra->third_input : extra->inputs[k - inline_inputs - 1];
  }
  /// Needs the extra part make_if_needed() gave for this many inputs.
  void set_input(std::size_t k, NodeId node) noexcept {
    if (k < inline_inputs) {
      inputs_[k] = node;
      return;
    }
    TAPEGRAD_ASSERT(extra != nullptr);
    (k == inline_inputs ? extra->third_input : extra->inputs[k - inline_inputs - 1]) = node;
  }
  /// Saved tensor k < max_op_inputs (those beyond are extra->saved).
  const SavedTensor& saved(std::size_t k) const { return saved_[k]; }
  /// Needs the extra part make_if_needed() gave for this many saved tensors.
  void save(std::size_t k, const ImplRef& tensor) noexcept {
    if (k < max_op_inputs) {
      saved_[k].set(tensor);
      return;
    }
    TAPEGRAD_ASSERT(extra != nullptr);
    extra->saved[k - max_op_inputs] = tensor;
  }
  OpAttrs attrs() const {
    return extra && extra->has_attrs ? extra->attrs : OpAttrs::from_word(attrs_word_);
  }
  /// Needs the extra part make_if_needed() gave for these attributes.
  void set_attrs(const OpAttrs& attrs) noexcept {
    if (attrs.fits_in_word()) {
      attrs_word_ = attrs.first_word();
      return;
    }
    TAPEGRAD_ASSERT(extra != nullptr);
    extra->attrs = attrs;
    extra->has_attrs = true;
  }

 private:
  NodeId inputs_[inline_inputs] = {no_node, no_node};
  SavedTensor saved_[max_op_inputs];
  std::uint64_t attrs_word_ = 0;

 public:
  std::unique_ptr<EntryExtra> extra;
};
static_assert(sizeof(void*) != 8 || sizeof(Entry) == 64, "an entry is one cache line");

inline std::unique_ptr<EntryExtra> EntryExtra::make_if_needed(
    std::size_t n_inputs, std::size_t n_saved, const OpAttrs& attrs,
    const std::shared_ptr<const void>& closure) {
  const bool wide_attrs = !attrs.fits_in_word();
  if (n_inputs <= inline_inputs && n_saved <= max_op_inputs && !closure && !wide_attrs)
    return nullptr;
  auto extra = std::make_unique<EntryExtra>();
  if (n_inputs > inline_inputs + 1) extra->inputs.assign(n_inputs - inline_inputs - 1, no_node);
  if (n_saved > max_op_inputs) extra->saved.resize(n_saved - max_op_inputs);
  extra->closure = closure;
  extra->has_attrs = wide_attrs;
  return extra;
}

/// The state behind a Variable: its current value, shared by every copy of the Variable.
// Shared (made by std::make_shared) so that a traced function can keep a weak reference to
// each variable it reads or assigns.
struct VariableState : std::enable_shared_from_this<VariableState> {
  mutable std::mutex mutex;  // guards `value` against concurrent reads and assigns
  ImplRef value;
  std::string name;
  bool trainable = true;
  DType dtype = DType::float32;
  // Which variable was made first: a tape lists its watched variables in construction order.
  const std::uint64_t serial = next_serial();

 private:
  static std::uint64_t next_serial() {
    static std::atomic<std::uint64_t> counter{0};
    return counter.fetch_add(1, std::memory_order_relaxed);
  }
};

/// The variable's current value, read under its lock.
inline ImplRef current_value(const VariableState& variable) {
  std::lock_guard<std::mutex> lock(variable.mutex);
  return variable.value;
}

/// While a custom gradient's forward runs, the variables it reads are collected here.
inline thread_local std::vector<std::shared_ptr<VariableState>>* variable_watcher = nullptr;

inline std::atomic<std::uint64_t> tape_id_clock{0};
inline std::uint64_t next_tape_id() {
  return tape_id_clock.fetch_add(1, std::memory_order_relaxed) + 1;
}
/// The latest id next_tape_id() gave (on any thread): every later one is larger.
inline std::uint64_t latest_tape_id() {
  return tape_id_clock.load(std::memory_order_relaxed);
}

struct ThreadTapes;
class PausedTape;

// NOTE [ Finding a tensor on a tape ]
// A tape knows a tensor as a node id. The output of an op recorded on the tape carries a
// TapeMark with that id, written when the op creates it, so the common lookup reads the
// header's one mark (nested tapes' further marks are out of line) and costs no hashing.
// watch() does not write into the tensor (another thread may be reading it); the tape keeps
// its own table of watched tensors,
// consulted only when the tensor carries no mark for this tape. Tape ids are never reused,
// so a mark left by a tape that has been reset or destroyed matches nothing.
class TapeState {
 public:
  TapeState(bool is_persistent, bool watches_accessed_variables)
      : id(next_tape_id()),
        persistent(is_persistent),
        watch_accessed_variables(watches_accessed_variables) {
    TAPEGRAD_COUNT(tapes, 1);
  }
  /// A barrier (NOTE [ Barriers on the tape stack ]): never records, and is not a tape.
  struct BarrierTag {};
  explicit TapeState(BarrierTag)
      : id(next_tape_id()), persistent(false), watch_accessed_variables(false), barrier(true) {
    paused = true;
  }
  ~TapeState() {
    if (barrier) return;
    TAPEGRAD_COUNT(tapes, -1);
    TAPEGRAD_COUNT(entries, -static_cast<std::int64_t>(entries.size()));
  }
  TapeState(const TapeState&) = delete;
  TapeState& operator=(const TapeState&) = delete;

  std::uint64_t id;
  std::vector<std::uint64_t> retired_ids;  // ids before the latest reset()s, newest last
  bool persistent;
  bool watch_accessed_variables;
  bool on_stack = false;        // pushed on its thread's stack and not stopped yet
  bool paused = false;          // inside a stop_recording() scope
  PausedTape* pause = nullptr;  // that scope's pause (pause_notes.hpp), while it lasts
  bool used = false;            // a non-persistent tape whose gradient() has run
  const bool barrier = false;
  int sweeps = 0;           // this tape's gradient() calls running now (a custom gradient
                            // function can call back into the tape)
  std::uint64_t stops = 0;  // stop() calls so far
  int listeners_below = 0;  // a barrier's: the listeners of the stack segment beneath it
  // When it was last pushed, on the clock of next_tape_id(): the ops a forward accumulator
  // runs for its tangents are recorded only by tapes pushed before it (NOTE [ Who sees a
  // tangent's ops ] in forward_accumulator.hpp).
  std::uint64_t pushed_serial = 0;
  TapeState* below = nullptr;
  ThreadTapes* owner = nullptr;

  ChunkedVector<Entry> entries;
  std::vector<std::int32_t> producer;  // node -> index of the entry that made it, -1 for a source
  std::unordered_map<const TensorImpl*, NodeId> watched_tensors;
  std::vector<ImplRef> watched_tensor_refs;  // keeps watched tensors (and so their addresses) alive
  std::unordered_map<const VariableState*, NodeId> variable_nodes;
  std::vector<std::shared_ptr<VariableState>> watched_variables;  // in order of watching

  bool recording() const { return on_stack && !paused; }

  NodeId find(const TensorImpl* tensor) const {
    const std::uint32_t marked_node = tensor->find_mark(id);
    if (marked_node != no_mark) return marked_node;
    if (!watched_tensors.empty()) {
      auto it = watched_tensors.find(tensor);
      if (it != watched_tensors.end()) return it->second;
    }
    return no_node;
  }
  NodeId find(const VariableState* variable) const {
    auto it = variable_nodes.find(variable);
    return it == variable_nodes.end() ? no_node : it->second;
  }

  NodeId new_node(std::int32_t producer_entry) {
    producer.push_back(producer_entry);
    return static_cast<NodeId>(producer.size() - 1);
  }

  void watch(const ImplRef& tensor) {
    if (find(tensor.get()) != no_node) return;
    reserve_one_more(watched_tensor_refs);
    const NodeId node = new_node(-1);
    try {
      watched_tensors.emplace(tensor.get(), node);
    } catch (...) {
      producer.pop_back();
      throw;
    }
    watched_tensor_refs.push_back(tensor);
  }
  NodeId watch(const std::shared_ptr<VariableState>& variable) {
    NodeId node = find(variable.get());
    if (node != no_node) return node;
    reserve_one_more(watched_variables);
    node = new_node(-1);
    try {
      variable_nodes.emplace(variable.get(), node);
    } catch (...) {
      producer.pop_back();
      throw;
    }
    watched_variables.push_back(variable);
    return node;
  }

  /// Room for one more element, so that the push_back after the map insert cannot throw
  /// (strong guarantee); growing geometrically keeps n watches O(n).
  template <class V>
  static void reserve_one_more(V& v) {
    if (v.size() == v.capacity()) v.reserve(v.size() < 8 ? 8 : 2 * v.size());
  }

  /// Forgets everything recorded and watched; a new id orphans every mark made so far.
  void clear() {
    if (retired_ids.size() == 16) retired_ids.erase(retired_ids.begin());
    retired_ids.push_back(id);
    TAPEGRAD_COUNT(entries, -static_cast<std::int64_t>(entries.size()));
    entries.clear();
    producer.clear();
    watched_tensors.clear();
    watched_tensor_refs.clear();
    variable_nodes.clear();
    watched_variables.clear();
    id = next_tape_id();
  }
};

/// The tapes active on one thread, innermost on top, and how many of them listen to ops
/// (recording, or paused by stop_recording(), which still notes what it did not record).
class OpObserver;
struct ThreadTapes {
  TapeState* top = nullptr;
  int recording = 0;
  // The observers installed on this thread (op_observer.hpp), the latest on top, each of
  // which counts in `recording`, so that every op reaches record(); `observing` counts those
  // that only watch (not anomaly mode, which sees the ops a backward runs).
  OpObserver* observer = nullptr;
  int observers = 0;
  int observing = 0;
  int hearing_backward = 0;  // observers that want the sweep's events (hears_backward())
  // While observers are installed and a sweep applies an entry's rules: that entry.
  struct BackwardStep {
    const TapeState* tape;
    std::size_t index;
  };
  const BackwardStep* backward_step = nullptr;
  // While a forward accumulator computes tangents: the tapes pushed, and the accumulators
  // made, after it (serial above jvp_limit) and before it began (up to jvp_resume) do not see
  // those ops (NOTE [ Who sees a tangent's ops ]).
  std::uint64_t jvp_limit = ~std::uint64_t{0};
  std::uint64_t jvp_resume = ~std::uint64_t{0};
  // While it computes tangents that nothing else sees (no older tape or other observer):
  // then JVP rules may run fused (NOTE [ One rule, two dialects ]).
  bool jvp_unobserved = false;
};

// Constant-initialised and trivially destructible, so reading it is a plain TLS load.
inline thread_local ThreadTapes thread_tapes;

/// The one check an op makes when no tape is active.
inline bool any_tape_recording() noexcept {
  return thread_tapes.recording != 0;
}

/// Whether something records the ops a backward runs (a tape, or an observer that sees them,
/// as anomaly mode): then a rule runs as recorded ops; otherwise as one fused expression
/// (NOTE [ One rule, two dialects ]). An observer that only watches does not count.
inline bool backward_is_recorded() noexcept {
  const ThreadTapes& tapes = thread_tapes;
  return tapes.recording != tapes.observing;
}

/// Whether a tape pushed, or a forward accumulator made, at `serial` (on the clock of
/// next_tape_id()) sees the ops running now (NOTE [ Who sees a tangent's ops ]).
inline bool sees_current_ops(std::uint64_t serial) noexcept {
  const ThreadTapes& tapes = thread_tapes;
  return serial <= tapes.jvp_limit || serial > tapes.jvp_resume;
}

/// Whether the ops a JVP rule runs now are seen by anything (NOTE [ Who sees a tangent's ops ]
/// in forward_accumulator.hpp): if not, the rule may compute in one fused expression.
inline bool jvp_is_recorded() noexcept {
  return !thread_tapes.jvp_unobserved;
}

/// Makes the location of a named op's call known while the op runs: to errors it throws
/// (NOTE [ Errors that name the caller's line ] in errors.hpp) and to anomaly mode. The
/// outermost op wins, so an op built from others reports the user's line. Costs one
/// thread-local test and a store.
class OpScope {
 public:
  explicit OpScope(const SourceLocation& where) noexcept {
    if (current_op_site == nullptr) {
      current_op_site = &where;
      owns_site_ = true;
    }
  }
  ~OpScope() {
    if (owns_site_) current_op_site = nullptr;
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  bool owns_site_ = false;
};

// NOTE [ Barriers on the tape stack ]
// A custom gradient's forward must not be recorded by the tapes already open, but the user's
// code in it may open tapes of its own, or stop, start, reset or destroy the outer ones. So
// the forward pushes a barrier instead of hiding the stack: a pseudo-tape that never records,
// where every walk that records (record(), read_variable()) stops. The
// listener count `recording` counts the segment above the innermost barrier (plus anomaly
// guards), so ops inside the forward stay on the fast path; each barrier keeps the count of
// the segment beneath it. Popping or reinserting a tape adjusts the count of its own segment,
// and removing a barrier merges the segments, so tapes opened in the forward and still alive
// after it simply become the top of the stack.

/// The barrier nearest above where a walk from the top meets `stop` (nullptr: none).
inline TapeState* barrier_above(ThreadTapes& tapes, const TapeState* stop) noexcept {
  TapeState* barrier = nullptr;
  for (TapeState* t = tapes.top; t && t != stop; t = t->below)
    if (t->barrier) barrier = t;
  return barrier;
}

inline void push_tape(TapeState& tape) {
  ThreadTapes& tapes = thread_tapes;
  tape.below = tapes.top;
  tape.owner = &tapes;
  tapes.top = &tape;
  tape.on_stack = true;
  tape.pushed_serial = next_tape_id();
  ++tapes.recording;
}

inline void pop_tape(TapeState& tape) noexcept {
  if (!tape.on_stack) return;
  ThreadTapes& tapes = *tape.owner;
  TapeState* const barrier = barrier_above(tapes, &tape);
  for (TapeState** link = &tapes.top; *link; link = &(*link)->below)
    if (*link == &tape) {
      *link = tape.below;
      break;
    }
  if (barrier)
    --barrier->listeners_below;
  else
    --tapes.recording;
  tape.on_stack = false;
  tape.below = nullptr;
}

/// Puts a tape back on its thread's stack directly above `below` (at the bottom if `below`
/// is no longer there): where it was before pop_tape().
inline void reinsert_tape(TapeState& tape, TapeState* below) noexcept {
  ThreadTapes& tapes = *tape.owner;
  TapeState* const barrier = barrier_above(tapes, below);
  TapeState** link = &tapes.top;
  while (*link && *link != below) link = &(*link)->below;
  tape.below = *link;
  *link = &tape;
  tape.on_stack = true;
  if (barrier)
    ++barrier->listeners_below;
  else
    ++tapes.recording;
}

/// Pushes a barrier: the tapes beneath it stop listening until pop_barrier().
inline void push_barrier(TapeState& barrier) noexcept {
  ThreadTapes& tapes = thread_tapes;
  barrier.listeners_below = tapes.recording - tapes.observers;
  tapes.recording = tapes.observers;
  barrier.below = tapes.top;
  barrier.owner = &tapes;
  tapes.top = &barrier;
  barrier.on_stack = true;
}

/// Removes a barrier; the segments above and beneath it become one.
inline void pop_barrier(TapeState& barrier) noexcept {
  ThreadTapes& tapes = *barrier.owner;
  // Barriers nest as the forwards that push them do, so none lies above this one.
  for (TapeState** link = &tapes.top; *link; link = &(*link)->below)
    if (*link == &barrier) {
      *link = barrier.below;
      break;
    }
  tapes.recording += barrier.listeners_below;
  barrier.on_stack = false;
  barrier.below = nullptr;
}

/// What every tape on this thread holds, so that a failed gradient() can undo what it
/// recorded (strong exception guarantee). A custom gradient function may destroy or reset a
/// tape before the failure, so restore() only touches tapes still on the stack under the id
/// they had.
class TapeStackSnapshot {
 public:
  TapeStackSnapshot() {
    for (TapeState* t = thread_tapes.top; t; t = t->below)
      if (!t->barrier) sizes_.push_back({t, t->id, t->entries.size(), t->producer.size()});
  }
  void restore() noexcept {
    for (TapeState* t = thread_tapes.top; t; t = t->below)
      for (const Sizes& s : sizes_)
        if (s.tape == t && s.id == t->id && t->entries.size() >= s.entries) {
          TAPEGRAD_COUNT(entries, static_cast<std::int64_t>(s.entries) -
                                      static_cast<std::int64_t>(t->entries.size()));
          t->entries.truncate(s.entries);
          t->producer.resize(s.nodes);
        }
  }

 private:
  struct Sizes {
    TapeState* tape;
    std::uint64_t id;
    std::size_t entries, nodes;
  };
  std::vector<Sizes> sizes_;
};

}  // namespace tapegrad::detail
