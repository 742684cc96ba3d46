// A mistyped nested list ({{1, 2}, 3}: a row and a stray scalar) must not compile. It used to
// become Tensor(Shape{1, 2}, 3.f), a [1,2] tensor of threes.
#include <tapegrad/tapegrad.hpp>

int main() {
  const tapegrad::Tensor<float> t({{1.f, 2.f}, 3.f});
  return static_cast<int>(t.size());
}
