#pragma once

#include <Eigen/Core>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tapegrad/errors.hpp"
#include "tapegrad/record.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/variable.hpp"
#include "tapegrad/warning.hpp"

// Optimizers after tf.keras.optimizers (Keras 3): SGD, Adam, AdamW and RMSprop, each applying
// gradients from GradientTape::gradient to the variables they were taken with.
//
// NOTE [ How an optimizer updates a variable ]
// An optimizer's whole state is variables: the step count, and per variable its slots
// (Keras's momentum, velocity ...), kept in the optimizer and keyed by the variable's shared
// state, which every copy of a Variable refers to. A step reads them, computes the learning
// rate from the step count and each variable's next value and slots with ops that have no
// gradient (each line of a rule one Eigen pass over the flat arrays, as one op), and assigns
// the results. So a step inside tapegrad::function is traced like any other code and a replay
// equals the eager step bit for bit: the schedule is called with the step count at each
// replay, and the slots follow. Reads of this state tell observers but no tape, and assign is
// never recorded, so training steps taken while a tape is open leave nothing on it.
// apply_gradients checks every gradient against its variable, and the learning rate, before
// it changes anything, so a bad call leaves variables and optimizer state as they were. A
// slot whose variable has been destroyed is dropped, so a new variable that happens to reuse
// the address starts from zeros.
namespace tapegrad {

/// A learning rate: a constant, or a schedule called with the optimizer's step count (0 at
/// the first apply_gradients, as Keras passes `optimizer.iterations`).
///   tapegrad::Adam opt(tapegrad::ExponentialDecay(1e-2, 1000, 0.9));
class LearningRate {
 public:
  LearningRate(double constant) : constant_(constant) {}  // NOLINT: Adam(1e-3)
  template <class F, std::enable_if_t<!std::is_arithmetic_v<std::decay_t<F>> &&
                                          std::is_invocable_r_v<double, const F&, std::int64_t>,
                                      int> = 0>
  LearningRate(F schedule) : schedule_(std::move(schedule)) {}  // NOLINT: Adam(CosineDecay(...))

  /// The learning rate at `step`.
  double operator()(std::int64_t step) const { return schedule_ ? schedule_(step) : constant_; }

 private:
  double constant_ = 0;
  std::function<double(std::int64_t)> schedule_;
};

namespace detail {

/// An optimizer's learning rate as its ops see it: shared with the traces of its steps, so
/// that set_learning_rate reaches their replays as it reaches the next eager step.
struct LearningRateState {
  LearningRate rate;
  std::string optimizer;  // for the error message
};

/// The attributes of an update op: its rule's constants (a decay rate, epsilon, a flag).
struct UpdateAttrs {
  double a = 0, b = 0, c = 0;
};

template <class T>
using FlatArray = Eigen::Array<T, Eigen::Dynamic, 1>;

/// An update op's view of its inputs: flat arrays, and 0-d double scalars (the learning rate,
/// the step count).
template <class T>
struct UpdateInputs {
  const ImplRef* const* inputs;
  Eigen::Map<const FlatArray<T>> array(int k) const {
    const TensorImpl& x = *inputs[k]->get();
    return {static_cast<const T*>(x.data), static_cast<Eigen::Index>(x.size())};
  }
  double scalar(int k) const { return *static_cast<const double*>(inputs[k]->get()->data); }
};

/// The forward of update op `Rule`: Rule::apply(attributes, inputs, out) writes the result.
template <class T, class Rule>
void update_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  Eigen::Map<FlatArray<T>> result(static_cast<T*>(out.data), static_cast<Eigen::Index>(out.size()));
  Rule::template apply<T>(args.as<UpdateAttrs>(), UpdateInputs<T>{inputs}, result);
}
template <class T, class Rule>
inline constexpr OpDefinition update_op{Rule::name, OpFamily::optimizer, Rule::arity, nullptr,
                                        &update_forward<T, Rule>};

/// Runs update op `Rule` on `inputs` (the first gives the shape) and tells observers.
///   Tensor<T> m = run_update<T, AdamFirstMoment>({&m.impl(), &g.impl()}, {1 - beta_1});
template <class T, class Rule, std::size_t NI>
Tensor<T> run_update(const ImplRef* const (&inputs)[NI], UpdateAttrs attrs = {}) {
  static_assert(NI == Rule::arity, "an update op's inputs, as its rule declares");
  return run_without_gradient<T>(update_op<T, Rule>, inputs, (*inputs[0])->shape(),
                                 OpAttrs::of(attrs));
}

// The rules every optimizer shares: its learning rate at a step, and the step after it.
inline void learning_rate_forward(const OpArgs& args, const ImplRef* const* inputs,
                                  TensorImpl& out) {
  const auto& state = args.data<LearningRateState>();
  const double step = *static_cast<const double*>((*inputs[0])->data);
  const double lr = state.rate(static_cast<std::int64_t>(step));
  TAPEGRAD_CHECK(std::isfinite(lr), value_error, state.optimizer,
                 ".apply_gradients: the learning rate at step ", static_cast<std::int64_t>(step),
                 " is ", lr, " (expected a finite number)");
  *static_cast<double*>(out.data) = lr;
}
inline constexpr OpDefinition learning_rate_op{"learning_rate", OpFamily::optimizer, 1, nullptr,
                                               &learning_rate_forward};
inline void next_step_forward(const OpArgs&, const ImplRef* const* inputs, TensorImpl& out) {
  *static_cast<double*>(out.data) = *static_cast<const double*>((*inputs[0])->data) + 1;
}
inline constexpr OpDefinition next_step_op{"next_step", OpFamily::optimizer, 1, nullptr,
                                           &next_step_forward};

/// The slots of every variable an optimizer has updated, each a variable of its own; see
/// NOTE [ How an optimizer updates a variable ].
class SlotTable {
 public:
  using Slots = std::array<std::shared_ptr<VariableState>, 3>;

