#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>

#include "tapegrad/detail/tensor_impl.hpp"

// NOTE [ Ops as data ]
// Every recorded op is an OpDefinition: a name, a family, and the functions that let one
// loop treat every op alike. The tape's entry points at the definition (with the op's
// attributes, input and output nodes and what it saved), so replaying a forward, applying a
// rule into given buffers, propagating a tangent, drawing a node or counting its bytes needs
// no per-op code. A definition lives in static storage: entries and traces hold its address.
//
// A definition without `forward` or `jvp` (a custom gradient: its forward is the user's code,
// which the entry does not keep) makes the transformations that need them say so with a typed
// error rather than guess.
namespace tapegrad::detail {

// NOTE [ Typed attributes ]
// Each op keeps its non-tensor arguments (a scalar operand, an axis, flags, a permutation) in
// a small struct of its own, named for what it holds. The entry stores it inline, without an
// allocation or a type-erased closure, so every op's attributes copy and compare as bytes.

/// An op's attributes: a trivially copyable struct of at most 24 bytes, stored inline.
///   OpAttrs attrs = OpAttrs::of(ReduceAttrs{axis, keepdims}); attrs.as<ReduceAttrs>().axis
class OpAttrs {
 public:
  static constexpr std::size_t capacity = 24;
  OpAttrs() = default;
  template <class A>
  static OpAttrs of(const A& attributes) {
    static_assert(std::is_trivially_copyable_v<A> && sizeof(A) <= capacity &&
                      alignof(A) <= alignof(std::int64_t),
                  "an op's attributes must be a small trivially copyable struct");
    OpAttrs attrs;
    std::memcpy(attrs.words_, &attributes, sizeof(A));
    return attrs;
  }
  template <class A>
  A as() const {
    static_assert(std::is_trivially_copyable_v<A> && sizeof(A) <= capacity);
    A attributes;
    std::memcpy(&attributes, words_, sizeof(A));
    return attributes;
  }
  /// Whether only the first word can be non-zero: then an entry keeps the attributes inline.
  bool fits_in_word() const { return (words_[1] | words_[2]) == 0; }
  std::uint64_t first_word() const { return words_[0]; }
  static OpAttrs from_word(std::uint64_t word) {
    OpAttrs attrs;
    attrs.words_[0] = word;
    return attrs;
  }

 private:
  // Whole words, so that copying an entry's attributes is three moves.
  std::uint64_t words_[capacity / sizeof(std::uint64_t)] = {};
};

/// The attributes of an elementwise op with a scalar operand (x * s, leaky_relu's alpha).
struct ScalarAttrs {
  double scalar;
};
/// A reduction's: the axis (-1 for all elements) and whether it stays with size 1.
struct ReduceAttrs {
  std::int32_t axis;
  bool keepdims;
};
/// An op along one axis (stack, concat, softmax, scatter_add).
struct AxisAttrs {
  std::int32_t axis;
};
/// take and embed: the axis, the index along it, and its length n in the larger tensor.
struct TakeAttrs {
  std::int32_t axis;
  std::int64_t index;
  std::int64_t n;
};
/// gather: the axis and the length of that axis in params.
struct GatherAttrs {
  std::int32_t axis;
  std::int64_t size;
};
/// transpose: y's axis i is x's axis perm[i].
struct TransposeAttrs {
  std::int8_t perm[8];
  std::int32_t rank;
};
/// matmul: whether each operand is read transposed.
struct MatmulAttrs {
  bool transpose_a;
  bool transpose_b;
};
/// diag_part: the rows and columns of the input's matrices.
struct MatrixAttrs {
  std::int64_t rows;
  std::int64_t cols;
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
  optimizer,  // a training step's update of its state (train/optimizers.hpp): no gradient
};

struct Entry;

/// Computes the gradients of an entry's inputs from the gradient `grad` of its output, with
/// the library's own ops (so that an outer tape records them). needs[k] asks for input k; the
/// result goes to input_grads[k] (left empty when that input gets none). A slot that already
/// holds a tensor on entry is a destination: the gradient is written into its elements, which
/// have the input's shape and dtype. Both arrays have entry.n_inputs elements.
using BackwardFn = void (*)(const Entry& entry, ImplRef&& grad, const bool* needs,
                            ImplRef* input_grads);

/// An op's non-tensor arguments as its kernel and rules see them: the inline attributes, and
/// the shared data that does not fit there (a window, a convolution's geometry, a custom
/// gradient's function), which entries hold as their closure.
struct OpArgs {
  const OpAttrs& attrs;
  const std::shared_ptr<const void>& shared;

