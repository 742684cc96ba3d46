#pragma once

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <utility>
#include <vector>

#include "tapegrad/distributed/communicator.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/variable.hpp"

// NOTE [ Averaging gradients in buckets ]
// Gradients are packed one after another into buckets of at most `bucket_bytes` (a tensor
// larger than a bucket spans several), and each bucket is summed over the ranks by one
// non-blocking MPI_Iallreduce, so that many small gradients cost a few large messages
// (Horovod's tensor fusion, DDP's buckets). The layout takes the variables in reverse order,
// as DDP does: a model's last variables are the first whose gradients the reverse sweep
// finishes, so the first buckets fill early. A bucket starts as soon as every gradient in it
// has been added and every bucket before it has started: MPI needs the ranks to start
// collectives in the same order, and the order of the buckets is the same everywhere. When
// every gradient is at hand before the first bucket could start (allreduce_gradients, after
// the sweep), nothing can overlap: the buckets then go by the blocking MPI_Allreduce, which
// Open MPI runs as fast as its fastest non-blocking algorithm and twice as fast as its default
// one (NOTE [ Open MPI's non-blocking allreduce ]). Every rank makes
// the same choice, since it is the caller's, not the timing's. The buckets that start during
// a sweep travel on a communicator of their own (Communicator::bucket_comm()): they start at
// moments that may differ from rank to rank (a variable that one rank's sweep never reaches is
// final there at once), so on the shared communicator they could pair with another rank's
// different collective, one a gradient function runs (mean_over_ranks) or the program's.
//
// Copying into a bucket and out again costs as much as the allreduce itself for large
// gradients (on the machine the benchmarks ran on, 1 MiB: 141 us to sum in place, 320 us with
// the copies). So a gradient of at least in_place_bytes has buckets of its own, and when the
// caller gives up every handle on it (the sweep's slot, the list allreduce_gradients replaces)
// and nothing else holds its elements (the reference-count test Variable's update makes), it
// is summed in its own elements and its average is a new header on them; otherwise it is
// copied first. The small gradients are still packed one after another into shared buckets
// (fusion), which fill across the large ones: a shared bucket starts when it is full, or last.
// The layout and the order in which buckets start depend on the shapes alone, so they are the
// same on every rank.
//
// A gradient with no value (None) on a rank counts as zeros there, so every rank sends the same
// layout; a last small allreduce counts the ranks that have each gradient, and a gradient no
// rank has stays None everywhere (the optimizer then skips its variable, as it would on one
// process). Each gradient is divided by the number of ranks before it is summed, as it is
// added (while its elements are still in the cache) or, for one the caller gave up to a
// blocking average, right before the collectives, so that a failure while adding (an
// allocation) leaves the caller's list as it was. So the sums are the means: on 2 ranks (a
// power of two) the same bits as dividing the sum, unless the values are subnormal or the sum
// overflows; on other counts within a rounding of each rank's share of it, so in the last bits
// they may differ from dividing the sum. A gradient the caller still holds is never written.
//
// A collective that has started cannot be taken back: if the rank fails (an exception) while
// some of its buckets are in flight, the other ranks wait for buckets it will never start, and
// MPI may still write into the buffer. The reduction then ends the job (MPI_Abort, after a line
// on stderr) instead of leaving it to hang. A failure before any of this rank's buckets started
// is thrown as usual: uncaught, it ends the job too (NOTE [ A rank that fails ends the job ]);
// a program that catches it and goes on leaves the ranks whose buckets did start waiting.
namespace tapegrad::distributed {

/// The default size of a fusion bucket: 25 MiB, as PyTorch's DistributedDataParallel.
constexpr std::size_t default_bucket_bytes = std::size_t{25} << 20;
/// Gradients of at least this size travel in buckets of their own, in their own elements when
/// nothing else holds them, instead of being copied into a fused bucket and out again.
inline constexpr std::size_t in_place_bytes = std::size_t{64} << 10;

namespace detail {

template <class T>
MPI_Datatype mpi_type() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "distributed: gradients are float or double");
  return std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
}

/// Throws value_error unless a bucket of `bucket_bytes` holds an element of T.
template <class T>
void check_bucket_bytes(std::size_t bucket_bytes, const char* caller) {
  TAPEGRAD_CHECK(bucket_bytes >= sizeof(T), value_error, caller,
                 ": bucket_bytes must hold one element, got ", bucket_bytes);
}

/// The shapes of the gradients of `vars`, which a BucketedAverage lays out.
template <class T>
std::vector<Shape> shapes_of(const std::vector<Variable<T>>& vars) {
  std::vector<Shape> shapes;
  shapes.reserve(vars.size());
  for (const Variable<T>& v : vars) shapes.push_back(v.shape());
  return shapes;
}

