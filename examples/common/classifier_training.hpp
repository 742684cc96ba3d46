#pragma once

// The whole program of the Fashion-MNIST classifier examples but for the model: command
// line, data loading, shuffled mini-batch training with Adam and softmax cross-entropy,
// evaluation on the test set after each epoch, progress, learning curves and the summary.
// Each program passes its defaults and a function that builds its network. A training step
// (forward, gradient, Adam's update) is traced once per batch shape with tapegrad::function
// and replayed after that; --eager runs every step eagerly, with the same results bit for bit.

#include <tapegrad/memory_report.hpp>
#include <tapegrad/tapegrad.hpp>
#include <tapegrad/train/layers.hpp>
#include <tapegrad/train/optimizers.hpp>
#include <tapegrad/train/schedules.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli.hpp"
#include "idx.hpp"
#include "progress.hpp"

namespace examples {

/// The processes that train together: one, unless the program runs data-parallel
/// (data_parallel.hpp). Every global batch is split over them, their gradients averaged.
class Team {
 public:
  virtual ~Team() = default;
  virtual int rank() const { return 0; }
  virtual int size() const { return 1; }
  /// Gives every process rank 0's weights.
  virtual void start_alike(const std::vector<tapegrad::Variable<float>>&) {}
  /// The gradients of `loss`, averaged over the processes.
  virtual std::vector<tapegrad::Tensor<float>> gradient(
      tapegrad::GradientTape& tape, const tapegrad::Tensor<float>& loss,
      const std::vector<tapegrad::Variable<float>>& vars) {
    return tape.gradient(loss, vars);
  }
  /// Each value summed over the processes.
  virtual void sum(std::vector<double>&) {}
};

/// What differs between the classifier programs besides the network itself.
struct ClassifierSetup {
  std::string program;      // for --help and error messages, e.g. "fashion_mnist_mlp"
  std::string description;  // the first line of --help
  std::string model_name;   // in the opening line, e.g. "MLP 784-256-128-10"
  /// The shape of one example as the network takes it: {784} or {28, 28, 1}.
  tapegrad::Shape example_shape;
  int epochs = 10;
  int batch_size = 128;
  double learning_rate = 1e-3;
  /// "constant", or "cosine": from learning_rate down to 0 over the whole run, which lets
  /// the last epochs settle into a minimum instead of jittering around it.
  std::string schedule = "cosine";
  double target_accuracy = 0.88;  // a full run fails if no epoch reaches it on the test set
  /// --quick: one epoch on the first images of each split; a small subset needs smaller
  /// batches and a larger step to learn something within one pass.
  std::int64_t quick_train_images = 2000, quick_test_images = 1000;
  int quick_batch_size = 128;
  double quick_learning_rate = 1e-3;
  /// The test accuracy a --quick run must beat: far above the 10% of guessing, far below
  /// what a full run reaches, since a subset and one epoch prove the pipeline, not the model.
  double quick_floor = 0.5;
  std::int64_t evaluation_batch = 1000;  // bounds the memory of one forward pass
  Team* team = nullptr;                  // null: this process alone
};

using ModelBuilder = std::function<tapegrad::Sequential<float>(tapegrad::Generator&)>;

namespace detail {

/// Examples `order[first, first + count)` and their labels, copied into a batch of shape
/// [count, example_shape...]: copying is cheaper than a gather op because nothing here needs
/// a gradient.
inline void make_batch(const LabeledImages& data, const tapegrad::Shape& example_shape,
                       const std::vector<std::int64_t>& order, std::int64_t first,
                       std::int64_t count, tapegrad::Tensor<float>& x,
                       tapegrad::Tensor<std::int32_t>& y) {
  const std::int64_t features = data.images.size() / data.labels.size();
  std::vector<std::int64_t> dims{count};
  dims.insert(dims.end(), example_shape.begin(), example_shape.end());
  x = tapegrad::Tensor<float>(tapegrad::Shape(dims.begin(), dims.end()), 0.0f);
  y = tapegrad::Tensor<std::int32_t>(tapegrad::Shape{count}, 0);
  float* px = x.mutable_data();
  std::int32_t* py = y.mutable_data();
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t row = order[static_cast<std::size_t>(first + i)];
    std::memcpy(px + i * features, data.images.data() + row * features,
                sizeof(float) * static_cast<std::size_t>(features));
    py[i] = data.labels.data()[row];
  }
}

/// How many of `logits`' rows have their largest entry at the label.
inline std::int64_t count_correct(const tapegrad::Tensor<float>& logits,
                                  const tapegrad::Tensor<std::int32_t>& y) {
  const auto predicted = tapegrad::argmax(logits, 1);
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < y.size(); ++i)
    correct += predicted.data()[i] == static_cast<std::int64_t>(y.data()[i]);
  return correct;
}

