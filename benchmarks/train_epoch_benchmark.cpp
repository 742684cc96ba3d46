// One epoch of Fashion-MNIST training, timed in tapegrad (eagerly, and replaying a traced step)
// and, when built with TAPEGRAD_BENCHMARK_WITH_TORCH, in libtorch: the 784-256-128-10 ReLU MLP
// of examples/fashion_mnist_mlp, softmax cross-entropy, plain SGD, mini-batches in the same
// (once shuffled) order and, in libtorch, tapegrad's initial weights, so both do the same
// arithmetic and end the epoch at about the same loss. Rounds alternate between the
// libraries so that a change in the machine's load falls on each; each one's median over
// the rounds is reported. Everything runs on one thread.
//   train_epoch_benchmark [--rounds N] [--batch-size N] [--lr X] [--train-limit N] [--data DIR]
// Run it with OPENBLAS_NUM_THREADS=1 (libtorch does its matmuls in OpenBLAS here).
#include <tapegrad/tapegrad.hpp>
#include <tapegrad/train/layers.hpp>
#include <tapegrad/train/optimizers.hpp>

#include <time.h>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/idx.hpp"
#include "common/progress.hpp"

#ifdef TAPEGRAD_BENCHMARK_WITH_TORCH
#include <torch/torch.h>
#endif

// OpenBLAS is reached only through libtorch; a weak declaration lets the binary run whether
// or not it is loaded.
extern "C" void openblas_set_num_threads(int threads) __attribute__((weak));

namespace tg = tapegrad;

namespace {

/// The training set in the order every epoch uses, one contiguous row per image.
struct Epoch {
  std::vector<float> images;  // [n, 784]
  std::vector<std::int32_t> labels;
  std::int64_t size() const { return static_cast<std::int64_t>(labels.size()); }
};

constexpr std::int64_t features = 784;

/// Shuffles the training set once with a seeded generator, so that every round and both
/// libraries see the same batches and a batch is a contiguous slice.
Epoch shuffled_epoch(const examples::LabeledImages& data, std::uint64_t seed) {
  const std::int64_t n = data.labels.size();
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  tg::Generator gen(seed);
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<std::int64_t>(gen.bits() % static_cast<std::uint64_t>(i + 1));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  Epoch epoch;
  epoch.images.resize(static_cast<std::size_t>(n * features));
  epoch.labels.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t row = order[static_cast<std::size_t>(i)];
    std::memcpy(epoch.images.data() + i * features, data.images.data() + row * features,
                sizeof(float) * features);
    epoch.labels[static_cast<std::size_t>(i)] = data.labels.data()[row];
  }
  return epoch;
}

/// The time one epoch took: wall clock and the CPU time of the whole process (which would
/// show any thread that a library started behind our back).
struct EpochTime {
  double wall = 0, cpu = 0;
  double mean_loss = 0;  // over the epoch's batches, to show both libraries learned alike
};

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

/// Times `train_batch(first, count)` over every batch of the epoch; it returns the batch's
/// mean loss.
template <class TrainBatch>
EpochTime time_epoch(std::int64_t n, std::int64_t batch_size, TrainBatch&& train_batch) {
  const auto wall_start = std::chrono::steady_clock::now();
  const double cpu_start = process_cpu_seconds();
  double loss_sum = 0;
  std::int64_t batches = 0;
  for (std::int64_t first = 0; first < n; first += batch_size, ++batches)
    loss_sum += train_batch(first, std::min(batch_size, n - first));
  EpochTime t;
  t.cpu = process_cpu_seconds() - cpu_start;
  t.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  t.mean_loss = loss_sum / static_cast<double>(batches);
  return t;
}

tg::Sequential<float> make_mlp(std::uint64_t seed) {
  tg::Generator gen(seed);
  auto relu = [](const tg::Tensor<float>& t) { return tg::relu(t); };
  return tg::Sequential<float>(tg::Dense<float>(784, 256, relu, gen, "dense1"),
                               tg::Dense<float>(256, 128, relu, gen, "dense2"),
                               tg::Dense<float>(128, 10, gen, "logits"));
}

