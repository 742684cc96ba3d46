// What the replay tests share: the names they use, and equality of tensors bit for bit.
#pragma once

#include <cstddef>
#include <cstring>

#include "test_util.hpp"

namespace replay_test {

namespace tg = tapegrad;
using tapegrad::GradientTape;
using tapegrad::Shape;
using tapegrad::Tensor;
using tapegrad::Variable;
using tapegrad_test::sample;

/// Whether a and b both have values, one shape and the same bits (NaN and -0 as they are).
template <class T>
bool same_bits(const Tensor<T>& a, const Tensor<T>& b) {
  return a.has_value() && b.has_value() && a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(T)) == 0;
}

}  // namespace replay_test
