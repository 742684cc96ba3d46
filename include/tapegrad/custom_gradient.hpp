#pragma once

#include <algorithm>
#include <iterator>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/detail/tape_state.hpp"
#include "tapegrad/record.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/variable.hpp"

namespace tapegrad {
namespace detail {
inline ImplRef zero_tangent(const OpArgs&, const ImplRef* const*, const ImplRef&,
                            const ImplRef* const*) {
  return {};
}
/// A barrier on the tape (no backward); its output equals its input, its tangent is zero.
inline constexpr OpDefinition stop_gradient_op{"stop_gradient", OpFamily::shape,   1,
                                               nullptr,         &identity_forward, &zero_tangent};
}  // namespace detail

/// The value of x, cut off from every tape: gradients do not flow through it (PyTorch's
/// detach()).   auto target = tapegrad::stop_gradient(y);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> stop_gradient(const X& x) {
  using T = detail::element_t<X>;
  const Tensor<T> t = [&] {
    if constexpr (std::is_same_v<X, Variable<T>>) {
      detail::ImplRef value = detail::current_value(*x.state());
      // No tape watches this read, but a trace must replay it (NOTE [ Tracing a function ]).
      if (TAPEGRAD_UNLIKELY(detail::thread_tapes.observer != nullptr)) {
        detail::ImplRef read = value;
        detail::for_each_observer(
            [&](detail::OpObserver& o) { o.on_variable_read(*x.state(), value, read); });
        return Tensor<T>(read);
      }
      return Tensor<T>(value);
    } else {
      return detail::arg(x, "stop_gradient");
    }
  }();
  // A new handle on the same elements. Tapes note it as a barrier, which no gradient
  // crosses, so that explain() can say where a path was cut.
  Tensor<T> y(detail::ImplRef::adopt(detail::allocate_alias(t.impl().get(), t.shape())));
  if (detail::any_tape_recording())
    detail::record(y.impl(), detail::stop_gradient_op, {&t.impl()}, {});
  return y;
}

namespace detail {

/// While alive, this thread's tapes do not record (a barrier on the stack, NOTE [ Barriers
/// on the tape stack ]; tapes opened inside record), and variable reads are collected.
class ForwardScope {
 public:
  explicit ForwardScope(std::vector<std::shared_ptr<VariableState>>* watched)
      : barrier_(TapeState::BarrierTag{}), saved_watcher_(variable_watcher) {
    push_barrier(barrier_);
    variable_watcher = watched;
  }
  ForwardScope(const ForwardScope&) = delete;
  ForwardScope& operator=(const ForwardScope&) = delete;
  ~ForwardScope() {
    pop_barrier(barrier_);
    variable_watcher = saved_watcher_;
  }