  /// The slots of `variable`: `count` variables of zeros, named after it, the first time it
  /// is seen.
  template <class T>
  const Slots& get(const Variable<T>& variable, int count, const std::string& optimizer) {
    const std::shared_ptr<VariableState>& state = variable.state();
    auto it = table_.find(state.get());
    if (it != table_.end() && it->second.owner.expired()) {  // a dead variable's address
      table_.erase(it);
      it = table_.end();
    }
    if (it == table_.end()) {
      drop_dead();
      Owned owned;
      owned.owner = state;
      for (int k = 0; k < count; ++k)
        owned.slots[static_cast<std::size_t>(k)] =
            Variable<T>(variable.shape(), T(0),
                        optimizer + " slot " + std::to_string(k) + " of '" + variable.name() + "'",
                        /*trainable=*/false)
                .state();
      it = table_.emplace(state.get(), std::move(owned)).first;
    }
    return it->second.slots;
  }

 private:
  struct Owned {
    std::weak_ptr<VariableState> owner;
    Slots slots;
  };
  void drop_dead() {
    for (auto it = table_.begin(); it != table_.end();)
      it = it->second.owner.expired() ? table_.erase(it) : std::next(it);
  }
  std::unordered_map<const VariableState*, Owned> table_;
};

inline void check_in_range(const char* op, const char* what, double v, double lo, double hi) {
  TAPEGRAD_CHECK(v >= lo && v <= hi, value_error, op, ": `", what, "` must be a float between [",
                 lo, ", ", hi, "], got ", v);
}

}  // namespace detail

/// What one variable's update gets and gives: its value `w` and gradient `g`, its slots (read
/// on entry, the next slots on return), the learning rate `lr` and the count of steps before
/// this one `step` (0-d doubles), all tensors, so that a traced step replays them.
template <class T>
struct UpdateStep {
  Tensor<T> w, g;
  std::array<Tensor<T>, 3> slots;
  Tensor<double> lr, step;
  /// A value the rule derives from lr and step, computed for the first variable and kept for
  /// the others of the same step (Adam's step size).
  Tensor<double> per_step;
};

