// A newcomer's first model: logistic regression on two Gaussian blobs with a Dense layer, Adam
// and sigmoid cross-entropy, in about thirty lines (benchmarks/run.sh times its compilation).
#include <tapegrad/tapegrad.hpp>
#include <tapegrad/train.hpp>

#include <cstdio>

namespace tg = tapegrad;

int main() {
  tg::Generator gen(7);
  // 200 points: label 1 around (1, 1), label 0 around (-1, -1).
  const auto labels = tg::cast<float>(tg::random_uniform<float>({200, 1}, 0.0, 1.0, gen) > 0.5f);
  const auto x = (labels * 2.0f - 1.0f) + tg::random_normal<float>({200, 2}, 0.0, 0.7, gen);
  tg::Dense<float> layer(2, 1, gen);
  tg::Adam adam(0.05);
  float loss_value = 0;
  for (int step = 0; step < 200; ++step) {
    tg::GradientTape tape;
    auto loss = tg::mean(tg::sigmoid_cross_entropy(labels, layer(x)));
    const auto vars = layer.trainable_variables();
    adam.apply_gradients(tape.gradient(loss, vars), vars);
    loss_value = loss.item();
  }
  const auto predicted = tg::cast<float>(layer(x) > 0.0f);
  const float accuracy = tg::mean(tg::cast<float>(tg::equal(predicted, labels))).item();
  std::printf("loss %.3f, accuracy %.3f\n", loss_value, accuracy);
  return accuracy > 0.9f ? 0 : 1;
}
