#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapegrad/replay/program.hpp"
#include "tapegrad/replay/tracer.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/warning.hpp"

// NOTE [ Record once, replay many ]
// tapegrad::function(f), in the spirit of tf.function: the first call with a given signature
// (each argument's element type and shape) runs f eagerly and traces it (NOTE [ Tracing a
// function ]); later calls with that signature replay the traced program on the new
// arguments: no tape, no recording, just the op kernels, the steps of a gradient's sweep,
// the variable reads and the updates, in the traced order; elementwise steps run flat on
// buffers planned at trace time (NOTE [ A replay's memory plan ]). The values are
// those of the eager call, bit for bit: a replay runs the kernels the eager ops run (every
// op's forward is the op itself, NOTE [ Ops as data ]), applies each backward step with the
// rules the eager sweep applied (NOTE [ Rules as one step ]), and reductions sum in a fixed
// order (NOTE [ Sums in a fixed order ]).
//
// What is frozen: anything f reads that is not an argument, an op's result or a variable read
// (a captured tensor, a host number that became a constant, the branch an `if` on host state
// took). Put a value that changes between calls in a Variable, which every replay reads.
//
// Under anything that watches ops (a recording tape, a forward accumulator, anomaly mode, a
// trace of another function, a custom gradient's forward) the call runs f eagerly, so that
// they see every op and differentiate through it as they would without the function.
namespace tapegrad {

/// Limits of a traced function's cache.
struct FunctionOptions {
  /// Traces kept, one per signature; the least recently used goes when a new one comes.
  std::size_t max_traces = 16;
  /// Traces after which a warning says (once) that the signature keeps changing.
  std::size_t warn_after_traces = 5;
};

namespace detail {

template <class R>
struct TracedOutputs {
  static_assert(sizeof(R) == 0,
                "tapegrad::function: f must return void, a Tensor, a std::vector of Tensors, or "
                "a std::pair or std::tuple of those");
};
template <class T>
struct TracedOutputs<Tensor<T>> {
  static void flatten(const Tensor<T>& x, std::vector<ImplRef>& out, std::vector<std::size_t>&) {
    out.push_back(x.impl());
  }
  static Tensor<T> rebuild(std::vector<ImplRef>& values, std::size_t& next,
                           const std::vector<std::size_t>&, std::size_t&) {
    return Tensor<T>(std::move(values[next++]));
  }
};
template <class T>
struct TracedOutputs<std::vector<Tensor<T>>> {
  static void flatten(const std::vector<Tensor<T>>& xs, std::vector<ImplRef>& out,
                      std::vector<std::size_t>& lengths) {
    lengths.push_back(xs.size());
    for (const Tensor<T>& x : xs) out.push_back(x.impl());
  }
  static std::vector<Tensor<T>> rebuild(std::vector<ImplRef>& values, std::size_t& next,
                                        const std::vector<std::size_t>& lengths,
                                        std::size_t& next_length) {
    std::vector<Tensor<T>> xs;
    const std::size_t n = lengths[next_length++];
    for (std::size_t k = 0; k < n; ++k) xs.emplace_back(std::move(values[next++]));
    return xs;
  }
};
template <class... R>
struct TracedOutputs<std::tuple<R...>> {
  static void flatten(const std::tuple<R...>& xs, std::vector<ImplRef>& out,
                      std::vector<std::size_t>& lengths) {
    std::apply([&](const auto&... x) { (TracedOutputs<R>::flatten(x, out, lengths), ...); }, xs);
  }
  static std::tuple<R...> rebuild(std::vector<ImplRef>& values, std::size_t& next,
                                  const std::vector<std::size_t>& lengths,
                                  std::size_t& next_length) {
    // Braces: the elements are rebuilt in order.
    return std::tuple<R...>{TracedOutputs<R>::rebuild(values, next, lengths, next_length)...};
  }
};
template <class A, class B>
struct TracedOutputs<std::pair<A, B>> {
  static void flatten(const std::pair<A, B>& x, std::vector<ImplRef>& out,
                      std::vector<std::size_t>& lengths) {
    TracedOutputs<A>::flatten(x.first, out, lengths);
    TracedOutputs<B>::flatten(x.second, out, lengths);
  }
  static std::pair<A, B> rebuild(std::vector<ImplRef>& values, std::size_t& next,
                                 const std::vector<std::size_t>& lengths,
                                 std::size_t& next_length) {
    A first = TracedOutputs<A>::rebuild(values, next, lengths, next_length);
    return {std::move(first), TracedOutputs<B>::rebuild(values, next, lengths, next_length)};
  }
};

template <class X>
inline constexpr bool is_tensor_v = false;
template <class T>
inline constexpr bool is_tensor_v<Tensor<T>> = true;

/// How a traced function's argument of type X enters the trace: a Tensor is one argument
/// slot, a std::vector of Tensors one per element (its length is part of the signature).
template <class X>
struct TracedArgument {
  static constexpr bool supported = false;
};
template <class T>
struct TracedArgument<Tensor<T>> {
  static constexpr bool supported = true;
  static std::size_t count(const Tensor<T>&) { return 1; }
  static void check(const Tensor<T>& x, std::size_t position) {
    TAPEGRAD_CHECK(x.has_value(), value_error, "function: argument ", position,
                   " has no value (a gradient that does not exist, TensorFlow's None)");
  }
  static void add_signature(const Tensor<T>& x, std::vector<std::int64_t>& signature) {
    signature.push_back(static_cast<std::int64_t>(x.dtype()));
    signature.push_back(x.rank());
    for (std::int64_t d : x.shape()) signature.push_back(d);
  }
  /// Whether x is what `signature` holds from `at` on (which it then passes).
  static bool matches(const Tensor<T>& x, const std::vector<std::int64_t>& signature,
                      std::size_t& at) {
    if (at + 2 + static_cast<std::size_t>(x.rank()) > signature.size() ||
        signature[at] != static_cast<std::int64_t>(x.dtype()) || signature[at + 1] != x.rank())
      return false;
    at += 2;
    for (std::int64_t d : x.shape())
      if (signature[at++] != d) return false;
    return true;
  }
  static void add_refs(const Tensor<T>& x, const ImplRef**& out) { *out++ = &x.impl(); }
  /// The argument f gets while traced: `given`'s counterpart among `refs`, from `next` on.
  static Tensor<T> rebuild(const Tensor<T>&, const std::vector<ImplRef>& refs, std::size_t& next) {
    return Tensor<T>(refs[next++]);
  }
};
template <class T>
struct TracedArgument<std::vector<Tensor<T>>> {
  using Element = TracedArgument<Tensor<T>>;
  static constexpr bool supported = true;
  static std::size_t count(const std::vector<Tensor<T>>& xs) { return xs.size(); }
  static void check(const std::vector<Tensor<T>>& xs, std::size_t position) {
    for (std::size_t k = 0; k < xs.size(); ++k)
      TAPEGRAD_CHECK(xs[k].has_value(), value_error, "function: element ", k, " of argument ",
                     position, " has no value (a gradient that does not exist, TensorFlow's None)");
  }
  static void add_signature(const std::vector<Tensor<T>>& xs,
                            std::vector<std::int64_t>& signature) {
    signature.push_back(-1 - static_cast<std::int64_t>(xs.size()));  // not a dtype
    signature.push_back(static_cast<std::int64_t>(dtype_of<T>()));   // even with no elements
    for (const Tensor<T>& x : xs) Element::add_signature(x, signature);
  }
  static bool matches(const std::vector<Tensor<T>>& xs, const std::vector<std::int64_t>& signature,
                      std::size_t& at) {
    if (at + 1 >= signature.size() || signature[at] != -1 - static_cast<std::int64_t>(xs.size()) ||
        signature[at + 1] != static_cast<std::int64_t>(dtype_of<T>()))
      return false;
    at += 2;
    for (const Tensor<T>& x : xs)
      if (!Element::matches(x, signature, at)) return false;
    return true;
  }
  static void add_refs(const std::vector<Tensor<T>>& xs, const ImplRef**& out) {
    for (const Tensor<T>& x : xs) *out++ = &x.impl();
  }
  static std::vector<Tensor<T>> rebuild(const std::vector<Tensor<T>>& given,
                                        const std::vector<ImplRef>& refs, std::size_t& next) {
    std::vector<Tensor<T>> xs;
    xs.reserve(given.size());
    for (std::size_t k = 0; k < given.size(); ++k) xs.emplace_back(refs[next++]);
    return xs;
  }
};

/// Whether something on this thread must see the call's ops one by one: then it runs eagerly.
inline bool ops_are_watched() noexcept {
  return any_tape_recording() || variable_watcher != nullptr || trace_hooks != nullptr;
}

}  // namespace detail

/// How often a traced function has traced, replayed and run eagerly (under a tape).
struct FunctionStats {
  std::size_t traces = 0;
  std::size_t replays = 0;
  std::size_t eager_calls = 0;
};

/// A function traced on its first call with each signature and replayed after (NOTE [ Record
/// once, replay many ]). Copies share the traces. Thread-safe: threads may call it at once
/// (a function that draws from one captured Generator races on it, as eager calls would).
///   auto step = tapegrad::function([&](const Tensor<float>& x, const Tensor<float>& y) {...});
template <class F>
class Function {
 public:
  explicit Function(F f, FunctionOptions options = {})
      : f_(std::move(f)), shared_(std::make_shared<Shared>()) {
    shared_->options = options;
  }

