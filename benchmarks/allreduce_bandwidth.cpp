// Allreduce bandwidth between the ranks of an MPI job, for messages of 4 KiB to 64 MiB: the
// time of allreduce_gradients on one float gradient of that size (one bucket), median of
// `reps` calls after two warm-up calls, and the bandwidths it implies. Rank 0 prints JSON
// lines:   mpirun -np 2 allreduce_bandwidth [reps]
// "algorithm" bandwidth is bytes / time; "bus" bandwidth is 2 (P - 1) / P x bytes / time, the
// bytes each rank sends and receives in a ring allreduce, comparable across rank counts.
#include <tapegrad/distributed.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "mpi_timing.hpp"

namespace tg = tapegrad;
namespace td = tapegrad::distributed;

int main(int argc, char** argv) {
  td::Communicator comm(argc, argv);
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 21;
  for (std::size_t bytes = std::size_t{4} << 10; bytes <= (std::size_t{64} << 20); bytes *= 4) {
    const std::int64_t n = static_cast<std::int64_t>(bytes / sizeof(float));
    std::vector<tg::Variable<float>> vars{
        tg::Variable<float>(tg::Tensor<float>(tg::Shape{n}, 0.f), "g")};
    std::vector<double> seconds;
    for (int r = 0; r < reps + 2; ++r) {
      // Held by the list alone, as a gradient from the sweep is: averaged in its own elements.
      std::vector<tg::Tensor<float>> grads{tg::Tensor<float>(tg::Shape{n}, 1.f)};
      comm.barrier();
      const auto start = std::chrono::steady_clock::now();
      td::allreduce_gradients(comm, grads, vars, bytes);
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
      if (r >= 2) seconds.push_back(took.count());
    }
    const double median = bench::median_of_slowest(comm, seconds);
    const double p = comm.size();
    if (comm.rank() == 0)
      std::printf(
          "{\"ranks\": %d, \"bytes\": %zu, \"median_us\": %.1f, \"algorithm_GBps\": %.3f, "
          "\"bus_GBps\": %.3f}\n",
          comm.size(), bytes, median * 1e6, static_cast<double>(bytes) / median / 1e9,
          2 * (p - 1) / p * static_cast<double>(bytes) / median / 1e9);
  }
  return 0;
}
