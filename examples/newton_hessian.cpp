// Newton's method on the Rosenbrock function f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from the
// classic start (-1.2, 1). The gradient comes from an inner GradientTape and the Hessian from
// an outer tape's jacobian of that gradient (TensorFlow's nested-tape recipe); Eigen solves
// the 2x2 Newton system H d = -g.
#include <tapegrad/tapegrad.hpp>

#include <Eigen/Dense>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>

#include "common/cli.hpp"

namespace tg = tapegrad;

namespace {

/// f(p) for p = [x, y].
tg::Tensor<double> rosenbrock(const tg::Tensor<double>& p) {
  const auto xy = tg::split(p, 2, 0);  // two [1] tensors
  const auto& x = xy[0];
  const auto& y = xy[1];
  return tg::sum(tg::square(1.0 - x) + 100.0 * tg::square(y - tg::square(x)));
}

struct Derivatives {
  double f;
  Eigen::Vector2d gradient;
  Eigen::Matrix2d hessian;
};

/// f, its gradient and its Hessian at p, all from the tapes.
Derivatives derivatives(const Eigen::Vector2d& at) {
  const tg::Tensor<double> p({at[0], at[1]});
  tg::GradientTape outer;
  outer.watch(p);
  tg::Tensor<double> f, g;
  {
    tg::GradientTape inner;
    inner.watch(p);
    f = rosenbrock(p);
    g = inner.gradient(f, p);  // computed with tapegrad ops, so `outer` records it
  }
  const auto h = outer.jacobian(g, p);  // [2, 2]: row i is the gradient of g[i]
  Derivatives d;
  d.f = f.item();
  d.gradient << g.at(0), g.at(1);
  d.hessian << h.at(0, 0), h.at(0, 1), h.at(1, 0), h.at(1, 1);
  return d;
}

/// The Hessian of the Rosenbrock function worked out by hand.
Eigen::Matrix2d analytic_hessian(double x, double y) {
  Eigen::Matrix2d h;
  h << 2 - 400 * (y - x * x) + 800 * x * x, -400 * x, -400 * x, 200;
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  int steps = 50;
  examples::Cli cli("newton_hessian",
                    "Minimises the Rosenbrock function by Newton's method from (-1.2, 1), with the "
                    "Hessian from nested GradientTapes.");
  cli.flag("quick", quick,
           "accepted for uniformity with the other examples: the full run "
           "already takes milliseconds")
      .option("steps", steps, "most Newton steps to take before giving up")
      .at_least(1);
  cli.parse(argc, argv);
  const auto start = std::chrono::steady_clock::now();
  const double tolerance = 1e-10;

  Eigen::Vector2d p(-1.2, 1.0);
  std::cout << std::setprecision(3);

  // The tapes' Hessian against the one worked out by hand, at the start.
  {
    const Derivatives d = derivatives(p);
    const Eigen::Matrix2d exact = analytic_hessian(p[0], p[1]);
    const double diff = (d.hessian - exact).cwiseAbs().maxCoeff();
    const Eigen::IOFormat rows(Eigen::FullPrecision, 0, ", ", "\n", "  [", "]");
    std::cout << "Hessian at (-1.2, 1) from the tapes:\n"
              << d.hessian.format(rows) << "\nby hand:\n"
              << exact.format(rows) << "\nHessian check: max difference " << std::scientific << diff
              << (diff <= 1e-9 * exact.cwiseAbs().maxCoeff() ? " (ok)" : " (MISMATCH)") << "\n\n"
              << std::defaultfloat;
    if (!(diff <= 1e-9 * exact.cwiseAbs().maxCoeff())) return 1;
  }

  for (int k = 0;; ++k) {
    const Derivatives d = derivatives(p);
    const double grad_norm = d.gradient.norm();
    std::cout << "step " << std::setw(2) << k << ": (x, y) = (" << std::fixed
              << std::setprecision(12) << std::setw(15) << p[0] << ", " << std::setw(15) << p[1]
              << ")  f = " << std::scientific << std::setprecision(3) << std::setw(10) << d.f
              << "  |grad| = " << grad_norm << std::defaultfloat << '\n';
    if (grad_norm < tolerance) {
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
      std::cout << "converged to (1, 1) in " << k << " Newton steps: |grad| < " << tolerance
                << ", |(x, y) - (1, 1)| = " << std::scientific << (p - Eigen::Vector2d(1, 1)).norm()
                << std::defaultfloat << "\ntook " << took.count() << " s\n";
      return (p - Eigen::Vector2d(1, 1)).norm() < 1e-8 ? 0 : 1;
    }
    if (k == steps) break;
    // The Rosenbrock Hessian is indefinite in places, but a 2x2 one that is not singular has
    // a closed-form inverse (cheaper to compile than an LU, and exact enough here).
    const double scale = d.hessian.cwiseAbs().maxCoeff();
    if (!(std::abs(d.hessian.determinant()) > 1e-12 * scale * scale)) {
      std::cout << "FAILED: the Hessian is singular at step " << k << '\n';
      return 1;
    }
    p -= d.hessian.inverse() * d.gradient;
  }
  std::cout << "FAILED: no convergence in " << steps << " Newton steps\n";
  return 1;
}
