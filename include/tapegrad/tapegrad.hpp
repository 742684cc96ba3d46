// tapegrad: reverse-mode automatic differentiation of tensors, after tf.GradientTape.
// The one header users include; tapegrad/train.hpp adds the training toolkit.
#pragma once

// First, so that a pre-C++17 compiler stops at its one-line #error.
#include "tapegrad/config.hpp"

#if TAPEGRAD_CPLUSPLUS >= 201703L
#include "tapegrad/anomaly.hpp"
#include "tapegrad/axes.hpp"
#include "tapegrad/custom_gradient.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/format.hpp"
#include "tapegrad/forward_accumulator.hpp"
#include "tapegrad/gradient.hpp"
#include "tapegrad/jvp.hpp"
#include "tapegrad/ops/binary.hpp"
#include "tapegrad/ops/binary_functions.hpp"
#include "tapegrad/ops/compare.hpp"
#include "tapegrad/ops/conv.hpp"
#include "tapegrad/ops/creation.hpp"
#include "tapegrad/ops/indexing.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/losses.hpp"
#include "tapegrad/ops/nn.hpp"
#include "tapegrad/ops/random.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape.hpp"
#include "tapegrad/ops/unary.hpp"
#include "tapegrad/recompute_grad.hpp"
#include "tapegrad/replay/function.hpp"
#include "tapegrad/shape.hpp"
#include "tapegrad/source_location.hpp"
#include "tapegrad/tape.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/unconnected_gradients.hpp"
#include "tapegrad/variable.hpp"
#include "tapegrad/warning.hpp"
// Last: it names the ops above (NOTE [ The precompiled part ]).
#include "tapegrad/detail/instantiations.hpp"
#endif
