#pragma once

#include <stdexcept>
#include <string>

namespace tapegrad {

/// Base of the exceptions tapegrad throws for a misuse, except index_error, which derives
/// from std::out_of_range as std::vector::at's does. Both derive from std::exception.
///   try { tape.gradient(y, x); } catch (const tapegrad::error& e) { std::cerr << e.what(); }
class error : public std::runtime_error {
 public:
  explicit error(const std::string& message) : std::runtime_error(message) {}
};

/// Shapes that do not fit an op: "matmul: inner dimensions differ: [2,3] x [4,5]".
class shape_error : public error {
 public:
  using error::error;
};

/// An element type an op cannot take (e.g. differentiating an integer tensor).
class dtype_error : public error {
 public:
  using error::error;
};

/// A bad argument value: an empty ("no gradient") tensor, a dropout rate above 1, ...
class value_error : public error {
 public:
  using error::error;
};

/// An axis, an index or a class label outside its range:
/// "gather: index 7 is out of range for axis 0 of size 5".
class index_error : public std::out_of_range {
 public:
  explicit index_error(const std::string& message) : std::out_of_range(message) {}
};

/// A misuse of a GradientTape: a second gradient() on a non-persistent tape, ...
class tape_error : public error {
 public:
  using error::error;
};

}  // namespace tapegrad
