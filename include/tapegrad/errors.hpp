#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "tapegrad/config.hpp"
#include "tapegrad/source_location.hpp"

namespace tapegrad {

namespace detail {
// NOTE [ Errors that name the caller's line ]
// Every named op takes the caller's SourceLocation as a defaulted last argument, and its
// OpScope (detail/tape_state.hpp) publishes it here while the op runs, the outermost op
// winning so that an op built from others names the user's line. An error constructed
// meanwhile copies it: e.location() gives it and what() ends with " (called at FILE:LINE)"
// once. Errors from anything but a named op (a tape's gradient(), an operator) carry none.
inline thread_local const SourceLocation* current_op_site = nullptr;

/// For an error whose message already says where it happened (anomaly_error).
struct WithoutLocation {};
inline constexpr WithoutLocation without_location{};

/// An error's message, and the op call it came from: shared, so that copying an exception
/// cannot throw.
class ErrorText {
 public:
  explicit ErrorText(const std::string& message) : ErrorText(message, current_op_site) {}
  ErrorText(const std::string& message, WithoutLocation) : ErrorText(message, nullptr) {}
  const char* what() const noexcept { return data_->what.c_str(); }
  const std::string& message() const noexcept { return data_->message; }
  SourceLocation location() const noexcept { return data_->location; }

 private:
  ErrorText(const std::string& message, const SourceLocation* site);
  struct Data {
    std::string message, what;
    SourceLocation location;
  };
  std::shared_ptr<Data> data_;
};

// Outside the class, so that the precompiled part can hold it (TAPEGRAD_HEADER_DEFINITIONS in
// config.hpp): only a failing call runs it.
#if TAPEGRAD_HEADER_DEFINITIONS
TAPEGRAD_PRECOMPILED_INLINE ErrorText::ErrorText(const std::string& message,
                                                 const SourceLocation* site)
    : data_(std::make_shared<Data>()) {
  data_->message = message;
  if (site != nullptr && site->file != nullptr) {
    data_->location = *site;
    data_->what = message + " (called at " + site->file + ":" + std::to_string(site->line) + ")";
  } else {
    data_->what = message;
  }
}
#endif
}  // namespace detail

/// Base of the exceptions tapegrad throws for a misuse, except index_error, which derives
/// from std::out_of_range as std::vector::at's does. Both derive from std::exception. An
/// error from a named op says where it was called: what() ends with " (called at FILE:LINE)"
/// and location() gives the file and line (a null file for errors from anything else).
///   try { tape.gradient(y, x); } catch (const tapegrad::error& e) { std::cerr << e.what(); }
class error : public std::runtime_error {
 public:
  explicit error(const std::string& message) : std::runtime_error(message), text_(message) {}
  const char* what() const noexcept override { return text_.what(); }
  /// The message without the caller's location.
  const std::string& message() const noexcept { return text_.message(); }
  /// Where the user called the op that failed; file is null when no named op was running.
  SourceLocation location() const noexcept { return text_.location(); }

 protected:
  error(const std::string& message, detail::WithoutLocation)
      : std::runtime_error(message), text_(message, detail::without_location) {}

 private:
  detail::ErrorText text_;
};

/// Shapes that do not fit an op: "matmul: inner dimensions differ: [2,3] x [4,5]".
class shape_error : public error {
 public:
  using error::error;
};

/// An element type an op cannot take (e.g. differentiating an integer tensor).
class dtype_error : public error {
 public:
  using error::error;
};

/// A bad argument value: an empty ("no gradient") tensor, a dropout rate above 1, ...
class value_error : public error {
 public:
  using error::error;
};

/// An axis, an index or a class label outside its range:
/// "gather: index 7 is out of range for axis 0 of size 5". Like error, it says where the
/// named op that failed was called (location(), and the end of what()).
class index_error : public std::out_of_range {
 public:
  explicit index_error(const std::string& message) : std::out_of_range(message), text_(message) {}
  const char* what() const noexcept override { return text_.what(); }
  /// The message without the caller's location.
  const std::string& message() const noexcept { return text_.message(); }
  /// Where the user called the op that failed; file is null when no named op was running.
  SourceLocation location() const noexcept { return text_.location(); }

 private:
  detail::ErrorText text_;
};

/// A misuse of a GradientTape: a second gradient() on a non-persistent tape, ...
class tape_error : public error {
 public:
  using error::error;
};

/// What a traced function (tapegrad::function) cannot replay: a host read of a traced value
/// while tracing, a tensor computed by code the trace cannot see, a variable that is gone.
class trace_error : public error {
 public:
  using error::error;
};

}  // namespace tapegrad

#include "tapegrad/detail/check.hpp"
