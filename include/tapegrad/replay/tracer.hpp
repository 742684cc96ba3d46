#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "tapegrad/config.hpp"
#include "tapegrad/detail/op_observer.hpp"
#include "tapegrad/detail/trace_hooks.hpp"
#include "tapegrad/ops/random.hpp"
#include "tapegrad/replay/memory_plan.hpp"
#include "tapegrad/replay/program.hpp"
#include "tapegrad/variable.hpp"

// NOTE [ Tracing a function ]
// A trace watches one eager call of the function through the op observer: every op that
// reaches record() (on constants too, and the rules a gradient() inside the call runs, since
// the tracer sees backward ops), every variable read and update. A tensor is known by its
// header's address, so the tracer keeps every header it has seen alive until the trace ends
// (no address is reused for another value meanwhile). An op's input is then
// - a value the trace has seen (an argument, an op's output, a read): that slot;
// - a header on such a value's elements (`base` leads to it): a view of that slot;
// - a tensor the host wrote from values it was given, or one made before the call: a
//   constant, frozen at trace time as TensorFlow freezes captured values;
// - a tensor created during the call by code that reported to nobody (an op with no
//   definition yet): refused with a trace_error, since freezing it would replay a stale value.
// The last two are told apart by the trace hooks (detail/trace_hooks.hpp): every tensor
// created while tracing is noted, and the constructors that take host values clear the note.
// An op without a forward kernel (a custom gradient, whose forward is the user's code and
// whose ops the trace has seen one by one) must return a view of a traced value, which the
// replay makes again; otherwise it cannot be replayed and the trace says so.
//
// NOTE [ Rules as one step ]
// A gradient() inside the traced call runs each entry's rules as one fused expression when
// nothing records the backward (NOTE [ One rule, two dialects ]); the tracer does not count as
// recording it. It hears the sweep instead, and writes each step down whole: the entry's
// definition, attributes and saved tensors, the upstream gradient and which inputs need one.
// A replay rebuilds the entry from its slots and applies the same rules, fused as the eager
// sweep's were, so the values are the same bits; the ops a rule runs (a matmul's) belong to
// the step and are not traced one by one. When a tape inside the call records the backward
// (higher derivatives), the rules run as ops, and the trace takes those ops instead; so it
// does for rules that hold shared data (a custom gradient's function, which may close over
// tensors of the traced call: replayed whole, it would compute from those stale values).
namespace tapegrad::detail {

/// Which Variable method an update instruction replays.
enum class Update { assign, assign_add, assign_sub };

template <class T, Update kind>
void replay_variable_update(const std::shared_ptr<VariableState>& state, const ImplRef& operand) {
  Variable<T> variable(state);
  const Tensor<T> x(operand);
  if constexpr (kind == Update::assign)
    variable.assign(x);
  else if constexpr (kind == Update::assign_add)
    variable.assign_add(x);
  else
    variable.assign_sub(x);
}

/// The replay of update `op` ("assign", "assign_add" or "assign_sub") of a T variable, chosen
/// once when traced.
template <class T>
UpdateFn variable_update_for(const char* op) {
  if (std::strcmp(op, "assign") == 0) return &replay_variable_update<T, Update::assign>;
  if (std::strcmp(op, "assign_add") == 0) return &replay_variable_update<T, Update::assign_add>;
  return &replay_variable_update<T, Update::assign_sub>;
}

/// Watches one call of a function and writes it down as a TracedProgram.
///   Tracer tracer(arguments);  { TraceScope scope(tracer); f(...); }  tracer.finish(outputs);
class Tracer final : public OpObserver, public TraceHooks {
 public:
  /// `arguments` are the headers the function receives, one per argument, all distinct.
  explicit Tracer(const std::vector<ImplRef>& arguments) {
    for (const ImplRef& a : arguments) program_.arguments.push_back(new_slot(a));
  }

  bool sees_backward_ops() const override { return false; }
  bool hears_backward() const override { return true; }

  void before_op(const OpCall& call) override {
    if (inside_rule_ == 0) add_op(call);
  }
  void on_op_without_gradient(const OpCall& call) override {
    if (inside_rule_ == 0) add_op(call);
  }

  void on_backward_step(const TapeState&, std::size_t) override { steps_.push_back(false); }
  void before_rule(const TapeState& tape, std::size_t index, const ImplRef& upstream,
                   const bool* needs) override;
  void after_backward_step(const TapeState&, std::size_t, const bool* needs,
                           ImplRef* grads) override;