  /// Calls f on tensors (each argument a Tensor or a std::vector of Tensors): replays its
  /// trace for these arguments' types and shapes, or traces.
  template <class... X>
  auto operator()(const X&... args) const {
    static_assert((detail::TracedArgument<X>::supported && ...),
                  "tapegrad::function: arguments must be Tensors or std::vectors of Tensors. "
                  "Capture other values in f (frozen when it is traced), or read them from a "
                  "Variable (read at each call)");
    using R = std::invoke_result_t<const F&, const X&...>;
    std::size_t position = 0;
    (detail::TracedArgument<X>::check(args, position++), ...);
    if (detail::ops_are_watched()) {
      shared_->eager_calls.fetch_add(1, std::memory_order_relaxed);
      return f_(args...);
    }
    if (std::shared_ptr<const detail::TracedProgram> program = find(args...)) {
      shared_->replays.fetch_add(1, std::memory_order_relaxed);
      constexpr bool tensors_only = (detail::is_tensor_v<X> && ...);
      const detail::ImplRef* few[tensors_only ? sizeof...(X) + 1 : 1];
      detail::Pooled<std::vector<const detail::ImplRef*>> many;
      const detail::ImplRef** arguments = few;
      if constexpr (!tensors_only) {
        (*many).resize((detail::TracedArgument<X>::count(args) + ... + 1));
        arguments = (*many).data();
      }
      const detail::ImplRef** next_argument = arguments;
      (detail::TracedArgument<X>::add_refs(args, next_argument), ...);
      detail::Pooled<std::vector<detail::ImplRef>> outputs;
      detail::replay(*program, arguments, *outputs);
      if constexpr (!std::is_void_v<R>) {
        std::size_t next = 0, next_length = 0;
        return detail::TracedOutputs<R>::rebuild(*outputs, next, program->output_lengths,
                                                 next_length);
      }
    } else {
      return trace<R>(signature_of(args...), args...);
    }
  }

