#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "tapegrad/errors.hpp"

// Learning-rate schedules: callables step -> learning rate, to pass as an optimizer's
// learning rate. The optimizer calls them with its step count, 0 for the first step.
namespace tapegrad {

namespace detail {

inline void check_decay_steps(const char* schedule, const char* what, std::int64_t steps) {
  TAPEGRAD_CHECK(!(steps <= 0), value_error, schedule, ": Argument `", what,
                 "` must be > 0. Received: ", what, "=", steps);
}

inline void check_step(const char* schedule, std::int64_t step) {
  TAPEGRAD_CHECK(!(step < 0), value_error, schedule, ": the step must be >= 0, got ", step);
}

}  // namespace detail

/// The learning rate multiplied by `factor` every `step_size` steps (PyTorch's StepLR):
///   lr(step) = initial_learning_rate * factor^floor(step / step_size)
///   tapegrad::SGD opt(tapegrad::StepDecay(0.1, 1000, 0.5));
class StepDecay {
 public:
  StepDecay(double initial_learning_rate, std::int64_t step_size, double factor = 0.1)
      : initial_(initial_learning_rate), step_size_(step_size), factor_(factor) {
    detail::check_decay_steps("StepDecay", "step_size", step_size);
  }
  double operator()(std::int64_t step) const {
    detail::check_step("StepDecay", step);
    return initial_ * std::pow(factor_, static_cast<double>(step / step_size_));
  }

 private:
  double initial_;
  std::int64_t step_size_;
  double factor_;
};

/// keras.optimizers.schedules.ExponentialDecay:
///   lr(step) = initial_learning_rate * decay_rate^(step / decay_steps)
/// with the exponent floored when `staircase` is true.
///   tapegrad::Adam opt(tapegrad::ExponentialDecay(1e-2, 10000, 0.96, /*staircase=*/true));
class ExponentialDecay {
 public:
  ExponentialDecay(double initial_learning_rate, std::int64_t decay_steps, double decay_rate,
                   bool staircase = false)
      : initial_(initial_learning_rate),
        decay_steps_(decay_steps),
        decay_rate_(decay_rate),
        staircase_(staircase) {
    detail::check_decay_steps("ExponentialDecay", "decay_steps", decay_steps);
  }
  double operator()(std::int64_t step) const {
    detail::check_step("ExponentialDecay", step);
    double p = static_cast<double>(step) / static_cast<double>(decay_steps_);
    if (staircase_) p = std::floor(p);
    return initial_ * std::pow(decay_rate_, p);
  }

 private:
  double initial_;
  std::int64_t decay_steps_;
  double decay_rate_;
  bool staircase_;
};

/// keras.optimizers.schedules.CosineDecay (without warmup): from initial_learning_rate down
/// to alpha * initial_learning_rate over decay_steps, then constant:
///   s = min(step, decay_steps)
///   lr(step) = initial_learning_rate * ((1 - alpha) * 0.5 (1 + cos(pi s / decay_steps)) + alpha)
///   tapegrad::SGD opt(tapegrad::CosineDecay(0.1, 1000, /*alpha=*/0.01));
class CosineDecay {
 public:
  CosineDecay(double initial_learning_rate, std::int64_t decay_steps, double alpha = 0.0)
      : initial_(initial_learning_rate), decay_steps_(decay_steps), alpha_(alpha) {
    detail::check_decay_steps("CosineDecay", "decay_steps", decay_steps);
  }
  double operator()(std::int64_t step) const {
    detail::check_step("CosineDecay", step);
    const double s = static_cast<double>(std::min(step, decay_steps_));
    const double pi = 3.14159265358979323846;
    const double cosine = 0.5 * (1 + std::cos(pi * s / static_cast<double>(decay_steps_)));
    return initial_ * ((1 - alpha_) * cosine + alpha_);
  }

 private:
  double initial_;
  std::int64_t decay_steps_;
  double alpha_;
};

}  // namespace tapegrad
