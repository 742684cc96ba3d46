// Huge graphs, run as its own optimised test program: a 10,000,000-op chain recorded and
// differentiated (no recursion, so no stack overflow; memory proportional to the ops), and
// a gradient through a tensor of 2^28 floats (1 GiB), or a clear error where memory is short.
#include <sys/resource.h>

#include <tapegrad/tapegrad.hpp>
#include <tapegrad/testing/live_objects.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <new>

namespace tg = tapegrad;

namespace {
double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}
int failures = 0;
void expect(bool ok, const char* what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
  if (!ok) ++failures;
}
}  // namespace

int main(int argc, char** argv) {
  const long ops = argc > 1 ? std::atol(argv[1]) : 10000000;
  {
    const auto start = std::chrono::steady_clock::now();
    const tg::Tensor<double> x({0.5});
    const double rss_before = peak_rss_mib();
    tg::GradientTape tape;
    tape.watch(x);
    tg::Tensor<double> y = x;
    for (long i = 0; i < ops; i += 2) {
      y = y * 0.9999999;
      y = y + 1e-9;
    }
    const double rss_recorded = peak_rss_mib();
    const tg::Tensor<double> g = tape.gradient(y, x);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double expected = std::pow(0.9999999, static_cast<double>(ops / 2));
    std::printf(
        "%ld-op chain: gradient %.7g (expected %.7g), %.1f s, peak RSS %.0f MiB, "
        "%.0f bytes per recorded op (RSS growth while recording)\n",
        ops, static_cast<double>(g.item()), expected, seconds, peak_rss_mib(),
        (rss_recorded - rss_before) * 1048576.0 / static_cast<double>(ops));
    expect(std::abs(g.item() - expected) < 1e-9 * expected, "the chain's gradient");
  }
  {
    const std::int64_t n = std::int64_t{1} << 28;
    try {
      const tg::Tensor<float> big(tg::Shape{n}, 0.25f);
      tg::GradientTape tape;
      tape.watch(big);
      const tg::Tensor<float> g = tape.gradient(tg::sum(big * big), big);
      expect(g.size() == n && g.data()[0] == 0.5f && g.data()[n - 1] == 0.5f,
             "a gradient through 2^28 floats");
      std::printf("2^28 floats: peak RSS %.0f MiB\n", peak_rss_mib());
    } catch (const std::bad_alloc&) {
      std::printf("2^28 floats: not enough memory here, std::bad_alloc thrown cleanly\n");
    }
  }
  try {
    const tg::Tensor<float> impossible(tg::Shape{std::int64_t{1} << 40, std::int64_t{1} << 21});
    expect(false, "an impossible shape throws");
  } catch (const tg::value_error& e) {
    expect(true, e.what());
  }
  return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
