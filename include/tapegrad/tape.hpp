#pragma once

#include <algorithm>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "tapegrad/detail/apply_op.hpp"
#include "tapegrad/detail/op_observer.hpp"
#include "tapegrad/detail/pause_notes.hpp"
#include "tapegrad/detail/tape_state.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/explain.hpp"
#include "tapegrad/gradient.hpp"
#include "tapegrad/ops/shape.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/unconnected_gradients.hpp"
#include "tapegrad/variable.hpp"

namespace tapegrad {

/// How a GradientTape behaves; the fields mirror tf.GradientTape's arguments.
struct TapeOptions {
  /// Allow any number of gradient() calls (TensorFlow's persistent=True).
  bool persistent = false;
  /// Watch every trainable Variable read while recording (TensorFlow's default).
  bool watch_accessed_variables = true;
};

/// Options for a tape that allows several gradient() calls.
///   tapegrad::GradientTape tape(tapegrad::persistent);
inline constexpr TapeOptions persistent{true, true};

/// Something to differentiate with respect to: a Tensor or a Variable.
template <class T>
class Source {
  static_assert(is_differentiable_v<T>,
                "GradientTape::gradient: sources must be float or double tensors or variables");

 public:
  Source(const Tensor<T>& tensor) : tensor_(tensor) {}  // NOLINT: implicit on purpose
  Source(const Variable<T>& variable) : variable_(variable.state()) {}  // NOLINT
  const Tensor<T>& tensor() const { return tensor_; }
  const std::shared_ptr<detail::VariableState>& variable() const { return variable_; }
  Shape shape() const {
    return variable_ ? detail::current_value(*variable_)->shape() : tensor_.shape();
  }

 private:
  Tensor<T> tensor_;
  std::shared_ptr<detail::VariableState> variable_;
};

class GradientTape;

/// Pauses a tape's recording for its lifetime (TensorFlow's `with tape.stop_recording():`).
/// It must end on the thread that made it (it installs an op observer there: NOTE [ What a
/// paused tape notes ]); should it outlive its tape, it does nothing more.
///   { auto pause = tape.stop_recording(); auto z = x * 2.0; }   // z is not recorded
class [[nodiscard]] RecordingPause {
 public:
  RecordingPause(RecordingPause&&) noexcept = default;
  RecordingPause(const RecordingPause&) = delete;
  RecordingPause& operator=(const RecordingPause&) = delete;
  RecordingPause& operator=(RecordingPause&&) = delete;
  ~RecordingPause() = default;

 private:
  friend class GradientTape;
  explicit RecordingPause(detail::TapeState& tape)
      : pause_(std::make_unique<detail::PausedTape>(tape)) {}
  std::unique_ptr<detail::PausedTape> pause_;
};

/// Records the ops run on watched tensors and variables on this thread, from construction
/// until stop() or destruction (the C++ form of Python's `with tf.GradientTape() as tape:`),
/// and computes gradients by walking the record backward. Tapes nest: a tape that records
/// while an inner tape's gradient() runs records that computation, which gives higher
/// derivatives. Each thread has its own stack of tapes; an op on another thread is never
/// recorded here.
///   tapegrad::Variable<float> x({2.f, 3.f});
///   tapegrad::GradientTape tape;
///   auto y = x * x;
///   std::cout << tape.gradient(y, x);   // Tensor([4. 6.], shape=(2,), dtype=float32)
class GradientTape {
 public:
  GradientTape() : GradientTape(TapeOptions{}) {}
  explicit GradientTape(const TapeOptions& options);
  GradientTape(const GradientTape&) = delete;
  GradientTape& operator=(const GradientTape&) = delete;
  /// Stops recording. Tapes may be destroyed in any order; each leaves the others as they were.
  ~GradientTape();

