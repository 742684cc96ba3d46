// Results do not depend on where a tensor's elements live. Compiled with the machine's widest
// vectors (-march=native, see tests/CMakeLists.txt): there Eigen's vectorised reductions start
// at the first element aligned to a packet of 32 or 64 bytes, so a sum left to Eigen adds the
// same numbers in an order that depends on the address (NOTE [ Sums in a fixed order ]).
// Replay, recompute_grad and threads promise bit-identical results on this basis.
#include <catch2/catch.hpp>
#include <tapegrad/tapegrad.hpp>

#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

namespace tg = tapegrad;

namespace {

// Bits, so that NaN and -0 compare as they are.
template <class T>
std::vector<std::uint64_t> bits_of(const tg::Tensor<T>& y) {
  std::vector<std::uint64_t> out;
  for (T v : y.to_vector()) {
    std::uint64_t b = 0;
    std::memcpy(&b, &v, sizeof(T));
    out.push_back(b);
  }
  return out;
}

// op(x) for copies of x at many addresses (spacer tensors of growing sizes move the blocks the
// copies get): every result must have the same bits. At least two addresses must differ modulo
// 64, or the check would prove nothing.
template <class T, class Op>
void same_bits_at_any_address(const tg::Tensor<T>& x, Op op) {
  std::set<std::uintptr_t> residues;
  std::vector<tg::Tensor<T>> keep;
  std::vector<std::uint64_t> first;
  for (int k = 0; k < 40; ++k) {
    keep.emplace_back(tg::Shape{k + 1}, T(0));
    tg::Tensor<T> copy(x.shape(), x.to_vector());
    residues.insert(reinterpret_cast<std::uintptr_t>(copy.data()) % 64);
    const auto bits = bits_of(op(copy));
    if (k == 0)
      first = bits;
    else
      REQUIRE(bits == first);
    keep.push_back(copy);
  }
  REQUIRE(residues.size() >= 2);
}

template <class T>
tg::Tensor<T> values(const tg::Shape& shape) {
  tg::Generator gen(7);
  // Mixed magnitudes, so that the order of the additions shows in the last bits.
  return tg::exp(tg::random_normal<T>(shape, 0.0, 3.0, gen));
}

}  // namespace

TEMPLATE_TEST_CASE("reductions give the same bits wherever the elements live", "[determinism]",
                   float, double) {
  using T = TestType;
  for (std::int64_t n : {7, 64, 1000, 4099}) {
    INFO(n << " elements");
    const auto x = values<T>({n});
    same_bits_at_any_address(x, [](const tg::Tensor<T>& t) { return tg::sum(t); });
    same_bits_at_any_address(x, [](const tg::Tensor<T>& t) { return tg::mean(t); });
    same_bits_at_any_address(x, [](const tg::Tensor<T>& t) { return tg::logsumexp(t); });
  }
  const auto m = values<T>({37, 129});
  same_bits_at_any_address(m, [](const tg::Tensor<T>& t) { return tg::sum(t, 1); });
  same_bits_at_any_address(m, [](const tg::Tensor<T>& t) { return tg::sum(t, 0); });
  same_bits_at_any_address(m, [](const tg::Tensor<T>& t) { return tg::softmax(t); });
  same_bits_at_any_address(m, [](const tg::Tensor<T>& t) { return tg::sum_to(t, {1, 129}); });
  same_bits_at_any_address(m, [](const tg::Tensor<T>& t) { return tg::sum_to(t, {37, 1}); });
}

TEMPLATE_TEST_CASE("products give the same bits wherever the elements live", "[determinism]", float,
                   double) {
  using T = TestType;
  // Blocks under glibc's mmap threshold (128 KiB), whose addresses vary modulo 64.
  const auto a = values<T>({33, 301});
  const auto v = values<T>({301, 1});
  const auto w = values<T>({1, 33});
  const auto b = values<T>({301, 19});
  same_bits_at_any_address(a, [&](const tg::Tensor<T>& t) { return tg::matmul(t, v); });
  same_bits_at_any_address(a, [&](const tg::Tensor<T>& t) { return tg::matmul(w, t); });
  same_bits_at_any_address(a, [&](const tg::Tensor<T>& t) { return tg::matmul(t, b); });
  same_bits_at_any_address(v, [&](const tg::Tensor<T>& t) { return tg::matmul(a, t); });
}

TEMPLATE_TEST_CASE("gradients of reductions give the same bits wherever the elements live",
                   "[determinism]", float, double) {
  using T = TestType;
  const auto x = values<T>({41, 67});
  same_bits_at_any_address(x, [](const tg::Tensor<T>& t) {
    tg::GradientTape tape;
    tape.watch(t);
    const auto y = tg::sum(tg::softmax(t) * t);
    return tape.gradient(y, t);
  });
}