/// Mean loss and accuracy over a whole split, in batches (no tape is open, so nothing is
/// recorded); each of the team's processes takes its share of the split.
inline std::pair<double, double> evaluate(const tapegrad::Sequential<float>& model,
                                          const LabeledImages& data,
                                          const tapegrad::Shape& example_shape, std::int64_t batch,
                                          Team& team) {
  const std::int64_t n = data.labels.size();
  const std::int64_t begin = n * team.rank() / team.size(),
                     end = n * (team.rank() + 1) / team.size();
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  double loss_sum = 0;
  std::int64_t correct = 0;
  tapegrad::Tensor<float> x;
  tapegrad::Tensor<std::int32_t> y;
  for (std::int64_t first = begin; first < end; first += batch) {
    const std::int64_t count = std::min(batch, end - first);
    make_batch(data, example_shape, order, first, count, x, y);
    const auto logits = model(x);
    loss_sum += tapegrad::sum(tapegrad::sparse_softmax_cross_entropy(y, logits)).item();
    correct += count_correct(logits, y);
  }
  std::vector<double> sums{loss_sum, static_cast<double>(correct)};
  team.sum(sums);
  return {sums[0] / static_cast<double>(n), sums[1] / static_cast<double>(n)};
}

inline const char* plural_s(int count) {
  return count == 1 ? "" : "s";
}

}  // namespace detail