/// Whether `grad`'s elements are held by nobody but the `owners` handles the caller knows of, who
/// all give them up to the average: then averaging may overwrite them.
template <class T>
bool only_owners_hold(const Tensor<T>& grad, int owners) {
  const tapegrad::detail::TensorImpl* impl = grad.impl().get();
  const tapegrad::detail::TensorImpl* base = impl->base;
  return owners > 0 && impl->refs.load(std::memory_order_acquire) == owners &&
         (base == nullptr ||
          (base->refs.load(std::memory_order_acquire) == 1 && base->base == nullptr));
}

/// One averaging of a gradient list over the ranks, bucket by bucket, as the gradients come.
///   BucketedAverage<float> avg(comm, shapes, bucket_bytes, "allreduce_gradients");
///   avg.add(i, grad_i) for each i, in any order;   grads = avg.finish();
template <class T>
class BucketedAverage {
 public:
  /// When the buckets go: as soon as each is full (non-blocking), or all in finish().
  enum class Start { when_full, in_finish };

  /// Gradients of the given shapes (one per variable, in the variables' order).
  BucketedAverage(const Communicator& comm, std::vector<Shape> shapes, std::size_t bucket_bytes,
                  const char* caller, Start start = Start::when_full)
      : comm_(&comm),
        mpi_comm_(start == Start::in_finish ? comm.comm() : comm.bucket_comm()),
        caller_(caller),
        blocking_(start == Start::in_finish),
        shapes_(std::move(shapes)),
        layout_(shapes_.size()),
        own_(shapes_.size()),
        borrowed_(shapes_.size()),
        added_(shapes_.size(), Added::not_yet) {
    check_bucket_bytes<T>(bucket_bytes, caller);
    per_bucket_ = static_cast<std::int64_t>(
        std::min<std::size_t>(bucket_bytes / sizeof(T), static_cast<std::size_t>(INT_MAX)));
    lay_out();
    // The buffer lives on with the thread: a fresh one would page-fault in on every step
    // (9.5 ms instead of 0.6 ms for 1 MiB on the machine the benchmarks ran on).
    pool_index_ = depth();
    if (pool().size() <= pool_index_) pool().resize(pool_index_ + 1);
    if (buffer().size() < static_cast<std::size_t>(packed_))
      buffer().resize(static_cast<std::size_t>(packed_));
    requests_.reserve(buckets_.size() + 1);
    ++depth();  // last: a constructor that throws must not hold a buffer
  }
  BucketedAverage(const BucketedAverage&) = delete;
  BucketedAverage& operator=(const BucketedAverage&) = delete;

  /// A failure while buckets are in flight ends the job (NOTE [ Averaging gradients in
  /// buckets ]).
  ~BucketedAverage() {
    --depth();
    if (requests_.empty() || finished_) return;
    std::fprintf(stderr,
                 "tapegrad::distributed: %s failed on rank %d after %zu of its %zu gradient "
                 "buckets had started; the other ranks would wait for the rest, so the job "
                 "ends\n",
                 caller_, comm_->rank(), requests_.size(), buckets_.size());
    abort_job();
  }

  /// Whether gradient i has been added.
  bool added(std::size_t i) const { return added_[i] != Added::not_yet; }

  /// Takes gradient i (no value: zeros here), divides it by the number of ranks, and starts
  /// every bucket that is now complete. `owners`: how many handles on `grad` the caller
  /// gives up to the average (the caller's list, the sweep's slot); a large gradient that
  /// nobody else holds is averaged in its own elements (NOTE [ Averaging gradients in
  /// buckets ]).
  void add(std::size_t i, const Tensor<T>& grad, int owners = 0) {
    TAPEGRAD_CHECK(!added(i), value_error, caller_, ": gradient ", i, " was added twice");
    TAPEGRAD_CHECK(!grad.has_value() || grad.shape() == shapes_[i], shape_error, caller_,
                   ": gradient ", i, " has shape ", grad.shape(), " but its variable has shape ",
                   shapes_[i]);
    const Layout& at = layout_[i];
    const T scale = T(1) / static_cast<T>(comm_->size());
    using Flat = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
    const Eigen::Index n = static_cast<Eigen::Index>(shapes_[i].size());
    T* own = nullptr;
    if (at.in_place) {
      borrowed_[i] = grad.has_value() && only_owners_hold(grad, owners);
      own_[i] = borrowed_[i] ? grad : Tensor<T>(tapegrad::detail::uninitialized, shapes_[i]);
      own = own_[i].mutable_data();
    } else {
      own = buffer().data() + at.offset;
    }
    if (!grad.has_value())
      Flat(own, n).setZero();
    else if (!(blocking_ && at.in_place && borrowed_[i]))  // that one: in finish()
      Flat(own, n) = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(grad.data(), n) * scale;
    if (at.in_place && borrowed_[i]) ++in_place_;
    added_[i] = grad.has_value() ? Added::value : Added::none;
    if (n == 0) return;
    for (std::size_t b = at.first_bucket; b <= at.last_bucket; ++b)
      --pending_[at.in_place ? b : packed_order_[b]];
    start_full_buckets();
  }

