// norm(x, 2.0) meant as the order 2: a number in an op's axis place is an axis (NOTE [ One
// axis type ]), and a floating one is refused; the deleted constructor's line says to write
// tapegrad::NormOrder(2).
#include <tapegrad/tapegrad.hpp>

int main() {
  const tapegrad::Tensor<double> x({3.0, -4.0});
  return static_cast<int>(tapegrad::norm(x, 2.0).item());
}
