#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "tapegrad/detail/tensor_impl.hpp"

// NOTE [ Ops as data ]
// Every recorded op is an OpDefinition: a name, a family, and the functions that let one
// loop treat every op alike. The tape's entry points at the definition (with the op's
// attributes, input and output nodes and what it saved), so replaying a forward, applying a
// rule into given buffers, propagating a tangent, drawing a node or counting its bytes needs
// no per-op code. A definition lives in static storage: entries and traces hold its address.
//
// Families convert to this form one at a time. An op not converted yet has a definition with
// only its backward (`legacy_op`): `forward` and `jvp` are null, and transformations that
// need them say so (a typed error) rather than guess.
namespace tapegrad::detail {

/// The non-tensor arguments of an op (a scalar operand, an axis, flags).
struct OpAttrs {
  double scalar = 0;
  std::int64_t ints[2] = {0, 0};
};

/// Which table an op belongs to (NOTE [ Op tables ]).
enum class OpFamily : std::uint8_t {
  elementwise,
  reduction,
  shape,
  indexing,
  linalg,
  convolution,
  random,
  custom,
};

struct Entry;

/// Computes the gradients of an entry's inputs from the gradient `grad` of its output, with
/// the library's own ops (so that an outer tape records them). needs[k] asks for input k; the
/// result goes to input_grads[k] (left empty when that input gets none). A slot that already
/// holds a tensor on entry is a destination: the gradient is written into its elements, which
/// have the input's shape and dtype. Both arrays have entry.n_inputs elements.
using BackwardFn = void (*)(const Entry& entry, ImplRef&& grad, const bool* needs,
                            ImplRef* input_grads);

/// Computes the op's output from its inputs and attributes into `out`, which has the output's
/// shape and dtype; bit for bit what the op itself computes.
using ForwardFn = void (*)(const OpAttrs& attrs, const ImplRef* const* inputs, TensorImpl& out);

/// The output's tangent, given the inputs, the output and a tangent per input (an empty one
/// is zero), computed with the library's ops (so that a tape can record it).
using JvpFn = ImplRef (*)(const OpAttrs& attrs, const ImplRef* const* inputs, const ImplRef& output,
                          const ImplRef* const* tangents);

/// One op, as data.   record(y.impl(), matmul_op<T>, {&a.impl(), &b.impl()}, ...);
struct OpDefinition {
  const char* name;
  OpFamily family;
  int arity;  // number of tensor inputs; -1 for a variable number
  BackwardFn backward;
  ForwardFn forward = nullptr;
  JvpFn jvp = nullptr;
};

/// A definition for an op whose family is not converted yet: its backward only.
constexpr OpDefinition legacy_op(const char* name, OpFamily family, int arity,
                                 BackwardFn backward) {
  return OpDefinition{name, family, arity, backward, nullptr, nullptr};
}

/// The identity's rules: the gradient and the tangent pass unchanged.
inline void identity_backward(const Entry&, ImplRef&& g, const bool*, ImplRef* dx) {
  if (!dx[0]) {
    dx[0] = std::move(g);
    return;
  }
  std::memcpy(dx[0]->data, g->data, static_cast<std::size_t>(g->size) * dtype_size(g->dtype));
}
inline void identity_forward(const OpAttrs&, const ImplRef* const* inputs, TensorImpl& out) {
  const TensorImpl& x = *inputs[0]->get();
  std::memcpy(out.data, x.data, static_cast<std::size_t>(x.size) * dtype_size(x.dtype));
}
inline ImplRef identity_jvp(const OpAttrs&, const ImplRef* const*, const ImplRef&,
                            const ImplRef* const* tangents) {
  return *tangents[0];
}

/// The definition of an op that leaves its input unchanged under the op `name` (NOTE [ Ops
/// that leave their input unchanged ]): an identity that keeps the caller's op name. Made
/// once per name and kept for the program's life; this path is rare.
inline const OpDefinition& identity_op_named(const char* name) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<OpDefinition>> made;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = made[name];
  if (!slot)
    slot = std::make_unique<OpDefinition>(OpDefinition{name, OpFamily::shape, 1, &identity_backward,
                                                       &identity_forward, &identity_jvp});
  return *slot;
}

}  // namespace tapegrad::detail

/// The definition of an op whose family is not converted yet (NOTE [ Ops as data ]), made
/// once at compile time where the op records.
///   record(y.impl(), TAPEGRAD_LEGACY_OP("diag", linalg, 1, &diag_backward<T>), {&v.impl()}, {});
#define TAPEGRAD_LEGACY_OP(name, family, arity, backward)                                         \
  ([]() -> const ::tapegrad::detail::OpDefinition& {                                              \
    static constexpr ::tapegrad::detail::OpDefinition definition = ::tapegrad::detail::legacy_op( \
        name, ::tapegrad::detail::OpFamily::family, arity, backward);                             \
    return definition;                                                                            \
  }())
