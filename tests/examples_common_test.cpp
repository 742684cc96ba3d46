// Tests of the examples' helpers: the command-line parser, the IDX reader, the progress
// reporter and the learning-curve CSV and plot.
#include "../examples/common/cli.hpp"
#include "../examples/common/idx.hpp"
#include "../examples/common/progress.hpp"

#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using Catch::Matchers::Matches;
using Catch::Matchers::StartsWith;

namespace {

/// A fresh directory under the system's temporary directory, removed at the end of a test.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() / ("tapegrad_examples_common_" + std::to_string(::getpid()) +
                                         "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

/// The bytes of an IDX file of unsigned bytes: magic 0x0000 08 <rank>, big-endian dims, data.
std::vector<std::uint8_t> idx_bytes(const std::vector<std::uint32_t>& dims,
                                    const std::vector<std::uint8_t>& data,
                                    std::uint8_t type = 0x08) {
  std::vector<std::uint8_t> out{0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8)
      out.push_back(static_cast<std::uint8_t>(d >> shift));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void write_gz(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
          static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

void write_plain(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::uint8_t> ramp(std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(i * 37 % 256);
  return v;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The exit status of Cli::parse on `args` run in a child process (it calls std::exit).
int parse_exit_code(const std::vector<std::string>& args) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::FILE* null = std::freopen("/dev/null", "w", stdout);
    (void)null;
    null = std::freopen("/dev/null", "w", stderr);
    (void)null;
    int epochs = 3;
    examples::Cli cli("prog", "A test program.");
    cli.option("epochs", epochs, "passes").at_least(1);
    std::vector<const char*> argv{"prog"};
    for (const auto& a : args) argv.push_back(a.c_str());
    cli.parse(static_cast<int>(argv.size()), argv.data());
    ::_exit(epochs == 5 ? 42 : 43);  // parse returned: the command line was accepted
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Cli

namespace {
struct Options {
  bool quick = false;
  std::uint64_t seed = 42;
  int epochs = 10;
  std::int64_t batch = 128;
  double lr = 0.1;
  float momentum = 0.9f;
  std::string data = "/usr/share/datasets/fashion-mnist";
  std::string out;
};

void declare(examples::Cli& cli, Options& o) {
  cli.flag("quick", o.quick, "a short run")
      .option("seed", o.seed, "random seed")
      .option("epochs", o.epochs, "passes over the data")
      .at_least(1)
      .option("batch", o.batch, "batch size")
      .at_least(1)
      .at_most(4096)
      .option("lr", o.lr, "learning rate")
      .positive()
      .option("momentum", o.momentum, "momentum")
      .at_least(0)
      .at_most(1)
      .option("data", o.data, "Fashion-MNIST directory", "DIR")
      .option("out", o.out, "where to write results", "DIR");
}
}  // namespace

TEST_CASE("Cli keeps the defaults when no option is given", "[examples][cli]") {
  Options o;
  examples::Cli cli("prog", "A test program.");
  declare(cli, o);
  CHECK(cli.parse_args({}) == examples::Cli::Result::run);
  CHECK_FALSE(o.quick);
  CHECK(o.seed == 42);
  CHECK(o.epochs == 10);
  CHECK(o.batch == 128);
  CHECK(o.lr == 0.1);
  CHECK(o.data == "/usr/share/datasets/fashion-mnist");
  CHECK(o.out.empty());
  CHECK_FALSE(cli.given("epochs"));
  CHECK_FALSE(cli.given("quick"));
  CHECK_THROWS_AS(cli.given("nonesuch"), std::logic_error);
}

TEST_CASE("Cli parses flags and values in both spellings", "[examples][cli]") {
  Options o;
  examples::Cli cli("prog", "A test program.");
  declare(cli, o);
  CHECK(cli.parse_args({"--quick", "--seed", "18446744073709551615", "--epochs=3", "--batch", "64",
                        "--lr=1e-3", "--momentum", "0.5", "--data", "/tmp/x", "--out=", "--epochs",
                        "4"}) == examples::Cli::Result::run);
  CHECK(o.quick);
  CHECK(o.seed == std::numeric_limits<std::uint64_t>::max());
  CHECK(o.epochs == 4);  // the later repeat wins
  CHECK(o.batch == 64);
  CHECK(o.lr == 1e-3);
  CHECK(o.momentum == 0.5f);
  CHECK(o.data == "/tmp/x");
  CHECK(o.out.empty());
  CHECK(cli.given("epochs"));
  CHECK(cli.given("quick"));
  CHECK_FALSE(Options{}.quick);
}

TEST_CASE("Cli rejects bad command lines with a clear message", "[examples][cli]") {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases{
      {{"--epoch", "3"}, "unknown option '--epoch'"},
      {{"-q"}, "unexpected argument '-q'"},
      {{"extra"}, "unexpected argument 'extra'"},
      {{"--epochs"}, "--epochs needs a value (N)"},
      {{"--epochs", "3x"}, "--epochs: expected an integer, got '3x'"},
      {{"--epochs", "1.5"}, "--epochs: expected an integer, got '1.5'"},
      {{"--epochs", ""}, "--epochs: expected an integer, got ''"},
      {{"--epochs", "0"}, "--epochs: must be at least 1, got 0"},
      {{"--epochs", "99999999999"}, "--epochs: '99999999999' is out of range"},
      {{"--seed", "-1"}, "--seed: expected a non-negative integer, got '-1'"},
      {{"--seed", "18446744073709551616"}, "--seed: '18446744073709551616' is out of range"},
      {{"--batch", "5000"}, "--batch: must be at most 4096, got 5000"},
      {{"--lr", "abc"}, "--lr: expected a number, got 'abc'"},
      {{"--lr", "nan"}, "--lr: expected a finite number, got 'nan'"},
      {{"--lr", "0"}, "--lr: must be positive, got 0"},
      {{"--momentum", "1e60"}, "--momentum: '1e60' is out of range"},
      {{"--quick=yes"}, "--quick takes no value"},
  };
  for (const Case& c : cases) {
    Options o;
    examples::Cli cli("prog", "A test program.");
    declare(cli, o);
    INFO("args: " << (c.args.empty() ? "" : c.args[0]));
    try {
      cli.parse_args(c.args);
      FAIL("no UsageError");
    } catch (const examples::UsageError& e) {
      CHECK(std::string(e.what()) == c.message);
    }
    // A rejected value is not stored.
    CHECK(o.epochs == 10);
    CHECK(o.seed == 42);
    CHECK(o.lr == 0.1);
  }
}

TEST_CASE("Cli --help lists the description, the options and their defaults", "[examples][cli]") {
  Options o;
  examples::Cli cli("prog", "A test program.");
  declare(cli, o);
  CHECK(cli.parse_args({"--epochs", "2", "--help", "--bogus"}) == examples::Cli::Result::help);
  const std::string usage = cli.usage();
  CHECK_THAT(usage, StartsWith("prog: A test program.\n\nUsage: prog [options]\n"));
  CHECK_THAT(usage, Contains("  --help         print this help and exit\n"));
  CHECK_THAT(usage, Contains("  --quick        a short run\n"));
  CHECK_THAT(usage, Contains("  --seed N       random seed (default: 42)\n"));
  CHECK_THAT(usage, Contains("  --lr X         learning rate (default: 0.1)\n"));
  CHECK_THAT(usage, Contains("  --data DIR     Fashion-MNIST directory (default: "
                             "/usr/share/datasets/fashion-mnist)\n"));
  CHECK_THAT(usage, Contains("  --out DIR      where to write results\n"));
  CHECK_THAT(usage, Contains("(default: 0.9)"));
}

TEST_CASE("Cli::parse exits with 0 after --help and 2 on errors", "[examples][cli]") {
  CHECK(parse_exit_code({"--help"}) == 0);
  CHECK(parse_exit_code({"--epochs", "0"}) == 2);
  CHECK(parse_exit_code({"--nope"}) == 2);
  CHECK(parse_exit_code({"--epochs", "5"}) == 42);
}

TEST_CASE("Cli refuses to declare an option twice", "[examples][cli]") {
  bool a = false, b = false;
  examples::Cli cli("prog", "A test program.");
  cli.flag("quick", a, "x");
  CHECK_THROWS_AS(cli.flag("quick", b, "y"), std::logic_error);
  CHECK_THROWS_AS(cli.flag("help", b, "y"), std::logic_error);
  CHECK_THROWS_AS(cli.at_least(1), std::logic_error);  // the last option is a flag
}

// ---------------------------------------------------------------------------------------------
// IDX reader

TEST_CASE("read_idx_images and read_idx_labels read small gzip files", "[examples][idx]") {
  TempDir dir;
  const std::vector<std::uint8_t> pixels{0, 255, 51, 102, 204, 1, 2, 3, 4, 5, 6, 7};  // 2 of 2x3
  write_gz(dir.file("images.gz"), idx_bytes({2, 2, 3}, pixels));
  write_gz(dir.file("labels.gz"), idx_bytes({3}, {7, 0, 9}));

  const auto images = examples::read_idx_images(dir.file("images.gz"));
  CHECK(images.shape() == tapegrad::Shape{2, 2, 3});
  CHECK(images.at(0, 0, 0) == 0.0f);
  CHECK(images.at(0, 0, 1) == 1.0f);
  CHECK(images.at(0, 0, 2) == Approx(0.2f));
  CHECK(images.at(1, 1, 2) == Approx(7.0f / 255));
  const auto flat = examples::read_idx_images(dir.file("images.gz"), examples::ImageLayout::flat);
  CHECK(flat.shape() == tapegrad::Shape{2, 6});
  CHECK(flat.to_vector() == images.to_vector());

  const auto labels = examples::read_idx_labels(dir.file("labels.gz"));
  CHECK(labels.shape() == tapegrad::Shape{3});
  CHECK(labels.to_vector() == std::vector<std::int32_t>{7, 0, 9});

  SECTION("limit reads only the first entries") {
    CHECK(examples::read_idx_labels(dir.file("labels.gz"), 2).to_vector() ==
          std::vector<std::int32_t>{7, 0});
    CHECK(examples::read_idx_images(dir.file("images.gz"), examples::ImageLayout::square, 1)
              .shape() == tapegrad::Shape{1, 2, 3});
    CHECK(examples::read_idx_labels(dir.file("labels.gz"), 10).size() == 3);
  }
  SECTION("an uncompressed file reads the same") {
    write_plain(dir.file("labels"), idx_bytes({3}, {7, 0, 9}));
    CHECK(examples::read_idx_labels(dir.file("labels")).to_vector() == labels.to_vector());
  }
}

TEST_CASE("the IDX reader names the file and the problem", "[examples][idx]") {
  TempDir dir;
  auto error_of = [](auto&& read) -> std::string {
    try {
      read();
    } catch (const examples::IdxError& e) {
      return e.what();
    }
    return "no error";
  };
  const std::string path = dir.file("bad.gz");

  SECTION("missing file") {
    CHECK_THAT(error_of([&] { examples::read_idx_labels(path); }),
               StartsWith(path + ": cannot open: No such file"));
  }
  SECTION("wrong magic: images read as labels") {
    write_gz(path, idx_bytes({1, 2, 2}, {1, 2, 3, 4}));
    CHECK(error_of([&] { examples::read_idx_labels(path); }) ==
          path +
              ": bad magic number 0x00000803, expected 0x00000801 (IDX, unsigned bytes, 1 "
              "dimension)");
  }
  SECTION("wrong magic: float elements") {
    write_gz(path, idx_bytes({1}, {1, 2, 3, 4}, 0x0D));
    CHECK_THAT(error_of([&] { examples::read_idx_labels(path); }),
               StartsWith(path + ": bad magic number 0x00000d01"));
  }
  SECTION("wrong magic: not IDX at all") {
    write_gz(path, {'h', 'e', 'l', 'l', 'o', '\n'});
    CHECK_THAT(error_of([&] { examples::read_idx_images(path); }),
               StartsWith(path + ": bad magic number 0x68656c6c"));
  }
  SECTION("too short for a magic number") {
    write_gz(path, {0, 0});
    CHECK_THAT(error_of([&] { examples::read_idx_labels(path); }),
               StartsWith(path + ": too short"));
  }
  SECTION("truncated header") {
    write_gz(path, {0, 0, 8, 3, 0, 0, 0, 2, 0, 0});
    CHECK(error_of([&] { examples::read_idx_images(path); }) ==
          path + ": truncated header: dimension 2 of 3 is missing");
  }
  SECTION("truncated data") {
    write_gz(path, idx_bytes({3, 2, 2}, ramp(8)));  // 3 images promised, 2 present
    CHECK(error_of([&] { examples::read_idx_images(path); }) ==
          path + ": truncated: the header promises 3x2x2 = 12 bytes of data, the file holds 8");
  }
  SECTION("a cut-off gzip stream") {
    write_gz(dir.file("whole.gz"), idx_bytes({4000}, ramp(4000)));
    std::string gz = read_text(dir.file("whole.gz"));
    gz.resize(gz.size() / 2);
    write_plain(path, std::vector<std::uint8_t>(gz.begin(), gz.end()));
    CHECK_THAT(error_of([&] { examples::read_idx_labels(path); }),
               Equals(path + ": the gzip data is damaged or cut off (unexpected end of file)") ||
                   StartsWith(path + ": truncated"));
  }
  SECTION("more data than the header promises") {
    write_gz(path, idx_bytes({2}, {1, 2, 3}));
    CHECK(error_of([&] { examples::read_idx_labels(path); }) ==
          path + ": more data than the header's 2 promises");
  }
  SECTION("implausible dimensions") {
    write_gz(path, idx_bytes({0xFFFFFFFF, 0xFFFF, 0xFFFF}, {}));
    CHECK_THAT(error_of([&] { examples::read_idx_images(path); }),
               Contains("implausible dimensions"));
  }
}

TEST_CASE("load_fashion_mnist checks what it loads", "[examples][idx]") {
  TempDir dir;
  auto error_of = [](auto&& read) -> std::string {
    try {
      read();
    } catch (const examples::IdxError& e) {
      return e.what();
    }
    return "no error";
  };

  SECTION("a missing directory says how to get the data") {
    const std::string missing = dir.file("nothing-here");
    const std::string e =
        error_of([&] { examples::load_fashion_mnist(missing, examples::Split::train); });
    CHECK_THAT(e, Contains(missing));
    CHECK_THAT(e, Contains("apt-get install dataset-fashion-mnist"));
    CHECK_THAT(e, Contains("--data DIR"));
  }
  SECTION("a missing file says how to get the data") {
    const std::string e =
        error_of([&] { examples::load_fashion_mnist(dir.str(), examples::Split::test); });
    CHECK_THAT(e, Contains(dir.file("t10k-images-idx3-ubyte.gz") + " is missing"));
    CHECK_THAT(e, Contains("apt-get install dataset-fashion-mnist"));
  }
  SECTION("three good examples") {
    write_gz(dir.file("t10k-images-idx3-ubyte.gz"), idx_bytes({3, 28, 28}, ramp(3 * 784)));
    write_gz(dir.file("t10k-labels-idx1-ubyte.gz"), idx_bytes({3}, {9, 2, 1}));
    const auto t =
        examples::load_fashion_mnist(dir.str(), examples::Split::test, examples::ImageLayout::flat);
    CHECK(t.images.shape() == tapegrad::Shape{3, 784});
    CHECK(t.labels.to_vector() == std::vector<std::int32_t>{9, 2, 1});
    CHECK(examples::load_fashion_mnist(dir.str(), examples::Split::test,
                                       examples::ImageLayout::square, 2)
              .images.shape() == tapegrad::Shape{2, 28, 28});
  }
  SECTION("fewer labels than images") {
    write_gz(dir.file("t10k-images-idx3-ubyte.gz"), idx_bytes({3, 28, 28}, ramp(3 * 784)));
    write_gz(dir.file("t10k-labels-idx1-ubyte.gz"), idx_bytes({2}, {9, 2}));
    CHECK(error_of([&] { examples::load_fashion_mnist(dir.str(), examples::Split::test); }) ==
          dir.file("t10k-labels-idx1-ubyte.gz") + ": 2 labels for 3 images in " +
              dir.file("t10k-images-idx3-ubyte.gz"));
  }
  SECTION("images of the wrong size") {
    write_gz(dir.file("train-images-idx3-ubyte.gz"), idx_bytes({2, 27, 28}, ramp(2 * 27 * 28)));
    write_gz(dir.file("train-labels-idx1-ubyte.gz"), idx_bytes({2}, {0, 1}));
    CHECK_THAT(error_of([&] { examples::load_fashion_mnist(dir.str(), examples::Split::train); }),
               Contains("expected 28x28 pixels each"));
  }
  SECTION("a label outside 0..9") {
    write_gz(dir.file("train-images-idx3-ubyte.gz"), idx_bytes({2, 28, 28}, ramp(2 * 784)));
    write_gz(dir.file("train-labels-idx1-ubyte.gz"), idx_bytes({2}, {3, 10}));
    CHECK_THAT(error_of([&] { examples::load_fashion_mnist(dir.str(), examples::Split::train); }),
               Contains("label 10 at index 1 is not a class 0..9"));
  }
}

TEST_CASE("the installed Fashion-MNIST files, if present", "[examples][idx][data]") {
  const std::string dir = examples::default_fashion_mnist_dir();
  CHECK(dir == "/usr/share/datasets/fashion-mnist");
  if (!fs::is_directory(dir)) {
    WARN("skipped: " << dir << " is not installed (apt-get install dataset-fashion-mnist)");
    return;
  }
  const auto train = examples::load_fashion_mnist(dir, examples::Split::train);
  const auto test =
      examples::load_fashion_mnist(dir, examples::Split::test, examples::ImageLayout::flat);
  CHECK(train.images.shape() == tapegrad::Shape{60000, 28, 28});
  CHECK(train.labels.shape() == tapegrad::Shape{60000});
  CHECK(test.images.shape() == tapegrad::Shape{10000, 784});
  CHECK(test.labels.shape() == tapegrad::Shape{10000});

  const auto first = [](const tapegrad::Tensor<std::int32_t>& t) {
    return std::vector<std::int32_t>(t.data(), t.data() + 10);
  };
  CHECK(first(train.labels) == std::vector<std::int32_t>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5});
  CHECK(first(test.labels) == std::vector<std::int32_t>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7});

  // Every class is equally common: 6000 per class in training, 1000 in test.
  std::vector<int> train_counts(10), test_counts(10);
  for (std::int32_t l : train.labels.to_vector()) ++train_counts.at(static_cast<std::size_t>(l));
  for (std::int32_t l : test.labels.to_vector()) ++test_counts.at(static_cast<std::size_t>(l));
  CHECK(train_counts == std::vector<int>(10, 6000));
  CHECK(test_counts == std::vector<int>(10, 1000));

  CHECK(train.images.array().minCoeff() == 0.0f);
  CHECK(train.images.array().maxCoeff() == 1.0f);
  // The raw bytes of the first training image add up to 76247 (an ankle boot).
  CHECK(train.images.array().head(784).sum() == Approx(76247.0 / 255).epsilon(1e-6));
}

// ---------------------------------------------------------------------------------------------
// Progress reporter, CSV and plot

TEST_CASE("ProgressReporter prints plain lines when not on a terminal", "[examples][progress]") {
  std::ostringstream out;
  examples::ProgressReporter progress(2, 4, examples::ProgressStyle::automatic, out);
  CHECK_FALSE(progress.draws_bar());  // not std::cout
  for (int e = 0; e < 2; ++e) {
    progress.begin_epoch();
    progress.batch_done(10, 1.0, 5);
    progress.batch_done(10, 0.5, 6);
    progress.batch_done(10, 0.25, 7);
    progress.batch_done(30, 0.25, 22);
    CHECK(progress.running_loss() == Approx((10 * 1.75 + 30 * 0.25) / 60));
    CHECK(progress.running_accuracy() == Approx(40.0 / 60));
    progress.end_epoch(0.5, e == 0 ? 0.6 : 0.7);
  }
  progress.finish();
  const std::string text = out.str();
  CHECK(text.find('\r') == std::string::npos);
  CHECK(text.find('\033') == std::string::npos);
  CHECK_THAT(text, Matches("epoch 1/2: train loss 0\\.4167, acc 66\\.67% \\| test loss 0\\.5000, "
                           "acc 60\\.00% \\| [0-9]+\\.[0-9] s, [0-9]+ samples/s\n"
                           "epoch 2/2: train loss 0\\.4167, acc 66\\.67% \\| test loss 0\\.5000, "
                           "acc 70\\.00% \\| [0-9]+\\.[0-9] s, [0-9]+ samples/s\n"
                           "trained 2 epochs in [0-9]+\\.[0-9] s \\([0-9]+ samples/s\\); final "
                           "train loss 0\\.4167, acc 66\\.67%; test loss 0\\.5000, acc 70\\.00%; "
                           "best test acc 70\\.00% at epoch 2\n"));
  REQUIRE(progress.history().size() == 2);
  CHECK(progress.history()[1].epoch == 2);
  CHECK(progress.history()[1].test_acc == 0.7);
}

TEST_CASE("ProgressReporter lines within an epoch and without accuracy", "[examples][progress]") {
  std::ostringstream out;
  examples::ProgressReporter progress(1, 4, examples::ProgressStyle::lines, out, 50);
  progress.begin_epoch();
  for (int b = 0; b < 4; ++b) progress.batch_done(8, 2.0);
  progress.end_epoch();
  progress.finish();
  CHECK_THAT(out.str(),
             Matches("epoch 1/1 batch 2/4: loss 2\\.0000, [0-9]+ samples/s, [0-9:]+ left\n"
                     "epoch 1/1: train loss 2\\.0000 \\| [0-9.]+ s, [0-9]+ samples/s\n"
                     "trained 1 epoch in [0-9.]+ s \\([0-9]+ samples/s\\); final "
                     "train loss 2\\.0000\n"));
  CHECK(std::isnan(progress.history()[0].train_acc));
}

TEST_CASE("ProgressReporter redraws a bar in bar style", "[examples][progress]") {
  std::ostringstream out;
  examples::ProgressReporter progress(1, 2, examples::ProgressStyle::bar, out);
  CHECK(progress.draws_bar());
  progress.begin_epoch();
  progress.batch_done(4, 1.0, 2);
  progress.batch_done(4, 1.0, 4);  // the last batch is always drawn
  progress.end_epoch(0.9, 0.5);
  const std::string text = out.str();
  CHECK_THAT(text, Contains("\repoch 1/1 [========================] 2/2 loss 1.0000 acc 75.00% "));
  CHECK_THAT(text, Contains(" left\033[K"));
  CHECK_THAT(text, Contains("\repoch 1/1: train loss 1.0000, acc 75.00% | test loss 0.9000, acc "
                            "50.00% | "));
  CHECK(text.back() == '\n');
}

TEST_CASE("learning curves are written as CSV", "[examples][progress]") {
  TempDir dir;
  std::vector<examples::EpochStats> history(2);
  history[0] = {1, 0.5, 0.8125, 0.625, 0.75, 1.25};
  history[1].epoch = 2;
  history[1].train_loss = 0.25;  // accuracies and test loss not measured
  history[1].seconds = 2;
  const std::string csv = dir.file("sub/dir/curves.csv");
  examples::write_learning_curves_csv(csv, history);
  CHECK(read_text(csv) ==
        "epoch,train_loss,train_acc,test_loss,test_acc,seconds\n"
        "1,0.5,0.8125,0.625,0.75,1.250\n"
        "2,0.25,,,,2.000\n");
  CHECK_THROWS_WITH(examples::write_learning_curves_csv(dir.str(), history),
                    "cannot write " + dir.str());

  std::ostringstream row;
  examples::write_csv_row(row, {3, 1.0 / 3, 0.1, 0.2, 0.3, 0.5});
  CHECK(row.str() == "3,0.3333333333333333,0.1,0.2,0.3,0.500\n");
}

TEST_CASE("plot_learning_curves writes a PNG with gnuplot, or says it skipped",
          "[examples][progress]") {
  TempDir dir;
  std::vector<examples::EpochStats> history;
  for (int e = 1; e <= 3; ++e)
    history.push_back({e, 1.0 / e, 0.5 + 0.1 * e, 1.2 / e, 0.45 + 0.1 * e, 1});
  const std::string csv = dir.file("curves.csv"), png = dir.file("curves.png");
  examples::write_learning_curves_csv(csv, history);

  if (!examples::find_on_path("gnuplot").empty()) {
    std::ostringstream log;
    CHECK(examples::plot_learning_curves(csv, png, log));
    CHECK(log.str() == "wrote " + png + "\n");
    CHECK_THAT(read_text(png), StartsWith("\x89PNG"));
  } else {
    WARN("gnuplot is not installed; only the skipping path is tested");
  }

  const char* old = std::getenv("PATH");
  const std::string saved = old ? old : "";
  ::setenv("PATH", dir.str().c_str(), 1);  // a PATH without gnuplot
  std::ostringstream log;
  const bool plotted = examples::plot_learning_curves(csv, dir.file("other.png"), log);
  ::setenv("PATH", saved.c_str(), 1);
  CHECK_FALSE(plotted);
  CHECK_THAT(log.str(), StartsWith("gnuplot is not on PATH; skipped the plot"));
  CHECK_FALSE(fs::exists(dir.file("other.png")));
}

TEST_CASE("plot_learning_curves handles a curve without accuracy", "[examples][progress]") {
  if (examples::find_on_path("gnuplot").empty()) return;
  TempDir dir;
  std::vector<examples::EpochStats> history(2);
  history[0].epoch = 1;
  history[0].train_loss = 2;
  history[1].epoch = 2;
  history[1].train_loss = 1;
  const std::string csv = dir.file("it's.csv"), png = dir.file("it's.png");  // a quote to escape
  examples::write_learning_curves_csv(csv, history);
  std::ostringstream log;
  CHECK(examples::plot_learning_curves(csv, png, log));
  CHECK_THAT(read_text(png), StartsWith("\x89PNG"));
}