/// An epoch in tapegrad: each step eagerly, or (`replayed`) a tapegrad::function of the step,
/// traced on the first batch of each shape and replayed on the others.
EpochTime tapegrad_epoch(const Epoch& epoch, std::int64_t batch_size, double lr, std::uint64_t seed,
                         bool replayed) {
  const tg::Sequential<float> model = make_mlp(seed);
  const auto vars = model.trainable_variables();
  tg::SGD opt(lr);
  auto step = [&](const tg::Tensor<float>& x, const tg::Tensor<std::int32_t>& y) {
    tg::GradientTape tape;
    const auto loss = tg::mean(tg::sparse_softmax_cross_entropy(y, model(x)));
    opt.apply_gradients(tape.gradient(loss, vars), vars);
    return loss;
  };
  const auto traced_step = tg::function(step);
  return time_epoch(epoch.size(), batch_size, [&](std::int64_t first, std::int64_t count) {
    const float* rows = epoch.images.data() + first * features;
    const tg::Tensor<float> x(tg::Shape{count, features},
                              std::vector<float>(rows, rows + count * features));
    const auto label_begin = epoch.labels.begin() + first;
    const tg::Tensor<std::int32_t> y(tg::Shape{count},
                                     std::vector<std::int32_t>(label_begin, label_begin + count));
    return static_cast<double>((replayed ? traced_step(x, y) : step(x, y)).item());
  });
}

