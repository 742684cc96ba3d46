// libFuzzer harness for tapegrad's public API: the input bytes are read as a program of API
// calls (tensors of any shape and value, ops with mismatched shapes and bad axes, tapes
// opened, nested, paused, reset, stopped and destroyed in any order, gradients and Jacobians
// of anything with respect to anything, variables assigned). The harness catches exactly
// the exceptions the README documents (tapegrad::error and its subclasses, std::out_of_range
// and its subclass tapegrad::index_error); any other exception escapes and ends the run, and
// so do a sanitizer report, a leak, and a broken invariant of the thread's tape stack.
//
// Build and run: fuzz/run.sh (see fuzz/README.md for the byte format and the findings).
//
// NOTE [ Keeping every input cheap ]
// A fuzzer is only as good as its executions per second, and a few ops can turn small
// inputs into huge work (broadcasting [4096, 1] against [1, 4096], diag of a long vector,
// tile, a Jacobian of a large target, a large convolution). Tensors kept for later calls hold
// at most max_elements elements, and before such an op the harness estimates its cost and
// skips it above max_work. Sizes, offsets and multiples are either small or at least 2^61
// in magnitude: small ones keep ops cheap, huge ones must overflow any element count or byte
// size (2^61 elements of 4 bytes are above the library's 2^62-byte cap), so the library must
// reject them with an error and never allocate. Sizes in between (say 2^40) are valid
// requests that only fail for lack of memory; they are not drawn.
//
// NOTE [ Findings ]
// Every finding of this harness was fixed in the library and has a regression test in
// tests/fuzz_findings_test.cpp; fuzz/README.md lists them. A finding that cannot be fixed at
// once would stop every run at the same place: guard it here (named known_*, steering
// around the input) with a note in the README, and remove the guard with the fix.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapegrad/ops/elementwise_table.hpp"
#include "tapegrad/tapegrad.hpp"

#if __has_include("tapegrad/anomaly.hpp")
#define TAPEGRAD_FUZZ_HAS_ANOMALY 1
#else
#define TAPEGRAD_FUZZ_HAS_ANOMALY 0
#endif

namespace tg = tapegrad;

namespace {

// See NOTE [ Keeping every input cheap ].
constexpr std::int64_t max_elements = 4096;
constexpr std::int64_t max_work = std::int64_t{1} << 21;
constexpr std::size_t max_pool = 12;
constexpr std::size_t max_variables = 6;
// Above the library's nesting limit (64), so that its error is reached too.
constexpr std::size_t max_tapes = 70;
constexpr int max_steps = 400;
constexpr std::int64_t max_jacobian_rows = 32;

/// TAPEGRAD_FUZZ_TRACE=1 in the environment prints each step and each caught error, which
/// turns a crashing input into a readable program (see fuzz/README.md).
const bool trace = std::getenv("TAPEGRAD_FUZZ_TRACE") != nullptr;

/// Prints a detail of the current step when tracing.
template <class... A>
void note(const char* format, A... args) {
  if (!trace) return;
  std::fprintf(stderr, "    ");
  std::fprintf(stderr, format, args...);
  std::fprintf(stderr, "\n");
}

/// "[2,3]" or "(2, -1)": shapes and integer arguments in a trace.
std::string text(const std::vector<std::int64_t>& v) {
  std::string out = "(";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
  return out + ")";
}

/// Stops the run with a message: an invariant that no exception reports was broken.
[[noreturn]] void invariant_failed(const char* what, int line) {
  std::fprintf(stderr, "\n*** tapegrad fuzz invariant broken (api_fuzzer.cpp:%d): %s\n", line,
               what);
  std::fflush(stderr);
  std::abort();
}
#define FUZZ_CHECK(cond, what)                     \
  do {                                             \
    if (!(cond)) invariant_failed(what, __LINE__); \
  } while (false)

/// a * b, or nullopt when it overflows (either may be negative: then it is not a size).
std::optional<std::int64_t> checked_mul(std::int64_t a, std::int64_t b) {
  std::int64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out)) return std::nullopt;
  return out;
}

/// The element count of dims, or nullopt when a dimension is negative or the count overflows.
std::optional<std::int64_t> element_count(const std::vector<std::int64_t>& dims) {
  std::int64_t n = 1;
  for (std::int64_t d : dims) {
    if (d < 0) return std::nullopt;
    const auto next = checked_mul(n, d);
    if (!next) return std::nullopt;
    n = *next;
  }
  return n;
}

/// The element count of `shape` with every 0 read as 1. An empty tensor's other dimensions
/// still cost: reducing over its empty axis gives their product of elements, and printing
/// it or gathering from it walks them (NOTE [ Keeping every input cheap ]).
std::int64_t span(const tg::Shape& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    const auto next = checked_mul(n, std::max<std::int64_t>(d, 1));
    if (!next) return std::numeric_limits<std::int64_t>::max();
    n = *next;
  }
  return n;
}

/// Whether an op asked for `count` elements is worth running: cheap, or so large (at least
/// 2^61 elements, or not representable at all) that the library must refuse it outright.
bool affordable(std::optional<std::int64_t> count) {
  return !count || *count <= max_work || *count >= (std::int64_t{1} << 61);
}

/// The span of the shape that `shapes` broadcast to: what an elementwise op over them writes.
/// 0 when they do not broadcast, which the op refuses before doing any work.
std::int64_t broadcast_span(std::initializer_list<tg::Shape> shapes) {
  try {
    tg::Shape out;
    for (const tg::Shape& s : shapes) out = tg::broadcast_shapes(out, s, "fuzz");
    return span(out);
  } catch (const tg::shape_error&) {
    return 0;
  }
}

/// The work of matmul(a, b, ta, tb) and of its gradient, for affordable(): for every matrix of
/// the broadcast batch, m * n * k multiply-adds and the m * k and k * n elements of the
/// operands' gradients. The batch is the broadcast of both operands' batch dimensions, which
/// can be far larger than either operand ([55,1,2,1,30,1,1] and [55,1,2,1,30,1,1,5] give
/// 10.9 million products). 0 when the operands do not fit and nullopt when the output cannot
/// exist: matmul refuses both before doing any work.
std::optional<std::int64_t> matmul_work(const tg::Shape& sa, const tg::Shape& sb, bool ta,
                                        bool tb) {
  const int ra = sa.rank(), rb = sb.rank();
  if (ra == 0 || rb == 0) return 0;
  // NumPy's rules: a vector is a row on the left and a column on the right, untransposed.
  const std::int64_t m = ra == 1 ? 1 : sa[ta ? ra - 1 : ra - 2];
  const std::int64_t k = ra == 1 ? sa[0] : sa[ta ? ra - 2 : ra - 1];
  const std::int64_t kb = rb == 1 ? sb[0] : sb[tb ? rb - 1 : rb - 2];
  const std::int64_t n = rb == 1 ? 1 : sb[tb ? rb - 2 : rb - 1];
  if (k != kb) return 0;
  const tg::Shape batch_a = ra <= 2 ? tg::Shape{} : tg::Shape(sa.begin(), sa.end() - 2);
  const tg::Shape batch_b = rb <= 2 ? tg::Shape{} : tg::Shape(sb.begin(), sb.end() - 2);
  const std::int64_t slices = broadcast_span({batch_a, batch_b});
  if (slices == 0) return 0;
  const auto outputs = checked_mul(slices, std::max<std::int64_t>(m * n, 1));
  if (!outputs || *outputs >= (std::int64_t{1} << 61)) return std::nullopt;
  std::int64_t work = 0, operands = 0;
  const bool overflows = __builtin_mul_overflow(*outputs, std::max<std::int64_t>(k, 1), &work) ||
                         __builtin_mul_overflow(slices, m * k + k * n, &operands) ||
                         __builtin_add_overflow(work, operands, &work);
  return overflows ? std::numeric_limits<std::int64_t>::max() : work;
}