  /// Makes the tape track a constant, so gradients with respect to it can be taken
  /// (PyTorch's requires_grad = True).   tape.watch(x);
  template <class T>
  void watch(const Tensor<T>& tensor) {
    static_assert(is_differentiable_v<T>,
                  "GradientTape::watch: only float and double tensors can be differentiated");
    TAPEGRAD_CHECK(tensor.has_value(), value_error, "GradientTape::watch: the tensor has no value");
    check_not_spent();
    state_->watch(tensor.impl());
  }
  /// Makes the tape track a variable even when it is not trainable or the tape does not
  /// watch accessed variables.   tape.watch(v);
  template <class T>
  void watch(const Variable<T>& variable) {
    check_not_spent();
    state_->watch(variable.state());
  }
  /// The variables of element type T this tape watches, in the order they were constructed
  /// (as TensorFlow promises). A non-persistent tape still lists them after its gradient();
  /// reset() forgets them.
  ///   for (auto& v : tape.watched_variables<float>()) std::cout << v.name();
  template <class T>
  std::vector<Variable<T>> watched_variables() const {
    std::vector<std::shared_ptr<detail::VariableState>> states;
    for (const auto& v : state_->watched_variables)
      if (v->dtype == dtype_of<T>()) states.push_back(v);
    std::sort(states.begin(), states.end(),
              [](const auto& a, const auto& b) { return a->serial < b->serial; });
    return std::vector<Variable<T>>(states.begin(), states.end());
  }

  /// Stops recording for good, as leaving Python's `with` block does; gradient() still works.
  void stop() noexcept {
    ++state_->stops;
    detail::pop_tape(*state_);
  }
  /// Records again after stop(), adding to what is recorded (re-entering the `with` block).
  /// A non-persistent tape whose gradient() has run starts empty.
  void start() {
    TAPEGRAD_CHECK(!(state_->sweeps > 0), tape_error,
                   "GradientTape::start: called while this tape's gradient() runs (from a "
                   "custom gradient function)");
    TAPEGRAD_CHECK(
        !state_->on_stack, tape_error,
        "Tape is still recording, This can happen if you try to re-enter an already-active "
        "tape.");
    if (state_->used) {
      detail::notify_tape_retired(state_->id);
      state_->clear();
      state_->used = false;
      spent_reasons_.clear();
    }
    push();
  }
  /// Pauses recording while the returned guard lives.
  RecordingPause stop_recording() {
    TAPEGRAD_CHECK(state_->recording(), tape_error,
                   "Trying to stop recording a tape which is not recording.");
    return RecordingPause(*state_);
  }
  /// Forgets everything recorded and watched, as if the tape were closed and a new one opened.
  void reset() {
    TAPEGRAD_CHECK(state_->on_stack, tape_error, "Tape is not recording.");
    TAPEGRAD_CHECK(!(state_->sweeps > 0), tape_error,
                   "GradientTape::reset: called while this tape's gradient() runs (from a "
                   "custom gradient function)");
    detail::notify_tape_retired(state_->id);
    state_->clear();
    state_->used = false;
    spent_reasons_.clear();
  }
  /// True while ops are being recorded.
  bool recording() const noexcept { return state_->recording(); }
  bool persistent() const noexcept { return state_->persistent; }

