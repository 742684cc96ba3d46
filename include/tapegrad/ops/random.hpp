#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/detail/trace_hooks.hpp"
#include "tapegrad/ops/binary.hpp"
#include "tapegrad/ops/losses.hpp"

// Seeded randomness: dropout and the weight initialisers of tf.random and tf.keras.
namespace tapegrad {

// NOTE [ Reproducible random numbers ]
// The standard distributions (std::uniform_real_distribution, std::normal_distribution) are
// implementation-defined, so the same seed gives different numbers with libstdc++, libc++
// and MSVC. Everything here is derived by hand from std::mt19937_64, whose output the
// standard fixes bit for bit: uniforms take the top 53 bits of one draw, normals use
// Box-Muller on two uniforms, and affine maps use std::fma, which is exactly rounded
// whether or not the compiler contracts a * b + c. The integer stream, the uniforms and so
// dropout masks and uniform initialisers are therefore identical on every platform. Normal
// values also pass through std::log, std::cos and std::sin, which C libraries need not round
// the same way: they are identical wherever the C library is the same (every glibc build),
// and may differ in the last bit elsewhere.

namespace detail {

using RandomEngine = std::mt19937_64;

/// Uniform in [0, 1): the top 53 bits of one draw, scaled exactly.
inline double draw_uniform(RandomEngine& engine) {
  return static_cast<double>(engine() >> 11) * 0x1p-53;
}
/// Two independent standard normal values (Box-Muller).
inline std::pair<double, double> draw_normal_pair(RandomEngine& engine) {
  const double u = 1.0 - draw_uniform(engine);  // in (0, 1], so log(u) is finite
  const double r = std::sqrt(-2.0 * std::log(u));
  const double theta = 6.283185307179586 * draw_uniform(engine);
  return {r * std::cos(theta), r * std::sin(theta)};
}

/// Where a random op draws from, as its definition's shared data (NOTE [ Random draws as
/// ops ]): a Generator's engine, which a trace must not keep alive, or this thread's default
/// generator, whichever thread replays.
struct RandomSource {
  std::weak_ptr<RandomEngine> engine;
  bool thread_default = false;
};

}  // namespace detail

/// A seeded source of random numbers (a std::mt19937_64) for dropout and the initialisers.
/// Each call advances it; copy it to replay the same numbers (a copy is a generator of its
/// own, in the same state). Not safe to share between threads without a lock.
///   tapegrad::Generator gen(42);  auto w = tapegrad::glorot_uniform<float>({784, 128}, gen);
class Generator {
 public:
  /// std::mt19937_64's own default seed, used by Generator() and default_generator().
  static constexpr std::uint64_t default_seed = 5489u;

  explicit Generator(std::uint64_t seed)
      : engine_(std::make_shared<detail::RandomEngine>(seed)),
        source_(std::make_shared<const detail::RandomSource>(detail::RandomSource{engine_})) {}
  /// Seeded with default_seed: the same numbers in every run.
  Generator() : Generator(default_seed) {}
  Generator(const Generator& other) : Generator() { *engine_ = *other.engine_; }
  /// Takes `other`'s state; traces that draw from this generator go on drawing from it.
  Generator& operator=(const Generator& other) {
    if (*engine_ == *other.engine_) return *this;  // (a rewind to where it is changes nothing)
    changed_on_host("assigning a Generator");
    *engine_ = *other.engine_;
    return *this;
  }
  ~Generator() = default;

  // Draws on the host, which a traced function refuses (NOTE [ Random draws as ops ]): a
  // replay repeats the random ops, not these.
  /// The next 64 random bits.
  std::uint64_t bits() {
    changed_on_host("Generator::bits");
    return (*engine_)();
  }
  /// Uniform in [0, 1): the top 53 bits, scaled exactly.
  double uniform() {
    changed_on_host("Generator::uniform");
    return detail::draw_uniform(*engine_);
  }
  /// Two independent standard normal values (Box-Muller).
  std::pair<double, double> normal_pair() {
    changed_on_host("Generator::normal_pair");
    return detail::draw_normal_pair(*engine_);
  }

  // Internal: what a random op drawing from this generator holds, and the engine it draws.
  const std::shared_ptr<const detail::RandomSource>& source() const { return source_; }
  const std::shared_ptr<detail::RandomEngine>& engine() const { return engine_; }

