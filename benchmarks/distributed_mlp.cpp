// Data-parallel scaling of the MLP training step (mlp_model.hpp's 784-256-256-10 MLP with
// SGD): every rank takes global_batch / ranks rows of the same batch. Three ways of taking a
// step run interleaved, one step of each in turn, so that the machine's noise reaches all alike:
//   local:   the rank's own gradients, no communication (what the step costs without MPI);
//   after:   DistributedOptimizer, which averages the gradients after the sweep;
//   overlap: DistributedGradientTape, whose buckets start while the sweep still runs.
// Rank 0 prints, as JSON, the median step time of each (over `reps` steps after two warm-up
// steps, the slowest rank's time per step) and the share of the communication that overlap
// hides: (after - overlap) / (after - local).
//   mpirun -np 2 distributed_mlp [global_batch] [reps] [bucket_bytes]
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
  const std::size_t bucket_bytes =
      argc > 3 ? static_cast<std::size_t>(std::atoll(argv[3])) : std::size_t{256} << 10;
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
  td::DistributedOptimizer<tg::SGD> after(sgd, comm, bucket_bytes);
  enum Mode { local, averaged_after, overlapped, n_modes };
  std::vector<double> seconds[n_modes];
  double hidden_started = 0, buckets = 0;
  std::vector<double> wait_seconds;
  float loss_value = 0;
  for (int r = 0; r < reps + 2; ++r) {
    for (int mode = 0; mode < n_modes; ++mode) {
      comm.barrier();
      const auto start = std::chrono::steady_clock::now();
      tg::GradientTape tape;
      auto h1 = tg::relu(tg::matmul(x, w1) + b1);
      auto h2 = tg::relu(tg::matmul(h1, w2) + b2);
      auto loss = tg::mean(tg::sparse_softmax_cross_entropy(labels, tg::matmul(h2, w3) + b3));
      if (mode == local) {
        sgd.apply_gradients(tape.gradient(loss, params), params);
      } else if (mode == averaged_after) {
        after.apply_gradients(tape.gradient(loss, params), params);
      } else {
        td::DistributedGradientTape overlap(tape, comm, bucket_bytes);
        sgd.apply_gradients(overlap.gradient(loss, params), params);
        hidden_started += static_cast<double>(overlap.last_overlap().started_during_sweep);
        buckets += static_cast<double>(overlap.last_overlap().buckets);
        if (r >= 2) wait_seconds.push_back(overlap.last_overlap().wait_seconds);
        loss_value = loss.item();
      }
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
      if (r >= 2) seconds[mode].push_back(took.count());
    }
  }
  double median[n_modes];
  for (int mode = 0; mode < n_modes; ++mode)
    median[mode] = bench::median_of_slowest(comm, seconds[mode]);
  const double wait = bench::median_of_slowest(comm, wait_seconds);
  const double exposed_after = median[averaged_after] - median[local];
  const double exposed_overlap = median[overlapped] - median[local];
  if (comm.rank() == 0)
    std::printf(
        "{\"ranks\": %d, \"global_batch\": %d, \"bucket_bytes\": %zu, \"buckets\": %.0f, "
        "\"started_during_sweep\": %.1f, \"local_ms\": %.3f, \"after_ms\": %.3f, "
        "\"overlap_ms\": %.3f, \"overlap_wait_ms\": %.3f, \"hidden_share\": %.2f, "
        "\"samples_per_s\": %.1f, "
        "\"last_loss\": %.4f}\n",
        comm.size(), global_batch, bucket_bytes, buckets / (reps + 2), hidden_started / (reps + 2),
        median[local] * 1e3, median[averaged_after] * 1e3, median[overlapped] * 1e3, wait * 1e3,
        exposed_after > 0 ? 1.0 - exposed_overlap / exposed_after : 0.0,
        global_batch / median[overlapped], static_cast<double>(loss_value));
  return 0;
}
