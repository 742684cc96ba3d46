#pragma once

// A small command-line parser shared by the example programs: each program declares its
// options (bound to variables holding their defaults) and gets --help for free.

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace examples {

/// A command line the program cannot accept; the message is meant for the user.
///   try { cli.parse_args({"--epochs", "x"}); } catch (const examples::UsageError& e) { ... }
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Options declared by one program, bound to variables whose values are the defaults:
///   bool quick = false;  int epochs = 10;
///   examples::Cli cli("mlp", "Trains a small MLP on Fashion-MNIST.");
///   cli.flag("quick", quick, "a short run").option("epochs", epochs, "passes").at_least(1);
///   cli.parse(argc, argv);   // exits 0 after --help, 2 on a bad command line
/// Values are given as `--name value` or `--name=value`; a later repeat wins.
class Cli {
 public:
  /// What parse_args found: run the program, or the user asked for --help.
  enum class Result { run, help };

  /// `description` is the one line --help prints under the program's name.
  Cli(std::string program, std::string description)
      : program_(std::move(program)), description_(std::move(description)) {}
  // Options keep pointers into the parser and into the caller's variables.
  Cli(const Cli&) = delete;
  Cli& operator=(const Cli&) = delete;

  /// Declares a switch without a value (`--quick`); it sets `target` to true.
  Cli& flag(const std::string& name, bool& target, std::string help) {
    Option& o = add(name, std::move(help), "", "");
    o.is_flag = true;
    o.store = [&target](const std::string&) { target = true; };
    return *this;
  }

  /// Declares `--name VALUE` for an integer, floating-point or string `target`; its value now
  /// is the default that --help shows. `metavar` names the value in --help (N, X or VALUE
  /// by default).
  template <class T>
  Cli& option(const std::string& name, T& target, std::string help, std::string metavar = "") {
    static_assert(
        std::is_integral_v<T> || std::is_floating_point_v<T> || std::is_same_v<T, std::string>,
        "Cli::option: the target must be an integer, a floating-point number or a "
        "std::string");
    static_assert(!std::is_same_v<T, bool>, "Cli::option: use Cli::flag for a bool");
    if (metavar.empty())
      metavar = std::is_integral_v<T> ? "N" : std::is_floating_point_v<T> ? "X" : "VALUE";
    Option& o = add(name, std::move(help), std::move(metavar), default_text(target));
    Option* self = &o;  // a deque never moves its elements
    o.store = [self, &target](const std::string& text) { target = convert<T>(*self, text); };
    return *this;
  }

  /// The option declared last accepts only values >= lo.   .option(...).at_least(1)
  Cli& at_least(double lo) {
    last("at_least").lo = lo;
    return *this;
  }
  /// The option declared last accepts only values <= hi.
  Cli& at_most(double hi) {
    last("at_most").hi = hi;
    return *this;
  }
  /// The option declared last accepts only values > 0.
  Cli& positive() {
    last("positive").positive = true;
    return *this;
  }

  /// Parses the arguments after the program name. Throws UsageError for an unknown option,
  /// a missing or malformed value, a value out of range or a stray argument; an option is
  /// stored only when its value is valid.
  Result parse_args(const std::vector<std::string>& args) {
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string& arg = args[i];
      if (arg == "--help" || arg == "-h") return Result::help;
      if (arg.size() < 3 || arg.compare(0, 2, "--") != 0)
        throw UsageError("unexpected argument '" + arg + "'");
      const std::size_t eq = arg.find('=');
      const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      Option* o = find(name);
      if (!o) throw UsageError("unknown option '--" + name + "'");
      if (o->is_flag) {
        if (eq != std::string::npos) throw UsageError("--" + name + " takes no value");
        o->store("");
      } else if (eq != std::string::npos) {
        o->store(arg.substr(eq + 1));
      } else {
        if (i + 1 >= args.size())
          throw UsageError("--" + name + " needs a value (" + o->metavar + ")");
        o->store(args[++i]);
      }
      o->given = true;
    }
    return Result::run;
  }

  /// Parses argv: after --help prints usage() to stdout and exits with 0; on a bad command
  /// line prints the reason to stderr and exits with 2.
  void parse(int argc, const char* const* argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
      if (parse_args(args) == Result::help) {
        std::cout << usage();
        std::exit(0);
      }
    } catch (const UsageError& e) {
      std::cerr << program_ << ": " << e.what() << "\nRun '" << program_
                << " --help' to see the options.\n";
      std::exit(2);
    }
  }

  /// True when the user gave --name on the command line (to let --quick change only the
  /// defaults the user did not override).
  bool given(const std::string& name) const {
    for (const Option& o : options_)
      if (o.name == name) return o.given;
    throw std::logic_error("Cli::given: no option --" + name + " was declared");
  }

  /// The text --help prints: the description, then each option with its default.
  std::string usage() const {
    std::vector<std::string> heads{"--help"};
    for (const Option& o : options_)
      heads.push_back("--" + o.name + (o.is_flag ? "" : " " + o.metavar));
    std::size_t width = 0;
    for (const auto& h : heads) width = std::max(width, h.size());
    std::ostringstream out;
    out << program_ << ": " << description_ << "\n\nUsage: " << program_ << " [options]\n\n"
        << "Options:\n";
    auto line = [&](const std::string& head, const std::string& text) {
      out << "  " << head << std::string(width - head.size() + 3, ' ') << text << '\n';
    };
    line(heads[0], "print this help and exit");
    for (std::size_t i = 0; i < options_.size(); ++i) {
      const Option& o = options_[i];
      line(heads[i + 1],
           o.help + (o.default_text.empty() ? "" : " (default: " + o.default_text + ")"));
    }
    return out.str();
  }

 private:
  struct Option {
    std::string name, help, metavar, default_text;
    bool is_flag = false;
    bool given = false;
    bool positive = false;
    double lo = -std::numeric_limits<double>::infinity();
    double hi = std::numeric_limits<double>::infinity();
    std::function<void(const std::string&)> store;
  };

  Option& add(const std::string& name, std::string help, std::string metavar,
              std::string default_text) {
    if (name.empty() || name.compare(0, 1, "-") == 0 || name == "help" || find(name))
      throw std::logic_error("Cli: bad or repeated option name '" + name + "'");
    Option& o = options_.emplace_back();
    o.name = name;
    o.help = std::move(help);
    o.metavar = std::move(metavar);
    o.default_text = std::move(default_text);
    return o;
  }
  Option* find(const std::string& name) {
    for (Option& o : options_)
      if (o.name == name) return &o;
    return nullptr;
  }
  Option& last(const char* what) {
    if (options_.empty() || options_.back().is_flag)
      throw std::logic_error(std::string("Cli::") + what +
                             ": declare an option with a value first");
    return options_.back();
  }

  template <class T>
  static std::string default_text(const T& value) {
    if constexpr (std::is_same_v<T, std::string>) {
      return value;
    } else {
      std::ostringstream out;
      out << +value;  // + prints a char-sized integer as a number
      return out.str();
    }
  }

  /// `text` as a T, or a UsageError naming the option.
  template <class T>
  static T convert(const Option& o, const std::string& text) {
    if constexpr (std::is_same_v<T, std::string>) {
      return text;
    } else {
      const std::string what = "--" + o.name + ": ";
      const char* kind = std::is_integral_v<T> ? "an integer" : "a number";
      if (text.empty() || std::isspace(static_cast<unsigned char>(text[0])))
        throw UsageError(what + "expected " + kind + ", got '" + text + "'");
      // strtoull would quietly wrap "-1" around to the largest value.
      if (std::is_unsigned_v<T> && text.find('-') != std::string::npos)
        throw UsageError(what + "expected a non-negative integer, got '" + text + "'");
      char* end = nullptr;
      errno = 0;
      T value{};
      double as_double = 0;
      if constexpr (std::is_integral_v<T>) {
        if constexpr (std::is_unsigned_v<T>) {
          const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
          if (errno == 0 && v > std::numeric_limits<T>::max()) errno = ERANGE;
          value = static_cast<T>(v);
        } else {
          const long long v = std::strtoll(text.c_str(), &end, 10);
          if (errno == 0 &&
              (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()))
            errno = ERANGE;
          value = static_cast<T>(v);
        }
        as_double = static_cast<double>(value);
      } else {
        as_double = std::strtod(text.c_str(), &end);
        value = static_cast<T>(as_double);
        if (*end == '\0' && !std::isfinite(as_double))
          throw UsageError(what + "expected a finite number, got '" + text + "'");
        if (errno == 0 && !std::isfinite(value)) errno = ERANGE;  // finite, but not as a float
      }
      if (*end != '\0') throw UsageError(what + "expected " + kind + ", got '" + text + "'");
      if (errno == ERANGE) throw UsageError(what + "'" + text + "' is out of range");
      if (o.positive && !(as_double > 0)) throw UsageError(what + "must be positive, got " + text);
      if (as_double < o.lo)
        throw UsageError(what + "must be at least " + num(o.lo) + ", got " + text);
      if (as_double > o.hi)
        throw UsageError(what + "must be at most " + num(o.hi) + ", got " + text);
      return value;
    }
  }
  static std::string num(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
  }

  std::string program_, description_;
  std::deque<Option> options_;
};

}  // namespace examples
