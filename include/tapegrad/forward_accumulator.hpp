#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "tapegrad/detail/double_vjp.hpp"
#include "tapegrad/detail/op_observer.hpp"
#include "tapegrad/detail/tape_state.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/tape.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/unconnected_gradients.hpp"
#include "tapegrad/variable.hpp"

// NOTE [ Forward mode ]
// A ForwardAccumulator is an op observer (NOTE [ The op observer ]): every op that runs on
// its thread while it lives reaches on_op, and an op with a tangent on any input gets one on
// its output from the op's definition: its JVP rule, or the backward rule run twice (NOTE [ A
// tangent from the backward rule ]). Nothing is recorded: a tangent hangs on its primal
// (NOTE [ Tangents live on their primal ]) and goes with it, so memory does not grow with the
// length of the computation. The rules compute with the library's own ops, so tapes and
// other accumulators can differentiate them (reverse-over-forward, forward-over-forward), and
// while one is installed a tape's gradient() runs its rules as ops (not fused) so that the
// accumulator sees them (forward-over-reverse).
//
// NOTE [ Who sees a tangent's ops ]
// The ops an accumulator runs to compute tangents are seen by the tapes pushed and the
// accumulators made before it, and by nothing made after it, as in TensorFlow: an outer tape
// differentiates the JVP (reverse-over-forward), an outer accumulator takes its tangent
// (forward-over-forward), while a tape opened inside the accumulator records only the
// function, not the JVPs, which is what makes a forward-over-reverse Hessian-vector product
// lighter than two tapes. So a tape made inside an accumulator cannot differentiate
// acc.jvp(y): make the tape first. Tapes and accumulators share one clock (next_tape_id()):
// an accumulator's id, a tape's pushed_serial, a barrier's id. Tapes and accumulators that a
// rule itself makes (a custom gradient function's own tape) see the rule's ops. Accumulators
// take each op oldest first, so that an outer one has the tangent of an op's output before an
// inner one's rule reads that output.
// Ops inside a custom gradient's forward (a barrier made after the accumulator) and inside a
// stop_recording() scope that began after it get no tangent, as they are not recorded: the
// custom op's tangent comes from its gradient function. stop_gradient's tangent is zero.
namespace tapegrad {
namespace detail {

/// The observer behind a ForwardAccumulator: its primals' tangents, and the rule that gives
/// an op's output a tangent.
class Accumulation final : public OpObserver {
 public:
  Accumulation() { accumulates_tangents = true; }

  const std::uint64_t id = next_tape_id();
  std::vector<std::pair<ImplRef, ImplRef>> primals;  // (tensor, its tangent)
  std::vector<std::pair<std::shared_ptr<VariableState>, ImplRef>> variables;

  /// x's tangent, or null: a primal's own, or the one an op gave it.
  const ImplRef* tangent_of(const TensorImpl* x) const {
    if (const ImplRef* t = find_tangent(*x, id)) return t;
    for (const auto& [primal, tangent] : primals)
      if (primal.get() == x) return &tangent;
    return nullptr;
  }

  // Accumulators take an op oldest first: an outer one's tangent of y must exist before an
  // inner one's rule reads y (exp's tangent t * y), so that the outer one differentiates the
  // inner one's rule. Observers hear an op newest first, so the newest accumulator of the
  // thread runs them all, in order, and the others leave it to that one.
  void on_op(const OpCall& call) override {
    for (const OpObserver* o = thread_tapes.observer; o != this; o = o->below())
      if (o->accumulates_tangents) return;
    for (const OpObserver* o = below(); o != nullptr; o = o->below())
      if (o->accumulates_tangents) return accumulate_all(call);
    accumulate(call);  // the one accumulator of the thread: the common case
  }

  /// Runs every accumulator of the thread on the op, oldest first.
  TAPEGRAD_NOINLINE void accumulate_all(const OpCall& call) {
    std::vector<Accumulation*> chain;
    for (OpObserver* o = this; o != nullptr; o = o->below())
      if (o->accumulates_tangents) chain.push_back(static_cast<Accumulation*>(o));
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) (*it)->accumulate(call);
  }

