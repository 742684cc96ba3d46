#pragma once

#include <memory>
#include <vector>

#include "tapegrad/detail/check.hpp"
#include "tapegrad/detail/kernels.hpp"
#include "tapegrad/detail/op_observer.hpp"
#include "tapegrad/detail/tape_state.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/gradient.hpp"
#include "tapegrad/ops/binary.hpp"
#include "tapegrad/ops/reduce.hpp"

// NOTE [ A tangent from the backward rule ]
// An op whose definition has no JVP (a custom gradient, whose forward is the user's code, or
// a user-defined op) still gets a tangent, from its backward rule alone, as TensorFlow does:
// the rule computes u = J^T g, linear in the cotangent g; then <u, t> = <g, J t>, so J t is the
// gradient of <u, t> with respect to g. A local tape watches a dummy g (ones, so that no rule
// meets the zero-upstream special cases) while the rule runs, and its sweep gives J t. It
// costs about two backward passes of the op, so the built-in ops write their JVP directly;
// this is what keeps "every op has a tangent" true without a special case.
namespace tapegrad::detail {

/// jvp_by_double_vjp for an output of element type T, once its entry is built. A function
/// template of its own, so that the precompiled part (NOTE [ The precompiled part ]) can hold
/// it and a program that never takes such a tangent does not compile it.
template <class T>
ImplRef double_vjp_tangent(const OpDefinition& op, const Entry& entry, const OpCall& call,
                           const ImplRef* const* tangents) {
  const std::size_t n = call.n_inputs;
  TapeState local(false, false);
  push_tape(local);  // pushed now, so it records what the rule runs
  struct Pop {
    TapeState& tape;
    ~Pop() {
      pop_tape(tape);
      notify_tape_retired(tape.id);  // observers forget what they kept about it
    }
  } pop{local};
  const Tensor<T> g = Tensor<T>::ones(call.output->shape());
  local.watch(g.impl());

  std::unique_ptr<bool[]> needs(new bool[n]);
  std::vector<ImplRef> vjps(n);
  bool any = false;
  for (std::size_t k = 0; k < n; ++k) {
    needs[k] = *tangents[k] && (*tangents[k])->dtype == call.output->dtype;
    any = any || needs[k];
  }
  if (!any) return {};
  op.backward(entry, ImplRef(g.impl()), needs.get(), vjps.data());
  Tensor<T> inner;  // <J^T g, t>
  for (std::size_t k = 0; k < n; ++k) {
    if (!needs[k] || !vjps[k]) continue;
    const Tensor<T> term = sum(Tensor<T>(vjps[k]) * Tensor<T>(*tangents[k]), -1, false);
    inner = inner.has_value() ? inner + term : term;
  }
  if (!inner.has_value()) return {};
  pop_tape(local);
  const NodeId target = local.find(inner.impl().get());
  if (target == no_node) return {};  // the rule's result does not depend on g: zero
  const NodeId source = local.find(g.impl().get());
  return reverse_sweep(local, {target}, {Tensor<T>::ones(Shape{}).impl()}, {source})[0];
}

/// The tangent of `call`'s output, given a tangent per input (empty: zero), from the op's
/// backward rule. Empty when the op has no rule (a barrier) or the tangent is zero.
/// Strong guarantee: if the rule throws, the tapes of this thread are as they were.
inline ImplRef jvp_by_double_vjp(const OpCall& call, const ImplRef* const* tangents) {
  const OpDefinition& op = call.definition;
  if (op.backward == nullptr) return {};
  const std::size_t n = call.n_inputs;

  // The entry a tape would have made (node ids mean nothing to a rule).
  Entry entry;
  entry.definition = &op;
  entry.n_inputs = static_cast<std::uint32_t>(n);
  entry.extra = EntryExtra::make_if_needed(n, call.n_saved, call.attrs, call.shared);
  for (std::size_t k = 0; k < call.n_saved; ++k) entry.save(k, *call.saved[k]);
  entry.set_attrs(call.attrs);

  int depth = 0;
  for (const TapeState* t = thread_tapes.top; t; t = t->below) depth += t->barrier ? 0 : 1;
  TAPEGRAD_CHECK(depth < max_nested_tapes, tape_error, "ForwardAccumulator: the tangent of '",
                 op.name, "' comes from its backward rule, on a tape of its own, but ",
                 max_nested_tapes, " tapes are already nested on this thread");
  TapeStackSnapshot snapshot;
  try {
    return dispatch_floating(call.output->dtype, [&](auto zero) {
      return double_vjp_tangent<decltype(zero)>(op, entry, call, tangents);
    });
  } catch (...) {
    snapshot.restore();
    throw;
  }
}

}  // namespace tapegrad::detail