  /// d sum(target) / d source, shaped like source; no value (TensorFlow's None) when the
  /// target does not depend on the source or the source was never watched. Called while a
  /// persistent tape records, the tape records the computation too (for higher derivatives),
  /// which costs time and memory; call it after stop() otherwise.
  ///   auto dy_dx = tape.gradient(y, x);
  template <class X, class S,
            std::enable_if_t<detail::is_tensor_like_v<X> && detail::is_tensor_like_v<S>, int> = 0>
  Tensor<detail::element_t<S>> gradient(
      const X& target, const S& source,
      UnconnectedGradients unconnected = UnconnectedGradients::none) {
    using T = detail::element_t<S>;
    return gradient_of<T>(target_ref(target), {Source<T>(source)}, unconnected)[0];
  }
  /// Gradients with respect to several sources, in the same order.
  ///   auto grads = tape.gradient(loss, {w, b});
  template <class X, detail::if_differentiable<X> = 0>
  std::vector<Tensor<detail::element_t<X>>> gradient(
      const X& target, std::initializer_list<Source<detail::element_t<X>>> sources,
      UnconnectedGradients unconnected = UnconnectedGradients::none) {
    return gradient_of<detail::element_t<X>>(target_ref(target), sources, unconnected);
  }
  template <class X, class S, detail::if_differentiable<X> = 0>
  std::vector<Tensor<detail::element_t<S>>> gradient(
      const X& target, const std::vector<S>& sources,
      UnconnectedGradients unconnected = UnconnectedGradients::none) {
    using T = detail::element_t<S>;
    return gradient_of<T>(target_ref(target),
                          std::vector<Source<T>>(sources.begin(), sources.end()), unconnected);
  }
  /// Sources of different element types, as a tuple; the gradients come back as a tuple.
  ///   auto [dw, db] = tape.gradient(loss, std::make_tuple(w_float, b_double));
  template <class X, class... S, detail::if_differentiable<X> = 0>
  std::tuple<Tensor<detail::element_t<S>>...> gradient(
      const X& target, const std::tuple<S...>& sources,
      UnconnectedGradients unconnected = UnconnectedGradients::none) {
    std::vector<detail::ImplRef> refs;
    std::vector<std::shared_ptr<detail::VariableState>> vars;
    std::apply([&](const auto&... s) { (add_source(s, refs, vars), ...); }, sources);
    auto grads = compute({target_ref(target)}, {detail::ImplRef()}, refs, vars, unconnected, 1);
    return as_tuple<S...>(grads[0], std::index_sequence_for<S...>{});
  }
  /// Sources by name; the gradients come back under the same names.
  ///   auto grads = tape.gradient(loss, std::map<std::string, Variable<float>>{{"w", w}});
  template <class X, class K, class S, detail::if_differentiable<X> = 0>
  std::map<K, Tensor<detail::element_t<S>>> gradient(
      const X& target, const std::map<K, S>& sources,
      UnconnectedGradients unconnected = UnconnectedGradients::none) {
    using T = detail::element_t<S>;
    std::vector<Source<T>> list;
    for (const auto& [key, source] : sources) list.emplace_back(source);
    auto grads = gradient_of<T>(target_ref(target), list, unconnected);
    std::map<K, Tensor<T>> out;
    std::size_t i = 0;
    for (const auto& [key, source] : sources) out.emplace(key, std::move(grads[i++]));
    return out;
  }

  /// The general form: the gradient of sum_i sum(output_gradients[i] * targets[i]) with
  /// respect to each source (a vector-Jacobian product). An empty output_gradients, or an
  /// entry with no value, stands for ones.
  ///   auto vjp = tape.gradient({y}, {x}, {v});
  template <class T, class S>
  std::vector<Tensor<S>> gradient(const std::vector<Tensor<T>>& targets,
                                  const std::vector<Source<S>>& sources,
                                  const std::vector<Tensor<T>>& output_gradients,
                                  UnconnectedGradients unconnected = UnconnectedGradients::none) {
    static_assert(is_differentiable_v<T>,
                  "GradientTape::gradient: targets must be float or double tensors");
    TAPEGRAD_CHECK(!(!output_gradients.empty() && output_gradients.size() != targets.size()),
                   value_error, "GradientTape::gradient: ", output_gradients.size(),
                   " output_gradients for ", targets.size(), " targets");
    std::vector<TargetRef> target_refs;
    std::vector<detail::ImplRef> seeds(targets.size());
    for (std::size_t i = 0; i < targets.size(); ++i) {
      target_refs.push_back({detail::arg(targets[i], "gradient").impl(), nullptr});
      if (i < output_gradients.size() && output_gradients[i].has_value()) {
        TAPEGRAD_CHECK(output_gradients[i].shape() == targets[i].shape(), shape_error,
                       "GradientTape::gradient: output_gradients[", i, "] has shape ",
                       output_gradients[i].shape(), " but its target has shape ",
                       targets[i].shape());
        seeds[i] = output_gradients[i].impl();
      }
    }
    std::vector<detail::ImplRef> refs;
    std::vector<std::shared_ptr<detail::VariableState>> vars;
    for (const Source<S>& s : sources) add_source(s, refs, vars);
    auto grads = compute(target_refs, seeds, refs, vars, unconnected, 1);
    std::vector<Tensor<S>> out;
    out.reserve(sources.size());
    for (auto& g : grads[0]) out.emplace_back(std::move(g));
    return out;
  }

