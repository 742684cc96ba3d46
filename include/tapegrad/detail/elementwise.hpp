#pragma once

#include <cstring>
#include <type_traits>
#include <vector>

#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/detail/kernels.hpp"
#include "tapegrad/detail/op_definition.hpp"
#include "tapegrad/detail/rule_helpers.hpp"
#include "tapegrad/record.hpp"
#include "tapegrad/tensor.hpp"

// The elementwise family as data: how an op struct (ops/unary.hpp, ops/binary.hpp) becomes
// an OpDefinition, and the one glue every elementwise op runs through.
namespace tapegrad::detail {

// NOTE [ One rule, two dialects ]
// An elementwise op is one struct: `name`, `reads`, `forward` (an Eigen array expression) and
// one derivative rule per input (`dx`; or `da` and `db`), each written once over a value type
// V. With V = Tensor<T> the rule runs as tapegrad ops, which a tape listening to the backward
// records, so it can be differentiated again. With V = an Eigen array map it is one fused
// Eigen expression (one allocation, one pass), used when nothing records the backward
// (backward_is_recorded()). Conventions that must stay one node (sqrt's zero-upstream rule)
// are named backward ops with definitions of their own, called through elementwise<Op>(),
// which is the op in the tensor dialect and its forward expression in the Eigen one.
// - An input with no rule has derivative 0 (the piecewise-constant ops).
// - A rule that returns one of its arguments (`const V&`) runs in the tensor dialect: sharing
//   the tensor beats copying it.
// - An op whose forward is scalar code (`fuses = false`) keeps the tensor dialect: Eigen would
//   run the whole fused rule element by element with std:: functions, which round differently
//   from the vectorised ones the composed rule uses.
// - An elementwise op's Jacobian is diagonal, so its rule applied to a tangent is its JVP.

/// What an op's rules read, so that the tape saves only that (NOTE [ Saving only what a
/// gradient reads ]): input 0 (x, or a), input 1 (b), the output (y).
enum : unsigned { reads_x = 1, reads_a = 1, reads_b = 2, reads_y = 4 };

// NOTE [ Saving only what a gradient reads ]
// Fewer saved tensors mean fewer reference counts and fewer tensors kept alive until the tape
// goes, which is most of what recording costs for small tensors. Where a rule reads no input
// or output, the backward passes the incoming gradient in its place (it has the same shape).
// A binary op's input that was broadcast is saved all the same, for its shape (NOTE [ Saving
// a shape ]).
template <class Op, class = void>
inline constexpr unsigned reads_v = reads_x | reads_b | reads_y;
template <class Op>
inline constexpr unsigned reads_v<Op, std::void_t<decltype(Op::reads)>> = Op::reads;

template <class Op, class = void>
inline constexpr bool fuses_v = true;
template <class Op>
inline constexpr bool fuses_v<Op, std::void_t<decltype(Op::fuses)>> = Op::fuses;

template <class Op, class = void>
inline constexpr bool takes_scalar_v = false;
template <class Op>
inline constexpr bool takes_scalar_v<Op, std::void_t<decltype(Op::takes_scalar)>> = true;

template <class V>
struct value_traits {
  using scalar = typename V::Scalar;
};
template <class T>
struct value_traits<Tensor<T>> {
  using scalar = T;
};
/// The element type of a rule's value type (Tensor<T> or an Eigen expression).
template <class V>
using scalar_t = typename value_traits<std::decay_t<V>>::scalar;

template <class T>
Tensor<T> sum_to(const Tensor<T>& x, const Shape& shape);
template <class T>
Tensor<T> broadcast_to(const Tensor<T>& x, const Shape& shape);
template <class Op, class T>
Tensor<T> apply_unary(const Tensor<T>& x, T s = T(0));
template <class Op, class T>
Tensor<T> apply_binary(const Tensor<T>& a, const Tensor<T>& b);

/// Op applied to x (and b): the recorded op on tensors, its forward expression on Eigen values.
template <class Op, class T>
Tensor<T> elementwise(const Tensor<T>& x) {
  return apply_unary<Op>(x);
}
template <class Op, class A, std::enable_if_t<!is_tensor_like_v<A>, int> = 0>
auto elementwise(const A& x) {
  return Op::forward(x);
}
template <class Op, class T>
Tensor<T> elementwise(const Tensor<T>& a, const Tensor<T>& b) {
  return apply_binary<Op>(a, b);
}
template <class Op, class A, class B, std::enable_if_t<!is_tensor_like_v<A>, int> = 0>
auto elementwise(const A& a, const B& b) {
  return Op::forward(a, b);
}

/// The elements of a tensor held by `x` as a flat Eigen array, without taking a reference.
template <class T>
ArrayMap<T> array_of(const ImplRef& x) {
  return ArrayMap<T>(static_cast<const T*>(x->data), static_cast<Eigen::Index>(x->size()));
}

/// A Tensor<T> on the tensor `x` holds that takes no reference of its own (so none of the
/// atomic traffic of a copy, which is most of a small op's JVP); valid while `x` is. A copy of
/// it (a tape saving it, a rule returning it) takes a reference as any copy does.
template <class T>
class Borrowed {
 public:
  explicit Borrowed(const ImplRef& x) : tensor_(ImplRef::adopt(x.get())) {}
  ~Borrowed() { static_cast<void>(std::move(tensor_).take_impl().release()); }
  Borrowed(const Borrowed&) = delete;
  Borrowed& operator=(const Borrowed&) = delete;
  const Tensor<T>& operator*() const { return tensor_; }

