// `if (mask)` on a Tensor<bool>: the compiler quotes the deleted conversion, whose line says
// what to use instead.
#include <tapegrad/tapegrad.hpp>

int main() {
  const tapegrad::Tensor<float> x({1.f, -2.f});
  if (x > 0.f) return 1;
  return 0;
}
