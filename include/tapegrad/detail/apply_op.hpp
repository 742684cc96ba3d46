#pragma once

#include <string>
#include <type_traits>

#include "tapegrad/detail/kernels.hpp"
#include "tapegrad/record.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/variable.hpp"

// What every op's public function shares: it accepts Tensors and Variables alike (arg()), and
// is enabled only for the element types it takes.
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

template <class Op, class = void>
inline constexpr bool has_repair_v = false;
template <class Op>
inline constexpr bool has_repair_v<Op, std::void_t<decltype(&Op::template repair<float>)>> = true;

inline const ImplRef no_saved_tensor{};

}  // namespace tapegrad::detail
