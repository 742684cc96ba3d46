#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "tapegrad/tensor.hpp"
#include "tapegrad/variable.hpp"

namespace tapegrad {
namespace detail {

// NOTE [ Printing like TensorFlow ]
// TensorFlow prints a tensor as NumPy's str() of its value inside "tf.Tensor(...)". We follow
// NumPy's defaults: at most 8 fractional digits but no more than it takes to tell the value
// apart from its neighbours in T, trailing zeros dropped ("4.", "0.5"), elements padded to one
// width, scientific notation when the non-zero magnitudes reach 1e8, fall below 1e-4 or span
// more than three decades, lines wrapped at 75 columns, and arrays above 1000 elements
// summarised with "..." around their first and last 3 entries per axis.
constexpr int print_precision = 8;
constexpr int print_line_width = 75;
constexpr std::int64_t print_threshold = 1000;
constexpr std::int64_t print_edge_items = 3;

template <class T>
std::string chars(T value, std::chars_format format, int precision = -1) {
  char buf[128];
  auto result = precision < 0 ? std::to_chars(buf, buf + sizeof buf, value, format)
                              : std::to_chars(buf, buf + sizeof buf, value, format, precision);
  return std::string(buf, result.ptr);
}

/// Shortest digits that round-trip in T, rounded to at most `precision` fractional digits,
/// trailing zeros dropped; `scientific` splits off the exponent ("1.5", "e+10").
template <class T>
void shortest_digits(T value, bool scientific, int precision, std::string& mantissa,
                     std::string& exponent) {
  const auto format = scientific ? std::chars_format::scientific : std::chars_format::fixed;
  std::string s = chars(value, format);
  auto split = [&] {
    const auto e = s.find('e');
    mantissa = e == std::string::npos ? s : s.substr(0, e);
    exponent = e == std::string::npos ? "" : s.substr(e);
    if (mantissa.find('.') == std::string::npos) mantissa += '.';
  };
  split();
  if (mantissa.size() - mantissa.find('.') - 1 > static_cast<std::size_t>(precision)) {
    s = chars(value, format, precision);
    split();
    while (mantissa.back() == '0') mantissa.pop_back();
  }
}

struct FloatLayout {
  int precision = print_precision;
  bool scientific = false;
  std::size_t pad_left = 0, pad_right = 0, exp_digits = 0;
};

template <class T>
FloatLayout float_layout(const std::vector<T>& values, int precision) {
  FloatLayout layout;
  layout.precision = precision;
  T max_abs = 0, min_abs = 0;
  bool any_finite = false, any_non_finite = false, negative_inf = false;
  for (T v : values) {
    if (!std::isfinite(v)) {
      any_non_finite = true;
      negative_inf = negative_inf || (std::isinf(v) && v < 0);
      continue;
    }
    any_finite = true;
    const T a = std::abs(v);
    if (a == 0) continue;
    if (max_abs == 0 || a > max_abs) max_abs = a;
    if (min_abs == 0 || a < min_abs) min_abs = a;
  }
  if (max_abs != 0)
    layout.scientific = max_abs >= T(1e8) || min_abs < T(1e-4) || max_abs / min_abs > T(1000);
  if (any_finite) {
    std::string mantissa, exponent;
    for (T v : values) {
      if (!std::isfinite(v)) continue;
      shortest_digits(v, layout.scientific, precision, mantissa, exponent);
      const std::size_t dot = mantissa.find('.');
      layout.pad_left = std::max(layout.pad_left, dot);
      layout.pad_right = std::max(layout.pad_right, mantissa.size() - dot - 1);
      if (layout.scientific) layout.exp_digits = std::max(layout.exp_digits, exponent.size() - 2);
    }
  }
  if (any_non_finite) {
    const std::size_t offset =
        layout.pad_right + 1 + (layout.scientific ? layout.exp_digits + 2 : 0);
    const std::size_t inf_len = 3 + (negative_inf ? 1 : 0);
    if (inf_len > offset) layout.pad_left = std::max(layout.pad_left, inf_len - offset);
    if (3 > offset) layout.pad_left = std::max(layout.pad_left, 3 - offset);
  }
  return layout;
}

template <class T>
std::string format_float(T v, const FloatLayout& layout) {
  const std::size_t width =
      layout.pad_left + 1 + layout.pad_right + (layout.scientific ? layout.exp_digits + 2 : 0);
  if (!std::isfinite(v)) {
    const std::string s = std::isnan(v) ? "nan" : (v < 0 ? "-inf" : "inf");
    return std::string(width > s.size() ? width - s.size() : 0, ' ') + s;
  }
  std::string mantissa, exponent;
  shortest_digits(v, layout.scientific, layout.precision, mantissa, exponent);
  const std::size_t dot = mantissa.find('.');
  std::string out(layout.pad_left > dot ? layout.pad_left - dot : 0, ' ');
  out += mantissa;
  const std::size_t frac = mantissa.size() - dot - 1;
  if (layout.scientific) {
    out.append(layout.pad_right - frac, '0');
    std::string digits = exponent.substr(2);
    if (digits.size() < layout.exp_digits) digits.insert(0, layout.exp_digits - digits.size(), '0');
    out += exponent.substr(0, 2) + digits;
  } else {
    out.append(layout.pad_right - frac, ' ');
  }
  return out;
}

/// NumPy's str() of a scalar: "12.0", "0.1", "1e-05"; with a precision of p >= 0, rounded to
/// at most p fractional digits ("3.1416" for pi at 4).
template <class T>
std::string format_scalar(T v, int precision = -1) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "True" : "False";
  } else if constexpr (std::is_integral_v<T>) {
    return std::to_string(v);
  } else {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
    const T a = std::abs(v);
    const bool scientific = a != 0 && (a < T(1e-4) || a >= T(1e16));
    if (precision >= 0) {
      std::string mantissa, exponent;
      shortest_digits(v, scientific, precision, mantissa, exponent);
      if (mantissa.back() == '.') mantissa += '0';
      return mantissa + exponent;
    }
    if (scientific) return chars(v, std::chars_format::scientific);
    std::string s = chars(v, std::chars_format::fixed);
    if (s.find('.') == std::string::npos) s += ".0";
    return s;
  }
}

