// Gradient checkpointing with recompute_grad: a deep ReLU MLP (by default 64 layers of width
// 256 at batch 2048, so that activations dominate the weights) trained one step at a time,
// plainly and with recompute_grad around each of 8 blocks of 8 layers. For each it measures
// - the tensor bytes the tape holds after the forward pass (memory_report; the high-water
//   mark of the tape's saved bytes, since nothing is freed before gradient()), and of those
//   the bytes only the tape keeps alive: the weights' values, which the plain tape saves and
//   the variables hold anyway, are not among them, so the two runs compare like with like,
// - the most tensor bytes alive at once during the step, above what existed before (the
//   library's live counters, which this program is built with; recomputation included),
// - the step's time, median of `reps` steps, the two kinds alternating,
// and checks that the gradients are bit for bit the same. Prints JSON:
//   recompute_memory [layers] [width] [batch] [blocks] [reps]
#include <tapegrad/memory_report.hpp>
#include <tapegrad/recompute_grad.hpp>
#include <tapegrad/tapegrad.hpp>
#include <tapegrad/testing/live_objects.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

namespace tg = tapegrad;
using Tensor = tg::Tensor<float>;

struct Step {
  std::size_t tape_held_bytes = 0;
  std::size_t tape_own_bytes = 0;
  long long peak_bytes = 0;
  double seconds = 0;
  std::vector<Tensor> grads;
};

struct Model {
  std::vector<tg::Variable<float>> kernels, biases;
  Tensor x;

  Model(int layers, int width, int batch) {
    tg::Generator gen(1);
    for (int i = 0; i < layers; ++i) {
      // He initialisation keeps a deep ReLU stack's activations from vanishing.
      kernels.emplace_back(
          tg::random_normal<float>({width, width}, 0.0, std::sqrt(2.0 / width), gen));
      biases.emplace_back(tg::random_uniform<float>({width}, -0.01, 0.01, gen));
    }
    x = tg::random_normal<float>({batch, width}, 0.0, 1.0, gen);
  }

  Tensor layers(const Tensor& h, int first, int count) const {
    Tensor y = h;
    for (int i = first; i < first + count; ++i) y = tg::relu(tg::matmul(y, kernels[i]) + biases[i]);
    return y;
  }

  Step step(int blocks) const {
    const int n = static_cast<int>(kernels.size());
    const int per_block = blocks > 0 ? n / blocks : n;
    Step s;
    const long long before = tg::testing::live_objects().bytes;
    tg::testing::reset_peak_bytes();
    const auto start = std::chrono::steady_clock::now();
    {
      tg::GradientTape tape;
      Tensor h = x;
      for (int b = 0; b * per_block < n; ++b) {
        const int first = b * per_block;
        if (blocks > 0)
          h = tg::recompute_grad([this, first, per_block](const Tensor& in) {
            return layers(in, first, per_block);
          })(h);
        else
          h = layers(h, first, per_block);
      }
      const Tensor loss = tg::mean(tg::square(h));
      const tg::MemoryReport report = tg::memory_report(tape);
      s.tape_held_bytes = report.held_bytes;
      s.tape_own_bytes = report.freed_bytes;
      std::vector<tg::Variable<float>> vars = kernels;
      vars.insert(vars.end(), biases.begin(), biases.end());
      s.grads = tape.gradient(loss, vars);
    }
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    s.peak_bytes = tg::testing::peak_bytes() - before;
    return s;
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

bool same_bits(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t k = 0; k < a.size(); ++k)
    if (!a[k].has_value() || !b[k].has_value() || a[k].to_vector() != b[k].to_vector())
      return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const int layers = argc > 1 ? std::atoi(argv[1]) : 64;
  const int width = argc > 2 ? std::atoi(argv[2]) : 256;
  const int batch = argc > 3 ? std::atoi(argv[3]) : 2048;
  const int blocks = argc > 4 ? std::atoi(argv[4]) : 8;
  const int reps = argc > 5 ? std::atoi(argv[5]) : 7;
  if (layers < 1 || width < 1 || batch < 1 || blocks < 1 || layers % blocks != 0 || reps < 1) {
    std::fprintf(stderr, "usage: %s [layers] [width] [batch] [blocks dividing layers] [reps]\n",
                 argv[0]);
    return 2;
  }
  const Model model(layers, width, batch);
  std::vector<double> plain_s, recompute_s;
  Step plain, recompute;
  for (int r = 0; r < reps; ++r) {  // alternating, so that the machine's drift hits both
    plain = model.step(0);
    recompute = model.step(blocks);
    plain_s.push_back(plain.seconds);
    recompute_s.push_back(recompute.seconds);
  }
  const bool identical = same_bits(plain.grads, recompute.grads);
  std::printf(
      "{\"layers\": %d, \"width\": %d, \"batch\": %d, \"blocks\": %d, \"reps\": %d,\n"
      " \"plain\": {\"tape_held_bytes\": %zu, \"tape_own_bytes\": %zu, \"peak_bytes\": %lld, "
      "\"median_s\": %.4f},\n"
      " \"recompute\": {\"tape_held_bytes\": %zu, \"tape_own_bytes\": %zu, \"peak_bytes\": %lld, "
      "\"median_s\": %.4f},\n"
      " \"tape_bytes_ratio\": %.4f, \"peak_ratio\": %.4f, \"time_ratio\": %.3f,"
      " \"gradients_bit_identical\": %s}\n",
      layers, width, batch, blocks, reps, plain.tape_held_bytes, plain.tape_own_bytes,
      plain.peak_bytes, median(plain_s), recompute.tape_held_bytes, recompute.tape_own_bytes,
      recompute.peak_bytes, median(recompute_s),
      static_cast<double>(recompute.tape_own_bytes) / static_cast<double>(plain.tape_own_bytes),
      static_cast<double>(recompute.peak_bytes) / static_cast<double>(plain.peak_bytes),
      median(recompute_s) / median(plain_s), identical ? "true" : "false");
  return identical ? 0 : 1;
}
