#pragma once

#include <string>
#include <type_traits>

#include "tapegrad/detail/kernels.hpp"
#include "tapegrad/record.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/variable.hpp"

// The glue every op shares: accept Tensors and Variables alike, compute the value with the
// op's kernel, and record it with a backward that calls the op's gradient rule. An op is a
// struct holding its forward and its gradient side by side (see ops/unary.hpp).
namespace tapegrad::detail {

/// T, in a context that template argument deduction does not look at (C++20's type_identity).
template <class T>
struct identity {
  using type = T;
};
template <class T>
using identity_t = typename identity<T>::type;

template <class X>
struct tensor_like : std::false_type {};
template <class T>
struct tensor_like<Tensor<T>> : std::true_type {
  using element = T;
};
template <class T>
struct tensor_like<Variable<T>> : std::true_type {
  using element = T;
};

template <class X>
inline constexpr bool is_tensor_like_v = tensor_like<std::decay_t<X>>::value;
template <class X>
using element_t = typename tensor_like<std::decay_t<X>>::element;

/// Enables an op for Tensor<T> and Variable<T> with T float or double.
template <class X>
using if_differentiable = std::enable_if_t<is_differentiable_v<element_t<X>>, int>;
template <class X, class Y>
using if_both_differentiable = std::enable_if_t<is_tensor_like_v<X> && is_tensor_like_v<Y> &&
                                                    is_differentiable_v<element_t<X>> &&
                                                    std::is_same_v<element_t<X>, element_t<Y>>,
                                                int>;
template <class X, class S>
using if_tensor_and_scalar = std::enable_if_t<
    is_tensor_like_v<X> && std::is_arithmetic_v<S> && is_differentiable_v<element_t<X>>, int>;

/// The tensor an op reads from an argument: a Tensor as it is, a Variable's (watched) value.
template <class T>
const Tensor<T>& arg(const Tensor<T>& x, const char* op) {
  TAPEGRAD_CHECK(x.has_value(), value_error, op,
                 ": an input has no value (a gradient that does not exist, TensorFlow's None)");
  return x;
}
template <class T>
Tensor<T> arg(const Variable<T>& x, const char*) {
  return x.value();
}

// ---- unary ops: y = Op::forward(x), dx = Op::gradient(x, y, g) ----

// NOTE [ Fused first-order gradients ]
// Every gradient is written with tapegrad's ops so that an outer tape can differentiate it.
// When no tape on this thread records the backward pass (the common first-order case), that
// generality buys nothing, and an op may also give its gradient as one Eigen expression
// (`fused`, beside `gradient` in its struct): one allocation and one pass instead of a
// chain of temporaries. Both forms are tested: gradchecks run the fused form, second
// derivatives the composed one.
template <class Op, class = void>
inline constexpr bool has_fused_gradient_v = false;
template <class Op>
inline constexpr bool has_fused_gradient_v<Op, std::void_t<decltype(Op::fused_gradient)>> = true;

// NOTE [ Saving only what a gradient reads ]
// An op's struct may say which of x and y its gradient reads (`reads`, default both); only
// those are saved on the tape. Fewer saved tensors mean fewer reference counts and fewer
// tensors kept alive until the tape goes, which is most of what recording costs for small
// tensors. The one not saved is passed to the gradient as g, which has the same shape.
enum : unsigned { reads_x = 1, reads_y = 2 };
template <class Op, class = void>
inline constexpr unsigned reads_v = reads_x | reads_y;
template <class Op>
inline constexpr unsigned reads_v<Op, std::void_t<decltype(Op::reads)>> = Op::reads;

inline const ImplRef no_saved_tensor{};

template <class Op>
const ImplRef& saved_x(const ImplRef& x) {
  return (reads_v<Op> & reads_x) ? x : no_saved_tensor;
}
template <class Op>
const ImplRef& saved_y(const ImplRef& y) {
  return (reads_v<Op> & reads_y) ? y : no_saved_tensor;
}
template <class Op, class T>
const Tensor<T>& saved_or(const Entry& e, int k, unsigned which, const Tensor<T>& grad) {
  return (reads_v<Op> & which) ? e.saved[k].get<T>() : grad;
}

template <class Op, class T>
void unary_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const Tensor<T> grad(std::move(g));
  const Tensor<T>& x = saved_or<Op>(e, 0, reads_x, grad);
  const Tensor<T>& y = saved_or<Op>(e, 1, reads_y, grad);
  if constexpr (has_fused_gradient_v<Op>) {
    if (!any_tape_recording()) {
      Tensor<T> out(uninitialized, x.shape());
      out.mutable_array() = Op::fused(x.array(), y.array(), grad.array());
      dx[0] = std::move(out).take_impl();
      return;
    }
  }
  dx[0] = Op::gradient(x, y, grad).take_impl();
}

