#pragma once

#include <tapegrad/tapegrad.hpp>
#include <tapegrad/testing/gradcheck.hpp>

#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace tapegrad_test {

template <class T>
std::string printed(const tapegrad::Tensor<T>& t) {
  std::ostringstream out;
  out << t;
  return out.str();
}

/// Deterministic, non-trivial values for a tensor of `shape`, within [lo, hi].
inline tapegrad::Tensor<double> sample(const tapegrad::Shape& shape, double lo = -1.5,
                                       double hi = 1.5, unsigned salt = 0) {
  std::vector<double> v(static_cast<std::size_t>(shape.size()));
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double u = std::fmod(0.6180339887 * static_cast<double>(i + 1 + 7 * salt), 1.0);
    v[i] = lo + (hi - lo) * u;
  }
  return tapegrad::Tensor<double>(shape, v);
}

#define CHECK_GRADIENTS(f, ...)                                                 \
  do {                                                                          \
    const auto gradcheck_result = tapegrad::testing::gradcheck(f, __VA_ARGS__); \
    INFO(gradcheck_result.report);                                              \
    CHECK(gradcheck_result.ok);                                                 \
  } while (false)

}  // namespace tapegrad_test
