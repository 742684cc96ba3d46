#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapegrad/custom_gradient.hpp"
#include "tapegrad/ops/random.hpp"
#include "tapegrad/tape.hpp"
#include "tapegrad/unconnected_gradients.hpp"

// NOTE [ Recomputing a block's gradient ]
// recompute_grad(f) trades time for memory (gradient checkpointing, Chen et al. 2016). It is a
// custom gradient: f runs once with no tape recording it, so the tapes keep f's inputs (which
// its gradient function holds) and its output, not the tensors f's ops would have saved. The
// gradient function runs f again under a local tape that watches the inputs and the variables
// f read, and asks that tape for the vector-Jacobian product with the upstream gradient. So:
// - The recomputation runs the same kernels on the same values, so it gives the same bits, and
//   the local tape's rules are the rules the outer tape would have applied. The gradient is bit
//   for bit the one without recompute_grad where the block's inputs are used only inside it;
//   where one is also used outside, its gradient's terms are added in another order (the
//   block's among themselves first), which may differ in the last bits.
// - What f does not depend on gets no gradient (None), as without recompute_grad; a tensor
//   passed twice is one source. The variables f reads, trainable or watched, passed as an
//   argument or not, and read by blocks nested in it, get their gradients; one assigned
//   between the forward and gradient() is refused (tape_error), since f run again would be
//   another function: its value is held so that the assign cannot happen in place unseen.
// - A tape recording while the gradient runs (an outer tape around an inner gradient() call)
//   records both the recomputation and the local sweep, from the inputs it knows: second
//   derivatives pass through. TensorFlow refuses those (its inner gradient raises on
//   transposition); nothing here needs to.
// - A forward accumulator gives the op a tangent by the double-VJP construction, as it does
//   any custom gradient, since the local sweep is made of ops that the construction's tape
//   records.
// - Random ops that draw from this thread's default generator draw the same numbers when f
//   runs again: the generator's state before f is kept, set for the recomputation, and the
//   state the program had reached is put back after it, so later draws do not notice the
//   recomputation. A Generator that f holds by reference is not rewound: it advances again.
namespace tapegrad {
namespace detail {

/// The gradient function of recompute_grad's custom gradient: f again, under a local tape. It
/// takes f's inputs from the entry (NOTE [ A gradient function that reads the inputs from the
/// entry ]), so that the tape's memory report counts them.
template <class T, class F, std::size_t N>
struct RecomputedGradient {
  static constexpr const char* op_name = "recompute_grad";
  F f;
  Generator random_state;  // the default generator as it was when f first ran
  // The values of the variables f read, as it read them: holding them makes an assign copy
  // rather than write in place, so that a change is seen (and refused) before recomputing.
  std::vector<std::pair<std::shared_ptr<VariableState>, ImplRef>> values_read;

  std::pair<std::vector<Tensor<T>>, std::vector<Tensor<T>>> operator()(
      const Tensor<T>& upstream, const std::vector<Variable<T>>& variables,
      const std::vector<Tensor<T>>& inputs) const {
    for (const auto& [variable, value] : values_read)
      TAPEGRAD_CHECK(current_value(*variable).get() == value.get(), tape_error,
                     "recompute_grad: variable '", variable->name,
                     "' was assigned after the block ran, so running the block again would "
                     "differentiate another function; take the gradient before updating it");
    GradientTape local;
    // A tensor passed twice is one source, whose gradient goes to its first slot: the outer
    // sweep adds up the slots of one node, so a copy in each would count it twice.
    std::vector<Source<T>> sources;
    for (std::size_t k = 0; k < inputs.size(); ++k)
      if (!is_repeat(inputs, k)) {
        local.watch(inputs[k]);
        sources.emplace_back(inputs[k]);
      }
    const std::size_t n_input_sources = sources.size();
    for (const Variable<T>& v : variables) {
      local.watch(v);
      sources.emplace_back(v);
    }
    Tensor<T> y = [&] {
      Generator& generator = default_generator();
      const Generator reached = generator;
      generator = random_state;
      struct Restore {
        Generator& generator;
        const Generator& state;
        ~Restore() { generator = state; }
      } restore{generator, reached};
      return call(inputs, std::make_index_sequence<N>{});
    }();
    TAPEGRAD_CHECK(y.has_value() && y.shape() == upstream.shape(), shape_error,
                   "recompute_grad: the function returned shape ",
                   y.has_value() ? y.shape() : Shape{}, " when run again for the gradient, ",
                   "but its gradient has shape ", upstream.shape());
    // As f without recompute_grad: no value for what f does not depend on.
    std::vector<Tensor<T>> grads =
        local.gradient(std::vector<Tensor<T>>{y}, sources, std::vector<Tensor<T>>{upstream});
    std::vector<Tensor<T>> input_grads(inputs.size());
    for (std::size_t k = 0, next = 0; k < inputs.size(); ++k)
      if (!is_repeat(inputs, k)) input_grads[k] = grads[next++];
    std::vector<Tensor<T>> variable_grads(
        grads.begin() + static_cast<std::ptrdiff_t>(n_input_sources), grads.end());
    return {std::move(input_grads), std::move(variable_grads)};
  }

  static bool is_repeat(const std::vector<Tensor<T>>& inputs, std::size_t k) {
    for (std::size_t j = 0; j < k; ++j)
      if (inputs[j].impl().get() == inputs[k].impl().get()) return true;
    return false;
  }

  template <std::size_t... I>
  Tensor<T> call(const std::vector<Tensor<T>>& inputs, std::index_sequence<I...>) const {
    return Tensor<T>(f(inputs[I]...));
  }
};

}  // namespace detail

/// `f` whose gradient recomputes it instead of keeping what its ops saved (tf.recompute_grad,
/// gradient checkpointing): tapes keep f's inputs and output only, and gradient() runs f again
/// to differentiate it (NOTE [ Recomputing a block's gradient ]). f takes one or more tensors of
/// one element type and returns one tensor; the variables it reads get gradients. f must give
/// the same value when run again: a Variable it reads must not change before gradient().
///   auto block = tapegrad::recompute_grad([&](const auto& x) { return relu(dense(x)); });
///   auto y = block(x);   // the tape keeps x and y, not the activations inside
template <class F>
auto recompute_grad(F f) {
  return [f](const auto&... xs) {
    static_assert(sizeof...(xs) > 0, "recompute_grad: the function needs at least one input");
    using T = std::common_type_t<detail::element_t<std::decay_t<decltype(xs)>>...>;
    auto forward = [&f](const auto&... x) {
      detail::RecomputedGradient<T, F, sizeof...(x)> grad{f, default_generator(), {}};
      Tensor<T> y(f(x...));
      // custom_gradient collects the variables f reads (detail::ForwardScope).
      if (detail::variable_watcher != nullptr)
        for (const auto& v : *detail::variable_watcher)
          grad.values_read.emplace_back(v, detail::current_value(*v));
      return std::make_pair(std::move(y), std::move(grad));
    };
    return custom_gradient(forward)(xs...);
  };
}

}  // namespace tapegrad
