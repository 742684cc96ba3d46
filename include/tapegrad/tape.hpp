#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/detail/tape_state.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/gradient.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/variable.hpp"

namespace tapegrad {

/// How a GradientTape behaves; the fields mirror tf.GradientTape's arguments.
struct TapeOptions {
  /// Allow any number of gradient() calls (TensorFlow's persistent=True).
  bool persistent = false;
  /// Watch every trainable Variable read while recording (TensorFlow's default).
  bool watch_accessed_variables = true;
};

/// Options for a tape that allows several gradient() calls.
///   tapegrad::GradientTape tape(tapegrad::persistent);
inline constexpr TapeOptions persistent{true, true};

/// Something to differentiate with respect to: a Tensor or a Variable.
template <class T>
class Source {
 public:
  Source(const Tensor<T>& tensor) : tensor_(tensor) {}  // NOLINT: implicit on purpose
  Source(const Variable<T>& variable) : variable_(variable.state()) {}  // NOLINT
  const Tensor<T>& tensor() const { return tensor_; }
  const std::shared_ptr<detail::VariableState>& variable() const { return variable_; }

 private:
  Tensor<T> tensor_;
  std::shared_ptr<detail::VariableState> variable_;
};

/// Records the ops run on watched tensors and variables on this thread, from construction
/// until stop() or destruction (the C++ form of Python's `with tf.GradientTape() as tape:`),
/// and computes gradients by walking the record backward. Tapes nest; each thread has its
/// own stack of them, and an op on another thread is never recorded here.
///   tapegrad::Variable<float> x({2.f, 3.f});
///   tapegrad::GradientTape tape;
///   auto y = x * x;
///   std::cout << tape.gradient(y, x);   // Tensor([4. 6.], shape=(2,), dtype=float32)
class GradientTape {
 public:
  GradientTape() : GradientTape(TapeOptions{}) {}
  explicit GradientTape(const TapeOptions& options)
      : state_(std::make_unique<detail::TapeState>(options.persistent,
                                                   options.watch_accessed_variables)) {
    int depth = 0;
    for (auto* t = detail::thread_tapes.top; t; t = t->below) ++depth;
    if (depth >= detail::max_nested_tapes)
      throw tape_error("GradientTape: more than " + std::to_string(detail::max_nested_tapes) +
                       " tapes nested on one thread");
    detail::push_tape(*state_);
  }
  GradientTape(const GradientTape&) = delete;
  GradientTape& operator=(const GradientTape&) = delete;
  ~GradientTape() { detail::pop_tape(*state_); }

  /// Makes the tape track a constant, so gradients with respect to it can be taken
  /// (PyTorch's requires_grad = True).   tape.watch(x);
  template <class T>
  void watch(const Tensor<T>& tensor) {
    static_assert(is_differentiable_v<T>,
                  "GradientTape::watch: only float and double tensors can be differentiated");
    if (!tensor.has_value()) throw value_error("GradientTape::watch: the tensor has no value");
    state_->watch(tensor.impl());
  }
  /// Makes the tape track a variable even when it is not trainable or the tape does not
  /// watch accessed variables.   tape.watch(v);
  template <class T>
  void watch(const Variable<T>& variable) {
    state_->watch(variable.state());
  }

  /// Stops recording for good, as leaving Python's `with` block does; gradient() still works.
  void stop() noexcept { detail::pop_tape(*state_); }
  /// True while ops are being recorded.
  bool recording() const noexcept { return state_->recording(); }
  bool persistent() const noexcept { return state_->persistent; }

  /// d sum(target) / d source, shaped like source; no value (TensorFlow's None) when the
  /// target does not depend on the source or the source was never watched.
  ///   auto dy_dx = tape.gradient(y, x);
  template <class X, class S,
            std::enable_if_t<detail::is_tensor_like_v<X> && detail::is_tensor_like_v<S>, int> = 0>
  Tensor<detail::element_t<S>> gradient(const X& target, const S& source) {
    using T = detail::element_t<S>;
    return gradient_of<detail::element_t<X>, T>(target_tensor(target), {Source<T>(source)})[0];
  }
  /// Gradients with respect to several sources, in the same order.
  ///   auto grads = tape.gradient(loss, {w, b});
  template <class X, detail::if_differentiable<X> = 0>
  std::vector<Tensor<detail::element_t<X>>> gradient(
      const X& target, std::initializer_list<Source<detail::element_t<X>>> sources) {
    return gradient_of<detail::element_t<X>, detail::element_t<X>>(
        target_tensor(target), std::vector<Source<detail::element_t<X>>>(sources));
  }
  template <class X, class S, detail::if_differentiable<X> = 0>
  std::vector<Tensor<detail::element_t<S>>> gradient(const X& target,
                                                     const std::vector<S>& sources) {
    using T = detail::element_t<S>;
    return gradient_of<detail::element_t<X>, T>(
        target_tensor(target), std::vector<Source<T>>(sources.begin(), sources.end()));
  }

 private:
  template <class X>
  static Tensor<detail::element_t<X>> target_tensor(const X& target) {
    static_assert(is_differentiable_v<detail::element_t<X>>,
                  "GradientTape::gradient: the target must be a float or double tensor");
    return detail::arg(target, "gradient");
  }

  template <class TargetT, class T>
  std::vector<Tensor<T>> gradient_of(const Tensor<TargetT>& target,
                                     const std::vector<Source<T>>& sources) {
    static_assert(is_differentiable_v<T>,
                  "GradientTape::gradient: sources must be float or double tensors or variables");
    detail::TapeState& tape = *state_;
    if (tape.used)
      throw tape_error(
          "A non-persistent GradientTape can only be used to compute one set of gradients (or "
          "jacobians)");
    std::vector<detail::NodeId> nodes;
    nodes.reserve(sources.size());
    for (const Source<T>& s : sources) {
      if (s.variable())
        nodes.push_back(tape.find(s.variable().get()));
      else if (!s.tensor().has_value())
        throw value_error("GradientTape::gradient: a source tensor has no value");
      else
        nodes.push_back(tape.find(s.tensor().impl().get()));
    }
    const detail::NodeId target_node = tape.find(target.impl().get());
    // A non-persistent tape stops recording here, as in TensorFlow, so that an outer tape
    // alone records the gradient computation.
    if (!tape.persistent) detail::pop_tape(tape);
    std::vector<detail::ImplRef> grads;
    if (target_node != detail::no_node) {
      const Tensor<TargetT> seed = Tensor<TargetT>::ones(target.shape());
      grads = detail::reverse_sweep(tape, {target_node}, {seed.impl()}, nodes);
    }
    std::vector<Tensor<T>> out(sources.size());
    for (std::size_t i = 0; i < grads.size(); ++i) out[i] = Tensor<T>(std::move(grads[i]));
    if (!tape.persistent) {
      tape.used = true;
      tape.clear();
    }
    return out;
  }

  std::unique_ptr<detail::TapeState> state_;
};

}  // namespace tapegrad
