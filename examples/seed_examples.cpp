// The three tf.GradientTape examples from "How do I set requires_grad=True for a tensor in
// TensorFlow 2.0?", in C++ with tapegrad. The document's Example 3 comments print numbers
// that are not the derivatives of its code; this program prints the true values.
#include <tapegrad/tapegrad.hpp>

#include <iostream>

namespace tg = tapegrad;

int main() {
  std::cout << "Example 1: a Variable is watched automatically\n";
  {
    tg::Variable<float> x({2.0f, 3.0f});
    tg::GradientTape tape;
    auto y = x * x;
    std::cout << "dy_dx = " << tape.gradient(y, x) << '\n';  // [4. 6.]
  }

  std::cout << "\nExample 2: watch() is PyTorch's requires_grad = True for a constant\n";
  {
    tg::Tensor<float> x({2.0f, 3.0f});
    tg::Tensor<float> y({1.0f, 2.0f});
    tg::GradientTape tape;
    tape.watch(x);  // y is not watched: a constant for the tape
    auto z = x * y;
    std::cout << "dz_dx = " << tape.gradient(z, x) << '\n';  // [1. 2.]
  }

  std::cout << "\nExample 3: a persistent tape answers several gradient() calls\n";
  {
    tg::Variable<float> x({1.0f, 2.0f});
    tg::Variable<float> y({3.0f, 4.0f});
    tg::GradientTape tape(tg::persistent);
    auto z = x * y;
    auto w = tg::sin(z);
    std::cout << "dz_dx = " << tape.gradient(z, x) << '\n';  // y = [3. 4.]
    // cos(x*y)*y = [-2.96997749 -0.58200014]: float32 prints its shortest unique digits,
    // [-2.9699774 -0.58200014] (-0.5820001 to seven digits).
    std::cout << "dw_dx = " << tape.gradient(w, x) << '\n';
    // cos(x*y)*x = [-0.98999250 -0.29100007] (-0.9899925 -0.2910001 to seven digits).
    std::cout << "dw_dy = " << tape.gradient(w, y) << '\n';
  }
  std::cout << "\n(The seed document's comments claim dw_dx = [0.9899925 0.14112001] and dw_dy = "
               "[0.41211848 0.5440211]; those are not cos(x*y)*y and cos(x*y)*x.)\n";
  return 0;
}
