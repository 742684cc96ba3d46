// A user's program: d/dx sum(x * x) at x = [2, 3] must print [4. 6.].
#include <tapegrad/tapegrad.hpp>

#include <iostream>
#include <sstream>

int main() {
  tapegrad::Variable<float> x({2.0f, 3.0f});
  tapegrad::GradientTape tape;
  auto y = x * x;
  std::ostringstream out;
  out << tape.gradient(y, x);
  std::cout << out.str() << '\n';
  return out.str() == "Tensor([4. 6.], shape=(2,), dtype=float32)" ? 0 : 1;
}
