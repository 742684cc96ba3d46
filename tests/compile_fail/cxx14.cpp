// Compiled with -std=c++14: tapegrad stops at one #error naming the standard it needs.
#include <tapegrad/tapegrad.hpp>

int main() {
  return 0;
}
