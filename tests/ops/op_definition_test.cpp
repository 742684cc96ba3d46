// Ops as data (NOTE [ Ops as data ]): every op the registry exercises is checked through its
// definition alone, in one loop over every row and sample, with no per-op code. A custom
// gradient (and prod's second-derivative guard) has a backward only; the counts printed say how
// many calls each check covered and how many it left to the backward-only ops.

#include "op_registry.hpp"
#include "test_util.hpp"

#include <tapegrad/detail/op_observer.hpp>
#include <tapegrad/detail/tape_memory.hpp>
#include <tapegrad/ops/elementwise_table.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace {

namespace detail = tapegrad::detail;
using detail::ImplRef;
using detail::OpDefinition;
using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Source;
using tapegrad::Tensor;
using tapegrad_test::op_registry;
using tapegrad_test::OpRow;
using tapegrad_test::OpSample;

struct Call {
  const OpDefinition* definition;
  detail::OpAttrs attrs;
  std::shared_ptr<const void> shared;
  std::vector<ImplRef> inputs;
  ImplRef output;
  bool recorded;

  detail::OpArgs args() const { return {attrs, shared}; }
  std::vector<const ImplRef*> input_pointers() const {
    std::vector<const ImplRef*> p;
    for (const ImplRef& x : inputs) p.push_back(&x);
    return p;
  }
};

/// Keeps every op call, backward step and finished source gradient it is told of.
class Recorder : public detail::OpObserver {
 public:
  std::vector<Call> calls;
  std::vector<std::size_t> steps;
  std::vector<std::size_t> finished_sources;

  void on_op(const detail::OpCall& c) override {
    Call call{&c.definition, c.attrs, c.shared, {}, c.output, c.recorded};
    for (std::size_t k = 0; k < c.n_inputs; ++k) call.inputs.push_back(*c.inputs[k]);
    calls.push_back(std::move(call));
  }
  void on_backward_step(const detail::TapeState&, std::size_t index) override {
    steps.push_back(index);
  }
  void on_source_gradient(const detail::TapeState&, std::size_t source, const ImplRef&) override {
    finished_sources.push_back(source);
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const Call& c : calls) out.emplace_back(c.definition->name);
    return out;
  }
};

std::string label(const OpRow& row, const OpSample& sample) {
  return row.op + (row.variant.empty() ? "" : " (" + row.variant + ")") + ", " + sample.label;
}

std::size_t byte_size(const detail::TensorImpl& t) {
  return static_cast<std::size_t>(t.size()) * tapegrad::dtype_size(t.dtype);
}
bool same_bits(const ImplRef& a, const ImplRef& b) {
  return a->shape() == b->shape() && a->dtype == b->dtype &&
         std::memcmp(a->data, b->data, byte_size(*a.get())) == 0;
}
ImplRef new_buffer(tapegrad::DType dtype, const Shape& shape, bool garbage) {
  ImplRef t = ImplRef::adopt(detail::allocate_impl(dtype, shape));
  std::memset(t->data, garbage ? 0xA5 : 0, byte_size(*t.get()));
  return t;
}
Tensor<double> direction(const Shape& shape, unsigned salt) {
  return tapegrad_test::sample(shape, -1.0, 1.0, salt);
}

/// The row's function on the sample, with `tape` watching its inputs and `recorder` observing.
Tensor<double> run_taped(GradientTape& tape, Recorder& recorder, const OpRow& row,
                         const OpSample& sample) {
  for (const auto& x : sample.inputs) tape.watch(x);
  detail::ObserverScope scope(recorder);
  return row.f(sample.inputs);
}

/// Runs check(row, sample) on every sample of every registry row, naming it on failure.
template <class Check>
void for_each_sample(Check&& check) {
  for (const OpRow& row : op_registry())
    for (const OpSample& sample : row.samples) {
      INFO(label(row, sample));
      check(row, sample);
    }
}

