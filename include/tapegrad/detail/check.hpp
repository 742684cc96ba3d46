#pragma once

#include <string>
#include <type_traits>
#include <utility>

#include "tapegrad/config.hpp"
#include "tapegrad/dtype.hpp"

// NOTE [ CHECK vs ASSERT ]
// TAPEGRAD_CHECK guards against user error and always throws the named exception type.
// TAPEGRAD_ASSERT (config.hpp) guards internal invariants: a failure is a tapegrad bug, so it
// is compiled out in release builds (NDEBUG) and aborts otherwise.
//
// NOTE [ One way to build an error message ]
// TAPEGRAD_CHECK(cond, error_type, parts...) costs one predicted branch when cond holds. The
// message is built only when it fails, in detail::fail, which is out of line and cold, so
// that the text and its std::string work stay out of the op's hot code. The parts are
// joined in order: strings and characters as they are, integers and floating-point values
// as std::to_string writes them, a DType by its name, and anything with a str() member (a
// Shape, a std::ostringstream) by that. An error thrown while a named op runs also names
// the caller's line (NOTE [ Errors that name the caller's line ] in errors.hpp).
//   TAPEGRAD_CHECK(a.rank() == 2, shape_error, "matmul: expected a matrix, got ", a.shape());

#if defined(__GNUC__) || defined(__clang__)
#define TAPEGRAD_COLD __attribute__((cold))
#else
#define TAPEGRAD_COLD
#endif

#define TAPEGRAD_CHECK(cond, error_type, ...)                                          \
  do {                                                                                 \
    if (TAPEGRAD_UNLIKELY(!(cond))) ::tapegrad::detail::fail<error_type>(__VA_ARGS__); \
  } while (false)

namespace tapegrad {
namespace detail {

inline void append_part(std::string& out, const std::string& s) {
  out += s;
}
inline void append_part(std::string& out, const char* s) {
  out += s;
}
inline void append_part(std::string& out, char c) {
  out += c;
}
inline void append_part(std::string& out, DType d) {
  out += dtype_name(d);
}
template <class N, std::enable_if_t<std::is_arithmetic_v<N> && !std::is_same_v<N, char> &&
                                        !std::is_same_v<N, bool>,
                                    int> = 0>
void append_part(std::string& out, N v) {
  out += std::to_string(v);
}
template <class S>
auto append_part(std::string& out, const S& s) -> decltype(s.str(), void()) {
  out += s.str();
}

/// Throws E with the parts joined (see NOTE [ One way to build an error message ]).
///   if (bad) detail::fail<value_error>("dropout: rate must be in [0, 1), got ", rate);
template <class E, class... Parts>
[[noreturn]] TAPEGRAD_NOINLINE TAPEGRAD_COLD void fail(const Parts&... parts) {
  std::string message;
  (append_part(message, parts), ...);
  throw E(message);
}

}  // namespace detail
}  // namespace tapegrad
