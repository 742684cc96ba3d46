// Linear regression, the "hello world" of a GradientTape: fit y = w x + b to noisy samples of
// y = 3x + 2 by plain gradient descent on the mean squared error, and compare the result with
// the exact least-squares fit.
#include <tapegrad/tapegrad.hpp>

#include <Eigen/Dense>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <iostream>

#include "common/cli.hpp"

namespace tg = tapegrad;

int main(int argc, char** argv) {
  bool quick = false;
  std::uint64_t seed = 42;
  int steps = 300;
  int samples = 200;
  double lr = 0.1;
  examples::Cli cli("linear_regression",
                    "Fits y = w x + b to noisy samples of y = 3x + 2 by gradient descent on the "
                    "mean squared error, with gradients from a GradientTape.");
  cli.flag("quick", quick, "80 steps instead of 300 (still within 0.1 of w = 3, b = 2)")
      .option("seed", seed, "seed of the random samples and noise")
      .option("steps", steps, "gradient descent steps")
      .at_least(1)
      .option("lr", lr, "learning rate")
      .positive()
      .option("samples", samples, "number of (x, y) samples")
      .at_least(2);
  cli.parse(argc, argv);
  if (quick && !cli.given("steps")) steps = 80;
  const auto start = std::chrono::steady_clock::now();

  // x uniform in [-1, 1), noise normal with standard deviation 0.1.
  tg::Generator gen(seed);
  const auto x = tg::random_uniform<float>({samples}, -1.0, 1.0, gen);
  const auto noise = tg::random_normal<float>({samples}, 0.0, 0.1, gen);
  const auto y = 3.0f * x + 2.0f + noise;

  tg::Variable<float> w(tg::Tensor<float>(0.0f), "w");
  tg::Variable<float> b(tg::Tensor<float>(0.0f), "b");
  std::cout << "fitting y = w x + b to " << samples << " samples of y = 3x + 2 + noise (seed "
            << seed << "), " << steps << " steps, learning rate " << lr << '\n';
  std::cout << std::fixed << std::setprecision(5);
  for (int step = 1; step <= steps; ++step) {
    tg::GradientTape tape;  // w and b are trainable Variables: the tape watches them on reading
    const auto loss = tg::mse(w * x + b, y);
    const auto grads = tape.gradient(loss, {w, b});
    w.assign_sub(lr * grads[0]);
    b.assign_sub(lr * grads[1]);
    if (step == 1 || step % (steps < 10 ? 1 : steps / 10) == 0 || step == steps)
      std::cout << "step " << std::setw(4) << step << ": loss " << loss.item() << ", w "
                << w.value().item() << ", b " << b.value().item() << '\n';
  }
  const float final_loss = tg::mse(w * x + b, y).item();

  // The exact minimiser, from the normal equations of [x 1] [w b]^T = y.
  Eigen::MatrixXd design(samples, 2);
  design.col(0) = x.array().cast<double>();
  design.col(1).setOnes();
  // Two unknowns: the 2x2 inverse is exact enough in double, and compiles in a fraction of
  // the time of a QR (this example is one of those whose compile time benchmarks/run.sh times).
  const Eigen::Matrix2d gram = design.transpose() * design;
  const Eigen::Vector2d exact =
      gram.inverse() * (design.transpose() * y.array().cast<double>().matrix());

  const double w_fit = w.value().item(), b_fit = b.value().item();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::cout << "learned w = " << w_fit << ", b = " << b_fit << " (true 3, 2)\n"
            << "least squares: w = " << exact[0] << ", b = " << exact[1] << '\n'
            << "final loss = " << final_loss << " (the noise variance is 0.01)\n"
            << "took " << std::setprecision(3) << took.count() << " s\n";
  if (std::abs(w_fit - 3) > 0.1 || std::abs(b_fit - 2) > 0.1) {
    std::cout << "FAILED: w and b are not within 0.1 of 3 and 2\n";
    return 1;
  }
  std::cout << "ok: w and b are within 0.1 of 3 and 2\n";
  return 0;
}
