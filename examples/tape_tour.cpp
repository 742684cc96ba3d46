// A tour of the tape beyond the basics: higher derivatives from nested tapes, Jacobians,
// a custom gradient, pausing the recording, and vector-Jacobian products.
#include <tapegrad/tapegrad.hpp>

#include <iostream>
#include <utility>

namespace tg = tapegrad;

int main() {
  std::cout << "Second and third derivatives of x^3 at x = 2 (nested tapes)\n";
  {
    tg::Tensor<double> x(2.0);
    tg::GradientTape t3, t2, t1;
    t3.watch(x);
    t2.watch(x);
    t1.watch(x);
    auto d1 = t1.gradient(tg::pow(x, 3), x);  // 3x^2
    auto d2 = t2.gradient(d1, x);             // 6x
    auto d3 = t3.gradient(d2, x);             // 6
    std::cout << "  d1 = " << d1 << "\n  d2 = " << d2 << "\n  d3 = " << d3 << '\n';
  }

  std::cout << "\nJacobian of sin(v) * v at v = [0.5 1. 1.5]\n";
  {
    tg::Tensor<double> v({0.5, 1.0, 1.5});
    tg::GradientTape tape;
    tape.watch(v);
    std::cout << "  " << tape.jacobian(tg::sin(v) * v, v) << '\n';
  }

  std::cout << "\nA custom gradient: log(1 + e^x) whose gradient stays finite at x = 1000\n";
  {
    auto log1pexp = tg::custom_gradient([](const tg::Tensor<double>& x) {
      return std::make_pair(tg::log(1.0 + tg::exp(x)), [x](const tg::Tensor<double>& g) {
        return g / (1.0 + tg::exp(-x));  // sigmoid(x), finite for any x
      });
    });
    tg::Tensor<double> x({0.0, 1000.0});
    tg::GradientTape tape;
    tape.watch(x);
    std::cout << "  gradient = " << tape.gradient(log1pexp(x), x) << '\n';
  }

  std::cout << "\nstop_recording() pauses the tape (PyTorch's no_grad)\n";
  {
    tg::Variable<float> w({3.0f}, "w");
    tg::GradientTape tape(tg::persistent);
    auto y = w * w;
    tg::Tensor<float> z;
    {
      auto pause = tape.stop_recording();
      z = w * w;
    }
    std::cout << "  dy/dw = " << tape.gradient(y, w) << "\n  dz/dw = " << tape.gradient(z, w)
              << '\n';
  }

  std::cout << "\nWhy is my gradient None? explain() says\n";
  {
    tg::Tensor<double> x(3.0);
    tg::GradientTape tape(tg::persistent);
    tape.watch(x);
    auto y = tg::sin(tg::stop_gradient(x * 2.0));
    std::cout << "  " << tape.explain(y, x) << '\n';
    auto z = tg::sin(x * 2.0);
    std::cout << "  " << tape.explain(z, x) << '\n';
  }

  std::cout << "\nA vector-Jacobian product through output_gradients\n";
  {
    tg::Tensor<double> x({1.0, 2.0});
    tg::GradientTape tape;
    tape.watch(x);
    auto y = x * x;
    auto vjp = tape.gradient(std::vector<tg::Tensor<double>>{y}, std::vector<tg::Source<double>>{x},
                             {tg::Tensor<double>({10.0, 100.0})});
    std::cout << "  " << vjp[0] << '\n';
  }
  return 0;
}
