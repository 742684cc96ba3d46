#pragma once

// Random-program differential testing (issue 7, item 1).
//
// A seeded generator builds random straight-line programs in double, up to 20 ops deep:
// elementwise ops from the op registry (tests/op_registry.hpp), some of them wrapped in
// custom_gradient; the broadcasting binary ops; reductions over axes with keepdims; reshape,
// transpose, broadcast_to; matmul; stop_gradient; and every other registry row (softmax,
// norms, slicing, gather, conv2d, ...) where its shapes fit. Inputs of random broadcast-
// compatible shapes (0-d, size-1 and empty axes) are variables (trainable or not), watched
// constants and unwatched constants; the tapes are persistent or not, nested or not, watch
// accessed variables or not, and some steps run under stop_recording() or after a reset().
// A program is data (a list of steps), so one description serves three purposes: it runs
// under tapegrad's tapes, it runs again without tapes for finite differences, and it prints
// as C++ that reproduces it, ready to become a regression test.
//
// check_program() then compares, in double:
//   (1) every tape's gradient with respect to every input with central finite differences,
//       and which inputs get no gradient at all (unwatched, unconnected, cut by
//       stop_gradient, stop_recording() or reset()) with the structure of the program;
//   (2) on every other program, second derivatives from nested tapes, and from a persistent
//       tape differentiating its own gradient, with finite differences of first derivatives
//       (as gradgradcheck does);
//   (3) repeated gradient() calls on a persistent tape bit for bit, a source listed twice,
//       and the zero-upstream and UnconnectedGradients::zero forms against the plain one;
//   (4) <v, J u> from output_gradients (a vector-Jacobian product) with the finite
//       difference along u, and J^T v from tape.jacobian with the same product.
// Tolerances are gradcheck's (eps 1e-6, atol 1e-5, rtol 1e-3).

#include <tapegrad/tapegrad.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "op_registry.hpp"

namespace tapegrad_test::random_graph {

namespace tg = tapegrad;
using tg::Shape;
using tg::Tensor;

// ---------------------------------------------------------------------------------------
// Random numbers and numbers in print
// ---------------------------------------------------------------------------------------

// NOTE [ Portable random programs ]
// A seed names a program, so that a seed printed by a failing run reproduces it. Every draw
// is made from the raw output of std::mt19937_64, which the standard fixes, not through the
// <random> distributions, which it does not. The generator also looks at values computed by
// the math library (to keep operands where ops are smooth), so on another platform a seed
// may name a slightly different program; the printed C++ reproduces it anywhere. The
// constants a program holds are rounded to a few decimal digits, so that they print short
// and read back to the same double.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}
  /// Uniform in [0, 1), from the top 53 bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Uniform in [0, n).
  int below(std::size_t n) { return static_cast<int>(engine_() % n); }
  bool chance(double p) { return uniform() < p; }
  std::uint64_t bits() { return engine_(); }
  /// An index drawn with the given relative weights.
  int weighted(const std::vector<double>& weights) {
    double total = 0;
    for (double w : weights) total += w;
    double r = uniform() * total;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      if (r < weights[i]) return static_cast<int>(i);
      r -= weights[i];
    }
    return static_cast<int>(weights.size()) - 1;
  }
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (std::size_t i = v.size(); i > 1; --i)
      std::swap(v[i - 1], v[static_cast<std::size_t>(below(i))]);
  }

 private:
  std::mt19937_64 engine_;
};

/// The seed of program `index` of a run that starts from `base` (splitmix64, so that
/// neighbouring indices give unrelated programs).
inline std::uint64_t program_seed(std::uint64_t base, std::uint64_t index) {
  std::uint64_t z = base + 0x9e3779b97f4a7c15ull * (index + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// x rounded to `digits` decimals; the division makes the result the double nearest to
/// k / 10^digits, which prints back in `digits` decimals.
inline double round_decimals(double x, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(x * scale) / scale;
}

/// x rounded to `digits` significant digits (x != 0).
inline double round_significant(double x, int digits) {
  if (x == 0 || !std::isfinite(x)) return x;
  const int decimals = digits - 1 - static_cast<int>(std::floor(std::log10(std::abs(x))));
  if (decimals >= 0) return round_decimals(x, decimals);
  const double unit = std::pow(10.0, -decimals);
  return std::round(x / unit) * unit;
}

/// The shortest decimal that reads back as x, as a C++ double literal.
inline std::string number(double x) {
  char buffer[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, x);
    if (std::strtod(buffer, nullptr) == x) break;
  }
  std::string s = buffer;
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

inline std::string hex(std::uint64_t v) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "0x%016llx", static_cast<unsigned long long>(v));
  return buffer;
}

// ---------------------------------------------------------------------------------------
// Elementwise ops from the registry
// ---------------------------------------------------------------------------------------

/// A registry row for a one-input, shape-preserving elementwise op (the rows that carry a
/// scalar `reference`), with the interval where it is smooth.
struct UnaryOp {
  std::string op, variant;
  std::function<Tensor<double>(const Inputs&)> f;
  std::function<double(double)> reference;
  /// The "ordinary" sample range of the row: the op is smooth and well conditioned there.
  double lo = 0, hi = 0;
  /// How a printed program spells it, '@' standing for the operand.
  std::string pattern;
};