/// What every optimizer shares: the learning rate, the step count and apply_gradients.
/// `Derived` supplies `slot_count()` and `template <class T> Tensor<T> update(UpdateStep<T>&)`,
/// which computes a variable's next value (and its next slots) with update ops.
///   opt.apply_gradients(tape.gradient(loss, vars), vars);
template <class Derived>
class Optimizer {
 public:
  /// Applies one step: each variable with a gradient is updated by the optimizer's rule; a
  /// gradient with no value (TensorFlow's None) skips its variable, as Keras does, and
  /// warns once per variable (tapegrad::warn; see set_warning_handler). Counts one step even
  /// when some variables are skipped. Traceable: inside tapegrad::function, a replay takes
  /// the same step.
  ///   auto grads = tape.gradient(loss, vars);  opt.apply_gradients(grads, vars);
  template <class T>
  void apply_gradients(const std::vector<Tensor<T>>& grads, const std::vector<Variable<T>>& vars);

  /// Steps taken so far (Keras's `optimizer.iterations`). Read on the host: inside a traced
  /// function, after a step it took, a trace_error (read it after the call).
  std::int64_t iterations() const {
    return static_cast<std::int64_t>(iterations_.snapshot().item());
  }
  /// The variable that counts the steps, which a traced step reads and assigns.
  const Variable<double>& iterations_variable() const { return iterations_; }
  /// The learning rate the next step will use (read on the host, as iterations()).
  double learning_rate() const { return learning_rate_->rate(iterations()); }
  /// Replaces the learning rate (a constant or a schedule); slots and step count stay. The
  /// replays of traced steps use the new one too.
  void set_learning_rate(LearningRate learning_rate) {
    learning_rate_->rate = std::move(learning_rate);
  }
  /// "SGD", "Adam", "AdamW", "RMSprop": used in error messages.
  const std::string& name() const { return learning_rate_->optimizer; }

  // An optimizer owns its state, which traces of its steps refer to: a copy would have to say
  // whether it shares it, and a moved-from optimizer would have none.
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

 protected:
  Optimizer(LearningRate learning_rate, std::string name)
      : learning_rate_(std::make_shared<detail::LearningRateState>(
            detail::LearningRateState{std::move(learning_rate), name})),
        iterations_(Tensor<double>(0.0), name + " iterations", /*trainable=*/false) {}
  ~Optimizer() = default;

 private:
  std::shared_ptr<detail::LearningRateState> learning_rate_;
  Variable<double> iterations_;
  detail::SlotTable slots_;
  std::vector<std::weak_ptr<detail::VariableState>> warned_;  // told once about a None gradient

  template <class T>
  void warn_missing_gradients(const std::vector<Tensor<T>>& grads,
                              const std::vector<Variable<T>>& vars, const std::string& op) {
    std::string names;
    for (std::size_t i = 0; i < grads.size(); ++i) {
      if (grads[i].has_value()) continue;
      const auto& state = vars[i].state();
      bool told = false;
      for (const auto& w : warned_) told = told || w.lock() == state;
      if (told) continue;
      warned_.push_back(state);
      const std::string name =
          vars[i].name().empty() ? "<unnamed variable " + std::to_string(i) + ">" : vars[i].name();
      names += (names.empty() ? "'" : ", '") + name + "'";
    }
    if (!names.empty())
      warn(op + ": Gradients do not exist for variables [" + names +
           "] when minimizing the loss; they are left as they are (tape.explain(loss, variable) "
           "says why).");
  }
};

