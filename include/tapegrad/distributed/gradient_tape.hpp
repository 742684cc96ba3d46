#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <utility>
#include <vector>

#include "tapegrad/detail/op_observer.hpp"
#include "tapegrad/distributed/average_op.hpp"
#include "tapegrad/distributed/buckets.hpp"
#include "tapegrad/distributed/collectives.hpp"
#include "tapegrad/distributed/communicator.hpp"
#include "tapegrad/tape.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/variable.hpp"

// NOTE [ Overlapping the averaging with the reverse sweep ]
// DistributedGradientTape::gradient() listens to the sweep (NOTE [ The op observer ]): the
// sweep reports each source's gradient as soon as it is final, which is when it has passed the
// first entry that read the source, and the gradient goes into its fusion bucket at once; a
// bucket starts its allreduce when it is full (NOTE [ Averaging gradients in buckets ]). Open
// MPI moves a non-blocking collective along only inside MPI calls, so before each backward
// step the listener calls MPI_Testall on the buckets in flight; a step that runs long (one large
// matmul) gets no progress until it ends. A progress thread would need MPI_THREAD_MULTIPLE and
// a core of its own, which the two-rank jobs on a two-core machine do not have. How much of
// the communication this hides is measured by benchmarks/distributed_mlp.cpp (see
// benchmarks/README.md).
namespace tapegrad::distributed {

/// What the last DistributedGradientTape::gradient() did, to measure the overlap.
struct OverlapReport {
  std::size_t buckets = 0;               // fusion buckets of the gradient list
  std::size_t started_during_sweep = 0;  // of which started before the sweep's last step
  std::size_t in_place = 0;              // gradients averaged in their own elements
  double sweep_seconds = 0;              // in the tape's gradient() (the reverse sweep)
  double wait_seconds = 0;               // waiting for the buckets after the sweep
};

namespace detail {

/// Hears the sweep of one tape and hands each final gradient to the bucketed average.
template <class T>
class SweepListener final : public tapegrad::detail::OpObserver {
 public:
  /// owners[i]: the handles on source i's gradient that the sweep gives up (0 when it may not
  /// be averaged in place).
  SweepListener(const tapegrad::detail::TapeState& tape, BucketedAverage<T>& average,
                const std::vector<int>& owners)
      : tape_(&tape), sweep_depth_(tape.sweeps + 1), average_(&average), owners_(&owners) {}

  void on_source_gradient(const tapegrad::detail::TapeState& tape, std::size_t source,
                          const tapegrad::detail::ImplRef& gradient) override {
    // Only our sweep: a custom gradient function may sweep other tapes, or this one again.
    if (&tape != tape_ || tape.sweeps != sweep_depth_) return;
    average_->release();  // gradient()'s checks have passed: the sweep runs
    if (average_->added(source)) return;
    average_->add(source, gradient ? Tensor<T>(gradient) : Tensor<T>(), (*owners_)[source]);
  }
  void on_backward_step(const tapegrad::detail::TapeState& tape, std::size_t) override {
    if (&tape == tape_ && tape.sweeps == sweep_depth_) average_->release();
    average_->progress();
    if (&tape == tape_) started_before_last_step_ = average_->started();
  }
  /// The buckets that had started when the sweep began its last backward step: those whose
  /// communication could overlap computation.
  std::size_t started_before_last_step() const noexcept { return started_before_last_step_; }

 private:
  const tapegrad::detail::TapeState* tape_;
  int sweep_depth_;  // the tape's count of running sweeps during ours
  BucketedAverage<T>* average_;
  const std::vector<int>* owners_;
  std::size_t started_before_last_step_ = 0;
};

}  // namespace detail

/// A GradientTape's gradient(), averaged over the ranks while the sweep still runs (Horovod's
/// DistributedGradientTape, DDP's overlapped reducer): each fusion bucket's allreduce starts
/// as soon as the sweep has finished every gradient in it. The result equals tape.gradient()
/// followed by allreduce_gradients(), including None where no rank has a gradient, and stays
/// differentiable (NOTE [ The average over the ranks is an op ]). Checks,
/// before its first allreduce for a list of variables, that all ranks hold the same ones.
///   tg::GradientTape tape;   auto loss = ...;
///   auto grads = td::DistributedGradientTape(tape, comm).gradient(loss, vars);
class DistributedGradientTape {
 public:
  DistributedGradientTape(GradientTape& tape, const Communicator& comm,
                          std::size_t bucket_bytes = default_bucket_bytes)
      : tape_(&tape), comm_(&comm), bucket_bytes_(bucket_bytes) {}

