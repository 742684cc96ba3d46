// Forward mode keeps no tape: the peak resident set of a JVP along chain_benchmark's chain
// (*0.999, +0.001, sin, tanh on a [1] float tensor, under a ForwardAccumulator) does not grow
// with the chain's length. Runs the chain of `ops` ops and prints the process's peak RSS;
// compare two runs, e.g. 10,000 and 1,000,000 ops (the target: within 10%):
//   jvp_memory [ops]
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <tapegrad/tapegrad.hpp>

#include "small_op_chain.hpp"

namespace tg = tapegrad;

int main(int argc, char** argv) {
  const long ops = argc > 1 ? std::atol(argv[1]) : 1000000;
  if (ops < 4 || ops % 4 != 0) {
    std::fprintf(stderr, "usage: %s [ops, a positive multiple of 4]\n", argv[0]);
    return 2;
  }
  const tg::Tensor<float> x(tg::Shape{1}, 0.5f), v(tg::Shape{1}, 1.0f);
  float tangent = 0;
  {
    tg::ForwardAccumulator acc(x, v);
    const auto y = bench::small_op_chain(x, ops);
    tangent = acc.jvp(y).item();
  }
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("{\"ops\": %ld, \"jvp\": %.6g, \"peak_rss_kib\": %ld}\n", ops,
              static_cast<double>(tangent), usage.ru_maxrss);
  return 0;
}