template <class T>
class ArrayPrinter {
 public:
  ArrayPrinter(const Tensor<T>& t, int precision) : t_(t), shape_(t.shape()) {
    summarise_ = t.size() > print_threshold;
    std::vector<T> shown;
    collect(0, 0, shown);
    if constexpr (std::is_floating_point_v<T>) {
      layout_ = float_layout(shown, precision);
    } else if constexpr (std::is_same_v<T, bool>) {
      int_width_ = 5;  // NumPy right-aligns True and False in five columns: [ True False]
    } else {
      for (T v : shown) int_width_ = std::max(int_width_, std::to_string(v).size());
    }
  }

  std::string str() {
    std::string out;
    print(0, 0, std::string(), out);
    return out;
  }

 private:
  std::int64_t stride(int axis) const {
    std::int64_t s = 1;
    for (int i = axis + 1; i < shape_.rank(); ++i) s *= shape_[i];
    return s;
  }
  bool elided(int axis) const { return summarise_ && shape_[axis] > 2 * print_edge_items; }
  template <class F>
  void for_shown(int axis, F f) const {
    const std::int64_t n = shape_[axis];
    for (std::int64_t i = 0; i < n; ++i) {
      if (elided(axis) && i == print_edge_items) {
        f(-1);
        i = n - print_edge_items - 1;
        continue;
      }
      f(i);
    }
  }
  void collect(int axis, std::int64_t offset, std::vector<T>& out) const {
    if (axis == shape_.rank()) {
      out.push_back(t_.data()[offset]);
      return;
    }
    for_shown(axis, [&](std::int64_t i) {
      if (i >= 0) collect(axis + 1, offset + i * stride(axis), out);
    });
  }
  std::string element(T v) const {
    if constexpr (std::is_floating_point_v<T>) {
      return format_float(v, layout_);
    } else {
      std::string s = format_scalar(v);
      return std::string(int_width_ - s.size(), ' ') + s;
    }
  }
  void print(int axis, std::int64_t offset, const std::string& indent, std::string& out) const {
    const int rank = shape_.rank();
    out += '[';
    if (axis == rank - 1) {
      // Innermost axis: words separated by spaces, wrapped at the line width.
      std::size_t line_start = out.rfind('\n');
      line_start = line_start == std::string::npos ? 0 : line_start + 1;
      // NumPy wraps before a word when the line, its separator and the word would pass the
      // width less one column per open bracket.
      const std::size_t limit = static_cast<std::size_t>(print_line_width - rank);
      bool first = true;
      for_shown(axis, [&](std::int64_t i) {
        const std::string word = i < 0 ? "..." : element(t_.data()[offset + i]);
        const std::size_t column = out.size() - line_start + (first ? 0 : 1);
        if (!first && column + word.size() > limit) {
          out += '\n';
          line_start = out.size();
          out += indent + ' ';
        } else if (!first) {
          out += ' ';
        }
        out += word;
        first = false;
      });
    } else {
      bool first = true;
      const std::string blank_lines(static_cast<std::size_t>(rank - axis - 1), '\n');
      for_shown(axis, [&](std::int64_t i) {
        if (!first) out += blank_lines + indent + ' ';
        first = false;
        if (i < 0) {
          out += "...";
          return;
        }
        print(axis + 1, offset + i * stride(axis), indent + ' ', out);
      });
    }
    out += ']';
  }

