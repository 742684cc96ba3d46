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
// copies get): every result must have the same bits. What keeps packets in place is that
// elements of 32 bytes or more start on a 64-byte boundary (NOTE [ Element alignment ]), so
// every such copy must be aligned so; fewer bytes hold no packet wider than 16 bytes.
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
  if (static_cast<std::size_t>(x.size()) * sizeof(T) >= tg::detail::small_elements_bytes)
    CHECK(residues == std::set<std::uintptr_t>{0});
}

}  // namespace same_bits
