#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "tapegrad/distributed/collectives.hpp"
#include "tapegrad/distributed/communicator.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/variable.hpp"

namespace tapegrad::distributed {

/// Wraps an optimizer of tapegrad/train (Horovod's DistributedOptimizer): apply_gradients
/// averages the gradients over the ranks (allreduce_gradients, in fusion buckets), then lets
/// the optimizer apply them, so every rank takes the same step. Before the first step, and
/// whenever the variable list changes, it checks that all ranks hold the same variables.
///   tapegrad::Adam adam(1e-3);   tapegrad::distributed::DistributedOptimizer opt(adam, comm);
///   opt.apply_gradients(tape.gradient(loss, vars), vars);
template <class Optimizer>
class DistributedOptimizer {
 public:
  DistributedOptimizer(Optimizer& optimizer, const Communicator& comm,
                       std::size_t bucket_bytes = default_bucket_bytes)
      : optimizer_(&optimizer), comm_(&comm), bucket_bytes_(bucket_bytes) {}

  /// Averages `grads` over the ranks, then applies them.
  template <class T>
  void apply_gradients(std::vector<Tensor<T>> grads, const std::vector<Variable<T>>& vars) {
    check_same_variables_once(*comm_, vars);
    allreduce_gradients(*comm_, grads, vars, bucket_bytes_);
    optimizer_->apply_gradients(grads, vars);
  }

  /// The optimizer it wraps (its learning rate, its step count).
  Optimizer& optimizer() const noexcept { return *optimizer_; }

 private:
  Optimizer* optimizer_;
  const Communicator* comm_;
  std::size_t bucket_bytes_;
};

}  // namespace tapegrad::distributed
