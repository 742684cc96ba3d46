#pragma once

// NOTE [ Declared before tapegrad::none ]
// ops/indexing.hpp includes this header before it declares tapegrad::none (strided_slice's
// "no bound"), so that the enumerator UnconnectedGradients::none is always declared first:
// GCC's -Wshadow would otherwise report the enumerator as shadowing the global constant, in
// every consumer that builds with -Wshadow.
namespace tapegrad {

/// What gradient() returns for a source the target does not depend on: no value (as
/// TensorFlow's None), or zeros of the source's shape.
///   auto g = tape.gradient(y, x, tapegrad::UnconnectedGradients::zero);
enum class UnconnectedGradients { none, zero };

}  // namespace tapegrad