  /// Why tape.gradient(target, source) is what it is, in words: where the chain from the
  /// source to the target breaks (never watched, a different or untrainable variable, a
  /// stop_gradient or stop_recording() cut, recorded before reset() or by another tape), or
  /// the ops the gradient flows through.
  ///   std::cout << tape.explain(loss, w) << '\n';
  template <class X, class S,
            std::enable_if_t<detail::is_tensor_like_v<X> && detail::is_tensor_like_v<S>, int> = 0>
  std::string explain(const X& target, const S& source) const {
    detail::ExplainQuery q;
    const Tensor<detail::element_t<X>> t = [&] {
      if constexpr (std::is_same_v<X, Variable<detail::element_t<X>>>)
        return Tensor<detail::element_t<X>>(detail::current_value(*target.state()));
      else
        return detail::arg(target, "explain");
    }();
    q.target = t.impl().get();
    if constexpr (std::is_same_v<X, Variable<detail::element_t<X>>>)
      q.target_variable = target.state().get();
    if constexpr (std::is_same_v<S, Variable<detail::element_t<S>>>)
      q.source_variable = source.state().get();
    else
      q.source_tensor = detail::arg(source, "explain").impl().get();
    return detail::explain(*state_, spent_reasons_, q);
  }

  /// The general form with braced lists: tape.gradient({y1, y2}, {x}, {v1, v2}).
  template <class T>
  std::vector<Tensor<T>> gradient(std::initializer_list<Tensor<T>> targets,
                                  std::initializer_list<Source<detail::identity_t<T>>> sources,
                                  std::initializer_list<Tensor<T>> output_gradients,
                                  UnconnectedGradients unconnected = UnconnectedGradients::none) {
    return gradient(std::vector<Tensor<T>>(targets), std::vector<Source<T>>(sources),
                    std::vector<Tensor<T>>(output_gradients), unconnected);
  }

  /// The Jacobian of target with respect to source, of shape target.shape + source.shape;
  /// no value when the target does not depend on the source (unless unconnected is zero).
  ///   auto j = tape.jacobian(y, x);   // y [3], x [2] -> j [3, 2]
  template <class X, class S,
            std::enable_if_t<detail::is_tensor_like_v<X> && detail::is_tensor_like_v<S>, int> = 0>
  Tensor<detail::element_t<S>> jacobian(
      const X& target, const S& source,
      UnconnectedGradients unconnected = UnconnectedGradients::none) {
    using T = detail::element_t<S>;
    check_unconnected(unconnected);
    const TargetRef t = target_ref(target);
    const Source<T> src(source);
    const Shape target_shape = t.value->shape(), source_shape = src.shape();
    check_jacobian_rank("jacobian", target_shape, source_shape,
                        target_shape.rank() + source_shape.rank());
    const Shape shape = concat(target_shape, source_shape);
    auto rows = jacobian_rows(t, src, 1);
    return assemble(rows, source_shape, shape, 0, unconnected);
  }