// Defined outside the class, so that it is not inline: the precompiled part (NOTE [ The
// precompiled part ]) then holds it for float and double.
template <class Derived>
template <class T>
void Optimizer<Derived>::apply_gradients(const std::vector<Tensor<T>>& grads,
                                         const std::vector<Variable<T>>& vars) {
  static_assert(is_differentiable_v<T>, "apply_gradients: variables hold float or double");
  const std::string op = name() + ".apply_gradients";
  TAPEGRAD_CHECK(grads.size() == vars.size(), value_error, op, ": ", grads.size(),
                 " gradients for ", vars.size(), " variables (expected one per variable)");
  bool any = false;
  for (std::size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].has_value()) continue;
    any = true;
    TAPEGRAD_CHECK(grads[i].shape() == vars[i].shape(), shape_error, op, ": gradient ", i,
                   " has shape ", grads[i].shape(), " but variable '", vars[i].name(),
                   "' has shape ", vars[i].shape());
  }
  TAPEGRAD_CHECK(any, value_error, op, ": No gradients provided for any variable.");
  warn_missing_gradients(grads, vars, op);

  UpdateStep<T> s;
  s.step = iterations_.read_unwatched();
  // Throws when the rate is not finite, before anything changed.
  s.lr = detail::run_without_gradient<double>(detail::learning_rate_op, {&s.step.impl()}, Shape{},
                                              {}, learning_rate_);
  Derived& self = static_cast<Derived&>(*this);
  const int n_slots = self.slot_count();
  for (std::size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].has_value()) continue;
    const Variable<T>& var = vars[i];
    const auto& slots = slots_.get(var, n_slots, name());
    s.w = var.read_unwatched();
    s.g = grads[i];
    for (int k = 0; k < n_slots; ++k)
      s.slots[static_cast<std::size_t>(k)] =
          Variable<T>(slots[static_cast<std::size_t>(k)]).read_unwatched();
    Tensor<T> next = self.update(s);
    s.w = Tensor<T>();
    for (int k = 0; k < n_slots; ++k) {
      Tensor<T>& slot = s.slots[static_cast<std::size_t>(k)];
      Variable<T>(slots[static_cast<std::size_t>(k)]).assign(slot);
      slot = Tensor<T>();
    }
    Variable<T>(var.state()).assign(next);
  }
  iterations_.assign(
      detail::run_without_gradient<double>(detail::next_step_op, {&s.step.impl()}, Shape{}));
}

namespace detail {

// The update ops of the optimizers below, a line of a rule each. The comment names the inputs
// in order and the attributes; `lr` and `step` are 0-d doubles, and a rule for T variables
// uses the rate as T, as an eager step always has.

/// (w, g, lr) -> w - lr g
struct SgdStep {
  static constexpr const char* name = "SGD.step";
  static constexpr int arity = 3;
  template <class T, class Out>
  static void apply(const UpdateAttrs&, const UpdateInputs<T>& in, Out& out) {
    out = in.array(0) - static_cast<T>(in.scalar(2)) * in.array(1);
  }
};
/// (m, g, lr), a = momentum -> momentum m - lr g
struct SgdMomentum {
  static constexpr const char* name = "SGD.momentum";
  static constexpr int arity = 3;
  template <class T, class Out>
  static void apply(const UpdateAttrs& k, const UpdateInputs<T>& in, Out& out) {
    out = static_cast<T>(k.a) * in.array(0) - static_cast<T>(in.scalar(2)) * in.array(1);
  }
};
/// (w, m, g, lr), a = momentum, b = 1 for Nesterov -> w + m, or w + momentum m - lr g
struct SgdApplyMomentum {
  static constexpr const char* name = "SGD.apply_momentum";
  static constexpr int arity = 4;
  template <class T, class Out>
  static void apply(const UpdateAttrs& k, const UpdateInputs<T>& in, Out& out) {
    if (k.b != 0)
      out = in.array(0) + static_cast<T>(k.a) * in.array(1) -
            static_cast<T>(in.scalar(3)) * in.array(2);
    else
      out = in.array(0) + in.array(1);
  }
};
/// (m, g), a = 1 - beta_1 -> m + (g - m) a
struct AdamFirstMoment {
  static constexpr const char* name = "Adam.first_moment";
  static constexpr int arity = 2;
  template <class T, class Out>
  static void apply(const UpdateAttrs& k, const UpdateInputs<T>& in, Out& out) {
    out = in.array(0) + (in.array(1) - in.array(0)) * static_cast<T>(k.a);
  }
};
/// (v, g), a = 1 - beta_2 -> v + (g^2 - v) a
struct AdamSecondMoment {
  static constexpr const char* name = "Adam.second_moment";
  static constexpr int arity = 2;
  template <class T, class Out>
  static void apply(const UpdateAttrs& k, const UpdateInputs<T>& in, Out& out) {
    out = in.array(0) + (in.array(1).square() - in.array(0)) * static_cast<T>(k.a);
  }
};
/// (lr, step), a = beta_1, b = beta_2 -> Keras's step size at t = step + 1, with the bias
/// correction folded in: lr sqrt(1 - beta_2^t) / (1 - beta_1^t), in double from the rate as
/// T, rounded to T (a 0-d double).
template <class T>
void adam_step_size_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const UpdateAttrs k = args.as<UpdateAttrs>();
  const UpdateInputs<T> in{inputs};
  const T lr = static_cast<T>(in.scalar(0));
  const double t = in.scalar(1) + 1;
  *static_cast<double*>(out.data) =
      static_cast<T>(double(lr) * std::sqrt(1 - std::pow(k.b, t)) / (1 - std::pow(k.a, t)));
}
template <class T>
inline constexpr OpDefinition adam_step_size_op{"Adam.step_size", OpFamily::optimizer, 2, nullptr,
                                                &adam_step_size_forward<T>};