  void on_variable_read(const VariableState& variable, const ImplRef& value,
                        ImplRef& read) override;

  void on_variable_update(const VariableState& variable, const char* op, const ImplRef&,
                          const ImplRef& operand) override;

  void on_allocated(const TensorImpl* impl) noexcept override;
  void on_host_values(const TensorImpl* impl) noexcept override { created_.erase(impl); }
  void on_generator_changed(const char* what) noexcept override {
    if (generator_change_ == nullptr) generator_change_ = what;
  }
  void on_host_read(const TensorImpl* impl, const char* accessor, const char* file,
                    int line) override;

  /// The program, with `outputs` (the call's results, an empty reference for one with no
  /// value) as its outputs and `lengths` the lengths of the vectors among them.
  std::shared_ptr<TracedProgram> finish(const std::vector<ImplRef>& outputs,
                                        std::vector<std::size_t> lengths);

 private:
  void add_op(const OpCall& call);

  std::int32_t new_slot(const ImplRef& x);
  // Whether x is (a view of) a value the trace computes: anything but a constant.
  bool is_traced(const TensorImpl* x) const;
  std::int32_t known_base(const TensorImpl* x) const;
  void add_view(const ImplRef& x, std::int32_t source);
  std::int32_t slot_of(const ImplRef& x, const char* op);

