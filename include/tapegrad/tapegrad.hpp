// tapegrad: reverse-mode automatic differentiation of tensors, after tf.GradientTape.
// The one header users include.
#pragma once

#include "tapegrad/config.hpp"
#include "tapegrad/custom_gradient.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/format.hpp"
#include "tapegrad/gradient.hpp"
#include "tapegrad/ops/binary.hpp"
#include "tapegrad/ops/binary_functions.hpp"
#include "tapegrad/ops/compare.hpp"
#include "tapegrad/ops/indexing.hpp"
#include "tapegrad/ops/linalg.hpp"
#include "tapegrad/ops/losses.hpp"
#include "tapegrad/ops/nn.hpp"
#include "tapegrad/ops/random.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/ops/shape.hpp"
#include "tapegrad/ops/unary.hpp"
#include "tapegrad/shape.hpp"
#include "tapegrad/tape.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/variable.hpp"
