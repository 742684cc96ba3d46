#pragma once

#include <stdexcept>
#include <string>

namespace tapegrad {

/// Base of every exception tapegrad throws for a misuse; catch it to handle them all.
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

/// A bad argument value: an axis out of range, an empty ("no gradient") tensor, ...
class value_error : public error {
 public:
  using error::error;
};

/// A misuse of a GradientTape: a second gradient() on a non-persistent tape, ...
class tape_error : public error {
 public:
  using error::error;
};

}  // namespace tapegrad
