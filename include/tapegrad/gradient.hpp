#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/detail/kernels.hpp"
#include "tapegrad/detail/op_observer.hpp"
#include "tapegrad/detail/tape_state.hpp"
#include "tapegrad/ops/binary.hpp"

// The reverse sweep. Entries are already in execution order, so walking them backward visits
// every consumer of a node before the node's producer: by the time an entry runs, its
// output's gradient is complete. Nothing recurses, so a chain of any length is fine.
namespace tapegrad::detail {

/// a + b for two gradients of the same shape and floating dtype, recorded like any op.
inline ImplRef add_gradients(const ImplRef& a, const ImplRef& b) {
  return dispatch_floating(a->dtype, [&](auto zero) {
    using T = decltype(zero);
    return apply_binary<Add>(Tensor<T>(a), Tensor<T>(b)).impl();
  });
}

/// Gradients of sum_i <seeds[i], targets[i]> with respect to each source node (empty where
/// there is none). Only entries on a path from a source to a target run their backward.
#if TAPEGRAD_HEADER_DEFINITIONS
TAPEGRAD_PRECOMPILED_INLINE std::vector<ImplRef> reverse_sweep(TapeState& tape,
                                                               const std::vector<NodeId>& targets,
                                                               const std::vector<ImplRef>& seeds,
                                                               const std::vector<NodeId>& sources) {
  const std::size_t n_nodes = tape.producer.size();
  std::vector<ImplRef> results(sources.size());

  // Forward pass: which nodes depend on a source. Entries recorded into this tape while the
  // sweep runs (a persistent tape that still records) have larger indices and are ignored.
  std::vector<std::uint8_t> depends(n_nodes, 0);
  bool any_source = false;
  for (NodeId s : sources)
    if (s != no_node) depends[s] = 1, any_source = true;
  std::int64_t last = -1;
  for (NodeId t : targets)
    if (t != no_node && tape.producer[t] > last) last = tape.producer[t];
  if (!any_source) return results;
  for (std::int64_t i = 0; i <= last; ++i) {
    const Entry& e = tape.entries[static_cast<std::size_t>(i)];
    if (!e.backward()) continue;  // a barrier: its output depends on nothing
    for (std::uint32_t k = 0; k < e.n_inputs; ++k)
      if (e.input(k) != no_node && depends[e.input(k)]) {
        depends[e.output] = 1;
        break;
      }
  }

  std::vector<ImplRef> grads(n_nodes);
  for (std::size_t i = 0; i < targets.size(); ++i)
    if (targets[i] != no_node && depends[targets[i]])
      grads[targets[i]] = grads[targets[i]] ? add_gradients(grads[targets[i]], seeds[i]) : seeds[i];

  std::vector<std::uint8_t> is_source(n_nodes, 0);
  for (NodeId s : sources)
    if (s != no_node) is_source[s] = 1;

  // For an observer: the sources on the tape in the order their gradients become final, which
  // is when the sweep has passed the first entry that reads them, or at once for a source that
  // no entry reads (NOTE [ The op observer ]).
  const bool heard = thread_tapes.hearing_backward != 0;
  std::vector<std::pair<std::int64_t, std::size_t>> finals;  // (entry index, source)
  std::size_t n_final = 0;
  if (TAPEGRAD_UNLIKELY(heard)) {
    std::vector<std::int64_t> first_reader(n_nodes, -1);
    for (std::int64_t i = 0; i <= last; ++i) {
      const Entry& e = tape.entries[static_cast<std::size_t>(i)];
      for (std::uint32_t k = 0; k < e.n_inputs; ++k) {
        const NodeId in = e.input(k);
        if (in != no_node && is_source[in] && first_reader[in] < 0) first_reader[in] = i;
      }
    }
    for (std::size_t j = 0; j < sources.size(); ++j) {
      if (sources[j] == no_node) continue;  // gradient() decides it after the sweep
      const std::int64_t reader = first_reader[sources[j]];
      finals.push_back({reader >= 0 ? reader : last + 1, j});
    }
    std::stable_sort(finals.begin(), finals.end(),
                     [](const auto& x, const auto& y) { return x.first > y.first; });
  }
  auto report_finals_above = [&](std::int64_t index) {
    for (; n_final < finals.size() && finals[n_final].first > index; ++n_final) {
      const std::size_t j = finals[n_final].second;
      for_each_observer([&](OpObserver& o) { o.on_source_gradient(tape, j, grads[sources[j]]); });
    }
  };

  bool small_needs[max_op_inputs];
  ImplRef small_grads[max_op_inputs];
  std::unique_ptr<bool[]> large_needs;
  std::vector<ImplRef> large_grads;
  for (std::int64_t i = last; i >= 0; --i) {
    const Entry& e = tape.entries[static_cast<std::size_t>(i)];
    if (TAPEGRAD_UNLIKELY(heard)) report_finals_above(i);
    const BackwardFn backward = e.backward();
    if (!grads[e.output] || !backward) continue;  // no gradient here, or a barrier
    bool* needs = small_needs;
    ImplRef* input_grads = small_grads;
    if (e.n_inputs > max_op_inputs) {
      large_needs = std::make_unique<bool[]>(e.n_inputs);
      large_grads.assign(e.n_inputs, ImplRef());
      needs = large_needs.get();
      input_grads = large_grads.data();
    }
    bool any = false;
    for (std::uint32_t k = 0; k < e.n_inputs; ++k) {
      const NodeId in = e.input(k);
      needs[k] = in != no_node && depends[in];
      any = any || needs[k];
    }
    ImplRef grad = is_source[e.output] ? grads[e.output] : std::move(grads[e.output]);
    if (!any) continue;
    if (TAPEGRAD_LIKELY(thread_tapes.hearing_backward == 0)) {  // one may come mid-sweep
      backward(e, std::move(grad), needs, input_grads);
    } else {
      // Ops the rules run know which entry they differentiate (anomaly mode blames it).
      const ThreadTapes::BackwardStep step{&tape, static_cast<std::size_t>(i)};
      const ThreadTapes::BackwardStep* const outer = thread_tapes.backward_step;
      struct Restore {
        const ThreadTapes::BackwardStep* outer;
        ~Restore() { thread_tapes.backward_step = outer; }
      } restore{outer};
      for_each_observer([&](OpObserver& o) {
        o.on_backward_step(tape, step.index);
        o.before_rule(tape, step.index, grad, needs);
      });
      thread_tapes.backward_step = &step;
      backward(e, std::move(grad), needs, input_grads);
      thread_tapes.backward_step = outer;
      for_each_observer(
          [&](OpObserver& o) { o.after_backward_step(tape, step.index, needs, input_grads); });
    }
    for (std::uint32_t k = 0; k < e.n_inputs; ++k) {
      if (!needs[k] || !input_grads[k]) continue;
      ImplRef& slot = grads[e.input(k)];
      slot = slot ? add_gradients(slot, input_grads[k]) : std::move(input_grads[k]);
      input_grads[k].reset();
    }
  }
  if (TAPEGRAD_UNLIKELY(heard)) report_finals_above(-2);
  for (std::size_t i = 0; i < sources.size(); ++i)
    if (sources[i] != no_node) results[i] = grads[sources[i]];
  return results;
}
#else
std::vector<ImplRef> reverse_sweep(TapeState& tape, const std::vector<NodeId>& targets,
                                   const std::vector<ImplRef>& seeds,
                                   const std::vector<NodeId>& sources);
#endif

}  // namespace tapegrad::detail