  TracedProgram program_;
  std::unordered_map<const TensorImpl*, std::int32_t> slots_;
  std::vector<ImplRef> keep_;  // every header the trace has seen (NOTE [ Tracing a function ])
  std::unordered_set<std::int32_t> constant_slots_;
  std::unordered_set<const TensorImpl*> created_;  // made during the call, not from host values
  bool out_of_memory_ = false;
  const char* generator_change_ = nullptr;  // the first host change of a generator's state
  bool failed_ = false;                     // a refusal was thrown (and perhaps caught by the call)
  std::vector<bool> steps_;  // for each backward step under way: whether it is written whole
  int inside_rule_ = 0;      // steps written whole under way
};

// Outside the class, so that the precompiled part can hold them (TAPEGRAD_HEADER_DEFINITIONS
// in config.hpp): a trace runs them, a replay never does.
#if TAPEGRAD_HEADER_DEFINITIONS
TAPEGRAD_PRECOMPILED_INLINE void Tracer::before_rule(const TapeState& tape, std::size_t index,
                                                     const ImplRef& upstream, const bool* needs) {
  // Rules that run as ops (a tape records the backward) are traced op by op; so is
  // everything inside a step written down whole.
  if (inside_rule_ > 0 || backward_is_recorded()) return;
  const Entry& e = tape.entries[index];
  // Rules that hold shared data (a custom gradient's function) may close over values of the
  // call being traced, which a replay must not reuse: their ops are traced one by one.
  if (e.extra && e.extra->closure) return;
  TraceInstruction i;
  i.kind = TraceInstruction::Kind::rule;
  i.op = e.definition;
  i.attrs = e.attrs();
  if (e.extra) i.shared = e.extra->closure;
  i.inputs.push_back(slot_of(upstream, e.name()));
  for (std::size_t k = 0; k < max_op_inputs; ++k)
    i.inputs.push_back(
        e.saved(k).impl()
            ? slot_of(ImplRef::share(const_cast<TensorImpl*>(e.saved(k).impl())), e.name())
            : -1);
  if (e.extra)
    for (const ImplRef& saved : e.extra->saved)
      i.inputs.push_back(saved ? slot_of(saved, e.name()) : -1);
  i.needs = std::make_unique<bool[]>(e.n_inputs);
  std::copy(needs, needs + e.n_inputs, i.needs.get());
  i.outputs.assign(e.n_inputs, -1);
  program_.instructions.push_back(std::move(i));
  steps_.back() = true;
  ++inside_rule_;
}

TAPEGRAD_PRECOMPILED_INLINE void Tracer::after_backward_step(const TapeState&, std::size_t,
                                                             const bool* needs, ImplRef* grads) {
  const bool whole = steps_.back();
  steps_.pop_back();
  if (!whole) return;
  --inside_rule_;
  if (inside_rule_ > 0) return;
  TraceInstruction& i = program_.instructions.back();
  for (std::size_t k = 0; k < i.outputs.size(); ++k) {
    if (!needs[k] || !grads[k]) continue;
    // A rule may return a value it was given (the upstream gradient, as an identity does),
    // and at another replay something else (a custom gradient deciding on the host): its
    // result gets a header of its own, a value of its own in the trace.
    if (slots_.count(grads[k].get()))
      grads[k] = ImplRef::adopt(allocate_alias(grads[k].get(), grads[k]->shape()));
    i.outputs[k] = new_slot(grads[k]);
  }
}

TAPEGRAD_PRECOMPILED_INLINE void Tracer::on_variable_read(const VariableState& variable,
                                                          const ImplRef& value, ImplRef& read) {
  if (inside_rule_ > 0) return;  // read again when the step is replayed
  // A header of our own, so that each read is a value of its own.
  if (read.get() == value.get()) read = ImplRef::adopt(allocate_alias(value.get(), value->shape()));
  TraceInstruction i;
  i.kind = TraceInstruction::Kind::read_variable;
  i.variable = variable.weak_from_this();
  i.dtype = value->dtype;
  i.shape = value->shape();
  i.output = new_slot(read);
  program_.instructions.push_back(std::move(i));
}

TAPEGRAD_PRECOMPILED_INLINE void Tracer::on_variable_update(const VariableState& variable,
                                                            const char* op, const ImplRef&,
                                                            const ImplRef& operand) {
  if (inside_rule_ > 0) return;  // made again when the step is replayed
  TraceInstruction i;
  i.kind = TraceInstruction::Kind::update_variable;
  i.variable = variable.weak_from_this();
  i.update = op;
  switch (variable.dtype) {
    case DType::float32:
      i.apply_update = variable_update_for<float>(op);
      break;
    case DType::float64:
      i.apply_update = variable_update_for<double>(op);
      break;
    default:
      failed_ = true;
      TAPEGRAD_CHECK(false, trace_error, "function: Variable::", op, " of a ", variable.dtype,
                     " variable cannot be replayed (float and double can)");
  }
  i.inputs.push_back(slot_of(operand, op));
  program_.instructions.push_back(std::move(i));
}

TAPEGRAD_PRECOMPILED_INLINE void Tracer::on_allocated(const TensorImpl* impl) noexcept {
  try {
    created_.insert(impl);
  } catch (const std::bad_alloc&) {
    out_of_memory_ = true;
  }
}

TAPEGRAD_PRECOMPILED_INLINE void Tracer::on_host_read(const TensorImpl* impl, const char* accessor,
                                                      const char* file, int line) {
  // A constant is the same at every replay; a step written down whole reads again.
  if (inside_rule_ > 0 || !is_traced(impl)) return;
  auto refuse = [&] {
    fail<trace_error>("function: Tensor::", accessor, " reads a traced value of shape ",
                      impl->shape(),
                      " on the host while tracing; a replay repeats the ops, not what the host "
                      "decided from their values (compute it with ops such as "
                      "tapegrad::where, or return the value and read it after the call)");
  };
  failed_ = true;
  if (file == nullptr) refuse();
  // Ends the message with " (called at FILE:LINE)", as a named op's error does.
  const SourceLocation where{file, line};
  const OpScope names_the_caller(where);
  refuse();
}

TAPEGRAD_PRECOMPILED_INLINE std::shared_ptr<TracedProgram> Tracer::finish(
    const std::vector<ImplRef>& outputs, std::vector<std::size_t> lengths) {
  if (out_of_memory_) throw std::bad_alloc();
  // A backward step that threw, caught inside the call: the ops after it were taken as
  // part of the step, so the trace cannot be trusted.
  TAPEGRAD_CHECK(steps_.empty(), trace_error,
                 "function: a gradient() inside the call failed and the call caught the "
                 "error; such a call cannot be traced (call it directly)");
  // A refusal the call caught: what it did instead is not what a replay may repeat.
  TAPEGRAD_CHECK(!failed_, trace_error,
                 "function: the call caught a trace_error and went on; such a call cannot be "
                 "traced (call it directly)");
  TAPEGRAD_CHECK(generator_change_ == nullptr, trace_error, "function: ", generator_change_,
                 " changed a generator's state on the host while tracing, which a replay "
                 "would not repeat (its random ops would draw other numbers); draw with random "
                 "ops, and seed, rewind or draw on the host outside the function");
  // A generator made inside the call is gone now; a replay could not make it again.
  for (const TraceInstruction& i : program_.instructions) {
    if (i.kind != TraceInstruction::Kind::op || i.op->family != OpFamily::random) continue;
    const auto& source = *static_cast<const RandomSource*>(i.shared.get());
    TAPEGRAD_CHECK(source.thread_default || !source.engine.expired(), trace_error,
                   "function: ", i.op->name,
                   " drew from a Generator created inside the call, which a replay cannot "
                   "make again; create it outside the function (a replay then draws from it "
                   "as an eager call would)");
  }
  for (const ImplRef& out : outputs)
    program_.outputs.push_back(out ? slot_of(out, "function") : -1);
  program_.output_lengths = std::move(lengths);
  plan_memory(program_, keep_);
  return std::make_shared<TracedProgram>(std::move(program_));
}

TAPEGRAD_PRECOMPILED_INLINE void Tracer::add_op(const OpCall& call) {
  if (slots_.count(call.output.get())) return;  // (an op that returned an input as it is)
  const OpDefinition& op = call.definition;
  if (op.forward == nullptr) {
    const std::int32_t source = known_base(call.output.get());
    failed_ = failed_ || source < 0;
    TAPEGRAD_CHECK(source >= 0, trace_error, "function: ", op.name,
                   " has no forward kernel and its result is not a view of a value the trace "
                   "has seen, so a replay cannot compute it");
    add_view(call.output, source);
    return;
  }
  TraceInstruction i;
  i.kind = TraceInstruction::Kind::op;
  i.op = &op;
  i.attrs = call.attrs;
  i.shared = call.shared;
  for (std::size_t k = 0; k < call.n_inputs; ++k)
    i.inputs.push_back(slot_of(*call.inputs[k], op.name));
  i.dtype = call.output->dtype;
  i.shape = call.output->shape();
  i.output = new_slot(call.output);
  program_.instructions.push_back(std::move(i));
}

TAPEGRAD_PRECOMPILED_INLINE std::int32_t Tracer::new_slot(const ImplRef& x) {
  keep_.push_back(x);
  const std::int32_t slot = program_.n_slots++;
  slots_.emplace(x.get(), slot);
  return slot;
}

TAPEGRAD_PRECOMPILED_INLINE bool Tracer::is_traced(const TensorImpl* x) const {
  const TensorImpl* root = x;
  for (const TensorImpl* t = x; t != nullptr; t = t->base) {
    if (auto it = slots_.find(t); it != slots_.end()) return !constant_slots_.count(it->second);
    root = t;
  }
  return created_.count(root) != 0;
}

TAPEGRAD_PRECOMPILED_INLINE std::int32_t Tracer::known_base(const TensorImpl* x) const {
  for (const TensorImpl* b = x->base; b != nullptr; b = b->base)
    if (auto it = slots_.find(b); it != slots_.end()) return it->second;
  return -1;
}

TAPEGRAD_PRECOMPILED_INLINE void Tracer::add_view(const ImplRef& x, std::int32_t source) {
  TraceInstruction i;
  i.kind = TraceInstruction::Kind::view;
  i.inputs.push_back(source);
  i.dtype = x->dtype;
  i.shape = x->shape();
  i.output = new_slot(x);
  program_.instructions.push_back(std::move(i));
}

TAPEGRAD_PRECOMPILED_INLINE std::int32_t Tracer::slot_of(const ImplRef& x, const char* op) {
  if (auto it = slots_.find(x.get()); it != slots_.end()) return it->second;
  if (const std::int32_t source = known_base(x.get()); source >= 0) {
    add_view(x, source);
    return slots_.at(x.get());
  }
  const TensorImpl* root = x.get();
  while (root->base != nullptr) root = root->base;
  failed_ = failed_ || created_.count(root) != 0;
  TAPEGRAD_CHECK(created_.count(root) == 0, trace_error, "function: ", op,
                 " reads a tensor of shape ", x->shape(),
                 " that code the trace cannot see computed during the call (a kernel that "
                 "reports to no tape, writing into a new tensor), so a replay would reuse a "
                 "stale value. Run this function eagerly (call it directly) until that code "
                 "is an op");
  const std::int32_t slot = new_slot(x);
  program_.constants.emplace_back(slot, x);
  constant_slots_.insert(slot);
  return slot;
}
#endif  // TAPEGRAD_HEADER_DEFINITIONS

/// Installs `tracer` on this thread for the scope's lifetime: as an op observer, and as the
/// hooks that hear of new tensors and host reads.
class TraceScope {
 public:
  explicit TraceScope(Tracer& tracer) : observing_(tracer), outer_hooks_(trace_hooks) {
    trace_hooks = &tracer;
  }
  ~TraceScope() { trace_hooks = outer_hooks_; }
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

 private:
  ObserverScope observing_;
  TraceHooks* outer_hooks_;
};

}  // namespace tapegrad::detail
