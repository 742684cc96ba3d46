#pragma once

#include <mpi.h>

#include <cstdlib>  // setenv
#include <exception>
#include <string>

#include "tapegrad/errors.hpp"

// Data-parallel training on MPI (the optional tapegrad::distributed target): the processes of
// a job, and the errors they report.
namespace tapegrad::distributed {

/// An MPI call that failed, named with MPI's own text.
class mpi_error : public error {
 public:
  explicit mpi_error(const std::string& what) : error(what) {}
};

namespace detail {

/// Throws mpi_error for an MPI return code other than MPI_SUCCESS.
inline void check_mpi(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw mpi_error(std::string("distributed: ") + call + " failed: " + std::string(text, length));
}

// NOTE [ A rank that fails ends the job ]
// A collective waits for every rank, so a rank that stops calling them would leave the others
// blocked. Open MPI's mpirun ends the job when one of its processes dies; the communicator
// also installs a terminate handler that calls MPI_Abort, so that an exception escaping main()
// on any rank ends the job at once, also under launchers that would wait (the test
// distributed_rank_failure_ends_the_job: 0.4 s with the handler, 1.4 s without, on Open MPI).
// An exception caught inside the program is the program's to handle; the collectives here throw
// on every rank alike (a mismatch found by one collective is seen by all), so they never leave
// one rank waiting.
inline std::terminate_handler& previous_terminate() {
  static std::terminate_handler handler = nullptr;
  return handler;
}
[[noreturn]] inline void abort_job() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, 1);
  if (previous_terminate()) previous_terminate()();
  std::abort();
}

}  // namespace detail

/// The processes of an MPI job (MPI_COMM_WORLD). Initialises MPI unless the program already
/// did, and then finalises it when destroyed; attached to a program that initialised MPI
/// itself, it leaves finalising to the program. Make one, on the main thread, before any other
/// distributed call. When it initialises Open MPI, it selects the ring algorithm for
/// MPI_Iallreduce unless the environment chose one (NOTE [ Open MPI's non-blocking
/// allreduce ]).
///   int main(int argc, char** argv) { tapegrad::distributed::Communicator comm(argc, argv); ... }
class Communicator {
 public:
  Communicator(int& argc, char**& argv) { init(&argc, &argv); }
  Communicator() { init(nullptr, nullptr); }
  ~Communicator() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    if (bucket_comm_ != MPI_COMM_NULL) MPI_Comm_free(&bucket_comm_);
    if (owns_mpi_) MPI_Finalize();
  }
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  /// This process's rank, 0 to size() - 1.
  int rank() const noexcept { return rank_; }
  /// The number of processes in the job.
  int size() const noexcept { return size_; }
  /// The MPI communicator (MPI_COMM_WORLD), for the program's own MPI calls.
  MPI_Comm comm() const noexcept { return MPI_COMM_WORLD; }
  /// The communicator DistributedGradientTape's buckets travel on: a duplicate of
  /// MPI_COMM_WORLD, so that buckets that start at different moments of the sweep on different
  /// ranks never pair with another collective (one a gradient function runs, or the program's).
  MPI_Comm bucket_comm() const noexcept { return bucket_comm_; }
  /// Waits until every rank has called it.
  void barrier() const { detail::check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

 private:
  void init(int* argc, char*** argv) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
#ifdef OPEN_MPI
      // NOTE [ Open MPI's non-blocking allreduce ]
      // Open MPI's default algorithm for MPI_Iallreduce (libnbc's) takes twice the time of the
      // blocking MPI_Allreduce on two ranks here (236 against 136 us for 1 MiB, 1.23 against
      // 0.64 ms for 4 MiB); its ring algorithm matches the blocking call (136 us, 0.56 ms) and
      // is the fastest of libnbc's from 256 KiB up on three ranks too. DistributedGradientTape's
      // buckets are non-blocking, so ask for the ring, unless the user chose (MCA parameters
      // are read from the environment by MPI_Init; setenv does not overwrite). The setting is
      // the process's: libnbc's ring does not check that a reduction is commutative, so a
      // program whose own MPI_Iallreduce uses a non-commutative MPI_Op must set
      // OMPI_MCA_coll_libnbc_iallreduce_algorithm=0 (Open MPI's choice) itself; README says so.
      setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", 0);
#endif
      detail::check_mpi(MPI_Init(argc, argv), "MPI_Init");
      owns_mpi_ = true;
    }
    // Errors come back as codes, which check_mpi turns into exceptions, instead of aborting.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    detail::check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    detail::check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
    detail::check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &bucket_comm_), "MPI_Comm_dup");
    if (std::get_terminate() != &detail::abort_job) {
      detail::previous_terminate() = std::get_terminate();
      std::set_terminate(&detail::abort_job);
    }
  }

  int rank_ = 0;
  int size_ = 1;
  bool owns_mpi_ = false;
  MPI_Comm bucket_comm_ = MPI_COMM_NULL;
};

}  // namespace tapegrad::distributed
