#pragma once

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/distributed/average_op.hpp"
#include "tapegrad/distributed/buckets.hpp"
#include "tapegrad/distributed/communicator.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/variable.hpp"

// The collectives of data-parallel training: every rank checks that all hold the same
// variables, starts from the same weights, and averages its gradients with the others'.
namespace tapegrad::distributed {
namespace detail {

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

/// check_same_variables, skipped for a list this thread has checked on `comm` before (the
/// same variable objects, all still alive; the last 8 lists are remembered, so that a program
/// alternating between models, as a GAN does, checks each once). The ranks must agree on when
/// their variables change, as they do running one program.
///   check_same_variables_once(comm, vars);   // before each step's allreduce
template <class T>
void check_same_variables_once(const Communicator& comm, const std::vector<Variable<T>>& vars) {
  struct Checked {
    const Communicator* comm = nullptr;
    std::vector<std::weak_ptr<const void>> variables;
  };
  static thread_local std::vector<Checked> remembered;  // the latest last
  auto same = [&](const Checked& c) {
    if (c.comm != &comm || c.variables.size() != vars.size()) return false;
    for (std::size_t i = 0; i < vars.size(); ++i)
      if (c.variables[i].lock() != std::shared_ptr<const void>(vars[i].state())) return false;
    return true;
  };
  for (auto it = remembered.begin(); it != remembered.end(); ++it)
    if (same(*it)) {
      std::rotate(it, it + 1, remembered.end());
      return;
    }
  check_same_variables(comm, vars);
  if (remembered.size() == 8) remembered.erase(remembered.begin());
  Checked checked{&comm, {}};
  for (const Variable<T>& v : vars) checked.variables.emplace_back(v.state());
  remembered.push_back(std::move(checked));
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

/// Averages `grads` (one per variable of `vars`, in the same order on every rank) over the
/// ranks, in place: Horovod's allreduce with op=Average over a fused list (NOTE [ Averaging
/// gradients in buckets ]); the averages stay differentiable (NOTE [ The average over the
/// ranks is an op ]). To overlap the averaging with the reverse sweep, use
/// DistributedGradientTape instead.
///   auto grads = tape.gradient(loss, vars);   allreduce_gradients(comm, grads, vars);
template <class T>
void allreduce_gradients(const Communicator& comm, std::vector<Tensor<T>>& grads,
                         const std::vector<Variable<T>>& vars,
                         std::size_t bucket_bytes = default_bucket_bytes) {
  TAPEGRAD_CHECK(grads.size() == vars.size(), value_error, "allreduce_gradients: ", grads.size(),
                 " gradients for ", vars.size(), " variables (expected one per variable)");
  for (std::size_t i = 0; i < grads.size(); ++i)
    TAPEGRAD_CHECK(!grads[i].has_value() || grads[i].shape() == vars[i].shape(), shape_error,
                   "allreduce_gradients: gradient ", i, " has shape ", grads[i].shape(),
                   " but variable '", vars[i].name(), "' has shape ", vars[i].shape());
  detail::check_bucket_bytes<T>(bucket_bytes, "allreduce_gradients");
  if (grads.empty() || comm.size() == 1) return;  // the mean of one rank's gradients
  detail::BucketedAverage<T> average(comm, detail::shapes_of(vars), bucket_bytes,
                                     "allreduce_gradients",
                                     detail::BucketedAverage<T>::Start::in_finish);
  for (std::size_t i = grads.size(); i-- > 0;)
    average.add(i, grads[i], 1);  // `grads` gives its own up
  auto means = average.finish();
  grads = detail::as_averages_of(comm, grads, std::move(means), average);
}

}  // namespace tapegrad::distributed