/// The input, read front to back. Reading past the end gives zeros, so every decision still
/// has an answer; the program stops once the bytes are used up.
class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  std::uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  template <class U>
  U raw() {
    unsigned char buffer[sizeof(U)] = {};
    for (auto& b : buffer) b = u8();
    U out;
    std::memcpy(&out, buffer, sizeof(U));
    return out;
  }
  bool flag() { return (u8() & 1) != 0; }
  /// One in `n` (n <= 256).
  bool one_in(unsigned n) { return u8() % n == 0; }
  /// A number in [0, n), n <= 256.
  std::size_t below(std::size_t n) { return n <= 1 ? 0 : u8() % n; }
  int in_range(int lo, int hi) {
    return lo + static_cast<int>(below(static_cast<std::size_t>(hi - lo + 1)));
  }

  /// A size, offset, multiple or padding: mostly small, sometimes -1 or another negative,
  /// sometimes huge (see NOTE [ Keeping every input cheap ]).
  std::int64_t dim() {
    static constexpr std::int64_t huge[] = {std::numeric_limits<std::int64_t>::max(),
                                            std::numeric_limits<std::int64_t>::min(),
                                            std::numeric_limits<std::int64_t>::max() - 1,
                                            std::numeric_limits<std::int64_t>::min() + 1,
                                            std::int64_t{1} << 62,
                                            -(std::int64_t{1} << 62),
                                            (std::int64_t{1} << 61) + 3,
                                            -(std::int64_t{1} << 61) - 3,
                                            tg::none};
    const std::uint8_t b = u8();
    if (b < 170) return b % 5;
    if (b < 200) return 5 + b % 12;
    if (b < 220) return -1;
    if (b < 235) return -2 - b % 4;
    return huge[b % (sizeof(huge) / sizeof(huge[0]))];
  }
  std::vector<std::int64_t> dims(std::size_t n) {
    std::vector<std::int64_t> out(n);
    for (auto& d : out) d = dim();
    return out;
  }
  /// An axis for a tensor of `rank`: mostly valid (negative or not), sometimes just outside,
  /// rarely far outside.
  int axis(int rank) {
    const std::uint8_t b = u8();
    if (b < 240) return (b % (2 * rank + 4)) - rank - 2;
    static constexpr int far[] = {INT_MIN, INT_MAX, INT_MIN + 1, 1000, -1000, 64};
    return far[b % 6];
  }
  /// A rank: mostly 0 to 4, sometimes up to the maximum of 8, rarely 9 (too many).
  int rank() {
    const std::uint8_t b = u8();
    if (b < 200) return b % 5;
    if (b < 254) return 5 + b % 4;
    return tg::Shape::max_rank + 1;
  }

  /// A double: the special values, raw bits, or a small number.
  double real() {
    using L = std::numeric_limits<double>;
    const std::uint8_t b = u8();
    switch (b % 20) {
      case 0:
        return 0.0;
      case 1:
        return -0.0;
      case 2:
        return 1.0;
      case 3:
        return -1.0;
      case 4:
        return L::quiet_NaN();
      case 5:
        return L::infinity();
      case 6:
        return -L::infinity();
      case 7:
        return L::max();
      case 8:
        return L::lowest();
      case 9:
        return L::denorm_min();
      case 10:
        return -L::denorm_min();
      case 11:
        return L::min();
      case 12:
        return L::epsilon();
      case 13:
        return raw<double>();
      case 14:
        return static_cast<double>(raw<float>());
      case 15:
        return 1e30 * (b & 0x20 ? -1 : 1);
      default:
        return static_cast<double>(static_cast<std::int8_t>(u8())) / 8.0;
    }
  }
  /// A value of type T: the special values of T itself (NaN, infinities, the largest and
  /// denormal values, raw bit patterns) or a small number.
  template <class T>
  T value() {
    if constexpr (std::is_same_v<T, bool>) {
      return flag();
    } else if constexpr (std::is_integral_v<T>) {
      const std::uint8_t b = u8();
      if (b < 200) return static_cast<T>(static_cast<int>(b % 11) - 2);
      if (b < 240) return static_cast<T>(b % 64);
      static constexpr std::int64_t huge[] = {std::numeric_limits<std::int64_t>::max(),
                                              std::numeric_limits<std::int64_t>::min(),
                                              INT32_MAX,
                                              INT32_MIN,
                                              -1,
                                              1 << 20};
      return static_cast<T>(huge[b % 6]);  // narrowing an int64 to int32 wraps, as it may
    } else {
      using L = std::numeric_limits<T>;
      const std::uint8_t b = u8();
      switch (b % 16) {
        case 0:
          return L::quiet_NaN();
        case 1:
          return L::infinity();
        case 2:
          return -L::infinity();
        case 3:
          return L::max();
        case 4:
          return L::lowest();
        case 5:
          return L::denorm_min();
        case 6:
          return L::min();
        case 7:
          return T(-0.0);
        case 8:
          return raw<T>();
        default:
          return static_cast<T>(static_cast<std::int8_t>(u8())) / T(16);
      }
    }
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

/// A shape of rank 0 to 8 with small dimensions (0 and 1 included) and at most
/// max_elements elements.
tg::Shape small_shape(Bytes& in, int rank) {
  rank = std::min(rank, tg::Shape::max_rank);
  std::vector<std::int64_t> dims(static_cast<std::size_t>(rank));
  for (auto& d : dims) {
    const std::uint8_t b = in.u8();
    d = b < 200 ? b % 5 : (b < 250 ? b % 17 : b % 65);
  }
  // Halve the largest dimension until the tensor is small enough, zeros counting as ones.
  std::vector<std::int64_t> spans(dims.size());
  for (;;) {
    for (std::size_t i = 0; i < dims.size(); ++i) spans[i] = std::max<std::int64_t>(dims[i], 1);
    if (*element_count(spans) <= max_elements) break;
    *std::max_element(dims.begin(), dims.end()) /= 2;
  }
  return tg::Shape(dims.begin(), dims.end());
}

/// A tensor of `shape` with values from the input: one repeated value, a short pattern
/// repeated, or a ramp.
template <class T>
tg::Tensor<T> make_tensor(Bytes& in, const tg::Shape& shape) {
  tg::Tensor<T> t(shape, T{});
  T* p = t.mutable_data();
  const std::int64_t n = t.size();
  switch (in.below(3)) {
    case 0: {
      const T v = in.value<T>();
      std::fill_n(p, n, v);
      break;
    }
    case 1: {
      T pattern[16];
      const std::size_t period = 1 + in.below(16);
      for (std::size_t i = 0; i < period; ++i) pattern[i] = in.value<T>();
      for (std::int64_t i = 0; i < n; ++i) p[i] = pattern[static_cast<std::size_t>(i) % period];
      break;
    }
    default: {
      const int start = static_cast<std::int8_t>(in.u8());
      const int step = static_cast<std::int8_t>(in.u8()) % 5;
      for (std::int64_t i = 0; i < n; ++i) {
        if constexpr (std::is_same_v<T, bool>)
          p[i] = ((start + step * i) & 1) != 0;
        else
          p[i] = static_cast<T>(start + step * (i % 97));
      }
      break;
    }
  }
  return t;
}

/// The thread's tape stack as the library sees it: how many tapes are on it, and the
/// counter of listeners (recording or paused tapes, anomaly guards and pauses) ops consult.
int stack_depth() {
  int depth = 0;
  for (auto* t = tg::detail::thread_tapes.top; t; t = t->below) depth += t->barrier ? 0 : 1;
  return depth;
}

/// One GradientTape and what the harness expects of it. The pause is declared after the
/// tape so that it is destroyed first: a RecordingPause must not outlive its tape.
struct TapeSlot {
  std::unique_ptr<tg::GradientTape> tape;
  std::optional<tg::RecordingPause> pause;
  bool persistent = false;
  bool on_stack = false;  // recording or paused: on the thread's stack
  bool used = false;      // a non-persistent tape whose gradient() has run
};

enum class Outcome { ok, tape_error, error };

/// Runs f, catching exactly the documented exception types; anything else escapes.
template <class F>
Outcome attempt(F&& f) {
  try {
    f();
    return Outcome::ok;
  } catch (const tg::tape_error& e) {
    if (trace) std::fprintf(stderr, "    tape_error: %s\n", e.what());
    return Outcome::tape_error;
  } catch (const tg::error& e) {
    if (trace) std::fprintf(stderr, "    error: %s\n", e.what());
    return Outcome::error;
  } catch (const std::out_of_range& e) {  // tapegrad::index_error
    if (trace) std::fprintf(stderr, "    out_of_range: %s\n", e.what());
    return Outcome::error;
  }
}

/// The interpreter: reads op codes and their arguments and calls the API.
class Program {
 public:
  explicit Program(Bytes& in) : in_(in), gen_(in.raw<std::uint16_t>()) {}
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  void run() {
    teardown_order_ = in_.u8();
    for (int step = 0; step < max_steps && !in_.empty(); ++step) {
      this->step(in_.u8());
      check_stack();
    }
    teardown();
  }

 private:
  // ---- pools of values ----

  template <class T>
  std::vector<tg::Tensor<T>>& pool() {
    return std::get<std::vector<tg::Tensor<T>>>(pools_);
  }
  template <class T>
  std::vector<tg::Variable<T>>& variables() {
    return std::get<std::vector<tg::Variable<T>>>(variables_);
  }

  /// Keeps a result for later calls (if it is small enough), replacing an old one when the
  /// pool is full.
  template <class T>
  void keep(const tg::Tensor<T>& t) {
    if (!t.has_value() || span(t.shape()) > max_elements) return;
    auto& p = pool<T>();
    if (p.size() < max_pool)
      p.push_back(t);
    else
      p[in_.below(p.size())] = t;
  }

  /// A tensor from the pool; a new small one when the pool is empty; rarely one with no value
  /// (what gradient() returns for None), which every op must refuse with an error.
  template <class T>
  tg::Tensor<T> tensor() {
    auto& p = pool<T>();
    const std::uint8_t b = in_.u8();
    if (b == 255) return tg::Tensor<T>();
    if (p.empty() || b >= 240) {
      tg::Tensor<T> t = make_tensor<T>(in_, small_shape(in_, in_.rank()));
      keep(t);
      return t;
    }
    return p[b % p.size()];
  }
  /// A new tensor shaped like x, or like a shape x broadcasts with (leading axes dropped,
  /// some axes set to 1), so that binary ops often get operands that fit.
  template <class T>
  tg::Tensor<T> tensor_like(const tg::Shape& shape) {
    std::vector<std::int64_t> dims(shape.begin(), shape.end());
    switch (in_.below(4)) {
      case 0:
        break;
      case 1:
        for (auto& d : dims)
          if (in_.flag()) d = 1;
        break;
      case 2:
        dims.erase(dims.begin(),
                   dims.begin() + static_cast<std::ptrdiff_t>(in_.below(dims.size() + 1)));
        break;
      default:
        return tensor<T>();
    }
    return make_tensor<T>(in_, tg::Shape(dims.begin(), dims.end()));
  }

  /// Calls f with a Tensor<T> or, sometimes, a Variable<T> (read inside the op, which makes
  /// recording tapes watch it).
  template <class T, class F>
  void operand(F&& f) {
    if constexpr (tg::is_differentiable_v<T>) {
      auto& vars = variables<T>();
      if (!vars.empty() && in_.below(4) == 0) {
        f(vars[in_.below(vars.size())]);
        return;
      }
    }
    f(tensor<T>());
  }
  /// Calls f(T{}) for T = float or double.
  template <class F>
  void floating(F&& f) {
    if (in_.flag())
      f(float{});
    else
      f(double{});
  }
  /// Calls f(T{}) for any element type.
  template <class F>
  void any_type(F&& f) {
    switch (in_.below(5)) {
      case 0:
        f(float{});
        break;
      case 1:
        f(double{});
        break;
      case 2:
        f(std::int32_t{});
        break;
      case 3:
        f(std::int64_t{});
        break;
      default:
        f(bool{});
        break;
    }
  }
  /// Calls f(I{}) for an index type.
  template <class F>
  void index_type(F&& f) {
    if (in_.flag())
      f(std::int32_t{});
    else
      f(std::int64_t{});
  }

  /// The shape of a Tensor or a Variable.
  template <class X>
  static tg::Shape shape_of(const X& x) {
    return x.shape();
  }
  template <class X>
  static bool has_value(const X& x) {
    if constexpr (std::is_same_v<X, tg::Variable<tg::detail::element_t<X>>>)
      return true;
    else
      return x.has_value();
  }

  // ---- the tape model ----

  int model_depth() const {
    int depth = 0;
    for (const auto& s : tapes_) depth += s->on_stack ? 1 : 0;
    return depth;
  }
  /// The library's stack against the model: one entry per tape on the stack, a listener
  /// count of those plus the anomaly guards and live pauses, and recording() as predicted for
  /// every tape.
  void check_stack() const {
    // A custom forward sees a stack of its own; inside a sweep, a non-persistent tape is off
    // the stack until its gradient() returns.
    if (in_custom_forward_ || backward_depth_ > 0) return;
    FUZZ_CHECK(stack_depth() == model_depth(),
               "the thread's tape stack does not hold exactly the tapes that were pushed and "
               "not stopped or destroyed");
    // A live pause counts too: it installs an observer, which listens, until it is released.
    int pauses = 0;
    for (const auto& s : tapes_) pauses += s->pause ? 1 : 0;
    FUZZ_CHECK(tg::detail::thread_tapes.recording ==
                   model_depth() + static_cast<int>(anomaly_guards_.size()) + pauses,
               "the thread's listener count does not match the tapes on its stack");
    for (const auto& s : tapes_) {
      FUZZ_CHECK(s->tape->recording() == (s->on_stack && !s->pause),
                 "GradientTape::recording() differs from what its history implies");
      FUZZ_CHECK(s->tape->persistent() == s->persistent, "GradientTape::persistent() changed");
    }
  }
  /// Whether `slot`'s gradient() or jacobian() is running (a custom gradient function called
  /// back into the harness). Its start() and reset(), and another gradient() of a
  /// non-persistent tape, must then throw tape_error; destroying it would be a plain use after
  /// free (an object destroyed inside its own member function) and is never done.
  bool sweeping(const TapeSlot* slot) const {
    return std::find(sweeping_.begin(), sweeping_.end(), slot) != sweeping_.end();
  }
  /// Marks `slot` as sweeping while alive.
  struct Sweep {
    Sweep(std::vector<const TapeSlot*>& stack, const TapeSlot* slot) : stack_(stack) {
      stack_.push_back(slot);
    }
    Sweep(const Sweep&) = delete;
    Sweep& operator=(const Sweep&) = delete;
    ~Sweep() { stack_.pop_back(); }
    std::vector<const TapeSlot*>& stack_;
  };
  TapeSlot* pick_tape() {
    if (tapes_.empty()) return nullptr;
    const std::size_t i = in_.below(tapes_.size());
    note("on tape %zu", i);
    return tapes_[i].get();
  }
  /// Updates the model after a gradient()/jacobian() call on `slot`: a non-persistent tape
  /// is spent and leaves the stack on success, and must refuse once spent.
  void after_gradient(TapeSlot& slot, Outcome outcome) {
    if (slot.persistent) return;
    if (slot.used)
      FUZZ_CHECK(outcome != Outcome::ok,
                 "a non-persistent tape computed a second set of gradients");
    if (outcome == Outcome::ok) {
      slot.used = true;
      slot.on_stack = false;
    }
  }

  void open_tape() {
    if (tapes_.size() >= max_tapes) return;
    tg::TapeOptions options;
    options.persistent = in_.flag();
    options.watch_accessed_variables = in_.below(4) != 0;
    const bool full = stack_depth() >= tg::detail::max_nested_tapes;
    note("tape %zu: persistent %d, watch_accessed_variables %d", tapes_.size(),
         options.persistent ? 1 : 0, options.watch_accessed_variables ? 1 : 0);
    auto slot = std::make_unique<TapeSlot>();
    const Outcome outcome = attempt([&] {
      slot->tape = in_.flag() && options.persistent == tg::persistent.persistent &&
                           options.watch_accessed_variables
                       ? std::make_unique<tg::GradientTape>(tg::persistent)
                       : std::make_unique<tg::GradientTape>(options);
    });
    if (full) {
      FUZZ_CHECK(outcome == Outcome::tape_error, "a 65th nested tape was accepted");
      return;
    }
    FUZZ_CHECK(outcome == Outcome::ok, "opening a tape failed below the nesting limit");
    slot->persistent = options.persistent;
    slot->on_stack = true;
    tapes_.push_back(std::move(slot));
  }

  void close_tape() {
    if (tapes_.empty()) return;
    const std::size_t i = in_.below(tapes_.size());
    note("destroy tape %zu", i);
    if (sweeping(tapes_[i].get())) return;
    tapes_.erase(tapes_.begin() + static_cast<std::ptrdiff_t>(i));
  }

  void control_tape() {
    TapeSlot* slot = pick_tape();
    if (!slot) return;
    tg::GradientTape& tape = *slot->tape;
    const std::size_t op = in_.below(8);
    static constexpr const char* names[] = {
        "stop",  "start",  "reset", "stop_recording", "release the pause", "watched_variables",
        "watch", "explain"};
    note("%s", names[op]);
    if ((op == 1 || op == 2) && sweeping(slot)) {
      FUZZ_CHECK(attempt([&] { op == 1 ? tape.start() : tape.reset(); }) == Outcome::tape_error,
                 "start() or reset() inside the tape's own gradient() did not throw tape_error");
      return;
    }
    switch (op) {
      case 0:
        tape.stop();
        slot->on_stack = false;
        break;
      case 1: {
        const bool full = stack_depth() >= tg::detail::max_nested_tapes;
        const Outcome outcome = attempt([&] { tape.start(); });
        if (slot->on_stack) {
          FUZZ_CHECK(outcome == Outcome::tape_error,
                     "start() on a recording tape did not throw tape_error");
          break;
        }
        // A stopped tape forgets a spent record before it tries to go back on the stack.
        slot->used = false;
        if (full) {
          FUZZ_CHECK(outcome == Outcome::tape_error,
                     "start() above the nesting limit did not throw tape_error");
        } else {
          FUZZ_CHECK(outcome == Outcome::ok, "start() on a stopped tape failed");
          slot->on_stack = true;
        }
        break;
      }
      case 2: {
        const Outcome outcome = attempt([&] { tape.reset(); });
        FUZZ_CHECK((outcome == Outcome::ok) == slot->on_stack,
                   "reset() succeeded on a stopped tape or failed on a recording one");
        if (outcome == Outcome::ok) slot->used = false;
        break;
      }
      case 3: {
        if (slot->pause) break;
        const Outcome outcome = attempt([&] { slot->pause.emplace(tape.stop_recording()); });
        FUZZ_CHECK((outcome == Outcome::ok) == slot->on_stack,
                   "stop_recording() succeeded on a tape that does not record, or failed on "
                   "one that does");
        break;
      }
      case 4:
        if (slot->pause) {
          // A second pause must be refused while the first is alive.
          FUZZ_CHECK(attempt([&] { auto again = tape.stop_recording(); }) == Outcome::tape_error,
                     "a second stop_recording() on a paused tape did not throw tape_error");
        }
        slot->pause.reset();
        break;
      case 5: {
        for (const auto& v : tape.watched_variables<float>()) (void)v.name();
        for (const auto& v : tape.watched_variables<double>()) (void)v.shape();
        break;
      }
      case 6:
        watch(*slot);
        break;
      default:
        explain(*slot);
        break;
    }
  }

  /// A spent non-persistent tape refuses every watch with tape_error; any other tape takes a
  /// variable, and a tensor unless it has no value.
  void watch(TapeSlot& slot) {
    floating([&](auto zero) {
      using T = decltype(zero);
      if (in_.flag()) {
        auto& vars = variables<T>();
        if (!vars.empty()) {
          const auto& v = vars[in_.below(vars.size())];
          const Outcome outcome = attempt([&] { slot.tape->watch(v); });
          FUZZ_CHECK(outcome == (slot.used ? Outcome::tape_error : Outcome::ok),
                     "watch(variable): refused a fresh tape, or accepted a spent one");
          return;
        }
      }
      const tg::Tensor<T> t = tensor<T>();
      const Outcome outcome = attempt([&] { slot.tape->watch(t); });
      if (slot.used)
        FUZZ_CHECK(outcome != Outcome::ok, "watch(tensor): a spent tape accepted a watch");
    });
  }

  void explain(TapeSlot& slot) {
    floating([&](auto zero) {
      using T = decltype(zero);
      operand<T>([&](const auto& target) {
        operand<T>([&](const auto& source) {
          attempt([&] {
            const std::string text = slot.tape->explain(target, source);
            FUZZ_CHECK(!text.empty(), "explain() returned nothing");
          });
        });
      });
    });
  }

  // ---- gradients ----

  /// A gradient must have the shape of its source (or no value).
  template <class T, class S>
  static void check_gradient(const tg::Tensor<T>& g, const S& source) {
    if (g.has_value())
      FUZZ_CHECK(g.shape() == shape_of(source), "a gradient does not have its source's shape");
  }

  template <class T>
  tg::Source<T> source() {
    auto& vars = variables<T>();
    if (!vars.empty() && in_.flag()) return tg::Source<T>(vars[in_.below(vars.size())]);
    return tg::Source<T>(tensor<T>());
  }

  template <class T>
  static bool same_bits(const tg::Tensor<T>& a, const tg::Tensor<T>& b) {
    return a.has_value() == b.has_value() &&
           (!a.has_value() ||
            (a.shape() == b.shape() &&
             std::memcmp(a.data(), b.data(), sizeof(T) * static_cast<std::size_t>(a.size())) == 0));
  }

  void gradient() {
    TapeSlot* slot = pick_tape();
    if (!slot) return;
    const bool reentrant = sweeping(slot) && !slot->persistent;
    const Sweep sweep(sweeping_, slot);
    tg::GradientTape& tape = *slot->tape;
    const auto unconnected =
        in_.flag() ? tg::UnconnectedGradients::none : tg::UnconnectedGradients::zero;
    Outcome outcome = Outcome::ok;
    const std::size_t form = in_.below(6);
    note("gradient form %zu", form);
    switch (form) {
      case 0:  // one target, one source
        floating([&](auto zero) {
          using T = decltype(zero);
          operand<T>([&](const auto& target) {
            floating([&](auto source_zero) {
              using S = decltype(source_zero);
              operand<S>([&](const auto& source) {
                outcome = attempt(
                    [&] { check_gradient(tape.gradient(target, source, unconnected), source); });
              });
            });
          });
        });
        break;
      case 1:  // a braced list of sources
        floating([&](auto zero) {
          using T = decltype(zero);
          const tg::Tensor<T> target = tensor<T>();
          const tg::Source<T> a = source<T>(), b = source<T>();
          outcome = attempt([&] {
            const auto grads = tape.gradient(target, {a, b}, unconnected);
            FUZZ_CHECK(grads.size() == 2, "gradient() returned the wrong number of gradients");
            for (std::size_t k = 0; k < 2; ++k)
              if (grads[k].has_value())
                FUZZ_CHECK(grads[k].shape() == (k ? b : a).shape(),
                           "a gradient does not have its source's shape");
          });
        });
        break;
      case 2:  // a std::vector of tensors or of variables
        floating([&](auto zero) {
          using T = decltype(zero);
          const tg::Tensor<T> target = tensor<T>();
          if (in_.flag() && !variables<T>().empty()) {
            std::vector<tg::Variable<T>> sources;
            for (std::size_t k = in_.below(4); k > 0; --k)
              sources.push_back(variables<T>()[in_.below(variables<T>().size())]);
            outcome = attempt([&] {
              const auto grads = tape.gradient(target, sources, unconnected);
              FUZZ_CHECK(grads.size() == sources.size(), "wrong number of gradients");
              for (std::size_t k = 0; k < grads.size(); ++k) check_gradient(grads[k], sources[k]);
            });
          } else {
            std::vector<tg::Tensor<T>> sources;
            for (std::size_t k = in_.below(4); k > 0; --k) sources.push_back(tensor<T>());
            outcome = attempt([&] {
              const auto grads = tape.gradient(target, sources, unconnected);
              FUZZ_CHECK(grads.size() == sources.size(), "wrong number of gradients");
              for (std::size_t k = 0; k < grads.size(); ++k) check_gradient(grads[k], sources[k]);
            });
          }
        });
        break;
      case 3:  // the general form: several targets with output_gradients
        floating([&](auto zero) {
          using T = decltype(zero);
          std::vector<tg::Tensor<T>> targets, output_gradients;
          for (std::size_t k = in_.below(4); k > 0; --k) targets.push_back(tensor<T>());
          const std::size_t n_seeds = in_.below(3) == 0 ? in_.below(4) : targets.size();
          for (std::size_t k = 0; k < n_seeds; ++k) {
            if (k < targets.size() && targets[k].has_value() && in_.below(4) != 0)
              output_gradients.push_back(make_tensor<T>(in_, targets[k].shape()));
            else
              output_gradients.push_back(in_.flag() ? tg::Tensor<T>() : tensor<T>());
          }
          floating([&](auto source_zero) {
            using S = decltype(source_zero);
            std::vector<tg::Source<S>> sources;
            for (std::size_t k = in_.below(4); k > 0; --k) sources.push_back(source<S>());
            std::vector<tg::Tensor<S>> first;
            outcome = attempt([&] {
              first = tape.gradient(targets, sources, output_gradients, unconnected);
              FUZZ_CHECK(first.size() == sources.size(), "wrong number of gradients");
              for (std::size_t k = 0; k < first.size(); ++k)
                if (first[k].has_value())
                  FUZZ_CHECK(first[k].shape() == sources[k].shape(),
                             "a gradient does not have its source's shape");
            });
            // A persistent tape answers the same question with the same bits every time.
            if (outcome == Outcome::ok && slot->persistent) {
              std::vector<tg::Tensor<S>> second;
              FUZZ_CHECK(attempt([&] {
                           second = tape.gradient(targets, sources, output_gradients, unconnected);
                         }) == Outcome::ok,
                         "a persistent tape failed to repeat a gradient it had computed");
              for (std::size_t k = 0; k < first.size(); ++k)
                FUZZ_CHECK(same_bits(first[k], second[k]),
                           "a persistent tape gave different gradients for the same question");
            }
            for (const auto& g : first) keep(g);
          });
        });
        break;
      case 4: {  // a tuple of mixed element types
        const tg::Tensor<float> target = tensor<float>();
        const tg::Tensor<float> a = tensor<float>();
        auto& vars = variables<double>();
        if (vars.empty()) return;
        const tg::Variable<double> b = vars[in_.below(vars.size())];
        outcome = attempt([&] {
          auto [da, db] = tape.gradient(target, std::make_tuple(a, b), unconnected);
          check_gradient(da, a);
          check_gradient(db, b);
          keep(da);
          keep(db);
        });
        break;
      }
      default:  // a map of named sources
        floating([&](auto zero) {
          using T = decltype(zero);
          const tg::Tensor<T> target = tensor<T>();
          std::map<std::string, tg::Variable<T>> named;
          auto& vars = variables<T>();
          for (std::size_t k = 0; k < vars.size(); ++k)
            if (in_.flag()) named.emplace("v" + std::to_string(k), vars[k]);
          outcome = attempt([&] {
            const auto grads = tape.gradient(target, named, unconnected);
            FUZZ_CHECK(grads.size() == named.size(), "wrong number of gradients");
            for (const auto& [name, g] : grads) check_gradient(g, named.at(name));
          });
        });
        break;
    }
    if (reentrant)
      FUZZ_CHECK(outcome == Outcome::tape_error,
                 "a non-persistent tape's gradient() inside its own gradient() did not throw "
                 "tape_error");
    after_gradient(*slot, outcome);
  }

  void jacobian() {
    TapeSlot* slot = pick_tape();
    if (!slot) return;
    const bool reentrant = sweeping(slot) && !slot->persistent;
    const Sweep sweep(sweeping_, slot);
    tg::GradientTape& tape = *slot->tape;
    const auto unconnected =
        in_.flag() ? tg::UnconnectedGradients::none : tg::UnconnectedGradients::zero;
    const bool batch = in_.flag();
    std::optional<Outcome> outcome;  // empty when the call was skipped
    floating([&](auto zero) {
      using T = decltype(zero);
      operand<T>([&](const auto& target) {
        operand<T>([&](const auto& source) {
          if (!has_value(target) || !has_value(source)) {
            outcome = attempt([&] { (void)tape.jacobian(target, source, unconnected); });
            return;
          }
          const tg::Shape ts = shape_of(target), ss = shape_of(source);
          // One reverse sweep per target element (per batch row): keep them few.
          if (ts.size() > max_jacobian_rows || !affordable(checked_mul(ts.size(), ss.size())))
            return;
          // A result of rank above 8 must be refused before any sweep spends the tape.
          const int result_rank =
              batch ? std::max(ts.rank(), 1) + std::max(ss.rank(), 1) - 1 : ts.rank() + ss.rank();
          const bool too_deep = result_rank > tg::Shape::max_rank;
          outcome = attempt([&] {
            if (batch) {
              const tg::Tensor<T> j = tape.batch_jacobian(target, source, unconnected);
              if (j.has_value()) {
                tg::Shape expected{ts[0]};
                for (int i = 1; i < ts.rank(); ++i) expected.push_back(ts[i]);
                for (int i = 1; i < ss.rank(); ++i) expected.push_back(ss[i]);
                FUZZ_CHECK(j.shape() == expected, "batch_jacobian has the wrong shape");
              }
              keep(j);
            } else {
              const tg::Tensor<T> j = tape.jacobian(target, source, unconnected);
              if (j.has_value()) {
                std::vector<std::int64_t> expected(ts.begin(), ts.end());
                expected.insert(expected.end(), ss.begin(), ss.end());
                const tg::Shape js = j.shape();
                FUZZ_CHECK(std::vector<std::int64_t>(js.begin(), js.end()) == expected,
                           "jacobian has the wrong shape");
              }
              keep(j);
            }
          });
          if (too_deep)
            FUZZ_CHECK(*outcome == Outcome::error, "a Jacobian of rank above 8 was not refused");
        });
      });
    });
    if (outcome && reentrant)
      FUZZ_CHECK(*outcome != Outcome::ok,
                 "a non-persistent tape's jacobian() inside its own gradient() did not fail");
    if (outcome) after_gradient(*slot, *outcome);
  }

  // ---- tensors and variables ----

  void new_tensor() {
    any_type([&](auto zero) {
      using T = decltype(zero);
      keep(make_tensor<T>(in_, small_shape(in_, in_.rank())));
    });
  }

  /// The other constructors, and shapes that must be refused.
  void construct() {
    floating([&](auto zero) {
      using T = decltype(zero);
      switch (in_.below(8)) {
        case 0:  // a shape with huge or negative dimensions: an error, never an allocation
          attempt([&] {
            const auto dims = in_.dims(1 + in_.below(3));
            if (!affordable(element_count(dims))) return;
            const tg::Tensor<T> t(tg::Shape(dims.begin(), dims.end()), in_.value<T>());
            std::ostringstream os;
            os << t;
            keep(t);
          });
          break;
        case 1:  // too many dimensions
          attempt([&] {
            tg::Shape s;
            for (int i = 0; i <= tg::Shape::max_rank; ++i) s.push_back(1);
          });
          break;
        case 2: {  // values that do not fill the shape
          const tg::Shape s = small_shape(in_, in_.rank());
          std::vector<T> values(in_.below(9));
          for (auto& v : values) v = in_.value<T>();
          attempt([&] { keep(tg::Tensor<T>(s, values)); });
          break;
        }
        case 3: {  // nested lists, ragged or not
          const T a = in_.value<T>(), b = in_.value<T>();
          attempt([&] {
            if (in_.flag())
              keep(tg::Tensor<T>({{a, b}, {b, a}}));
            else
              keep(tg::Tensor<T>({{a, b}, {b}}));
          });
          attempt([&] {
            switch (in_.below(3)) {
              case 0:
                keep(tg::Tensor<T>({{{a, b}, {b, a}}, {{a, b}, {b, a}}}));
                break;
              case 1:
                keep(tg::Tensor<T>({{{a, b}, {b, a}}, {{a, b}}}));
                break;
              default:
                keep(tg::Tensor<T>({{{a, b}, {b, a}}, {{a, b}, {b}}}));
                break;
            }
          });
          break;
        }
        case 4: {  // from an Eigen matrix
          const int rows = in_.in_range(0, 4), cols = in_.in_range(0, 4);
          Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> m(rows, cols);
          for (int i = 0; i < rows; ++i)
            for (int j = 0; j < cols; ++j) m(i, j) = in_.value<T>();
          keep(tg::Tensor<T>(m));
          break;
        }
        case 5:
          keep(tg::Tensor<T>(in_.value<T>()));
          keep(tg::Tensor<T>({in_.value<T>()}));
          break;
        case 6: {
          const tg::Shape s = small_shape(in_, in_.rank());
          keep(in_.flag() ? tg::Tensor<T>::zeros(s) : tg::Tensor<T>::ones(s));
          keep(tg::Tensor<T>::full(s, in_.value<T>()));
          break;
        }
        default:
          keep(tg::Tensor<T>(small_shape(in_, in_.rank())));
          break;
      }
    });
  }

  /// Reading a tensor every way there is, printing included.
  void inspect() {
    any_type([&](auto zero) {
      using T = decltype(zero);
      const tg::Tensor<T> t = tensor<T>();
      attempt([&] {
        std::ostringstream os;
        os << t;
        (void)tg::to_string(t);
        (void)t.rank();
        (void)t.to_vector();
        switch (in_.below(6)) {
          case 0:
            (void)t.item();
            break;
          case 1:
            (void)t.matrix();
            break;
          case 2:
            (void)t.at();
            break;
          case 3:
            (void)t.at(in_.dim());
            break;
          case 4:
            (void)t.at(in_.dim(), in_.dim());
            break;
          default:
            (void)t.at(in_.dim(), in_.dim(), in_.dim());
            break;
        }
      });
    });
  }

  void new_variable() {
    floating([&](auto zero) {
      using T = decltype(zero);
      auto& vars = variables<T>();
      const tg::Tensor<T> initial = tensor<T>();
      const bool trainable = in_.below(4) != 0;
      attempt([&] {
        tg::Variable<T> v(initial, in_.flag() ? "w" : "", trainable);
        if (vars.size() < max_variables)
          vars.push_back(v);
        else
          vars[in_.below(vars.size())] = v;  // the old one may still be watched by a tape
      });
    });
  }

  void update_variable() {
    floating([&](auto zero) {
      using T = decltype(zero);
      auto& vars = variables<T>();
      if (vars.empty()) return;
      tg::Variable<T>& v = vars[in_.below(vars.size())];
      const tg::Shape before = v.shape();
      const tg::Tensor<T> value = in_.flag() ? tensor_like<T>(before) : tensor<T>();
      attempt([&] {
        switch (in_.below(5)) {
          case 0:
            v.assign(value);
            break;
          case 1:
            v.assign_add(value);
            break;
          case 2:
            v.assign_sub(value);
            break;
          case 3:
            keep(v.value());
            break;
          default:
            keep(tg::Tensor<T>(v));
            break;
        }
      });
      FUZZ_CHECK(v.shape() == before, "a variable changed its shape");
    });
  }

  // ---- ops ----

  void unary() {
    floating([&](auto zero) {
      using T = decltype(zero);
      const std::size_t op = in_.below(std::size(tg::detail::unary_op_table<T>) + 7);
      operand<T>([&](const auto& x) {
        attempt([&] {
          const tg::Tensor<T> y = apply_unary(op, x);
          FUZZ_CHECK(y.shape() == shape_of(x), "an elementwise op changed the shape");
          keep(y);
        });
      });
    });
  }
  // The elementwise table's rows (NOTE [ Op tables ]), then composites and other ops of one
  // tensor.
  template <class X>
  static tg::Tensor<tg::detail::element_t<X>> apply_unary(std::size_t op, const X& x) {
    using T = tg::detail::element_t<X>;
    const auto& table = tg::detail::unary_op_table<T>;
    if (op < std::size(table)) return table[op].apply(tg::detail::arg(x, table[op].name));
    switch (op - std::size(table)) {
      case 0:
        return -x;
      case 1:
        return tg::selu(x);
      case 2:
        return tg::gelu(x);
      case 3:
        return tg::stop_gradient(x);
      case 4:
        return tg::softmax(x);
      case 5:
        return tg::log_softmax(x);
      default:
        return tg::sigmoid(tg::tanh(x));
    }
  }

  void scalar_op() {
    floating([&](auto zero) {
      using T = decltype(zero);
      const double s = in_.real(), t = in_.real();
      const std::size_t op = in_.below(14);
      operand<T>([&](const auto& x) {
        attempt([&] {
          tg::Tensor<T> y;
          switch (op) {
            case 0:
              y = x + s;
              break;
            case 1:
              y = s + x;
              break;
            case 2:
              y = x - s;
              break;
            case 3:
              y = s - x;
              break;
            case 4:
              y = x * s;
              break;
            case 5:
              y = s * x;
              break;
            case 6:
              y = x / s;
              break;
            case 7:
              y = s / x;
              break;
            case 8:
              y = tg::pow(x, s);
              break;
            case 9:
              y = tg::pow(s, x);
              break;
            case 10:
              y = tg::leaky_relu(x, s);
              break;
            case 11:
              y = tg::clip_by_value(x, s, t);
              break;
            case 12:
              y = x * 2;
              break;  // an integer scalar
            default:
              y = tg::pow(x, in_.in_range(-2, 3));
              break;
          }
          if (op != 9) FUZZ_CHECK(y.shape() == shape_of(x), "a tensor-scalar op changed the shape");
          keep(y);
        });
      });
    });
  }

  void binary() {
    floating([&](auto zero) {
      using T = decltype(zero);
      const std::size_t op = in_.below(15);
      const double delta = in_.real();
      const int axis = in_.axis(3);
      operand<T>([&](const auto& a) {
        auto body = [&](const auto& b) {
          // See NOTE [ Keeping every input cheap ].
          if (has_value(a) && has_value(b) && broadcast_span({shape_of(a), shape_of(b)}) > max_work)
            return;
          attempt([&] {
            tg::Tensor<T> y;
            switch (op) {
              case 0:
                y = a + b;
                break;
              case 1:
                y = a - b;
                break;
              case 2:
                y = a * b;
                break;
              case 3:
                y = a / b;
                break;
              case 4:
                y = tg::pow(a, b);
                break;
              case 5:
                y = tg::maximum(a, b);
                break;
              case 6:
                y = tg::minimum(a, b);
                break;
              case 7:
                y = tg::atan2(a, b);
                break;
              case 8:
                y = tg::squared_difference(a, b);
                break;
              case 9:
                y = tg::mse(a, b);
                break;
              case 10:
                y = tg::huber(a, b, delta);
                break;
              case 11:
                y = tg::sigmoid_cross_entropy(a, b);
                break;
              case 12:
                y = tg::softmax_cross_entropy(a, b, axis);
                break;
              case 13:
                y = tg::where(tg::greater(a, b), a, b);
                break;
              default:
                y = a * a + b;
                break;
            }
            if (op <= 8)
              FUZZ_CHECK(y.shape() == tg::broadcast_shapes(shape_of(a), shape_of(b), "fuzz"),
                         "a broadcasting op has the wrong result shape");
            keep(y);
          });
        };
        if (has_value(a) && in_.flag())
          body(tensor_like<T>(shape_of(a)));
        else
          operand<T>(body);
      });
    });
  }

  void compare() {
    any_type([&](auto zero) {
      using T = decltype(zero);
      const tg::Tensor<T> a = tensor<T>();
      const tg::Tensor<T> b = a.has_value() && in_.flag() ? tensor_like<T>(a.shape()) : tensor<T>();
      if (a.has_value() && b.has_value() && broadcast_span({a.shape(), b.shape()}) > max_work)
        return;
      const std::size_t op = in_.below(8);
      attempt([&] {
        tg::Tensor<bool> mask;
        switch (op) {
          case 0:
            mask = tg::equal(a, b);
            break;
          case 1:
            mask = tg::not_equal(a, b);
            break;
          case 2:
            mask = tg::less(a, b);
            break;
          case 3:
            mask = tg::less_equal(a, b);
            break;
          case 4:
            mask = a > b;
            break;
          case 5:
            mask = a >= b;
            break;
          case 6:
            mask = a < b;
            break;
          default:
            mask = a <= b;
            break;
        }
        keep(mask);
      });
      if constexpr (!std::is_same_v<T, bool>) {
        // A scalar of another type: NaN, infinities and values beyond the element type's range.
        const double s = in_.real();
        attempt([&] {
          keep(in_.flag() ? tg::greater(a, s) : tg::less_equal(s, a));
          keep(a < s);
        });
      }
    });
  }

  void logic() {
    const tg::Tensor<bool> a = tensor<bool>();
    const tg::Tensor<bool> b =
        a.has_value() && in_.flag() ? tensor_like<bool>(a.shape()) : tensor<bool>();
    if (a.has_value() && b.has_value() && broadcast_span({a.shape(), b.shape()}) > max_work) return;
    attempt([&] {
      switch (in_.below(9)) {
        case 0:
          keep(tg::logical_and(a, b));
          break;
        case 1:
          keep(tg::logical_or(a, b));
          break;
        case 2:
          keep(tg::logical_not(a));
          break;
        case 3:
          keep(a & b);
          break;
        case 4:
          keep(a | b);
          break;
        case 5:
          keep(!a);
          break;
        case 6:
          keep(tg::any(a));
          break;
        case 7:
          keep(tg::all(a));
          break;
        default:
          floating([&](auto zero) {
            using T = decltype(zero);
            keep(tg::is_nan(tensor<T>()));
            keep(tg::is_finite(tensor<T>()));
          });
          break;
      }
    });
  }

  void where() {
    floating([&](auto zero) {
      using T = decltype(zero);
      const tg::Tensor<bool> cond = tensor<bool>();
      const std::size_t form = in_.below(3);
      const double s = in_.real();
      operand<T>([&](const auto& a) {
        operand<T>([&](const auto& b) {
          if (has_value(a) && has_value(b) && cond.has_value() &&
              broadcast_span({shape_of(a), shape_of(b), cond.shape()}) > max_work)
            return;
          attempt([&] {
            switch (form) {
              case 0:
                keep(tg::where(cond, a, b));
                break;
              case 1:
                keep(tg::where(cond, a, s));
                break;
              default:
                keep(tg::where(cond, s, b));
                break;
            }
          });
        });
      });
    });
  }

  void cast() {
    any_type([&](auto from_zero) {
      using From = decltype(from_zero);
      const tg::Tensor<From> x = tensor<From>();
      any_type([&](auto to_zero) {
        using To = decltype(to_zero);
        attempt([&] {
          const tg::Tensor<To> y = tg::cast<To>(x);
          FUZZ_CHECK(y.shape() == x.shape(), "cast changed the shape");
          keep(y);
        });
      });
    });
  }

  void reduce() {
    floating([&](auto zero) {
      using T = decltype(zero);
      const std::size_t op = in_.below(6), form = in_.below(3);
      const bool keepdims = in_.flag();
      operand<T>([&](const auto& x) {
        const int rank = has_value(x) ? shape_of(x).rank() : 0;
        const int axis = in_.axis(rank);
        std::vector<int> axes(in_.below(4));
        for (auto& a : axes) a = in_.axis(rank);
        // The same six reductions over all elements, one axis or several; the trailing
        // SourceLocation of each is left defaulted.
        const auto reduce_by = [&](const auto&... where) {
          switch (op) {
            case 0:
              return tg::sum(x, where...);
            case 1:
              return tg::mean(x, where...);
            case 2:
              return tg::max(x, where...);
            case 3:
              return tg::min(x, where...);
            case 4:
              return tg::logsumexp(x, where...);
            default:
              return tg::prod(x, where...);
          }
        };
        attempt([&] {
          tg::Tensor<T> y;
          if (form == 0) {
            y = reduce_by();
            FUZZ_CHECK(y.rank() == 0, "a full reduction is not 0-d");
          } else if (form == 1) {
            y = reduce_by(axis, keepdims);
            FUZZ_CHECK(y.rank() == rank - (keepdims ? 0 : 1), "a reduction has the wrong rank");
          } else {
            y = reduce_by(axes, keepdims);
          }
          keep(y);
        });
      });
    });
  }

  void statistics() {
    const std::size_t op = in_.below(4);
    if (op == 3) {
      any_type([&](auto zero) {
        using T = decltype(zero);
        const tg::Tensor<T> x = tensor<T>();
        const int axis = in_.axis(x.has_value() ? x.rank() : 0);
        attempt([&] { keep(in_.flag() ? tg::argmax(x, axis) : tg::argmin(x, axis)); });
      });
      return;
    }
    floating([&](auto zero) {
      using T = decltype(zero);
      static constexpr double ords[] = {1,
                                        2,
                                        std::numeric_limits<double>::infinity(),
                                        0,
                                        3,
                                        -std::numeric_limits<double>::infinity(),
                                        std::numeric_limits<double>::quiet_NaN(),
                                        -1};
      const double ord = ords[in_.below(8)];
      const bool keepdims = in_.flag();
      operand<T>([&](const auto& x) {
        const int axis = in_.axis(has_value(x) ? shape_of(x).rank() : 0);
        attempt([&] {
          switch (op) {
            case 0:
              keep(tg::norm(x, tg::NormOrder(ord)));
              break;
            case 1:
              keep(tg::norm(x, tg::NormOrder(ord), axis, keepdims));
              break;
            default:
              keep(in_.flag() ? tg::variance(x) : tg::variance(x, axis, keepdims));
              break;
          }
        });
      });
    });
  }

  void reshape_family() {
    floating([&](auto zero) {
      using T = decltype(zero);
      const std::size_t op = in_.below(7);
      operand<T>([&](const auto& x) {
        const int rank = has_value(x) ? shape_of(x).rank() : 0;
        const std::size_t n = in_.below(3) == 0 ? in_.below(10) : static_cast<std::size_t>(rank);
        attempt([&] {
          switch (op) {
            case 0: {
              const auto dims = in_.dims(in_.below(10));
              keep(tg::reshape(x, dims));
              break;
            }
            case 1: {
              std::vector<int> perm;
              if (in_.below(4) != 0) {
                // Mostly a permutation, sometimes with a repeat or an axis out of range.
                for (int i = 0; i < rank; ++i) perm.push_back(i);
                for (int i = rank - 1; i > 0; --i) std::swap(perm[i], perm[in_.below(i + 1)]);
                if (in_.one_in(8) && !perm.empty()) perm[in_.below(perm.size())] = in_.axis(rank);
                if (in_.one_in(8)) perm.push_back(0);
              }
              const tg::Tensor<T> y = tg::transpose(x, perm);
              FUZZ_CHECK(y.size() == shape_of(x).size(), "transpose changed the size");
              keep(y);
              break;
            }
            case 2:
              keep(tg::expand_dims(x, in_.axis(rank + 1)));
              break;
            case 3: {
              std::vector<int> axes(in_.below(3));
              for (auto& a : axes) a = in_.axis(rank);
              keep(tg::squeeze(x, axes));
              break;
            }
            case 4: {
              const auto dims = in_.dims(n);
              if (!affordable(element_count(dims))) return;
              keep(tg::broadcast_to(x, tg::Shape(dims.begin(), dims.end())));
              break;
            }
            case 5: {
              const auto dims = in_.dims(n);
              keep(tg::sum_to(x, tg::Shape(dims.begin(), dims.end())));
              break;
            }
            default: {
              const auto multiples = in_.dims(n);
              note("tile %s by %s", shape_of(x).str().c_str(), text(multiples).c_str());
              std::optional<std::int64_t> count = shape_of(x).size();
              for (std::int64_t m : multiples)
                count = count && m >= 0 ? checked_mul(*count, m) : std::nullopt;
              if (!affordable(count)) return;
              keep(tg::tile(x, multiples));
              break;
            }
          }
        });
      });
    });
  }

  void slicing() {
    floating([&](auto zero) {
      using T = decltype(zero);
      const std::size_t op = in_.below(3);
      operand<T>([&](const auto& x) {
        const int rank = has_value(x) ? shape_of(x).rank() : 0;
        const std::size_t n = in_.below(4) == 0 ? in_.below(10) : static_cast<std::size_t>(rank);
        attempt([&] {
          switch (op) {
            case 0: {
              const auto begin = in_.dims(n), size = in_.dims(in_.one_in(8) ? n + 1 : n);
              keep(tg::slice(x, begin, size));
              break;
            }
            case 1: {
              const std::size_t k = std::min<std::size_t>(n, in_.below(4) == 0 ? n : rank);
              const auto begin = in_.dims(k), end = in_.dims(k), strides = in_.dims(k);
              keep(tg::strided_slice(x, begin, end, strides));
              break;
            }
            default: {
              std::vector<std::pair<std::int64_t, std::int64_t>> paddings(n);
              std::optional<std::int64_t> count = 1;
              const tg::Shape s = has_value(x) ? shape_of(x) : tg::Shape{};
              for (std::size_t i = 0; i < n; ++i) {
                paddings[i] = {in_.dim(), in_.dim()};
                const std::int64_t extent =
                    static_cast<int>(i) < s.rank() ? s[static_cast<int>(i)] : 0;
                std::int64_t total = 0;
                if (__builtin_add_overflow(paddings[i].first, paddings[i].second, &total) ||
                    __builtin_add_overflow(total, extent, &total) || total < 0)
                  count = std::nullopt;
                else if (count)
                  count = checked_mul(*count, total);
              }
              if (!affordable(count)) return;
              keep(tg::pad(x, paddings, in_.real()));
              break;
            }
          }
        });
      });
    });
  }

  void joining() {
    floating([&](auto zero) {
      using T = decltype(zero);
      const std::size_t op = in_.below(4);
      // Several tensors, often the same one or shaped alike, so that they sometimes fit.
      std::vector<tg::Tensor<T>> xs;
      for (std::size_t k = in_.below(6); k > 0; --k) {
        if (!xs.empty() && xs.back().has_value() && in_.flag())
          xs.push_back(in_.flag() ? xs.back() : tensor_like<T>(xs.back().shape()));
        else
          xs.push_back(tensor<T>());
      }
      const tg::Tensor<T> x = xs.empty() ? tensor<T>() : xs[0];
      const int rank = x.has_value() ? x.rank() : 0;
      const int axis = in_.axis(rank + (op == 0 ? 1 : 0));
      attempt([&] {
        switch (op) {
          case 0:
            keep(tg::stack(xs, axis));
            break;
          case 1:
            keep(tg::concat(xs, axis));
            break;
          case 2: {
            const std::vector<std::int64_t> sizes = in_.dims(in_.below(5));
            for (const auto& part : tg::split(x, sizes, axis)) keep(part);
            break;
          }
          default: {
            const int pieces = in_.in_range(-1, 6);
            for (const auto& part : tg::split(x, pieces, axis)) keep(part);
            break;
          }
        }
      });
    });
  }

  /// Integer tensors for gather and labels: from the pool, or made with small values.
  template <class I>
  tg::Tensor<I> indices(const tg::Shape& shape) {
    if (in_.flag()) return tensor<I>();
    return make_tensor<I>(in_, shape);
  }

  void indexing() {
    floating([&](auto zero) {
      using T = decltype(zero);
      index_type([&](auto index_zero) {
        using I = decltype(index_zero);
        const std::size_t op = in_.below(3);
        operand<T>([&](const auto& x) {
          const bool ok = has_value(x);
          const tg::Shape s = ok ? shape_of(x) : tg::Shape{};
          attempt([&] {
            switch (op) {
              case 0: {
                const tg::Tensor<I> idx = indices<I>(small_shape(in_, in_.below(3)));
                const int axis = in_.axis(s.rank());
                if (ok && idx.has_value() &&
                    !affordable(checked_mul(s.size(), std::max<std::int64_t>(idx.size(), 1))))
                  return;
                keep(tg::gather(x, idx, axis));
                break;
              }
              case 1: {
                const tg::Tensor<I> idx = indices<I>(small_shape(in_, in_.below(3)));
                const std::int64_t depth = in_.dim();
                if (idx.has_value() && !affordable(checked_mul(idx.size(), depth))) return;
                keep(tg::one_hot<T>(idx, depth, in_.value<T>(), in_.value<T>()));
                break;
              }
              default: {
                // Labels for the logits' batch shape (or a wrong one), values mostly in range.
                tg::Shape batch;
                if (s.rank() > 0) batch = tg::Shape(s.begin(), s.end() - 1);
                const tg::Tensor<I> labels =
                    in_.below(4) == 0 ? tensor<I>() : make_tensor<I>(in_, batch);
                keep(tg::sparse_softmax_cross_entropy(labels, x));
                break;
              }
            }
          });
        });
      });
    });
  }

  void linalg() {
    floating([&](auto zero) {
      using T = decltype(zero);
      const std::size_t op = in_.below(5);
      const bool ta = in_.flag(), tb = in_.flag();
      operand<T>([&](const auto& a) {
        auto body = [&](const auto& b) {
          if (!has_value(a) || !has_value(b)) {
            attempt([&] { keep(tg::matmul(a, b, ta, tb)); });
            return;
          }
          const tg::Shape sa = shape_of(a), sb = shape_of(b);
          attempt([&] {
            switch (op) {
              case 0:
              case 1: {
                if (!affordable(matmul_work(sa, sb, ta, tb))) return;
                keep(tg::matmul(a, b, ta, tb));
                break;
              }
              case 2:
                if (!affordable(checked_mul(sa.size(), sb.size()))) return;
                keep(tg::outer(a, b));
                break;
              case 3: {
                const std::int64_t n = sa.rank() ? sa[sa.rank() - 1] : 1;
                if (!affordable(checked_mul(sa.size(), n))) return;
                keep(tg::diag(a));
                break;
              }
              default:
                keep(in_.flag() ? tg::diag_part(a) : tg::trace(a));
                break;
            }
          });
        };
        if (has_value(a) && in_.flag()) {
          // An operand that fits: [..., k, n] for a [..., m, k].
          const tg::Shape sa = shape_of(a);
          std::vector<std::int64_t> dims(sa.begin(), sa.end());
          if (!dims.empty()) {
            const std::int64_t k = dims.back();
            if (dims.size() >= 2 && in_.flag()) dims.pop_back();
            dims.back() = ta && dims.size() >= 2 ? dims[dims.size() - 2] : k;
            if (in_.flag() && dims.size() < tg::Shape::max_rank) dims.push_back(in_.in_range(0, 5));
          }
          body(make_tensor<T>(in_, tg::Shape(dims.begin(), dims.end())));
        } else {
          operand<T>(body);
        }
      });
    });
  }

  tg::Padding padding() { return in_.flag() ? tg::Padding::same : tg::Padding::valid; }
  tg::HeightWidth window_pair() {
    return in_.flag() ? tg::HeightWidth(in_.in_range(-1, 4))
                      : tg::HeightWidth(in_.dim(), in_.dim());
  }

  /// A small NHWC input, or one from the pool.
  template <class T>
  tg::Tensor<T> images() {
    if (in_.below(4) == 0) return tensor<T>();
    std::vector<std::int64_t> dims = {in_.in_range(0, 2), in_.in_range(0, 7), in_.in_range(0, 7),
                                      in_.in_range(0, 3)};
    if (in_.one_in(16)) dims.pop_back();
    return make_tensor<T>(in_, tg::Shape(dims.begin(), dims.end()));
  }

  void convolution() {
    floating([&](auto zero) {
      using T = decltype(zero);
      const tg::Tensor<T> x = images<T>();
      const bool fits = x.has_value() && x.rank() == 4 && in_.flag();
      std::vector<std::int64_t> fdims = {in_.in_range(0, 4), in_.in_range(0, 4),
                                         fits ? x.shape()[3] : in_.in_range(0, 3),
                                         in_.in_range(0, 3)};
      const tg::Tensor<T> w = in_.below(4) == 0
                                  ? tensor<T>()
                                  : make_tensor<T>(in_, tg::Shape(fdims.begin(), fdims.end()));
      const tg::HeightWidth strides = window_pair(), dilations = window_pair();
      const tg::Padding pad = padding();
      if (x.has_value() && w.has_value() &&
          !affordable(checked_mul(x.size(), std::max<std::int64_t>(w.size(), 1))))
        return;
      const std::size_t op = in_.below(3);
      attempt([&] {
        if (op == 0) {
          keep(tg::conv2d(x, w, strides, pad, dilations));
          return;
        }
        // The two gradient primitives: a grad shaped like conv2d's output, or not.
        tg::Tensor<T> y;
        if (x.has_value() && w.has_value() &&
            attempt([&] { y = tg::conv2d(x, w, strides, pad, dilations); }) == Outcome::ok) {
          const tg::Tensor<T> g = in_.below(4) == 0 ? tensor<T>() : make_tensor<T>(in_, y.shape());
          if (op == 1)
            keep(tg::conv2d_backprop_input(g, w, x.shape(), strides, pad, dilations));
          else
            keep(tg::conv2d_backprop_filter(x, g, w.shape(), strides, pad, dilations));
        } else {
          const auto dims = in_.dims(4);
          if (!affordable(element_count(dims))) return;
          const tg::Shape shape(dims.begin(), dims.end());
          if (op == 1)
            keep(tg::conv2d_backprop_input(tensor<T>(), w, shape, strides, pad, dilations));
          else
            keep(tg::conv2d_backprop_filter(x, tensor<T>(), shape, strides, pad, dilations));
        }
      });
    });
  }

  void pooling() {
    floating([&](auto zero) {
      using T = decltype(zero);
      const tg::Tensor<T> x = images<T>();
      const tg::HeightWidth ksize = window_pair(), strides = window_pair();
      const tg::Padding pad = padding();
      const auto window = checked_mul(ksize.h, ksize.w);
      const std::int64_t taps = window && *window > 0 ? *window : 1;
      if (x.has_value() && !affordable(checked_mul(x.size(), taps))) return;
      attempt([&] {
        keep(in_.flag() ? tg::max_pool2d(x, ksize, strides, pad)
                        : tg::avg_pool2d(x, ksize, strides, pad));
      });
    });
  }

  void random() {
    floating([&](auto zero) {
      using T = decltype(zero);
      const tg::Shape s = small_shape(in_, in_.rank());
      const double a = in_.real(), b = in_.real();
      attempt([&] {
        switch (in_.below(8)) {
          case 0: {
            const tg::Tensor<T> x = tensor<T>();
            keep(tg::dropout(x, in_.flag() ? a : 0.5, gen_, in_.below(4) != 0));
            break;
          }
          case 1:
            keep(tg::random_uniform<T>(s, a, b, gen_));
            break;
          case 2:
            keep(tg::random_normal<T>(s, a, b, gen_));
            break;
          case 3:
            keep(tg::truncated_normal<T>(s, a, b, gen_));
            break;
          case 4:
            keep(tg::glorot_uniform<T>(s, gen_));
            break;
          case 5:
            keep(tg::glorot_normal<T>(s, gen_));
            break;
          case 6:
            keep(tg::he_uniform<T>(s, gen_));
            break;
          default:
            keep(tg::he_normal<T>(s, gen_));
            break;
        }
      });
    });
  }

  // ---- custom gradients ----

  /// A custom op whose forward runs a few harness steps of its own (inside it the thread's
  /// tapes are set aside) and whose gradient function may be wrong in the ways a user's can:
  /// a wrong shape, too few gradients, or an error of its own mid-sweep.
  void custom() {
    if (in_custom_forward_) return;
    floating([&](auto zero) {
      using T = decltype(zero);
      const std::size_t behaviour = in_.below(8);
      const std::size_t inner_steps = in_.below(4);
      const tg::Tensor<T> x = tensor<T>();
      auto forward_steps = [this, inner_steps] {
        struct Flag {
          bool& flag;
          ~Flag() { flag = false; }
        } reset{in_custom_forward_};
        in_custom_forward_ = true;
        for (std::size_t k = 0; k < inner_steps; ++k) step(in_.u8());
      };
      // Harness steps run from inside a gradient function, i.e. during some tape's sweep.
      auto backward_steps = [this] {
        if (backward_depth_ >= 2) return;
        struct Depth {
          int& depth;
          ~Depth() { --depth; }
        } depth{++backward_depth_};
        for (std::size_t k = in_.below(4); k > 0; --k) step(in_.u8());
        // A gradient function that fails after doing things: the sweep must undo its work.
        if (in_.one_in(4)) throw tg::value_error("custom gradient fails after running steps");
      };
      attempt([&] {
        if (behaviour == 5) {
          // Two inputs, the gradient function gives one: an error when it runs.
          const tg::Tensor<T> y = tensor<T>();
          auto op = tg::custom_gradient([&](const tg::Tensor<T>& a, const tg::Tensor<T>& b) {
            forward_steps();
            return std::make_pair(
                a * b, [a](const tg::Tensor<T>& g) { return std::vector<tg::Tensor<T>>{g * a}; });
          });
          keep(op(x, y));
          return;
        }
        auto op = tg::custom_gradient([&](const tg::Tensor<T>& a) {
          forward_steps();
          tg::Tensor<T> value = tg::sin(a) * 2.0;
          if (behaviour == 6) {
            // A tape of the forward's own, opened and closed inside it: its gradient must
            // work, and the forward's value must not be recorded by the outer tapes.
            tg::GradientTape inner;
            inner.watch(a);
            const tg::Tensor<T> d = inner.gradient(tg::sin(a) * 2.0, a);
            FUZZ_CHECK(d.has_value() && d.shape() == a.shape(),
                       "a tape inside a custom gradient's forward gave no gradient");
            value = value + d * 0.0;
          }
          return std::make_pair(
              value, [a, behaviour, backward_steps](const tg::Tensor<T>& g) -> tg::Tensor<T> {
                switch (behaviour) {
                  case 7:
                    backward_steps();
                    return g * tg::cos(a) * 2.0;
                  case 0:
                    return g * tg::cos(a) * 2.0;
                  case 1:
                    return tg::sum(g);  // the wrong shape (unless a is 0-d)
                  case 2:
                    throw tg::value_error("custom gradient refuses");
                  case 3:
                    return tg::Tensor<T>();  // no gradient
                  default:
                    return g;
                }
              });
        });
        keep(op(x));
      });
    });
  }

#if TAPEGRAD_FUZZ_HAS_ANOMALY
  void anomaly() {
    if (in_.flag() && anomaly_guards_.size() < 4) {
      anomaly_guards_.push_back(std::make_unique<tg::DetectAnomaly>());
    } else if (!anomaly_guards_.empty()) {
      anomaly_guards_.erase(anomaly_guards_.begin() +
                            static_cast<std::ptrdiff_t>(in_.below(anomaly_guards_.size())));
    }
  }
#else
  void anomaly() {}
#endif

  // ---- the program ----

  void step(std::uint8_t code) {
    static constexpr const char* names[] = {
        "new_tensor",      "new_tensor", "construct",      "inspect",    "new_variable",
        "update_variable", "open_tape",  "open_tape",      "close_tape", "control_tape",
        "control_tape",    "gradient",   "gradient",       "gradient",   "jacobian",
        "unary",           "unary",      "scalar_op",      "binary",     "binary",
        "compare",         "logic",      "where",          "cast",       "reduce",
        "reduce",          "statistics", "reshape_family", "slicing",    "joining",
        "indexing",        "linalg",     "convolution",    "pooling",    "random",
        "custom",          "anomaly",    "watch",          "explain",    "explain"};
    if (trace)
      std::fprintf(stderr, "%sstep %s (tapes %zu, on stack %d)\n",
                   in_custom_forward_ ? "  forward: " : (backward_depth_ ? "  backward: " : ""),
                   names[code % 40], tapes_.size(), stack_depth());
    switch (code % 40) {
      case 0:
      case 1:
        new_tensor();
        break;
      case 2:
        construct();
        break;
      case 3:
        inspect();
        break;
      case 4:
        new_variable();
        break;
      case 5:
        update_variable();
        break;
      case 6:
      case 7:
        open_tape();
        break;
      case 8:
        close_tape();
        break;
      case 9:
      case 10:
        control_tape();
        break;
      case 11:
      case 12:
      case 13:
        gradient();
        break;
      case 14:
        jacobian();
        break;
      case 15:
      case 16:
        unary();
        break;
      case 17:
        scalar_op();
        break;
      case 18:
      case 19:
        binary();
        break;
      case 20:
        compare();
        break;
      case 21:
        logic();
        break;
      case 22:
        where();
        break;
      case 23:
        cast();
        break;
      case 24:
      case 25:
        reduce();
        break;
      case 26:
        statistics();
        break;
      case 27:
        reshape_family();
        break;
      case 28:
        slicing();
        break;
      case 29:
        joining();
        break;
      case 30:
        indexing();
        break;
      case 31:
        linalg();
        break;
      case 32:
        convolution();
        break;
      case 33:
        pooling();
        break;
      case 34:
        random();
        break;
      case 35:
        custom();
        break;
      case 36:
        anomaly();
        break;
      case 37: {
        TapeSlot* slot = pick_tape();
        if (slot) watch(*slot);
        break;
      }
      default:
        if (TapeSlot* slot = pick_tape()) explain(*slot);
        break;
    }
  }

  /// Destroys everything, tapes in an order the input chose, and checks that the thread's
  /// tape stack is empty again.
  void teardown() {
    while (!tapes_.empty()) {
      std::size_t i = 0;
      switch (teardown_order_ % 3) {
        case 0:
          i = 0;
          break;  // oldest first
        case 1:
          i = tapes_.size() - 1;
          break;  // newest first
        default:
          i = (teardown_order_ / 3 + tapes_.size()) % tapes_.size();
          break;
      }
      tapes_.erase(tapes_.begin() + static_cast<std::ptrdiff_t>(i));
      check_stack();
    }
    anomaly_guards_.clear();
    FUZZ_CHECK(tg::detail::thread_tapes.top == nullptr && tg::detail::thread_tapes.recording == 0,
               "tapes are left on the thread's stack after every tape was destroyed");
  }

  Bytes& in_;
  tg::Generator gen_;
  std::tuple<std::vector<tg::Tensor<float>>, std::vector<tg::Tensor<double>>,
             std::vector<tg::Tensor<std::int32_t>>, std::vector<tg::Tensor<std::int64_t>>,
             std::vector<tg::Tensor<bool>>>
      pools_;
  std::tuple<std::vector<tg::Variable<float>>, std::vector<tg::Variable<double>>> variables_;
  std::vector<std::unique_ptr<TapeSlot>> tapes_;
#if TAPEGRAD_FUZZ_HAS_ANOMALY
  std::vector<std::unique_ptr<tg::DetectAnomaly>> anomaly_guards_;
#else
  std::vector<int> anomaly_guards_;
#endif
  std::uint8_t teardown_order_ = 0;
  bool in_custom_forward_ = false;
  int backward_depth_ = 0;                 // custom gradient functions running harness steps
  std::vector<const TapeSlot*> sweeping_;  // tapes whose gradient() or jacobian() is running
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  Program(in).run();
  return 0;
}
