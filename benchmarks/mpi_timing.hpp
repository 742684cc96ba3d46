// Timing a step of an MPI job: a collective ends when its slowest rank does.
#pragma once

#include <tapegrad/distributed/communicator.hpp>

#include <algorithm>
#include <vector>

namespace bench {

/// The median over steps of the slowest rank's time of each step (every rank calls it with
/// its own times of the same steps).
inline double median_of_slowest(const tapegrad::distributed::Communicator& comm,
                                const std::vector<double>& seconds) {
  std::vector<double> slowest(seconds.size());
  MPI_Allreduce(seconds.data(), slowest.data(), static_cast<int>(seconds.size()), MPI_DOUBLE,
                MPI_MAX, comm.comm());
  std::sort(slowest.begin(), slowest.end());
  return slowest[slowest.size() / 2];
}

}  // namespace bench
