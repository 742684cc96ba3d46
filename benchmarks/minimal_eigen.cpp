// The baseline for compile time (run.sh): a minimal Eigen program, compiled and linked with
// the same command as examples/seed_examples.cpp. It includes <Eigen/Dense>, as a minimal
// Eigen program usually does; tapegrad itself includes only <Eigen/Core>.
#include <Eigen/Dense>
#include <iostream>

int main() {
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(3, 3);
  std::cout << (a * a.transpose()).sum() << '\n';
}
