#pragma once

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "tapegrad/distributed/communicator.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/variable.hpp"

// The collectives of data-parallel training: every rank checks that all hold the same
// variables, starts from the same weights, and averages its gradients with the others'.
namespace tapegrad::distributed {
namespace detail {

template <class T>
MPI_Datatype mpi_type() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "distributed: gradients are float or double");
  return std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
}

/// One line per variable: its name, element type and shape.
template <class T>
std::vector<std::string> describe(const std::vector<Variable<T>>& vars) {
  std::vector<std::string> lines;
  for (const Variable<T>& v : vars)
    lines.push_back("'" + v.name() + "' " + dtype_name(dtype_of<T>()) + " " + v.shape().str());
  return lines;
}

/// Every rank's lines, gathered on every rank.
inline std::vector<std::vector<std::string>> gather_lines(const Communicator& comm,
                                                          const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + '\n';
  const int length = static_cast<int>(text.size());
  std::vector<int> lengths(static_cast<std::size_t>(comm.size()));
  check_mpi(MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, comm.comm()),
            "MPI_Allgather");
  std::vector<int> offsets(lengths.size(), 0);
  for (std::size_t r = 1; r < lengths.size(); ++r) offsets[r] = offsets[r - 1] + lengths[r - 1];
  std::string all(static_cast<std::size_t>(offsets.back() + lengths.back()), '\0');
  check_mpi(MPI_Allgatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(),
                           offsets.data(), MPI_CHAR, comm.comm()),
            "MPI_Allgatherv");
  std::vector<std::vector<std::string>> per_rank(lengths.size());
  for (std::size_t r = 0; r < lengths.size(); ++r) {
    std::istringstream in(
        all.substr(static_cast<std::size_t>(offsets[r]), static_cast<std::size_t>(lengths[r])));
    for (std::string line; std::getline(in, line);) per_rank[r].push_back(line);
  }
  return per_rank;
}

}  // namespace detail

/// Checks that every rank holds the same variables, in the same order (names, element types,
/// shapes), as data-parallel training needs; otherwise throws value_error on every rank,
/// naming the first difference (never a hang: every rank takes part in the same two
/// collectives whatever it holds). Called by DistributedOptimizer before its first step.
///   tapegrad::distributed::check_same_variables(comm, model.trainable_variables());
template <class T>
void check_same_variables(const Communicator& comm, const std::vector<Variable<T>>& vars) {
  const auto per_rank = detail::gather_lines(comm, detail::describe(vars));
  const auto& first = per_rank[0];
  for (std::size_t r = 1; r < per_rank.size(); ++r) {
    const auto& other = per_rank[r];
    for (std::size_t i = 0; i < std::max(first.size(), other.size()); ++i) {
      if (i < first.size() && i < other.size() && first[i] == other[i]) continue;
      const std::string mine = i < first.size() ? first[i] : "nothing";
      const std::string theirs = i < other.size() ? other[i] : "nothing";
      tapegrad::detail::fail<value_error>(
          "distributed: the ranks hold different variables: variable ", i, " is ", mine,
          " on rank 0 but ", theirs, " on rank ", r, " (rank 0 has ", first.size(),
          " variables, rank ", r, " has ", other.size(), ")");
    }
  }
}

/// Sets every rank's variables to `root`'s values, so that training starts from the same
/// weights everywhere (Horovod's broadcast_variables). Checks first that the ranks hold the
/// same variables.   tapegrad::distributed::broadcast_variables(comm, vars, 0);
template <class T>
void broadcast_variables(const Communicator& comm, const std::vector<Variable<T>>& vars,
                         int root = 0) {
  TAPEGRAD_CHECK(root >= 0 && root < comm.size(), value_error, "broadcast_variables: root ", root,
                 " is not a rank of a job of ", comm.size());
  check_same_variables(comm, vars);
  for (Variable<T> v : vars) {
    const Tensor<T> value = v.snapshot();
    Tensor<T> buffer(tapegrad::detail::uninitialized, value.shape());  // ours, for MPI to write
    std::copy_n(value.data(), value.size(), buffer.mutable_data());
    for (std::int64_t at = 0; at < buffer.size(); at += INT_MAX) {
      const int count = static_cast<int>(std::min<std::int64_t>(INT_MAX, buffer.size() - at));
      detail::check_mpi(
          MPI_Bcast(buffer.mutable_data() + at, count, detail::mpi_type<T>(), root, comm.comm()),
          "MPI_Bcast");
    }
    if (comm.rank() != root) v.assign(buffer);
  }
}

