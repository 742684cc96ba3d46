#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "tapegrad/custom_gradient.hpp"
#include "tapegrad/detail/tape_memory.hpp"
#include "tapegrad/memory_report.hpp"
#include "tapegrad/tape.hpp"
#include "tapegrad/tape_details.hpp"

// A picture of what a tape recorded, as Graphviz DOT: render it with `dot -Tpng tape.dot`.
namespace tapegrad {
namespace detail {

// NOTE [ Drawing a tape ]
// One box per entry: the op's name, its output's shape and dtype and the user's line (where a
// TapeDetails noted them), and the bytes of tensors its entry holds (each block charged to the
// first entry holding it, as in the memory report). One ellipse per source the entries read:
// a watched tensor or a variable, by name. Edges follow the data. Cuts are drawn where they
// are: a stop_gradient box in red, an op a paused tape noted (it ran inside stop_recording()
// on tensors the tape knew) in grey with a dashed border; no gradient crosses either. The
// target, when given, has a double border, and the picture then keeps only the entries on a
// path from a given source to it, cuts included, so that it shows why a gradient is what it is;
// an input made off those paths is named in grey.

inline std::string dot_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

/// The DOT text of `tape`'s entries where keep[i] (all when keep is empty); `target` is a node
/// or no_node.
inline std::string tape_dot(const TapeState& tape, const std::vector<bool>& keep, NodeId target) {
  std::vector<std::size_t> saved_bytes(tape.entries.size(), 0);
  const TapeState* const tapes[] = {&tape};
  for (const HeldBlock& b : held_blocks(tapes, 1))
    if (b.entry >= 0) saved_bytes[static_cast<std::size_t>(b.entry)] += b.bytes;
  std::unordered_map<NodeId, std::string> source_label;
  for (const auto& [variable, node] : tape.variable_nodes)
    source_label[node] =
        "Variable " + (variable->name.empty() ? std::string("(unnamed)") : variable->name);
  for (const auto& [tensor, node] : tape.watched_tensors)
    source_label[node] = "watched " + tensor->shape().str() + " " + dtype_name(tensor->dtype);

  std::ostringstream dot;
  dot << "digraph tape {\n"
         "  rankdir=TB;\n"
         "  node [fontname=\"Helvetica\", fontsize=10];\n"
         "  edge [color=\"#555555\"];\n";
  std::vector<bool> source_drawn(tape.producer.size(), false);
  auto draw_source = [&](NodeId node) {
    if (source_drawn[node]) return;
    source_drawn[node] = true;
    auto it = source_label.find(node);
    const std::string label = it != source_label.end() ? it->second : "source";
    dot << "  n" << node << " [shape=ellipse, style=filled, fillcolor=\"#dbeafe\", label=\""
        << dot_escape(label) << "\"" << (node == target ? ", peripheries=2" : "") << "];\n";
  };
  // An input made by an entry off the drawn paths: named, in grey, without its own inputs.
  std::vector<bool> elided_drawn(tape.entries.size(), false);
  auto draw_elided = [&](std::size_t entry) {
    if (elided_drawn[entry]) return;
    elided_drawn[entry] = true;
    dot << "  o" << entry << " [shape=plaintext, fontcolor=\"#6b7280\", label=\""
        << dot_escape(std::string(tape.entries[entry].name()) + " (off the path)") << "\"];\n";
  };
  for (std::size_t i = 0; i < tape.entries.size(); ++i) {
    if (!keep.empty() && !keep[i]) continue;
    const Entry& e = tape.entries[i];
    const OpDetail& d = TapeDetails::noted(tape, i);
    const bool cut = e.backward() == nullptr && e.definition == &stop_gradient_op;
    const bool paused = e.backward() == nullptr && !cut;
    std::vector<std::string> lines{e.name()};
    lines.push_back(d.noted ? d.shape.str() + " " + dtype_name(d.dtype) : std::string("?"));
    if (saved_bytes[i] > 0) lines.push_back("saved " + byte_text(saved_bytes[i]));
    if (!d.file.empty()) lines.push_back(where_text(d));
    if (cut) lines.push_back("(no gradient crosses)");
    if (paused) lines.push_back("(paused: not recorded)");
    std::string label;
    for (const std::string& line : lines) label += (label.empty() ? "" : "\\n") + dot_escape(line);
    dot << "  e" << i << " [shape=box, style=\""
        << (paused ? "rounded,filled,dashed" : "rounded,filled") << "\", fillcolor=\""
        << (cut      ? "#fecaca"
            : paused ? "#e5e7eb"
                     : "#fef3c7")
        << "\", label=\"" << label << "\""
        << (e.output != no_node && e.output == target ? ", peripheries=2" : "") << "];\n";
    for (std::uint32_t k = 0; k < e.n_inputs; ++k) {
      const NodeId in = e.input(k);
      if (in == no_node) continue;
      const std::int32_t producer = tape.producer[in];
      if (producer < 0) {
        draw_source(in);
        dot << "  n" << in;
      } else if (!keep.empty() && !keep[static_cast<std::size_t>(producer)]) {
        draw_elided(static_cast<std::size_t>(producer));
        dot << "  o" << producer;
      } else {
        dot << "  e" << producer;
      }
      dot << " -> e" << i << (cut || paused ? " [style=dashed]" : "") << ";\n";
    }
  }
  if (target != no_node && tape.producer[target] < 0) draw_source(target);
  dot << "}\n";
  return dot.str();
}

/// Which entries lie on a path from a node in `sources` to `target` (NOTE [ Drawing a tape ]).
inline std::vector<bool> entries_between(const TapeState& tape, const std::vector<NodeId>& sources,
                                         NodeId target) {
  const std::size_t n = tape.entries.size();
  std::vector<bool> reached(tape.producer.size(), false), needed(tape.producer.size(), false);
  for (NodeId s : sources)
    if (s != no_node) reached[s] = true;
  std::vector<bool> from_source(n, false), keep(n, false);
  for (std::size_t i = 0; i < n; ++i) {
    const Entry& e = tape.entries[i];
    for (std::uint32_t k = 0; k < e.n_inputs; ++k)
      if (e.input(k) != no_node && reached[e.input(k)]) from_source[i] = true;
    if (from_source[i] && e.output != no_node) reached[e.output] = true;
  }
  if (target == no_node) return keep;
  needed[target] = true;
  for (std::size_t i = n; i-- > 0;) {
    const Entry& e = tape.entries[i];
    if (e.output == no_node || !needed[e.output] || !from_source[i]) continue;
    keep[i] = true;
    for (std::uint32_t k = 0; k < e.n_inputs; ++k)
      if (e.input(k) != no_node) needed[e.input(k)] = true;
  }
  return keep;
}

}  // namespace detail

/// Everything `tape` recorded, as Graphviz DOT (NOTE [ Drawing a tape ]); make a TapeDetails
/// before the ops to see shapes and lines.
///   std::ofstream("tape.dot") << tapegrad::to_dot(tape);   // then: dot -Tpng tape.dot -o tape.png
#if TAPEGRAD_HEADER_DEFINITIONS
TAPEGRAD_PRECOMPILED_INLINE std::string to_dot(const GradientTape& tape) {
  return detail::tape_dot(tape.internal_state(), {}, detail::no_node);
}
#else
std::string to_dot(const GradientTape& tape);
#endif

/// Only the entries on a path from one of `sources` to `target`, which is drawn with a double
/// border: the part of the record that gradient(target, sources) walks, and the cuts on it.
///   std::ofstream("loss.dot") << tapegrad::to_dot(tape, loss, {w, b});
template <class X, detail::if_differentiable<X> = 0>
std::string to_dot(const GradientTape& tape, const X& target,
                   std::initializer_list<Source<detail::element_t<X>>> sources) {
  using T = detail::element_t<X>;
  static_assert(std::is_same_v<X, Tensor<T>>, "to_dot: the target must be a Tensor");
  TAPEGRAD_CHECK(target.has_value(), value_error, "to_dot: the target has no value");
  const detail::TapeState& state = tape.internal_state();
  std::vector<detail::NodeId> nodes;
  for (const Source<T>& s : sources) {
    if (s.variable()) {
      nodes.push_back(state.find(s.variable().get()));
    } else {
      TAPEGRAD_CHECK(s.tensor().has_value(), value_error, "to_dot: a source has no value");
      nodes.push_back(state.find(s.tensor().impl().get()));
    }
  }
  const detail::NodeId target_node = state.find(target.impl().get());
  return detail::tape_dot(state, detail::entries_between(state, nodes, target_node), target_node);
}

}  // namespace tapegrad
