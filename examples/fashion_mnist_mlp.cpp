// Fashion-MNIST with a 784-256-128-10 ReLU multilayer perceptron: softmax cross-entropy,
// Adam with a cosine-decayed learning rate and shuffled mini-batches, every gradient from a
// GradientTape. The full run reaches about 89% test accuracy on the 10,000 test images;
// --quick trains on a small subset so ctest can run it in seconds. Built as
// fashion_mnist_mlp_distributed (with MPI), the same program trains data-parallel:
//   mpirun -np 2 fashion_mnist_mlp_distributed
#include <tapegrad/tapegrad.hpp>
#include <tapegrad/train/layers.hpp>

#include "common/classifier_training.hpp"
#ifdef EXAMPLES_DATA_PARALLEL
#include "common/data_parallel.hpp"
#endif

namespace tg = tapegrad;

int main(int argc, char** argv) {
  examples::ClassifierSetup setup;
  setup.program = "fashion_mnist_mlp";
  setup.description =
      "Trains a 784-256-128-10 ReLU MLP on Fashion-MNIST with Adam (cosine-decayed learning "
      "rate) and softmax cross-entropy.";
  setup.model_name = "MLP 784-256-128-10";
  setup.example_shape = tg::Shape{784};
  setup.epochs = 10;
  setup.target_accuracy = 0.88;
  setup.quick_train_images = 2000;
  setup.quick_test_images = 1000;
  setup.quick_floor = 0.5;
  setup.evaluation_batch = 1000;
#ifdef EXAMPLES_DATA_PARALLEL
  examples::DataParallelTeam team(argc, argv);
  setup.program = "fashion_mnist_mlp_distributed";
  setup.team = &team;
#endif
  return examples::run_classifier(argc, argv, setup, [](tg::Generator& gen) {
    auto relu = [](const tg::Tensor<float>& t) { return tg::relu(t); };
    return tg::Sequential<float>(tg::Dense<float>(784, 256, relu, gen, "dense1"),
                                 tg::Dense<float>(256, 128, relu, gen, "dense2"),
                                 tg::Dense<float>(128, 10, gen, "logits"));
  });
}
