// One rank throws in the middle of training while the others wait in a collective: the job must
// end, non-zero, rather than hang. ctest runs it with a timeout and expects it to fail, once per
// way of failing:
//   between-steps: an exception escapes main() between two allreduces (NOTE [ A rank that
//     fails ends the job ]);
//   mid-sweep: a gradient function throws while DistributedGradientTape has buckets in flight
//     (NOTE [ Averaging gradients in buckets ]), even though the program catches it.
#include <tapegrad/distributed.hpp>
#include <tapegrad/tapegrad.hpp>

#include <cstring>
#include <iostream>
#include <stdexcept>
#include <utility>
#include <vector>

namespace tg = tapegrad;
namespace td = tapegrad::distributed;

int main(int argc, char** argv) {
  td::Communicator comm(argc, argv);
  const bool mid_sweep = argc > 1 && std::strcmp(argv[1], "mid-sweep") == 0;
  if (!mid_sweep) {
    std::vector<tg::Variable<float>> vars{tg::Variable<float>(tg::Tensor<float>::ones({4}), "w")};
    std::vector<tg::Tensor<float>> grads{tg::Tensor<float>::ones({4})};
    td::allreduce_gradients(comm, grads, vars);
    if (comm.rank() == 1) throw std::runtime_error("rank 1 failed during its step");
    td::allreduce_gradients(comm, grads, vars);  // the others wait here for rank 1
    return 0;
  }
  // w_early's gradient is final first and fills the first bucket; the gradient function that
  // runs next throws on rank 1.
  tg::Variable<float> w_late(tg::Tensor<float>::ones({4}), "w_late");
  tg::Variable<float> w_early(tg::Tensor<float>::ones({4}), "w_early");
  const std::vector<tg::Variable<float>> vars{w_late, w_early};
  const bool fails = comm.rank() == 1;
  auto fragile = tg::custom_gradient([fails](const tg::Tensor<float>& t) {
    return std::make_pair(t * 2.0f, [fails](const tg::Tensor<float>& g) {
      if (fails) throw std::runtime_error("rank 1's gradient function failed");
      return g * 2.0f;
    });
  });
  try {
    tg::GradientTape tape;
    const auto loss = tg::sum(fragile(w_late.value() * 3.0f) * w_early);
    td::DistributedGradientTape(tape, comm, 4 * sizeof(float)).gradient(loss, vars);
  } catch (const std::exception& e) {
    std::cerr << "caught: " << e.what() << '\n';  // too late: the job has been ended
  }
  comm.barrier();
  return 0;
}