/// The calls the registry's function makes on this sample, untaped.
Recorder observe(const OpRow& row, const OpSample& sample) {
  Recorder recorder;
  detail::ObserverScope scope(recorder);
  (void)row.f(sample.inputs);
  return recorder;
}

}  // namespace

TEST_CASE("(a) Each op's forward, re-run into a given buffer, gives its output bit for bit",
          "[ops][definition]") {
  std::size_t checked = 0, backward_only = 0;
  std::set<std::string> ops;
  for_each_sample([&](const OpRow& row, const OpSample& sample) {
    const Recorder recorder = observe(row, sample);
    for (const Call& c : recorder.calls) {
      INFO("op " << c.definition->name);
      if (c.definition->forward == nullptr) {
        ++backward_only;
        continue;
      }
      const auto inputs = c.input_pointers();
      for (bool garbage : {false, true}) {
        const ImplRef out = new_buffer(c.output->dtype, c.output->shape(), garbage);
        c.definition->forward(c.args(), inputs.data(), *out.get());
        CHECK(same_bits(out, c.output));
      }
      ++checked;
      ops.insert(c.definition->name);
    }
  });
  std::printf("(a) forward re-run: %zu calls of %zu ops checked; %zu calls of backward-only ops\n",
              checked, ops.size(), backward_only);
  CHECK(checked > 1000);
}

TEST_CASE("(b) Each entry's rules, applied into given buffers, give what gradient() gives",
          "[ops][definition]") {
  std::size_t fused_checked = 0, single_entry = 0, backward_only_checked = 0;
  for_each_sample([&](const OpRow& row, const OpSample& sample) {
    GradientTape tape(tapegrad::persistent);
    Recorder recorder;
    const Tensor<double> y = run_taped(tape, recorder, row, sample);
    tape.stop();  // nothing listens now: rules run fused unless a tape is opened below
    const detail::TapeState& state = tape.internal_state();
    std::vector<const Call*> recorded;
    for (const Call& c : recorder.calls)
      if (c.recorded) recorded.push_back(&c);
    REQUIRE(recorded.size() == state.entries.size());

    for (std::size_t i = 0; i < state.entries.size(); ++i) {
      const detail::Entry& e = state.entries[i];
      const Call& c = *recorded[i];
      INFO("entry " << i << ": " << e.name());
      if (!e.backward() || c.output->dtype != tapegrad::DType::float64) continue;
      const Tensor<double> g = direction(c.output->shape(), static_cast<unsigned>(i) + 3);
      std::unique_ptr<bool[]> needs(new bool[e.n_inputs]);
      for (std::uint32_t k = 0; k < e.n_inputs; ++k) needs[k] = e.input(k) != detail::no_node;
      const bool* need = needs.get();

      std::vector<ImplRef> allocated(e.n_inputs), given(e.n_inputs), composed(e.n_inputs);
      std::vector<detail::TensorImpl*> destinations(e.n_inputs, nullptr);
      e.backward()(e, ImplRef(g.impl()), need, allocated.data());
      for (std::uint32_t k = 0; k < e.n_inputs; ++k)
        if (needs[k]) {
          given[k] = new_buffer(c.inputs[k]->dtype, c.inputs[k]->shape(), true);
          destinations[k] = given[k].get();
        }
      e.backward()(e, ImplRef(g.impl()), need, given.data());
      {
        GradientTape outer;  // listening: the rules run as recorded ops
        e.backward()(e, ImplRef(g.impl()), need, composed.data());
      }
      const bool has_forward = c.definition->forward != nullptr;
      for (std::uint32_t k = 0; k < e.n_inputs; ++k) {
        if (!needs[k] || !allocated[k]) continue;
        INFO("input " << k);
        CHECK(same_bits(given[k], allocated[k]));
        CHECK(same_bits(composed[k], allocated[k]));
        // An op with a forward kernel writes into the buffer it is given.
        if (has_forward) CHECK(given[k].get() == destinations[k]);
      }
      (has_forward ? fused_checked : backward_only_checked) += 1;
    }

    // Where the whole function is one entry on distinct inputs, its rules are gradient().
    std::set<const detail::TensorImpl*> distinct;
    for (const auto& x : sample.inputs) distinct.insert(x.impl().get());
    if (state.entries.size() == 1 && state.entries[0].backward() &&
        recorded[0]->output->dtype == tapegrad::DType::float64 &&
        distinct.size() == sample.inputs.size() && y.has_value()) {
      const detail::Entry& e = state.entries[0];
      const Tensor<double> g = direction(y.shape(), 3);
      std::vector<Source<double>> sources(sample.inputs.begin(), sample.inputs.end());
      const auto grads = tape.gradient(std::vector<Tensor<double>>{y}, sources, {g});
      std::unique_ptr<bool[]> needs(new bool[e.n_inputs]);
      for (std::uint32_t k = 0; k < e.n_inputs; ++k) needs[k] = true;
      std::vector<ImplRef> slots(e.n_inputs);
      e.backward()(e, ImplRef(g.impl()), needs.get(), slots.data());
      for (std::size_t k = 0; k < sample.inputs.size(); ++k)
        for (std::uint32_t j = 0; j < e.n_inputs; ++j)
          if (e.input(j) != detail::no_node && slots[j] && grads[k].has_value() &&
              recorded[0]->inputs[j].get() == sample.inputs[k].impl().get())
            CHECK(same_bits(grads[k].impl(), slots[j]));
      ++single_entry;
    }
  });
  std::printf(
      "(b) rules: %zu entries checked (allocated = given buffer = composed); %zu entries of "
      "backward-only ops (allocated = given = composed only); %zu single-entry "
      "samples against gradient()\n",
      fused_checked, backward_only_checked, single_entry);
  CHECK(fused_checked > 1000);
}

