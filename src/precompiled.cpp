// The precompiled part of tapegrad (NOTE [ The precompiled part ] in
// tapegrad/detail/instantiations.hpp): the ops' typed entry points and the training toolkit's
// templates, instantiated once for float and double, and the tape's large non-template
// functions (TAPEGRAD_HEADER_DEFINITIONS in tapegrad/config.hpp), defined once.
#define TAPEGRAD_BUILDING_PRECOMPILED
#include "tapegrad/explain.hpp"
#include "tapegrad/memory_report.hpp"
#include "tapegrad/tape_picture.hpp"
#include "tapegrad/tapegrad.hpp"
#include "tapegrad/train.hpp"

TAPEGRAD_ALL_INSTANTIATIONS(template)

namespace tapegrad {
TAPEGRAD_TRAIN_INSTANTIATIONS(template, float)
TAPEGRAD_TRAIN_INSTANTIATIONS(template, double)
}  // namespace tapegrad
