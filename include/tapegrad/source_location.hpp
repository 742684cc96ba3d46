#pragma once

// Where user code called an op: filled in by a defaulted argument at the call site, so that
// anomaly mode (anomaly.hpp) can name the line. __builtin_FILE and __builtin_LINE give under
// C++17 what std::source_location gives under C++20, in GCC and Clang alike.
namespace tapegrad {

/// A file and line; every named op takes one as its last, defaulted, argument.
///   auto where = tapegrad::SourceLocation::current();   // this file and line
struct SourceLocation {
  const char* file = nullptr;
  int line = 0;

  static constexpr SourceLocation current(const char* file = __builtin_FILE(),
                                          int line = __builtin_LINE()) noexcept {
    return SourceLocation{file, line};
  }
};

}  // namespace tapegrad