 private:
  static void changed_on_host(const char* what) noexcept {
    if (TAPEGRAD_UNLIKELY(detail::trace_hooks != nullptr))
      detail::trace_hooks->on_generator_changed(what);
  }
  std::shared_ptr<detail::RandomEngine> engine_;
  std::shared_ptr<const detail::RandomSource> source_;
};

/// This thread's generator, for the random ops called without one. Seeded with
/// Generator::default_seed when the thread first uses it, so a program gives the same numbers
/// in every run (TensorFlow draws an unseeded global generator from the OS instead).
///   auto noise = tapegrad::random_normal<float>({3});   // draws from default_generator()
inline Generator& default_generator() {
  thread_local Generator generator;
  return generator;
}

/// Restarts this thread's default generator from `seed` (tf.random.set_seed).
///   tapegrad::set_seed(42);
inline void set_seed(std::uint64_t seed) {
  default_generator() = Generator(seed);
}

namespace detail {

// NOTE [ Random draws as ops ]
// A random op (random_uniform, random_normal, truncated_normal, dropout's mask) is an op
// without a gradient whose shared data names the generator it draws from, so that a traced
// function draws again at each replay, as its eager calls would: from the same Generator,
// which advances, or from the default generator of the thread that replays. A trace holds
// the generator weakly: a replay after the generator is gone is a trace_error, and a trace
// that drew from a generator created inside the call (which a replay could not make again)
// is refused when the trace ends. So is a change of a generator's state on the host during
// the trace (its own bits(), uniform(), normal_pair(); assigning it, set_seed, the rewind of
// recompute_grad after its function drew): a replay would not repeat it. The initialisers are
// draws too: inside a traced call they draw anew at each replay. Replays on several threads of
// a function that draws from one Generator race on it, as eager calls would.

/// The source random ops called with `gen` draw from.
inline const std::shared_ptr<const RandomSource>& source_of(Generator& gen) {
  static const auto thread_default =
      std::make_shared<const RandomSource>(RandomSource{{}, /*thread_default=*/true});
  return &gen == &default_generator() ? thread_default : gen.source();
}

/// The engine a random op draws from at this call.
inline std::shared_ptr<RandomEngine> engine_of(const OpArgs& args, const char* op) {
  const RandomSource& source = args.data<RandomSource>();
  if (source.thread_default) return default_generator().engine();
  std::shared_ptr<RandomEngine> engine = source.engine.lock();
  TAPEGRAD_CHECK(engine != nullptr, trace_error, "function: ", op,
                 " draws from a Generator that no longer exists (a traced call drew from it)");
  return engine;
}

/// Runs random op `op` into a new tensor of `shape`, drawing from `gen`, and tells observers.
template <class T>
Tensor<T> draw(const OpDefinition& op, const Shape& shape, const OpAttrs& attrs, Generator& gen) {
  return run_without_gradient<T>(op, nullptr, 0, shape, attrs, source_of(gen));
}

/// random_uniform's bounds.
struct UniformAttrs {
  double lo, hi;
};
template <class T>
void random_uniform_forward(const OpArgs& args, const ImplRef* const*, TensorImpl& out) {
  const auto [lo, hi] = args.as<UniformAttrs>();
  const std::shared_ptr<RandomEngine> engine = engine_of(args, "random_uniform");
  T* y = static_cast<T*>(out.data);
  const T lo_t = static_cast<T>(lo), hi_t = static_cast<T>(hi);
  for (std::int64_t i = 0; i < out.size(); ++i) {
    T v = static_cast<T>(std::fma(hi - lo, draw_uniform(*engine), lo));
    // lo + (hi - lo) u can round up to hi (u is below 1 by less than half a spacing of T).
    if (v >= hi_t && lo_t < hi_t) v = std::nextafter(hi_t, lo_t);
    y[i] = v;
  }
}
template <class T>
inline constexpr OpDefinition random_uniform_op{"random_uniform", OpFamily::random, 0, nullptr,
                                                &random_uniform_forward<T>};

/// random_normal's and truncated_normal's parameters; `truncate` redraws |z| > 2.
struct NormalAttrs {
  double mean, stddev;
  bool truncate;
};
template <class T>
void random_normal_forward(const OpArgs& args, const ImplRef* const*, TensorImpl& out) {
  const NormalAttrs a = args.as<NormalAttrs>();
  const std::shared_ptr<RandomEngine> engine =
      engine_of(args, a.truncate ? "truncated_normal" : "random_normal");
  T* y = static_cast<T*>(out.data);
  std::int64_t i = 0;
  auto put = [&](double z) {
    if (i < out.size() && (!a.truncate || std::abs(z) <= 2.0))
      y[i++] = static_cast<T>(std::fma(a.stddev, z, a.mean));
  };
  while (i < out.size()) {
    const auto [z0, z1] = draw_normal_pair(*engine);
    put(z0);
    put(z1);
  }
}
template <class T>
inline constexpr OpDefinition random_normal_op{"random_normal", OpFamily::random, 0, nullptr,
                                               &random_normal_forward<T>};

/// dropout's mask: 1 where an element is kept (a draw at least `rate`), 0 where dropped.
template <class T>
void dropout_mask_forward(const OpArgs& args, const ImplRef* const*, TensorImpl& out) {
  const double rate = args.as<ScalarAttrs>().scalar;
  const std::shared_ptr<RandomEngine> engine = engine_of(args, "dropout");
  T* keep = static_cast<T*>(out.data);
  for (std::int64_t i = 0; i < out.size(); ++i)
    keep[i] = draw_uniform(*engine) >= rate ? T(1) : T(0);
}
template <class T>
inline constexpr OpDefinition dropout_mask_op{"dropout_mask", OpFamily::random, 0, nullptr,
                                              &dropout_mask_forward<T>};

inline void check_finite_param(const char* op, const char* what, double v) {
  TAPEGRAD_CHECK(std::isfinite(v), value_error, op, ": ", what, " must be finite, got ", v);
}

inline void check_stddev(const char* op, double mean, double stddev) {
  check_finite_param(op, "mean", mean);
  check_finite_param(op, "stddev", stddev);
  // Samples reach mean +- several stddev, which must stay finite in float too.
  TAPEGRAD_CHECK(
      !(std::abs(mean) + 40 * stddev > static_cast<double>(std::numeric_limits<float>::max())),
      value_error, op, ": mean ", mean, " and stddev ", stddev,
      " give samples beyond float's range");
  TAPEGRAD_CHECK(!(stddev < 0), value_error, op, ": stddev must be non-negative, got ", stddev);
}

/// fan_in and fan_out of a weight of this shape, as Keras computes them: [in, out] for a
/// dense kernel; for a convolution filter [..., in, out] each is multiplied by the
/// receptive field (the product of the leading dimensions); a vector is both; a scalar 1.
inline std::pair<double, double> keras_fans(const Shape& shape) {
  const int r = shape.rank();
  if (r == 0) return {1.0, 1.0};
  if (r == 1) return {double(shape[0]), double(shape[0])};
  double receptive = 1;
  for (int i = 0; i < r - 2; ++i) receptive *= double(shape[i]);
  return {double(shape[r - 2]) * receptive, double(shape[r - 1]) * receptive};
}

// Keras's VarianceScaling divides by the stddev of a unit normal truncated to [-2, 2], so
// that the truncated samples have the requested variance.
inline constexpr double truncated_normal_stddev = 0.87962566103423978;

}  // namespace detail

/// Uniform values in [lo, hi) (tf.random.uniform), by default [0, 1) from this thread's
/// default_generator(); needs finite lo < hi.
///   auto b = tapegrad::random_uniform<float>({10}, -0.1, 0.1, gen);
///   auto u = tapegrad::random_uniform({2, 2});   // float in [0, 1)
template <class T = float>
Tensor<T> random_uniform(const Shape& shape, double lo = 0.0, double hi = 1.0,
                         Generator& gen = default_generator(),
                         SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  static_assert(is_differentiable_v<T>, "tapegrad: random_uniform makes float or double tensors");
  TAPEGRAD_CHECK(!(!(lo < hi) || !std::isfinite(hi - lo) ||
                   !std::isfinite(static_cast<T>(hi) - static_cast<T>(lo))),
                 value_error,
                 "random_uniform: needs bounds with lo < hi whose difference is finite in ",
                 dtype_name(dtype_of<T>()), ", got lo = ", lo, ", hi = ", hi);
  return detail::draw<T>(detail::random_uniform_op<T>, shape,
                         detail::OpAttrs::of(detail::UniformAttrs{lo, hi}), gen);
}

/// random_uniform in [0, 1) from the given generator.
///   auto u = tapegrad::random_uniform<double>({3}, gen);
template <class T = float>
Tensor<T> random_uniform(const Shape& shape, Generator& gen,
                         SourceLocation where = SourceLocation::current()) {
  return random_uniform<T>(shape, 0.0, 1.0, gen, where);
}

/// Normally distributed values (tf.random.normal), by default mean 0 and stddev 1 from this
/// thread's default_generator().
///   auto noise = tapegrad::random_normal<double>({3, 4}, 0.0, 0.1, gen);
///   auto z = tapegrad::random_normal({5});   // float, standard normal
template <class T = float>
Tensor<T> random_normal(const Shape& shape, double mean = 0.0, double stddev = 1.0,
                        Generator& gen = default_generator(),
                        SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  static_assert(is_differentiable_v<T>, "tapegrad: random_normal makes float or double tensors");
  detail::check_stddev("random_normal", mean, stddev);
  return detail::draw<T>(detail::random_normal_op<T>, shape,
                         detail::OpAttrs::of(detail::NormalAttrs{mean, stddev, false}), gen);
}
/// Standard normal values from the given generator.   auto z = tapegrad::random_normal({5}, gen);
template <class T = float>
Tensor<T> random_normal(const Shape& shape, Generator& gen,
                        SourceLocation where = SourceLocation::current()) {
  return random_normal<T>(shape, 0.0, 1.0, gen, where);
}

/// Normal values within 2 stddev of the mean; those beyond are drawn again
/// (tf.random.truncated_normal). The result's stddev is about 0.88 stddev.
///   auto w = tapegrad::truncated_normal<float>({4, 4}, 0.0, 0.05, gen);
template <class T = float>
Tensor<T> truncated_normal(const Shape& shape, double mean, double stddev, Generator& gen,
                           SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  static_assert(is_differentiable_v<T>, "tapegrad: truncated_normal makes float or double tensors");
  detail::check_stddev("truncated_normal", mean, stddev);
  return detail::draw<T>(detail::random_normal_op<T>, shape,
                         detail::OpAttrs::of(detail::NormalAttrs{mean, stddev, true}), gen);
}

/// Glorot (Xavier) uniform initialiser: uniform in [-limit, limit), limit =
/// sqrt(6 / (fan_in + fan_out)), fans as Keras computes them (see detail::keras_fans).
///   tapegrad::Variable<float> w(tapegrad::glorot_uniform<float>({784, 128}, gen));
template <class T = float>
Tensor<T> glorot_uniform(const Shape& shape, Generator& gen,
                         SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto [in, out] = detail::keras_fans(shape);
  const double scale = 1.0 / std::max(1.0, (in + out) / 2);
  const double limit = std::sqrt(3.0 * scale);
  return random_uniform<T>(shape, -limit, limit, gen);
}

/// Glorot (Xavier) normal initialiser: truncated normal with stddev
/// sqrt(2 / (fan_in + fan_out)) / 0.8796 (tf.keras.initializers.GlorotNormal).
///   auto w = tapegrad::glorot_normal<float>({3, 3, 16, 32}, gen);
template <class T = float>
Tensor<T> glorot_normal(const Shape& shape, Generator& gen,
                        SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const auto [in, out] = detail::keras_fans(shape);
  const double scale = 1.0 / std::max(1.0, (in + out) / 2);
  const double stddev = std::sqrt(scale) / detail::truncated_normal_stddev;
  return truncated_normal<T>(shape, 0.0, stddev, gen);
}

/// He uniform initialiser: uniform in [-limit, limit), limit = sqrt(6 / fan_in).
///   auto w = tapegrad::he_uniform<float>({256, 128}, gen);
template <class T = float>
Tensor<T> he_uniform(const Shape& shape, Generator& gen,
                     SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const double scale = 2.0 / std::max(1.0, detail::keras_fans(shape).first);
  const double limit = std::sqrt(3.0 * scale);
  return random_uniform<T>(shape, -limit, limit, gen);
}

/// He normal initialiser: truncated normal with stddev sqrt(2 / fan_in) / 0.8796
/// (tf.keras.initializers.HeNormal).   auto w = tapegrad::he_normal<float>({256, 128}, gen);
template <class T = float>
Tensor<T> he_normal(const Shape& shape, Generator& gen,
                    SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  const double scale = 2.0 / std::max(1.0, detail::keras_fans(shape).first);
  const double stddev = std::sqrt(scale) / detail::truncated_normal_stddev;
  return truncated_normal<T>(shape, 0.0, stddev, gen);
}

/// Zeroes each element with probability `rate` and scales the others by 1 / (1 - rate)
/// (tf.nn.dropout); the gradient is the same mask and scale applied to the incoming one. A
/// dropped inf or NaN gives 0, as in TensorFlow. With training = false it returns x and
/// draws nothing.   auto h = tapegrad::dropout(tapegrad::relu(z), 0.5, gen, training);
template <class X, detail::if_differentiable<X> = 0>
Tensor<detail::element_t<X>> dropout(const X& x, double rate, Generator& gen, bool training = true,
                                     SourceLocation where = SourceLocation::current()) {
  detail::OpScope op_scope(where);
  using T = detail::element_t<X>;
  const auto& t = detail::arg(x, "dropout");
  TAPEGRAD_CHECK(rate >= 0 && rate < 1, value_error,
                 "dropout: rate must be in the range [0, 1), got ", rate);
  if (!training) return detail::unchanged(t, "dropout");
  const Tensor<T> keep = detail::draw<T>(detail::dropout_mask_op<T>, t.shape(),
                                         detail::OpAttrs::of(detail::ScalarAttrs{rate}), gen);
  // NOTE [ Selecting instead of multiplying by a mask ] (ops/losses.hpp)
  return detail::select_where(keep, t * static_cast<T>(1.0 / (1.0 - rate)));
}

}  // namespace tapegrad
