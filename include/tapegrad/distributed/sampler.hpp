#pragma once

#include <cstdint>
#include <numeric>
#include <vector>

#include "tapegrad/errors.hpp"
#include "tapegrad/ops/random.hpp"

namespace tapegrad::distributed {

/// The indices of a data set of `n` examples that rank `rank` of `size` uses in `epoch`
/// (PyTorch's DistributedSampler): all ranks shuffle 0..n-1 alike from `seed + epoch` (with
/// tapegrad::Generator, the same on every platform), pad the order by repeating its start
/// until every rank gets as many, and rank r takes positions r, r + size, r + 2 size, ...
/// With drop_last, the tail that does not divide evenly is left out instead.
///   auto mine = tapegrad::distributed::shard_indices(60000, epoch, 42, comm.rank(), comm.size());
inline std::vector<std::int64_t> shard_indices(std::int64_t n, std::int64_t epoch,
                                               std::uint64_t seed, int rank, int size,
                                               bool shuffle = true, bool drop_last = false) {
  TAPEGRAD_CHECK(n >= 0, value_error, "shard_indices: n must be >= 0, got ", n);
  TAPEGRAD_CHECK(size >= 1 && rank >= 0 && rank < size, value_error, "shard_indices: rank ", rank,
                 " is not a rank of a job of ", size);
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  if (shuffle) {
    Generator gen(seed + static_cast<std::uint64_t>(epoch));
    for (std::int64_t i = n - 1; i > 0; --i) {
      const auto j = static_cast<std::int64_t>(gen.bits() % static_cast<std::uint64_t>(i + 1));
      std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
    }
  }
  const std::int64_t per_rank = drop_last ? n / size : (n + size - 1) / size;
  std::vector<std::int64_t> mine;
  mine.reserve(static_cast<std::size_t>(per_rank));
  for (std::int64_t k = 0; k < per_rank; ++k) {
    const std::int64_t position = k * size + rank;
    if (n > 0) mine.push_back(order[static_cast<std::size_t>(position % n)]);
  }
  return mine;
}

}  // namespace tapegrad::distributed
