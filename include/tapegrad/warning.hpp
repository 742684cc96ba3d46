#pragma once

#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <utility>

// Warnings: things that are allowed but usually a mistake, said once and never thrown
// (an optimizer given no gradient for a variable, as TensorFlow warns).
namespace tapegrad {

/// Receives each warning's text, one line without its newline.
using WarningHandler = std::function<void(const std::string&)>;

namespace detail {
struct WarningSink {
  std::mutex mutex;
  WarningHandler handler;  // empty: std::clog
};
inline WarningSink& warning_sink() {
  static WarningSink sink;
  return sink;
}
}  // namespace detail

/// Sends tapegrad's warnings to `handler` instead of std::clog (an empty handler restores
/// std::clog) and returns the previous one. Thread-safe; the handler is called under a lock.
///   auto old = tapegrad::set_warning_handler([&](const std::string& w) { log.push_back(w); });
inline WarningHandler set_warning_handler(WarningHandler handler) {
  detail::WarningSink& sink = detail::warning_sink();
  std::lock_guard<std::mutex> lock(sink.mutex);
  std::swap(sink.handler, handler);
  return handler;
}

/// Emits a warning through the handler, or as "tapegrad warning: ..." on std::clog.
inline void warn(const std::string& message) {
  detail::WarningSink& sink = detail::warning_sink();
  std::lock_guard<std::mutex> lock(sink.mutex);
  if (sink.handler)
    sink.handler(message);
  else
    std::clog << "tapegrad warning: " << message << '\n';
}

}  // namespace tapegrad