/// (w, m, v, lr, step size), a = epsilon, b = weight decay ->
///   (1 - lr weight_decay) w - step_size m / (sqrt(v) + epsilon)
/// AdamW first shrinks the variable, then takes Adam's step, which does not depend on it, so
/// both fit in one pass; for Adam the factor is exactly 1.
struct AdamApply {
  static constexpr const char* name = "Adam.apply";
  static constexpr int arity = 5;
  template <class T, class Out>
  static void apply(const UpdateAttrs& k, const UpdateInputs<T>& in, Out& out) {
    const T keep = static_cast<T>(1) - static_cast<T>(in.scalar(3)) * static_cast<T>(k.b);
    const auto step_size = static_cast<T>(in.scalar(4));
    out = keep * in.array(0) - step_size * in.array(1) / (in.array(2).sqrt() + static_cast<T>(k.a));
  }
};
/// (v, g), a = rho -> rho v + (1 - rho) g^2
struct RmspropVelocity {
  static constexpr const char* name = "RMSprop.velocity";
  static constexpr int arity = 2;
  template <class T, class Out>
  static void apply(const UpdateAttrs& k, const UpdateInputs<T>& in, Out& out) {
    out = static_cast<T>(k.a) * in.array(0) + static_cast<T>(1 - k.a) * in.array(1).square();
  }
};
/// (a, g), a = rho -> rho a + (1 - rho) g
struct RmspropAverage {
  static constexpr const char* name = "RMSprop.average";
  static constexpr int arity = 2;
  template <class T, class Out>
  static void apply(const UpdateAttrs& k, const UpdateInputs<T>& in, Out& out) {
    out = static_cast<T>(k.a) * in.array(0) + static_cast<T>(1 - k.a) * in.array(1);
  }
};
/// (g, v, lr), a = epsilon -> lr g / sqrt(v + epsilon)
struct RmspropDelta {
  static constexpr const char* name = "RMSprop.delta";
  static constexpr int arity = 3;
  template <class T, class Out>
  static void apply(const UpdateAttrs& k, const UpdateInputs<T>& in, Out& out) {
    out = static_cast<T>(in.scalar(2)) * in.array(0) / (in.array(1) + static_cast<T>(k.a)).sqrt();
  }
};
/// (g, v, a, lr), a = epsilon -> lr g / sqrt(v - a^2 + epsilon)
struct RmspropCenteredDelta {
  static constexpr const char* name = "RMSprop.centered_delta";
  static constexpr int arity = 4;
  template <class T, class Out>
  static void apply(const UpdateAttrs& k, const UpdateInputs<T>& in, Out& out) {
    out = static_cast<T>(in.scalar(3)) * in.array(0) /
          (in.array(1) - in.array(2).square() + static_cast<T>(k.a)).sqrt();
  }
};
/// (s, delta), a = momentum -> momentum s + delta
struct RmspropMomentum {
  static constexpr const char* name = "RMSprop.momentum";
  static constexpr int arity = 2;
  template <class T, class Out>
  static void apply(const UpdateAttrs& k, const UpdateInputs<T>& in, Out& out) {
    out = static_cast<T>(k.a) * in.array(0) + in.array(1);
  }
};
/// (w, delta) -> w - delta
struct RmspropApply {
  static constexpr const char* name = "RMSprop.apply";
  static constexpr int arity = 2;
  template <class T, class Out>
  static void apply(const UpdateAttrs&, const UpdateInputs<T>& in, Out& out) {
    out = in.array(0) - in.array(1);
  }
};

}  // namespace detail

