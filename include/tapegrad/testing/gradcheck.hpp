#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tapegrad/ops/binary.hpp"
#include "tapegrad/ops/reduce.hpp"
#include "tapegrad/tape.hpp"

// Checks that the tape's derivatives of a user's function agree with central finite
// differences, for users' own unit tests (and tapegrad's).
namespace tapegrad::testing {

/// A function under test: double tensors in, one double tensor (of any shape) out.
using GradcheckFunction = std::function<Tensor<double>(const std::vector<Tensor<double>>&)>;

/// Tolerances for gradcheck: an element passes when |analytic - numeric| <= atol + rtol *
/// |numeric|. The defaults follow PyTorch's gradcheck.
struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  /// Seed of the random weights w in the checked scalar L = sum(w * f(inputs)).
  std::uint32_t seed = 42;
};

/// The outcome: `ok`, a report naming every element that disagrees and every other failed
/// check, and the worst element (the largest error relative to its tolerance).
struct GradcheckResult {
  bool ok = true;
  std::string report;
  std::size_t worst_input = 0;
  std::int64_t worst_element = -1;  // -1: every element agreed
  double worst_analytic = 0;
  double worst_numeric = 0;
  explicit operator bool() const { return ok; }
};

/// The inputs of a function under gradcheck.
///   const auto f = [](const tapegrad::testing::Inputs& in) { return in[0] * in[1]; };
using Inputs = std::vector<Tensor<double>>;

namespace detail {

inline Tensor<double> random_weights(const Shape& shape, std::uint32_t seed) {
  std::mt19937 engine(seed);
  std::vector<double> w(static_cast<std::size_t>(shape.size()));
  // From the raw 32-bit output, so that the weights are the same on every platform.
  for (double& v : w) v = 0.5 + static_cast<double>(engine()) / 4294967296.0;
  return Tensor<double>(shape, w);
}

/// Each input as a tensor of its own, so that one passed twice ({x, x}) is two independent
/// inputs to the tape, as it is to the finite differences.
inline Inputs independent_copies(const Inputs& inputs) {
  Inputs out;
  for (const auto& x : inputs) out.emplace_back(x.shape(), x.to_vector());
  return out;
}

inline bool bitwise_equal(const Tensor<double>& a, const Tensor<double>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a.has_value()) return true;
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(double)) == 0;
}

/// Compares `analytic` (the gradients of `scalar` at `inputs`) with central differences of
/// `scalar`, and runs the checks every gradient must pass.
inline void compare(const std::function<double(const Inputs&)>& scalar,
                    const std::function<Inputs(const Inputs&)>& gradients,
                    const std::function<Inputs(const Inputs&)>& zero_upstream_gradients,
                    const Inputs& inputs, const GradcheckOptions& options, const char* what,
                    GradcheckResult& result) {
  std::ostringstream report;
  report.precision(10);
  const Inputs analytic = gradients(inputs);
  const Inputs again = gradients(inputs);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!bitwise_equal(analytic[i], again[i])) {
      result.ok = false;
      report << what << ": input " << i << ": two runs gave gradients that differ in their bits\n";
    }
    if (analytic[i].has_value() && analytic[i].shape() != inputs[i].shape()) {
      result.ok = false;
      report << what << ": input " << i << " has shape " << inputs[i].shape().str()
             << " but its gradient has shape " << analytic[i].shape().str() << '\n';
    }
  }
  const Inputs zeros = zero_upstream_gradients(inputs);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!zeros[i].has_value()) continue;
    for (std::int64_t j = 0; j < zeros[i].size(); ++j)
      if (zeros[i].data()[j] != 0.0) {
        result.ok = false;
        report << what << ": input " << i << " element " << j << ": a zero incoming gradient gave "
               << zeros[i].data()[j] << ", expected 0\n";
        break;
      }
  }
  if (!result.ok) {
    result.report += report.str();
    return;
  }
  double worst = 0;
  int failures = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor<double>& x = inputs[i];
    if (analytic[i].has_value() && analytic[i].shape() != x.shape()) continue;
    std::vector<double> values = x.to_vector();
    for (std::size_t j = 0; j < values.size(); ++j) {
      const double original = values[j];
      Inputs shifted = inputs;
      values[j] = original + options.eps;
      shifted[i] = Tensor<double>(x.shape(), values);
      const double up = scalar(shifted);
      values[j] = original - options.eps;
      shifted[i] = Tensor<double>(x.shape(), values);
      const double down = scalar(shifted);
      values[j] = original;
      const double numeric = (up - down) / (2 * options.eps);
      const double got = analytic[i].has_value() ? analytic[i].data()[j] : 0.0;
      const double tolerance = options.atol + options.rtol * std::abs(numeric);
      const double error = std::abs(got - numeric);
      const bool close = error <= tolerance && std::isnan(got) == std::isnan(numeric);
      const double excess = std::isnan(error) ? HUGE_VAL : error / tolerance;
      if (!close) {
        result.ok = false;
        ++failures;
        report << what << ": input " << i << " (shape " << x.shape().str() << ") element " << j
               << ": analytic " << got << (analytic[i].has_value() ? "" : " (no gradient)")
               << ", numeric " << numeric << '\n';
      }
      if (!close && excess >= worst) {
        worst = excess;
        result.worst_input = i;
        result.worst_element = static_cast<std::int64_t>(j);
        result.worst_analytic = got;
        result.worst_numeric = numeric;
      }
    }
  }
  if (failures > 0) {
    std::ostringstream head;
    head.precision(10);
    head << what << " failed: worst at input " << result.worst_input << " element "
         << result.worst_element << ": analytic " << result.worst_analytic << ", numeric "
         << result.worst_numeric << " (eps " << options.eps << ", atol " << options.atol
         << ", rtol " << options.rtol << "); " << failures << " element(s) differ\n";
    result.report += head.str();
  }
  result.report += report.str();
}

