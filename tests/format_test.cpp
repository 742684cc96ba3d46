// Expected strings follow what TensorFlow prints: NumPy's str() of the value inside
// "tf.Tensor(...)", with NumPy's default print options (precision 8, linewidth 75,
// threshold 1000, edgeitems 3).
#include "test_util.hpp"

#include <cmath>
#include <cstdint>
#include <limits>

using tapegrad::Shape;
using tapegrad::Tensor;
using tapegrad_test::printed;

TEST_CASE("Tensors print like TensorFlow", "[format]") {
  CHECK(printed(Tensor<float>({4.f, 6.f})) == "Tensor([4. 6.], shape=(2,), dtype=float32)");
  CHECK(printed(Tensor<float>(12.f)) == "Tensor(12.0, shape=(), dtype=float32)");
  CHECK(printed(Tensor<double>(0.1)) == "Tensor(0.1, shape=(), dtype=float64)");
  CHECK(printed(Tensor<double>(1e-5)) == "Tensor(1e-05, shape=(), dtype=float64)");
  CHECK(printed(Tensor<float>({{1.f, 2.f}, {3.f, 4.f}})) ==
        "Tensor(\n[[1. 2.]\n [3. 4.]], shape=(2, 2), dtype=float32)");
  CHECK(printed(Tensor<float>()) == "None");
}

TEST_CASE("Elements share one width; digits are the shortest that identify the value", "[format]") {
  CHECK(tapegrad::to_string(Tensor<float>({1.5f, 2.25f})) == "[1.5  2.25]");
  CHECK(tapegrad::to_string(Tensor<float>({0.25f, 0.1f})) == "[0.25 0.1 ]");
  CHECK(tapegrad::to_string(Tensor<float>({0.1f})) == "[0.1]");  // not 0.100000001
  // float 0.1 as a double is 0.100000001490116...: rounded to 8 digits, zeros dropped.
  CHECK(tapegrad::to_string(Tensor<double>({0.1f})) == "[0.1]");
  CHECK(tapegrad::to_string(Tensor<double>({0.123456789})) == "[0.12345679]");
  CHECK(tapegrad::to_string(Tensor<float>({1.f, 0.5f})) == "[1.  0.5]");
  CHECK(tapegrad::to_string(Tensor<float>({-1.f, 10.f})) == "[-1. 10.]");
  CHECK(tapegrad::to_string(Tensor<double>({0.1 + 0.2})) == "[0.3]");
  CHECK(tapegrad::to_string(Tensor<double>({1.0 / 3.0})) == "[0.33333333]");
}

TEST_CASE("Scientific notation, non-finite values and integers", "[format]") {
  CHECK(tapegrad::to_string(Tensor<double>({1e-5, 1.5e10})) == "[1.0e-05 1.5e+10]");
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(tapegrad::to_string(Tensor<double>({1.0, std::nan(""), inf})) == "[ 1. nan inf]");
  CHECK(tapegrad::to_string(Tensor<double>({-inf, 0.5})) == "[-inf  0.5]");
  CHECK(tapegrad::to_string(Tensor<std::int32_t>({1, 20, 300})) == "[  1  20 300]");
  CHECK(printed(Tensor<std::int64_t>({7})) == "Tensor([7], shape=(1,), dtype=int64)");
}

TEST_CASE("Higher ranks nest brackets, separated by blank lines", "[format]") {
  std::vector<double> v(8);
  for (int i = 0; i < 8; ++i) v[static_cast<std::size_t>(i)] = i;
  CHECK(tapegrad::to_string(Tensor<double>(Shape{2, 2, 2}, v)) ==
        "[[[0. 1.]\n  [2. 3.]]\n\n [[4. 5.]\n  [6. 7.]]]");
  CHECK(tapegrad::to_string(Tensor<double>::zeros({0})) == "[]");
}

TEST_CASE("Long rows wrap at 75 columns and large arrays are summarised", "[format]") {
  std::vector<double> v(30);
  for (int i = 0; i < 30; ++i) v[static_cast<std::size_t>(i)] = i;
  CHECK(tapegrad::to_string(Tensor<double>(Shape{30}, v)) ==
        "[ 0.  1.  2.  3.  4.  5.  6.  7.  8.  9. 10. 11. 12. 13. 14. 15. 16. 17.\n"
        " 18. 19. 20. 21. 22. 23. 24. 25. 26. 27. 28. 29.]");
  std::vector<double> big(2000);
  for (int i = 0; i < 2000; ++i) big[static_cast<std::size_t>(i)] = i;
  CHECK(tapegrad::to_string(Tensor<double>(Shape{2000}, big)) ==
        "[0.000e+00 1.000e+00 2.000e+00 ... 1.997e+03 1.998e+03 1.999e+03]");
}
