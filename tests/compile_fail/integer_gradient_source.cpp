// Must not compile: gradients with respect to an integer tensor do not exist.
#include <tapegrad/tapegrad.hpp>

#include <cstdint>

void gradient_wrt_labels() {
  tapegrad::Tensor<float> x({1.f});
  tapegrad::Tensor<std::int64_t> labels({1, 2});
  tapegrad::GradientTape tape;
  tape.gradient(x, labels);
}