  /// Gives the op's output this accumulator's tangent, if an input has one.
  void accumulate(const OpCall& call) {
    // First the cheapest test: the ops of an accumulator's own rules end here.
    if (!sees_current_ops(id) || !is_floating(call.output->dtype)) return;
    const std::size_t n = call.n_inputs;
    const ImplRef* small[max_op_inputs];
    std::vector<const ImplRef*> large;
    if (n > max_op_inputs) large.resize(n);
    const ImplRef** tangents = n > max_op_inputs ? large.data() : small;
    bool any = false;
    for (std::size_t k = 0; k < n; ++k) {
      const ImplRef* t = tangent_of(call.inputs[k]->get());
      tangents[k] = t ? t : &no_tangent_;
      any = any || t != nullptr;
    }
    bool others_listen = false;
    if (!any || !sees_ops(others_listen)) return;
    ImplRef tangent;
    {
      // A built-in rule runs no user code: when nothing else listens, its ops may skip
      // record() altogether. The backward rule of a custom gradient may push and pop tapes.
      const JvpFn rule = call.definition.jvp;
      const Busy busy(id, !others_listen, !others_listen && rule != nullptr);
      const OpArgs args{call.attrs, call.shared};
      if (rule == nullptr) {
        tangent = jvp_by_double_vjp(call, tangents);
      } else if (!others_listen) {
        tangent = rule(args, call.inputs, call.output, tangents);
      } else {
        TapeStackSnapshot snapshot;  // what older tapes record of a rule that fails, undone
        try {
          tangent = rule(args, call.inputs, call.output, tangents);
        } catch (...) {
          snapshot.restore();
          throw;
        }
      }
    }
    if (tangent) attach_tangent(*call.output.get(), id, std::move(tangent));
  }

  void on_variable_read(const VariableState& variable, const ImplRef& value,
                        ImplRef& read) override {
    for (const auto& [primal, tangent] : variables) {
      if (primal.get() != &variable) continue;
      bool others_listen = false;
      if (!sees_ops(others_listen)) return;
      // A handle of our own: the value itself may be shared with other threads.
      if (read.get() == value.get())
        read = ImplRef::adopt(allocate_alias(value.get(), value->shape()));
      attach_tangent(*read.get(), id, tangent);
      return;
    }
  }

  bool sees_backward_ops() const override { return true; }
  bool hears_backward() const override { return false; }

 private:
  // Whether this accumulator gives the op now running a tangent (NOTE [ Who sees a
  // tangent's ops ]): not if another accumulator made before this one runs it for its
  // tangents, nor inside a custom gradient's forward or a stop_recording() scope begun since.
  // Sets `others_listen` when anything else would see the ops of its rules: a tape pushed
  // before it, or another observer (an older accumulator, anomaly mode, a pause's notes).
  bool sees_ops(bool& others_listen) const {
    const ThreadTapes& tapes = thread_tapes;
    if (!sees_current_ops(id)) return false;
    bool below_barrier = false;
    for (const TapeState* t = tapes.top; t; t = t->below) {
      if (t->barrier) {
        if (t->id > id) return false;
        below_barrier = true;
      } else if (!below_barrier && t->recording() && t->pushed_serial < id) {
        others_listen = true;
      }
    }
    for (const OpObserver* o = tapes.observer; o && o != this; o = o->below())
      if (o->stops_recording) return false;
    others_listen = others_listen || tapes.observers > 1;
    return true;
  }

  // While an accumulator computes tangents, only what came before it sees the ops. When that
  // is nothing, elementwise rules fuse, and a built-in rule's ops run as if no tape were
  // recording (the fast path: nothing reaches record()).
  struct Busy {
    Busy(std::uint64_t id, bool unobserved, bool silence)
        : outer_limit(thread_tapes.jvp_limit),
          outer_resume(thread_tapes.jvp_resume),
          outer_unobserved(thread_tapes.jvp_unobserved),
          silenced(silence ? thread_tapes.recording : 0) {
      thread_tapes.jvp_limit = id - 1;
      // Tapes and accumulators the rules themselves make (a gradient function's own tape)
      // come after this and see their ops.
      thread_tapes.jvp_resume = latest_tape_id();
      thread_tapes.jvp_unobserved = unobserved;
      thread_tapes.recording -= silenced;
    }
    ~Busy() {
      thread_tapes.jvp_limit = outer_limit;
      thread_tapes.jvp_resume = outer_resume;
      thread_tapes.jvp_unobserved = outer_unobserved;
      thread_tapes.recording += silenced;
    }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;
    std::uint64_t outer_limit, outer_resume;
    bool outer_unobserved;
    int silenced;
  };

  ImplRef no_tangent_;
};

}  // namespace detail

