// Operands of two element types: one static_assert line instead of pages of candidates.
#include <tapegrad/tapegrad.hpp>

int main() {
  const tapegrad::Tensor<float> a({1.f, 2.f});
  const tapegrad::Tensor<double> b({1.0, 2.0});
  a + b;
}
