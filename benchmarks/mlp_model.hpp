// The MLP training step that mlp_benchmark times and mlp_memory measures: a 784-256-256-10
// ReLU MLP, softmax cross-entropy against integer labels, plain SGD. Each implementation
// starts from the same data and weights, and step() runs forward, backward and the update.
#pragma once

#include <tapegrad/tapegrad.hpp>

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#ifdef TAPEGRAD_BENCHMARK_WITH_TORCH
#include <torch/torch.h>
#endif
#ifdef TAPEGRAD_BLAS
#include <cblas.h>
#endif

namespace mlp {

namespace tg = tapegrad;

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowVector = Eigen::Matrix<float, 1, Eigen::Dynamic>;
using ColumnVector = Eigen::Matrix<float, Eigen::Dynamic, 1>;
constexpr int input_size = 784, hidden = 256, classes = 10;
constexpr float learning_rate = 0.01f;

inline Matrix random_matrix(Eigen::Index rows, Eigen::Index cols, std::mt19937& engine,
                            float scale) {
  std::normal_distribution<float> normal(0.f, scale);
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(engine);
  return m;
}

/// The same inputs, labels and initial weights for every implementation.
struct Data {
  Matrix x;
  std::vector<std::int32_t> labels;
  Matrix w1, w2, w3;
  RowVector b1, b2, b3;
  explicit Data(int batch) {
    std::mt19937 engine(7);
    x = random_matrix(batch, input_size, engine, 1.f);
    for (int i = 0; i < batch; ++i) labels.push_back(i % classes);
    w1 = random_matrix(input_size, hidden, engine, 0.05f);
    w2 = random_matrix(hidden, hidden, engine, 0.09f);
    w3 = random_matrix(hidden, classes, engine, 0.09f);
    b1 = RowVector::Zero(hidden);
    b2 = RowVector::Zero(hidden);
    b3 = RowVector::Zero(classes);
  }
};

#ifdef TAPEGRAD_BLAS
/// c = alpha op(a) op(b) + beta c on the BLAS that tapegrad::blas links, c sized first.
inline void blas_gemm(Matrix& c, const Matrix& a, bool ta, const Matrix& b, bool tb, float alpha,
                      float beta) {
  const int m = static_cast<int>(ta ? a.cols() : a.rows());
  const int n = static_cast<int>(tb ? b.rows() : b.cols());
  const int k = static_cast<int>(ta ? a.rows() : a.cols());
  if (beta == 0.f) c.resize(m, n);
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, alpha, a.data(), static_cast<int>(a.cols()), b.data(), static_cast<int>(b.cols()),
              beta, c.data(), static_cast<int>(c.cols()));
}
#endif

/// The step written by hand in Eigen, without autodiff: the baseline for tapegrad. With
/// `blas` (in a build against tapegrad::blas) its six products go to the same BLAS instead.
class EigenByHand {
 public:
  explicit EigenByHand(int batch, bool blas = false) : d_(batch), blas_(blas) {}

