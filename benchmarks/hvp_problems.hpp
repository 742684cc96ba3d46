// The Hessian-vector products that hvp_benchmark times and hvp_memory measures, by
// forward-over-reverse (a ForwardAccumulator around a tape's gradient) and by two nested
// tapes (reverse-over-reverse), on two functions in double: the loss of the 784-256-256-10
// ReLU MLP of mlp_benchmark (GEMM-bound) and scalar_benchmark's f on one [n] tensor
// (elementwise).
#pragma once

#include <tapegrad/tapegrad.hpp>

#include <cstdint>
#include <functional>
#include <random>
#include <vector>

namespace hvp {

namespace tg = tapegrad;
using Tensors = std::vector<tg::Tensor<double>>;
using Function = std::function<tg::Tensor<double>(const Tensors&)>;

inline tg::Tensor<double> random_tensor(const tg::Shape& shape, std::mt19937& engine,
                                        double scale) {
  std::normal_distribution<double> normal(0.0, scale);
  std::vector<double> v(static_cast<std::size_t>(shape.size()));
  for (double& e : v) e = normal(engine);
  return tg::Tensor<double>(shape, v);
}

/// A function, the point where its Hessian is taken and the direction it multiplies.
struct Problem {
  Function f;
  Tensors at, direction;
};

/// The MLP's mean cross-entropy over a batch, as a function of its six parameters.
inline Problem mlp_problem(int batch) {
  std::mt19937 engine(7);
  auto x = random_tensor({batch, 784}, engine, 1.0);
  std::vector<std::int32_t> label_values;
  for (int i = 0; i < batch; ++i) label_values.push_back(i % 10);
  tg::Tensor<std::int32_t> labels(tg::Shape{batch}, label_values);
  Problem p;
  p.f = [x, labels](const Tensors& w) {
    const auto h1 = tg::relu(tg::matmul(x, w[0]) + w[1]);
    const auto h2 = tg::relu(tg::matmul(h1, w[2]) + w[3]);
    return tg::mean(tg::sparse_softmax_cross_entropy(labels, tg::matmul(h2, w[4]) + w[5]));
  };
  const tg::Shape shapes[] = {{784, 256}, {256}, {256, 256}, {256}, {256, 10}, {10}};
  const double scales[] = {0.05, 0.1, 0.09, 0.1, 0.09, 0.1};
  for (int k = 0; k < 6; ++k) {
    p.at.push_back(random_tensor(shapes[k], engine, scales[k]));
    p.direction.push_back(random_tensor(shapes[k], engine, 1.0));
  }
  return p;
}

/// f(x) = sum_i sin(x_i) exp(x_{i+1}) / (1 + x_i^2) on one [n] tensor.
inline Problem elementwise_problem(std::int64_t n) {
  std::mt19937 engine(11);
  Problem p;
  p.f = [](const Tensors& x) {
    const std::int64_t m = x[0].size();
    const auto a = tg::slice(x[0], {0}, {m - 1}), b = tg::slice(x[0], {1}, {m - 1});
    return tg::sum(tg::sin(a) * tg::exp(b) / (1.0 + a * a));
  };
  p.at.push_back(random_tensor({n}, engine, 0.5));
  p.direction.push_back(random_tensor({n}, engine, 1.0));
  return p;
}

inline std::vector<tg::Source<double>> sources(const Tensors& xs) {
  return std::vector<tg::Source<double>>(xs.begin(), xs.end());
}

/// Called with the tape that holds the most, right before the gradient() it is kept for.
using BeforeSweep = std::function<void(const tg::GradientTape&)>;

/// H v by forward-over-reverse: tangents v on the parameters, through the tape's gradient.
inline Tensors forward_over_reverse(const Problem& p, const BeforeSweep& before_sweep = {}) {
  tg::ForwardAccumulator acc(sources(p.at), p.direction);
  tg::GradientTape tape;
  for (const auto& x : p.at) tape.watch(x);
  const tg::Tensor<double> y = p.f(p.at);
  if (before_sweep) before_sweep(tape);
  const Tensors g = tape.gradient(Tensors{y}, sources(p.at), Tensors{});
  Tensors hv;
  for (const auto& gk : g) hv.push_back(acc.jvp(gk, tg::UnconnectedGradients::zero));
  return hv;
}

/// H v by two tapes: the outer differentiates <g, v>, g from the inner.
inline Tensors nested_tapes(const Problem& p, const BeforeSweep& before_sweep = {}) {
  tg::GradientTape outer;
  for (const auto& x : p.at) outer.watch(x);
  tg::Tensor<double> inner_product;
  {
    tg::GradientTape inner;
    for (const auto& x : p.at) inner.watch(x);
    const Tensors g = inner.gradient(Tensors{p.f(p.at)}, sources(p.at), Tensors{});
    for (std::size_t k = 0; k < g.size(); ++k) {
      const auto term = tg::sum(g[k] * p.direction[k]);
      inner_product = inner_product.has_value() ? inner_product + term : term;
    }
  }
  if (before_sweep) before_sweep(outer);
  return outer.gradient(Tensors{inner_product}, sources(p.at), Tensors{});
}

}  // namespace hvp
