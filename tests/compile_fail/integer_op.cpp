// Must not compile: differentiable ops take float or double tensors only.
#include <tapegrad/tapegrad.hpp>

#include <cstdint>

void sin_of_labels() {
  tapegrad::Tensor<std::int32_t> labels({1, 2});
  auto y = tapegrad::sin(labels);
  (void)y;
}
