#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "tapegrad/dtype.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/shape.hpp"
#include "tapegrad/tensor.hpp"
#include "tapegrad/variable.hpp"

// Saving and restoring variables.
//
// NOTE [ Checkpoint format, version 1 ]
// Every integer is little-endian, every float IEEE 754 little-endian, whatever the machine.
//   header  8 bytes  magic "TGCKPT\r\n" (the CR LF shows a text-mode transfer, as PNG's does)
//           u32      version, 1
//           u64      count: the number of variable records that follow
//   record  u32      name length n, then n bytes of name (UTF-8, not NUL-terminated)
//           u8       dtype: 0 float32, 1 float64
//           u8       rank r (0 to 8), then r x i64 dimensions
//           data     the elements in row-major order (4 or 8 bytes each)
//           u64      checksum: 64-bit FNV-1a of the record's bytes, from the name length to
//                    the last data byte
// Nothing follows the last record. Records are in the order of the variables saved, and
// load_variables matches them to its variables by position, checking each name.
//
// load_variables reads and checks the whole file (magic, version, count, every record's
// checksum, name, dtype and shape, no trailing bytes) before it assigns anything, so a bad
// file leaves every variable as it was. save_variables writes to "<path>.tmp" and renames it
// over `path`, so a failed save does not destroy the previous checkpoint.
namespace tapegrad {

namespace detail {

inline constexpr char checkpoint_magic[8] = {'T', 'G', 'C', 'K', 'P', 'T', '\r', '\n'};
inline constexpr std::uint32_t checkpoint_version = 1;

inline bool host_is_little_endian() {
  const std::uint16_t probe = 1;
  unsigned char first;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

/// 64-bit FNV-1a, continued from `hash`.
inline std::uint64_t fnv1a(const unsigned char* p, std::size_t n,
                           std::uint64_t hash = 14695981039346656037ull) {
  for (std::size_t i = 0; i < n; ++i) hash = (hash ^ p[i]) * 1099511628211ull;
  return hash;
}

inline std::uint8_t checkpoint_dtype_code(DType dtype) {
  return dtype == DType::float32 ? 0 : 1;
}

/// Appends the `bytes`-byte little-endian form of an unsigned integer.
inline void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

/// Appends n elements of `size` bytes each in little-endian order.
inline void put_elements(std::string& out, const void* data, std::int64_t n, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  const std::size_t total = static_cast<std::size_t>(n) * size;
  if (host_is_little_endian()) {
    out.append(p, total);
    return;
  }
  for (std::size_t i = 0; i < total; i += size)
    for (std::size_t b = size; b-- > 0;) out.push_back(p[i + b]);
}

/// Reads a checkpoint held in memory, throwing value_error with the file's name and the
/// place where a read fails.
class CheckpointReader {
 public:
  CheckpointReader(const std::string& path, const std::string& bytes)
      : path_(path),
        p_(reinterpret_cast<const unsigned char*>(bytes.data())),
        left_(bytes.size()) {}

  const unsigned char* position() const { return p_; }
  std::size_t remaining() const { return left_; }

  const unsigned char* take(std::uint64_t n, const std::string& what) {
    TAPEGRAD_CHECK(!(n > std::uint64_t(left_)), value_error, "load_variables: \"", path_,
                   "\" is truncated: it ends in ", what, " (", n, " bytes needed, ", left_,
                   " left)");
    const unsigned char* at = p_;
    p_ += n;
    left_ -= static_cast<std::size_t>(n);
    return at;
  }
  std::uint64_t le(int bytes, const std::string& what) {
    const unsigned char* b = take(static_cast<std::size_t>(bytes), what);
    std::uint64_t v = 0;
    for (int i = bytes; i-- > 0;) v = (v << 8) | b[i];
    return v;
  }

 private:
  std::string path_;
  const unsigned char* p_;
  std::size_t left_;
};

inline std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TAPEGRAD_CHECK(in, value_error, "load_variables: cannot open \"", path, "\" for reading");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TAPEGRAD_CHECK(!in.bad(), value_error, "load_variables: error while reading \"", path, "\"");
  return bytes;
}

inline std::string describe_variable(std::size_t index, const std::string& name) {
  return "variable " + std::to_string(index) + " ('" + name + "')";
}

}  // namespace detail

/// Writes the variables' names, dtypes, shapes and values to `path` (format: NOTE
/// [ Checkpoint format, version 1 ] in this header); reading them records nothing on tapes.
///   tapegrad::save_variables("model.tgckpt", model.trainable_variables());
template <class T>
void save_variables(const std::string& path, const std::vector<Variable<T>>& vars) {
  static_assert(is_differentiable_v<T>, "save_variables: variables hold float or double");
  std::string out(detail::checkpoint_magic, sizeof detail::checkpoint_magic);
  detail::put_le(out, detail::checkpoint_version, 4);
  detail::put_le(out, vars.size(), 8);
  for (const Variable<T>& var : vars) {
    const Tensor<T> value = var.snapshot();
    const std::string& name = var.name();
    TAPEGRAD_CHECK(!(name.size() > 0xffffffffu), value_error,
                   "save_variables: the name of a variable is too long to save");
    std::string record;
    detail::put_le(record, name.size(), 4);
    record += name;
    detail::put_le(record, detail::checkpoint_dtype_code(dtype_of<T>()), 1);
    detail::put_le(record, static_cast<std::uint64_t>(value.rank()), 1);
    for (std::int64_t d : value.shape()) detail::put_le(record, static_cast<std::uint64_t>(d), 8);
    detail::put_elements(record, value.data(), value.size(), sizeof(T));
    const std::uint64_t checksum =
        detail::fnv1a(reinterpret_cast<const unsigned char*>(record.data()), record.size());
    out += record;
    detail::put_le(out, checksum, 8);
  }

  const std::string tmp = path + ".tmp";
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    TAPEGRAD_CHECK(file, value_error, "save_variables: cannot open \"", tmp, "\" for writing");
    file.write(out.data(), static_cast<std::streamsize>(out.size()));
    file.close();
    if (!file) {
      std::remove(tmp.c_str());
      detail::fail<value_error>("save_variables: error while writing \"", tmp, "\"");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    // Some systems do not rename over an existing file.
    std::remove(path.c_str());
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
      std::remove(tmp.c_str());
      detail::fail<value_error>("save_variables: cannot move \"", tmp, "\" to \"", path, "\"");
    }
  }
}

