// One rank throws in the middle of training while the others wait in a collective: the job must
// end, non-zero, rather than hang (NOTE [ A rank that fails ends the job ]). ctest runs it
// with a timeout and expects it to fail.
#include <tapegrad/distributed.hpp>

#include <stdexcept>
#include <vector>

namespace tg = tapegrad;
namespace td = tapegrad::distributed;

int main(int argc, char** argv) {
  td::Communicator comm(argc, argv);
  std::vector<tg::Variable<float>> vars{tg::Variable<float>(tg::Tensor<float>::ones({4}), "w")};
  std::vector<tg::Tensor<float>> grads{tg::Tensor<float>::ones({4})};
  td::allreduce_gradients(comm, grads, vars);
  if (comm.rank() == 1) throw std::runtime_error("rank 1 failed during its step");
  td::allreduce_gradients(comm, grads, vars);  // the others wait here for rank 1
  return 0;
}
