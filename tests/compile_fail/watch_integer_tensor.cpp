// Must not compile: an integer tensor cannot be differentiated, so watching one is a
// compile-time error where its type is known.
#include <tapegrad/tapegrad.hpp>

#include <cstdint>

void watch_labels() {
  tapegrad::Tensor<std::int32_t> labels({1, 2, 3});
  tapegrad::GradientTape tape;
  tape.watch(labels);
}