/// How a printed program spells a registry row. Rows named after a public function with no
/// variant call it with the operand alone; the others are spelled out here, and a row this
/// table does not know prints as a call through the registry (registry_unary), which is
/// exactly what ran.
inline std::string unary_pattern(const std::string& op, const std::string& variant) {
  static const std::map<std::pair<std::string, std::string>, std::string> spelled = {
      {{"operator-", ""}, "-@"},
      {{"clip_by_value", ""}, "tg::clip_by_value(@, -0.5, 0.8)"},
      {{"pow", "tensor ^ scalar"}, "tg::pow(@, 2.5)"},
      {{"pow", "scalar ^ tensor"}, "tg::pow(2.0, @)"},
      {{"operator+", "tensor + scalar"}, "@ + 2.5"},
      {{"operator-", "scalar - tensor"}, "2.5 - @"},
      {{"operator*", "scalar * tensor"}, "3.0 * @"},
      {{"operator/", "scalar / tensor"}, "1.5 / @"},
      {{"operator/", "tensor / scalar"}, "@ / 4.0"},
  };
  const auto it = spelled.find({op, variant});
  if (it != spelled.end()) return it->second;
  const bool identifier = !op.empty() && std::all_of(op.begin(), op.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
  if (variant.empty() && identifier) return "tg::" + op + "(@)";
  return "tapegrad_test::random_graph::registry_unary(\"" + op + "\", \"" + variant + "\")(@)";
}

/// Every registry row with a scalar reference, with its smooth interval taken from the row's
/// own samples (those labelled "shape ...": the ordinary range, not the small or large
/// magnitudes).
inline const std::vector<UnaryOp>& unary_ops() {
  static const std::vector<UnaryOp> ops = [] {
    std::vector<UnaryOp> out;
    for (const OpRow& row : op_registry()) {
      if (!row.reference) continue;
      double lo = HUGE_VAL, hi = -HUGE_VAL;
      for (const OpSample& s : row.samples) {
        if (s.label.rfind("shape ", 0) != 0 || s.inputs.size() != 1) continue;
        for (double v : s.inputs[0].to_vector()) lo = std::min(lo, v), hi = std::max(hi, v);
      }
      if (!(hi > lo)) continue;
      out.push_back(
          {row.op, row.variant, row.f, row.reference, lo, hi, unary_pattern(row.op, row.variant)});
    }
    return out;
  }();
  return ops;
}

/// A registry row as a function of one tensor, for printed programs (see unary_pattern).
inline std::function<Tensor<double>(const Tensor<double>&)> registry_unary(
    const std::string& op, const std::string& variant = "") {
  for (const UnaryOp& u : unary_ops())
    if (u.op == op && u.variant == variant) {
      auto f = u.f;
      return [f](const Tensor<double>& x) { return f({x}); };
    }
  throw std::invalid_argument("registry_unary: no elementwise row " + op + " " + variant);
}

/// f(x) as an op of its own, made with tg::custom_gradient: its gradient function
/// differentiates f again on a tape of its own, so it is written with ops and an outer tape
/// can differentiate it once more.
inline Tensor<double> through_custom_gradient(const std::function<Tensor<double>(const Inputs&)>& f,
                                              const Tensor<double>& x) {
  const auto op = tg::custom_gradient([f](const Tensor<double>& in) {
    return std::make_pair(f({in}), [f, in](const Tensor<double>& g) {
      tg::GradientTape tape;
      tape.watch(in);
      const Tensor<double> y = f({in});
      return tape.gradient(std::vector<Tensor<double>>{y}, std::vector<tg::Source<double>>{in},
                           std::vector<Tensor<double>>{g})[0];
    });
  });
  return op(x);
}

/// A unary registry row through custom_gradient, for printed programs.
///   auto y = tapegrad_test::random_graph::custom_unary("sin")(x);
inline std::function<Tensor<double>(const Tensor<double>&)> custom_unary(
    const std::string& op, const std::string& variant = "") {
  for (const UnaryOp& u : unary_ops())
    if (u.op == op && u.variant == variant) {
      auto f = u.f;
      return [f](const Tensor<double>& x) { return through_custom_gradient(f, x); };
    }
  throw std::invalid_argument("custom_unary: no elementwise row " + op + " " + variant);
}

/// Any other registry row (one or two inputs, gradcheck's default tolerances): reductions,
/// shape and indexing ops, linear algebra, neural-network functions, convolutions.
struct RegistryOp {
  std::string op, variant;
  std::size_t arity = 1;
  std::function<Tensor<double>(const Inputs&)> f;
  /// Per input, the interval of the row's ordinary samples (not the small or large ones).
  std::vector<std::pair<double, double>> domains;
  /// The input shapes of the row's samples.
  std::vector<std::vector<Shape>> shapes;
};

inline const std::vector<RegistryOp>& registry_ops() {
  static const std::vector<RegistryOp> ops = [] {
    const tapegrad::testing::GradcheckOptions defaults;
    std::vector<RegistryOp> out;
    for (const OpRow& row : op_registry()) {
      // Rows with a reference are unary_ops(); rows with their own tolerances are not smooth
      // enough in double for finite differences at gradcheck's (a detour through float).
      if (row.reference || row.samples.empty() || row.options.eps != defaults.eps ||
          row.options.atol != defaults.atol || row.options.rtol != defaults.rtol)
        continue;
      RegistryOp r{row.op, row.variant, row.samples[0].inputs.size(), row.f, {}, {}};
      if (r.arity < 1 || r.arity > 2) continue;
      r.domains.assign(r.arity, {HUGE_VAL, -HUGE_VAL});
      for (const OpSample& sample : row.samples) {
        if (sample.inputs.size() != r.arity) continue;
        std::vector<Shape> shapes;
        for (const auto& x : sample.inputs) shapes.push_back(x.shape());
        r.shapes.push_back(shapes);
        if (sample.label.find("magnitudes") != std::string::npos) continue;
        for (std::size_t i = 0; i < r.arity; ++i)
          for (double v : sample.inputs[i].to_vector())
            r.domains[i] = {std::min(r.domains[i].first, v), std::max(r.domains[i].second, v)};
      }
      bool ok = true;
      for (const auto& d : r.domains) ok = ok && d.second > d.first;
      if (ok) out.push_back(std::move(r));
    }
    return out;
  }();
  return ops;
}

/// A registry row's function, for printed programs: registry_row("softmax", "last axis",
/// 1)({x}). The arity tells apart rows of the same name (the unary and binary operator-).
inline std::function<Tensor<double>(const Inputs&)> registry_row(const std::string& op,
                                                                 const std::string& variant,
                                                                 std::size_t arity) {
  for (const RegistryOp& r : registry_ops())
    if (r.op == op && r.variant == variant && r.arity == arity) return r.f;
  throw std::invalid_argument("registry_row: no row " + op + " (" + variant + ") of " +
                              std::to_string(arity) + " inputs");
}

/// Whether a function g of one variable, near t = 0, is smooth: central differences at two
/// step sizes agree (no kink or jump within about 4e-3, where they would see it differently),
/// and the one-sided differences part as curvature does, in proportion to the step (a kink at
/// t = 0 itself parts them by the same amount at every step, and central differences, being
/// symmetric, miss one there). A false alarm only makes the generator try elsewhere, so the
/// test is strict.
inline bool smooth_at_zero(const std::function<double(double)>& g) {
  const double h = 4e-3, g0 = g(0);
  const double up = g(h), down = g(-h), up4 = g(h / 4), down4 = g(-h / 4);
  const double coarse = (up - down) / (2 * h), fine = (up4 - down4) / (h / 2);
  const double parted = (up - 2 * g0 + down) / h, parted4 = (up4 - 2 * g0 + down4) / (h / 4);
  if (!std::isfinite(coarse) || !std::isfinite(fine) || !std::isfinite(parted) ||
      !std::isfinite(parted4))
    return false;
  return std::abs(coarse - fine) <= 1e-5 + 1e-4 * std::abs(fine) &&
         std::abs(parted4 - parted / 4) <= 1e-5 + 1e-3 * std::abs(parted);
}

/// True when f is not smooth within about 4e-3 of x (see smooth_at_zero).
inline bool near_kink(const std::function<double(double)>& f, double x) {
  return !smooth_at_zero([&](double t) { return f(x + t); });
}

/// near_kink for a function of tensors: the directional derivative of <c, f(x)> along random
/// directions, at two step sizes, for random output weights c. A kink within about 4e-3 of x
/// (a tie in a max, a branch of a where, huber's switch) shows in almost every direction.
inline bool locally_smooth(const std::function<Tensor<double>(const Inputs&)>& f, const Inputs& x,
                           std::uint64_t seed) {
  Rng rng(seed);
  const Tensor<double> y = f(x);
  std::vector<double> c(static_cast<std::size_t>(y.size()));
  for (double& e : c) e = rng.uniform(-1, 1);
  for (int direction = 0; direction < 3; ++direction) {
    Inputs r;
    for (const auto& t : x) {
      std::vector<double> d(static_cast<std::size_t>(t.size()));
      for (double& e : d) e = rng.uniform(-1, 1);
      r.push_back(Tensor<double>(t.shape(), d));
    }
    const bool smooth = smooth_at_zero([&](double h) {
      Inputs moved;
      for (std::size_t i = 0; i < x.size(); ++i) moved.push_back(x[i] + r[i] * h);
      const Tensor<double> fy = f(moved);
      double s = 0;
      for (std::int64_t i = 0; i < fy.size(); ++i)
        s += c[static_cast<std::size_t>(i)] * fy.data()[i];
      return s;
    });
    if (!smooth) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Programs
// ---------------------------------------------------------------------------------------

enum class InputKind { variable, untrainable_variable, constant };

struct Input {
  InputKind kind = InputKind::constant;
  Tensor<double> value;
  bool watched = false;        // tape.watch(x) on the main tape
  bool outer_watched = false;  // outer.watch(x), when an outer tape records too
};

enum class Op {
  input,
  unary,
  affine,
  squash,
  add,
  sub,
  mul,
  div,
  maximum,
  minimum,
  pow,
  atan2,
  squared_difference,
  sum,
  mean,
  max,
  min,
  logsumexp,
  reshape,
  transpose,
  broadcast_to,
  matmul,
  stop_gradient,
  row,
  custom
};

inline const char* op_name(Op op) {
  static const char* const names[] = {"input",
                                      "unary",
                                      "affine",
                                      "squash",
                                      "add",
                                      "sub",
                                      "mul",
                                      "div",
                                      "maximum",
                                      "minimum",
                                      "pow",
                                      "atan2",
                                      "squared_difference",
                                      "sum",
                                      "mean",
                                      "max",
                                      "min",
                                      "logsumexp",
                                      "reshape",
                                      "transpose",
                                      "broadcast_to",
                                      "matmul",
                                      "stop_gradient",
                                      "row",
                                      "custom"};
  return names[static_cast<int>(op)];
}

/// One node of a program. Node k is the value of steps[k]; operands name earlier nodes.
struct Step {
  Op op = Op::input;
  int a = -1, b = -1;
  /// Op::input: which input; Op::unary and Op::custom: which unary_ops() row; Op::row: which
  /// registry_ops() row.
  int index = -1;
  /// affine: a * scale + shift; squash: sigmoid(a) * scale + shift (maps into an interval).
  double scale = 1, shift = 0;
  /// Reductions: the axes (negative ones count from the end); empty reduces everything.
  std::vector<int> axes;
  bool keepdims = false;
  /// reshape: the new dimensions (one may be -1); broadcast_to: the new shape.
  std::vector<std::int64_t> dims;
  /// transpose: the permutation; empty reverses the axes.
  std::vector<int> perm;
  bool transpose_a = false, transpose_b = false;
  /// Runs while the main tape's recording is paused (tape.stop_recording()): for the main
  /// tape its value is a constant, as a stop_gradient's; other tapes record it.
  bool paused = false;
};

/// The tapes a program runs under.
struct TapeSetup {
  bool persistent = false;
  bool watch_accessed_variables = true;
  /// An outer tape, created first, records the program as well (and the main tape's
  /// gradient computation).
  bool nested = false;
  bool outer_persistent = false;
  bool outer_watch_accessed_variables = true;
  /// tape.stop() after the program, before gradient().
  bool stop_before_gradient = false;
  bool outer_destroyed_first = false;
};

struct Program {
  std::uint64_t seed = 0;
  std::vector<Input> inputs;
  std::vector<Step> steps;
  std::vector<int> targets;
  TapeSetup setup;
  /// When >= 0, the main tape is reset() just before this step (and watches its watched
  /// inputs again): for it, every node computed before is a constant.
  int reset_at = -1;
  /// When >= 0, gradient() is also asked for this input a second time, at the end of the
  /// sources.
  int duplicate_source = -1;
};

/// Whether input i is differentiable on the main tape (outer == false) or the outer one:
/// watched explicitly, or a trainable variable read while the tape watches accessed variables.
inline bool differentiable(const Program& p, std::size_t i, bool outer) {
  const Input& in = p.inputs[i];
  const bool watched = outer ? in.outer_watched : in.watched;
  const bool accessed =
      outer ? p.setup.outer_watch_accessed_variables : p.setup.watch_accessed_variables;
  return watched || (in.kind == InputKind::variable && accessed);
}

/// Whether node k is a constant input, which the main tape watches again after a reset. A
/// variable is different: each read gives a new tensor.
inline bool is_constant_input(const Program& p, int k) {
  const Step& s = p.steps[static_cast<std::size_t>(k)];
  return s.op == Op::input &&
         p.inputs[static_cast<std::size_t>(s.index)].kind == InputKind::constant;
}

/// Whether the main tape sees node k as a constant: it ran paused, or before the reset (and
/// is not a constant input, which the tape watches again after the reset).
inline bool constant_for_main_tape(const Program& p, int k) {
  const Step& s = p.steps[static_cast<std::size_t>(k)];
  return s.paused || (k < p.reset_at && !is_constant_input(p, k));
}

/// For each input, whether some target depends on it along a path that no stop_gradient
/// cuts (nor, for the main tape, a step run while it was paused). A differentiable input gets
/// a gradient (possibly zeros) exactly when it does.
inline std::vector<bool> connected_inputs(const Program& p, bool main_tape) {
  std::vector<bool> live(p.steps.size(), false), out(p.inputs.size(), false);
  for (int t : p.targets) live[static_cast<std::size_t>(t)] = true;
  for (std::size_t k = p.steps.size(); k-- > 0;) {
    if (!live[k]) continue;
    const Step& s = p.steps[k];
    if (s.op == Op::input) {
      out[static_cast<std::size_t>(s.index)] = true;
    } else if (s.op != Op::stop_gradient &&
               !(main_tape && constant_for_main_tape(p, static_cast<int>(k)))) {
      live[static_cast<std::size_t>(s.a)] = true;
      if (s.b >= 0) live[static_cast<std::size_t>(s.b)] = true;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Running a program
// ---------------------------------------------------------------------------------------

inline Tensor<double> reduce(const Step& s, const Tensor<double>& x) {
  const bool all = s.axes.empty(), one = s.axes.size() == 1;
  const int axis = one ? s.axes[0] : 0;
  switch (s.op) {
    case Op::sum:
      return all ? tg::sum(x) : one ? tg::sum(x, axis, s.keepdims) : tg::sum(x, s.axes, s.keepdims);
    case Op::mean:
      return all   ? tg::mean(x)
             : one ? tg::mean(x, axis, s.keepdims)
                   : tg::mean(x, s.axes, s.keepdims);
    case Op::max:
      return all ? tg::max(x) : one ? tg::max(x, axis, s.keepdims) : tg::max(x, s.axes, s.keepdims);
    case Op::min:
      return all ? tg::min(x) : one ? tg::min(x, axis, s.keepdims) : tg::min(x, s.axes, s.keepdims);
    case Op::logsumexp:
      return all   ? tg::logsumexp(x)
             : one ? tg::logsumexp(x, axis, s.keepdims)
                   : tg::logsumexp(x, s.axes, s.keepdims);
    default:
      throw std::logic_error("random_graph::reduce: not a reduction");
  }
}

/// The value of one step from the values of its operands (b is unused by one-operand steps).
/// Each case is the expression to_cpp() prints for it, op for op.
inline Tensor<double> apply(const Step& s, const Tensor<double>& a, const Tensor<double>& b) {
  switch (s.op) {
    case Op::unary:
      return unary_ops()[static_cast<std::size_t>(s.index)].f({a});
    case Op::affine: {
      const Tensor<double> scaled = s.scale == 1 ? a : a * s.scale;
      return s.shift == 0 ? scaled : scaled + s.shift;
    }
    case Op::squash:
      return tg::sigmoid(a) * s.scale + s.shift;
    case Op::add:
      return a + b;
    case Op::sub:
      return a - b;
    case Op::mul:
      return a * b;
    case Op::div:
      return a / b;
    case Op::maximum:
      return tg::maximum(a, b);
    case Op::minimum:
      return tg::minimum(a, b);
    case Op::pow:
      return tg::pow(a, b);
    case Op::atan2:
      return tg::atan2(a, b);
    case Op::squared_difference:
      return tg::squared_difference(a, b);
    case Op::sum:
    case Op::mean:
    case Op::max:
    case Op::min:
    case Op::logsumexp:
      return reduce(s, a);
    case Op::reshape:
      return tg::reshape(a, s.dims);
    case Op::transpose:
      return tg::transpose(a, s.perm);
    case Op::broadcast_to:
      return tg::broadcast_to(a, Shape(s.dims.begin(), s.dims.end()));
    case Op::matmul:
      return tg::matmul(a, b, s.transpose_a, s.transpose_b);
    case Op::stop_gradient:
      return tg::stop_gradient(a);
    case Op::custom:
      return through_custom_gradient(unary_ops()[static_cast<std::size_t>(s.index)].f, a);
    case Op::row:
      return registry_ops()[static_cast<std::size_t>(s.index)].f(b.has_value() ? Inputs{a, b}
                                                                               : Inputs{a});
    case Op::input:
      break;
  }
  throw std::logic_error("random_graph::apply: an input is not a step");
}

/// How execute() treats stop_gradient and paused steps (see NOTE [ Finite differences and
/// stop_gradient ]).
struct Execution {
  /// When set, every stop_gradient node takes its value from here instead of being computed.
  const std::vector<Tensor<double>>* frozen = nullptr;
  /// ... and so does every paused step and every step before the reset (finite differences
  /// for the main tape).
  bool freeze_main = false;
  /// The tape whose recording paused steps pause.
  tg::GradientTape* tape = nullptr;
  /// Called just before step reset_at: resets the tape and watches the inputs again.
  std::function<void()> reset;
};

/// Runs the program; read(i) gives input i and is called at every use, so a variable is read
/// once per op that uses it, as in the printed program. Input nodes are left without a value.
inline std::vector<Tensor<double>> execute(const Program& p,
                                           const std::function<Tensor<double>(int)>& read,
                                           const Execution& how = {}) {
  std::vector<Tensor<double>> nodes(p.steps.size());
  auto operand = [&](int k) -> Tensor<double> {
    if (k < 0) return Tensor<double>();
    const Step& s = p.steps[static_cast<std::size_t>(k)];
    return s.op == Op::input ? read(s.index) : nodes[static_cast<std::size_t>(k)];
  };
  for (std::size_t k = 0; k < p.steps.size(); ++k) {
    const Step& s = p.steps[k];
    if (s.op == Op::input) continue;
    if (static_cast<int>(k) == p.reset_at && how.reset) how.reset();
    if (how.frozen && (s.op == Op::stop_gradient ||
                       (how.freeze_main && constant_for_main_tape(p, static_cast<int>(k))))) {
      nodes[k] = (*how.frozen)[k];
    } else if (s.paused && how.tape && how.tape->recording()) {
      const auto pause = how.tape->stop_recording();
      nodes[k] = apply(s, operand(s.a), operand(s.b));
    } else {
      nodes[k] = apply(s, operand(s.a), operand(s.b));
    }
  }
  return nodes;
}

// ---------------------------------------------------------------------------------------
// Generating
// ---------------------------------------------------------------------------------------

struct GenerateOptions {
  /// Ops chosen per program: 1 to max_depth (the maps that keep operands in an op's smooth
  /// interval come on top).
  int max_depth = 20;
  /// No node holds more elements than this (keeps finite differences cheap).
  std::int64_t max_elements = 24;
  std::size_t max_inputs = 6;
};

/// Row-major groups of the elements a reduction over `axes` combines.
inline std::vector<std::vector<double>> reduction_groups(const Tensor<double>& x,
                                                         const std::vector<int>& axes) {
  const Shape& s = x.shape();
  const int rank = s.rank();
  std::vector<bool> reduced(static_cast<std::size_t>(rank), axes.empty());
  for (int a : axes) reduced[static_cast<std::size_t>(a < 0 ? a + rank : a)] = true;
  std::map<std::int64_t, std::vector<double>> groups;
  std::vector<std::int64_t> index(static_cast<std::size_t>(rank), 0);
  for (std::int64_t flat = 0; flat < x.size(); ++flat) {
    std::int64_t rest = flat, key = 0;
    for (int d = rank - 1; d >= 0; --d) {
      index[static_cast<std::size_t>(d)] = rest % s[d];
      rest /= s[d];
    }
    for (int d = 0; d < rank; ++d)
      if (!reduced[static_cast<std::size_t>(d)])
        key = key * s[d] + index[static_cast<std::size_t>(d)];
    groups[key].push_back(x.data()[flat]);
  }
  std::vector<std::vector<double>> out;
  for (auto& g : groups) out.push_back(std::move(g.second));
  return out;
}

/// Builds one random program (see NOTE [ Keeping finite differences meaningful ]).
class Generator {
 public:
  explicit Generator(std::uint64_t seed, GenerateOptions options = {})
      : rng_(seed), options_(options) {
    program_.seed = seed;
  }

  Program generate() {
    const int initial = 1 + rng_.below(3);
    for (int i = 0; i < initial; ++i) current_ = add_input(random_shape());
    const int depth = 1 + rng_.below(static_cast<std::size_t>(options_.max_depth));
    for (int d = 0; d < depth; ++d) {
      for (int attempt = 0; attempt < 8; ++attempt)
        if (random_step()) break;
      keep_bounded();
    }
    if (program_.steps[static_cast<std::size_t>(current_)].op == Op::input) {
      Step s;
      s.op = Op::affine;
      s.a = current_;
      s.scale = 1.5;
      current_ = push(s, apply_to_values(s));
    }
    program_.targets.push_back(current_);
    if (rng_.chance(0.25)) {
      // A second target: another node, sometimes an input itself or the first target again
      // (whose gradients add up).
      const int kind = rng_.weighted({0.8, 0.1, 0.1});
      std::vector<int> others;
      for (std::size_t k = 0; k < program_.steps.size(); ++k)
        if ((kind == 1) == is_input(static_cast<int>(k)) && static_cast<int>(k) != current_)
          others.push_back(static_cast<int>(k));
      if (kind == 2)
        program_.targets.push_back(current_);
      else if (!others.empty())
        program_.targets.push_back(others[static_cast<std::size_t>(rng_.below(others.size()))]);
    }
    if (rng_.chance(0.1)) {
      std::vector<int> steps;
      for (std::size_t k = 0; k < program_.steps.size(); ++k)
        if (!is_input(static_cast<int>(k))) steps.push_back(static_cast<int>(k));
      program_.reset_at = steps[static_cast<std::size_t>(rng_.below(steps.size()))];
    }
    if (rng_.chance(0.2)) program_.duplicate_source = rng_.below(program_.inputs.size());
    TapeSetup& t = program_.setup;
    t.persistent = rng_.chance(0.5);
    t.watch_accessed_variables = rng_.chance(0.85);
    t.nested = rng_.chance(0.35);
    t.outer_persistent = rng_.chance(0.5);
    t.outer_watch_accessed_variables = rng_.chance(0.85);
    t.stop_before_gradient = rng_.chance(0.2);
    t.outer_destroyed_first = rng_.chance(0.5);
    for (Input& in : program_.inputs) {
      if (in.kind == InputKind::constant) {
        in.watched = rng_.chance(0.65);
        in.outer_watched = t.nested && rng_.chance(0.5);
      } else {
        // Watching a variable explicitly matters when the tape does not watch accessed
        // variables, or the variable is not trainable.
        in.watched = rng_.chance(0.3);
        in.outer_watched = t.nested && rng_.chance(0.3);
      }
    }
    return std::move(program_);
  }

 private:
  // NOTE [ Keeping finite differences meaningful ]
  // The generator evaluates every step at the base point as it goes, and uses the values:
  //  - an elementwise op gets its operand inside the op's smooth interval (the registry
  //    row's ordinary sample range, less a 4% margin), mapped there by an affine step
  //    (a * s + t) or a squashing step (sigmoid(a) * s + t) when it is not already;
  //  - no element of an op's operand lies within about 4e-3 of a kink or jump of the op
  //    (near_kink on the row's reference; ties of maximum/minimum and of max/min reductions
  //    the same way), so a finite-difference step of 1e-6 never crosses one;
  //  - denominators are kept in [0.5, 2.5] (or its negative), pow's base in [0.4, 2.5] and
  //    exponent in [-2, 2], atan2's second argument in [0.3, 2.5];
  //  - any other registry row is used only where locally_smooth finds it smooth;
  //  - a node whose magnitude exceeds 6 is scaled back, so values and rounding errors stay
  //    small and the finite differences accurate.
  // Inputs hold some elements that are exactly 0, +-0.5 or +-1, or repeat another element,
  // so that ops built from abs, max or clipping are also tried where they switch branches
  // but the function they compute is smooth (that is how huber's second derivative at
  // a == b was found to be 0 instead of 1; tests/random_graph_test.cpp pins the fix).

  double magnitude(const Tensor<double>& t) const {
    double m = 0;
    for (std::int64_t i = 0; i < t.size(); ++i) m = std::max(m, std::abs(t.data()[i]));
    return m;
  }
  Shape shape_of(int k) const { return values_[static_cast<std::size_t>(k)].shape(); }
  const Tensor<double>& value_of(int k) const { return values_[static_cast<std::size_t>(k)]; }
  bool is_input(int k) const { return program_.steps[static_cast<std::size_t>(k)].op == Op::input; }

  int push(Step s, const Tensor<double>& value) {
    program_.steps.push_back(s);
    values_.push_back(value);
    return static_cast<int>(program_.steps.size()) - 1;
  }
  Tensor<double> apply_to_values(const Step& s) const {
    return apply(s, value_of(s.a), s.b >= 0 ? value_of(s.b) : Tensor<double>());
  }
  /// Evaluates and appends s unless its value is too large or not finite; the new node or -1.
  int emit(const Step& s) {
    const Tensor<double> y = apply_to_values(s);
    if (y.size() > options_.max_elements) return -1;
    for (std::int64_t i = 0; i < y.size(); ++i)
      if (!std::isfinite(y.data()[i])) return -1;
    return push(s, y);
  }

  Shape random_shape() {
    Shape s;
    const int rank = rng_.weighted({0.15, 0.3, 0.35, 0.15, 0.05});
    for (int i = 0; i < rank; ++i) {
      const std::int64_t d = rng_.chance(0.02) ? 0 : 1 + rng_.weighted({0.3, 0.35, 0.3});
      if (s.size() * std::max<std::int64_t>(d, 1) > options_.max_elements) break;
      s.push_back(d);
    }
    return s;
  }

  int add_input(const Shape& shape) {
    Input in;
    const int kind = rng_.weighted({0.35, 0.05, 0.6});
    in.kind = kind == 0   ? InputKind::variable
              : kind == 1 ? InputKind::untrainable_variable
                          : InputKind::constant;
    std::vector<double> v(static_cast<std::size_t>(shape.size()));
    // Mostly ordinary values; some exactly 0, +-0.5 or +-1, or repeating an earlier element,
    // where ops built from abs, max or clipping switch branches and reductions tie.
    static const double special[] = {0.0, 0.5, -0.5, 1.0, -1.0};
    for (std::size_t i = 0; i < v.size(); ++i) {
      const double r = rng_.uniform();
      v[i] = r < 0.06           ? special[rng_.below(5)]
             : r < 0.1 && i > 0 ? v[static_cast<std::size_t>(rng_.below(i))]
                                : round_decimals(rng_.uniform(-2, 2), 3);
    }
    in.value = Tensor<double>(shape, v);
    program_.inputs.push_back(in);
    Step s;
    s.op = Op::input;
    s.index = static_cast<int>(program_.inputs.size()) - 1;
    return push(s, in.value);
  }

  /// An operand: mostly the latest result, so that programs are deep, sometimes an earlier
  /// node or an input, so that they branch and join.
  int pick() {
    const double r = rng_.uniform();
    if (r < 0.6) return current_;
    std::vector<int> candidates;
    for (std::size_t k = 0; k < program_.steps.size(); ++k)
      if ((r < 0.85) != is_input(static_cast<int>(k))) candidates.push_back(static_cast<int>(k));
    if (candidates.empty()) return current_;
    return candidates[static_cast<std::size_t>(rng_.below(candidates.size()))];
  }

  static bool broadcast_fits(const Shape& a, const Shape& b, std::int64_t limit) {
    const int rank = std::max(a.rank(), b.rank());
    std::int64_t size = 1;
    for (int i = 0; i < rank; ++i) {
      const int ia = i - (rank - a.rank()), ib = i - (rank - b.rank());
      const std::int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
      if (da != db && da != 1 && db != 1) return false;
      size *= da == 1 ? db : da;
    }
    return size <= limit;
  }

  /// A shape that broadcasts with s: s itself, a suffix of it, s with some axes set to 1, or
  /// s with a new leading axis.
  Shape compatible_shape(const Shape& s) {
    std::vector<std::int64_t> d(s.begin(), s.end());
    switch (rng_.weighted({0.3, 0.25, 0.3, 0.15})) {
      case 1:
        d.erase(d.begin(), d.begin() + rng_.below(d.size() + 1));
        break;
      case 2:
        for (auto& e : d)
          if (rng_.chance(0.5)) e = 1;
        break;
      case 3:
        if (d.size() < 4) d.insert(d.begin(), 1 + rng_.below(3));
        for (auto& e : d)
          if (rng_.chance(0.3)) e = 1;
        break;
      default:
        break;
    }
    Shape out(d.begin(), d.end());
    return broadcast_fits(s, out, options_.max_elements) ? out : s;
  }

  /// A second operand for a broadcasting op with a: an earlier node that broadcasts with it,
  /// or a new input.
  int partner(int a) {
    const Shape& sa = shape_of(a);
    if (rng_.chance(0.5) || program_.inputs.size() >= options_.max_inputs) {
      std::vector<int> candidates;
      for (std::size_t k = 0; k < program_.steps.size(); ++k)
        if (broadcast_fits(sa, shape_of(static_cast<int>(k)), options_.max_elements))
          candidates.push_back(static_cast<int>(k));
      if (!candidates.empty())
        return candidates[static_cast<std::size_t>(rng_.below(candidates.size()))];
    }
    if (program_.inputs.size() >= options_.max_inputs) return a;
    return add_input(compatible_shape(sa));
  }

  bool acceptable(const Tensor<double>& t, double lo, double hi,
                  const std::function<double(double)>& reference) const {
    for (std::int64_t i = 0; i < t.size(); ++i) {
      const double v = t.data()[i];
      if (!(v >= lo && v <= hi)) return false;
      if (reference && near_kink(reference, v)) return false;
    }
    return true;
  }

  /// Node (or a new affine or squashing map of it) whose elements all lie within [lo, hi]
  /// less a 4% margin, away from the reference function's kinks; -1 if none was found.
  int map_into(int node, double lo, double hi,
               const std::function<double(double)>& reference = nullptr) {
    const double margin = 0.04 * (hi - lo), ilo = lo + margin, ihi = hi - margin;
    const Tensor<double>& x = value_of(node);
    if (x.size() == 0 || (acceptable(x, ilo, ihi, reference) && rng_.chance(0.85))) return node;
    double mn = HUGE_VAL, mx = -HUGE_VAL;
    for (std::int64_t i = 0; i < x.size(); ++i)
      mn = std::min(mn, x.data()[i]), mx = std::max(mx, x.data()[i]);
    for (int attempt = 0; attempt < 8; ++attempt) {
      const double width = rng_.uniform(0.3, 1.0) * (ihi - ilo);
      const double t0 = ilo + rng_.uniform() * (ihi - ilo - width);
      Step s;
      s.a = node;
      if (rng_.chance(0.25)) {
        s.op = Op::squash;
        s.scale = round_significant(width, 3);
        s.shift = round_decimals(t0, 3);
      } else {
        s.op = Op::affine;
        // A gain above 4 would make the finite differences of tiny ranges ill conditioned.
        double gain = mx - mn > 1e-9 ? std::min(width / (mx - mn), 4.0) : rng_.uniform(0.5, 1.5);
        gain = round_significant(rng_.chance(0.3) ? -gain : gain, 3);
        s.scale = gain;
        s.shift = round_decimals(t0 + width / 2 - gain * (mn + mx) / 2, 3);
      }
      const Tensor<double> y = apply_to_values(s);
      if (acceptable(y, ilo, ihi, reference)) return push(s, y);
    }
    return -1;
  }

  /// b, or b shifted by a constant, so that no pair of broadcast elements of a and b is
  /// closer than 4e-3 (maximum and minimum have a kink where they tie); -1 if none was found.
  int untie(int a, int b) {
    for (int attempt = 0; attempt < 6; ++attempt) {
      const Tensor<double> gap = value_of(a) - value_of(b);
      bool tied = false;
      for (std::int64_t i = 0; i < gap.size(); ++i) tied = tied || std::abs(gap.data()[i]) < 4e-3;
      if (!tied) return b;
      Step s;
      s.op = Op::affine;
      s.a = b;
      s.shift = round_decimals(rng_.uniform(0.05, 0.6) * (rng_.chance(0.5) ? 1 : -1), 3);
      b = push(s, apply_to_values(s));
    }
    return -1;
  }

  bool unary_step() {
    const auto& ops = unary_ops();
    const int index = rng_.below(ops.size());
    const UnaryOp& u = ops[static_cast<std::size_t>(index)];
    const int x = map_into(pick(), u.lo, u.hi, u.reference);
    if (x < 0) return false;
    Step s;
    s.op = rng_.chance(0.12) ? Op::custom : Op::unary;
    s.a = x;
    s.index = index;
    return take(emit(s));
  }

  bool binary_step() {
    static const Op kinds[] = {Op::add, Op::sub,     Op::mul,
                               Op::div, Op::maximum, Op::minimum,
                               Op::pow, Op::atan2,   Op::squared_difference};
    Step s;
    s.op = kinds[rng_.weighted({3, 2, 3, 2, 1.5, 1.5, 1.5, 1, 1})];
    int a = pick(), b = partner(a);
    switch (s.op) {
      case Op::div:
        b = rng_.chance(0.7) ? map_into(b, 0.5, 2.5) : map_into(b, -2.5, -0.5);
        break;
      case Op::pow:
        a = map_into(a, 0.4, 2.5);
        b = map_into(b, -2, 2);
        break;
      case Op::atan2:
        b = map_into(b, 0.3, 2.5);
        break;
      case Op::maximum:
      case Op::minimum:
        b = untie(a, b);
        break;
      default:
        break;
    }
    if (a < 0 || b < 0) return false;
    if (rng_.chance(0.5) && s.op != Op::pow && s.op != Op::div && s.op != Op::atan2)
      std::swap(a, b);  // the broadcast goes either way
    s.a = a;
    s.b = b;
    return take(emit(s));
  }

  bool reduce_step() {
    static const Op kinds[] = {Op::sum, Op::mean, Op::max, Op::min, Op::logsumexp};
    Step s;
    s.op = kinds[rng_.weighted({3, 2, 1.5, 1, 1.5})];
    s.a = pick();
    const Shape& shape = shape_of(s.a);
    const int rank = shape.rank();
    if (rank > 0 && !rng_.chance(0.2)) {
      std::vector<int> axes(static_cast<std::size_t>(rank));
      for (int i = 0; i < rank; ++i) axes[static_cast<std::size_t>(i)] = i;
      rng_.shuffle(axes);
      axes.resize(rank >= 2 && rng_.chance(0.25) ? 2 : 1);
      for (int& a : axes)
        if (rng_.chance(0.4)) a -= rank;  // negative axes count from the end
      s.axes = axes;
      s.keepdims = rng_.chance(0.5);
    }
    const auto groups = reduction_groups(value_of(s.a), s.axes);
    // The mean, max, min and logsumexp of no elements are NaN or infinite.
    if (value_of(s.a).size() == 0) s.op = Op::sum;
    if (s.op == Op::max || s.op == Op::min)
      for (auto g : groups) {
        std::sort(g.begin(), g.end());
        if (g.size() >= 2 &&
            (s.op == Op::max ? g[g.size() - 1] - g[g.size() - 2] : g[1] - g[0]) < 4e-3)
          s.op = Op::logsumexp;  // a near tie: use the smooth maximum instead
      }
    return take(emit(s));
  }

  /// Random dimensions with `size` elements: its prime factors grouped at random, with axes
  /// of size 1 inserted; rank at most 4.
  std::vector<std::int64_t> random_dims(const Shape& shape) {
    std::vector<std::int64_t> dims;
    const std::int64_t size = shape.size();
    if (size == 0) {
      dims.assign(shape.begin(), shape.end());
      rng_.shuffle(dims);
    } else {
      std::int64_t n = size;
      std::vector<std::int64_t> factors;
      for (std::int64_t f = 2; n > 1; ++f)
        while (n % f == 0) factors.push_back(f), n /= f;
      rng_.shuffle(factors);
      for (std::int64_t f : factors) {
        if (dims.empty() || (dims.size() < 4 && rng_.chance(0.5)))
          dims.push_back(f);
        else
          dims[static_cast<std::size_t>(rng_.below(dims.size()))] *= f;
      }
    }
    while (dims.size() < 4 && rng_.chance(0.3))
      dims.insert(dims.begin() + rng_.below(dims.size() + 1), 1);
    if (size > 0 && !dims.empty() && rng_.chance(0.3))
      dims[static_cast<std::size_t>(rng_.below(dims.size()))] = -1;
    return dims;
  }

  bool shape_step() {
    Step s;
    s.a = pick();
    const Shape& shape = shape_of(s.a);
    switch (rng_.weighted({0.4, 0.3, 0.3})) {
      case 0:
        s.op = Op::reshape;
        s.dims = random_dims(shape);
        break;
      case 1: {
        if (shape.rank() < 2) return false;
        s.op = Op::transpose;
        if (rng_.chance(0.75)) {
          s.perm.resize(static_cast<std::size_t>(shape.rank()));
          for (int i = 0; i < shape.rank(); ++i) s.perm[static_cast<std::size_t>(i)] = i;
          rng_.shuffle(s.perm);
        }
        break;
      }
      default: {
        s.op = Op::broadcast_to;
        s.dims.assign(shape.begin(), shape.end());
        for (auto& d : s.dims)
          if (d == 1 && rng_.chance(0.6)) d = 2 + rng_.below(2);
        while (s.dims.size() < 4 && rng_.chance(0.4))
          s.dims.insert(s.dims.begin(), 1 + rng_.below(3));
        break;
      }
    }
    return take(emit(s));
  }

  /// matmul of a node with a node (or a new input) whose shape fits: a vector, a matrix or a
  /// batch of matrices whose batch axes broadcast with a's, either operand transposed.
  bool matmul_step() {
    Step s;
    s.op = Op::matmul;
    s.a = pick();
    const Shape sa = shape_of(s.a);
    const int ra = sa.rank();
    if (ra == 0) return false;
    s.transpose_a = ra >= 2 && rng_.chance(0.3);
    const std::int64_t k = ra == 1 ? sa[0] : sa[s.transpose_a ? ra - 2 : ra - 1];
    const std::int64_t n = 1 + rng_.below(3);
    std::vector<std::int64_t> db;
    const int form = rng_.weighted({0.15, 0.55, 0.3});
    if (form == 0) {
      db = {k};
    } else {
      if (form == 2) {
        const Shape batch = ra > 2 ? Shape(sa.begin(), sa.end() - 2) : Shape{1 + rng_.below(2)};
        const Shape b = compatible_shape(batch);
        db.assign(b.begin(), b.end());
        if (db.size() > 2) db.erase(db.begin(), db.end() - 2);
      }
      s.transpose_b = rng_.chance(0.3);
      db.push_back(s.transpose_b ? n : k);
      db.push_back(s.transpose_b ? k : n);
    }
    const Shape sb(db.begin(), db.end());
    if (sb.size() > options_.max_elements) return false;
    s.b = -1;
    if (rng_.chance(0.4))
      for (std::size_t j = 0; j < program_.steps.size() && s.b < 0; ++j)
        if (shape_of(static_cast<int>(j)) == sb) s.b = static_cast<int>(j);
    if (s.b < 0) {
      if (program_.inputs.size() >= options_.max_inputs) return false;
      s.b = add_input(sb);
    }
    try {
      return take(emit(s));
    } catch (const tg::shape_error&) {
      return false;  // batch axes that do not broadcast after all
    }
  }

  bool stop_step() {
    Step s;
    s.op = Op::stop_gradient;
    s.a = pick();
    const int k = emit(s);
    if (k >= 0 && rng_.chance(0.7)) current_ = k;
    return k >= 0;
  }

  bool take(int k) {
    if (k < 0) return false;
    current_ = k;
    // Sometimes the main tape does not record the step (tape.stop_recording()).
    if (rng_.chance(0.04)) program_.steps[static_cast<std::size_t>(k)].paused = true;
    return true;
  }

  /// A node of exactly this shape: the latest result, an earlier node or a new input.
  int node_of_shape(const Shape& shape) {
    if (shape_of(current_) == shape && rng_.chance(0.7)) return current_;
    std::vector<int> candidates;
    for (std::size_t k = 0; k < program_.steps.size(); ++k)
      if (shape_of(static_cast<int>(k)) == shape) candidates.push_back(static_cast<int>(k));
    if (!candidates.empty() && rng_.chance(0.6))
      return candidates[static_cast<std::size_t>(rng_.below(candidates.size()))];
    if (program_.inputs.size() >= options_.max_inputs || shape.size() > options_.max_elements)
      return -1;
    return add_input(shape);
  }

  /// Any other registry row, on the latest result when the row takes its shape, else on
  /// nodes shaped as one of the row's samples; operands are mapped into the row's sample
  /// range, and the step is dropped where the row is not smooth (locally_smooth).
  bool row_step() {
    const auto& ops = registry_ops();
    Step s;
    s.op = Op::row;
    s.index = rng_.below(ops.size());
    const RegistryOp& r = ops[static_cast<std::size_t>(s.index)];
    std::vector<int> args;
    // A row's function is written for its samples; on other shapes it may throw (fine) or
    // read out of bounds (below the rank it indexes) or divide by a zero dimension, so other
    // shapes are tried only at the samples' ranks and not empty; empty tensors only exactly
    // as a sample has them.
    int min_rank = Shape::max_rank, max_rank = 0;
    for (const auto& shapes : r.shapes) {
      min_rank = std::min(min_rank, shapes[0].rank());
      max_rank = std::max(max_rank, shapes[0].rank());
    }
    const int x = pick();
    if (r.arity == 1 && rng_.chance(0.6) && shape_of(x).rank() >= min_rank &&
        shape_of(x).rank() <= max_rank && shape_of(x).size() > 0) {
      args.push_back(x);
    } else {
      const auto& shapes = r.shapes[static_cast<std::size_t>(rng_.below(r.shapes.size()))];
      for (const Shape& shape : shapes) args.push_back(node_of_shape(shape));
    }
    for (std::size_t i = 0; i < args.size(); ++i) {
      if (args[i] < 0) return false;
      args[i] = map_into(args[i], r.domains[i].first, r.domains[i].second);
      if (args[i] < 0) return false;
    }
    s.a = args[0];
    s.b = args.size() > 1 ? args[1] : -1;
    Inputs operands;
    for (int k : args) operands.push_back(value_of(k));
    Tensor<double> y;
    try {
      y = r.f(operands);
    } catch (const std::exception&) {
      return false;  // a shape the row does not take
    }
    // An empty result says little, and a row that hands back its operand (a pooling row on a
    // shape it has no geometry for) runs no op at all.
    if (y.size() > options_.max_elements || y.size() == 0) return false;
    for (const auto& operand : operands)
      if (y.impl().get() == operand.impl().get()) return false;
    for (std::int64_t i = 0; i < y.size(); ++i)
      if (!std::isfinite(y.data()[i])) return false;
    if (!locally_smooth(r.f, operands, rng_.bits())) return false;
    return take(push(s, y));
  }

  bool random_step() {
    switch (rng_.weighted({36, 28, 9, 9, 6, 4, 12})) {
      case 0:
        return unary_step();
      case 1:
        return binary_step();
      case 2:
        return reduce_step();
      case 3:
        return shape_step();
      case 4:
        return matmul_step();
      case 5:
        return stop_step();
      default:
        return row_step();
    }
  }

  void keep_bounded() {
    const double m = magnitude(value_of(current_));
    if (m <= 6) return;
    Step s;
    s.op = Op::affine;
    s.a = current_;
    s.scale = round_significant(3 / m, 2);
    current_ = push(s, apply_to_values(s));
  }

  Rng rng_;
  GenerateOptions options_;
  Program program_;
  std::vector<Tensor<double>> values_;
  int current_ = -1;
};

inline Program generate(std::uint64_t seed, const GenerateOptions& options = {}) {
  return Generator(seed, options).generate();
}

// ---------------------------------------------------------------------------------------
// Printing as C++
// ---------------------------------------------------------------------------------------

inline std::string name_of(const Program& p, int k) {
  const Step& s = p.steps[static_cast<std::size_t>(k)];
  return s.op == Op::input ? "x" + std::to_string(s.index) : "n" + std::to_string(k);
}

template <class T>
std::string braced(const std::vector<T>& v) {
  std::string out = "{";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
  return out + "}";
}

inline std::string shape_literal(const Shape& s) {
  return "tg::Shape" + braced(std::vector<std::int64_t>(s.begin(), s.end()));
}

inline std::string tensor_literal(const Tensor<double>& t) {
  std::string out = "tg::Tensor<double>(" + shape_literal(t.shape()) + ", std::vector<double>{";
  for (std::int64_t i = 0; i < t.size(); ++i) out += (i ? ", " : "") + number(t.data()[i]);
  return out + "})";
}

/// The C++ expression of a step, op for op what apply() computes.
inline std::string expression(const Program& p, const Step& s) {
  const std::string a = s.a >= 0 ? name_of(p, s.a) : "", b = s.b >= 0 ? name_of(p, s.b) : "";
  auto call = [&](const char* f) { return std::string("tg::") + f + "(" + a + ", " + b + ")"; };
  auto reduction = [&](const char* f) {
    std::string out = std::string("tg::") + f + "(" + a;
    if (s.axes.size() == 1) out += ", " + std::to_string(s.axes[0]);
    if (s.axes.size() > 1) out += ", std::vector<int>" + braced(s.axes);
    if (!s.axes.empty()) out += s.keepdims ? ", true" : ", false";
    return out + ")";
  };
  auto affine = [&](std::string x) {
    if (s.scale != 1) x += " * " + number(s.scale);
    if (s.shift > 0) x += " + " + number(s.shift);
    if (s.shift < 0) x += " - " + number(-s.shift);
    return x;
  };
  switch (s.op) {
    case Op::unary: {
      std::string pattern = unary_ops()[static_cast<std::size_t>(s.index)].pattern;
      return pattern.replace(pattern.find('@'), 1, a);
    }
    case Op::affine:
      return affine(a);
    case Op::squash:
      return affine("tg::sigmoid(" + a + ")");
    case Op::add:
      return a + " + " + b;
    case Op::sub:
      return a + " - " + b;
    case Op::mul:
      return a + " * " + b;
    case Op::div:
      return a + " / " + b;
    case Op::maximum:
      return call("maximum");
    case Op::minimum:
      return call("minimum");
    case Op::pow:
      return call("pow");
    case Op::atan2:
      return call("atan2");
    case Op::squared_difference:
      return call("squared_difference");
    case Op::sum:
    case Op::mean:
    case Op::max:
    case Op::min:
    case Op::logsumexp:
      return reduction(op_name(s.op));
    case Op::reshape:
      return "tg::reshape(" + a + ", std::vector<std::int64_t>" + braced(s.dims) + ")";
    case Op::transpose:
      return s.perm.empty() ? "tg::transpose(" + a + ")"
                            : "tg::transpose(" + a + ", std::vector<int>" + braced(s.perm) + ")";
    case Op::broadcast_to:
      return "tg::broadcast_to(" + a + ", " + shape_literal(Shape(s.dims.begin(), s.dims.end())) +
             ")";
    case Op::matmul:
      return s.transpose_a || s.transpose_b
                 ? "tg::matmul(" + a + ", " + b + (s.transpose_a ? ", true" : ", false") +
                       (s.transpose_b ? ", true)" : ", false)")
                 : "tg::matmul(" + a + ", " + b + ")";
    case Op::stop_gradient:
      return "tg::stop_gradient(" + a + ")";
    case Op::custom: {
      const UnaryOp& u = unary_ops()[static_cast<std::size_t>(s.index)];
      return "tapegrad_test::random_graph::custom_unary(\"" + u.op + "\", \"" + u.variant + "\")(" +
             a + ")";
    }
    case Op::row: {
      const RegistryOp& r = registry_ops()[static_cast<std::size_t>(s.index)];
      return "tapegrad_test::random_graph::registry_row(\"" + r.op + "\", \"" + r.variant + "\", " +
             std::to_string(r.arity) + ")({" + a + (s.b >= 0 ? ", " + b : "") + "})";
    }
    case Op::input:
      break;
  }
  return "";
}

/// Which computation a printed program reproduces.
enum class Scenario {
  /// The program under its tapes, then gradient() on the main (and outer) tape, seeded with
  /// the output weights.
  first_order,
  /// The program under two nested tapes that watch the main tape's differentiable inputs;
  /// the outer one differentiates M = sum_i sum(v_i * g_i) of the inner gradients g.
  second_order,
  /// As second_order, with one persistent tape that differentiates its own gradient.
  second_order_self
};

inline std::string list_of(const std::vector<std::string>& names) {
  std::string out = "{";
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out + "}";
}

/// The program as a Catch2 test case that reproduces it: the inputs, the tapes, one line per
/// step and the gradient() calls; `weights` are the output gradients (one per target), and
/// for second_order `vs` are the weights of the inner gradients (one per differentiable
/// input of the main tape). `checks` are statements appended to the body (the assertions
/// that fail), `note` is appended as comments: what failed and the numbers.
inline std::string to_cpp(const Program& p, Scenario scenario,
                          const std::vector<Tensor<double>>& weights,
                          const std::vector<Tensor<double>>& vs = {},
                          const std::string& checks = "", const std::string& note = "") {
  std::ostringstream out;
  const TapeSetup& t = p.setup;
  const bool second = scenario != Scenario::first_order;
  const bool self = scenario == Scenario::second_order_self;
  out << "TEST_CASE(\"random_graph program " << hex(p.seed)
      << (self     ? ", a tape's gradient of its own gradient"
          : second ? ", second derivatives"
                   : "")
      << "\") {\n";
  out << "  namespace tg = tapegrad;\n";
  std::vector<std::string> all, differentiable_on_tape;
  if (p.duplicate_source >= 0) all.push_back("x" + std::to_string(p.duplicate_source));
  for (std::size_t i = 0; i < p.inputs.size(); ++i) {
    const Input& in = p.inputs[i];
    const std::string x = "x" + std::to_string(i);
    all.insert(all.end() - (p.duplicate_source >= 0 ? 1 : 0), x);
    if (differentiable(p, i, false)) differentiable_on_tape.push_back(x);
    if (in.kind == InputKind::constant)
      out << "  const tg::Tensor<double> " << x << " = " << tensor_literal(in.value) << ";\n";
    else
      out << "  tg::Variable<double> " << x << "(" << tensor_literal(in.value) << ", \"" << x
          << "\"" << (in.kind == InputKind::untrainable_variable ? ", false" : "") << ");\n";
  }
  auto watches = [&](const std::string& tape, bool outer) {
    for (std::size_t i = 0; i < p.inputs.size(); ++i)
      if (outer ? p.inputs[i].outer_watched : p.inputs[i].watched)
        out << "  " << tape << "->watch(x" << i << ");\n";
  };
  auto options = [](bool persistent, bool accessed) {
    return std::string("tg::TapeOptions{") + (persistent ? "true" : "false") + ", " +
           (accessed ? "true" : "false") + "}";
  };
  std::vector<std::string> targets, seeds;
  for (std::size_t i = 0; i < p.targets.size(); ++i) {
    const bool input = p.steps[static_cast<std::size_t>(p.targets[i])].op == Op::input;
    targets.push_back(input ? "t" + std::to_string(i) : name_of(p, p.targets[i]));
    seeds.push_back("w" + std::to_string(i));
  }
  // One line per step; a step the main tape does not record runs under stop_recording(), and
  // at the reset the main tape watches `rewatch` again.
  auto body = [&](const std::string& indent, const std::string& tape,
                  const std::vector<std::string>& rewatch) {
    for (std::size_t k = 0; k < p.steps.size(); ++k) {
      const Step& s = p.steps[k];
      if (s.op == Op::input) continue;
      if (static_cast<int>(k) == p.reset_at) {
        out << indent << tape << "reset();\n";
        for (const auto& x : rewatch) out << indent << tape << "watch(" << x << ");\n";
      }
      out << indent << "const tg::Tensor<double> " << name_of(p, static_cast<int>(k)) << " = "
          << (s.paused
                  ? "[&] {\n" + indent + "  const auto pause = " + tape + "stop_recording();\n" +
                        indent + "  return " + expression(p, s) + ";\n" + indent + "}()"
                  : expression(p, s))
          << ";\n";
    }
    // A target that is an input is read here, while the tapes record (for a variable, a read).
    for (std::size_t i = 0; i < p.targets.size(); ++i)
      if (targets[i][0] == 't')
        out << indent << "const tg::Tensor<double> " << targets[i] << " = "
            << name_of(p, p.targets[i]) << ";\n";
  };
  for (std::size_t i = 0; i < weights.size(); ++i)
    out << "  const tg::Tensor<double> w" << i << " = " << tensor_literal(weights[i]) << ";\n";
  if (!second) {
    if (t.nested) {
      out << "  auto outer = std::make_unique<tg::GradientTape>("
          << options(t.outer_persistent, t.outer_watch_accessed_variables) << ");\n";
      watches("outer", true);
    }
    out << "  auto tape = std::make_unique<tg::GradientTape>("
        << options(t.persistent, t.watch_accessed_variables) << ");\n";
    watches("tape", false);
    std::vector<std::string> watched;
    for (std::size_t i = 0; i < p.inputs.size(); ++i)
      if (p.inputs[i].watched) watched.push_back("x" + std::to_string(i));
    body("  ", "tape->", watched);
    if (t.stop_before_gradient) out << "  tape->stop();\n";
    out << "  const std::vector<tg::Tensor<double>> grads = tape->gradient(" << list_of(targets)
        << ", " << list_of(all) << ", " << list_of(seeds) << ");\n";
    if (t.nested)
      out << "  const std::vector<tg::Tensor<double>> outer_grads = outer->gradient("
          << list_of(targets) << ", " << list_of(all) << ", " << list_of(seeds) << ");\n";
    if (t.nested && t.outer_destroyed_first) out << "  outer.reset();\n";
    out << "  tape.reset();\n";
  } else {
    for (std::size_t i = 0; i < vs.size(); ++i)
      out << "  const tg::Tensor<double> v" << i << " = " << tensor_literal(vs[i]) << ";\n";
    if (self) {
      out << "  tg::GradientTape tape(" << options(true, false) << ");\n";
      for (const auto& x : differentiable_on_tape) out << "  tape.watch(" << x << ");\n";
      body("  ", "tape.", differentiable_on_tape);
      out << "  const std::vector<tg::Tensor<double>> g = tape.gradient(" << list_of(targets)
          << ", " << list_of(differentiable_on_tape) << ", " << list_of(seeds) << ");\n";
    } else {
      out << "  tg::GradientTape outer(" << options(t.outer_persistent, false) << ");\n";
      for (const auto& x : differentiable_on_tape) out << "  outer.watch(" << x << ");\n";
      out << "  std::vector<tg::Tensor<double>> g;\n  {\n";
      out << "    tg::GradientTape tape(" << options(t.persistent, false) << ");\n";
      for (const auto& x : differentiable_on_tape) out << "    tape.watch(" << x << ");\n";
      body("    ", "tape.", differentiable_on_tape);
      out << "    g = tape.gradient(" << list_of(targets) << ", " << list_of(differentiable_on_tape)
          << ", " << list_of(seeds) << ");\n  }\n";
    }
    out << "  tg::Tensor<double> m(0.0);\n";
    for (std::size_t i = 0; i < differentiable_on_tape.size(); ++i)
      out << "  if (g[" << i << "].has_value()) m = m + tg::sum(g[" << i << "] * v" << i << ");\n";
    out << "  const std::vector<tg::Tensor<double>> h = " << (self ? "tape" : "outer")
        << ".gradient(std::vector<tg::Tensor<double>>{m}, "
           "std::vector<tg::Source<double>>"
        << list_of(differentiable_on_tape) << ", std::vector<tg::Tensor<double>>{});\n";
  }
  std::istringstream code(checks);
  for (std::string line; std::getline(code, line);) out << "  " << line << "\n";
  std::istringstream lines(note);
  for (std::string line; std::getline(lines, line);) out << "  // " << line << "\n";
  out << "}\n";
  return out.str();
}

// ---------------------------------------------------------------------------------------
// Checking
// ---------------------------------------------------------------------------------------

struct CheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  /// Second derivatives are checked on one program in this many (0: never).
  int second_order_every = 2;
  /// Above this many differentiable elements, second derivatives are checked along a random
  /// direction and at this many random elements instead of at every element.
  int second_order_elements = 8;
  /// tape.jacobian is cross-checked for single-target programs with at most this many
  /// target elements on a persistent tape.
  std::int64_t jacobian_elements = 8;
};

/// A step's op as the statistics count it: registry rows by their name and variant.
inline std::string step_label(const Step& s) {
  if (s.op == Op::row) {
    const RegistryOp& r = registry_ops()[static_cast<std::size_t>(s.index)];
    return "row " + r.op + (r.variant.empty() ? "" : " (" + r.variant + ")");
  }
  if (s.op != Op::unary && s.op != Op::custom) return op_name(s.op);
  const UnaryOp& u = unary_ops()[static_cast<std::size_t>(s.index)];
  return (s.op == Op::custom ? "custom_gradient " : "") +
         (u.variant.empty() ? u.op : u.op + " (" + u.variant + ")");
}

/// What a run of many programs covered.
struct Stats {
  long programs = 0, steps = 0, inputs = 0, variables = 0, watched = 0, unwatched = 0;
  long persistent = 0, nested = 0, stopped = 0, multi_target = 0, with_stop_gradient = 0,
       with_pause = 0;
  long elements_compared = 0, no_gradient_checked = 0, fd_rescued = 0, vjp = 0, jacobians = 0;
  long jvp = 0, hvp = 0;  // forward-mode checks: <v, J u> by JVP, and forward-over-reverse H v
  long second_order = 0, second_order_elements = 0, second_order_prod_skipped = 0;
  /// Steps that are ops (not the maps into an op's smooth interval), and the longest chain
  /// of such ops from an input to a node.
  long ops_total = 0, max_depth = 0;
  std::map<std::string, long> ops;

  std::string summary() const {
    std::ostringstream out;
    out << programs << " programs, " << steps << " steps (" << ops_total
        << " ops and the rest maps into an op's smooth interval; deepest chain of ops " << max_depth
        << "), " << inputs << " inputs (" << variables << " variables, " << watched
        << " watched constants, " << unwatched << " unwatched constants); tapes: " << persistent
        << " persistent, " << nested << " nested, " << stopped << " stopped before gradient(); "
        << multi_target << " with two targets, " << with_stop_gradient << " with stop_gradient, "
        << with_pause << " with steps under stop_recording() or a reset()."
        << "\nchecked: " << elements_compared << " gradient elements against central differences ("
        << fd_rescued << " agreed only at another step size), " << no_gradient_checked
        << " sources that must have no gradient, " << vjp << " <v, J u> products (" << jvp
        << " also by forward mode), " << hvp << " forward-over-reverse H v, " << jacobians
        << " Jacobians, " << second_order << " programs' second derivatives ("
        << second_order_elements << " elements and directions; " << second_order_prod_skipped
        << " skipped for prod's documented tape_error at 0).\nops:";
    for (const auto& [name, count] : ops) out << ' ' << name << ' ' << count << ',';
    out << '\n';
    return out.str();
  }
};

struct Outcome {
  bool ok = true;
  std::string report;
};

namespace check_detail {

using Tensors = std::vector<Tensor<double>>;

inline Tensor<double> random_tensor(Rng& rng, const Shape& shape) {
  std::vector<double> v(static_cast<std::size_t>(shape.size()));
  for (double& e : v) e = round_decimals(rng.uniform(0.5, 1.5) * (rng.chance(0.5) ? 1 : -1), 3);
  return Tensor<double>(shape, v);
}

inline double dot(const Tensor<double>& a, const Tensor<double>& b) {
  double s = 0;
  for (std::int64_t i = 0; i < a.size(); ++i) s += a.data()[i] * b.data()[i];
  return s;
}

inline bool same_bits(const Tensor<double>& a, const Tensor<double>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a.has_value()) return true;
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(double)) == 0;
}

inline Tensors with_element(const Tensors& values, std::size_t i, std::int64_t j, double delta) {
  Tensors out = values;
  std::vector<double> v = values[i].to_vector();
  v[static_cast<std::size_t>(j)] += delta;
  out[i] = Tensor<double>(values[i].shape(), v);
  return out;
}

inline Tensors along(const Tensors& values, const Tensors& direction,
                     const std::vector<bool>& which, double h) {
  Tensors out = values;
  for (std::size_t i = 0; i < values.size(); ++i)
    if (which[i]) out[i] = values[i] + direction[i] * h;
  return out;
}

/// The inputs of one run under tapes: constants as tensors, variables as Variables.
struct Bindings {
  Tensors constants;
  std::vector<std::unique_ptr<tg::Variable<double>>> variables;

  Bindings(const Program& p, const Tensors& values) : constants(values) {
    for (std::size_t i = 0; i < p.inputs.size(); ++i)
      variables.push_back(
          p.inputs[i].kind == InputKind::constant
              ? nullptr
              : std::make_unique<tg::Variable<double>>(values[i], "x" + std::to_string(i),
                                                       p.inputs[i].kind == InputKind::variable));
  }
  Tensor<double> read(int i) const {
    const auto k = static_cast<std::size_t>(i);
    return variables[k] ? variables[k]->value() : constants[k];
  }
  tg::Source<double> source(std::size_t i) const {
    return variables[i] ? tg::Source<double>(*variables[i]) : tg::Source<double>(constants[i]);
  }
  void watch(tg::GradientTape& tape, std::size_t i) const {
    if (variables[i])
      tape.watch(*variables[i]);
    else
      tape.watch(constants[i]);
  }
};

/// The targets of a run; a target that is an input is read through `read`.
inline Tensors target_values(const Program& p, const Tensors& nodes,
                             const std::function<Tensor<double>(int)>& read) {
  Tensors out;
  for (int k : p.targets) {
    const Step& s = p.steps[static_cast<std::size_t>(k)];
    out.push_back(s.op == Op::input ? read(s.index) : nodes[static_cast<std::size_t>(k)]);
  }
  return out;
}

/// The program run under its tapes (TapeSetup).
struct TapeRun {
  std::unique_ptr<Bindings> bindings;
  std::unique_ptr<tg::GradientTape> outer, tape;
  Tensors nodes, targets;

  TapeRun(const Program& p, const Tensors& values)
      : bindings(std::make_unique<Bindings>(p, values)) {
    const TapeSetup& t = p.setup;
    if (t.nested) {
      outer = std::make_unique<tg::GradientTape>(
          tg::TapeOptions{t.outer_persistent, t.outer_watch_accessed_variables});
      for (std::size_t i = 0; i < p.inputs.size(); ++i)
        if (p.inputs[i].outer_watched) bindings->watch(*outer, i);
    }
    tape = std::make_unique<tg::GradientTape>(
        tg::TapeOptions{t.persistent, t.watch_accessed_variables});
    for (std::size_t i = 0; i < p.inputs.size(); ++i)
      if (p.inputs[i].watched) bindings->watch(*tape, i);
    const auto read = [this](int i) { return bindings->read(i); };
    Execution how{nullptr, false, tape.get(), nullptr};
    how.reset = [&] {
      tape->reset();
      for (std::size_t i = 0; i < p.inputs.size(); ++i)
        if (p.inputs[i].watched) bindings->watch(*tape, i);
    };
    nodes = execute(p, read, how);
    targets = target_values(p, nodes, read);
    if (t.stop_before_gradient) tape->stop();
  }
  std::vector<tg::Source<double>> sources(const std::vector<std::size_t>& which) const {
    std::vector<tg::Source<double>> out;
    for (std::size_t i : which) out.push_back(bindings->source(i));
    return out;
  }
  void destroy(bool outer_first) {
    if (outer_first) outer.reset();
    tape.reset();
    outer.reset();
  }
};

}  // namespace check_detail

/// The output gradients check_program seeds the targets with (random, fixed by the seed).
inline std::vector<Tensor<double>> output_weights(const Program& p) {
  std::vector<Tensor<double>> values, w;
  for (const Input& in : p.inputs) values.push_back(in.value);
  const auto read = [&](int i) { return values[static_cast<std::size_t>(i)]; };
  Rng rng(p.seed ^ 0x77e16472a3f1c5d9ull);
  for (const auto& t : check_detail::target_values(p, execute(p, read), read))
    w.push_back(check_detail::random_tensor(rng, t.shape()));
  return w;
}

// NOTE [ Finite differences and stop_gradient ]
// tapegrad differentiates a program in which every stop_gradient node is a constant: the
// value it had when the program ran. Finite differences must differentiate the same
// function, so they run the program with each stop_gradient node frozen at its value at the
// base point (execute(..., frozen)), while the inputs they perturb flow through everything
// else. The same holds for second derivatives: the finite differences of first derivatives
// run a tape over the frozen program. Inputs a tape does not watch are constants for that
// tape, so each tape's gradient is compared only for the inputs it differentiates, and the
// others must come back with no value at all.

/// Runs every check on one program; the report of the first failure names the seed and the
/// check, gives the numbers and prints the program as C++ (Scenario) that reproduces it.
inline Outcome check_program(const Program& p, const CheckOptions& o, Stats& stats) {
  using namespace check_detail;
  Outcome outcome;
  const std::size_t n_inputs = p.inputs.size();
  Rng rng(p.seed ^ 0x5eedc0ffee123457ull);
  // Paused steps and a reset make the main tape see a different function from the others.
  const bool any_paused = p.reset_at >= 0 || std::any_of(p.steps.begin(), p.steps.end(),
                                                         [](const Step& s) { return s.paused; });

  ++stats.programs;
  std::vector<long> depth(p.steps.size(), 0);
  for (std::size_t k = 0; k < p.steps.size(); ++k) {
    const Step& s = p.steps[k];
    if (s.op == Op::input) continue;
    ++stats.steps;
    ++stats.ops[step_label(s)];
    const bool map = s.op == Op::affine || s.op == Op::squash;
    stats.ops_total += !map;
    depth[k] = std::max(depth[static_cast<std::size_t>(s.a)],
                        s.b >= 0 ? depth[static_cast<std::size_t>(s.b)] : 0) +
               (map ? 0 : 1);
    stats.max_depth = std::max(stats.max_depth, depth[k]);
  }
  for (const Input& in : p.inputs) {
    ++stats.inputs;
    if (in.kind != InputKind::constant)
      ++stats.variables;
    else if (in.watched || in.outer_watched)
      ++stats.watched;
    else
      ++stats.unwatched;
  }
  stats.persistent += p.setup.persistent;
  stats.nested += p.setup.nested;
  stats.stopped += p.setup.stop_before_gradient;
  stats.multi_target += p.targets.size() > 1;
  stats.with_stop_gradient += std::any_of(p.steps.begin(), p.steps.end(),
                                          [](const Step& s) { return s.op == Op::stop_gradient; });
  stats.with_pause += any_paused;

  Tensors values;
  for (const Input& in : p.inputs) values.push_back(in.value);
  const auto read_values = [&](int i) { return values[static_cast<std::size_t>(i)]; };
  const Tensors base = execute(p, read_values);
  const Tensors base_targets = target_values(p, base, read_values);
  const Tensors w = output_weights(p);
  Tensors v, u;
  for (const auto& t : base_targets) v.push_back(random_tensor(rng, t.shape()));
  for (const Tensor<double>& x : values) u.push_back(random_tensor(rng, x.shape()));

  std::vector<std::size_t> all_inputs, on_tape, sources_list;
  std::vector<bool> on_tape_mask(n_inputs), on_outer_mask(n_inputs);
  for (std::size_t i = 0; i < n_inputs; ++i) {
    all_inputs.push_back(i);
    on_tape_mask[i] = differentiable(p, i, false);
    on_outer_mask[i] = p.setup.nested && differentiable(p, i, true);
    if (on_tape_mask[i]) on_tape.push_back(i);
  }
  sources_list = all_inputs;
  if (p.duplicate_source >= 0) sources_list.push_back(static_cast<std::size_t>(p.duplicate_source));
  const std::vector<bool> connected_main = connected_inputs(p, true),
                          connected_outer = connected_inputs(p, false);

  // C++ statements that assert what failed, for the printed program.
  std::string code;
  auto fail = [&](const std::string& check, const std::string& details, Scenario scenario,
                  const Tensors& weights, const Tensors& vs = {}) {
    outcome.ok = false;
    std::ostringstream r;
    r << "random_graph: program " << hex(p.seed) << " failed: " << check << "\n"
      << details << "\nReproduce with TAPEGRAD_RANDOM_GRAPH_SEED=" << hex(p.seed)
      << "; the program as C++:\n"
      << to_cpp(p, scenario, weights, vs, code, check + "\n" + details);
    outcome.report = r.str();
    return outcome;
  };
  auto describe = [](double analytic, bool has, double numeric) {
    std::ostringstream s;
    s.precision(12);
    s << "tape " << analytic << (has ? "" : " (no gradient)") << ", central differences "
      << numeric;
    return s.str();
  };
  auto close = [&](double analytic, double numeric, double scale) {
    return std::abs(analytic - numeric) <= o.atol + o.rtol * scale &&
           std::isnan(analytic) == std::isnan(numeric);
  };
  auto expect_near = [&](const std::string& value, double expected) {
    return "CHECK(" + value + " == Approx(" + number(expected) + ").epsilon(" + number(o.rtol) +
           ").margin(" + number(o.atol) + "));\n";
  };

  // L(x) = sum_t <weights_t, target_t(x)> without tapes, stop_gradient nodes frozen at the
  // base point, and for the main tape the paused steps too.
  auto objective = [&](const Tensors& at, const Tensors& weights, bool main_tape) {
    const auto read = [&](int i) { return at[static_cast<std::size_t>(i)]; };
    const Tensors nodes = execute(p, read, Execution{&base, main_tape, nullptr, nullptr});
    const Tensors targets = target_values(p, nodes, read);
    double l = 0;
    for (std::size_t t = 0; t < targets.size(); ++t) l += dot(targets[t], weights[t]);
    return l;
  };
  auto partial = [&](const std::function<double(const Tensors&)>& f, std::size_t i, std::int64_t j,
                     double h) {
    return (f(with_element(values, i, j, h)) - f(with_element(values, i, j, -h))) / (2 * h);
  };
  // A disagreement at eps is confirmed at other step sizes before it counts: rounding error
  // dominates tiny steps where values are large, truncation error large steps where the
  // function curves, and a bug is wrong at every step size.
  auto confirmed = [&](const std::function<double(double)>& numeric_at, double analytic,
                       double numeric) {
    for (double h : {1e-5, 1e-7, 1e-4})
      if (close(analytic, numeric_at(h), std::abs(numeric))) {
        ++stats.fd_rescued;
        return false;
      }
    return true;
  };

  // ---- (1) and (3): the program under its tapes ----
  Tensors grads, outer_grads, vjp;
  {
    TapeRun run(p, values);
    const Tensors& targets = run.targets;
    for (std::size_t t = 0; t < targets.size(); ++t)
      if (!same_bits(targets[t], base_targets[t]))
        return fail("recording changed a value",
                    "target " + std::to_string(t) + " differs from the same program without tapes",
                    Scenario::first_order, w);
    const auto sources = run.sources(sources_list);
    grads = run.tape->gradient(targets, sources, w);
    if (p.duplicate_source >= 0) {
      if (!same_bits(grads.back(), grads[static_cast<std::size_t>(p.duplicate_source)]))
        return fail("a source listed twice got two different gradients",
                    "input x" + std::to_string(p.duplicate_source), Scenario::first_order, w);
    }
    if (p.setup.persistent) {
      const Tensors again = run.tape->gradient(targets, sources, w);
      for (std::size_t i = 0; i < n_inputs; ++i)
        if (!same_bits(grads[i], again[i]))
          return fail("a persistent tape's second gradient() differs in its bits",
                      "input x" + std::to_string(i), Scenario::first_order, w);
      Tensors zero_w;
      for (const auto& x : w) zero_w.push_back(x * 0.0);
      const Tensors zeros = run.tape->gradient(targets, sources, zero_w);
      for (std::size_t i = 0; i < n_inputs; ++i) {
        if (zeros[i].has_value() != grads[i].has_value())
          return fail("zero output_gradients changed which sources have a gradient",
                      "input x" + std::to_string(i), Scenario::first_order, w);
        for (std::int64_t j = 0; zeros[i].has_value() && j < zeros[i].size(); ++j)
          if (zeros[i].data()[j] != 0.0)
            return fail("zero output_gradients gave a nonzero gradient",
                        "input x" + std::to_string(i) + " element " + std::to_string(j) + ": " +
                            number(zeros[i].data()[j]),
                        Scenario::first_order, w);
      }
      const Tensors filled =
          run.tape->gradient(targets, sources, w, tg::UnconnectedGradients::zero);
      for (std::size_t i = 0; i < n_inputs; ++i) {
        const bool ok = grads[i].has_value()
                            ? same_bits(filled[i], grads[i])
                            : filled[i].has_value() && filled[i].shape() == values[i].shape() &&
                                  std::all_of(filled[i].data(), filled[i].data() + filled[i].size(),
                                              [](double e) { return e == 0.0; });
        if (!ok)
          return fail("UnconnectedGradients::zero disagrees with the plain gradient",
                      "input x" + std::to_string(i), Scenario::first_order, w);
      }
      vjp = run.tape->gradient(targets, sources, v);
      // J^T v from the Jacobian (one sweep per target element) against the single sweep.
      if (p.targets.size() == 1 && targets[0].size() > 0 &&
          targets[0].size() <= o.jacobian_elements) {
        for (std::size_t i : on_tape) {
          const Tensor<double> j = run.bindings->variables[i]
                                       ? run.tape->jacobian(targets[0], *run.bindings->variables[i])
                                       : run.tape->jacobian(targets[0], run.bindings->constants[i]);
          ++stats.jacobians;
          code = "const tg::Tensor<double> j = tape->jacobian(" +
                 std::string(p.steps[static_cast<std::size_t>(p.targets[0])].op == Op::input
                                 ? "t0"
                                 : name_of(p, p.targets[0])) +
                 ", x" + std::to_string(i) + ");\n";
          if (j.has_value() != vjp[i].has_value())
            return fail("tape.jacobian and tape.gradient disagree on whether there is a gradient",
                        "input x" + std::to_string(i), Scenario::first_order, v);
          if (!j.has_value()) continue;
          const std::int64_t rows = targets[0].size(), cols = values[i].size();
          for (std::int64_t c = 0; c < cols; ++c) {
            double jtv = 0, scale = 0;
            for (std::int64_t r = 0; r < rows; ++r) {
              jtv += v[0].data()[r] * j.data()[r * cols + c];
              scale += std::abs(v[0].data()[r] * j.data()[r * cols + c]);
            }
            if (std::abs(jtv - vjp[i].data()[c]) > 1e-12 + 1e-9 * scale)
              return fail(
                  "J^T v from tape.jacobian differs from tape.gradient with output_gradients v",
                  "input x" + std::to_string(i) + " element " + std::to_string(c) + ": jacobian " +
                      number(jtv) + ", gradient " + number(vjp[i].data()[c]),
                  Scenario::first_order, v);
          }
        }
      }
    } else {
      bool threw = false;
      try {
        (void)run.tape->gradient(targets, sources, w);
      } catch (const tg::tape_error&) {
        threw = true;
      }
      if (!threw)
        return fail("a non-persistent tape answered a second gradient()", "", Scenario::first_order,
                    w);
    }
    if (p.setup.nested) {
      outer_grads = run.outer->gradient(targets, sources, w);
      if (p.duplicate_source >= 0 &&
          !same_bits(outer_grads.back(), outer_grads[static_cast<std::size_t>(p.duplicate_source)]))
        return fail("a source listed twice got two different gradients from the outer tape",
                    "input x" + std::to_string(p.duplicate_source), Scenario::first_order, w);
      if (p.setup.outer_persistent) {
        const Tensors again = run.outer->gradient(targets, sources, w);
        for (std::size_t i = 0; i < n_inputs; ++i)
          if (!same_bits(outer_grads[i], again[i]))
            return fail("a persistent outer tape's second gradient() differs in its bits",
                        "input x" + std::to_string(i), Scenario::first_order, w);
      }
    }
    run.destroy(p.setup.outer_destroyed_first);
  }

  // The targets that are a constant input itself (t = x_i): as TensorFlow's
  // sources_that_are_targets, that input gets their seeds on a tape that never saw it.
  auto seeds_of_itself = [&](std::size_t i) {
    std::vector<std::size_t> ks;
    for (std::size_t k = 0; k < p.targets.size(); ++k) {
      const Step& t = p.steps[static_cast<std::size_t>(p.targets[k])];
      if (t.op == Op::input && static_cast<std::size_t>(t.index) == i &&
          p.inputs[i].kind == InputKind::constant)
        ks.push_back(k);
    }
    return ks;
  };

  // Which sources have a gradient at all, and its shape.
  for (int which = 0; which < (p.setup.nested ? 2 : 1); ++which) {
    const Tensors& g = which ? outer_grads : grads;
    const std::string tape = which ? "the outer tape" : "the tape";
    for (std::size_t i = 0; i < n_inputs; ++i) {
      const bool on = which ? on_outer_mask[i] : on_tape_mask[i];
      const bool connected = which ? connected_outer[i] : connected_main[i];
      const std::vector<std::size_t> itself = on ? std::vector<std::size_t>{} : seeds_of_itself(i);
      const bool expected = (on && connected) || !itself.empty();
      if (!itself.empty() && g[i].has_value() && g[i].shape() == values[i].shape()) {
        // Exactly the seeds, summed in target order.
        Tensor<double> sum = w[itself[0]];
        for (std::size_t k = 1; k < itself.size(); ++k) sum = sum + w[itself[k]];
        if (!same_bits(g[i], sum))
          return fail(tape + " gave a source that is itself a target other than its seeds",
                      "input x" + std::to_string(i), Scenario::first_order, w);
      }
      if (!expected) ++stats.no_gradient_checked;
      const std::string name =
          std::string(which ? "outer_grads[" : "grads[") + std::to_string(i) + "]";
      code = "CHECK(" + name + ".has_value() == " + (expected ? "true" : "false") + ");\n";
      if (g[i].has_value() != expected)
        return fail(tape + (expected ? " gave no gradient for a source the targets depend on"
                                     : " gave a gradient for a source it must not"),
                    "input x" + std::to_string(i) +
                        (connected ? " (connected" : " (not connected") +
                        (on ? ", differentiable" : ", not differentiable") + " on " + tape + ")",
                    Scenario::first_order, w);
      code = "CHECK(" + name + ".shape() == " + shape_literal(values[i].shape()) + ");\n";
      if (g[i].has_value() && g[i].shape() != values[i].shape())
        return fail(tape + " gave a gradient of the wrong shape",
                    "input x" + std::to_string(i) + ": shape " + values[i].shape().str() +
                        ", gradient " + g[i].shape().str(),
                    Scenario::first_order, w);
    }
  }

  // (1) Every element against central differences. The two tapes see the same function
  // unless steps were paused on the main tape.
  const std::function<double(const Tensors&)> loss_main = [&](const Tensors& at) {
    return objective(at, w, true);
  };
  const std::function<double(const Tensors&)> loss_outer = [&](const Tensors& at) {
    return objective(at, w, false);
  };
  for (std::size_t i = 0; i < n_inputs; ++i) {
    if (!(on_tape_mask[i] || on_outer_mask[i])) continue;
    for (std::int64_t j = 0; j < values[i].size(); ++j) {
      double numeric[2] = {0, 0};
      if (on_tape_mask[i]) numeric[0] = partial(loss_main, i, j, o.eps);
      if (on_outer_mask[i])
        numeric[1] = any_paused || !on_tape_mask[i] ? partial(loss_outer, i, j, o.eps) : numeric[0];
      for (int which = 0; which < 2; ++which) {
        if (!(which ? on_outer_mask[i] : on_tape_mask[i])) continue;
        const Tensor<double>& g = which ? outer_grads[i] : grads[i];
        const double analytic = g.has_value() ? g.data()[j] : 0.0;
        ++stats.elements_compared;
        if (close(analytic, numeric[which], std::abs(numeric[which]))) continue;
        const auto& loss = which ? loss_outer : loss_main;
        if (!confirmed([&](double h) { return partial(loss, i, j, h); }, analytic, numeric[which]))
          continue;
        const std::string name =
            std::string(which ? "outer_grads[" : "grads[") + std::to_string(i) + "]";
        code = "REQUIRE(" + name + ".has_value());\n" +
               expect_near(name + ".data()[" + std::to_string(j) + "]", numeric[which]);
        return fail(std::string(which ? "the outer tape's" : "the tape's") +
                        " gradient differs from central differences",
                    "input x" + std::to_string(i) + " (shape " + values[i].shape().str() +
                        ") element " + std::to_string(j) + ": " +
                        describe(analytic, g.has_value(), numeric[which]),
                    Scenario::first_order, w);
      }
    }
  }

  // ---- (4) <v, J u>: the gradient seeded with v, dotted with u, against the finite
  // difference of <v, f> along u (over the main tape's differentiable inputs). ----
  if (!on_tape.empty()) {
    if (!p.setup.persistent) {
      TapeRun run(p, values);
      vjp = run.tape->gradient(run.targets, run.sources(sources_list), v);
      run.destroy(p.setup.outer_destroyed_first);
    }
    double lhs = 0, scale = 0;
    for (std::size_t i : on_tape)
      if (vjp[i].has_value()) {
        lhs += dot(vjp[i], u[i]);
        for (std::int64_t j = 0; j < u[i].size(); ++j)
          scale += std::abs(vjp[i].data()[j] * u[i].data()[j]);
      }
    auto directional = [&](double h) {
      return (objective(along(values, u, on_tape_mask, h), v, true) -
              objective(along(values, u, on_tape_mask, -h), v, true)) /
             (2 * h);
    };
    const double rhs = directional(o.eps);
    ++stats.vjp;
    if (!close(lhs, rhs, std::max(std::abs(rhs), scale)) && confirmed(directional, lhs, rhs)) {
      std::ostringstream d;
      d.precision(12);
      d << "<v, J u> through output_gradients " << lhs << ", central difference along u " << rhs;
      code = "double vju = 0;\n";
      for (std::size_t i : on_tape) {
        const std::string g = "grads[" + std::to_string(i) + "]";
        code += "const tg::Tensor<double> u" + std::to_string(i) + " = " + tensor_literal(u[i]) +
                ";\nif (" + g + ".has_value()) vju += tg::sum(" + g + " * u" + std::to_string(i) +
                ").item();\n";
      }
      code += expect_near("vju", rhs);
      return fail("a vector-Jacobian product differs from the directional derivative", d.str(),
                  Scenario::first_order, v);
    }

    // ---- (5) forward mode: <v, J u> from a ForwardAccumulator's tangents along u equals the
    // same product through the tape (the transposition identity). Paused steps cut tangents
    // as they cut gradients; a reset has no forward counterpart, so those programs skip it.
    if (p.reset_at < 0) {
      Bindings b(p, values);
      std::vector<tg::Source<double>> primals;
      Tensors tangents;
      for (std::size_t i : on_tape) {
        primals.push_back(b.source(i));
        tangents.push_back(u[i]);
      }
      tg::GradientTape pausing;  // watches nothing: its pauses stop the accumulator
      tg::ForwardAccumulator acc(primals, tangents);
      const auto read = [&](int i) { return b.read(i); };
      Execution how{nullptr, false, &pausing, nullptr};
      const Tensors targets = target_values(p, execute(p, read, how), read);
      double forward = 0;
      for (std::size_t t = 0; t < targets.size(); ++t) {
        const Tensor<double> jv = acc.jvp(targets[t], tg::UnconnectedGradients::zero);
        forward += dot(jv, v[t]);
      }
      ++stats.jvp;
      if (std::abs(forward - lhs) > 1e-12 + 1e-9 * std::max(scale, std::abs(lhs))) {
        std::ostringstream d;
        d.precision(17);
        d << "<v, J u> from a ForwardAccumulator " << forward << ", through the tape " << lhs;
        return fail("a JVP differs from the tape's vector-Jacobian product", d.str(),
                    Scenario::first_order, v);
      }
    }
  }

  // ---- (2) second derivatives through nested tapes ----
  const bool second = o.second_order_every > 0 && !on_tape.empty() &&
                      rng.below(static_cast<std::size_t>(o.second_order_every)) == 0;
  if (!second) return outcome;
  ++stats.second_order;
  Tensors vs;
  for (std::size_t i : on_tape) vs.push_back(random_tensor(rng, values[i].shape()));
  // M(x) = sum_i <vs_i, dL/dx_i>, L as above on the main tape's differentiable inputs, with
  // paused steps paused on the tape that computes dL/dx. Given `hessian_v`, also its gradient
  // from an outer tape (nested), or (self) from the same persistent tape, which records its
  // own gradient computation, as in TensorFlow. `repeatable`: a persistent tape's second
  // call gives the same bits.
  enum class Second { none, nested, self };
  auto m_at = [&](const Tensors& at, bool frozen, Second mode, Tensors* hessian_v,
                  bool* repeatable) {
    Bindings b(p, at);
    std::vector<tg::Source<double>> sources;
    for (std::size_t i : on_tape) sources.push_back(b.source(i));
    std::unique_ptr<tg::GradientTape> outer;
    if (mode == Second::nested) {
      outer = std::make_unique<tg::GradientTape>(tg::TapeOptions{p.setup.outer_persistent, false});
      for (std::size_t i : on_tape) b.watch(*outer, i);
    }
    auto tape = std::make_unique<tg::GradientTape>(
        tg::TapeOptions{mode == Second::self || p.setup.persistent, false});
    for (std::size_t i : on_tape) b.watch(*tape, i);
    const auto read = [&](int i) { return b.read(i); };
    Execution how{frozen ? &base : nullptr, false, tape.get(), nullptr};
    how.reset = [&] {
      tape->reset();
      for (std::size_t i : on_tape) b.watch(*tape, i);
    };
    const Tensors nodes = execute(p, read, how);
    const Tensors g = tape->gradient(target_values(p, nodes, read), sources, w);
    if (mode == Second::nested) tape.reset();
    tg::GradientTape& differentiating = mode == Second::nested ? *outer : *tape;
    Tensor<double> m(0.0);
    for (std::size_t k = 0; k < g.size(); ++k)
      if (g[k].has_value()) m = m + tg::sum(g[k] * vs[k]);
    if (hessian_v) {
      *hessian_v = differentiating.gradient(Tensors{m}, sources, Tensors{});
      if (mode == Second::self || p.setup.outer_persistent) {
        const Tensors again = differentiating.gradient(Tensors{m}, sources, Tensors{});
        for (std::size_t k = 0; k < again.size(); ++k)
          *repeatable = *repeatable && same_bits(again[k], (*hessian_v)[k]);
      }
    }
    return m.item();
  };
  Tensors h, h_self;
  bool repeatable = true;
  // The second derivative of prod where an input is 0 is a documented tape_error.
  const bool has_prod = std::any_of(p.steps.begin(), p.steps.end(), [](const Step& s) {
    return s.op == Op::row && registry_ops()[static_cast<std::size_t>(s.index)].op == "prod";
  });
  try {
    m_at(values, false, Second::nested, &h, &repeatable);
    // A tape differentiating its own gradient treats paused steps as constants throughout,
    // unlike the nested pair; it is compared where there are none.
    if (!any_paused) m_at(values, false, Second::self, &h_self, &repeatable);
  } catch (const tg::tape_error&) {
    if (!has_prod) throw;
    ++stats.second_order_prod_skipped;
    return outcome;
  }
  if (!repeatable)
    return fail("a persistent tape's second gradient() of a gradient differs in its bits", "",
                Scenario::second_order, w, vs);
  // Forward-over-reverse: an accumulator (tangents vs) around the tape's gradient() gives the
  // same H vs as the nested tapes, where no step is paused (a pause cuts the accumulator's
  // tangents, while the outer tape of the pair still sees the paused steps).
  if (!any_paused) {
    Bindings b(p, values);
    std::vector<tg::Source<double>> sources;
    for (std::size_t i : on_tape) sources.push_back(b.source(i));
    Tensors hv;
    try {
      tg::ForwardAccumulator acc(sources, vs);
      tg::GradientTape tape(tg::TapeOptions{p.setup.persistent, false});
      for (std::size_t i : on_tape) b.watch(tape, i);
      const auto read = [&](int i) { return b.read(i); };
      const Tensors g = tape.gradient(target_values(p, execute(p, read), read), sources, w);
      for (const auto& gk : g) hv.push_back(gk.has_value() ? acc.jvp(gk) : Tensor<double>());
    } catch (const tg::tape_error&) {
      if (!has_prod) throw;
      hv.clear();
    }
    ++stats.hvp;
    for (std::size_t k = 0; k < hv.size(); ++k)
      for (std::int64_t j = 0; j < values[on_tape[k]].size(); ++j) {
        const double fwd = hv[k].has_value() ? hv[k].data()[j] : 0.0;
        const double rev = h[k].has_value() ? h[k].data()[j] : 0.0;
        if (std::isnan(fwd) && std::isnan(rev)) continue;
        if (!(std::abs(fwd - rev) <= 1e-12 + 1e-9 * std::abs(rev))) {
          std::ostringstream d;
          d.precision(17);
          d << "H v at input " << on_tape[k] << "[" << j << "]: forward-over-reverse " << fwd
            << ", nested tapes " << rev;
          return fail("a forward-over-reverse Hessian-vector product differs from nested tapes'",
                      d.str(), Scenario::second_order, w, vs);
        }
      }
  }
  std::vector<std::pair<std::size_t, std::int64_t>> elements;
  std::int64_t total = 0;
  for (std::size_t k = 0; k < on_tape.size(); ++k) total += values[on_tape[k]].size();
  for (std::size_t k = 0; k < on_tape.size(); ++k)
    for (std::int64_t j = 0; j < values[on_tape[k]].size(); ++j)
      if (total <= o.second_order_elements ||
          rng.chance(static_cast<double>(o.second_order_elements) / static_cast<double>(total)))
        elements.emplace_back(k, j);
  const std::function<double(const Tensors&)> m = [&](const Tensors& at) {
    return m_at(at, true, Second::none, nullptr, nullptr);
  };
  for (const auto& element : elements) {
    // Plain variables: a C++17 lambda cannot capture structured bindings.
    const std::size_t k = element.first;
    const std::int64_t j = element.second;
    const std::size_t i = on_tape[k];
    const double numeric = partial(m, i, j, o.eps);
    for (int self = 0; self < (any_paused ? 1 : 2); ++self) {
      const Tensor<double>& hk = self ? h_self[k] : h[k];
      const double analytic = hk.has_value() ? hk.data()[j] : 0.0;
      ++stats.second_order_elements;
      if (close(analytic, numeric, std::abs(numeric))) continue;
      if (!confirmed([&](double step) { return partial(m, i, j, step); }, analytic, numeric))
        continue;
      code = "REQUIRE(h[" + std::to_string(k) + "].has_value());\n" +
             expect_near("h[" + std::to_string(k) + "].data()[" + std::to_string(j) + "]", numeric);
      return fail(
          std::string(self ? "a persistent tape's gradient of its own gradient"
                           : "a second derivative from nested tapes") +
              " differs from central differences of the first",
          "d/dx" + std::to_string(i) + "[" + std::to_string(j) +
              "] of M = sum_i sum(v_i * dL/dx_i): " + describe(analytic, hk.has_value(), numeric) +
              (self ? " (the nested tapes agree with central differences)" : ""),
          self ? Scenario::second_order_self : Scenario::second_order, w, vs);
    }
  }
  if (total > o.second_order_elements) {
    // And along a random direction, which involves every element.
    double lhs = 0;
    std::vector<bool> mask(n_inputs, false);
    for (std::size_t k = 0; k < on_tape.size(); ++k) {
      mask[on_tape[k]] = true;
      if (h[k].has_value()) lhs += dot(h[k], u[on_tape[k]]);
    }
    auto directional = [&](double step) {
      return (m(along(values, u, mask, step)) - m(along(values, u, mask, -step))) / (2 * step);
    };
    const double rhs = directional(o.eps);
    ++stats.second_order_elements;
    if (!close(lhs, rhs, std::abs(rhs)) && confirmed(directional, lhs, rhs))
      return fail("a second derivative from nested tapes differs along a direction",
                  "<u, grad M>: " + describe(lhs, true, rhs), Scenario::second_order, w, vs);
  }
  return outcome;
}

}  // namespace tapegrad_test::random_graph
