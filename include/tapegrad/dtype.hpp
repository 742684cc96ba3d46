#pragma once

#include <cstdint>
#include <type_traits>

namespace tapegrad {

/// The element type of a tensor, named as TensorFlow names it.
enum class DType : std::uint8_t { float32, float64, int32, int64, boolean };

/// "float32", "float64", "int32", "int64", "bool".
constexpr const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::float32:
      return "float32";
    case DType::float64:
      return "float64";
    case DType::int32:
      return "int32";
    case DType::int64:
      return "int64";
    case DType::boolean:
      return "bool";
  }
  return "unknown";
}

constexpr bool is_floating(DType dtype) {
  return dtype == DType::float32 || dtype == DType::float64;
}

template <class T>
inline constexpr bool is_supported_element_v =
    std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, std::int32_t> ||
    std::is_same_v<T, std::int64_t> || std::is_same_v<T, bool>;

/// Element types that can be differentiated: float and double.
template <class T>
inline constexpr bool is_differentiable_v = std::is_same_v<T, float> || std::is_same_v<T, double>;

template <class T>
constexpr DType dtype_of() {
  static_assert(is_supported_element_v<T>,
                "tapegrad: Tensor<T> holds float, double, std::int32_t, std::int64_t or bool");
  if constexpr (std::is_same_v<T, float>)
    return DType::float32;
  else if constexpr (std::is_same_v<T, double>)
    return DType::float64;
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return DType::int32;
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return DType::int64;
  else
    return DType::boolean;
}

constexpr std::size_t dtype_size(DType dtype) {
  if (dtype == DType::boolean) return 1;
  return dtype == DType::float32 || dtype == DType::int32 ? 4 : 8;
}

}  // namespace tapegrad
