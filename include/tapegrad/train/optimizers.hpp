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

#include "tapegrad/detail/tape_state.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/variable.hpp"
#include "tapegrad/warning.hpp"

// Optimizers after tf.keras.optimizers (Keras 3): SGD, Adam, AdamW and RMSprop, each applying
// gradients from GradientTape::gradient to the variables they were taken with.
//
// NOTE [ How an optimizer updates a variable ]
// apply_gradients checks every gradient against its variable before it changes anything, so
// a bad call leaves variables and optimizer state as they were. Then, for each variable with
// a gradient, it reads the current value without telling any tape, runs the update rule as
// Eigen expressions on the flat arrays (one pass per line of the formula, no per-element
// calls) into a fresh tensor, and assign()s it: assign is never recorded, so training steps
// taken while a tape is open leave nothing on it. Per-variable state (Keras's "slots":
// momentum, velocity ...) lives in the optimizer, keyed by the variable's shared state, which
// every copy of a Variable refers to; a slot whose variable has been destroyed is dropped, so
// a new variable that happens to reuse the address starts from zeros.
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

template <class T>
using FlatArray = Eigen::Array<T, Eigen::Dynamic, 1>;

/// An optimizer's per-variable state: up to three arrays shaped like the (flattened) variable.
struct VariableSlots {
  std::weak_ptr<VariableState> owner;
  std::array<FlatArray<float>, 3> f;
  std::array<FlatArray<double>, 3> d;

  template <class T>
  std::array<FlatArray<T>, 3>& arrays() {
    if constexpr (std::is_same_v<T, float>)
      return f;
    else
      return d;
  }
};

/// The slots of every variable an optimizer has updated; see NOTE [ How an optimizer updates
/// a variable ].
class SlotTable {
 public:
  /// The slots of `variable`: `count` arrays of zeros the first time it is seen.
  template <class T>
  std::array<FlatArray<T>, 3>& get(const Variable<T>& variable, std::int64_t size, int count) {
    const std::shared_ptr<VariableState>& state = variable.state();
    auto it = table_.find(state.get());
    if (it != table_.end() && it->second.owner.expired()) {  // a dead variable's address
      table_.erase(it);
      it = table_.end();
    }
    if (it == table_.end()) {
      drop_dead();
      VariableSlots slots;
      slots.owner = state;
      for (int k = 0; k < count; ++k)
        slots.arrays<T>()[static_cast<std::size_t>(k)] =
            FlatArray<T>::Zero(static_cast<Eigen::Index>(size));
      it = table_.emplace(state.get(), std::move(slots)).first;
    }
    return it->second.arrays<T>();
  }

 private:
  void drop_dead() {
    for (auto it = table_.begin(); it != table_.end();)
      it = it->second.owner.expired() ? table_.erase(it) : std::next(it);
  }
  std::unordered_map<const VariableState*, VariableSlots> table_;
};

inline void check_in_range(const char* op, const char* what, double v, double lo, double hi) {
  TAPEGRAD_CHECK(v >= lo && v <= hi, value_error, op, ": `", what, "` must be a float between [",
                 lo, ", ", hi, "], got ", v);
}

}  // namespace detail

/// What every optimizer shares: the learning rate, the step count and apply_gradients.
/// `Derived` supplies `template <class T> void update_step(w, g, next, slots, lr)` computing a
/// variable's next value from its value `w` and gradient `g` (flat Eigen arrays), and
/// `slot_count()`.   opt.apply_gradients(tape.gradient(loss, vars), vars);
template <class Derived>
class Optimizer {
 public:
  /// Applies one step: each variable with a gradient is updated by the optimizer's rule; a
  /// gradient with no value (TensorFlow's None) skips its variable, as Keras does, and
  /// warns once per variable (tapegrad::warn; see set_warning_handler). Counts one step even
  /// when some variables are skipped.
  ///   auto grads = tape.gradient(loss, vars);  opt.apply_gradients(grads, vars);
  template <class T>
  void apply_gradients(const std::vector<Tensor<T>>& grads, const std::vector<Variable<T>>& vars);