/// Gradient descent with optional momentum, as keras.optimizers.SGD:
///   momentum = 0:  w -= lr g
///   otherwise:     m = momentum m - lr g;  w += m            (nesterov: w += momentum m - lr g)
///   tapegrad::SGD opt(0.1, 0.9, /*nesterov=*/true);
class SGD : public Optimizer<SGD> {
 public:
  explicit SGD(LearningRate learning_rate = 0.01, double momentum = 0.0, bool nesterov = false)
      : Optimizer(std::move(learning_rate), "SGD"), momentum_(momentum), nesterov_(nesterov) {
    detail::check_in_range("SGD", "momentum", momentum, 0, 1);
  }

  double momentum() const { return momentum_; }
  bool nesterov() const { return nesterov_; }

  // Internal: the update rule Optimizer::apply_gradients runs on each variable.
  int slot_count() const { return momentum_ != 0 ? 1 : 0; }
  template <class T>
  Tensor<T> update(UpdateStep<T>& s) const {
    using namespace detail;
    if (momentum_ == 0) return run_update<T, SgdStep>({&s.w.impl(), &s.g.impl(), &s.lr.impl()});
    Tensor<T>& m = s.slots[0];
    m = run_update<T, SgdMomentum>({&m.impl(), &s.g.impl(), &s.lr.impl()}, {momentum_});
    return run_update<T, SgdApplyMomentum>({&s.w.impl(), &m.impl(), &s.g.impl(), &s.lr.impl()},
                                           {momentum_, nesterov_ ? 1.0 : 0.0});
  }

 private:
  double momentum_;
  bool nesterov_;
};

/// Adam, as keras.optimizers.Adam, with Keras's bias correction folded into the step size
/// (epsilon is the paper's "epsilon hat"): at step t = iterations() + 1,
///   m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2)
///   w -= lr sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)
///   tapegrad::Adam opt(1e-3);
class Adam : public Optimizer<Adam> {
 public:
  explicit Adam(LearningRate learning_rate = 0.001, double beta_1 = 0.9, double beta_2 = 0.999,
                double epsilon = 1e-7)
      : Adam(std::move(learning_rate), 0.0, beta_1, beta_2, epsilon, "Adam") {}

  double beta_1() const { return beta_1_; }
  double beta_2() const { return beta_2_; }
  double epsilon() const { return epsilon_; }

  // Internal: the update rule Optimizer::apply_gradients runs on each variable.
  int slot_count() const { return 2; }
  template <class T>
  Tensor<T> update(UpdateStep<T>& s) const {
    using namespace detail;
    Tensor<T>& m = s.slots[0];
    Tensor<T>& v = s.slots[1];
    m = run_update<T, AdamFirstMoment>({&m.impl(), &s.g.impl()}, {1 - beta_1_});
    v = run_update<T, AdamSecondMoment>({&v.impl(), &s.g.impl()}, {1 - beta_2_});
    if (!s.per_step.has_value())
      s.per_step =
          run_without_gradient<double>(adam_step_size_op<T>, {&s.lr.impl(), &s.step.impl()},
                                       Shape{}, OpAttrs::of(UpdateAttrs{beta_1_, beta_2_, 0}));
    return run_update<T, AdamApply>(
        {&s.w.impl(), &m.impl(), &v.impl(), &s.lr.impl(), &s.per_step.impl()},
        {epsilon_, weight_decay_});
  }

 protected:
  Adam(LearningRate learning_rate, double weight_decay, double beta_1, double beta_2,
       double epsilon, const char* name)
      : Optimizer(std::move(learning_rate), name),
        weight_decay_(weight_decay),
        beta_1_(beta_1),
        beta_2_(beta_2),
        epsilon_(epsilon) {
    detail::check_in_range(name, "beta_1", beta_1, 0, 1);
    detail::check_in_range(name, "beta_2", beta_2, 0, 1);
    TAPEGRAD_CHECK(epsilon >= 0, value_error, name, ": `epsilon` must be >= 0, got ", epsilon);
    TAPEGRAD_CHECK(std::isfinite(weight_decay), value_error, name,
                   ": `weight_decay` must be finite, got ", weight_decay);
  }

