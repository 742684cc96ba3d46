#pragma once

// What a tracer must hear that no op reports (NOTE [ Tracing a function ] in
// replay/trace.hpp): every tensor the library creates and which of them hold values the host
// wrote, so that a tensor computed by code the trace cannot see is refused instead of frozen;
// and every read of a tensor's elements and every change of a generator's state on the host,
// which a replay could not repeat.
#include "tapegrad/config.hpp"

namespace tapegrad::detail {

struct TensorImpl;

/// Installed on a thread while it traces a function; null otherwise, so that the one cost
/// to untraced code is a test of a thread-local pointer where a tensor is created or read.
class TraceHooks {
 public:
  /// A new tensor with elements. Must not throw.
  virtual void on_allocated(const TensorImpl* impl) noexcept = 0;
  /// A tensor whose elements the host wrote from values it was given (a constant).
  virtual void on_host_values(const TensorImpl* impl) noexcept = 0;
  /// A read of `impl`'s elements on the host through `accessor`, called at file:line (a null
  /// file when unknown). Throws trace_error when `impl` is a value the trace computes.
  virtual void on_host_read(const TensorImpl* impl, const char* accessor, const char* file,
                            int line) = 0;
  /// A Generator's state changed on the host (`what`: a draw of its own or an assignment),
  /// which a replay would not repeat: the trace is refused when it ends. Must not throw (a
  /// destructor may restore a generator).
  virtual void on_generator_changed(const char* what) noexcept = 0;

 protected:
  ~TraceHooks() = default;
};

inline thread_local TraceHooks* trace_hooks = nullptr;

/// Tells a trace that `impl` holds values the host wrote (a constant to it).
inline void note_host_values(const TensorImpl* impl) noexcept {
  if (TAPEGRAD_UNLIKELY(trace_hooks != nullptr)) trace_hooks->on_host_values(impl);
}

}  // namespace tapegrad::detail
