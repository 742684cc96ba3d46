// Truncated Newton (Newton-CG) on L2-regularised softmax regression over Fashion-MNIST. Each
// Newton step solves H d = -g approximately by conjugate gradients, and every product H v is
// forward-over-reverse (tapegrad::hessian_vector_product: a ForwardAccumulator around the
// tape's gradient), so the 7850 x 7850 Hessian is never formed. Beside it, gradient descent
// with the same backtracking line search. Both print their convergence, write it to a CSV and
// plot it with gnuplot; the run checks that Newton-CG, in a tenth of the iterations, ends
// closer to the optimum.
#include <tapegrad/tapegrad.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/idx.hpp"
#include "common/progress.hpp"

namespace tg = tapegrad;

namespace {

constexpr std::int64_t pixels = 784, classes = 10, parameters = pixels * classes + classes;

/// The regularised mean cross-entropy of softmax regression, the parameters flattened into
/// one vector (W row-major, then b), so that the Hessian-vector product takes one tensor.
struct Objective {
  tg::Tensor<float> images;         // [n, 784]
  tg::Tensor<std::int32_t> labels;  // [n]
  float lambda;

  tg::Tensor<float> logits(const tg::Tensor<float>& x) const {
    const auto w = tg::reshape(tg::slice(x, {0}, {pixels * classes}), {pixels, classes});
    const auto b = tg::slice(x, {pixels * classes}, {classes});
    return tg::matmul(images, w) + b;
  }
  tg::Tensor<float> operator()(const tg::Tensor<float>& x) const {
    return tg::mean(tg::sparse_softmax_cross_entropy(labels, logits(x))) +
           0.5f * lambda * tg::sum(x * x);
  }
  double accuracy(const tg::Tensor<float>& x) const {
    const auto predicted = tg::argmax(logits(x), 1).to_vector();
    const auto truth = labels.to_vector();
    std::int64_t right = 0;
    for (std::size_t i = 0; i < truth.size(); ++i) right += predicted[i] == truth[i];
    return static_cast<double>(right) / static_cast<double>(truth.size());
  }
};

double dot(const tg::Tensor<float>& a, const tg::Tensor<float>& b) {
  return static_cast<double>(tg::sum(a * b).item());
}

struct Point {
  double loss;
  tg::Tensor<float> gradient;
};
Point evaluate(const Objective& f, const tg::Tensor<float>& x) {
  tg::GradientTape tape;
  tape.watch(x);
  const auto loss = f(x);
  return {static_cast<double>(loss.item()), tape.gradient(loss, x)};
}

/// Backtracking along d from x until the Armijo condition holds; the step taken and f there.
std::pair<double, double> line_search(const Objective& f, const tg::Tensor<float>& x,
                                      const Point& at, const tg::Tensor<float>& d, double step) {
  const double slope = dot(at.gradient, d);
  for (int k = 0; k < 40; ++k, step *= 0.5) {
    const double loss = static_cast<double>(f(x + static_cast<float>(step) * d).item());
    if (loss <= at.loss + 1e-4 * step * slope) return {step, loss};
  }
  return {0.0, at.loss};
}

/// d with H d ~ -g, by at most `iterations` conjugate-gradient steps on products H v; stops at
/// the relative residual min(0.5, sqrt(|g|)) (a forcing sequence: loose far from the optimum,
/// tight near it). Counts the products in `products`.
tg::Tensor<float> newton_direction(const Objective& f, const tg::Tensor<float>& x,
                                   const tg::Tensor<float>& g, int iterations, int& products) {
  tg::Tensor<float> d = tg::zeros_like(g), r = -g, p = r;
  const double g_norm = std::sqrt(dot(g, g));
  const double tolerance = std::min(0.5, std::sqrt(g_norm)) * g_norm;
  double rr = dot(r, r);
  for (int k = 0; k < iterations && std::sqrt(rr) > tolerance; ++k) {
    const tg::Tensor<float> hp = tg::hessian_vector_product(f, x, p);
    ++products;
    const double curvature = dot(p, hp);
    if (curvature <= 0) break;  // not in a convex problem; kept as a guard
    const auto alpha = static_cast<float>(rr / curvature);
    d = d + alpha * p;
    r = r - alpha * hp;
    const double rr_next = dot(r, r);
    p = r + static_cast<float>(rr_next / rr) * p;
    rr = rr_next;
  }
  return d;
}

struct Row {
  std::string method;
  int iteration;
  double seconds, loss, gradient_norm, test_accuracy;
  int hessian_products;
};

void print(const Row& r) {
  std::cout << std::left << std::setw(17) << r.method << std::right << std::setw(4) << r.iteration
            << std::fixed << std::setprecision(2) << std::setw(8) << r.seconds << " s   loss "
            << std::setprecision(6) << r.loss << "   |g| " << std::scientific
            << std::setprecision(2) << r.gradient_norm << std::fixed << "   test accuracy "
            << std::setprecision(2) << 100 * r.test_accuracy << "%";
  if (r.method == "Newton-CG") std::cout << "   H v products " << r.hessian_products;
  std::cout << '\n';
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_dir = examples::default_fashion_mnist_dir(), out_dir = "newton_cg_out";
  int images = 20000, newton_steps = 12, cg_iterations = 20;
  double lambda = 1e-3;
  bool quick = false;
  examples::Cli cli("newton_cg",
                    "Newton-CG (Hessian-vector products by forward-over-reverse) against gradient "
                    "descent on softmax regression over Fashion-MNIST.");
  cli.option("data", data_dir, "directory of the Fashion-MNIST files", "DIR")
      .option("images", images, "training images to fit")
      .at_least(10)
      .option("steps", newton_steps, "Newton steps (gradient descent takes ten times as many)")
      .at_least(1)
      .option("cg", cg_iterations, "conjugate-gradient iterations per Newton step at most")
      .at_least(1)
      .option("lambda", lambda, "L2 regularisation", "X")
      .option("out", out_dir, "directory for the CSV and the plot", "DIR")
      .flag("quick", quick, "400 images and 4 Newton steps, for ctest");
  try {
    cli.parse(argc, argv);
    if (quick) {
      images = std::min(images, 400);
      newton_steps = std::min(newton_steps, 4);
    }
    using examples::ImageLayout;
    const auto train =
        examples::load_fashion_mnist(data_dir, examples::Split::train, ImageLayout::flat, images);
    const auto test = examples::load_fashion_mnist(data_dir, examples::Split::test,
                                                   ImageLayout::flat, quick ? 500 : -1);
    const Objective f{train.images, train.labels, static_cast<float>(lambda)};
    const Objective test_f{test.images, test.labels, static_cast<float>(lambda)};
    std::cout << "softmax regression on " << train.labels.size() << " Fashion-MNIST images, "
              << parameters << " parameters, lambda " << lambda << "\n";

    std::vector<Row> rows;
    auto run = [&](const std::string& method, int iterations, bool newton) {
      tg::Tensor<float> x = tg::zeros<float>({parameters});
      const auto start = std::chrono::steady_clock::now();
      int products = 0;
      double step = 1.0;
      Point at = evaluate(f, x);
      for (int k = 0;; ++k) {
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        rows.push_back({method, k, seconds, at.loss, std::sqrt(dot(at.gradient, at.gradient)),
                        test_f.accuracy(x), products});
        if (newton || k % 10 == 0 || k == iterations) print(rows.back());
        if (k == iterations) break;
        tg::Tensor<float> d;
        if (newton) {
          d = newton_direction(f, x, at.gradient, cg_iterations, products);
          step = 1.0;  // a Newton step's natural length
        } else {
          d = -at.gradient;
          step *= 2;  // try a longer step than last time
        }
        const auto [taken, loss] = line_search(f, x, at, d, step);
        if (taken == 0) break;
        step = taken;
        x = x + static_cast<float>(taken) * d;
        at = evaluate(f, x);
      }
      return rows.back();
    };
    const Row newton = run("Newton-CG", newton_steps, true);
    const Row descent = run("gradient descent", 10 * newton_steps, false);

    std::filesystem::create_directories(out_dir);
    const std::string csv = out_dir + "/convergence.csv", png = out_dir + "/convergence.png";
    {
      std::ofstream out(csv);
      out << "method,iteration,seconds,loss,gradient_norm,test_accuracy,hessian_products\n";
      out << std::setprecision(9);
      for (const Row& r : rows)
        out << r.method << ',' << r.iteration << ',' << r.seconds << ',' << r.loss << ','
            << r.gradient_norm << ',' << r.test_accuracy << ',' << r.hessian_products << '\n';
    }
    std::cout << "wrote " << csv << '\n';
    if (!examples::find_on_path("gnuplot").empty()) {
      std::ostringstream script;
      script << "set datafile separator ','\nset terminal png size 1100,450\nset output '" << png
             << "'\nset multiplot layout 1,2\nset grid\nset logscale y\n"
             << "set xlabel 'seconds'\nset ylabel 'gradient norm'\n"
             << "plot '" << csv << "' using 3:(strcol(1) eq 'Newton-CG' ? $5 : 1/0) with "
             << "linespoints title 'Newton-CG', '' using 3:(strcol(1) eq 'gradient descent' ? $5 "
             << ": 1/0) with lines title 'gradient descent'\n"
             << "unset logscale y\nset ylabel 'loss'\n"
             << "plot '" << csv << "' using 3:(strcol(1) eq 'Newton-CG' ? $4 : 1/0) with "
             << "linespoints title 'Newton-CG', '' using 3:(strcol(1) eq 'gradient descent' ? $4 "
             << ": 1/0) with lines title 'gradient descent'\nunset multiplot\n";
      examples::run_gnuplot(script.str(), png);
    } else {
      std::cout << "gnuplot is not on PATH; skipped the plot " << png << '\n';
    }

    std::cout << std::setprecision(6) << "Newton-CG: " << newton_steps << " steps, "
              << newton.hessian_products << " Hessian-vector products, " << newton.seconds
              << " s, loss " << newton.loss << ", |g| " << std::scientific << newton.gradient_norm
              << std::fixed << "\ngradient descent: " << descent.iteration << " steps, "
              << descent.seconds << " s, loss " << descent.loss << ", |g| " << std::scientific
              << descent.gradient_norm << std::fixed << '\n';
    if (newton.loss < descent.loss && newton.gradient_norm < descent.gradient_norm) {
      std::cout << "ok: Newton-CG ended below gradient descent's loss with a smaller gradient, "
                   "in a tenth of the iterations\n";
      return 0;
    }
    std::cout << "Newton-CG did not beat gradient descent\n";
    return 1;
  } catch (const examples::UsageError& e) {
    std::cerr << "newton_cg: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "newton_cg: " << e.what() << "\n";
    return 1;
  }
}
