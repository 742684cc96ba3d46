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
//   the local tape's rules are the rules the outer tape would have applied: the gradient is
//   bit for bit the one without recompute_grad.
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

/// The gradient function of recompute_grad's custom gradient: f again, under a local tape.
/// The gradient function of recompute_grad's custom gradient: f again, under a local tape. It
/// takes f's inputs from the entry (NOTE [ A gradient function that reads the inputs from the
/// entry ]), so that the tape's memory report counts them.
template <class T, class F, std::size_t N>
struct RecomputedGradient {
  static constexpr const char* op_name = "recompute_grad";
  F f;
  Generator random_state;  // the default generator as it was when f first ran

  std::pair<std::vector<Tensor<T>>, std::vector<Tensor<T>>> operator()(
      const Tensor<T>& upstream, const std::vector<Variable<T>>& variables,
      const std::vector<Tensor<T>>& inputs) const {
    GradientTape local;
    std::vector<Source<T>> sources;
    for (const Tensor<T>& x : inputs) {
      local.watch(x);
      sources.emplace_back(x);
    }
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
    std::vector<Tensor<T>> grads =
        local.gradient(std::vector<Tensor<T>>{y}, sources, std::vector<Tensor<T>>{upstream},
                       UnconnectedGradients::zero);
    std::vector<Tensor<T>> variable_grads(grads.begin() + static_cast<std::ptrdiff_t>(N),
                                          grads.end());
    grads.resize(N);
    return {std::move(grads), std::move(variable_grads)};
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
      const Generator random_state = default_generator();
      Tensor<T> y(f(x...));
      return std::make_pair(std::move(y),
                            detail::RecomputedGradient<T, F, sizeof...(x)>{f, random_state});
    };
    return custom_gradient(forward)(xs...);
  };
}

}  // namespace tapegrad