#ifdef TAPEGRAD_BENCHMARK_WITH_TORCH
/// The same network in libtorch, as its users write it, starting from tapegrad's weights.
struct TorchMlp : torch::nn::Module {
  explicit TorchMlp(const tg::Sequential<float>& initial)
      : fc1(register_module("fc1", torch::nn::Linear(784, 256))),
        fc2(register_module("fc2", torch::nn::Linear(256, 128))),
        fc3(register_module("fc3", torch::nn::Linear(128, 10))) {
    // tapegrad's Dense keeps its kernel as [in, out], Linear its weight as [out, in].
    const auto vars = initial.trainable_variables();  // kernel, bias of each layer in turn
    torch::NoGradGuard no_grad;
    torch::nn::Linear* layers[] = {&fc1, &fc2, &fc3};
    for (std::size_t i = 0; i < 3; ++i) {
      const tg::Tensor<float> kernel = vars[2 * i].value(), bias = vars[2 * i + 1].value();
      const auto k = torch::from_blob(const_cast<float*>(kernel.data()),
                                      {kernel.shape()[0], kernel.shape()[1]}, torch::kFloat32);
      (*layers[i])->weight.copy_(k.t());
      (*layers[i])
          ->bias.copy_(torch::from_blob(const_cast<float*>(bias.data()), {bias.shape()[0]},
                                        torch::kFloat32));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return fc3(torch::relu(fc2(torch::relu(fc1(x)))));
  }
  torch::nn::Linear fc1, fc2, fc3;
};

EpochTime torch_epoch(const Epoch& epoch, std::int64_t batch_size, double lr, std::uint64_t seed) {
  // Outside the timed loop, as a libtorch user would load the data once.
  const auto images = torch::from_blob(const_cast<float*>(epoch.images.data()),
                                       {epoch.size(), features}, torch::kFloat32);
  const auto labels = torch::from_blob(const_cast<std::int32_t*>(epoch.labels.data()),
                                       {epoch.size()}, torch::kInt32)
                          .to(torch::kInt64);
  TorchMlp model(make_mlp(seed));
  torch::optim::SGD opt(model.parameters(), torch::optim::SGDOptions(lr));
  return time_epoch(epoch.size(), batch_size, [&](std::int64_t first, std::int64_t count) {
    opt.zero_grad();
    const auto loss = torch::nn::functional::cross_entropy(
        model.forward(images.narrow(0, first, count)), labels.narrow(0, first, count));
    loss.backward();
    opt.step();
    return static_cast<double>(loss.item<float>());
  });
}
#endif

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

void print_round(const char* library, int round, const EpochTime& t) {
  std::cout << "round " << round << ' ' << library << ": " << examples::detail::fixed(t.wall, 3)
            << " s wall, " << examples::detail::fixed(t.cpu, 3) << " s CPU, mean loss "
            << examples::detail::fixed(t.mean_loss, 4) << '\n';
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 3;
  int batch_size = 128;
  double lr = 0.01;
  std::uint64_t seed = 42;
  std::int64_t train_limit = -1;
  std::string data_dir = examples::default_fashion_mnist_dir();
  examples::Cli cli("train_epoch_benchmark",
                    "Times one epoch of training the Fashion-MNIST 784-256-128-10 MLP with plain "
                    "SGD in tapegrad and, when built with libtorch, in libtorch.");
  cli.option("rounds", rounds, "epochs timed per library, alternating between them")
      .at_least(1)
      .option("batch-size", batch_size, "examples per mini-batch")
      .at_least(1)
      .option("lr", lr, "SGD's learning rate")
      .positive()
      .option("seed", seed, "seed of the shuffle and of the initial weights")
      .option("train-limit", train_limit,
              "train on only the first N images (-1: all 60000; a small N makes a smoke test)")
      .option("data", data_dir, "directory holding the Fashion-MNIST .gz files", "DIR");
  cli.parse(argc, argv);

  Eigen::setNbThreads(1);
  if (openblas_set_num_threads) openblas_set_num_threads(1);
#ifdef TAPEGRAD_BENCHMARK_WITH_TORCH
  torch::set_num_threads(1);
#endif

  examples::LabeledImages train;
  try {
    train = examples::load_fashion_mnist(data_dir, examples::Split::train,
                                         examples::ImageLayout::flat, train_limit);
  } catch (const std::exception& e) {
    std::cerr << "train_epoch_benchmark: " << e.what() << '\n';
    return 1;
  }
  const Epoch epoch = shuffled_epoch(train, seed);
  std::cout << "one epoch: " << epoch.size() << " Fashion-MNIST images, MLP 784-256-128-10, SGD lr "
            << lr << ", batch " << batch_size << ", one thread, " << rounds << " round"
            << (rounds == 1 ? "" : "s") << '\n';

  std::vector<double> tapegrad_wall, tapegrad_cpu, replayed_wall, replayed_cpu, torch_wall,
      torch_cpu;
  for (int round = 1; round <= rounds; ++round) {
    const EpochTime t = tapegrad_epoch(epoch, batch_size, lr, seed, false);
    print_round("tapegrad", round, t);
    tapegrad_wall.push_back(t.wall);
    tapegrad_cpu.push_back(t.cpu);
    const EpochTime r = tapegrad_epoch(epoch, batch_size, lr, seed, true);
    print_round("tapegrad replayed", round, r);
    replayed_wall.push_back(r.wall);
    replayed_cpu.push_back(r.cpu);
#ifdef TAPEGRAD_BENCHMARK_WITH_TORCH
    const EpochTime u = torch_epoch(epoch, batch_size, lr, seed);
    print_round("libtorch", round, u);
    torch_wall.push_back(u.wall);
    torch_cpu.push_back(u.cpu);
#endif
  }

  using examples::detail::fixed;
  std::cout << "median epoch: tapegrad " << fixed(median(tapegrad_wall), 3) << " s wall ("
            << fixed(median(tapegrad_cpu), 3) << " s CPU)\n";
  std::cout << "median epoch: tapegrad replayed " << fixed(median(replayed_wall), 3) << " s wall ("
            << fixed(median(replayed_cpu), 3) << " s CPU)\n";
#ifdef TAPEGRAD_BENCHMARK_WITH_TORCH
  std::cout << "median epoch: libtorch " << fixed(median(torch_wall), 3) << " s wall ("
            << fixed(median(torch_cpu), 3) << " s CPU)\n";
  std::cout << "ratio tapegrad / libtorch: " << fixed(median(tapegrad_wall) / median(torch_wall), 2)
            << " (wall), " << fixed(median(tapegrad_cpu) / median(torch_cpu), 2) << " (CPU)\n";
  std::cout << "ratio tapegrad replayed / libtorch: "
            << fixed(median(replayed_wall) / median(torch_wall), 2) << " (wall), "
            << fixed(median(replayed_cpu) / median(torch_cpu), 2) << " (CPU)\n";
#else
  std::cout << "libtorch: not built in (configure with libtorch to compare)\n";
#endif
  return 0;
}
