#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/testing/gradcheck.hpp"

// Catch2 (v2) matchers around gradcheck and gradgradcheck; include only in Catch2 tests.
namespace tapegrad::testing {

/// Matches a function whose tape gradients (or second derivatives) agree with finite
/// differences at the given inputs; on failure Catch2 prints gradcheck's report.
class GradcheckMatcher : public Catch::MatcherBase<GradcheckFunction> {
 public:
  GradcheckMatcher(std::vector<Tensor<double>> inputs, GradcheckOptions options, bool second)
      : inputs_(std::move(inputs)), options_(options), second_(second) {}

  bool match(const GradcheckFunction& f) const override {
    const GradcheckResult r =
        second_ ? gradgradcheck(f, inputs_, options_) : gradcheck(f, inputs_, options_);
    report_ = r.report;
    return r.ok;
  }
  std::string describe() const override {
    std::string text = second_ ? "passes gradgradcheck" : "passes gradcheck";
    if (!report_.empty()) text += "\n" + report_;
    return text;
  }

 private:
  std::vector<Tensor<double>> inputs_;
  GradcheckOptions options_;
  bool second_;
  mutable std::string report_;
};

/// REQUIRE_THAT(f, tapegrad::testing::passes_gradcheck({x, y}));
inline GradcheckMatcher passes_gradcheck(std::vector<Tensor<double>> inputs,
                                         GradcheckOptions options = {}) {
  return GradcheckMatcher(std::move(inputs), options, false);
}
/// REQUIRE_THAT(f, tapegrad::testing::passes_gradgradcheck({x}));
inline GradcheckMatcher passes_gradgradcheck(std::vector<Tensor<double>> inputs,
                                             GradcheckOptions options = {}) {
  return GradcheckMatcher(std::move(inputs), options, true);
}

}  // namespace tapegrad::testing
