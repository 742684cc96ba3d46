// Compiled (not linked) with TAPEGRAD_PRECOMPILED by ctest precompiled_part_holds_every_op:
// it calls every elementwise op and the other listed entry points, and the test fails if this
// object defines any of them itself, that is if an op is missing from the precompiled list
// (NOTE [ The precompiled part ] in tapegrad/detail/instantiations.hpp).
#include <tapegrad/ops/elementwise_table.hpp>
#include <tapegrad/tapegrad.hpp>
#include <tapegrad/train.hpp>

#include <cstdint>
#include <sstream>
#include <vector>

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

  const auto images = tg::random_uniform<T>({1, 4, 4, 2}, 0.1, 0.9, gen);
  const auto filters = tg::random_uniform<T>({3, 3, 2, 2}, 0.1, 0.9, gen);
  tg::GradientTape conv_tape(tg::persistent);
  conv_tape.watch(images);
  const std::vector<tg::Tensor<T>> pictures = {
      tg::conv2d(images, filters), tg::max_pool2d(images, 2, 2), tg::avg_pool2d(images, 2, 2),
      tg::dropout(images, 0.5, gen), tg::cast<T>(images > T(0.5))};
  for (const auto& p : pictures) static_cast<void>(conv_tape.gradient(tg::sum(p), images));
  static_cast<void>(tg::gather(x, tg::Tensor<std::int64_t>({1, 0}), 0));

  tg::Sequential<T> model(tg::Conv2D<T>(3, 3, 2, 2, gen), tg::MaxPool2D<T>(), tg::Flatten<T>(),
                          tg::Dense<T>(2, 1, gen));
  const auto vars = model.trainable_variables();
  tg::SGD sgd(0.1);
  tg::RMSprop rmsprop(0.1);
  tg::Adam adam(0.1);
  for (int step = 0; step < 3; ++step) {
    tg::GradientTape step_tape;
    const auto loss = tg::sum(model(images));
    const auto grads = step_tape.gradient(loss, vars);
    sgd.apply_gradients(tg::clip_by_value(grads, -1.0, 1.0), vars);
    rmsprop.apply_gradients(tg::clip_by_global_norm(grads, 1.0).first, vars);
    adam.apply_gradients(grads, vars);
  }
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
  std::ostringstream printed;
  printed << xf << xd << tg::Tensor<std::int32_t>({1, 2}) << tg::Tensor<std::int64_t>({1, 2})
          << (xf > 0.5f) << tg::Variable<float>(xf) << tg::Variable<double>(xd)
          << tg::to_string(xd, 3);
}
