// Checks that a result does not depend on where its inputs' elements live (NOTE [ Sums in a
// fixed order ]): the same bits from copies of the inputs at many addresses.
#pragma once

#include <catch2/catch.hpp>
#include <tapegrad/tapegrad.hpp>

#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

namespace same_bits {

namespace tg = tapegrad;

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
// 64, or the check would prove nothing: that fails the test, except under the sanitizers, whose
// allocator (the block cache is off there) places every block alike; there it only warns.
template <class T, class Op>
void at_any_address(const tg::Tensor<T>& x, Op op) {
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
#if defined(TAPEGRAD_NO_BLOCK_CACHE)
  if (residues.size() < 2) WARN("every copy at the same address modulo 64: nothing shown here");
#else
  REQUIRE(residues.size() >= 2);
#endif
}

}  // namespace same_bits