  /// Traces, replays and eager calls so far.
  FunctionStats stats() const {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    return FunctionStats{shared_->traces, shared_->replays.load(std::memory_order_relaxed),
                         shared_->eager_calls.load(std::memory_order_relaxed)};
  }
  /// How many times f has been traced (one per new signature, and after an eviction).
  std::size_t trace_count() const { return stats().traces; }
  /// The trace for these arguments' signature, if there is one (for tests and tools).
  template <class... X>
  std::shared_ptr<const detail::TracedProgram> program_for(const X&... args) const {
    return find(args...);
  }

 private:
  struct Trace {
    std::vector<std::int64_t> signature;
    std::shared_ptr<const detail::TracedProgram> program;
    std::uint64_t last_used;
  };
  struct Shared {
    mutable std::mutex mutex;
    FunctionOptions options;
    std::vector<Trace> traces_kept;
    std::uint64_t clock = 0;
    std::size_t traces = 0;
    bool warned = false;
    std::atomic<std::size_t> replays{0};
    std::atomic<std::size_t> eager_calls{0};
  };

  template <class... X>
  static std::vector<std::int64_t> signature_of(const X&... args) {
    std::vector<std::int64_t> signature;
    (detail::TracedArgument<X>::add_signature(args, signature), ...);
    return signature;
  }

  /// Whether `signature` is that of `args` (compared in place: a replay allocates nothing).
  template <class... X>
  static bool matches(const std::vector<std::int64_t>& signature, const X&... args) {
    std::size_t at = 0;
    return (detail::TracedArgument<X>::matches(args, signature, at) && ...) &&
           at == signature.size();
  }

