// Peak memory of an MLP training loop (mlp_model.hpp) at batch 256: runs `steps` steps of
// one implementation and prints the process's peak resident set (getrusage's ru_maxrss).
//   mlp_memory tapegrad|eigen [steps] [batch]      mlp_memory_torch torch [steps] [batch]
// The peak covers the whole process, so each implementation runs in a process of its own,
// and libtorch's in a separate binary: merely loading libtorch's libraries costs more
// resident memory than the whole tapegrad loop.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "mlp_model.hpp"

namespace {

long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;  // KiB on Linux
}

long current_rss_kib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

template <class Model>
int run(const char* name, int steps, int batch) {
  const long before_kib = current_rss_kib();
  Model model(batch);
  float first_loss = 0, last_loss = 0;
  for (int i = 0; i < steps; ++i) {
    last_loss = model.step();
    if (i == 0) first_loss = last_loss;
  }
  // The losses show that the loop trains, so the three loops can be compared as equals.
  std::printf(
      "{\"impl\": \"%s\", \"batch\": %d, \"steps\": %d, \"rss_before_kib\": %ld, "
      "\"peak_rss_kib\": %ld, \"first_loss\": %.4f, \"last_loss\": %.4f}\n",
      name, batch, steps, before_kib, peak_rss_kib(), static_cast<double>(first_loss),
      static_cast<double>(last_loss));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string impl = argc > 1 ? argv[1] : "tapegrad";
  const int steps = argc > 2 ? std::atoi(argv[2]) : 200;
  const int batch = argc > 3 ? std::atoi(argv[3]) : 256;
  if (steps < 1 || batch < 1) {
    std::fprintf(stderr, "usage: %s tapegrad|eigen|torch [steps >= 1] [batch >= 1]\n", argv[0]);
    return 2;
  }
  if (impl == "tapegrad") return run<mlp::Tapegrad>("tapegrad", steps, batch);
  if (impl == "eigen") return run<mlp::EigenByHand>("eigen", steps, batch);
#ifdef TAPEGRAD_BENCHMARK_WITH_TORCH
  if (impl == "torch") {
    // One thread, as in the timed runs (see NOTE [ Threads in the benchmarks ]).
    torch::set_num_threads(1);
    return run<mlp::Torch>("torch", steps, batch);
  }
#endif
  std::fprintf(stderr, "%s: unknown or not built implementation '%s'\n", argv[0], impl.c_str());
  return 2;
}
