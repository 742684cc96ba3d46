// One training step of a 784-256-256-10 ReLU MLP (mean squared error against one-hot
// targets, plain SGD) at batch 64: tapegrad beside the same step written by hand in Eigen.
#include <benchmark/benchmark.h>
#include <tapegrad/tapegrad.hpp>

#include <Eigen/Core>
#include <random>
#include <vector>

namespace tg = tapegrad;

namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowVector = Eigen::Matrix<float, 1, Eigen::Dynamic>;
constexpr int input_size = 784, hidden = 256, classes = 10;
constexpr float learning_rate = 0.01f;

Matrix random_matrix(Eigen::Index rows, Eigen::Index cols, std::mt19937& engine, float scale) {
  std::normal_distribution<float> normal(0.f, scale);
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(engine);
  return m;
}

struct Data {
  Matrix x, y;
  Matrix w1, w2, w3;
  RowVector b1, b2, b3;
  explicit Data(int batch) {
    std::mt19937 engine(7);
    x = random_matrix(batch, input_size, engine, 1.f);
    y = Matrix::Zero(batch, classes);
    for (int i = 0; i < batch; ++i) y(i, i % classes) = 1.f;
    w1 = random_matrix(input_size, hidden, engine, 0.05f);
    w2 = random_matrix(hidden, hidden, engine, 0.09f);
    w3 = random_matrix(hidden, classes, engine, 0.09f);
    b1 = RowVector::Zero(hidden);
    b2 = RowVector::Zero(hidden);
    b3 = RowVector::Zero(classes);
  }
};

void BM_MlpStepEigenByHand(benchmark::State& state) {
  Data d(static_cast<int>(state.range(0)));
  const auto batch = static_cast<float>(state.range(0));
  Matrix h1, h2, out, d_out, d_h2, d_h1;
  for (auto _ : state) {
    h1.noalias() = d.x * d.w1;
    h1 = (h1.rowwise() + d.b1).cwiseMax(0.f);
    h2.noalias() = h1 * d.w2;
    h2 = (h2.rowwise() + d.b2).cwiseMax(0.f);
    out.noalias() = h2 * d.w3;
    out.rowwise() += d.b3;
    d_out = (out - d.y) * (2.f / (batch * classes));
    d_h2.noalias() = d_out * d.w3.transpose();
    d_h2 = (h2.array() > 0.f).select(d_h2, 0.f);
    d_h1.noalias() = d_h2 * d.w2.transpose();
    d_h1 = (h1.array() > 0.f).select(d_h1, 0.f);
    d.w3.noalias() -= learning_rate * (h2.transpose() * d_out);
    d.b3 -= learning_rate * d_out.colwise().sum();
    d.w2.noalias() -= learning_rate * (h1.transpose() * d_h2);
    d.b2 -= learning_rate * d_h2.colwise().sum();
    d.w1.noalias() -= learning_rate * (d.x.transpose() * d_h1);
    d.b1 -= learning_rate * d_h1.colwise().sum();
    benchmark::DoNotOptimize(d.w1.data());
  }
}

void BM_MlpStepTapegrad(benchmark::State& state) {
  Data d(static_cast<int>(state.range(0)));
  const tg::Tensor<float> x(d.x), y(d.y);
  tg::Variable<float> w1(tg::Tensor<float>(d.w1)), w2(tg::Tensor<float>(d.w2)),
      w3(tg::Tensor<float>(d.w3));
  tg::Variable<float> b1(tg::reshape(tg::Tensor<float>(d.b1), {-1})),
      b2(tg::reshape(tg::Tensor<float>(d.b2), {-1})),
      b3(tg::reshape(tg::Tensor<float>(d.b3), {-1}));
  std::vector<tg::Variable<float>> params{w1, b1, w2, b2, w3, b3};
  for (auto _ : state) {
    tg::GradientTape tape;
    auto h1 = tg::relu(tg::matmul(x, w1) + b1);
    auto h2 = tg::relu(tg::matmul(h1, w2) + b2);
    auto out = tg::matmul(h2, w3) + b3;
    auto loss = tg::mean(tg::square(out - y));
    auto grads = tape.gradient(loss, params);
    for (std::size_t i = 0; i < params.size(); ++i) params[i].assign_sub(grads[i] * learning_rate);
    benchmark::DoNotOptimize(loss);
  }
}

}  // namespace

BENCHMARK(BM_MlpStepEigenByHand)->Arg(64)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MlpStepTapegrad)->Arg(64)->Unit(benchmark::kMillisecond);
