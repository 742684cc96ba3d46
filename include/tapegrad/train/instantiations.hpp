#pragma once

#include <utility>
#include <vector>

#include "tapegrad/train/clipping.hpp"
#include "tapegrad/train/layers.hpp"
#include "tapegrad/train/optimizers.hpp"

// The training toolkit's part of the precompiled list (NOTE [ The precompiled part ] in
// tapegrad/detail/instantiations.hpp). Each header it names includes it at its end, and it
// includes them all first, so that whichever of them a program includes first, the
// declarations follow every definition they name. The layers are instantiated as whole
// classes: their vtables and member functions then live in the library.

/// The training toolkit's templates for element type T, each preceded by `prefix`.
#define TAPEGRAD_TRAIN_INSTANTIATIONS(prefix, T)                                                 \
  prefix void Optimizer<SGD>::apply_gradients<T>(const std::vector<Tensor<T>>&,                  \
                                                 const std::vector<Variable<T>>&);               \
  prefix void Optimizer<Adam>::apply_gradients<T>(const std::vector<Tensor<T>>&,                 \
                                                  const std::vector<Variable<T>>&);              \
  prefix void Optimizer<RMSprop>::apply_gradients<T>(const std::vector<Tensor<T>>&,              \
                                                     const std::vector<Variable<T>>&);           \
  prefix std::vector<Tensor<T>> clip_by_value<T>(const std::vector<Tensor<T>>&, double, double); \
  prefix std::pair<std::vector<Tensor<T>>, T> clip_by_global_norm<T>(                            \
      const std::vector<Tensor<T>>&, double);                                                    \
  prefix class Dense<T>;                                                                         \
  prefix class Conv2D<T>;                                                                        \
  prefix class MaxPool2D<T>;                                                                     \
  prefix class Flatten<T>;                                                                       \
  prefix class Sequential<T>;

#if !TAPEGRAD_HEADER_DEFINITIONS
namespace tapegrad {
TAPEGRAD_TRAIN_INSTANTIATIONS(extern template, float)
TAPEGRAD_TRAIN_INSTANTIATIONS(extern template, double)
}  // namespace tapegrad
#endif
