#include "test_util.hpp"

#include <tapegrad/train/checkpoint.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

using tapegrad::Shape;
using tapegrad::Tensor;
using tapegrad::Variable;

namespace {

/// A file name of its own in the temporary directory, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& stem) {
    std::random_device rd;
    path_ = (std::filesystem::temp_directory_path() /
             (stem + "_" + std::to_string(rd()) + "_" + std::to_string(rd()) + ".tgckpt"))
                .string();
  }
  ~TempFile() {
    std::remove(path_.c_str());
    std::remove((path_ + ".tmp").c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// The bytes of every element, to compare values exactly (NaN, -0.0 included).
template <class T>
std::string raw(const Variable<T>& v) {
  const Tensor<T> t = v.value();
  return std::string(reinterpret_cast<const char*>(t.data()), sizeof(T) * std::size_t(t.size()));
}

template <class T>
std::vector<std::string> snapshot(const std::vector<Variable<T>>& vars) {
  std::vector<std::string> out;
  for (const auto& v : vars) out.push_back(raw(v));
  return out;
}

template <class T>
std::vector<T> sample_values(int n) {
  std::vector<T> v;
  for (int i = 0; i < n; ++i) v.push_back(static_cast<T>(std::sin(1.7 * i + 0.3) * 3.0));
  return v;
}

template <class T>
std::vector<Variable<T>> model_variables() {
  const T inf = std::numeric_limits<T>::infinity();
  return {
      Variable<T>(Tensor<T>({{T(1.5), T(-2.25), T(1e-30)}, {T(3), inf, -inf}}), "dense/kernel"),
      Variable<T>(Tensor<T>({T(-0.0), std::numeric_limits<T>::quiet_NaN(),
                             std::numeric_limits<T>::denorm_min()}),
                  "dense/bias"),
      Variable<T>(Tensor<T>(T(0.1)), "scalar"),
      Variable<T>(Tensor<T>(Shape{2, 3, 2, 2}, sample_values<T>(24)), "conv/kernel"),
  };
}

/// Overwrites every variable with other values, so a load that works is visible.
template <class T>
void scramble(const std::vector<Variable<T>>& vars) {
  for (Variable<T> v : vars) v.assign(Tensor<T>(v.shape(), T(7)));
}

/// 64-bit FNV-1a, written out here to pin the file format independently of the library.
std::uint64_t fnv1a(const std::string& bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string le(std::uint64_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
  return out;
}

/// Expects `load` to throw E whose message contains every one of `parts`, and every
/// variable to keep its value.
template <class E, class T, class F>
void expect_rejected(const std::vector<Variable<T>>& vars, F load,
                     const std::vector<std::string>& parts) {
  const auto before = snapshot(vars);
  try {
    load();
    FAIL("no exception");
  } catch (const E& e) {
    const std::string message = e.what();
    INFO(message);
    for (const auto& part : parts) CHECK(message.find(part) != std::string::npos);
  }
  CHECK(snapshot(vars) == before);
}

}  // namespace

TEMPLATE_TEST_CASE("Variables survive a save and load exactly", "[checkpoint]", float, double) {
  TempFile file("roundtrip");
  const auto vars = model_variables<TestType>();
  const auto saved = snapshot(vars);
  tapegrad::save_variables(file.path(), vars);
  scramble(vars);
  CHECK(snapshot(vars) != saved);
  tapegrad::load_variables(file.path(), vars);
  CHECK(snapshot(vars) == saved);  // bit for bit: NaN, -0.0, infinities and denormals too

  // Saving again over an existing file replaces it, and leaves no temporary file behind.
  Variable<TestType>(vars[2]).assign(Tensor<TestType>(TestType(-4)));
  tapegrad::save_variables(file.path(), vars);
  CHECK_FALSE(std::filesystem::exists(file.path() + ".tmp"));
  scramble(vars);
  tapegrad::load_variables(file.path(), vars);
  CHECK(vars[2].value().item() == TestType(-4));

  // No variables at all is a valid checkpoint.
  tapegrad::save_variables(file.path(), std::vector<Variable<TestType>>{});
  tapegrad::load_variables(file.path(), std::vector<Variable<TestType>>{});
}

TEST_CASE("The file layout is the documented one", "[checkpoint]") {
  TempFile file("layout");
  tapegrad::save_variables(file.path(), std::vector<Variable<float>>{Variable<float>(
                                            Tensor<float>(Shape{1, 2}, {1.0f, -2.0f}), "w")});
  std::string record;
  record += le(1, 4) + "w";       // name
  record += le(0, 1) + le(2, 1);  // float32, rank 2
  record += le(1, 8) + le(2, 8);  // dims
  record += le(0x3f800000u, 4);   // 1.0f
  record += le(0xc0000000u, 4);   // -2.0f
  const std::string expected =
      std::string("TGCKPT\r\n") + le(1, 4) + le(1, 8) + record + le(fnv1a(record), 8);
  CHECK(read_bytes(file.path()) == expected);
}

TEST_CASE("A damaged or mismatched checkpoint is rejected and changes nothing", "[checkpoint]") {
  TempFile file("corrupt");
  const auto vars = model_variables<double>();
  tapegrad::save_variables(file.path(), vars);
  const std::string good = read_bytes(file.path());
  scramble(vars);  // a successful load would be visible
  const std::string& path = file.path();
  auto load = [&] { tapegrad::load_variables(path, vars); };
  const std::string quoted = "\"" + path + "\"";

  SECTION("a missing file") {
    expect_rejected<tapegrad::value_error>(
        vars, [&] { tapegrad::load_variables(path + ".missing", vars); },
        {"cannot open", path + ".missing"});
  }
  SECTION("wrong magic") {
    std::string bad = good;
    bad[0] = 'X';
    write_bytes(path, bad);
    expect_rejected<tapegrad::value_error>(vars, load, {quoted, "not a tapegrad checkpoint"});
  }
  SECTION("another format version") {
    std::string bad = good;
    bad[8] = 2;
    write_bytes(path, bad);
    expect_rejected<tapegrad::value_error>(vars, load, {quoted, "format version 2"});
  }
  SECTION("a different number of variables") {
    const std::vector<Variable<double>> fewer(vars.begin(), vars.end() - 1);
    expect_rejected<tapegrad::value_error>(fewer, [&] { tapegrad::load_variables(path, fewer); },
                                           {quoted, "holds 4 variables but 3 were given"});
    std::vector<Variable<double>> more = vars;
    more.emplace_back(Tensor<double>(1.0), "extra");
    expect_rejected<tapegrad::value_error>(more, [&] { tapegrad::load_variables(path, more); },
                                           {quoted, "holds 4 variables but 5 were given"});
  }
  SECTION("a different name") {
    std::vector<Variable<double>> renamed = vars;
    renamed[1] = Variable<double>(Tensor<double>(Shape{3}, 5.0), "dense/b");
    expect_rejected<tapegrad::value_error>(
        renamed, [&] { tapegrad::load_variables(path, renamed); },
        {quoted, "holds 'dense/bias' where variable 1 ('dense/b') was expected"});
  }
  SECTION("a different dtype") {
    const auto floats = model_variables<float>();
    expect_rejected<tapegrad::value_error>(
        floats, [&] { tapegrad::load_variables(path, floats); },
        {quoted, "holds float64 data for variable 0 ('dense/kernel'), which is float32"});
  }
  SECTION("a different shape") {
    std::vector<Variable<double>> reshaped = vars;
    reshaped[3] = Variable<double>(Tensor<double>(Shape{2, 3, 4}, 1.0), "conv/kernel");
    expect_rejected<tapegrad::shape_error>(
        reshaped, [&] { tapegrad::load_variables(path, reshaped); },
        {quoted, "holds shape [2,3,2,2] for variable 3 ('conv/kernel'), which has shape [2,3,4]"});
    reshaped[3] = Variable<double>(Tensor<double>(Shape{2, 3, 2, 3}, 1.0), "conv/kernel");
    expect_rejected<tapegrad::shape_error>(
        reshaped, [&] { tapegrad::load_variables(path, reshaped); }, {"[2,3,2,3]"});
  }
  SECTION("a changed value fails the checksum") {
    std::string bad = good;
    bad[bad.size() - 20] ^= 0x01;  // inside the last variable's data
    write_bytes(path, bad);
    expect_rejected<tapegrad::value_error>(
        vars, load, {quoted, "checksum of the record of variable 3 ('conv/kernel')"});
  }
  SECTION("bytes after the last variable") {
    write_bytes(path, good + "x");
    expect_rejected<tapegrad::value_error>(vars, load,
                                           {quoted, "1 unexpected bytes after the last variable"});
  }
  SECTION("a file cut short anywhere") {
    for (std::size_t n = 0; n < good.size(); ++n) {
      write_bytes(path, good.substr(0, n));
      INFO("first " << n << " of " << good.size() << " bytes");
      expect_rejected<tapegrad::value_error>(vars, load, {quoted});
    }
    write_bytes(path, good.substr(0, good.size() - 3));
    expect_rejected<tapegrad::value_error>(
        vars, load, {"is truncated: it ends in the record of variable 3 ('conv/kernel')"});
  }
  SECTION("any single damaged byte") {
    for (std::size_t i = 0; i < good.size(); ++i) {
      std::string bad = good;
      bad[i] = char(bad[i] ^ 0x5a);
      write_bytes(path, bad);
      INFO("byte " << i << " of " << good.size());
      expect_rejected<tapegrad::error>(vars, load, {quoted});
    }
  }
  SECTION("a damaged rank or dimension does not allocate wildly") {
    // The first record's rank byte sits after the header (20), name length (4) and name (12).
    std::string bad = good;
    const std::size_t rank_at = 20 + 4 + 12 + 1;
    REQUIRE(bad[rank_at] == 2);
    bad[rank_at] = 9;
    write_bytes(path, bad);
    expect_rejected<tapegrad::value_error>(vars, load, {"is corrupt", "rank 9"});
    bad = good;
    for (std::size_t b = 0; b < 8; ++b) bad[rank_at + 1 + b] = char(0xff);  // dimension 2^64-1
    write_bytes(path, bad);
    expect_rejected<tapegrad::value_error>(vars, load, {"is corrupt", "too many elements"});
  }
  // A good file still loads after all that.
  write_bytes(path, good);
  tapegrad::load_variables(path, vars);
  CHECK(snapshot(vars) == snapshot(model_variables<double>()));
}

TEST_CASE("Saving to a place that cannot be written throws", "[checkpoint]") {
  const std::vector<Variable<float>> vars{Variable<float>({1.f}, "w")};
  CHECK_THROWS_AS(tapegrad::save_variables("/nonexistent-dir/for/sure/x.tgckpt", vars),
                  tapegrad::value_error);
}