  /// Steps taken so far (Keras's `optimizer.iterations`).
  std::int64_t iterations() const { return iterations_; }
  /// The learning rate the next step will use.
  double learning_rate() const { return learning_rate_(iterations_); }
  /// Replaces the learning rate (a constant or a schedule); slots and step count stay.
  void set_learning_rate(LearningRate learning_rate) { learning_rate_ = std::move(learning_rate); }
  /// "SGD", "Adam", "AdamW", "RMSprop": used in error messages.
  const std::string& name() const { return name_; }

 protected:
  Optimizer(LearningRate learning_rate, std::string name)
      : learning_rate_(std::move(learning_rate)), name_(std::move(name)) {}

 private:
  LearningRate learning_rate_;
  std::string name_;
  std::int64_t iterations_ = 0;
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
  const std::string op = name_ + ".apply_gradients";
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
  const double lr = learning_rate();
  TAPEGRAD_CHECK(std::isfinite(lr), value_error, op, ": the learning rate at step ", iterations_,
                 " is ", lr, " (expected a finite number)");

  Derived& self = static_cast<Derived&>(*this);
  for (std::size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].has_value()) continue;
    Variable<T> var = vars[i];                               // a handle on the same variable
    const Tensor<T> w(detail::current_value(*var.state()));  // not a read any tape sees
    Tensor<T> next(detail::uninitialized, w.shape());
    auto& slots = slots_.get(var, w.size(), self.slot_count());
    self.update_step(w.array(), grads[i].array(), next.mutable_array(), slots, static_cast<T>(lr));
    var.assign(next);
  }
  ++iterations_;
}

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
  template <class T, class W, class G, class N>
  void update_step(const W& w, const G& g, N next, std::array<detail::FlatArray<T>, 3>& slots,
                   T lr) const {
    if (momentum_ == 0) {
      next = w - lr * g;
      return;
    }
    const T mu = static_cast<T>(momentum_);
    auto& m = slots[0];
    m = mu * m - lr * g;
    if (nesterov_)
      next = w + mu * m - lr * g;
    else
      next = w + m;
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
  template <class T, class W, class G, class N>
  void update_step(const W& w, const G& g, N next, std::array<detail::FlatArray<T>, 3>& slots,
                   T lr) const {
    auto& m = slots[0];
    auto& v = slots[1];
    const double t = static_cast<double>(iterations() + 1);
    const T alpha = static_cast<T>(double(lr) * std::sqrt(1 - std::pow(beta_2_, t)) /
                                   (1 - std::pow(beta_1_, t)));
    m += (g - m) * static_cast<T>(1 - beta_1_);
    v += (g.square() - v) * static_cast<T>(1 - beta_2_);
    // AdamW: Keras first shrinks the variable by lr * weight_decay, then takes the Adam step;
    // the step does not depend on the variable, so both fit in one pass.
    const T keep = static_cast<T>(1) - lr * static_cast<T>(weight_decay_);
    next = keep * w - alpha * m / (v.sqrt() + static_cast<T>(epsilon_));
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
  template <class T, class W, class G, class N>
  void update_step(const W& w, const G& g, N next, std::array<detail::FlatArray<T>, 3>& slots,
                   T lr) const {
    auto& v = slots[0];
    const T rho = static_cast<T>(rho_), one_minus_rho = static_cast<T>(1 - rho_);
    const T eps = static_cast<T>(epsilon_);
    v = rho * v + one_minus_rho * g.square();
    if (centered_) {
      auto& a = slots[1];
      a = rho * a + one_minus_rho * g;
      next = lr * g / (v - a.square() + eps).sqrt();  // the step, before momentum
    } else {
      next = lr * g / (v + eps).sqrt();
    }
    if (momentum_ > 0) {
      auto& s = slots[centered_ ? 2 : 1];
      s = static_cast<T>(momentum_) * s + next;
      next = w - s;
    } else {
      next = w - next;
    }
  }

 private:
  double rho_, momentum_, epsilon_;
  bool centered_;
};

}  // namespace tapegrad

// Last: the precompiled list names this header's templates (NOTE [ The precompiled part ]).
#include "tapegrad/train/instantiations.hpp"
