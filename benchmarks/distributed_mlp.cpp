// Data-parallel scaling of the MLP training step (mlp_model.hpp's 784-256-256-10 MLP with
// SGD): every rank takes global_batch / ranks rows of the same batch, and DistributedOptimizer
// averages the gradients before each update. Rank 0 prints the median step time over `reps`
// steps (after two warm-up steps) and samples per second, as JSON:
//   mpirun -np 1 distributed_mlp [global_batch] [reps];   mpirun -np 2 distributed_mlp ...
// Scaling efficiency on P ranks: samples/s on P ranks over P x samples/s on one.
#include <tapegrad/distributed.hpp>
#include <tapegrad/train/optimizers.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "mlp_model.hpp"
#include "mpi_timing.hpp"

namespace tg = tapegrad;
namespace td = tapegrad::distributed;

int main(int argc, char** argv) {
  td::Communicator comm(argc, argv);
  const int global_batch = argc > 1 ? std::atoi(argv[1]) : 512;
  const int reps = argc > 2 ? std::max(1, std::atoi(argv[2])) : 21;
  if (global_batch % comm.size() != 0) {
    if (comm.rank() == 0)
      std::fprintf(stderr, "the global batch %d does not divide over %d ranks\n", global_batch,
                   comm.size());
    return 2;
  }
  const mlp::Data d(global_batch);
  const int per_rank = global_batch / comm.size();
  const tg::Tensor<float> x_all(d.x);
  const tg::Tensor<float> x = tg::slice(x_all, {comm.rank() * per_rank, 0}, {per_rank, -1});
  std::vector<std::int32_t> mine(d.labels.begin() + comm.rank() * per_rank,
                                 d.labels.begin() + (comm.rank() + 1) * per_rank);
  const tg::Tensor<std::int32_t> labels(tg::Shape{per_rank}, mine);
  tg::Variable<float> w1(tg::Tensor<float>(d.w1), "w1"), w2(tg::Tensor<float>(d.w2), "w2"),
      w3(tg::Tensor<float>(d.w3), "w3");
  tg::Variable<float> b1(tg::reshape(tg::Tensor<float>(d.b1), {-1}), "b1"),
      b2(tg::reshape(tg::Tensor<float>(d.b2), {-1}), "b2"),
      b3(tg::reshape(tg::Tensor<float>(d.b3), {-1}), "b3");
  const std::vector<tg::Variable<float>> params{w1, b1, w2, b2, w3, b3};
  tg::SGD sgd(mlp::learning_rate);
  td::DistributedOptimizer<tg::SGD> opt(sgd, comm);
  std::vector<double> seconds;
  float loss_value = 0;
  for (int r = 0; r < reps + 2; ++r) {
    comm.barrier();
    const auto start = std::chrono::steady_clock::now();
    tg::GradientTape tape;
    auto h1 = tg::relu(tg::matmul(x, w1) + b1);
    auto h2 = tg::relu(tg::matmul(h1, w2) + b2);
    auto loss = tg::mean(tg::sparse_softmax_cross_entropy(labels, tg::matmul(h2, w3) + b3));
    opt.apply_gradients(tape.gradient(loss, params), params);
    loss_value = loss.item();
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    if (r >= 2) seconds.push_back(took.count());
  }
  const double median = bench::median_of_slowest(comm, seconds);
  if (comm.rank() == 0)
    std::printf(
        "{\"ranks\": %d, \"global_batch\": %d, \"median_ms\": %.3f, "
        "\"samples_per_s\": %.1f, \"last_loss\": %.4f}\n",
        comm.size(), global_batch, median * 1e3, global_batch / median,
        static_cast<double>(loss_value));
  return 0;
}