  /// For target [B, ...] and source [B, ...] whose batch entries do not interact, the
  /// Jacobian of each batch entry: shape [B] + target.shape[1:] + source.shape[1:].
  ///   auto j = tape.batch_jacobian(y, x);   // y [B, 3], x [B, 2] -> j [B, 3, 2]
  template <class X, class S,
            std::enable_if_t<detail::is_tensor_like_v<X> && detail::is_tensor_like_v<S>, int> = 0>
  Tensor<detail::element_t<S>> batch_jacobian(
      const X& target, const S& source,
      UnconnectedGradients unconnected = UnconnectedGradients::none) {
    using T = detail::element_t<S>;
    check_unconnected(unconnected);
    const TargetRef t = target_ref(target);
    const Source<T> src(source);
    const Shape target_shape = t.value->shape(), source_shape = src.shape();
    // TensorFlow's with_rank_at_least(2): a batch of scalars has no Jacobian per example.
    for (const Shape* s : {&target_shape, &source_shape})
      TAPEGRAD_CHECK(s->rank() >= 2, shape_error, "GradientTape::batch_jacobian: Shape ",
                     tf_shape(*s), " must have rank at least 2 (the ",
                     s == &target_shape ? "target" : "source",
                     " is [batch, ...], and each "
                     "example a tensor of rank 1 or more)");
    TAPEGRAD_CHECK(target_shape[0] == source_shape[0], shape_error,
                   "Need first dimension of target shape ", tf_shape(target_shape),
                   " and source shape ", tf_shape(source_shape), " to match.");
    const std::int64_t batch = target_shape[0];
    check_jacobian_rank("batch_jacobian", target_shape, source_shape,
                        target_shape.rank() + source_shape.rank() - 1);
    Shape batch_shape{batch};
    for (int i = 1; i < target_shape.rank(); ++i) batch_shape.push_back(target_shape[i]);
    for (int i = 1; i < source_shape.rank(); ++i) batch_shape.push_back(source_shape[i]);
    auto rows = jacobian_rows(t, src, batch);
    return assemble(rows, source_shape, batch_shape, 1, unconnected);
  }

  /// The tape's record, for tools built on the core (tests, pictures, memory reports); its
  /// layout is an implementation detail that may change.
  const detail::TapeState& internal_state() const noexcept { return *state_; }

 private:
  void push() {
    int depth = 0;
    for (auto* t = detail::thread_tapes.top; t; t = t->below) depth += t->barrier ? 0 : 1;
    TAPEGRAD_CHECK(!(depth >= detail::max_nested_tapes), tape_error, "GradientTape: more than ",
                   detail::max_nested_tapes, " tapes nested on one thread");
    detail::push_tape(*state_);
  }

  void check_not_spent() const {
    TAPEGRAD_CHECK(!state_->used, tape_error,
                   "GradientTape::watch: this non-persistent tape has computed its one set of "
                   "gradients and forgotten its record; start() it again (it starts empty) or "
                   "open it with tapegrad::persistent");
  }
  // TensorFlow's message for a value that is neither NONE nor ZERO.
  static void check_unconnected(UnconnectedGradients unconnected) {
    TAPEGRAD_CHECK(
        unconnected == UnconnectedGradients::none || unconnected == UnconnectedGradients::zero,
        value_error, "Unknown value for unconnected_gradients: ", static_cast<int>(unconnected));
  }

  // A target as the tape knows it: a tensor, or a variable, known by its handle as in
  // TensorFlow (a read after stop() would give a value no tape recorded).
  struct TargetRef {
    detail::ImplRef value;
    std::shared_ptr<detail::VariableState> variable;
  };
  template <class X>
  static TargetRef target_ref(const X& target) {
    using T = detail::element_t<X>;
    static_assert(is_differentiable_v<T>,
                  "GradientTape::gradient: the target must be a float or double tensor");
    if constexpr (std::is_same_v<X, Variable<T>>)
      return {detail::current_value(*target.state()), target.state()};
    else
      return {detail::arg(target, "gradient").impl(), nullptr};
  }

  /// gradient() of one target with respect to sources of one element type.
  template <class T>
  std::vector<Tensor<T>> gradient_of(const TargetRef& target, const std::vector<Source<T>>& sources,
                                     UnconnectedGradients unconnected);

