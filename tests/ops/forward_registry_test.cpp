// Forward mode on every registry row (NOTE [ Forward mode ]): each row's whole function runs
// under a ForwardAccumulator, and its JVP is checked three ways, in double, on every sample
// (0-d, empty, size-1 dimensions, broadcasting): against central differences of the function,
// against the reverse mode through the transposition identity <u, J t> = <J^T u, t>, and, one
// order up, the forward-over-reverse Hessian-vector product against two nested tapes.

#include "op_registry.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

namespace forward_registry {

using tapegrad::ForwardAccumulator;
using tapegrad::GradientTape;
using tapegrad::Source;
using tapegrad::Tensor;
using tapegrad::UnconnectedGradients;
using tapegrad_test::op_registry;
using tapegrad_test::OpRow;
using tapegrad_test::OpSample;

/// Fresh copies of the sample's inputs, so that each is a distinct primal.
std::vector<Tensor<double>> fresh(const std::vector<Tensor<double>>& xs) {
  std::vector<Tensor<double>> out;
  for (const auto& x : xs) out.emplace_back(x.shape(), x.to_vector());
  return out;
}

std::vector<Tensor<double>> directions(const std::vector<Tensor<double>>& xs, unsigned salt) {
  std::vector<Tensor<double>> out;
  for (std::size_t k = 0; k < xs.size(); ++k)
    out.push_back(tapegrad_test::sample(xs[k].shape(), -1, 1, salt + static_cast<unsigned>(k)));
  return out;
}

double dot(const Tensor<double>& a, const Tensor<double>& b) {
  if (!a.has_value() || !b.has_value()) return 0;
  const auto va = a.to_vector(), vb = b.to_vector();
  double s = 0;
  for (std::size_t i = 0; i < va.size(); ++i) s += va[i] * vb[i];
  return s;
}

std::vector<double> or_zeros(const Tensor<double>& t, std::size_t n) {
  return t.has_value() ? t.to_vector() : std::vector<double>(n, 0.0);
}

std::string label(const OpRow& row, const OpSample& sample) {
  return row.op + (row.variant.empty() ? "" : " (" + row.variant + ")") + ", " + sample.label;
}

}  // namespace forward_registry

using namespace forward_registry;

TEST_CASE("Every registry row's JVP equals central differences and the transposed gradient",
          "[ops][forward]") {
  std::size_t samples = 0, elements = 0, jumps = 0, transposed = 0;
  for (const OpRow& row : op_registry())
    for (const OpSample& sample : row.samples) {
      INFO(forward_registry::label(row, sample));
      const auto xs = fresh(sample.inputs);
      const auto ts = directions(xs, 5);
      Tensor<double> y, jv;
      {
        ForwardAccumulator acc(std::vector<Source<double>>(xs.begin(), xs.end()), ts);
        y = row.f(xs);
        if (!y.has_value()) continue;
        jv = acc.jvp(y, UnconnectedGradients::zero);
      }
      REQUIRE(jv.shape() == y.shape());

      // Central differences along the tangents, at two steps to tell a kink from a slope.
      double scale = 1;
      for (const auto& x : xs)
        for (double v : x.to_vector()) scale = std::max(scale, std::abs(v));
      auto central = [&](double step) {
        const double h = step * scale;
        std::vector<double> sides[2];
        for (int side = 0; side < 2; ++side) {
          std::vector<Tensor<double>> moved;
          for (std::size_t k = 0; k < xs.size(); ++k) {
            auto v = xs[k].to_vector();
            const auto t = ts[k].to_vector();
            for (std::size_t i = 0; i < v.size(); ++i) v[i] += (side == 0 ? h : -h) * t[i];
            moved.emplace_back(xs[k].shape(), v);
          }
          sides[side] = row.f(moved).to_vector();
        }
        std::vector<double> d(sides[0].size());
        for (std::size_t i = 0; i < d.size(); ++i) d[i] = (sides[0][i] - sides[1][i]) / (2 * h);
        return d;
      };
      // A row that computes in float (its gradcheck options say so) gets float's steps and
      // tolerances.
      const bool in_float = row.options.eps > tapegrad::testing::GradcheckOptions{}.eps;
      const double step = in_float ? row.options.eps : 1e-6;
      const auto fd = central(step), fd_small = central(step / 8);
      const auto got = jv.to_vector();
      REQUIRE(got.size() == fd.size());
      for (std::size_t i = 0; i < fd.size(); ++i) {
        const double tolerance = in_float
                                     ? row.options.atol + row.options.rtol * std::abs(fd[i])
                                     : 1e-6 + 1e-5 * std::max(std::abs(fd[i]), std::abs(got[i]));
        if (!std::isfinite(fd[i]) || std::abs(fd[i] - fd_small[i]) > 10 * tolerance) {
          ++jumps;
          continue;
        }
        INFO("element " << i << ": jvp " << got[i] << ", differences " << fd[i]);
        CHECK(std::abs(got[i] - fd[i]) <= tolerance);
        ++elements;
      }

      // <u, J t> = <J^T u, t>, with J^T u from a tape. (Not with no input elements: J t is
      // then 0 / 0 for a mean, where J^T u is empty.)
      std::int64_t input_elements = 0;
      for (const auto& x : xs) input_elements += x.size();
      if (input_elements == 0) {
        ++samples;
        continue;
      }
      const Tensor<double> u = tapegrad_test::sample(y.shape(), -1, 1, 11);
      GradientTape tape;
      for (const auto& x : xs) tape.watch(x);
      const Tensor<double> y2 = row.f(xs);
      const auto vjps = tape.gradient(std::vector<Tensor<double>>{y2},
                                      std::vector<Source<double>>(xs.begin(), xs.end()), {u});
      double reverse = 0;
      for (std::size_t k = 0; k < xs.size(); ++k) reverse += dot(vjps[k], ts[k]);
      const double forward = dot(u, jv);
      CHECK(std::abs(forward - reverse) <=
            (in_float ? 1e-6 : 1e-10) * std::max(1.0, std::abs(reverse)));
      ++transposed;
      ++samples;
    }
  std::printf(
      "forward mode on the registry: %zu samples; %zu elements against central differences "
      "(%zu not compared: the function jumps within the step); %zu transposition checks\n",
      samples, elements, jumps, transposed);
  CHECK(samples > 500);
}

