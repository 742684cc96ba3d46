// Every registry row traced once and replayed at fresh inputs (NOTE [ Record once, replay
// many ]): its value, and its value with the gradient of every input from a tape inside the
// traced function, must equal the eager call at those inputs bit for bit.

#include "op_registry.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

namespace tg = tapegrad;
using tapegrad::Tensor;
using tapegrad_test::Inputs;
using tapegrad_test::op_registry;
using tapegrad_test::OpRow;
using tapegrad_test::OpSample;

bool same_bits(const Tensor<double>& a, const Tensor<double>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a.has_value()) return true;
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(double)) == 0;
}
bool same_bits(const std::vector<Tensor<double>>& a, const std::vector<Tensor<double>>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k)
    if (!same_bits(a[k], b[k])) return false;
  return true;
}

/// The sample's inputs moved to other values of the same shapes (a replay must not reuse any
/// value of the trace's).
Inputs fresh_inputs(const Inputs& inputs, double scale) {
  Inputs out;
  for (const auto& x : inputs) {
    std::vector<double> v = x.to_vector();
    for (double& e : v) e = e * scale + (e >= 0 ? 1e-3 : -1e-3);
    out.emplace_back(x.shape(), v);
  }
  return out;
}

/// f(inputs) with the gradient of sum(f) for each input, from a tape inside the call.
std::vector<Tensor<double>> value_and_gradients(const OpRow& row, const Inputs& inputs) {
  tg::GradientTape tape(tg::persistent);
  for (const auto& x : inputs) tape.watch(x);
  const Tensor<double> y = row.f(inputs);
  std::vector<Tensor<double>> out{y};
  for (const auto& x : inputs) out.push_back(tape.gradient(tg::sum(y * y), x));
  return out;
}

/// A traced function of the row's arity that calls `body` on its arguments.
template <class Body>
auto traced(std::size_t arity, Body body) {
  using Result = std::vector<Tensor<double>>;
  return [arity, body]() -> std::function<Result(const Inputs&)> {
    if (arity == 1) {
      auto f = tg::function([body](const Tensor<double>& a) { return body(Inputs{a}); });
      return [f](const Inputs& x) { return f(x[0]); };
    }
    if (arity == 2) {
      auto f = tg::function([body](const Tensor<double>& a, const Tensor<double>& b) {
        return body(Inputs{a, b});
      });
      return [f](const Inputs& x) { return f(x[0], x[1]); };
    }
    auto f = tg::function(
        [body](const Tensor<double>& a, const Tensor<double>& b, const Tensor<double>& c) {
          return body(Inputs{a, b, c});
        });
    return [f](const Inputs& x) { return f(x[0], x[1], x[2]); };
  }();
}

}  // namespace

TEST_CASE("Every registry row, traced and replayed at fresh inputs, equals the eager call",
          "[replay][registry]") {
  std::size_t replayed = 0, skipped_at_fresh_inputs = 0;
  std::map<std::string, std::string> refused;  // row -> the trace_error's message
  for (const OpRow& row : op_registry())
    for (const OpSample& sample : row.samples) {
      const std::string label =
          row.op + (row.variant.empty() ? "" : " (" + row.variant + ")") + ", " + sample.label;
      INFO(label);
      REQUIRE(sample.inputs.size() <= 3);
      for (bool with_gradients : {false, true}) {
        auto body = [&row, with_gradients](const Inputs& x) {
          return with_gradients ? value_and_gradients(row, x)
                                : std::vector<Tensor<double>>{row.f(x)};
        };
        auto f = traced(sample.inputs.size(), body);
        std::vector<Tensor<double>> traced_result;
        try {
          traced_result = f(sample.inputs);
        } catch (const tg::trace_error& e) {
          refused.emplace(row.op + (row.variant.empty() ? "" : " (" + row.variant + ")"), e.what());
          continue;
        }
        CHECK(same_bits(traced_result, body(sample.inputs)));
        for (double scale : {0.75, 1.25}) {
          const Inputs fresh = fresh_inputs(sample.inputs, scale);
          std::vector<Tensor<double>> eager;
          try {
            eager = body(fresh);
          } catch (const std::exception&) {
            ++skipped_at_fresh_inputs;  // outside the op's domain: nothing to compare
            continue;
          }
          CHECK(same_bits(f(fresh), eager));
          ++replayed;
        }
      }
    }
  for (const auto& [row, why] : refused)
    std::printf("not traceable yet: %s: %s\n", row.c_str(), why.c_str());
  std::printf(
      "replay on the registry: %zu replays equal to eager; %zu rows refused; %zu fresh "
      "inputs outside a domain\n",
      replayed, refused.size(), skipped_at_fresh_inputs);
  CHECK(replayed > 5000);
  // Refused, and only these, each for what a replay could not repeat: dropout's row makes its
  // Generator inside the call (NOTE [ Random draws as ops ]); clip_by_value checks tensor
  // bounds on the host; prod's rule picks its formula from
  // the values (y / x, or the products of the others where an input is 0), which the trace
  // sees here because the persistent tape records the backward. A refusal is a typed error,
  // never a stale value; a row that starts to be refused is a regression.
  for (const auto& entry : refused) {
    INFO(entry.first);
    CHECK((entry.first == "dropout (rate 0.3, fixed seed)" ||
           entry.first == "clip_by_value (tensor bounds)" || entry.first.rfind("prod", 0) == 0));
  }
}
