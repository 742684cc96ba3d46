#include "op_registry.hpp"
#include "test_util.hpp"

#include <tapegrad/ops/catalog.hpp>
#include <tapegrad/ops/elementwise_table.hpp>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#ifndef TAPEGRAD_INCLUDE_DIR
#error "TAPEGRAD_INCLUDE_DIR must name the directory that holds tapegrad/"
#endif

using tapegrad::Tensor;
using tapegrad_test::op_registry;
using tapegrad_test::OpRow;

namespace {

std::string row_name(const OpRow& row) {
  return row.variant.empty() ? row.op : row.op + " (" + row.variant + ")";
}

/// The name of a function declared on this line, if it starts with a return type of
/// Tensor<...> or std::vector<Tensor<...>>, as tapegrad's public op declarations do.
std::string declared_op(const std::string& line) {
  std::string rest = line;
  if (rest.rfind("inline ", 0) == 0) rest = rest.substr(7);
  if (rest.rfind("std::vector<Tensor<", 0) != 0 && rest.rfind("Tensor<", 0) != 0) return "";
  // Skip the return type: up to the space after its last closing '>'.
  int depth = 0;
  std::size_t i = 0;
  for (; i < rest.size(); ++i) {
    if (rest[i] == '<') ++depth;
    if (rest[i] == '>' && --depth == 0 && i + 1 < rest.size() && rest[i + 1] == ' ') break;
  }
  if (i + 2 >= rest.size()) return "";
  const std::size_t start = i + 2, paren = rest.find('(', start);
  if (paren == std::string::npos) return "";
  const std::string name = rest.substr(start, paren - start);
  return name.find(' ') == std::string::npos ? name : "";
}

/// The functions declared at namespace scope in tapegrad's op headers, outside `detail`.
std::set<std::string> public_ops() {
  std::set<std::string> names;
  for (const char* header : {"binary.hpp", "binary_functions.hpp", "compare.hpp", "conv.hpp",
                             "creation.hpp", "indexing.hpp", "linalg.hpp", "losses.hpp", "nn.hpp",
                             "random.hpp", "reduce.hpp", "shape.hpp", "unary.hpp"}) {
    std::ifstream in(std::string(TAPEGRAD_INCLUDE_DIR) + "/tapegrad/ops/" + header);
    if (!in) continue;
    int detail_depth = 0;
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("namespace detail {", 0) == 0)
        ++detail_depth;
      else if (line.rfind("}  // namespace detail", 0) == 0)
        --detail_depth;
      else if (detail_depth == 0 && !declared_op(line).empty())
        names.insert(declared_op(line));
    }
  }
  return names;
}

}  // namespace

TEST_CASE("Every public op has a registry row with at least eight samples", "[ops][registry]") {
  const auto rows = op_registry();
  std::set<std::string> covered;
  for (const auto& row : rows) covered.insert(row.op);
  for (const auto& [name, reason] : tapegrad_test::ops_without_rows()) covered.insert(name);
  const std::set<std::string> ops = public_ops();
  CHECK(ops.size() > 60);  // the header scan found the ops
  std::string missing;
  for (const auto& op : ops)
    if (!covered.count(op)) missing += " " + op;
  INFO("public ops without a registry row:" << missing);
  CHECK(missing.empty());
  for (const auto& row : rows) {
    INFO(row_name(row));
    CHECK(row.samples.size() >= 8);
  }
}

TEST_CASE("Every registry row passes gradcheck", "[ops][registry][gradcheck]") {
  int checked = 0;
  for (const auto& row : op_registry())
    for (const auto& sample : row.samples) {
      INFO(row_name(row) << ", " << sample.label);
      const auto r = tapegrad::testing::gradcheck(row.f, sample.inputs, row.options);
      INFO(r.report);
      CHECK(r.ok);
      ++checked;
    }
  CHECK(checked > 1000);
}

TEST_CASE("Every registry row passes gradgradcheck", "[ops][registry][gradcheck]") {
  for (const auto& row : op_registry())
    for (const auto& sample : row.samples) {
      INFO(row_name(row) << ", " << sample.label);
      const auto r = tapegrad::testing::gradgradcheck(row.f, sample.inputs, row.options);
      INFO(r.report);
      CHECK(r.ok);
    }
}

