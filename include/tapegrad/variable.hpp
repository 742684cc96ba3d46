#pragma once

#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "tapegrad/detail/kernels.hpp"
#include "tapegrad/detail/op_observer.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/record.hpp"
#include "tapegrad/tensor.hpp"

namespace tapegrad {

/// Mutable, trainable state, like tf.Variable. Reading it (value(), or passing it to any op)
/// while a GradientTape records makes the tape watch it, unless it is not trainable or the
/// tape was opened with watch_accessed_variables = false. Copies refer to the same variable.
/// assign/assign_add/assign_sub change it and are never recorded: a state change blocks
/// gradients, as in TensorFlow.
///   tapegrad::Variable<float> w({1.f, 2.f}, "w");
///   w.assign_sub(learning_rate * tape.gradient(loss, w));
template <class T>
class Variable {
  static_assert(is_differentiable_v<T>, "tapegrad: Variable<T> holds float or double");

 public:
  using value_type = T;

 private:
  using ImplRef = detail::ImplRef;

 public:
  explicit Variable(Tensor<T> initial, std::string name = "", bool trainable = true)
      : state_(std::make_shared<detail::VariableState>()) {
    TAPEGRAD_CHECK(initial.has_value(), value_error,
                   "Variable: the initial value is a tensor with no value");
    state_->value = fresh_header(initial);
    state_->name = std::move(name);
    state_->trainable = trainable;
    state_->dtype = dtype_of<T>();
  }
  /// A 1-d variable: Variable<float>({2.f, 3.f}).
  Variable(std::initializer_list<detail::ListElement<T>> values, std::string name = "",
           bool trainable = true)
      : Variable(Tensor<T>(values), std::move(name), trainable) {}
  /// A 2-d variable from rows of equal length.
  Variable(std::initializer_list<std::initializer_list<T>> rows, std::string name = "",
           bool trainable = true)
      : Variable(Tensor<T>(rows), std::move(name), trainable) {}
  /// Every element equal to `fill`: Variable<float>(Shape{3, 4}, 0.f, "bias").
  Variable(const Shape& shape, T fill, std::string name = "", bool trainable = true)
      : Variable(Tensor<T>(shape, fill), std::move(name), trainable) {}

  /// The current value; watched by recording tapes as described above.
  Tensor<T> value() const { return Tensor<T>(detail::read_variable(state_)); }
  /// Reads the value, so a Variable goes wherever a Tensor is expected.
  operator Tensor<T>() const { return value(); }  // NOLINT(google-explicit-constructor)

  /// The current value without telling any tape: for printing, logging and optimizer
  /// updates, never for a value a gradient should flow from.
  ///   std::cout << w.snapshot().array().abs().maxCoeff();
  Tensor<T> snapshot() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return Tensor<T>(state_->value);
  }

  /// The current value, read without any tape watching it but heard by a traced function,
  /// which replays the read: an optimizer's read of the state it updates (NOTE [ How an
  /// optimizer updates a variable ] in train/optimizers.hpp).
  ///   Tensor<float> w_now = w.read_unwatched();
  Tensor<T> read_unwatched() const { return Tensor<T>(detail::read_variable_unwatched(state_)); }

  Shape shape() const { return snapshot().shape(); }
  const std::string& name() const { return state_->name; }
  bool trainable() const { return state_->trainable; }

  /// Replaces the value; the new value must have the same shape.
  void assign(const Tensor<T>& value) {
    check_shape("assign", value);
    const ImplRef fresh = fresh_header(value);
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      state_->value = fresh;
    }
    detail::notify_variable_update(*state_, "assign", fresh, value.impl());
  }
  /// value += delta (delta broadcasts to the variable's shape).
  void assign_add(const Tensor<T>& delta) {
    update(delta, "assign_add", [](auto dst, auto d) { dst += d; });
  }
  /// value -= delta (delta broadcasts to the variable's shape).
  void assign_sub(const Tensor<T>& delta) {
    update(delta, "assign_sub", [](auto dst, auto d) { dst -= d; });
  }

  // Internal: the state every copy shares, for tapes to watch.
  const std::shared_ptr<detail::VariableState>& state() const { return state_; }
  explicit Variable(std::shared_ptr<detail::VariableState> state) : state_(std::move(state)) {}

 private:
  /// A header of its own on the value's elements: the tensor handed in may be known to a
  /// tape (as an op's output or a watched tensor), and a variable's state must not be.
  static ImplRef fresh_header(const Tensor<T>& value) {
    return ImplRef::adopt(detail::allocate_alias(value.impl().get(), value.shape()));
  }
  void check_shape(const char* op, const Tensor<T>& value) const {
    const Shape current = shape();
    TAPEGRAD_CHECK(value.shape() == current, shape_error, "Variable::", op, ": shape ",
                   value.shape(), " does not match the variable's shape ", current);
  }
  template <class F>
  void update(const Tensor<T>& delta, const char* op, F apply) {
    detail::notify_variable_update(*state_, op, update_in_place(delta, op, apply), delta.impl());
  }
  /// The new value, which the state holds when this returns.
  template <class F>
  ImplRef update_in_place(const Tensor<T>& delta, const char* op, F apply) {
    std::lock_guard<std::mutex> lock(state_->mutex);
    const Shape& shape = state_->value->shape();
    TAPEGRAD_CHECK(broadcasts_to(delta.shape(), shape), shape_error, "Variable::", op, ": shape ",
                   delta.shape(), " does not broadcast to the variable's shape ", shape);
    // NOTE [ Updating a variable in place ]
    // Tensors are immutable, but when nothing but this variable holds its buffer (no tensor
    // read from it is alive, no tape saved it) nobody can see a change, so update in place.
    ImplRef target = state_->value;
    const bool only_here =  // `target` and the state hold the header; nobody else the elements
        target->refs.load(std::memory_order_acquire) == 2 &&
        (target->base == nullptr || (target->base->refs.load(std::memory_order_acquire) == 1 &&
                                     target->base->base == nullptr));
    if (!only_here) {
      Tensor<T> copy(detail::uninitialized, shape);
      std::copy_n(static_cast<const T*>(target->data), target->size(), copy.mutable_data());
      target = copy.impl();
    }
    Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> dst(static_cast<T*>(target->data),
                                                       static_cast<Eigen::Index>(target->size()));
    if (delta.shape() == shape || delta.size() == 1) {
      if (delta.size() == 1 && target->size() != 1)
        apply(dst, delta.elements()[0]);
      else
        apply(dst, delta.element_array());
    } else {
      Tensor<T> expanded = detail::broadcast_kernel(delta, shape);
      apply(dst, expanded.element_array());
    }
    state_->value = target;
    return target;
  }

  std::shared_ptr<detail::VariableState> state_;
};

}  // namespace tapegrad
