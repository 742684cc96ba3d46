// The memory of a Hessian-vector product by forward-over-reverse and by two nested tapes
// (hvp_problems.hpp), two ways, and whether the two agree to 1e-12 relative:
//   peak_bytes: the most tensor bytes alive at once, above what existed before, counted by the
//     library's live-byte counters, which this program is built with (every tensor block,
//     tangents included);
//   saved_bytes: what the tape holding the most keeps alive alone, right before the gradient()
//     it is kept for (memory_report's freed_bytes: saved tensors, the tangents hanging on them,
//     nothing that lives anyway such as the parameters).
// Prints JSON:   hvp_memory [mlp_batch] [elementwise_n]
#include <tapegrad/memory_report.hpp>
#include <tapegrad/testing/live_objects.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "hvp_problems.hpp"

namespace {

struct Measured {
  long long peak_bytes;
  hvp::Tensors hv;
};

template <class F>
Measured measure(F&& f) {
  const long long before = tapegrad::testing::live_objects().bytes;
  tapegrad::testing::reset_peak_bytes();
  Measured m{0, f()};
  m.peak_bytes = tapegrad::testing::peak_bytes() - before;
  return m;
}

double relative_difference(const hvp::Tensors& a, const hvp::Tensors& b) {
  double worst = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    const auto va = a[k].to_vector(), vb = b[k].to_vector();
    for (std::size_t i = 0; i < va.size(); ++i)
      worst = std::max(worst, std::abs(va[i] - vb[i]) / std::max(1.0, std::abs(vb[i])));
  }
  return worst;
}

bool report(const char* name, const hvp::Problem& p, bool last) {
  const Measured forward = measure([&] { return hvp::forward_over_reverse(p); });
  const Measured nested = measure([&] { return hvp::nested_tapes(p); });
  const double difference = relative_difference(forward.hv, nested.hv);
  // Separate runs: the report must not touch the peak above.
  std::size_t forward_saved = 0, nested_saved = 0;
  hvp::forward_over_reverse(p, [&](const tapegrad::GradientTape& t) {
    forward_saved = tapegrad::memory_report(t).freed_bytes;
  });
  hvp::nested_tapes(p, [&](const tapegrad::GradientTape& t) {
    nested_saved = tapegrad::memory_report(t).freed_bytes;
  });
  std::printf(
      "  \"%s\": {\"forward_over_reverse_peak_bytes\": %lld, \"nested_tapes_peak_bytes\": %lld, "
      "\"ratio\": %.3f, \"forward_over_reverse_saved_bytes\": %zu, "
      "\"nested_tapes_saved_bytes\": %zu, \"saved_ratio\": %.3f, "
      "\"max_relative_difference\": %.3g}%s\n",
      name, forward.peak_bytes, nested.peak_bytes,
      static_cast<double>(forward.peak_bytes) / static_cast<double>(nested.peak_bytes),
      forward_saved, nested_saved,
      static_cast<double>(forward_saved) / static_cast<double>(nested_saved), difference,
      last ? "" : ",");
  return difference <= 1e-12;
}

}  // namespace

int main(int argc, char** argv) {
  const int batch = argc > 1 ? std::atoi(argv[1]) : 64;
  const long n = argc > 2 ? std::atol(argv[2]) : 100000;
  if (!tapegrad::testing::live_objects().counted) {
    std::fprintf(stderr, "hvp_memory: built without TAPEGRAD_LIVE_COUNTERS\n");
    return 1;
  }
  std::printf("{\n");
  const bool mlp_ok = report("mlp", hvp::mlp_problem(batch), false);
  const bool elementwise_ok = report("elementwise", hvp::elementwise_problem(n), true);
  std::printf("}\n");
  return mlp_ok && elementwise_ok ? 0 : 1;
}
