#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/detail/tape_state.hpp"

// The answer to "why is my gradient None?": where the chain from a source to a target
// breaks, or the ops it goes through.
namespace tapegrad::detail {

struct ExplainQuery {
  const TensorImpl* target = nullptr;
  const VariableState* target_variable = nullptr;  // a Variable target, known by its handle
  const TensorImpl* source_tensor = nullptr;
  const VariableState* source_variable = nullptr;
};

/// Nodes reachable forward from `source`, crossing barriers only when `through_barriers`.
inline std::vector<std::uint8_t> reachable_from(const TapeState& tape, NodeId source,
                                                std::int64_t last, bool through_barriers) {
  std::vector<std::uint8_t> reach(tape.producer.size(), 0);
  reach[source] = 1;
  for (std::int64_t i = 0; i <= last; ++i) {
    const Entry& e = tape.entries[static_cast<std::size_t>(i)];
    if (!e.backward() && !through_barriers) continue;
    for (std::uint32_t k = 0; k < e.n_inputs; ++k)
      if (e.input(k) != no_node && reach[e.input(k)]) {
        reach[e.output] = 1;
        break;
      }
  }
  return reach;
}

/// The entries from source to target, following producers back from the target.
inline std::vector<const Entry*> path_to(const TapeState& tape, NodeId source, NodeId target,
                                         const std::vector<std::uint8_t>& reach) {
  std::vector<const Entry*> path;
  NodeId node = target;
  while (node != source) {
    const Entry& e = tape.entries[static_cast<std::size_t>(tape.producer[node])];
    path.push_back(&e);
    NodeId next = no_node;
    for (std::uint32_t k = 0; k < e.n_inputs && next == no_node; ++k)
      if (e.input(k) != no_node && reach[e.input(k)]) next = e.input(k);
    node = next;
  }
  std::reverse(path.begin(), path.end());
  return path;
}

inline std::string describe_path(const std::vector<const Entry*>& path) {
  std::string s = "source";
  for (const Entry* e : path) s += std::string(" -> ") + e->name();
  return s + " -> target";
}

/// A spent non-persistent tape's answer: why one gradient its one gradient() call returned
/// as None was None, worked out before the record was dropped.
struct SpentReason {
  ImplRef target;
  std::shared_ptr<VariableState> target_variable;
  ImplRef source;
  std::shared_ptr<VariableState> variable;
  std::string reason;
};

/// Why the gradient of q.target with respect to q.source is what it is; `spent` holds the
/// answers kept when a non-persistent `tape` was spent.
#if TAPEGRAD_HEADER_DEFINITIONS
TAPEGRAD_PRECOMPILED_INLINE std::string explain(const TapeState& tape,
                                                const std::vector<SpentReason>& spent,
                                                const ExplainQuery& q) {
  if (tape.used) {
    for (const auto& r : spent)
      if ((q.target_variable ? r.target_variable.get() == q.target_variable
                             : r.target.get() == q.target) &&
          (q.source_variable ? r.variable.get() == q.source_variable
                             : r.source.get() == q.source_tensor))
        return r.reason +
               " (Worked out when this non-persistent tape computed its one set of "
               "gradients.)";
    return "This non-persistent tape has already computed its one set of gradients and has "
           "forgotten its record; it kept only why each gradient that came back None was None, "
           "and this target and source were not such a pair. Open it with tapegrad::persistent "
           "to ask about anything.";
  }
  if (q.target_variable ? q.target_variable == q.source_variable
                        : !q.source_variable && q.target == q.source_tensor)
    return "The target is the source itself: the gradient is ones.";
  std::string source_name = "the source";
  NodeId source = no_node;
  if (q.source_variable) {
    source_name = q.source_variable->name.empty()
                      ? std::string("the variable")
                      : "the variable '" + q.source_variable->name + "'";
    source = tape.find(q.source_variable);
    if (source == no_node) {
      for (const auto& v : tape.watched_variables)
        if (!q.source_variable->name.empty() && v->name == q.source_variable->name)
          return "No gradient: " + source_name +
                 " is not the Variable this tape watched under that name; a new Variable was "
                 "made (e.g. `w = Variable(...)` after the forward pass). Update a variable with "
                 "assign/assign_sub, which keep it the same variable.";
      if (!q.source_variable->trainable)
        return "No gradient: " + source_name +
               " is not trainable, so reading it does not make the tape watch it. Call "
               "tape.watch(variable) first.";
      if (!tape.watch_accessed_variables)
        return "No gradient: this tape was opened with watch_accessed_variables = false and " +
               source_name + " was never passed to tape.watch().";
      return "No gradient: " + source_name +
             " was never read while this tape recorded (read before the tape started, after "
             "stop(), inside stop_recording(), or on another thread), so the tape never watched "
             "it.";
    }
  } else {
    source = tape.find(q.source_tensor);
    if (source == no_node) {
      for (std::uint64_t old : tape.retired_ids)
        if (q.source_tensor->find_mark(old) != no_mark)
          return "No gradient: the source was recorded before this tape's reset(), which "
                 "forgot it.";
      if (q.source_tensor->marked())
        return "No gradient: the source was recorded by another tape, never by this one (an "
               "inner tape, or a tape on another thread). Watch it on this tape.";
      return "No gradient: the source was never watched by this tape. A tensor is a constant "
             "to a tape until tape.watch(x) (PyTorch's requires_grad = True); a trainable "
             "Variable is watched when read while the tape records.";
    }
  }

  const NodeId target = q.target_variable ? tape.find(q.target_variable) : tape.find(q.target);
  if (target == no_node && q.target_variable)
    return "No gradient: the target is a variable this tape never watched, so the tape knows "
           "nothing of it.";
  if (target == no_node) {
    for (std::uint64_t old : tape.retired_ids)
      if (q.target->find_mark(old) != no_mark)
        return "No gradient: the target was recorded before this tape's reset(), which forgot "
               "it.";
    if (q.target->marked())
      return "No gradient: the target was recorded by another tape, not this one (an inner "
             "tape, or a tape on another thread).";
    return "No gradient: this tape did not record how the target was computed from anything it "
           "watched. It was computed before the tape started or after stop(), on another "
           "thread, from constants only, or by a custom gradient's forward function.";
  }

  if (target == source) return "The target is the source itself: the gradient is ones.";
  const std::int64_t last = tape.producer[target];
  if (last < 0)
    return "No gradient: the target is a watched tensor or variable of its own, not computed "
           "from " +
           source_name + ".";
  const auto reach = reachable_from(tape, source, last, false);
  if (reach[target]) {
    const auto path = path_to(tape, source, target, reach);
    return "The gradient flows from " + source_name + " to the target through " +
           std::to_string(path.size()) + " recorded op" + (path.size() == 1 ? "" : "s") + ": " +
           describe_path(path) + ".";
  }
  const auto through = reachable_from(tape, source, last, true);
  if (through[target]) {
    const auto path = path_to(tape, source, target, through);
    for (const Entry* e : path)
      if (!e->backward()) {
        const std::string op = e->name();
        const std::string where = op == "stop_gradient"
                                      ? "at stop_gradient"
                                      : "at '" + op + "', which ran inside stop_recording()";
        return "No gradient: the target depends on " + source_name + " (" + describe_path(path) +
               "), but the path is cut " + where + ". Every path is cut like this.";
      }
  }
  return "No gradient: the target does not depend on " + source_name +
         ": no recorded op leads from one to the other.";
}
#else
std::string explain(const TapeState& tape, const std::vector<SpentReason>& spent,
                    const ExplainQuery& q);
#endif

}  // namespace tapegrad::detail
