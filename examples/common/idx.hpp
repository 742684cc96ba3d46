#pragma once

// Reading the IDX files of (Fashion-)MNIST, gzip-compressed as distributed, with zlib.
// Link with zlib (CMake: ZLIB::ZLIB, by hand: -lz).

#include <zlib.h>
#include <tapegrad/tensor.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace examples {

/// A missing, unreadable or malformed data file; the message names the file.
class IdxError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The dimensions and elements of an IDX file of unsigned bytes.
struct IdxBytes {
  std::vector<std::int64_t> dims;
  std::vector<std::uint8_t> data;  // row-major, dims[0] * dims[1] * ... bytes
};

namespace detail {

/// An open gzip (or plain: zlib reads those unchanged) file, closed on destruction.
class GzReader {
 public:
  explicit GzReader(std::string path) : path_(std::move(path)) {
    errno = 0;
    file_ = gzopen(path_.c_str(), "rb");
    if (!file_)
      throw IdxError(path_ +
                     ": cannot open: " + (errno ? std::strerror(errno) : "out of memory in zlib"));
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;
  ~GzReader() { gzclose(file_); }

  /// Reads up to n bytes; fewer only at the end of the data. A damaged or cut-off gzip
  /// stream throws.
  std::size_t read(std::uint8_t* out, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      // gzread takes an unsigned count and returns an int: read in chunks below INT_MAX.
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, 1u << 30));
      const int got = gzread(file_, out + done, chunk);
      if (got < 0) throw IdxError(path_ + ": cannot decompress: " + error_text());
      done += static_cast<std::size_t>(got);
      if (static_cast<unsigned>(got) < chunk) {
        int code = Z_OK;
        gzerror(file_, &code);
        // zlib hands back what it could decode from a cut-off stream and flags Z_BUF_ERROR.
        if (code != Z_OK && code != Z_STREAM_END)
          throw IdxError(path_ + ": the gzip data is damaged or cut off (" + error_text() + ")");
        break;
      }
    }
    return done;
  }

  const std::string& path() const { return path_; }

 private:
  std::string error_text() const {
    int code = Z_OK;
    const char* text = gzerror(file_, &code);
    if (code == Z_ERRNO) return std::strerror(errno);
    // zlib puts the path in front of its message; ours already names the file.
    std::string message = text ? text : "unknown zlib error";
    if (message.compare(0, path_.size() + 2, path_ + ": ") == 0) message.erase(0, path_.size() + 2);
    return message;
  }

  std::string path_;
  gzFile file_ = nullptr;
};

inline std::string dims_text(const std::vector<std::int64_t>& dims) {
  std::string out;
  for (std::size_t i = 0; i < dims.size(); ++i) out += (i ? "x" : "") + std::to_string(dims[i]);
  return out;
}

}  // namespace detail

/// Reads an IDX file of unsigned bytes with `rank` dimensions (1 for labels, 3 for images),
/// gzip-compressed or not. With limit >= 0 only the first `limit` entries along the first
/// dimension are read (the rest of the file is not checked). Throws IdxError naming the file
/// when it is missing, its magic number is not 0x0000 08 <rank>, or it holds fewer or more
/// bytes than its header says.
///   auto raw = examples::read_idx_bytes("train-labels-idx1-ubyte.gz", 1);
inline IdxBytes read_idx_bytes(const std::string& path, int rank, std::int64_t limit = -1) {
  detail::GzReader in(path);
  std::array<std::uint8_t, 4> magic{};
  if (in.read(magic.data(), 4) < 4)
    throw IdxError(path + ": too short for an IDX file (no 4-byte magic number)");
  auto hex = [](const std::array<std::uint8_t, 4>& b) {
    static const char digits[] = "0123456789abcdef";
    std::string s = "0x";
    for (auto byte : b) s += std::string{digits[byte >> 4], digits[byte & 15]};
    return s;
  };
  const std::array<std::uint8_t, 4> expected{0, 0, 0x08, static_cast<std::uint8_t>(rank)};
  if (magic != expected)
    throw IdxError(path + ": bad magic number " + hex(magic) + ", expected " + hex(expected) +
                   " (IDX, unsigned bytes, " + std::to_string(rank) + " dimension" +
                   (rank == 1 ? "" : "s") + ")");

  IdxBytes out;
  std::uint64_t total = 1;
  for (int i = 0; i < rank; ++i) {
    std::array<std::uint8_t, 4> b{};
    if (in.read(b.data(), 4) < 4)
      throw IdxError(path + ": truncated header: dimension " + std::to_string(i + 1) + " of " +
                     std::to_string(rank) + " is missing");
    const std::uint32_t d = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                            (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]};
    out.dims.push_back(d);
    total *= d;
    // A damaged header could otherwise ask for terabytes before the read fails.
    if (total > (std::uint64_t{1} << 34))
      throw IdxError(path + ": implausible dimensions " + detail::dims_text(out.dims) +
                     " (more than 16 GiB)");
  }
  const bool partial = limit >= 0 && limit < out.dims[0];
  if (partial) {
    total = out.dims[0] ? total / static_cast<std::uint64_t>(out.dims[0]) * limit : 0;
    out.dims[0] = limit;
  }
  out.data.resize(static_cast<std::size_t>(total));
  const std::size_t got = in.read(out.data.data(), out.data.size());
  if (got < out.data.size())
    throw IdxError(path + ": truncated: the header promises " + detail::dims_text(out.dims) +
                   " = " + std::to_string(total) + " bytes of data, the file holds " +
                   std::to_string(got));
  std::uint8_t extra = 0;
  if (!partial && in.read(&extra, 1) > 0)
    throw IdxError(path + ": more data than the header's " + detail::dims_text(out.dims) +
                   " promises");
  return out;
}

