#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tapegrad/ops/binary.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/tape.hpp"

namespace tapegrad::testing {

/// Tolerances for gradcheck: |analytic - numeric| <= atol + rtol * |numeric|.
struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-6;
  double rtol = 1e-5;
  /// Seed of the random weights w in the checked scalar L = sum(w * f(inputs)).
  std::uint32_t seed = 42;
};

/// The outcome of gradcheck: `ok`, and a report naming each element that disagrees.
struct GradcheckResult {
  bool ok = true;
  std::string report;
  explicit operator bool() const { return ok; }
};

/// Compares the tape's gradients of f with central finite differences, in double.
/// f maps the inputs to a tensor of any shape; the check uses L = sum(w * f(inputs)) with
/// fixed random weights w, so every output element's gradient counts. An input the result
/// does not depend on must get no gradient, or zeros.
///   auto r = tapegrad::testing::gradcheck(
///       [](const std::vector<Tensor<double>>& x) { return x[0] * tapegrad::sin(x[1]); },
///       {Tensor<double>({1.0, 2.0}), Tensor<double>(0.5)});
///   REQUIRE(r.ok);   // r.report says where they differ otherwise
inline GradcheckResult gradcheck(
    const std::function<Tensor<double>(const std::vector<Tensor<double>>&)>& f,
    const std::vector<Tensor<double>>& inputs, const GradcheckOptions& options = {}) {
  GradcheckResult result;
  const Tensor<double> probe = f(inputs);
  std::mt19937 engine(options.seed);
  std::uniform_real_distribution<double> weight(0.5, 1.5);
  std::vector<double> w(static_cast<std::size_t>(probe.size()));
  for (double& v : w) v = weight(engine);
  const Tensor<double> weights(probe.shape(), w);
  auto scalar = [&](const std::vector<Tensor<double>>& x) { return sum(f(x) * weights).item(); };

  std::vector<Tensor<double>> analytic;
  {
    GradientTape tape;
    for (const auto& x : inputs) tape.watch(x);
    const Tensor<double> loss = sum(f(inputs) * weights);
    analytic = tape.gradient(loss, inputs);
  }
  std::ostringstream report;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor<double>& x = inputs[i];
    std::vector<double> values = x.to_vector();
    for (std::size_t j = 0; j < values.size(); ++j) {
      const double original = values[j];
      std::vector<Tensor<double>> shifted = inputs;
      values[j] = original + options.eps;
      shifted[i] = Tensor<double>(x.shape(), values);
      const double up = scalar(shifted);
      values[j] = original - options.eps;
      shifted[i] = Tensor<double>(x.shape(), values);
      const double down = scalar(shifted);
      values[j] = original;
      const double numeric = (up - down) / (2 * options.eps);
      const double got = analytic[i].has_value() ? analytic[i].data()[j] : 0.0;
      const bool close = std::abs(got - numeric) <= options.atol + options.rtol * std::abs(numeric);
      if (!close || (std::isnan(got) != std::isnan(numeric))) {
        result.ok = false;
        report << "input " << i << " (shape " << x.shape().str() << ") element " << j
               << ": analytic " << got << (analytic[i].has_value() ? "" : " (no gradient)")
               << ", numeric " << numeric << '\n';
      }
    }
  }
  result.report = report.str();
  return result;
}

}  // namespace tapegrad::testing