TEST_CASE("(c) The bytes a tape alone keeps alive are what the live counters lose with it",
          "[ops][definition]") {
  std::size_t checked = 0, skipped = 0;
  for_each_sample([&](const OpRow& row, const OpSample& sample) {
    auto tape = std::make_unique<GradientTape>(tapegrad::persistent);
    for (const auto& x : sample.inputs) tape->watch(x);
    { (void)row.f(sample.inputs); }
    const detail::TapeState& state = tape->internal_state();
    bool closure = false;  // a custom gradient's closure holds tensors no entry names
    for (std::size_t i = 0; i < state.entries.size(); ++i)
      closure = closure || state.entries[i].definition->family == detail::OpFamily::custom;
    if (closure) {
      ++skipped;
      return;
    }
    const std::size_t kept = detail::bytes_only_tape_holds(state);
    const auto before = detail::live_counters.bytes.load();
    tape.reset();
    const auto after = detail::live_counters.bytes.load();
    CHECK(before - after == static_cast<std::int64_t>(kept));
    ++checked;
  });
  std::printf("(c) bytes kept alive: %zu samples checked; %zu skipped (custom gradients)\n",
              checked, skipped);
  CHECK(checked > 1000);
}

TEST_CASE("(d) Each op's JVP equals central differences of its forward, in double",
          "[ops][definition]") {
  std::size_t calls = 0, elements = 0, jumps = 0, backward_only = 0;
  std::set<std::string> ops;
  for_each_sample([&](const OpRow& row, const OpSample& sample) {
    const Recorder recorder = observe(row, sample);
    for (const Call& c : recorder.calls) {
      INFO("op " << c.definition->name);
      if (c.definition->jvp == nullptr || c.definition->forward == nullptr) {
        ++backward_only;
        continue;
      }
      if (c.output->dtype != tapegrad::DType::float64) continue;
      const std::size_t n = c.inputs.size();
      // Inputs that take a tangent: the floating ones (not a mask or indices).
      auto moves = [&](std::size_t k) { return c.inputs[k]->dtype == tapegrad::DType::float64; };
      // Each input's direction alone, then all of them together.
      for (std::size_t which = 0; which <= n; ++which) {
        if ((which == n && n == 1) || (which < n && !moves(which))) continue;
        std::vector<ImplRef> tangents(n);
        for (std::size_t k = 0; k < n; ++k)
          if ((which == n || which == k) && moves(k))
            tangents[k] = direction(c.inputs[k]->shape(), static_cast<unsigned>(k) + 5).impl();
        std::vector<const ImplRef*> tangent_pointers;
        for (const ImplRef& t : tangents) tangent_pointers.push_back(&t);
        const auto inputs = c.input_pointers();
        const ImplRef jvp =
            c.definition->jvp(c.args(), inputs.data(), c.output, tangent_pointers.data());
        // f(x + h t) - f(x - h t), over 2h, with h scaled to the inputs' magnitude.
        auto central = [&](double step) {
          double scale = 1;
          for (const ImplRef& x : c.inputs)
            if (x->dtype == tapegrad::DType::float64)
              for (double v : Tensor<double>(x).to_vector()) scale = std::max(scale, std::abs(v));
          const double h = step * scale;
          ImplRef out[2];
          for (int side = 0; side < 2; ++side) {
            std::vector<ImplRef> moved(n);
            std::vector<const ImplRef*> moved_pointers;
            for (std::size_t k = 0; k < n; ++k) {
              const Tensor<double> x(c.inputs[k]);
              moved[k] =
                  tangents[k]
                      ? Tensor<double>(
                            x.shape(),
                            [&] {
                              std::vector<double> v = x.to_vector(),
                                                  t = Tensor<double>(tangents[k]).to_vector();
                              for (std::size_t i = 0; i < v.size(); ++i)
                                v[i] += (side == 0 ? h : -h) * t[i];
                              return v;
                            }())
                            .impl()
                      : c.inputs[k];
              moved_pointers.push_back(&moved[k]);
            }
            out[side] = new_buffer(c.output->dtype, c.output->shape(), false);
            c.definition->forward(c.args(), moved_pointers.data(), *out[side].get());
          }
          std::vector<double> d = Tensor<double>(out[0]).to_vector();
          const std::vector<double> minus = Tensor<double>(out[1]).to_vector();
          for (std::size_t i = 0; i < d.size(); ++i) d[i] = (d[i] - minus[i]) / (2 * h);
          return d;
        };
        const std::vector<double> fd = central(1e-6), fd_small = central(1e-6 / 8);
        const std::vector<double> got =
            jvp ? Tensor<double>(jvp).to_vector() : std::vector<double>(fd.size(), 0.0);
        REQUIRE(got.size() == fd.size());
        for (std::size_t i = 0; i < fd.size(); ++i) {
          const double tolerance = 1e-6 + 1e-5 * std::max(std::abs(fd[i]), std::abs(got[i]));
          if (!std::isfinite(fd[i]) || std::abs(fd[i] - fd_small[i]) > 10 * tolerance) {
            ++jumps;  // the function jumps within the step (a kink or a step function)
            continue;
          }
          INFO("element " << i << ": jvp " << got[i] << ", differences " << fd[i]);
          CHECK(std::abs(got[i] - fd[i]) <= tolerance);
          ++elements;
        }
      }
      ++calls;
      ops.insert(c.definition->name);
    }
  });
  std::printf(
      "(d) JVP: %zu elements of %zu calls (%zu ops) against central differences; %zu elements "
      "not compared (the function jumps within the step); %zu calls of backward-only ops\n",
      elements, calls, ops.size(), jumps, backward_only);
  CHECK(elements > 10000);
}