TEST_CASE("Every registry row's forward-over-reverse Hessian-vector product equals two tapes'",
          "[ops][forward][hvp]") {
  std::size_t checked = 0, elements = 0;
  for (const OpRow& row : op_registry())
    for (const OpSample& sample : row.samples) {
      INFO(forward_registry::label(row, sample));
      const auto xs = fresh(sample.inputs);
      const auto ts = directions(xs, 5);
      const std::vector<Source<double>> sources(xs.begin(), xs.end());
      // s = <u, f(x)>; both orders give the directional derivative of its gradient along t.
      Tensor<double> u;
      std::vector<Tensor<double>> for_hv;
      {
        ForwardAccumulator acc(sources, ts);
        GradientTape tape;
        for (const auto& x : xs) tape.watch(x);
        const Tensor<double> y = row.f(xs);
        if (!y.has_value()) continue;
        u = tapegrad_test::sample(y.shape(), -1, 1, 11);
        const auto grads = tape.gradient(std::vector<Tensor<double>>{y}, sources, {u});
        for (const auto& g : grads) for_hv.push_back(g.has_value() ? acc.jvp(g) : Tensor<double>());
      }
      std::vector<Tensor<double>> rev_hv;
      {
        GradientTape outer(tapegrad::persistent);
        for (const auto& x : xs) outer.watch(x);
        std::vector<Tensor<double>> grads;
        {
          GradientTape inner;
          for (const auto& x : xs) inner.watch(x);
          grads = inner.gradient(std::vector<Tensor<double>>{row.f(xs)}, sources, {u});
        }
        Tensor<double> inner_product;
        for (std::size_t k = 0; k < xs.size(); ++k)
          if (grads[k].has_value()) {
            const Tensor<double> term = tapegrad::sum(grads[k] * ts[k]);
            inner_product = inner_product.has_value() ? inner_product + term : term;
          }
        if (inner_product.has_value())
          rev_hv = outer.gradient(std::vector<Tensor<double>>{inner_product}, sources, {});
        rev_hv.resize(xs.size());
      }
      for (std::size_t k = 0; k < xs.size(); ++k) {
        INFO("input " << k);
        const std::size_t n = static_cast<std::size_t>(xs[k].size());
        const auto f = or_zeros(for_hv[k], n), r = or_zeros(rev_hv[k], n);
        for (std::size_t i = 0; i < n; ++i) {
          INFO("element " << i << ": forward-over-reverse " << f[i] << ", two tapes " << r[i]);
          if (std::isnan(r[i])) {
            CHECK(std::isnan(f[i]));
            continue;
          }
          CHECK(std::abs(f[i] - r[i]) <= 1e-12 * std::max(1.0, std::abs(r[i])));
          ++elements;
        }
      }
      ++checked;
    }
  std::printf(
      "forward-over-reverse on the registry: %zu samples, %zu elements equal to two tapes'\n",
      checked, elements);
  CHECK(checked > 500);
}