/// Forward-mode differentiation (tf.autodiff.ForwardAccumulator): while it lives, every op
/// on its thread computed from its primals gets a tangent, the directional derivative along
/// the given tangents, which jvp() returns. It keeps no tape. Nest accumulators for higher
/// order, put a tape around one to differentiate its JVPs, or one around a tape's
/// gradient() for Hessian-vector products (NOTE [ Who sees a tangent's ops ]).
///   tapegrad::ForwardAccumulator acc(x, v);
///   auto y = tapegrad::sin(x) * x;
///   auto dy = acc.jvp(y);   // (cos(x) * x + sin(x)) * v
class ForwardAccumulator {
 public:
  /// Watches `primal` with direction `tangent` (same shape and element type).
  template <class T>
  ForwardAccumulator(const Tensor<T>& primal, const Tensor<T>& tangent)
      : ForwardAccumulator(std::vector<Source<T>>{primal}, std::vector<Tensor<T>>{tangent}) {}
  template <class T>
  ForwardAccumulator(const Variable<T>& primal, const Tensor<T>& tangent)
      : ForwardAccumulator(std::vector<Source<T>>{primal}, std::vector<Tensor<T>>{tangent}) {}
  /// Watches each primals[i] (a Tensor or a Variable) with direction tangents[i].
  template <class T>
  ForwardAccumulator(const std::vector<Source<T>>& primals, const std::vector<Tensor<T>>& tangents)
      : state_(std::make_unique<detail::Accumulation>()) {
    TAPEGRAD_CHECK(primals.size() == tangents.size(), value_error,
                   "ForwardAccumulator: ", primals.size(), " primals but ", tangents.size(),
                   " tangents; give one tangent per primal");
    for (std::size_t i = 0; i < primals.size(); ++i) {
      const Source<T>& primal = primals[i];
      TAPEGRAD_CHECK(tangents[i].has_value(), value_error, "ForwardAccumulator: tangent ", i,
                     " has no value");
      TAPEGRAD_CHECK(primal.variable() || primal.tensor().has_value(), value_error,
                     "ForwardAccumulator: primal ", i, " has no value");
      TAPEGRAD_CHECK(primal.shape() == tangents[i].shape(), shape_error,
                     "ForwardAccumulator: primal ", i, " has shape ", primal.shape(),
                     " but its tangent has shape ", tangents[i].shape());
      if (primal.variable()) {
        for (const auto& seen : state_->variables)
          TAPEGRAD_CHECK(seen.first != primal.variable(), value_error,
                         "ForwardAccumulator: variable '", primal.variable()->name,
                         "' is given twice as a primal");
        state_->variables.emplace_back(primal.variable(), tangents[i].impl());
      } else {
        for (const auto& seen : state_->primals)
          TAPEGRAD_CHECK(seen.first.get() != primal.tensor().impl().get(), value_error,
                         "ForwardAccumulator: primal ", i, " is given twice");
        state_->primals.emplace_back(primal.tensor().impl(), tangents[i].impl());
      }
    }
    scope_ = std::make_unique<detail::ObserverScope>(*state_);
  }

  ForwardAccumulator(const ForwardAccumulator&) = delete;
  ForwardAccumulator& operator=(const ForwardAccumulator&) = delete;
  /// Ends watching; destroy it on the thread that made it.
  ~ForwardAccumulator() = default;

  /// The tangent of y: the derivative of y along the tangents, for a y computed from the
  /// primals while this accumulator lived; for another, no value (or zeros when asked).
  ///   auto dy = acc.jvp(y, tapegrad::UnconnectedGradients::zero);
  template <class T>
  Tensor<T> jvp(const Tensor<T>& y,
                UnconnectedGradients unconnected = UnconnectedGradients::none) const {
    TAPEGRAD_CHECK(y.has_value(), value_error, "ForwardAccumulator::jvp: the tensor has no value");
    if (const detail::ImplRef* t = state_->tangent_of(y.impl().get())) return Tensor<T>(*t);
    return unconnected_result<T>(y.shape(), unconnected);
  }
  /// A variable's tangent: the one given for it, if it is a primal.
  template <class T>
  Tensor<T> jvp(const Variable<T>& y,
                UnconnectedGradients unconnected = UnconnectedGradients::none) const {
    for (const auto& [variable, tangent] : state_->variables)
      if (variable == y.state()) return Tensor<T>(tangent);
    return unconnected_result<T>(y.shape(), unconnected);
  }
  /// jvp() of each tensor.
  template <class T>
  std::vector<Tensor<T>> jvp(const std::vector<Tensor<T>>& ys,
                             UnconnectedGradients unconnected = UnconnectedGradients::none) const {
    std::vector<Tensor<T>> out;
    out.reserve(ys.size());
    for (const Tensor<T>& y : ys) out.push_back(jvp(y, unconnected));
    return out;
  }

 private:
  template <class T>
  static Tensor<T> unconnected_result(const Shape& shape, UnconnectedGradients unconnected) {
    if (unconnected == UnconnectedGradients::zero) return Tensor<T>::zeros(shape);
    return Tensor<T>();
  }

  std::unique_ptr<detail::Accumulation> state_;
  std::unique_ptr<detail::ObserverScope> scope_;
};

}  // namespace tapegrad