/// Restores variables saved by save_variables, matched by position. The file must hold as
/// many variables, with the same names, dtypes and shapes, or load_variables throws
/// (value_error; shape_error for a shape) naming the file, the variable and what differs, and
/// changes nothing; so it does for a corrupt or truncated file.
///   tapegrad::load_variables("model.tgckpt", model.trainable_variables());
template <class T>
void load_variables(const std::string& path, const std::vector<Variable<T>>& vars) {
  static_assert(is_differentiable_v<T>, "load_variables: variables hold float or double");
  const std::string bytes = detail::read_whole_file(path);
  const std::string file = "\"" + path + "\"";
  detail::CheckpointReader in(path, bytes);

  const unsigned char* magic = in.take(sizeof detail::checkpoint_magic, "the header");
  TAPEGRAD_CHECK(std::memcmp(magic, detail::checkpoint_magic, sizeof detail::checkpoint_magic) == 0,
                 value_error, "load_variables: ", file,
                 " is not a tapegrad checkpoint (wrong magic bytes at its start)");
  const std::uint64_t version = in.le(4, "the header");
  TAPEGRAD_CHECK(version == detail::checkpoint_version, value_error, "load_variables: ", file,
                 " has format version ", version, "; this tapegrad reads version ",
                 detail::checkpoint_version);
  const std::uint64_t count = in.le(8, "the header");
  TAPEGRAD_CHECK(count == vars.size(), value_error, "load_variables: ", file, " holds ", count,
                 " variables but ", vars.size(), " were given to load");

  std::vector<Tensor<T>> values;
  values.reserve(vars.size());
  for (std::size_t i = 0; i < vars.size(); ++i) {
    const Variable<T>& var = vars[i];
    const std::string which = detail::describe_variable(i, var.name());
    const std::string where = "the record of " + which;
    const unsigned char* start = in.position();

    const std::uint64_t name_size = in.le(4, where);
    const unsigned char* name_bytes = in.take(name_size, where);
    const std::string name(reinterpret_cast<const char*>(name_bytes),
                           static_cast<std::size_t>(name_size));
    const std::uint64_t dtype_code = in.le(1, where);
    const std::uint64_t rank = in.le(1, where);
    TAPEGRAD_CHECK(!(dtype_code > 1 || rank > static_cast<std::uint64_t>(Shape::max_rank)),
                   value_error, "load_variables: ", file, " is corrupt: the record of ", which,
                   " has ",
                   (dtype_code > 1 ? "an unknown dtype code " + std::to_string(dtype_code)
                                   : "rank " + std::to_string(rank)));
    const DType dtype = dtype_code == 0 ? DType::float32 : DType::float64;
    const std::size_t element = dtype_size(dtype);
    Shape shape;
    std::uint64_t elements = 1;
    const std::uint64_t limit = std::uint64_t(std::numeric_limits<std::int64_t>::max()) / element;
    for (std::uint64_t k = 0; k < rank; ++k) {
      const std::uint64_t d = in.le(8, where);
      // The byte count must fit an int64 (and so Shape::size); take() checks it is there.
      TAPEGRAD_CHECK(!(d > limit || (elements != 0 && d != 0 && elements > limit / d)), value_error,
                     "load_variables: ", file, " is corrupt: the record of ", which,
                     " has a dimension of ", d, ", too many elements for any file");
      shape.push_back(static_cast<std::int64_t>(d));
      elements *= d;
    }
    const unsigned char* data = in.take(elements * element, where);
    const std::size_t record_size = static_cast<std::size_t>(in.position() - start);
    const std::uint64_t checksum = in.le(8, where);
    TAPEGRAD_CHECK(checksum == detail::fnv1a(start, record_size), value_error,
                   "load_variables: ", file, " is corrupt: the checksum of the record of ", which,
                   " does not match its contents");

    TAPEGRAD_CHECK(name == var.name(), value_error, "load_variables: ", file, " holds '", name,
                   "' where ", which, " was expected");
    TAPEGRAD_CHECK(!(dtype != dtype_of<T>()), value_error, "load_variables: ", file, " holds ",
                   dtype_name(dtype), " data for ", which, ", which is ",
                   dtype_name(dtype_of<T>()));
    TAPEGRAD_CHECK(shape == var.shape(), shape_error, "load_variables: ", file, " holds shape ",
                   shape, " for ", which, ", which has shape ", var.shape());

    Tensor<T> value(detail::uninitialized, shape);
    unsigned char* out = reinterpret_cast<unsigned char*>(value.mutable_data());
    if (detail::host_is_little_endian()) {
      std::memcpy(out, data, static_cast<std::size_t>(elements) * element);
    } else {
      for (std::size_t e = 0; e < elements; ++e)
        for (std::size_t b = 0; b < element; ++b)
          out[e * element + b] = data[e * element + element - 1 - b];
    }
    values.push_back(std::move(value));
  }
  TAPEGRAD_CHECK(in.remaining() == 0, value_error, "load_variables: ", file,
                 " is corrupt: ", in.remaining(), " unexpected bytes after the last variable");

  for (std::size_t i = 0; i < vars.size(); ++i) {
    Variable<T> var = vars[i];  // a handle on the same variable
    var.assign(values[i]);
  }
}

}  // namespace tapegrad