/// The default size of a fusion bucket: 25 MiB, as PyTorch's DistributedDataParallel.
constexpr std::size_t default_bucket_bytes = std::size_t{25} << 20;

// NOTE [ Averaging gradients in buckets ]
// Gradients are packed one after another into buckets of at most `bucket_bytes` (a tensor
// larger than a bucket spans several), and each bucket is summed over the ranks by one
// non-blocking MPI_Iallreduce, so that many small gradients cost a few large messages
// (Horovod's tensor fusion, DDP's buckets). A gradient with no value (None) on a rank counts as
// zeros there, so every rank sends the same layout; one small allreduce first tells every
// rank which gradients some rank has, and a gradient no rank has stays None everywhere (the
// optimizer then skips its variable, as it would on one process). The sums are divided by the
// number of ranks. The buffers are this call's own: the gradients handed in are not written.

/// Averages `grads` (one per variable of `vars`, in the same order on every rank) over the
/// ranks, in place: Horovod's allreduce with op=Average over a fused list.
///   auto grads = tape.gradient(loss, vars);   allreduce_gradients(comm, grads, vars);
template <class T>
void allreduce_gradients(const Communicator& comm, std::vector<Tensor<T>>& grads,
                         const std::vector<Variable<T>>& vars,
                         std::size_t bucket_bytes = default_bucket_bytes) {
  TAPEGRAD_CHECK(grads.size() == vars.size(), value_error, "allreduce_gradients: ", grads.size(),
                 " gradients for ", vars.size(), " variables (expected one per variable)");
  TAPEGRAD_CHECK(bucket_bytes >= sizeof(T), value_error,
                 "allreduce_gradients: bucket_bytes must hold one element, got ", bucket_bytes);
  for (std::size_t i = 0; i < grads.size(); ++i)
    TAPEGRAD_CHECK(!grads[i].has_value() || grads[i].shape() == vars[i].shape(), shape_error,
                   "allreduce_gradients: gradient ", i, " has shape ", grads[i].shape(),
                   " but variable '", vars[i].name(), "' has shape ", vars[i].shape());
  if (grads.empty()) return;
  std::vector<int> present(grads.size());
  for (std::size_t i = 0; i < grads.size(); ++i) present[i] = grads[i].has_value() ? 1 : 0;
  detail::check_mpi(MPI_Allreduce(MPI_IN_PLACE, present.data(), static_cast<int>(present.size()),
                                  MPI_INT, MPI_MAX, comm.comm()),
                    "MPI_Allreduce");
  std::vector<std::int64_t> offset(grads.size() + 1, 0);
  for (std::size_t i = 0; i < grads.size(); ++i)
    offset[i + 1] = offset[i] + (present[i] ? vars[i].shape().size() : 0);
  // The buckets' buffer lives on with the thread: a fresh one would page-fault in on every
  // step (9.5 ms instead of 0.6 ms for 1 MiB on the machine the benchmarks ran on).
  static thread_local std::vector<T> flat;
  if (flat.size() < static_cast<std::size_t>(offset.back()))
    flat.resize(static_cast<std::size_t>(offset.back()));
  for (std::size_t i = 0; i < grads.size(); ++i) {
    if (grads[i].has_value())
      std::copy_n(grads[i].data(), grads[i].size(), flat.data() + offset[i]);
    else
      std::fill(flat.data() + offset[i], flat.data() + offset[i + 1], T(0));
  }
  const std::int64_t per_bucket = static_cast<std::int64_t>(
      std::min<std::size_t>(bucket_bytes / sizeof(T), static_cast<std::size_t>(INT_MAX)));
  std::vector<MPI_Request> requests;
  for (std::int64_t at = 0; at < offset.back(); at += per_bucket) {
    const int count = static_cast<int>(std::min(per_bucket, offset.back() - at));
    requests.emplace_back();
    detail::check_mpi(MPI_Iallreduce(MPI_IN_PLACE, flat.data() + at, count, detail::mpi_type<T>(),
                                     MPI_SUM, comm.comm(), &requests.back()),
                      "MPI_Iallreduce");
  }
  detail::check_mpi(
      MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE),
      "MPI_Waitall");
  const T scale = T(1) / static_cast<T>(comm.size());
  for (std::size_t i = 0; i < grads.size(); ++i) {
    if (!present[i]) continue;
    Tensor<T> mean(tapegrad::detail::uninitialized, vars[i].shape());
    T* out = mean.mutable_data();
    for (std::int64_t k = 0; k < mean.size(); ++k) out[k] = flat[offset[i] + k] * scale;
    grads[i] = std::move(mean);
  }
}

}  // namespace tapegrad::distributed
