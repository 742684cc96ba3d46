#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <tapegrad/errors.hpp>

// CHECK_THROWS_WITH compares a tapegrad error's message without the " (called at FILE:LINE)"
// that an error from a named op ends with: the suites pin messages, and the location has its
// own tests (misuse_table_test.cpp), which read what() directly.
CATCH_TRANSLATE_EXCEPTION(const tapegrad::error& e) {
  return e.message();
}
CATCH_TRANSLATE_EXCEPTION(const tapegrad::index_error& e) {
  return e.message();
}