  template <class... X>
  std::shared_ptr<const detail::TracedProgram> find(const X&... args) const {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    for (Trace& t : shared_->traces_kept)
      if (matches(t.signature, args...)) {
        t.last_used = ++shared_->clock;
        return t.program;
      }
    return nullptr;
  }

  template <class R, class... X>
  R trace(const std::vector<std::int64_t>& signature, const X&... args) const {
    // Headers of their own, so that each argument is a value of its own even when the caller
    // passes one tensor twice (NOTE [ Tracing a function ]).
    std::vector<const detail::ImplRef*> given((detail::TracedArgument<X>::count(args) + ... + 0));
    const detail::ImplRef** next_given = given.data();
    (detail::TracedArgument<X>::add_refs(args, next_given), ...);
    std::vector<detail::ImplRef> own;
    for (const detail::ImplRef* x : given)
      own.push_back(detail::ImplRef::adopt(detail::allocate_alias(x->get(), (*x)->shape())));
    detail::Tracer tracer(own);
    std::vector<detail::ImplRef> outputs;
    std::vector<std::size_t> lengths;
    std::shared_ptr<detail::TracedProgram> program;
    if constexpr (std::is_void_v<R>) {
      {
        detail::TraceScope scope(tracer);
        call_on(own, args...);
      }
      program = tracer.finish(outputs, std::move(lengths));
      keep(signature, std::move(program));
    } else {
      R result = [&] {
        detail::TraceScope scope(tracer);
        return call_on(own, args...);
      }();
      detail::TracedOutputs<R>::flatten(result, outputs, lengths);
      program = tracer.finish(outputs, std::move(lengths));
      const std::vector<std::size_t> output_lengths = program->output_lengths;
      keep(signature, std::move(program));
      // An argument returned as it is comes back as the caller's own tensor, as from a replay.
      for (detail::ImplRef& out : outputs)
        for (std::size_t k = 0; k < own.size(); ++k)
          if (out && out.get() == own[k].get()) out = *given[k];
      std::size_t next = 0, next_length = 0;
      return detail::TracedOutputs<R>::rebuild(outputs, next, output_lengths, next_length);
    }
  }

  /// f on the arguments made of `own`'s headers, shaped as `args` (braces: built in order).
  template <class... X>
  decltype(auto) call_on(const std::vector<detail::ImplRef>& own, const X&... args) const {
    std::size_t next = 0;
    const std::tuple<X...> traced{detail::TracedArgument<X>::rebuild(args, own, next)...};
    return std::apply(f_, traced);
  }

  void keep(const std::vector<std::int64_t>& signature,
            std::shared_ptr<const detail::TracedProgram> program) const {
    std::size_t traces = 0;
    bool warn_now = false;
    {
      std::lock_guard<std::mutex> lock(shared_->mutex);
      std::vector<Trace>& kept = shared_->traces_kept;
      kept.erase(std::remove_if(kept.begin(), kept.end(),
                                [&](const Trace& t) { return t.signature == signature; }),
                 kept.end());
      if (kept.size() >= std::max<std::size_t>(shared_->options.max_traces, 1))
        kept.erase(std::min_element(kept.begin(), kept.end(), [](const Trace& a, const Trace& b) {
          return a.last_used < b.last_used;
        }));
      kept.push_back(Trace{signature, std::move(program), ++shared_->clock});
      traces = ++shared_->traces;
      warn_now = !shared_->warned && traces > shared_->options.warn_after_traces;
      shared_->warned = shared_->warned || warn_now;
    }
    if (warn_now)
      warn("function: traced " + std::to_string(traces) +
           " times: each new signature (argument types and shapes) traces again, which costs "
           "an eager call and more. Give the arguments fixed shapes (pad a last short batch), "
           "or call f directly where shapes change every call");
  }

  F f_;
  std::shared_ptr<Shared> shared_;
};

/// Traces `f` on its first call with each signature and replays it after (tf.function).
///   auto step = tapegrad::function([&](const Tensor<float>& x) { return tapegrad::sin(x); });
///   Tensor<float> y = step(x);  // traces; a later step(x2) with x2's shape replays
template <class F>
Function<F> function(F f, FunctionOptions options = {}) {
  return Function<F>(std::move(f), options);
}

}  // namespace tapegrad
