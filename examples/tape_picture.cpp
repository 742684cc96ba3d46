// What a tape holds, drawn and measured: one training step of a small two-layer classifier,
// written out as Graphviz DOT (render it with `dot -Tpng tape.dot -o tape.png`) with its
// memory report. The README shows the picture this program draws.
//   ./tape_picture [file.dot]
#include <tapegrad/memory_report.hpp>
#include <tapegrad/tape_picture.hpp>
#include <tapegrad/tapegrad.hpp>

#include <fstream>
#include <iostream>

namespace tg = tapegrad;

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "tape.dot";
  tg::Generator gen(3);
  tg::Variable<float> w1(tg::glorot_uniform<float>({4, 16}, gen), "w1");
  tg::Variable<float> b1(tg::Tensor<float>::zeros({16}), "b1");
  tg::Variable<float> w2(tg::glorot_uniform<float>({16, 3}, gen), "w2");
  const auto x = tg::random_normal<float>({32, 4}, 0.0, 1.0, gen);
  const tg::Tensor<std::int64_t> labels =
      tg::argmax(tg::matmul(x, tg::Tensor<float>::ones({4, 3})), 1);

  tg::TapeDetails details;  // the tape's entries do not keep shapes and lines: this notes them
  tg::GradientTape tape;
  auto hidden = tg::relu(tg::matmul(x, w1) + b1);
  auto logits = tg::matmul(hidden, w2);
  auto loss = tg::mean(tg::sparse_softmax_cross_entropy(labels, logits));
  {
    auto pause = tape.stop_recording();  // a metric: the tape need not keep it
    auto accuracy = tg::mean(tg::cast<float>(tg::equal(tg::argmax(logits, 1), labels)));
    std::cout << "accuracy before training: " << accuracy.item() << "\n";
  }

  std::ofstream(path) << tg::to_dot(tape, loss, {w1, b1, w2});
  std::cout << "wrote " << path << "\n\n" << tg::memory_report(tape) << "\n";
  const auto grads = tape.gradient(loss, {w1, b1, w2});
  std::cout << "|dloss/dw1| = " << tg::norm(grads[0]).item() << "\n";
  return 0;
}