template <class Op, class = void>
inline constexpr bool has_repair_v = false;
template <class Op>
inline constexpr bool has_repair_v<Op, std::void_t<decltype(&Op::template repair<float>)>> = true;

template <class Op, class T>
Tensor<T> apply_unary(const Tensor<T>& x) {
  Tensor<T> y = map_unary(x, [](const auto& a) { return Op::forward(a); });
  if constexpr (has_repair_v<Op>) Op::repair(x.data(), y.mutable_data(), x.size());
  if (any_tape_recording())
    record(y.impl(), Op::name, &unary_backward<Op, T>, {&x.impl()},
           {&saved_x<Op>(x.impl()), &saved_y<Op>(y.impl())});
  return y;
}

// ---- tensor-scalar ops: y = Op::forward(x, s), dx = Op::gradient(x, y, g, s) ----

template <class Op, class T>
void scalar_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  const Tensor<T> grad(std::move(g));
  const Tensor<T>& x = saved_or<Op>(e, 0, reads_x, grad);
  const Tensor<T>& y = saved_or<Op>(e, 1, reads_y, grad);
  const auto s = static_cast<T>(e.attrs.scalar);
  if constexpr (has_fused_gradient_v<Op>) {
    if (!any_tape_recording()) {  // NOTE [ Fused first-order gradients ]
      Tensor<T> out(uninitialized, x.shape());
      out.mutable_array() = Op::fused(x.array(), y.array(), grad.array(), s);
      dx[0] = std::move(out).take_impl();
      return;
    }
  }
  dx[0] = Op::gradient(x, y, grad, s).take_impl();
}

template <class Op, class T>
Tensor<T> apply_scalar(const Tensor<T>& x, T s) {
  Tensor<T> y = map_unary(x, [s](const auto& a) { return Op::forward(a, s); });
  if (any_tape_recording()) {
    OpAttrs attrs;
    attrs.scalar = static_cast<double>(s);
    record(y.impl(), Op::name, &scalar_backward<Op, T>, {&x.impl()},
           {&saved_x<Op>(x.impl()), &saved_y<Op>(y.impl())}, attrs);
  }
  return y;
}

// ---- binary ops with broadcasting: y = Op::forward(a, b); Op::gradient fills da, db as
// if no broadcast happened, and the glue sums them back to each input's shape. ----

template <class T>
Tensor<T> sum_to(const Tensor<T>& x, const Shape& shape);

template <class Op, class T>
void binary_backward(const Entry& e, ImplRef&& g, const bool* needs, ImplRef* grads) {
  const Tensor<T>& a = e.saved[0].get<T>();
  const Tensor<T>& b = e.saved[1].get<T>();
  Tensor<T> da, db;
  const unsigned mask = (needs[0] ? 1u : 0u) | (needs[1] ? 2u : 0u);
  Op::gradient(a, b, e.saved[2].get<T>(), Tensor<T>(std::move(g)), mask, da, db);
  if (needs[0] && da.has_value()) grads[0] = sum_to(da, a.shape()).take_impl();
  if (needs[1] && db.has_value()) grads[1] = sum_to(db, b.shape()).take_impl();
}

template <class Op, class T>
Tensor<T> apply_binary(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> y =
      map_binary(a, b, Op::name, [](const auto& x, const auto& z) { return Op::forward(x, z); });
  if (any_tape_recording())
    record(y.impl(), Op::name, &binary_backward<Op, T>, {&a.impl(), &b.impl()},
           {&a.impl(), &b.impl(), &y.impl()});
  return y;
}

}  // namespace tapegrad::detail