  template <class S>
  static void add_source(const S& source, std::vector<detail::ImplRef>& refs,
                         std::vector<std::shared_ptr<detail::VariableState>>& vars) {
    const Source<detail::element_t<S>> s(source);
    add_source(s, refs, vars);
  }
  template <class T>
  static void add_source(const Source<T>& s, std::vector<detail::ImplRef>& refs,
                         std::vector<std::shared_ptr<detail::VariableState>>& vars) {
    TAPEGRAD_CHECK(!(!s.variable() && !s.tensor().has_value()), value_error,
                   "GradientTape::gradient: a source tensor has no value");
    refs.push_back(s.variable() ? detail::ImplRef() : s.tensor().impl());
    vars.push_back(s.variable());
  }

  template <class... S, std::size_t... I>
  static std::tuple<Tensor<detail::element_t<S>>...> as_tuple(std::vector<detail::ImplRef>& g,
                                                              std::index_sequence<I...>) {
    return {Tensor<detail::element_t<S>>(std::move(g[I]))...};
  }

  /// One reverse sweep per element of a row of `target` (its `batch` rows seeded together):
  /// the gradients of the source, no value where it is unconnected.
  template <class T>
  std::vector<Tensor<T>> jacobian_rows(const TargetRef& target, const Source<T>& source,
                                       std::int64_t batch) {
    std::vector<detail::ImplRef> refs;
    std::vector<std::shared_ptr<detail::VariableState>> vars;
    add_source(source, refs, vars);
    const auto sweeps = static_cast<std::size_t>(batch ? target.value->size() / batch : 0);
    auto grads = compute({target}, one_hot_seeds(target.value, batch), refs, vars,
                         UnconnectedGradients::none, sweeps);
    std::vector<Tensor<T>> rows;
    for (auto& g : grads) rows.emplace_back(std::move(g[0]));
    return rows;
  }

  /// For each of `count` sweeps, a seed that is one at the k-th element of every one of the
  /// `batch` rows of target (row-major), zero elsewhere.
  static std::vector<detail::ImplRef> one_hot_seeds(const detail::ImplRef& target,
                                                    std::int64_t batch) {
    return detail::dispatch_floating(target->dtype, [&](auto zero) {
      using T = decltype(zero);
      const std::int64_t inner = batch ? target->size() / batch : 0;
      std::vector<detail::ImplRef> seeds;
      for (std::int64_t k = 0; k < inner; ++k) {
        Tensor<T> seed(target->shape(), T(0));
        for (std::int64_t b = 0; b < batch; ++b) seed.mutable_data()[b * inner + k] = T(1);
        seeds.push_back(seed.impl());
      }
      return seeds;
    });
  }