  /// Until release(), full buckets wait instead of starting: a caller that can still fail
  /// cleanly (its own checks to come) adds what it knows without committing the other ranks.
  void hold() noexcept { held_ = true; }
  void release() {
    held_ = false;
    start_full_buckets();
  }

  /// Lets MPI move the buckets in flight along: Open MPI progresses a non-blocking collective
  /// only inside MPI calls.
  void progress() {
    if (requests_.empty()) return;
    int done = 0;
    check_mpi(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done,
                          MPI_STATUSES_IGNORE),
              "MPI_Testall");
  }

  /// The number of buckets, how many have started, and how many gradients are averaged in
  /// their own elements (the caller gave them up).
  std::size_t buckets() const noexcept { return buckets_.size(); }
  std::size_t started() const noexcept { return started_; }
  std::size_t in_place() const noexcept { return in_place_; }

  /// Waits for every bucket (all gradients must have been added) and returns the averages,
  /// None where no rank had a gradient.
  std::vector<Tensor<T>> finish() {
    for (std::size_t i = 0; i < added_.size(); ++i)
      TAPEGRAD_CHECK(added(i), value_error, caller_, ": gradient ", i, " was never added");
    present_.resize(added_.size());  // becomes: on how many ranks gradient i has a value
    for (std::size_t i = 0; i < added_.size(); ++i) present_[i] = added_[i] == Added::value;
    if (blocking_) {
      const T scale = T(1) / static_cast<T>(comm_->size());
      for (std::size_t i = 0; i < own_.size(); ++i)
        if (layout_[i].in_place && borrowed_[i]) own_[i].mutable_array() *= scale;
      for (std::size_t bucket = 0; bucket < buckets_.size(); ++bucket)
        check_mpi(MPI_Allreduce(MPI_IN_PLACE, elements(bucket), buckets_[bucket].count,
                                mpi_type<T>(), MPI_SUM, mpi_comm_),
                  "MPI_Allreduce");
      if (!present_.empty())
        check_mpi(MPI_Allreduce(MPI_IN_PLACE, present_.data(), static_cast<int>(present_.size()),
                                MPI_INT, MPI_SUM, mpi_comm_),
                  "MPI_Allreduce");
    } else if (!present_.empty()) {
      requests_.emplace_back();
      check_mpi(MPI_Iallreduce(MPI_IN_PLACE, present_.data(), static_cast<int>(present_.size()),
                               MPI_INT, MPI_SUM, mpi_comm_, &requests_.back()),
                "MPI_Iallreduce");
    }
    check_mpi(
        MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE),
        "MPI_Waitall");
    finished_ = true;
    std::vector<Tensor<T>> means(added_.size());
    for (std::size_t i = 0; i < added_.size(); ++i) {
      if (!present_[i]) continue;
      if (layout_[i].in_place) {
        // A header of its own on elements the caller gave up: the handles it still has may
        // be known to tapes (as the sweep's outputs), and an average must not be.
        means[i] = borrowed_[i]
                       ? Tensor<T>(tapegrad::detail::ImplRef::adopt(
                             tapegrad::detail::allocate_alias(own_[i].impl().get(), shapes_[i])))
                       : std::move(own_[i]);
        continue;
      }
      Tensor<T> mean(tapegrad::detail::uninitialized, shapes_[i]);
      const T* from = buffer().data() + layout_[i].offset;
      std::copy_n(from, mean.size(), mean.mutable_data());
      means[i] = std::move(mean);
    }
    return means;
  }

  /// After finish(): whether every rank had a value for gradient i.
  bool on_every_rank(std::size_t i) const { return present_[i] == comm_->size(); }

 private:
  /// Where gradient i goes: its own elements (in_place) or the shared buffer at `offset`; and
  /// the buckets it is part of: positions in buckets_ for its own, indices of shared buckets
  /// (packed_order_) for a packed one.
  struct Layout {
    bool in_place = false;
    std::int64_t offset = 0;
    std::size_t first_bucket = 0, last_bucket = 0;
  };
  /// One allreduce: `count` elements at `at`, in gradient `gradient`'s own elements, or in
  /// the shared buffer when `gradient` is `packed`.
  struct Bucket {
    std::size_t gradient;
    std::int64_t at;
    int count;
  };
  static constexpr std::size_t packed = ~std::size_t{0};

  /// The buckets, in the order they start: the gradients in reverse order; a gradient of at
  /// least in_place_bytes in buckets of its own, the others packed one after another into
  /// shared buckets, each of which takes its place in the order when it is full (or last).
  void lay_out() {
    std::vector<std::size_t> packed_order;  // shared bucket j's place in buckets_
    auto close_full = [&] {
      while (static_cast<std::int64_t>(packed_order.size() + 1) * per_bucket_ <= packed_) {
        const std::int64_t at = static_cast<std::int64_t>(packed_order.size()) * per_bucket_;
        packed_order.push_back(buckets_.size());
        buckets_.push_back({packed, at, static_cast<int>(per_bucket_)});
      }
    };
    for (std::size_t k = shapes_.size(); k-- > 0;) {
      const std::int64_t n = shapes_[k].size();
      if (n == 0) continue;
      Layout& at = layout_[k];
      if (static_cast<std::size_t>(n) * sizeof(T) >= in_place_bytes) {
        at.in_place = true;
        at.first_bucket = buckets_.size();
        for (std::int64_t from = 0; from < n; from += per_bucket_)
          buckets_.push_back({k, from, static_cast<int>(std::min(per_bucket_, n - from))});
        at.last_bucket = buckets_.size() - 1;
      } else {
        at.offset = packed_;
        packed_ += n;
        close_full();
      }
    }
    if (static_cast<std::int64_t>(packed_order.size()) * per_bucket_ < packed_) {
      const std::int64_t at = static_cast<std::int64_t>(packed_order.size()) * per_bucket_;
      packed_order.push_back(buckets_.size());
      buckets_.push_back({packed, at, static_cast<int>(packed_ - at)});
    }
    pending_.assign(buckets_.size(), 0);
    for (std::size_t k = 0; k < shapes_.size(); ++k) {
      const std::int64_t n = shapes_[k].size();
      if (n == 0) continue;
      Layout& at = layout_[k];
      if (at.in_place) {
        for (std::size_t b = at.first_bucket; b <= at.last_bucket; ++b) ++pending_[b];
        continue;
      }
      // A packed gradient's buckets are not contiguous in the order when large gradients
      // sit between them, so it keeps the range of its shared buckets instead.
      at.first_bucket = static_cast<std::size_t>(at.offset / per_bucket_);
      at.last_bucket = static_cast<std::size_t>((at.offset + n - 1) / per_bucket_);
      for (std::size_t j = at.first_bucket; j <= at.last_bucket; ++j) ++pending_[packed_order[j]];
    }
    packed_order_ = std::move(packed_order);
  }

  // One buffer per averaging alive on the thread: they nest (a gradient function that
  // averages runs inside a sweep whose buckets are in flight) and end in reverse order.
  static std::vector<std::vector<T>>& pool() {
    static thread_local std::vector<std::vector<T>> buffers;
    return buffers;
  }
  static std::size_t& depth() {
    static thread_local std::size_t in_use = 0;
    return in_use;
  }
  std::vector<T>& buffer() const { return pool()[pool_index_]; }
  /// The first element bucket `bucket` sums.
  T* elements(std::size_t bucket) {
    const Bucket& b = buckets_[bucket];
    return (b.gradient == packed ? buffer().data() : own_[b.gradient].mutable_data()) + b.at;
  }
  void start_full_buckets() {
    if (blocking_ || held_) return;
    while (started_ < buckets_.size() && pending_[started_] == 0) start(started_++);
  }
  void start(std::size_t bucket) {
    requests_.emplace_back();
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, elements(bucket), buckets_[bucket].count, mpi_type<T>(),
                             MPI_SUM, mpi_comm_, &requests_.back()),
              "MPI_Iallreduce");
  }

  enum class Added : std::uint8_t { not_yet, none, value };

  const Communicator* comm_;
  MPI_Comm mpi_comm_;  // the world's for blocking buckets, bucket_comm() for the others
  const char* caller_;
  bool blocking_;
  bool held_ = false;
  std::vector<Shape> shapes_;
  std::vector<Layout> layout_;
  std::vector<Bucket> buckets_;
  std::vector<std::size_t> packed_order_;  // shared bucket j's position in buckets_
  std::vector<Tensor<T>> own_;             // the elements of the gradients averaged in place
  std::vector<bool> borrowed_;             // whether own_[i] is the caller's gradient itself
  std::vector<Added> added_;
  std::vector<int> pending_;  // per bucket: gradients in it not yet added
  std::vector<int> present_;
  std::vector<MPI_Request> requests_;
  std::int64_t packed_ = 0;  // elements in the shared buffer
  std::int64_t per_bucket_ = 1;
  std::size_t started_ = 0;
  std::size_t in_place_ = 0;
  std::size_t pool_index_ = 0;  // which of the thread's buffers is ours
  bool finished_ = false;
};

}  // namespace detail
}  // namespace tapegrad::distributed