/// How read_idx_images shapes its result: [n, rows, cols] or [n, rows * cols].
enum class ImageLayout { square, flat };

/// Images from an IDX file of unsigned bytes [n, rows, cols], scaled to [0, 1] as float.
///   auto x = examples::read_idx_images(dir + "/t10k-images-idx3-ubyte.gz", ImageLayout::flat);
inline tapegrad::Tensor<float> read_idx_images(const std::string& path,
                                               ImageLayout layout = ImageLayout::square,
                                               std::int64_t limit = -1) {
  const IdxBytes raw = read_idx_bytes(path, 3, limit);
  const auto& d = raw.dims;
  const tapegrad::Shape shape = layout == ImageLayout::square ? tapegrad::Shape{d[0], d[1], d[2]}
                                                              : tapegrad::Shape{d[0], d[1] * d[2]};
  tapegrad::Tensor<float> images(shape);
  // Filled in place: a tensor only this function has seen, as ops fill their results.
  float* px = images.mutable_data();
  for (std::size_t i = 0; i < raw.data.size(); ++i)
    px[i] = static_cast<float>(raw.data[i]) / 255.0f;
  return images;
}

/// Labels from an IDX file of unsigned bytes [n], as int32.
///   auto y = examples::read_idx_labels(dir + "/t10k-labels-idx1-ubyte.gz");
inline tapegrad::Tensor<std::int32_t> read_idx_labels(const std::string& path,
                                                      std::int64_t limit = -1) {
  const IdxBytes raw = read_idx_bytes(path, 1, limit);
  return tapegrad::Tensor<std::int32_t>(
      tapegrad::Shape{raw.dims[0]}, std::vector<std::int32_t>(raw.data.begin(), raw.data.end()));
}

/// Where Debian's package dataset-fashion-mnist puts the files (`dpkg -L dataset-fashion-mnist`).
inline constexpr const char* debian_fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";

/// The directory to read Fashion-MNIST from when the user gives no --data: where Debian's
/// package installs it.   std::string data = examples::default_fashion_mnist_dir();
inline std::string default_fashion_mnist_dir() {
  return debian_fashion_mnist_dir;
}

/// The ten Fashion-MNIST classes, indexed by label.
inline constexpr std::array<const char*, 10> fashion_mnist_classes{
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/// Images and their labels.
struct LabeledImages {
  tapegrad::Tensor<float> images;         // [n, 28, 28] or [n, 784], in [0, 1]
  tapegrad::Tensor<std::int32_t> labels;  // [n], in 0..9
};

/// Which half of Fashion-MNIST: 60000 training or 10000 test examples.
enum class Split { train, test };

/// Loads one split of Fashion-MNIST from `dir` (the file names of the original
/// distribution, .gz or uncompressed), checking 28x28 images, as many labels as images and
/// labels in 0..9. limit >= 0 loads only the first `limit` examples.
///   auto test = examples::load_fashion_mnist(data_dir, examples::Split::test);
inline LabeledImages load_fashion_mnist(const std::string& dir, Split split,
                                        ImageLayout layout = ImageLayout::square,
                                        std::int64_t limit = -1) {
  namespace fs = std::filesystem;
  const std::string hint =
      "install it with `apt-get install dataset-fashion-mnist` or pass --data DIR (a "
      "directory holding train-images-idx3-ubyte.gz and the other three files)";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw IdxError("Fashion-MNIST: no directory " + dir + "; " + hint);
  const std::string prefix = split == Split::train ? "train" : "t10k";
  auto locate = [&](const std::string& name) {
    const fs::path plain = fs::path(dir) / name;
    const fs::path gz = fs::path(dir) / (name + ".gz");
    if (fs::exists(gz, ec)) return gz.string();
    if (fs::exists(plain, ec)) return plain.string();
    throw IdxError("Fashion-MNIST: " + gz.string() + " is missing; " + hint);
  };
  const std::string image_path = locate(prefix + "-images-idx3-ubyte");
  const std::string label_path = locate(prefix + "-labels-idx1-ubyte");

  LabeledImages out{read_idx_images(image_path, layout, limit), read_idx_labels(label_path, limit)};
  const tapegrad::Shape& s = out.images.shape();
  const std::int64_t rows = layout == ImageLayout::square ? s[1] : -1;
  if ((layout == ImageLayout::square && (rows != 28 || s[2] != 28)) ||
      (layout == ImageLayout::flat && s[1] != 784))
    throw IdxError(image_path + ": images are " + s.str() + ", expected 28x28 pixels each");
  if (out.labels.size() != s[0])
    throw IdxError(label_path + ": " + std::to_string(out.labels.size()) + " labels for " +
                   std::to_string(s[0]) + " images in " + image_path);
  const std::int32_t* labels = out.labels.data();
  for (std::int64_t i = 0; i < out.labels.size(); ++i)
    if (labels[i] < 0 || labels[i] > 9)
      throw IdxError(label_path + ": label " + std::to_string(labels[i]) + " at index " +
                     std::to_string(i) + " is not a class 0..9");
  return out;
}

}  // namespace examples