 private:
  TapeState barrier_;
  std::vector<std::shared_ptr<VariableState>>* saved_watcher_;
};

template <class T, class Grad>
struct CustomGradientClosure {
  Grad grad;
  std::vector<Shape> input_shapes;
  std::vector<Variable<T>> variables;
};

// NOTE [ A gradient function that reads the inputs from the entry ]
// A gradient function usually holds what it needs itself, out of the tape's sight. One that
// names its op (`static constexpr const char* op_name`, as recompute_grad's does) is called
// with the op's inputs as a third argument instead: the entry saves them, so that memory
// reports count them, pictures show the op under its own name, and no second reference to
// them makes the tape's bytes look shared.
template <class Grad, class = void>
struct reads_inputs_from_entry : std::false_type {};
template <class Grad>
struct reads_inputs_from_entry<Grad, std::void_t<decltype(Grad::op_name)>> : std::true_type {};

template <class Grad>
constexpr const char* custom_op_name() {
  if constexpr (reads_inputs_from_entry<Grad>::value)
    return Grad::op_name;
  else
    return "custom_gradient";
}

template <class T, class Grad>
void custom_gradient_backward(const Entry& e, ImplRef&& g, const bool* needs,
                              ImplRef* input_grads) {
  const auto& closure = *static_cast<const CustomGradientClosure<T, Grad>*>(e.extra->closure.get());
  const std::size_t n_inputs = closure.input_shapes.size();
  const std::size_t n_vars = closure.variables.size();
  std::vector<Tensor<T>> grads;
  const Tensor<T> upstream(std::move(g));
  constexpr const char* op = custom_op_name<Grad>();
  auto take_variable_form = [&](auto&& parts) {
    auto& [input_part, variable_part] = parts;
    TAPEGRAD_CHECK(variable_part.size() == n_vars, value_error, op,
                   ": the gradient function returned ", variable_part.size(),
                   " variable gradients for ", n_vars, " variables read in the forward function");
    grads = std::vector<Tensor<T>>(input_part.begin(), input_part.end());
    for (auto& v : variable_part) grads.push_back(std::move(v));
  };
  if constexpr (reads_inputs_from_entry<Grad>::value) {
    std::vector<Tensor<T>> inputs;
    for (std::size_t k = 0; k < n_inputs; ++k)
      inputs.push_back(k < max_op_inputs ? e.saved(k).template get<T>()
                                         : Tensor<T>(e.extra->saved[k - max_op_inputs]));
    take_variable_form(closure.grad(upstream, closure.variables, inputs));
  } else if constexpr (std::is_invocable_v<const Grad&, const Tensor<T>&,
                                           const std::vector<Variable<T>>&>) {
    take_variable_form(closure.grad(upstream, closure.variables));
  } else {
    // (A forward that read trainable variables was refused when it ran: n_vars is 0.)
    using Result = std::invoke_result_t<const Grad&, const Tensor<T>&>;
    if constexpr (std::is_same_v<std::decay_t<Result>, Tensor<T>>)
      grads.push_back(closure.grad(upstream));
    else
      for (auto& t : closure.grad(upstream)) grads.push_back(std::move(t));
  }
  TAPEGRAD_CHECK(!(grads.size() < n_inputs), value_error, op, ": the gradient function returned ",
                 grads.size(), " gradients for ", n_inputs, " inputs");
  for (std::size_t k = 0; k < n_inputs + n_vars; ++k) {
    if (!needs[k] || !grads[k].has_value()) continue;
    const Shape expected =
        k < n_inputs ? closure.input_shapes[k] : closure.variables[k - n_inputs].shape();
    TAPEGRAD_CHECK(grads[k].shape() == expected, shape_error, op, ": gradient ", k, " has shape ",
                   grads[k].shape(), " but its input has shape ", expected);
    input_grads[k] = grads[k].impl();
  }
}

/// A custom gradient as an op: its rule is the user's gradient function, held by the entry.
/// It has no forward kernel or JVP: its forward is the user's code, which the entry does not
/// keep (NOTE [ Ops as data ]).
template <class T, class Grad>
inline constexpr OpDefinition custom_gradient_op{custom_op_name<Grad>(), OpFamily::custom, -1,
                                                 &custom_gradient_backward<T, Grad>};

template <class Forward>
class CustomGradientOp {
 public:
  explicit CustomGradientOp(Forward forward) : forward_(std::move(forward)) {}

  template <class... X>
  auto operator()(const X&... xs) const {
    static_assert(sizeof...(X) > 0, "custom_gradient: the function needs at least one input");
    using T = std::common_type_t<element_t<X>...>;
    static_assert((std::is_same_v<element_t<X>, T> && ...),
                  "custom_gradient: all inputs must have the same element type");
    const std::vector<Tensor<T>> inputs{arg(xs, "custom_gradient")...};
    std::vector<std::shared_ptr<VariableState>> read;
    auto result = [&] {
      ForwardScope scope(&read);
      return call(inputs, std::index_sequence_for<X...>{});
    }();
    // A forward nested in another's reads for both, as TensorFlow's variable watchers do, so
    // that the outer gradient function also hears of the variables read inside.
    if (variable_watcher != nullptr)
      for (const auto& v : read)
        if (std::find(variable_watcher->begin(), variable_watcher->end(), v) ==
            variable_watcher->end())
          variable_watcher->push_back(v);
    using Grad = std::decay_t<decltype(std::get<1>(result))>;
    if constexpr (!reads_inputs_from_entry<Grad>::value) {
      // A variable passed as an input is an input, not one of the variables read (as in
      // TensorFlow), even when the forward also reads it directly. (A gradient function that
      // runs the forward again keeps it in both roles: the direct reads need their share.)
      const VariableState* const passed[] = {input_variable(xs)...};
      read.erase(std::remove_if(read.begin(), read.end(),
                                [&](const auto& v) {
                                  return std::find(std::begin(passed), std::end(passed), v.get()) !=
                                         std::end(passed);
                                }),
                 read.end());
    }
    return finish<T>(inputs, read, std::move(result));
  }

 private:
  template <class X>
  static const VariableState* input_variable(const X& x) {
    if constexpr (std::is_same_v<X, Variable<element_t<X>>>)
      return x.state().get();
    else
      return nullptr;
  }

  template <class T, std::size_t... I>
  auto call(const std::vector<Tensor<T>>& inputs, std::index_sequence<I...>) const {
    return forward_(inputs[I]...);
  }