/// Runs a classifier program: parses the command line (starting from `setup`'s defaults),
/// trains the network `build_model` makes and returns the process's exit code.
inline int run_classifier(int argc, char** argv, ClassifierSetup setup,
                          const ModelBuilder& build_model) {
  namespace tg = tapegrad;
  Team alone;
  Team& team = setup.team ? *setup.team : alone;
  bool quick = false, print_memory_report = false, eager = false;
  std::uint64_t seed = 42;
  int epochs = setup.epochs;
  int batch_size = setup.batch_size;
  double lr = setup.learning_rate;
  std::string schedule = setup.schedule;
  double target = setup.target_accuracy;
  std::int64_t train_limit = -1, test_limit = -1;
  std::string data_dir = default_fashion_mnist_dir();
  std::string out_dir = "out/" + setup.program;
  std::string quick_help = "a smoke test: " + std::to_string(setup.quick_train_images) +
                           " training and " + std::to_string(setup.quick_test_images) +
                           " test images, one epoch";
  if (setup.quick_batch_size != setup.batch_size)
    quick_help += ", batch " + std::to_string(setup.quick_batch_size);
  if (setup.quick_learning_rate != setup.learning_rate) {
    std::ostringstream rate;
    rate << setup.quick_learning_rate;
    quick_help += ", lr " + rate.str();
  }
  quick_help += "; passes above " + detail::fixed(100 * setup.quick_floor, 0) + "% test accuracy";
  Cli cli(setup.program, setup.description);
  cli.flag("quick", quick, quick_help)
      .option("seed", seed, "seed of the initial weights and of the shuffling")
      .option("epochs", epochs, "passes over the training set")
      .at_least(1)
      .option("batch-size", batch_size, "examples per mini-batch")
      .at_least(1)
      .option("lr", lr, "Adam's learning rate (where a schedule starts)")
      .positive()
      .option("schedule", schedule,
              "learning rate schedule: constant, or cosine (decays to 0 over the run)", "NAME")
      .option("target", target, "test accuracy the run must reach to report success")
      .option("train-limit", train_limit, "use only the first N training images (-1: all)")
      .option("test-limit", test_limit, "use only the first N test images (-1: all)")
      .option("data", data_dir, "directory holding the Fashion-MNIST .gz files", "DIR")
      .option("out", out_dir, "directory for curves.csv and curves.png", "DIR")
      .flag("memory-report", print_memory_report,
            "print what the tape holds after the first forward pass, per op and entry")
      .flag("eager", eager,
            "run every training step eagerly instead of replaying a traced one (the same "
            "results, bit for bit)");
  cli.parse(argc, argv);
  if (schedule != "constant" && schedule != "cosine") {
    std::cerr << setup.program << ": --schedule must be constant or cosine, not '" << schedule
              << "'\n";
    return 2;
  }
  if (quick) {
    if (!cli.given("epochs")) epochs = 1;
    if (!cli.given("batch-size")) batch_size = setup.quick_batch_size;
    if (!cli.given("lr")) lr = setup.quick_learning_rate;
    if (!cli.given("train-limit")) train_limit = setup.quick_train_images;
    if (!cli.given("test-limit")) test_limit = setup.quick_test_images;
  }
  const auto start = std::chrono::steady_clock::now();

  const ImageLayout layout =
      setup.example_shape.rank() == 1 ? ImageLayout::flat : ImageLayout::square;
  LabeledImages train, test;
  try {
    train = load_fashion_mnist(data_dir, Split::train, layout, train_limit);
    test = load_fashion_mnist(data_dir, Split::test, layout, test_limit);
  } catch (const std::exception& e) {
    std::cerr << setup.program << ": " << e.what() << '\n';
    return 1;
  }
  if (batch_size < team.size()) {  // (a last, partial batch may leave some processes none)
    std::cerr << setup.program << ": a batch of " << batch_size << " leaves some of the "
              << team.size() << " processes without examples\n";
    return 2;
  }
  const std::int64_t n = train.labels.size();
  std::cout << "Fashion-MNIST: " << n << " training and " << test.labels.size() << " test images; "
            << setup.model_name << ", Adam lr " << lr
            << (schedule == "cosine" ? " cosine-decayed" : "") << ", batch " << batch_size << ", "
            << epochs << " epoch" << detail::plural_s(epochs) << ", seed " << seed << '\n';
  if (team.size() > 1)
    std::cout << "data-parallel over " << team.size() << " processes: each takes its share of "
              << "every batch, and their gradients are averaged\n";

  tg::Generator gen(seed);
  const tg::Sequential<float> model = build_model(gen);
  const auto vars = model.trainable_variables();
  team.start_alike(vars);
  const std::int64_t batches = (n + batch_size - 1) / batch_size;
  tg::Adam opt(schedule == "cosine" ? tg::LearningRate(tg::CosineDecay(
                                          lr, static_cast<std::int64_t>(epochs) * batches))
                                    : tg::LearningRate(lr));

  // One step on a batch `x` with labels `y`: the logits and the summed loss.
  auto train_step = [&](const tg::Tensor<float>& x, const tg::Tensor<std::int32_t>& y,
                        const tg::Tensor<float>& share, bool report_memory) {
    std::unique_ptr<tg::TapeDetails> details;  // notes shapes and lines for the report
    if (report_memory) details = std::make_unique<tg::TapeDetails>();
    tg::GradientTape tape;
    tg::Tensor<float> logits = model(x);
    const auto losses = tg::sparse_softmax_cross_entropy(y, logits);
    tg::Tensor<float> loss_sum = tg::sum(losses);
    if (report_memory)
      std::cout << "what the tape holds after the first forward pass:\n"
                << tg::memory_report(tape) << '\n';
    opt.apply_gradients(team.gradient(tape, loss_sum / share, vars), vars);
    return std::make_pair(logits, loss_sum);
  };
  // Data-parallel steps stay eager: their all-reduce runs on the host, which a replay cannot
  // repeat (tracing would refuse it with a trace_error).
  if (team.size() > 1) eager = true;
  auto traced_step =
      tg::function([&](const tg::Tensor<float>& x, const tg::Tensor<std::int32_t>& y,
                       const tg::Tensor<float>& share) { return train_step(x, y, share, false); });
  std::cout << (eager ? "training steps run eagerly"
                      : "training steps are traced once per batch shape, then replayed (--eager: "
                        "run each eagerly)")
            << '\n';

  ProgressReporter progress(epochs, batches);
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  tg::Tensor<float> x;
  tg::Tensor<std::int32_t> y;
  int reached_at = 0;  // first epoch whose test accuracy reached the target
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    // Fisher-Yates with the seeded Generator, so a seed fixes the whole run.
    for (std::int64_t i = n - 1; i > 0; --i) {
      const auto j = static_cast<std::int64_t>(gen.bits() % static_cast<std::uint64_t>(i + 1));
      std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
    }
    progress.begin_epoch();
    for (std::int64_t b = 0; b < batches; ++b) {
      // This process's share of the global batch [b * batch_size, + global_count).
      const std::int64_t global_count = std::min<std::int64_t>(batch_size, n - b * batch_size);
      const std::int64_t first = b * batch_size + global_count * team.rank() / team.size(),
                         count = b * batch_size + global_count * (team.rank() + 1) / team.size() -
                                 first;
      detail::make_batch(train, setup.example_shape, order, first, count, x, y);
      // The global batch's mean loss is this process's summed loss over its share of it:
      // averaged over the processes, the gradients are those of the mean over the global
      // batch, even when the shares differ in size.
      const tg::Tensor<float> share(static_cast<float>(global_count) /
                                    static_cast<float>(team.size()));
      const bool report_memory = print_memory_report && epoch == 1 && b == 0;
      const auto [logits, loss_sum] = eager || report_memory
                                          ? train_step(x, y, share, report_memory)
                                          : traced_step(x, y, share);
      // The global batch's figures, as one process would report them.
      std::vector<double> sums{loss_sum.item(),
                               static_cast<double>(detail::count_correct(logits, y))};
      team.sum(sums);
      progress.batch_done(global_count, sums[0] / static_cast<double>(global_count),
                          static_cast<std::int64_t>(sums[1]));
    }
    const auto [test_loss, test_acc] =
        detail::evaluate(model, test, setup.example_shape, setup.evaluation_batch, team);
    progress.end_epoch(test_loss, test_acc);
    if (!reached_at && test_acc >= target) reached_at = epoch;
  }
  progress.finish();
  if (!eager) {
    const tg::FunctionStats stats = traced_step.stats();
    std::cout << "training steps: " << stats.traces << " traced, " << stats.replays
              << " replayed\n";
  }

  if (team.rank() == 0) {  // one process writes the curves, which every process knows
    try {
      write_learning_curves_csv(out_dir + "/curves.csv", progress.history());
      std::cout << "wrote " << out_dir << "/curves.csv\n";
      plot_learning_curves(out_dir + "/curves.csv", out_dir + "/curves.png");
    } catch (const std::exception& e) {
      std::cerr << setup.program << ": " << e.what() << '\n';  // the training itself succeeded
    }
  }

  const double test_acc = progress.history().back().test_acc;
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::cout << "final test accuracy " << detail::percent(test_acc) << " on " << test.labels.size()
            << " test images after " << epochs << " epoch" << detail::plural_s(epochs) << ", "
            << detail::fixed(took.count(), 1) << " s in all\n";
  if (quick) {
    if (test_acc < setup.quick_floor) {
      std::cout << "FAILED: quick run below " << detail::fixed(100 * setup.quick_floor, 0)
                << "% test accuracy\n";
      return 1;
    }
    std::cout << "ok: quick run learned (test accuracy above "
              << detail::fixed(100 * setup.quick_floor, 0) << "%)\n";
    return 0;
  }
  if (!reached_at) {
    std::cout << "FAILED: test accuracy never reached " << detail::percent(target) << '\n';
    return 1;
  }
  std::cout << "ok: test accuracy reached " << detail::percent(target) << " at epoch " << reached_at
            << '\n';
  return 0;
}

}  // namespace examples