  /// The gradients of `target` with respect to `vars`, averaged over the ranks.
  template <class T>
  std::vector<Tensor<T>> gradient(const Tensor<T>& target, const std::vector<Variable<T>>& vars) {
    detail::check_bucket_bytes<T>(bucket_bytes_, "DistributedGradientTape::gradient");
    check_same_variables_once(*comm_, vars);
    if (comm_->size() == 1) {  // the mean of one rank's gradients
      report_ = OverlapReport{};
      return tape_->gradient(target, vars);
    }
    // Its buckets would share bucket_comm() with those of the sweep it runs in, and start at
    // moments that differ from rank to rank within it.
    TAPEGRAD_CHECK(!sweeping(), tape_error,
                   "DistributedGradientTape::gradient: called inside the sweep of another "
                   "DistributedGradientTape (from a gradient function); average there with "
                   "allreduce_gradients or mean_over_ranks");
    using clock = std::chrono::steady_clock;
    detail::BucketedAverage<T> average(*comm_, detail::shapes_of(vars), bucket_bytes_,
                                       "DistributedGradientTape::gradient");
    // A variable the tape never saw gets None, which the sweep does not report (gradient()
    // decides it after the sweep; for a tensor target, None): added first, it does not hold
    // back the first bucket until the sweep has ended. Held until the sweep begins, so that
    // gradient()'s refusals (a spent tape, a target with no value) throw with no bucket started.
    average.hold();
    for (std::size_t i = vars.size(); i-- > 0;)
      if (tape_->internal_state().find(vars[i].state().get()) == tapegrad::detail::no_node)
        average.add(i, Tensor<T>());
    // Each gradient the sweep reports has two handles: the sweep's slot, which it only hands
    // back to gradient(), and the listener's. A variable listed twice gets one gradient in
    // both places, which neither may average in place.
    std::vector<int> owners(vars.size(), 2);
    std::vector<std::pair<const void*, std::size_t>> states;
    for (std::size_t i = 0; i < vars.size(); ++i) states.push_back({vars[i].state().get(), i});
    std::sort(states.begin(), states.end());
    for (std::size_t k = 1; k < states.size(); ++k)
      if (states[k].first == states[k - 1].first)
        owners[states[k].second] = owners[states[k - 1].second] = 0;
    detail::SweepListener<T> listener(tape_->internal_state(), average, owners);
    const auto start = clock::now();
    std::vector<Tensor<T>> grads;
    {
      tapegrad::detail::ObserverScope listening(listener);
      struct Sweeping {
        Sweeping() { sweeping() = true; }
        ~Sweeping() { sweeping() = false; }
      } marked;
      grads = tape_->gradient(target, vars);
    }
    report_.buckets = average.buckets();
    report_.started_during_sweep = listener.started_before_last_step();
    report_.in_place = average.in_place();
    const auto swept = clock::now();
    // What the sweep did not report: sources the tape never saw (all of them, when it saw
    // none), whose gradients gradient() decides after the sweep.
    average.release();
    for (std::size_t i = grads.size(); i-- > 0;)
      if (!average.added(i)) average.add(i, grads[i], owners[i] == 0 ? 0 : 1);
    auto means = average.finish();
    const auto waited = clock::now();
    report_.sweep_seconds = std::chrono::duration<double>(swept - start).count();
    report_.wait_seconds = std::chrono::duration<double>(waited - swept).count();
    return detail::as_averages_of(*comm_, grads, std::move(means), average);
  }

  /// What the last gradient() did: buckets, how many started during the sweep, and times.
  const OverlapReport& last_overlap() const noexcept { return report_; }

 private:
  /// Whether a DistributedGradientTape's sweep runs on this thread.
  static bool& sweeping() {
    static thread_local bool flag = false;
    return flag;
  }

  GradientTape* tape_;
  const Communicator* comm_;
  std::size_t bucket_bytes_;
  OverlapReport report_;
};

}  // namespace tapegrad::distributed