  double weight_decay_;

 private:
  double beta_1_, beta_2_, epsilon_;
};

/// Adam with decoupled weight decay (Loshchilov & Hutter), as keras.optimizers.AdamW: each
/// step first shrinks the variable, w -= lr * weight_decay * w, then takes Adam's step (the
/// decay is not added to the gradient, so it never enters m or v).
///   tapegrad::AdamW opt(1e-3, /*weight_decay=*/0.004);
class AdamW : public Adam {
 public:
  explicit AdamW(LearningRate learning_rate = 0.001, double weight_decay = 0.004,
                 double beta_1 = 0.9, double beta_2 = 0.999, double epsilon = 1e-7)
      : Adam(std::move(learning_rate), weight_decay, beta_1, beta_2, epsilon, "AdamW") {}

  double weight_decay() const { return weight_decay_; }
};

/// RMSprop, as keras.optimizers.RMSprop (epsilon inside the square root):
///   v = rho v + (1 - rho) g^2
///   centered: a = rho a + (1 - rho) g;  d = v - a^2 + epsilon;  otherwise d = v + epsilon
///   step = lr g / sqrt(d);  momentum > 0: s = momentum s + step, w -= s;  else w -= step
///   tapegrad::RMSprop opt(1e-3, 0.9, 0.0, 1e-7, /*centered=*/true);
class RMSprop : public Optimizer<RMSprop> {
 public:
  explicit RMSprop(LearningRate learning_rate = 0.001, double rho = 0.9, double momentum = 0.0,
                   double epsilon = 1e-7, bool centered = false)
      : Optimizer(std::move(learning_rate), "RMSprop"),
        rho_(rho),
        momentum_(momentum),
        epsilon_(epsilon),
        centered_(centered) {
    detail::check_in_range("RMSprop", "rho", rho, 0, 1);
    detail::check_in_range("RMSprop", "momentum", momentum, 0, 1);
    TAPEGRAD_CHECK(epsilon >= 0, value_error, "RMSprop: `epsilon` must be >= 0, got ", epsilon);
  }

  double rho() const { return rho_; }
  double momentum() const { return momentum_; }
  double epsilon() const { return epsilon_; }
  bool centered() const { return centered_; }

  // Internal: the update rule Optimizer::apply_gradients runs on each variable. Slots: the
  // velocity, then the average gradient if centered, then the momentum if any.
  int slot_count() const { return 1 + int(centered_) + int(momentum_ > 0); }
  template <class T>
  Tensor<T> update(UpdateStep<T>& s) const {
    using namespace detail;
    Tensor<T>& v = s.slots[0];
    v = run_update<T, RmspropVelocity>({&v.impl(), &s.g.impl()}, {rho_});
    Tensor<T> delta;
    if (centered_) {
      Tensor<T>& a = s.slots[1];
      a = run_update<T, RmspropAverage>({&a.impl(), &s.g.impl()}, {rho_});
      delta = run_update<T, RmspropCenteredDelta>({&s.g.impl(), &v.impl(), &a.impl(), &s.lr.impl()},
                                                  {epsilon_});
    } else {
      delta = run_update<T, RmspropDelta>({&s.g.impl(), &v.impl(), &s.lr.impl()}, {epsilon_});
    }
    if (momentum_ > 0) {
      Tensor<T>& m = s.slots[centered_ ? 2 : 1];
      m = run_update<T, RmspropMomentum>({&m.impl(), &delta.impl()}, {momentum_});
      delta = m;
    }
    return run_update<T, RmspropApply>({&s.w.impl(), &delta.impl()});
  }

 private:
  double rho_, momentum_, epsilon_;
  bool centered_;
};

}  // namespace tapegrad

// Last: the precompiled list names this header's templates (NOTE [ The precompiled part ]).
#include "tapegrad/train/instantiations.hpp"