  /// One step; returns the loss before the update.
  float step() {
    const Eigen::Index batch = d_.x.rows();
    product(h1_, d_.x, false, d_.w1, false, 1.f, 0.f);
    h1_ = (h1_.rowwise() + d_.b1).cwiseMax(0.f);
    product(h2_, h1_, false, d_.w2, false, 1.f, 0.f);
    h2_ = (h2_.rowwise() + d_.b2).cwiseMax(0.f);
    product(logits_, h2_, false, d_.w3, false, 1.f, 0.f);
    logits_.rowwise() += d_.b3;
    // Shifted by each row's maximum so that exp cannot overflow:
    // loss = mean(log(sum(exp(z - max))) - (z[label] - max)), d/dz = (softmax(z) - one_hot) /
    // batch.
    row_max_ = logits_.rowwise().maxCoeff();
    d_logits_ = (logits_.colwise() - row_max_).array().exp().matrix();
    row_sum_ = d_logits_.rowwise().sum();
    float loss = 0.f;
    for (Eigen::Index i = 0; i < batch; ++i) {
      const int label = d_.labels[static_cast<std::size_t>(i)];
      loss += std::log(row_sum_(i)) - (logits_(i, label) - row_max_(i));
      d_logits_.row(i) /= row_sum_(i);
      d_logits_(i, label) -= 1.f;
    }
    d_logits_ /= static_cast<float>(batch);
    product(d_h2_, d_logits_, false, d_.w3, true, 1.f, 0.f);
    d_h2_ = (h2_.array() > 0.f).select(d_h2_, 0.f);
    product(d_h1_, d_h2_, false, d_.w2, true, 1.f, 0.f);
    d_h1_ = (h1_.array() > 0.f).select(d_h1_, 0.f);
    product(d_.w3, h2_, true, d_logits_, false, -learning_rate, 1.f);
    d_.b3 -= learning_rate * d_logits_.colwise().sum();
    product(d_.w2, h1_, true, d_h2_, false, -learning_rate, 1.f);
    d_.b2 -= learning_rate * d_h2_.colwise().sum();
    product(d_.w1, d_.x, true, d_h1_, false, -learning_rate, 1.f);
    d_.b1 -= learning_rate * d_h1_.colwise().sum();
    return loss / static_cast<float>(batch);
  }

 private:
  /// c = alpha op(a) op(b) + beta c (beta 0 or 1), by Eigen or by the BLAS.
  void product(Matrix& c, const Matrix& a, bool ta, const Matrix& b, bool tb, float alpha,
               float beta) {
#ifdef TAPEGRAD_BLAS
    if (blas_) return blas_gemm(c, a, ta, b, tb, alpha, beta);
#endif
    auto apply = [&](const auto& lhs, const auto& rhs) {
      if (beta == 0.f)
        c.noalias() = lhs * rhs;
      else
        c.noalias() += alpha * (lhs * rhs);
    };
    if (ta && tb)
      apply(a.transpose(), b.transpose());
    else if (ta)
      apply(a.transpose(), b);
    else if (tb)
      apply(a, b.transpose());
    else
      apply(a, b);
  }

  Data d_;
  [[maybe_unused]] bool blas_;                        // read only in a build against tapegrad::blas
  Matrix h1_, h2_, logits_, d_logits_, d_h2_, d_h1_;  // reused from step to step
  ColumnVector row_max_, row_sum_;
};

/// The step with tapegrad, written as a TensorFlow user would.
class Tapegrad {
 public:
  explicit Tapegrad(int batch) : Tapegrad(Data(batch)) {}

  float step() { return loss_and_update(x_, labels_).item(); }

  /// One step on a batch: the loss, and the variables updated.
  tg::Tensor<float> loss_and_update(const tg::Tensor<float>& x,
                                    const tg::Tensor<std::int32_t>& labels) {
    tg::GradientTape tape;
    auto h1 = tg::relu(tg::matmul(x, w1_) + b1_);
    auto h2 = tg::relu(tg::matmul(h1, w2_) + b2_);
    auto logits = tg::matmul(h2, w3_) + b3_;
    auto loss = tg::mean(tg::sparse_softmax_cross_entropy(labels, logits));
    auto grads = tape.gradient(loss, params_);
    for (std::size_t i = 0; i < params_.size(); ++i)
      params_[i].assign_sub(grads[i] * learning_rate);
    return loss;
  }
  const tg::Tensor<float>& x() const { return x_; }
  const tg::Tensor<std::int32_t>& labels() const { return labels_; }

 private:
  explicit Tapegrad(const Data& d)
      : x_(d.x),
        labels_(tg::Shape{d.x.rows()}, d.labels),
        w1_(tg::Tensor<float>(d.w1)),
        w2_(tg::Tensor<float>(d.w2)),
        w3_(tg::Tensor<float>(d.w3)),
        b1_(tg::reshape(tg::Tensor<float>(d.b1), {-1})),
        b2_(tg::reshape(tg::Tensor<float>(d.b2), {-1})),
        b3_(tg::reshape(tg::Tensor<float>(d.b3), {-1})),
        params_{w1_, b1_, w2_, b2_, w3_, b3_} {}

