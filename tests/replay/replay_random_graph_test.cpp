// The random-graph generator's programs (tests/random_graph.hpp) traced once and replayed
// at fresh inputs (NOTE [ Record once, replay many ]): each program runs under its tapes
// (nested and persistent ones, stop_gradient, paused steps, a reset, variables read at each
// use), takes its main tape's gradients inside the traced function, and must give the eager
// call's targets and gradients bit for bit.

#include "random_graph.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace tg = tapegrad;
namespace rg = tapegrad_test::random_graph;
using tapegrad::Tensor;
using Tensors = std::vector<Tensor<double>>;

constexpr std::size_t max_inputs = 6;

/// The program's variables, made once outside the traced function (a trace reads them at
/// each replay; variables made inside a call would be gone after it).
struct Variables {
  std::vector<std::unique_ptr<tg::Variable<double>>> of_input;
  Variables(const rg::Program& p) {
    for (std::size_t i = 0; i < p.inputs.size(); ++i)
      of_input.push_back(p.inputs[i].kind == rg::InputKind::constant
                             ? nullptr
                             : std::make_unique<tg::Variable<double>>(
                                   p.inputs[i].value, "x" + std::to_string(i),
                                   p.inputs[i].kind == rg::InputKind::variable));
  }
  void assign(const Tensors& values) {
    for (std::size_t i = 0; i < of_input.size(); ++i)
      if (of_input[i]) of_input[i]->assign(values[i]);
  }
};

/// The program's targets and its main tape's gradients for every input it watches, with the
/// generator's output weights; constants are `args`, variables are read from `vars`.
Tensors run(const rg::Program& p, const Variables& vars, const Tensors& args,
            const Tensors& weights) {
  auto read = [&](int i) {
    const auto k = static_cast<std::size_t>(i);
    return vars.of_input[k] ? vars.of_input[k]->value() : args[k];
  };
  std::unique_ptr<tg::GradientTape> outer;
  if (p.setup.nested) {
    outer = std::make_unique<tg::GradientTape>(
        tg::TapeOptions{p.setup.outer_persistent, p.setup.outer_watch_accessed_variables});
  }
  tg::GradientTape tape(tg::TapeOptions{p.setup.persistent, p.setup.watch_accessed_variables});
  auto watch = [&](tg::GradientTape& t, std::size_t i) {
    if (vars.of_input[i])
      t.watch(*vars.of_input[i]);
    else
      t.watch(args[i]);
  };
  for (std::size_t i = 0; i < p.inputs.size(); ++i) {
    if (outer && p.inputs[i].outer_watched) watch(*outer, i);
    if (p.inputs[i].watched) watch(tape, i);
  }
  rg::Execution how{nullptr, false, &tape, nullptr};
  how.reset = [&] {
    tape.reset();
    for (std::size_t i = 0; i < p.inputs.size(); ++i)
      if (p.inputs[i].watched) watch(tape, i);
  };
  const Tensors nodes = rg::execute(p, read, how);
  Tensors out;
  for (int k : p.targets) {
    const rg::Step& s = p.steps[static_cast<std::size_t>(k)];
    out.push_back(s.op == rg::Op::input ? read(s.index) : nodes[static_cast<std::size_t>(k)]);
  }
  if (p.setup.stop_before_gradient) tape.stop();
  std::vector<tg::Source<double>> sources;
  for (std::size_t i = 0; i < p.inputs.size(); ++i)
    sources.push_back(vars.of_input[i] ? tg::Source<double>(*vars.of_input[i])
                                       : tg::Source<double>(args[i]));
  const Tensors targets = out;
  for (auto& g : tape.gradient(targets, sources, weights)) out.push_back(g);
  return out;
}

bool same_bits(const Tensors& a, const Tensors& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k) {
    if (a[k].has_value() != b[k].has_value()) return false;
    if (!a[k].has_value()) continue;
    if (!rg::check_detail::same_bits(a[k], b[k])) return false;
  }
  return true;
}

Tensors moved(const Tensors& values, double scale) {
  Tensors out;
  for (const auto& x : values) {
    std::vector<double> v = x.to_vector();
    for (double& e : v) e *= scale;
    out.emplace_back(x.shape(), v);
  }
  return out;
}

}  // namespace

TEST_CASE("Random programs, traced and replayed at fresh inputs, equal their eager runs",
          "[replay][random_graph]") {
  std::size_t replayed = 0, refused = 0, eager_failed = 0;
  for (std::uint64_t index = 0; index < 300; ++index) {
    const rg::Program p = rg::generate(rg::program_seed(20261206, index));
    if (p.inputs.size() > max_inputs) continue;
    INFO("program seed " << rg::hex(p.seed));
    const Tensors weights = rg::output_weights(p);
    Variables traced_vars(p), eager_vars(p);
    auto body = [&](const Tensors& args) { return run(p, traced_vars, args, weights); };
    // Six tensor arguments; a program uses its first p.inputs.size().
    auto f = tg::function([&](const Tensor<double>& a, const Tensor<double>& b,
                              const Tensor<double>& c, const Tensor<double>& d,
                              const Tensor<double>& e, const Tensor<double>& g) {
      return body(Tensors{a, b, c, d, e, g});
    });
    auto call = [&](const Tensors& values) {
      Tensors args = values;
      args.resize(max_inputs, Tensor<double>(0.0));
      traced_vars.assign(values);
      return f(args[0], args[1], args[2], args[3], args[4], args[5]);
    };
    auto eager = [&](const Tensors& values) {
      Tensors args = values;
      args.resize(max_inputs, Tensor<double>(0.0));
      eager_vars.assign(values);
      return run(p, eager_vars, args, weights);
    };
    Tensors base;
    for (const auto& in : p.inputs) base.push_back(in.value);
    Tensors traced, expected;
    try {
      expected = eager(base);
    } catch (const tg::error&) {
      ++eager_failed;  // a program the generator made for finite differences only
      continue;
    }
    try {
      traced = call(base);
    } catch (const tg::trace_error& e) {
      INFO(e.what());
      ++refused;
      CHECK(false);
      continue;
    }
    CHECK(same_bits(traced, expected));
    for (double scale : {0.5, 1.5}) {
      const Tensors fresh = moved(base, scale);
      Tensors expected_there;
      try {
        expected_there = eager(fresh);
      } catch (const tg::error&) {
        continue;
      }
      CHECK(same_bits(call(fresh), expected_there));
      ++replayed;
    }
    CHECK(f.trace_count() == 1);
  }
  std::printf(
      "replay on random programs: %zu replays equal to eager; %zu programs refused; "
      "%zu not run\n",
      replayed, refused, eager_failed);
  CHECK(replayed > 300);
}