  /// Refuses, before any sweep spends the tape, a Jacobian whose rank Shape cannot hold.
  static void check_jacobian_rank(const char* op, const Shape& target, const Shape& source,
                                  int rank) {
    TAPEGRAD_CHECK(!(rank > Shape::max_rank), shape_error, "GradientTape::", op,
                   ": the Jacobian of a target of shape ", target,
                   " with respect to a source of shape ", source, " would have rank ", rank,
                   ", above the maximum of ", Shape::max_rank);
  }
  static Shape concat(const Shape& a, const Shape& b) {
    Shape out = a;
    for (std::int64_t d : b) out.push_back(d);
    return out;
  }
  static std::string tf_shape(const Shape& s) {
    std::string out = "(";
    for (int i = 0; i < s.rank(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + (s.rank() == 1 ? ",)" : ")");
  }

  /// Stacks Jacobian rows (each shaped like the source) along `axis` of the flattened
  /// [batch, source-inner] view, then gives the result `shape`.
  template <class T>
  static Tensor<T> assemble(std::vector<Tensor<T>>& rows, const Shape& source_shape,
                            const Shape& shape, int axis, UnconnectedGradients unconnected) {
    if (rows.empty()) return Tensor<T>::zeros(shape);  // an empty target: an empty Jacobian
    bool any = false;
    for (const auto& r : rows) any = any || r.has_value();
    if (!any && unconnected == UnconnectedGradients::none) return Tensor<T>();
    for (auto& r : rows)
      if (!r.has_value()) r = Tensor<T>::zeros(source_shape);
    // Flattened first, so that a source of the largest rank still stacks.
    const std::int64_t batch = axis == 1 ? source_shape[0] : 1;
    for (auto& r : rows) r = detail::reshape(r, Shape{batch, batch ? r.size() / batch : 0});
    return detail::reshape(detail::stack(rows, axis), shape);
  }

  /// Runs `sweeps` reverse sweeps over the same targets and sources (sweep k seeded with
  /// seeds[k], or seeds[0] for all when there is one; an empty seed means ones) and returns
  /// the source gradients of each. A non-persistent tape stops recording first, as in
  /// TensorFlow, and is spent afterwards; if a sweep throws it is left as it was.
  std::vector<std::vector<detail::ImplRef>> compute(
      const std::vector<TargetRef>& targets, const std::vector<detail::ImplRef>& seeds,
      const std::vector<detail::ImplRef>& sources,
      const std::vector<std::shared_ptr<detail::VariableState>>& variables,
      UnconnectedGradients unconnected, std::size_t sweeps);

  static detail::ImplRef ones_like(const detail::ImplRef& t) {
    return detail::dispatch_floating(t->dtype, [&](auto zero) {
      using T = decltype(zero);
      return Tensor<T>::ones(t->shape()).impl();
    });
  }
  static detail::ImplRef zeros_like(const detail::ImplRef& t) {
    return detail::dispatch_floating(t->dtype, [&](auto zero) {
      using T = decltype(zero);
      return Tensor<T>::zeros(t->shape()).impl();
    });
  }

  std::unique_ptr<detail::TapeState> state_;
  // explain()'s answers for the None gradients of the one gradient() call of a spent
  // non-persistent tape; the tape's record is gone by then.
  std::vector<detail::SpentReason> spent_reasons_;
};

// Outside the class, so that it is not inline and the precompiled part can hold it.
template <class T>
std::vector<Tensor<T>> GradientTape::gradient_of(const TargetRef& target,
                                                 const std::vector<Source<T>>& sources,
                                                 UnconnectedGradients unconnected) {
  std::vector<detail::ImplRef> refs;
  std::vector<std::shared_ptr<detail::VariableState>> vars;
  for (const Source<T>& s : sources) add_source(s, refs, vars);
  auto grads = compute({target}, {detail::ImplRef()}, refs, vars, unconnected, 1);
  return std::vector<Tensor<T>>(std::make_move_iterator(grads[0].begin()),
                                std::make_move_iterator(grads[0].end()));
}

// Outside the class, so that the precompiled part can hold them (TAPEGRAD_HEADER_DEFINITIONS
// in config.hpp): they run once per tape or per gradient() call, never per op.
#if TAPEGRAD_HEADER_DEFINITIONS
TAPEGRAD_PRECOMPILED_INLINE std::vector<std::vector<detail::ImplRef>> GradientTape::compute(
    const std::vector<TargetRef>& targets, const std::vector<detail::ImplRef>& seeds,
    const std::vector<detail::ImplRef>& sources,
    const std::vector<std::shared_ptr<detail::VariableState>>& variables,
    UnconnectedGradients unconnected, std::size_t sweeps) {
  detail::TapeState& tape = *state_;
  check_unconnected(unconnected);
  // A second gradient() of a non-persistent tape from inside its first (a custom gradient
  // function calling back) is refused like one after it: it would free the record the first
  // is reading.
  TAPEGRAD_CHECK(
      !(tape.used || (tape.sweeps > 0 && !tape.persistent)), tape_error,
      "A non-persistent GradientTape can only be used to compute one set of gradients (or "
      "jacobians)");
  std::vector<detail::NodeId> source_nodes, target_nodes;
  for (std::size_t i = 0; i < sources.size(); ++i)
    source_nodes.push_back(variables[i] ? tape.find(variables[i].get())
                                        : tape.find(sources[i].get()));
  for (const auto& t : targets)
    target_nodes.push_back(t.variable ? tape.find(t.variable.get()) : tape.find(t.value.get()));

  detail::TapeStackSnapshot snapshot;
  const bool was_on_stack = tape.on_stack;
  const std::uint64_t stops = tape.stops;
  detail::TapeState* const below = tape.below;
  if (!tape.persistent) detail::pop_tape(tape);
  std::vector<std::vector<detail::ImplRef>> out;
  std::vector<std::size_t> unconnected_sources;  // None in the first sweep, before any zeros
  struct Sweeping {
    int& count;
    ~Sweeping() { --count; }
  } sweeping{++tape.sweeps};
  try {
    for (std::size_t k = 0; k < sweeps; ++k) {
      std::vector<detail::ImplRef> sweep_seeds;
      for (std::size_t i = 0; i < targets.size(); ++i) {
        const detail::ImplRef& given = seeds.size() == 1 ? seeds[0] : seeds[k * targets.size() + i];
        sweep_seeds.push_back(given ? given : ones_like(targets[i].value));
      }
      auto grads = detail::reverse_sweep(tape, target_nodes, sweep_seeds, source_nodes);
      // As TensorFlow's sources_that_are_targets: a source that is itself a target gets
      // that target's seed, even when the tape never saw it.
      for (std::size_t i = 0; i < grads.size(); ++i) {
        if (source_nodes[i] != detail::no_node) continue;
        for (std::size_t t = 0; t < targets.size(); ++t)
          if (variables[i] ? targets[t].variable == variables[i]
                           : !targets[t].variable && targets[t].value.get() == sources[i].get())
            grads[i] = grads[i] ? detail::add_gradients(grads[i], sweep_seeds[t]) : sweep_seeds[t];
      }
      if (k == 0)
        for (std::size_t i = 0; i < grads.size(); ++i)
          if (!grads[i]) unconnected_sources.push_back(i);
      if (unconnected == UnconnectedGradients::zero)
        for (std::size_t i = 0; i < grads.size(); ++i)
          if (!grads[i]) {
            grads[i] = zeros_like(variables[i] ? detail::current_value(*variables[i]) : sources[i]);
          }
      out.push_back(std::move(grads));
    }
  } catch (...) {
    snapshot.restore();
    // Back where it was, unless a custom gradient function stopped it meanwhile.
    if (was_on_stack && !tape.on_stack && tape.stops == stops) detail::reinsert_tape(tape, below);
    throw;
  }
  if (!tape.persistent) {
    // explain() keeps answering for the gradients that were None: the reasons are known now,
    // and keeping them costs far less than keeping the record.
    std::vector<detail::SpentReason> reasons;
    for (std::size_t i : unconnected_sources)
      for (const auto& t : targets) {
        detail::ExplainQuery q;
        q.target = t.value.get();
        q.target_variable = t.variable.get();
        q.source_tensor = variables[i] ? nullptr : sources[i].get();
        q.source_variable = variables[i].get();
        reasons.push_back({t.value, t.variable, variables[i] ? detail::ImplRef() : sources[i],
                           variables[i], detail::explain(tape, spent_reasons_, q)});
      }
    tape.used = true;
    detail::notify_tape_retired(tape.id);
    // TensorFlow's watched_variables() still answers after the one gradient() call. (The
    // map from variable to node goes: a spent tape refuses watch(), and start() clears all.)
    auto watched = std::move(tape.watched_variables);
    tape.clear();
    tape.watched_variables = std::move(watched);
    spent_reasons_ = std::move(reasons);
  }
  return out;
}

TAPEGRAD_PRECOMPILED_INLINE GradientTape::GradientTape(const TapeOptions& options)
    : state_(std::make_unique<detail::TapeState>(options.persistent,
                                                 options.watch_accessed_variables)) {
  push();
}

TAPEGRAD_PRECOMPILED_INLINE GradientTape::~GradientTape() {
  if (state_->pause != nullptr) state_->pause->detach();  // a pause that outlives the tape
  detail::notify_tape_retired(state_->id);
  detail::pop_tape(*state_);
}
#endif

}  // namespace tapegrad
