#pragma once

#include <utility>
#include <vector>

#include "tapegrad/custom_gradient.hpp"
#include "tapegrad/distributed/buckets.hpp"
#include "tapegrad/distributed/communicator.hpp"
#include "tapegrad/tensor.hpp"

// NOTE [ The average over the ranks is an op ]
// Averaged gradients stay differentiable: each is the output of an op of this rank's gradient,
// so an outer tape (a Hessian-vector product, a gradient penalty) and a ForwardAccumulator see
// it like any other op instead of a constant that would give them None. The op is linear, and
// its VJP and JVP average over the ranks too (Horovod registers the same gradient for its
// allreduce): with the convention of data-parallel training, that the global objective is the
// mean of the ranks' objectives and that every rank's gradient is averaged at the end, the
// rank's contribution to d(global)/d(its gradient) is the mean of the ranks' upstream
// gradients. That VJP is a collective: it works because every rank runs the same program, so
// the same sweeps reach it in the same order. So only a gradient that every rank has becomes
// such an op; one that some ranks lack is a constant everywhere, to outer tapes too, since a
// sweep through it would run the collective on some ranks only. Where no tape or accumulator
// records, the op costs a custom_gradient call and nothing else.
namespace tapegrad::distributed {

namespace detail {

template <class T>
Tensor<T> as_average_of(const Communicator& comm, const Tensor<T>& x, Tensor<T> mean);

}  // namespace detail

/// The mean of `x` over the ranks (Horovod's allreduce with op=Average), differentiable: its
/// gradient and its tangent are averaged over the ranks too. Every rank must call it, in the
/// same order as the other collectives.   auto mean_loss = mean_over_ranks(comm, loss);
template <class T>
Tensor<T> mean_over_ranks(const Communicator& comm, const Tensor<T>& x) {
  TAPEGRAD_CHECK(x.has_value(), value_error, "mean_over_ranks: the tensor has no value");
  if (comm.size() == 1) return x;
  detail::BucketedAverage<T> average(comm, {x.shape()}, default_bucket_bytes, "mean_over_ranks",
                                     detail::BucketedAverage<T>::Start::in_finish);
  average.add(0, x);
  return detail::as_average_of(comm, x, std::move(average.finish()[0]));
}

namespace detail {

/// `mean`, the average of `x` over the ranks computed already, as the output of an op of `x`
/// (NOTE [ The average over the ranks is an op ]).
template <class T>
Tensor<T> as_average_of(const Communicator& comm, const Tensor<T>& x, Tensor<T> mean) {
  const Communicator* world = &comm;
  return custom_gradient([&mean, world](const Tensor<T>&) {
    return std::make_pair(std::move(mean), [world](const Tensor<T>& upstream) {
      return mean_over_ranks(*world, upstream);
    });
  })(x);
}

/// as_average_of for each gradient that every rank has (`average` is finished); one that
/// some ranks lack is a constant on every rank, since an outer sweep through it would run the
/// average's collective on some ranks only.
template <class T>
std::vector<Tensor<T>> as_averages_of(const Communicator& comm, const std::vector<Tensor<T>>& mine,
                                      std::vector<Tensor<T>> means,
                                      const BucketedAverage<T>& average) {
  for (std::size_t i = 0; i < means.size(); ++i)
    if (average.on_every_rank(i)) means[i] = as_average_of(comm, mine[i], std::move(means[i]));
  return means;
}

}  // namespace detail
}  // namespace tapegrad::distributed
