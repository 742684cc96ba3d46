// Compiled (not linked) with TAPEGRAD_PRECOMPILED by ctest precompiled_part_holds_every_op:
// it calls every elementwise op and the other listed entry points, and the test fails if this
// object defines any of them itself, that is if an op is missing from the precompiled list
// (NOTE [ The precompiled part ] in tapegrad/detail/instantiations.hpp).
#include <tapegrad/ops/elementwise_table.hpp>
#include <tapegrad/tapegrad.hpp>
#include <tapegrad/train.hpp>

#include <cstdint>

namespace tg = tapegrad;

template <class T>
void use_every_op(tg::Generator& gen) {
  const auto x = tg::random_uniform<T>({2, 3}, 0.1, 0.9, gen);
  const auto y = tg::random_uniform<T>({3}, 0.1, 0.9, gen);
  tg::GradientTape tape(tg::persistent);
  tape.watch(x);
  tape.watch(y);
  const std::vector<tg::Tensor<T>> results = {x + y,
                                              x - y,
                                              x * y,
                                              x / y,
                                              tg::pow(x, y),
                                              tg::atan2(x, y),
                                              tg::maximum(x, y),
                                              tg::minimum(x, y),
                                              x + T(1),
                                              T(1) - x,
                                              x * T(2),
                                              x / T(2),
                                              T(2) / x,
                                              tg::pow(x, T(2)),
                                              tg::matmul(x, tg::transpose(x)),
                                              tg::sum(x),
                                              tg::max(x),
                                              tg::min(x),
                                              tg::prod(x),
                                              tg::softmax(x),
                                              tg::logsumexp(x, 1),
                                              tg::norm(x),
                                              tg::reshape(x, {3, 2}),
                                              tg::concat({x, x}, 0),
                                              tg::stack({x, x}),
                                              tg::gather(x, tg::Tensor<std::int32_t>({1, 0}), 0)};
  for (const auto& r : results) static_cast<void>(tape.gradient(tg::sum(r), x));
}

int main() {
  tg::Generator gen(1);
  use_every_op<float>(gen);
  use_every_op<double>(gen);
  const auto xf = tg::random_uniform<float>({2, 3}, 0.1, 0.9, gen);
  const auto xd = tg::random_uniform<double>({2, 3}, 0.1, 0.9, gen);
  for (const auto& row : tg::detail::unary_op_table<float>) {
    tg::GradientTape tape;
    tape.watch(xf);
    static_cast<void>(tape.gradient(tg::sum(row.apply(xf)), xf));
  }
  for (const auto& row : tg::detail::unary_op_table<double>) {
    tg::GradientTape tape;
    tape.watch(xd);
    static_cast<void>(tape.gradient(tg::sum(row.apply(xd)), xd));
  }
  tg::Dense<float> layer(3, 2, gen);
  tg::Adam adam(0.1);
  tg::GradientTape tape;
  const auto loss = tg::sum(layer(tg::ones<float>({1, 3})));
  const auto vars = layer.trainable_variables();
  adam.apply_gradients(tape.gradient(loss, vars), vars);
}
