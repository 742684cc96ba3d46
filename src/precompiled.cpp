// The precompiled part of tapegrad (NOTE [ The precompiled part ] in
// tapegrad/detail/instantiations.hpp): the ops' typed entry points and the training toolkit's
// templates, instantiated once for float and double.
#define TAPEGRAD_BUILDING_PRECOMPILED
#include "tapegrad/tapegrad.hpp"
#include "tapegrad/train.hpp"

namespace tapegrad::detail {
TAPEGRAD_OP_INSTANTIATIONS(template, float)
TAPEGRAD_OP_INSTANTIATIONS(template, double)
}  // namespace tapegrad::detail

namespace tapegrad {
TAPEGRAD_TRAIN_INSTANTIATIONS(template, float)
TAPEGRAD_TRAIN_INSTANTIATIONS(template, double)
}  // namespace tapegrad