  template <class A>
  A as() const {
    return attrs.as<A>();
  }
  /// The shared data, which the op knows to be an S.
  template <class S>
  const S& data() const {
    return *static_cast<const S*>(shared.get());
  }
  template <class S>
  std::shared_ptr<const S> data_ref() const {
    return std::static_pointer_cast<const S>(shared);
  }
};

/// Computes the op's output from its inputs and arguments into `out`, which has the output's
/// shape and dtype; bit for bit what the op itself computes.
using ForwardFn = void (*)(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out);

/// The output's tangent, given the inputs, the output and a tangent per input (an empty one
/// is zero), computed with the library's ops (so that a tape can record it).
using JvpFn = ImplRef (*)(const OpArgs& args, const ImplRef* const* inputs, const ImplRef& output,
                          const ImplRef* const* tangents);

// NOTE [ Flat kernels ]
// An elementwise op whose operands all have its output's shape is one loop over flat arrays,
// and so is its rule when it runs fused (NOTE [ One rule, two dialects ]). A replay runs such
// steps on buffers it planned when it traced (NOTE [ A replay's memory plan ]): no tensor
// header, no entry, no reference count. The kernels are the eager ones, the same Eigen
// expressions over the same maps, so the values are the same bits. One element (a 0-d or
// [1] tensor, scalar-style code) goes through a fixed-size one-element array instead: the
// scalar functors Eigen's loop applies to a lone element, without the loop's setup, which
// costs more than the element.

/// y = op(inputs...) over n elements, every input of y's shape: the op's forward kernel.
using FlatForwardFn = void (*)(const OpAttrs& attrs, const void* const* inputs, void* out,
                               std::int64_t n);
/// The op's fused rules over n elements. operands: the upstream gradient, then what the entry
/// saved (input 0, input 1 for a binary op, the output), null where nothing was saved and the
/// upstream stands in, as in the op's backward. Writes input k's gradient into grads[k] where
/// that is not null.
using FlatRuleFn = void (*)(const OpAttrs& attrs, const void* const* operands, void* const* grads,
                            std::int64_t n);

/// How a flat rule gives input k's gradient: computes it, returns one of its operands as it is
/// (the upstream gradient, for x + y), or cannot run flat (no rule, or a rule in the tensor
/// dialect).
enum : std::int8_t { flat_computed = -1, flat_unsupported = -2 };

/// An op's flat kernels (NOTE [ Flat kernels ]).
struct FlatKernels {
  FlatForwardFn forward;
  FlatRuleFn rule;
  /// flat_computed, flat_unsupported, or the index of the operand input k's gradient is.
  std::int8_t (*gradient_source)(int input);
};

/// One op, as data.   record(y.impl(), matmul_op<T>, {&a.impl(), &b.impl()}, ...);
struct OpDefinition {
  const char* name;
  OpFamily family;
  int arity;  // number of tensor inputs; -1 for a variable number
  BackwardFn backward;
  ForwardFn forward = nullptr;
  JvpFn jvp = nullptr;
  const FlatKernels* flat = nullptr;  // elementwise ops of one element type
};

/// The identity's rules: the gradient and the tangent pass unchanged.
inline void identity_backward(const Entry&, ImplRef&& g, const bool*, ImplRef* dx) {
  if (!dx[0]) {
    dx[0] = std::move(g);
    return;
  }
  std::memcpy(dx[0]->data, g->data, static_cast<std::size_t>(g->size()) * dtype_size(g->dtype));
}
inline void identity_forward(const OpArgs&, const ImplRef* const* inputs, TensorImpl& out) {
  const TensorImpl& x = *inputs[0]->get();
  std::memcpy(out.data, x.data, static_cast<std::size_t>(x.size()) * dtype_size(x.dtype));
}
inline ImplRef identity_jvp(const OpArgs&, const ImplRef* const*, const ImplRef&,
                            const ImplRef* const* tangents) {
  return *tangents[0];
}

/// The ops that may leave their input unchanged (NOTE [ Ops that leave their input
/// unchanged ]), each an identity under its own name.
inline constexpr OpDefinition unchanged_ops[] = {
#define TAPEGRAD_UNCHANGED_OP(name) \
  { name, OpFamily::shape, 1, &identity_backward, &identity_forward, &identity_jvp }
    TAPEGRAD_UNCHANGED_OP("broadcast_to"), TAPEGRAD_UNCHANGED_OP("sum_to"),
    TAPEGRAD_UNCHANGED_OP("tile"),         TAPEGRAD_UNCHANGED_OP("cast"),
    TAPEGRAD_UNCHANGED_OP("dropout"),      TAPEGRAD_UNCHANGED_OP("sum"),
    TAPEGRAD_UNCHANGED_OP("max"),          TAPEGRAD_UNCHANGED_OP("min"),
    TAPEGRAD_UNCHANGED_OP("logsumexp"),    TAPEGRAD_UNCHANGED_OP("prod"),
    TAPEGRAD_UNCHANGED_OP("norm"),         TAPEGRAD_UNCHANGED_OP("identity"),
#undef TAPEGRAD_UNCHANGED_OP
};

/// The identity definition named `name`, from unchanged_ops.
inline const OpDefinition& identity_op_named(const char* name) {
  for (const OpDefinition& op : unchanged_ops)
    if (std::strcmp(op.name, name) == 0) return op;
  TAPEGRAD_ASSERT(!"identity_op_named: the name is missing from unchanged_ops");
  return unchanged_ops[0];
}

}  // namespace tapegrad::detail