TEST_CASE("(e) An observer sees every op call, taped or not, and every backward step in order",
          "[ops][definition]") {
  std::size_t samples = 0;
  for_each_sample([&](const OpRow& row, const OpSample& sample) {
    const Recorder untaped = observe(row, sample);
    GradientTape tape(tapegrad::persistent);
    Recorder taped;
    const Tensor<double> y = run_taped(tape, taped, row, sample);
    CHECK(taped.names() == untaped.names());
    for (const Call& c : untaped.calls) CHECK_FALSE(c.recorded);
    const detail::TapeState& state = tape.internal_state();
    std::size_t entry = 0;
    for (const Call& c : taped.calls)
      if (c.recorded) {
        REQUIRE(entry < state.entries.size());
        CHECK(state.entries[entry].definition == c.definition);
        ++entry;
      }
    CHECK(entry == state.entries.size());

    if (!y.has_value()) return;
    std::vector<Source<double>> sources(sample.inputs.begin(), sample.inputs.end());
    Recorder sweep;
    {
      detail::ObserverScope scope(sweep);
      (void)tape.gradient(std::vector<Tensor<double>>{y}, sources, {});
    }
    for (std::size_t i = 0; i < sweep.steps.size(); ++i) {
      REQUIRE(sweep.steps[i] < state.entries.size());
      CHECK(state.entries[sweep.steps[i]].backward() != nullptr);
      if (i > 0) CHECK(sweep.steps[i] < sweep.steps[i - 1]);
    }
    std::vector<std::size_t> finished = sweep.finished_sources;
    std::sort(finished.begin(), finished.end());
    std::vector<std::size_t> all(sources.size());
    for (std::size_t k = 0; k < all.size(); ++k) all[k] = k;
    CHECK(finished == all);
    ++samples;
  });
  std::printf("(e) observer: %zu samples\n", samples);
  CHECK(samples > 1000);
}

