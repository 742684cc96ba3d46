// Arithmetic on integer tensors: one static_assert line saying to cast first.
#include <cstdint>
#include <tapegrad/tapegrad.hpp>

int main() {
  const tapegrad::Tensor<std::int32_t> labels({1, 2});
  labels * 2;
}
