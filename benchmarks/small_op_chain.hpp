#pragma once
// The chain of small ops that chain_benchmark times and tape_memory records: *0.999, +0.001,
// sin and tanh in turn, n ops in all (n a multiple of 4).
#include <tapegrad/tapegrad.hpp>

namespace bench {

inline tapegrad::Tensor<float> small_op_chain(tapegrad::Tensor<float> y, long n) {
  for (long i = 0; i < n; i += 4) {
    y = y * 0.999f;
    y = y + 0.001f;
    y = tapegrad::sin(y);
    y = tapegrad::tanh(y);
  }
  return y;
}

}  // namespace bench
