#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>

#include "tapegrad/detail/apply_op.hpp"
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

/// A seeded source of random numbers (a std::mt19937_64) for dropout and the initialisers.
/// Each call advances it; copy it to replay the same numbers. Not safe to share between
/// threads without a lock.
///   tapegrad::Generator gen(42);  auto w = tapegrad::glorot_uniform<float>({784, 128}, gen);
class Generator {
 public:
  /// std::mt19937_64's own default seed, used by Generator() and default_generator().
  static constexpr std::uint64_t default_seed = 5489u;

  explicit Generator(std::uint64_t seed) : engine_(seed) {}
  /// Seeded with default_seed: the same numbers in every run.
  Generator() : Generator(default_seed) {}

  /// The next 64 random bits.
  std::uint64_t bits() { return engine_(); }
  /// Uniform in [0, 1): the top 53 bits, scaled exactly.
  double uniform() { return static_cast<double>(bits() >> 11) * 0x1p-53; }
  /// Two independent standard normal values (Box-Muller).
  std::pair<double, double> normal_pair() {
    const double u = 1.0 - uniform();  // in (0, 1], so log(u) is finite
    const double r = std::sqrt(-2.0 * std::log(u));
    const double theta = 6.283185307179586 * uniform();
    return {r * std::cos(theta), r * std::sin(theta)};
  }

 private:
  std::mt19937_64 engine_;
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

/// Fills a tensor with mean + stddev z, z standard normal; `truncate` redraws |z| > 2.
template <class T>
Tensor<T> normal_tensor(const Shape& shape, double mean, double stddev, bool truncate,
                        Generator& gen) {
  Tensor<T> y(uninitialized, shape);
  T* out = y.mutable_data();
  std::int64_t i = 0;
  auto put = [&](double z) {
    if (i < y.size() && (!truncate || std::abs(z) <= 2.0))
      out[i++] = static_cast<T>(std::fma(stddev, z, mean));
  };
  while (i < y.size()) {
    const auto [z0, z1] = gen.normal_pair();
    put(z0);
    put(z1);
  }
  return y;
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
  Tensor<T> y(detail::uninitialized, shape);
  T* out = y.mutable_data();
  const T lo_t = static_cast<T>(lo), hi_t = static_cast<T>(hi);
  for (std::int64_t i = 0; i < y.size(); ++i) {
    T v = static_cast<T>(std::fma(hi - lo, gen.uniform(), lo));
    // lo + (hi - lo) u can round up to hi (u is below 1 by less than half a spacing of T).
    if (v >= hi_t && lo_t < hi_t) v = std::nextafter(hi_t, lo_t);
    out[i] = v;
  }
  return y;
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
  return detail::normal_tensor<T>(shape, mean, stddev, false, gen);
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
  return detail::normal_tensor<T>(shape, mean, stddev, true, gen);
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
  Tensor<T> keep(detail::uninitialized, t.shape());
  T* k = keep.mutable_data();
  for (std::int64_t i = 0; i < keep.size(); ++i) k[i] = gen.uniform() >= rate ? T(1) : T(0);
  // NOTE [ Selecting instead of multiplying by a mask ] (ops/losses.hpp)
  return detail::select_where(keep, t * static_cast<T>(1.0 / (1.0 - rate)));
}

}  // namespace tapegrad
