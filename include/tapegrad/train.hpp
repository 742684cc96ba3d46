// tapegrad's training toolkit (optimizers, schedules, clipping, layers, checkpoints) on top
// of tapegrad.hpp. Kept out of tapegrad.hpp so that code that only differentiates compiles
// faster.
//   #include "tapegrad/train.hpp"
#pragma once

#include "tapegrad/tapegrad.hpp"

#if TAPEGRAD_CPLUSPLUS >= 201703L
#include "tapegrad/train/checkpoint.hpp"
#include "tapegrad/train/clipping.hpp"
#include "tapegrad/train/layers.hpp"
#include "tapegrad/train/optimizers.hpp"
#include "tapegrad/train/schedules.hpp"
#endif