TEST_CASE("Elementwise ops propagate 0, -0, +-inf and NaN as the float math does",
          "[ops][registry]") {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> special{0.0, -0.0, inf, -inf, std::nan(""), 1e-300, 1e300};
  for (const auto& row : op_registry()) {
    if (!row.reference) continue;
    INFO(row_name(row));
    const auto y = row.f({Tensor<double>(tapegrad::Shape{7}, special)}).to_vector();
    for (std::size_t i = 0; i < special.size(); ++i) {
      const double expected = row.reference(special[i]);
      INFO("at " << special[i] << ": got " << y[i] << ", expected " << expected);
      if (std::isnan(expected))
        CHECK(std::isnan(y[i]));
      else if (expected == 0 || std::isinf(expected))
        CHECK(y[i] == expected);
      else
        CHECK(y[i] == Approx(expected).epsilon(1e-12));
    }
  }
}

namespace {

/// docs/ops.md's text, rendered from the catalog (a '|' in a cell is escaped for Markdown).
std::string render_op_catalog() {
  auto cell = [](const std::string& text) {
    std::string out;
    for (char c : text) out += c == '|' ? std::string("\\|") : std::string(1, c);
    return out;
  };
  std::ostringstream out;
  out << "# tapegrad's ops\n\n"
      << "Rendered from `include/tapegrad/ops/catalog.hpp` by the test \"docs/ops.md is the op\n"
      << "catalog, rendered\" (`tests/ops/registry_test.cpp`), which fails when this file differs\n"
      << "and writes the new text to `ops.md.rendered` in its working directory.\n\n"
      << "Every op with a gradient is differentiable to any order, and every gradient is written\n"
      << "with these ops (`prod` at inputs containing 0 is the one exception). The last column\n"
      << "gives the gradient where the op is not differentiable, as TensorFlow does.\n";
  for (const tapegrad::OpFamilyDoc& family : tapegrad::op_families) {
    out << "\n## " << family.name << "\n\n"
        << family.note << "\n\n"
        << "| op | call | at non-differentiable points |\n|---|---|---|\n";
    for (std::size_t i = 0; i < family.size; ++i) {
      const tapegrad::OpDoc& op = family.ops[i];
      out << "| `" << cell(op.name) << "` | `" << cell(op.signature) << "` | " << cell(op.at_kinks)
          << " |\n";
    }
  }
  return out.str();
}

std::set<std::string> catalog_names() {
  std::set<std::string> names;
  for (const tapegrad::OpFamilyDoc& family : tapegrad::op_families)
    for (std::size_t i = 0; i < family.size; ++i) names.insert(family.ops[i].name);
  return names;
}

}  // namespace

TEST_CASE("The op catalog lists every public op, once, and only public ops", "[ops][registry]") {
  std::set<std::string> scanned;
  for (const std::string& name : public_ops())
    if (name.find("::") == std::string::npos) scanned.insert(name);  // x.cast<U>() is cast's
  std::size_t rows = 0;
  for (const tapegrad::OpFamilyDoc& family : tapegrad::op_families) rows += family.size;
  const std::set<std::string> listed = catalog_names();
  CHECK(rows == listed.size());
  std::string missing, extra;
  for (const std::string& name : scanned)
    if (!listed.count(name)) missing += " " + name;
  for (const std::string& name : listed)
    if (!scanned.count(name)) extra += " " + name;
  INFO("public ops missing from ops/catalog.hpp:" << missing);
  INFO("catalog rows that no op header declares:" << extra);
  CHECK(missing.empty());
  CHECK(extra.empty());
  for (const auto& row : tapegrad::detail::unary_op_table<double>) {
    INFO(row.name);
    CHECK(listed.count(row.name) == 1);
  }
}

TEST_CASE("docs/ops.md is the op catalog, rendered", "[ops][registry]") {
  std::ifstream in(std::string(TAPEGRAD_INCLUDE_DIR) + "/../docs/ops.md");
  std::stringstream committed;
  committed << in.rdbuf();
  const std::string rendered = render_op_catalog();
  if (committed.str() != rendered) std::ofstream("ops.md.rendered") << rendered;
  INFO("docs/ops.md differs from the catalog; the rendered text is in ops.md.rendered");
  CHECK(committed.str() == rendered);
}