  const Tensor<T>& t_;
  Shape shape_;
  bool summarise_ = false;
  FloatLayout layout_;
  std::size_t int_width_ = 0;
};

}  // namespace detail

/// NumPy's text for the values alone: "[4. 6.]", "12.0", "[[1. 2.]\n [3. 4.]]". A precision
/// p >= 0 rounds to at most p fractional digits; -1 is NumPy's default (8 in an array, as many
/// as a scalar needs).   auto text = tapegrad::to_string(x, 3);
template <class T>
std::string to_string(const Tensor<T>& t, int precision = -1) {
  if (!t.has_value()) return "None";
  if (t.rank() == 0) return detail::format_scalar(t.data()[0], precision);
  // Any tensor without elements prints as "[]", as NumPy's and TensorFlow's do (and without
  // walking the other dimensions, which may be huge).
  if (t.size() == 0) return "[]";
  return detail::ArrayPrinter<T>(t, precision < 0 ? detail::print_precision : precision).str();
}

namespace detail {
/// The precision to print with on `os`: the stream's, once set (std::setprecision(3)); its
/// default of 6, which cannot be told apart from an explicit 6, means NumPy's default.
inline int stream_precision(const std::ostream& os) {
  const auto p = os.precision();
  return p == 6 ? -1 : static_cast<int>(std::min<std::streamsize>(p, 17));
}
inline std::string shape_tuple(const Shape& s) {
  std::ostringstream out;
  out << '(';
  for (int i = 0; i < s.rank(); ++i) out << (i ? ", " : "") << s[i];
  if (s.rank() == 1) out << ',';
  out << ')';
  return out.str();
}
}  // namespace detail

/// Prints like TensorFlow: Tensor([4. 6.], shape=(2,), dtype=float32); "None" for no value.
/// Honours the stream's precision once set: std::cout << std::setprecision(3) << x.
///   std::cout << tape.gradient(y, x) << '\n';
template <class T>
std::ostream& operator<<(std::ostream& os, const Tensor<T>& t) {
  if (!t.has_value()) return os << "None";
  std::string text = to_string(t, detail::stream_precision(os));
  if (text.find('\n') != std::string::npos) text.insert(0, "\n");
  return os << "Tensor(" << text << ", shape=" << detail::shape_tuple(t.shape())
            << ", dtype=" << dtype_name(t.dtype()) << ')';
}

/// Prints the variable's name (if any) and current value, without any tape watching it:
/// Variable('w', [1. 2.], shape=(2,), dtype=float32).   std::cout << w << '\n';
template <class T>
std::ostream& operator<<(std::ostream& os, const Variable<T>& v) {
  const Tensor<T> value = v.snapshot();
  std::string text = to_string(value, detail::stream_precision(os));
  if (text.find('\n') != std::string::npos) text.insert(0, "\n");
  os << "Variable(";
  if (!v.name().empty()) os << '\'' << v.name() << "', ";
  return os << text << ", shape=" << detail::shape_tuple(value.shape())
            << ", dtype=" << dtype_name(value.dtype()) << ')';
}

/// Prints a shape as tapegrad's messages show it: [2,3].   std::cout << x.shape();
inline std::ostream& operator<<(std::ostream& os, const Shape& s) {
  return os << s.str();
}

/// Prints an element type by its TensorFlow name: float32.   std::cout << x.dtype();
inline std::ostream& operator<<(std::ostream& os, DType d) {
  return os << dtype_name(d);
}

}  // namespace tapegrad