/// The tape's gradients of sum(w * f(x)) with respect to every input, seeded with
/// `upstream_scale` times w (0 for the zero-upstream check).
inline Inputs first_gradients(const GradcheckFunction& f, const Inputs& x,
                              const Tensor<double>& weights, double upstream_scale) {
  GradientTape tape;
  for (const auto& v : x) tape.watch(v);
  const Tensor<double> y = f(x);
  std::vector<Source<double>> sources(x.begin(), x.end());
  return tape.gradient(std::vector<Tensor<double>>{y}, sources,
                       std::vector<Tensor<double>>{weights * upstream_scale});
}

}  // namespace detail

/// Compares the tape's gradients of f with central finite differences, in double. f maps the
/// inputs to a tensor of any shape; the check uses L = sum(w * f(inputs)) with fixed random
/// weights w, so every output element's gradient counts. It also checks that each gradient
/// has its input's shape, that a zero incoming gradient gives exactly zero, and that two runs
/// are bit-identical. An input the result does not depend on must get no gradient, or zeros.
///   auto r = tapegrad::testing::gradcheck(
///       [](const std::vector<Tensor<double>>& x) { return x[0] * tapegrad::sin(x[1]); },
///       {Tensor<double>({1.0, 2.0}), Tensor<double>(0.5)});
///   REQUIRE(r.ok);   // r.report names the worst element and every one that differs
inline GradcheckResult gradcheck(const GradcheckFunction& f,
                                 const std::vector<Tensor<double>>& inputs_in,
                                 const GradcheckOptions& options = {}) {
  GradcheckResult result;
  const std::vector<Tensor<double>> inputs = detail::independent_copies(inputs_in);
  const Tensor<double> weights = detail::random_weights(f(inputs).shape(), options.seed);
  detail::compare([&](const Inputs& x) { return sum(f(x) * weights).item(); },
                  [&](const Inputs& x) { return detail::first_gradients(f, x, weights, 1); },
                  [&](const Inputs& x) { return detail::first_gradients(f, x, weights, 0); },
                  inputs, options, "gradcheck", result);
  return result;
}

/// Second derivatives through nested tapes: with the first gradients g_i of
/// L = sum(w * f(inputs)), compares the tape's gradients of M = sum_i sum(v_i * g_i) with
/// central finite differences of M, plus gradcheck's other checks, for random weights w, v.
///   auto r = tapegrad::testing::gradgradcheck(
///       [](const std::vector<Tensor<double>>& x) { return tapegrad::tanh(x[0]); },
///       {Tensor<double>({0.5, -1.0})});
inline GradcheckResult gradgradcheck(const GradcheckFunction& f,
                                     const std::vector<Tensor<double>>& inputs_in,
                                     const GradcheckOptions& options = {}) {
  GradcheckResult result;
  const std::vector<Tensor<double>> inputs = detail::independent_copies(inputs_in);
  const Tensor<double> weights = detail::random_weights(f(inputs).shape(), options.seed);
  std::vector<Tensor<double>> v;
  for (std::size_t i = 0; i < inputs.size(); ++i)
    v.push_back(detail::random_weights(inputs[i].shape(),
                                       options.seed + 1 + static_cast<std::uint32_t>(i)));
  // M(x) and its gradients, recorded by an outer tape around the first-order one.
  auto second = [&](const Inputs& x, double upstream_scale, Inputs* grads) {
    GradientTape outer;
    for (const auto& t : x) outer.watch(t);
    const Inputs g = detail::first_gradients(f, x, weights, 1);
    Tensor<double> m(0.0);
    for (std::size_t i = 0; i < x.size(); ++i)
      if (g[i].has_value()) m = m + sum(g[i] * v[i]);
    if (grads) {
      std::vector<Source<double>> sources(x.begin(), x.end());
      *grads = outer.gradient(std::vector<Tensor<double>>{m}, sources,
                              std::vector<Tensor<double>>{Tensor<double>(upstream_scale)});
    }
    return m.item();
  };
  detail::compare([&](const Inputs& x) { return second(x, 1, nullptr); },
                  [&](const Inputs& x) {
                    Inputs g;
                    second(x, 1, &g);
                    return g;
                  },
                  [&](const Inputs& x) {
                    Inputs g;
                    second(x, 0, &g);
                    return g;
                  },
                  inputs, options, "gradgradcheck", result);
  return result;
}

}  // namespace tapegrad::testing