TEST_CASE("The sweep reports each source when its gradient is final, unread sources first",
          "[ops][definition]") {
  struct SweepLog final : detail::OpObserver {
    std::vector<std::string> events;
    void on_backward_step(const detail::TapeState&, std::size_t index) override {
      events.push_back("step " + std::to_string(index));
    }
    void on_source_gradient(const detail::TapeState&, std::size_t source,
                            const ImplRef& gradient) override {
      events.push_back("source " + std::to_string(source) + (gradient ? "" : " none"));
    }
  };
  // Sources a (read by entry 0), b (read by entry 1), u (watched, never read) and v (never
  // watched): u is final before any step, b after entry 1's, a after entry 0's; v is left to
  // gradient(), which gives it None.
  const Tensor<double> a(0.5), b(2.0), u(1.0), v(3.0);
  GradientTape tape;
  tape.watch(a);
  tape.watch(b);
  tape.watch(u);
  const auto y = tapegrad::sin(a) * b;
  SweepLog log;
  std::vector<Tensor<double>> grads;
  {
    detail::ObserverScope scope(log);
    grads = tape.gradient(y, std::vector<Tensor<double>>{a, b, u, v});
  }
  CHECK(log.events ==
        std::vector<std::string>{"source 2 none", "step 1", "source 1", "step 0", "source 0"});
  CHECK_FALSE(grads[3].has_value());
}

TEST_CASE("Each elementwise table row records its definition and has registry samples",
          "[ops][definition]") {
  std::set<std::string> registered;
  for (const OpRow& row : op_registry()) registered.insert(row.op);
  for (const auto& row : detail::unary_op_table<double>) {
    INFO(row.name);
    CHECK(registered.count(row.name) == 1);
    Recorder recorder;
    {
      detail::ObserverScope scope(recorder);
      (void)row.apply(Tensor<double>({-0.5, 0.25, 1.5}));
    }
    REQUIRE(recorder.calls.size() == 1);
    CHECK(recorder.calls[0].definition == row.definition);
    CHECK(std::string(row.definition->name) == row.name);
  }
}