 private:
  Tensor<T> tensor_;
};

// ---- the rules, looked up ----

template <class Op, class V, class = void>
struct has_dx : std::false_type {};
template <class Op, class V>
struct has_dx<Op, V,
              std::void_t<decltype(Op::dx(std::declval<const V&>(), std::declval<const V&>(),
                                          std::declval<const V&>()))>> : std::true_type {};
template <class Op, class V, class = void>
struct has_dx_scalar : std::false_type {};
template <class Op, class V>
struct has_dx_scalar<
    Op, V,
    std::void_t<decltype(Op::dx(std::declval<const V&>(), std::declval<const V&>(),
                                std::declval<const V&>(), std::declval<scalar_t<V>>()))>>
    : std::true_type {};
template <class Op, class T>
inline constexpr bool has_unary_rule_v =
    takes_scalar_v<Op> ? has_dx_scalar<Op, Tensor<T>>::value : has_dx<Op, Tensor<T>>::value;

/// The unary rule dx(x, y, g [, s]).
template <class Op, class V, class S>
decltype(auto) unary_rule(const V& x, const V& y, const V& g, S s) {
  if constexpr (takes_scalar_v<Op>)
    return Op::dx(x, y, g, static_cast<scalar_t<V>>(s));
  else
    return Op::dx(x, y, g);
}

/// Rule `k` of a binary op: da(a, b, y, g) or db(a, b, y, g).
template <int K, class Op, class V>
decltype(auto) binary_rule(const V& a, const V& b, const V& y, const V& g) {
  if constexpr (K == 0)
    return Op::da(a, b, y, g);
  else
    return Op::db(a, b, y, g);
}
template <class Op, class V, class = void>
struct has_da : std::false_type {};
template <class Op, class V>
struct has_da<Op, V,
              std::void_t<decltype(Op::da(std::declval<const V&>(), std::declval<const V&>(),
                                          std::declval<const V&>(), std::declval<const V&>()))>>
    : std::true_type {};
template <class Op, class V, class = void>
struct has_db : std::false_type {};
template <class Op, class V>
struct has_db<Op, V,
              std::void_t<decltype(Op::db(std::declval<const V&>(), std::declval<const V&>(),
                                          std::declval<const V&>(), std::declval<const V&>()))>>
    : std::true_type {};
template <int K, class Op, class V>
using has_binary_rule = std::conditional_t<K == 0, has_da<Op, V>, has_db<Op, V>>;

/// Whether a rule's text runs fused: it exists, the op fuses, and it does not return an
/// argument (NOTE [ One rule, two dialects ]).
template <class Rule>
inline constexpr bool computes_v = !std::is_reference_v<Rule>;

// ---- unary ops (and tensor-scalar ops, whose scalar is the attribute) ----

// Inlined into each op's function: a call per op costs more than the work on a small tensor.
template <class Op, class T>
TAPEGRAD_ALWAYS_INLINE void unary_kernel(const T* x, T* y, std::int64_t n, T s) {
  const ArrayMap<T> in(x, static_cast<Eigen::Index>(n));
  MutableArrayMap<T> out(y, static_cast<Eigen::Index>(n));
  if constexpr (takes_scalar_v<Op>)
    out = Op::forward(in, s);
  else
    out = Op::forward(in);
  if constexpr (has_repair_v<Op>) Op::repair(x, y, n);
}

template <class Op, class T>
void unary_forward(const OpArgs& args, const ImplRef* const* inputs, TensorImpl& out) {
  const TensorImpl& x = *inputs[0]->get();
  unary_kernel<Op>(static_cast<const T*>(x.data), static_cast<T*>(out.data), x.size(),
                   static_cast<T>(args.as<ScalarAttrs>().scalar));
}

template <class Op, class T>
void unary_backward(const Entry& e, ImplRef&& g, const bool*, ImplRef* dx) {
  Tensor<T> grad(std::move(g));
  if constexpr (!has_unary_rule_v<Op, T>) {
    give(dx[0], Tensor<T>::zeros(grad.shape()));
  } else {
    const Tensor<T>& x = (reads_v<Op> & reads_x) ? e.saved(0).get<T>() : grad;
    const Tensor<T>& y = (reads_v<Op> & reads_y) ? e.saved(1).get<T>() : grad;
    const auto s = static_cast<T>(e.attrs().as<ScalarAttrs>().scalar);
    using Rule = decltype(unary_rule<Op>(x, y, grad, s));
    if constexpr (fuses_v<Op> && computes_v<Rule>) {
      if (!backward_is_recorded()) {
        Tensor<T> out = destination<T>(dx[0], *grad.impl().get());
        out.mutable_array() =
            unary_rule<Op>(x.element_array(), y.element_array(), grad.element_array(), s);
        dx[0] = std::move(out).take_impl();
        return;
      }
    }
    give(dx[0], Tensor<T>(unary_rule<Op>(x, y, grad, s)));
  }
}

template <class Op, class T>
ImplRef unary_jvp(const OpArgs& args, const ImplRef* const* inputs, const ImplRef& output,
                  const ImplRef* const* tangents) {
  if (!*tangents[0]) return {};
  if constexpr (!has_unary_rule_v<Op, T>) {
    return Tensor<T>::zeros(output->shape()).take_impl();
  } else {
    const auto s = static_cast<T>(args.as<ScalarAttrs>().scalar);
    using Rule =
        decltype(unary_rule<Op>(std::declval<const Tensor<T>&>(), std::declval<const Tensor<T>&>(),
                                std::declval<const Tensor<T>&>(), s));
    if constexpr (fuses_v<Op> && computes_v<Rule>) {
      if (!jvp_is_recorded()) {  // maps, not tensors: no reference-count traffic
        Tensor<T> out(uninitialized, *output.get());
        out.mutable_array() = unary_rule<Op>(array_of<T>(*inputs[0]), array_of<T>(output),
                                             array_of<T>(*tangents[0]), s);
        return std::move(out).take_impl();
      }
    }
    const Borrowed<T> x(*inputs[0]), y(output), t(*tangents[0]);
    return Tensor<T>(unary_rule<Op>(*x, *y, *t, s)).take_impl();
  }
}

// The flat kernels (NOTE [ Flat kernels ]): the forward kernel and fused rule above, on
// buffers instead of tensors.

template <class Op, class T>
void unary_flat_forward(const OpAttrs& attrs, const void* const* inputs, void* out,
                        std::int64_t n) {
  if (n == 1) {
    using One = Eigen::Array<T, 1, 1>;
    const One x(*static_cast<const T*>(inputs[0]));
    One y;
    if constexpr (takes_scalar_v<Op>)
      y = Op::forward(x, static_cast<T>(attrs.as<ScalarAttrs>().scalar));
    else
      y = Op::forward(x);
    *static_cast<T*>(out) = y(0);
    if constexpr (has_repair_v<Op>)
      Op::repair(static_cast<const T*>(inputs[0]), static_cast<T*>(out), n);
    return;
  }
  unary_kernel<Op>(static_cast<const T*>(inputs[0]), static_cast<T*>(out), n,
                   static_cast<T>(attrs.as<ScalarAttrs>().scalar));
}

template <class Op, class T>
using unary_rule_t =
    decltype(unary_rule<Op>(std::declval<const Tensor<T>&>(), std::declval<const Tensor<T>&>(),
                            std::declval<const Tensor<T>&>(), T(0)));

template <class Op, class T>
void unary_flat_rule(const OpAttrs& attrs, const void* const* operands, void* const* grads,
                     std::int64_t n) {
  if constexpr (has_unary_rule_v<Op, T>) {
    if constexpr (fuses_v<Op> && computes_v<unary_rule_t<Op, T>>) {
      if (grads[0] == nullptr) return;
      const auto size = static_cast<Eigen::Index>(n);
      const T* g = static_cast<const T*>(operands[0]);
      const T* x = (reads_v<Op> & reads_x) ? static_cast<const T*>(operands[1]) : g;
      const T* y = (reads_v<Op> & reads_y) ? static_cast<const T*>(operands[2]) : g;
      if (n == 1) {
        using One = Eigen::Array<T, 1, 1>;
        const One one = unary_rule<Op>(One(*x), One(*y), One(*g),
                                       static_cast<T>(attrs.as<ScalarAttrs>().scalar));
        *static_cast<T*>(grads[0]) = one(0);
        return;
      }
      MutableArrayMap<T>(static_cast<T*>(grads[0]), size) =
          unary_rule<Op>(ArrayMap<T>(x, size), ArrayMap<T>(y, size), ArrayMap<T>(g, size),
                         static_cast<T>(attrs.as<ScalarAttrs>().scalar));
    }
  }
}

/// Which operand a rule that returns one of its arguments returns, found by calling it.
template <class Rule>
std::int8_t returned_operand(Rule rule, int n_operands) {
  static constexpr float none[1] = {};
  std::vector<ArrayMap<float>> operands;  // the upstream first, as FlatRuleFn has them
  for (int k = 0; k < n_operands; ++k) operands.emplace_back(none, 1);
  const void* returned = &rule(operands);
  for (int k = 0; k < n_operands; ++k)
    if (returned == &operands[static_cast<std::size_t>(k)]) return static_cast<std::int8_t>(k);
  return flat_unsupported;
}

template <class Op, class T>
std::int8_t unary_gradient_source(int) {
  if constexpr (!has_unary_rule_v<Op, T>) {
    return flat_unsupported;
  } else if constexpr (computes_v<unary_rule_t<Op, T>>) {
    return fuses_v<Op> ? flat_computed : flat_unsupported;
  } else {
    return returned_operand(
        [](const std::vector<ArrayMap<float>>& v) -> const auto& {
          return unary_rule<Op>(v[1], v[2], v[0], 0.0f);
        },
        3);
  }
}

template <class Op, class T>
inline constexpr FlatKernels unary_flat_kernels{&unary_flat_forward<Op, T>, &unary_flat_rule<Op, T>,
                                                &unary_gradient_source<Op, T>};

/// The definition of a unary elementwise op for element type T.
template <class Op, class T>
inline constexpr OpDefinition unary_definition{
    Op::name,          OpFamily::elementwise,     1, &unary_backward<Op, T>, &unary_forward<Op, T>,
    &unary_jvp<Op, T>, &unary_flat_kernels<Op, T>};

template <class Op, class T>
void record_unary(const Tensor<T>& x, const Tensor<T>& y, T s) {
  const OpAttrs attrs = OpAttrs::of(ScalarAttrs{static_cast<double>(s)});
  const ImplRef& none = no_saved_tensor;
  record(y.impl(), unary_definition<Op, T>, {&x.impl()},
         {(reads_v<Op> & reads_x) ? &x.impl() : &none, (reads_v<Op> & reads_y) ? &y.impl() : &none},
         attrs);
}

template <class Op, class T>
Tensor<T> apply_unary(const Tensor<T>& x, T s) {
  Tensor<T> y(uninitialized, *x.impl().get());
  unary_kernel<Op>(x.elements(), y.mutable_data(), x.size(), s);
  if (any_tape_recording()) record_unary<Op>(x, y, s);
  return y;
}

// ---- binary ops with broadcasting: each rule gives its input's gradient at the broadcast
// shape, and the glue sums it back to the input's shape. ----

template <class Op, class T>
void binary_kernel(const Tensor<T>& a, const Tensor<T>& b, const TensorImpl& out, T* y) {
  map_binary_into(a, b, out, y, [](const auto& u, const auto& v) { return Op::forward(u, v); });
}

template <class Op, class T>
void binary_forward(const OpArgs&, const ImplRef* const* inputs, TensorImpl& out) {
  binary_kernel<Op>(Tensor<T>(*inputs[0]), Tensor<T>(*inputs[1]), out, static_cast<T*>(out.data));
}

template <int K, class Op, class T>
void binary_input_gradient(const Tensor<T>& a, const Tensor<T>& b, const Tensor<T>& y,
                           const Tensor<T>& grad, const Shape& input_shape, ImplRef& slot) {
  if constexpr (!has_binary_rule<K, Op, Tensor<T>>::value) {
    give(slot, Tensor<T>::zeros(input_shape));
  } else {
    using Rule = decltype(binary_rule<K, Op>(a, b, y, grad));
    if constexpr (fuses_v<Op> && computes_v<Rule>) {
      if (!backward_is_recorded() && a.impl()->same_shape(*grad.impl().get()) &&
          b.impl()->same_shape(*grad.impl().get())) {
        Tensor<T> out = destination<T>(slot, *grad.impl().get());
        out.mutable_array() = binary_rule<K, Op>(a.element_array(), b.element_array(),
                                                 y.element_array(), grad.element_array());
        slot = std::move(out).take_impl();
        return;
      }
    }
    give(slot, sum_to(Tensor<T>(binary_rule<K, Op>(a, b, y, grad)), input_shape));
  }
}

template <class Op, class T>
void binary_backward(const Entry& e, ImplRef&& g, const bool* needs, ImplRef* grads) {
  const Tensor<T> grad(std::move(g));
  // An input the rules do not read, and that was not broadcast, is not saved: it has the
  // gradient's shape, and the gradient stands in for it.
  const Tensor<T>& a = e.saved(0).impl() ? e.saved(0).get<T>() : grad;
  const Tensor<T>& b = e.saved(1).impl() ? e.saved(1).get<T>() : grad;
  const Tensor<T>& y = (reads_v<Op> & reads_y) ? e.saved(2).get<T>() : grad;
  if (needs[0]) binary_input_gradient<0, Op>(a, b, y, grad, a.shape(), grads[0]);
  if (needs[1]) binary_input_gradient<1, Op>(a, b, y, grad, b.shape(), grads[1]);
}

template <int K, class Op, class T>
void add_binary_tangent(const Tensor<T>& a, const Tensor<T>& b, const Tensor<T>& y,
                        const ImplRef& tangent, Tensor<T>& sum) {
  if (!tangent) return;
  Tensor<T> t(tangent);
  if (!t.impl()->same_shape(*y.impl().get())) t = broadcast_to(t, y.shape());
  Tensor<T> term;
  if constexpr (has_binary_rule<K, Op, Tensor<T>>::value)
    term = binary_rule<K, Op>(a, b, y, t);
  else
    term = Tensor<T>::zeros(y.shape());
  sum = sum.has_value() ? Tensor<T>(sum + term) : term;
}

/// Whether binary rule K exists and computes (does not return an argument).
template <int K, class Op, class T, bool = has_binary_rule<K, Op, Tensor<T>>::value>
inline constexpr bool binary_rule_computes_v = false;
template <int K, class Op, class T>
inline constexpr bool binary_rule_computes_v<K, Op, T, true> =
    computes_v<decltype(binary_rule<K, Op>(
        std::declval<const Tensor<T>&>(), std::declval<const Tensor<T>&>(),
        std::declval<const Tensor<T>&>(), std::declval<const Tensor<T>&>()))>;

/// A binary op's JVP as one fused expression, where nothing sees the JVP's ops, no operand
/// broadcasts and each rule that applies computes (NOTE [ One rule, two dialects ]). Reads
/// through maps: no reference-count traffic, which is most of a small op's cost.
template <class Op, class T>
bool fused_binary_jvp(const ImplRef& a, const ImplRef& b, const ImplRef& y, const ImplRef& ta,
                      const ImplRef& tb, ImplRef& out) {
  if constexpr (!fuses_v<Op>) {
    return false;
  } else {
    constexpr bool a_fuses = binary_rule_computes_v<0, Op, T>;
    constexpr bool b_fuses = binary_rule_computes_v<1, Op, T>;
    if (jvp_is_recorded() || !a->same_shape(*y.get()) || !b->same_shape(*y.get())) return false;
    const ArrayMap<T> av = array_of<T>(a), bv = array_of<T>(b), yv = array_of<T>(y);
    if constexpr (a_fuses && b_fuses) {
      if (ta && tb) {
        Tensor<T> result(uninitialized, *y.get());
        result.mutable_array() = binary_rule<0, Op>(av, bv, yv, array_of<T>(ta)) +
                                 binary_rule<1, Op>(av, bv, yv, array_of<T>(tb));
        out = std::move(result).take_impl();
        return true;
      }
    }
    if constexpr (a_fuses) {
      if (ta && !tb) {
        Tensor<T> result(uninitialized, *y.get());
        result.mutable_array() = binary_rule<0, Op>(av, bv, yv, array_of<T>(ta));
        out = std::move(result).take_impl();
        return true;
      }
    }
    if constexpr (b_fuses) {
      if (tb && !ta) {
        Tensor<T> result(uninitialized, *y.get());
        result.mutable_array() = binary_rule<1, Op>(av, bv, yv, array_of<T>(tb));
        out = std::move(result).take_impl();
        return true;
      }
    }
    return false;
  }
}

template <class Op, class T>
ImplRef binary_jvp(const OpArgs&, const ImplRef* const* inputs, const ImplRef& output,
                   const ImplRef* const* tangents) {
  if (ImplRef fused;
      fused_binary_jvp<Op, T>(*inputs[0], *inputs[1], output, *tangents[0], *tangents[1], fused))
    return fused;
  const Borrowed<T> a(*inputs[0]), b(*inputs[1]), y(output);
  Tensor<T> sum;
  add_binary_tangent<0, Op>(*a, *b, *y, *tangents[0], sum);
  add_binary_tangent<1, Op>(*a, *b, *y, *tangents[1], sum);
  return sum.has_value() ? std::move(sum).take_impl() : ImplRef();
}

template <class Op, class T>
void binary_flat_forward(const OpAttrs&, const void* const* inputs, void* out, std::int64_t n) {
  if (n == 1) {
    using One = Eigen::Array<T, 1, 1>;
    const One y =
        Op::forward(One(*static_cast<const T*>(inputs[0])), One(*static_cast<const T*>(inputs[1])));
    *static_cast<T*>(out) = y(0);
    return;
  }
  const auto size = static_cast<Eigen::Index>(n);
  MutableArrayMap<T>(static_cast<T*>(out), size) =
      Op::forward(ArrayMap<T>(static_cast<const T*>(inputs[0]), size),
                  ArrayMap<T>(static_cast<const T*>(inputs[1]), size));
}

template <int K, class Op, class T, class V>
void binary_flat_gradient(const V& a, const V& b, const V& y, const V& g, void* grad) {
  if constexpr (fuses_v<Op> && binary_rule_computes_v<K, Op, T>) {
    if (grad == nullptr) return;
    if constexpr (std::is_same_v<V, Eigen::Array<T, 1, 1>>)
      *static_cast<T*>(grad) = V(binary_rule<K, Op>(a, b, y, g))(0);
    else
      MutableArrayMap<T>(static_cast<T*>(grad), g.size()) = binary_rule<K, Op>(a, b, y, g);
  }
}

template <class Op, class T>
void binary_flat_rule(const OpAttrs&, const void* const* operands, void* const* grads,
                      std::int64_t n) {
  const T* g = static_cast<const T*>(operands[0]);
  if (n == 1) {
    using One = Eigen::Array<T, 1, 1>;
    const auto operand = [&](int k) {
      return One(operands[k] != nullptr ? *static_cast<const T*>(operands[k]) : *g);
    };
    const One a = operand(1), b = operand(2), gv(*g);
    const One y((reads_v<Op> & reads_y) ? *static_cast<const T*>(operands[3]) : *g);
    binary_flat_gradient<0, Op, T>(a, b, y, gv, grads[0]);
    binary_flat_gradient<1, Op, T>(a, b, y, gv, grads[1]);
    return;
  }
  const auto size = static_cast<Eigen::Index>(n);
  const auto operand = [&](int k) {
    return ArrayMap<T>(operands[k] != nullptr ? static_cast<const T*>(operands[k]) : g, size);
  };
  const ArrayMap<T> a = operand(1), b = operand(2), gv(g, size);
  const ArrayMap<T> y((reads_v<Op> & reads_y) ? static_cast<const T*>(operands[3]) : g, size);
  binary_flat_gradient<0, Op, T>(a, b, y, gv, grads[0]);
  binary_flat_gradient<1, Op, T>(a, b, y, gv, grads[1]);
}

template <int K, class Op, class T>
std::int8_t binary_input_gradient_source() {
  if constexpr (!has_binary_rule<K, Op, Tensor<T>>::value) {
    return flat_unsupported;
  } else if constexpr (binary_rule_computes_v<K, Op, T>) {
    return fuses_v<Op> ? flat_computed : flat_unsupported;
  } else {
    return returned_operand(
        [](const std::vector<ArrayMap<float>>& v) -> const auto& {
          return binary_rule<K, Op>(v[1], v[2], v[3], v[0]);
        },
        4);
  }
}

template <class Op, class T>
std::int8_t binary_gradient_source(int input) {
  return input == 0 ? binary_input_gradient_source<0, Op, T>()
                    : binary_input_gradient_source<1, Op, T>();
}

template <class Op, class T>
inline constexpr FlatKernels binary_flat_kernels{
    &binary_flat_forward<Op, T>, &binary_flat_rule<Op, T>, &binary_gradient_source<Op, T>};

/// The definition of a binary elementwise op for element type T.
template <class Op, class T>
inline constexpr OpDefinition binary_definition{Op::name,
                                                OpFamily::elementwise,
                                                2,
                                                &binary_backward<Op, T>,
                                                &binary_forward<Op, T>,
                                                &binary_jvp<Op, T>,
                                                &binary_flat_kernels<Op, T>};

template <class Op, class T>
void record_binary(const Tensor<T>& a, const Tensor<T>& b, const Tensor<T>& y) {
  // An input the rules read is saved; one they do not read, but that was broadcast, is saved
  // for its shape (NOTE [ Saving a shape ]); the others are not saved at all.
  ImplRef a_shape, b_shape;
  auto to_save = [&](const Tensor<T>& x, bool read, ImplRef& holder) {
    if (read) return &x.impl();
    return x.impl()->same_shape(*y.impl().get()) ? &no_saved_tensor
                                                 : shape_to_save(x.impl(), holder);
  };
  record(y.impl(), binary_definition<Op, T>, {&a.impl(), &b.impl()},
         {to_save(a, reads_v<Op> & reads_a, a_shape), to_save(b, reads_v<Op> & reads_b, b_shape),
          (reads_v<Op> & reads_y) ? &y.impl() : &no_saved_tensor});
}

template <class Op, class T>
Tensor<T> apply_binary(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> y = broadcast_result<T>(a, b, Op::name);
  binary_kernel<Op>(a, b, *y.impl().get(), y.mutable_data());
  if (any_tape_recording()) record_binary<Op>(a, b, y);
  return y;
}

}  // namespace tapegrad::detail
