#pragma once

// The classifier programs' Team on MPI (tapegrad::distributed): the processes of an mpirun job
// split every batch, start from rank 0's weights and average their gradients while the reverse
// sweep runs. Only rank 0 prints; the others' standard output goes nowhere.

#include <tapegrad/distributed.hpp>

#include <iostream>
#include <streambuf>
#include <vector>

#include "classifier_training.hpp"

namespace examples {

class DataParallelTeam final : public Team {
 public:
  /// Joins the job (MPI_Init) before the program reads its command line.
  DataParallelTeam(int& argc, char**& argv) : comm_(argc, argv) {
    if (comm_.rank() != 0) saved_cout_ = std::cout.rdbuf(&nowhere_);
  }
  ~DataParallelTeam() override {
    if (saved_cout_ != nullptr) std::cout.rdbuf(saved_cout_);
  }

  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }
  void start_alike(const std::vector<tapegrad::Variable<float>>& vars) override {
    tapegrad::distributed::broadcast_variables(comm_, vars, 0);
  }
  std::vector<tapegrad::Tensor<float>> gradient(
      tapegrad::GradientTape& tape, const tapegrad::Tensor<float>& loss,
      const std::vector<tapegrad::Variable<float>>& vars) override {
    return tapegrad::distributed::DistributedGradientTape(tape, comm_).gradient(loss, vars);
  }
  void sum(std::vector<double>& values) override {
    tapegrad::distributed::detail::check_mpi(
        MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE,
                      MPI_SUM, comm_.comm()),
        "MPI_Allreduce");
  }

 private:
  struct Nowhere : std::streambuf {
    int overflow(int c) override { return traits_type::not_eof(c); }
  };
  tapegrad::distributed::Communicator comm_;
  Nowhere nowhere_;
  std::streambuf* saved_cout_ = nullptr;  // rank 0's stays; the others' goes nowhere
};

}  // namespace examples