  tg::Tensor<float> x_;
  tg::Tensor<std::int32_t> labels_;
  tg::Variable<float> w1_, w2_, w3_, b1_, b2_, b3_;
  std::vector<tg::Variable<float>> params_;  // copies share the variables above
};

/// The same step as a tapegrad::function: traced at the first call, replayed after it.
class TapegradReplayed {
 public:
  explicit TapegradReplayed(int batch)
      : eager_(batch),
        step_([this](const tg::Tensor<float>& x, const tg::Tensor<std::int32_t>& labels) {
          return eager_.loss_and_update(x, labels);
        }) {}

  float step() { return step_(eager_.x(), eager_.labels()).item(); }

 private:
  using Step =
      std::function<tg::Tensor<float>(const tg::Tensor<float>&, const tg::Tensor<std::int32_t>&)>;
  Tapegrad eager_;
  tg::Function<Step> step_;
};

/// What tracing the step costs: each step is a fresh traced function's first call (the eager
/// step under the tracer, and the program written down and planned).
class TapegradTraced {
 public:
  explicit TapegradTraced(int batch) : eager_(batch) {}

  float step() {
    auto traced =
        tg::function([this](const tg::Tensor<float>& x, const tg::Tensor<std::int32_t>& labels) {
          return eager_.loss_and_update(x, labels);
        });
    return traced(eager_.x(), eager_.labels()).item();
  }

 private:
  Tapegrad eager_;
};

#ifdef TAPEGRAD_BENCHMARK_WITH_TORCH
/// The step as a libtorch user writes it: nn::Linear layers (addmm), cross_entropy and
/// optim::SGD.
class Torch {
 public:
  explicit Torch(int batch) : Torch(Data(batch)) {}

  float step() {
    optimizer_.zero_grad();
    auto h1 = torch::relu(fc1_->forward(x_));
    auto h2 = torch::relu(fc2_->forward(h1));
    auto loss = torch::nn::functional::cross_entropy(fc3_->forward(h2), labels_);
    loss.backward();
    optimizer_.step();
    return loss.item<float>();
  }

 private:
  static torch::Tensor to_torch(const Matrix& m) {
    return torch::from_blob(const_cast<float*>(m.data()), {m.rows(), m.cols()}, torch::kFloat32)
        .clone();
  }
  static std::vector<torch::Tensor> parameters(std::initializer_list<torch::nn::Linear> layers) {
    std::vector<torch::Tensor> out;
    for (const auto& layer : layers)
      for (const auto& p : layer->parameters()) out.push_back(p);
    return out;
  }
  explicit Torch(const Data& d)
      : x_(to_torch(d.x)),
        labels_(torch::tensor(std::vector<std::int64_t>(d.labels.begin(), d.labels.end()))),
        fc1_(input_size, hidden),
        fc2_(hidden, hidden),
        fc3_(hidden, classes),
        optimizer_(parameters({fc1_, fc2_, fc3_}), torch::optim::SGDOptions(learning_rate)) {
    // Linear keeps its weight as [out, in]: the transposes of the weights above.
    torch::NoGradGuard no_grad;
    fc1_->weight.copy_(to_torch(d.w1).t());
    fc2_->weight.copy_(to_torch(d.w2).t());
    fc3_->weight.copy_(to_torch(d.w3).t());
    for (auto* layer : {&fc1_, &fc2_, &fc3_}) (*layer)->bias.zero_();
  }

  torch::Tensor x_, labels_;
  torch::nn::Linear fc1_, fc2_, fc3_;
  torch::optim::SGD optimizer_;
};
#endif

}  // namespace mlp