  template <class T, class Result>
  static Tensor<T> finish(const std::vector<Tensor<T>>& inputs,
                          const std::vector<std::shared_ptr<VariableState>>& read, Result result) {
    auto& [value, grad] = result;
    using Grad = std::decay_t<decltype(grad)>;
    const Tensor<T> y = arg(Tensor<T>(value), "custom_gradient");
    // A fresh handle, so that marking the output never marks a tensor the forward returned as is.
    Tensor<T> out(ImplRef::adopt(allocate_alias(y.impl().get(), y.shape())));
    // As TensorFlow does, when the op is called, taped or not: a gradient function that
    // cannot take the variables the forward read would give them no gradient silently.
    if constexpr (!std::is_invocable_v<const Grad&, const Tensor<T>&,
                                       const std::vector<Variable<T>>&> &&
                  !reads_inputs_from_entry<Grad>::value) {
      std::size_t trainable = 0;
      for (const auto& v : read) trainable += v->trainable && v->dtype == dtype_of<T>() ? 1 : 0;
      TAPEGRAD_CHECK(
          trainable == 0, value_error, "custom_gradient: the forward function read ", trainable,
          " trainable variables, so the gradient function must take (upstream, variables) and "
          "return {input gradients, variable gradients}");
    }
    if (!any_tape_recording()) return out;
    auto closure = std::make_shared<CustomGradientClosure<T, Grad>>(
        CustomGradientClosure<T, Grad>{std::move(grad), {}, {}});
    std::vector<Tensor<T>> all_inputs = inputs;
    for (const auto& x : inputs) closure->input_shapes.push_back(x.shape());
    // Trainable variables, as TensorFlow passes them; a gradient function that runs the forward
    // again takes every variable of the element type, so that one a tape watches explicitly
    // gets the gradient it would get without it.
    for (const auto& v : read)
      if ((v->trainable || reads_inputs_from_entry<Grad>::value) && v->dtype == dtype_of<T>()) {
        closure->variables.emplace_back(v);
        all_inputs.push_back(closure->variables.back().value());  // watched as any read is
      }
    std::vector<const ImplRef*> refs;
    for (const auto& x : all_inputs) refs.push_back(&x.impl());
    const std::size_t n_saved = reads_inputs_from_entry<Grad>::value ? inputs.size() : 0;
    record(out.impl(), custom_gradient_op<T, Grad>, refs.data(), refs.size(), refs.data(), n_saved,
           OpAttrs{}, std::shared_ptr<const void>(closure));
    return out;
  }

  Forward forward_;
};

}  // namespace detail

/// Makes an op from `forward`, which returns its value and a function computing its
/// gradient from the upstream gradient (tf.custom_gradient). The forward's own ops are not
/// recorded; the gradient function's ops are, by any tape recording while it runs, so to be
/// differentiable again it must compute from the inputs (which outer tapes know), not from
/// values the forward computed (which no tape saw). With one input the gradient function returns a
/// Tensor, with several a std::vector of them; if the forward reads trainable variables, it takes
/// (upstream, variables) and returns {input gradients, variable gradients}.
///   auto log1pexp = tapegrad::custom_gradient([](const Tensor<double>& x) {
///     return std::make_pair(tapegrad::log(1.0 + tapegrad::exp(x)),
///                           [x](const Tensor<double>& g) { return g / (1.0 + tapegrad::exp(-x));
///                           });
///   });
///   auto y = log1pexp(x);
template <class Forward>
detail::CustomGradientOp<Forward> custom_gradient(Forward forward) {
  return detail::CustomGradientOp<Forward>(std::move(forward));
}

/// `f` with the identity as its gradient (tf.grad_pass_through): the value is f(x), and the
/// upstream gradient passes to x unchanged, so f must keep x's shape. Variables f reads get
/// no gradient. Useful around a non-differentiable step (an assign, a quantisation).
///   auto y = tapegrad::grad_pass_through([&](const auto& v) { w.assign(v); return w.value();
///   })(z);
template <class F>
auto grad_pass_through(F f) {
  return [f](const auto& x) {
    using T = detail::element_t<std::decay_t<decltype(x)>>;
    return custom_gradient([&f](const Tensor<T>& v) {
      auto identity_gradient = [](const Tensor<T>& upstream,
                                  const std::vector<Variable<T>>& variables) {
        return std::make_pair(std::vector<Tensor<T>>{upstream},
                              std::vector<Tensor<T>>(variables.size()));
      };
      return std::make_pair(Tensor<T>(f(v)), identity_gradient);
    })(x);
  };
}

}  // namespace tapegrad
