#pragma once

// Progress output for the training examples: a live progress bar on a terminal, plain lines
// in logs and ctest output, learning curves as CSV and, when gnuplot is installed, as a PNG.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace examples {

/// The measurements of one epoch, one row of a learning curve. NaN marks what was not
/// measured: accuracy for a regression, test metrics without a test set.
struct EpochStats {
  int epoch = 0;  // from 1
  double train_loss = std::numeric_limits<double>::quiet_NaN();
  double train_acc = std::numeric_limits<double>::quiet_NaN();  // a fraction in [0, 1]
  double test_loss = std::numeric_limits<double>::quiet_NaN();
  double test_acc = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0;  // wall-clock time of the epoch, its evaluation included
};

/// How ProgressReporter draws: a bar redrawn in place, plain lines, or the bar exactly when
/// it writes to std::cout and stdout is a terminal.
enum class ProgressStyle { automatic, bar, lines };

/// True when standard output is a terminal (not a file, a pipe or ctest).
inline bool stdout_is_terminal() {
  return ::isatty(STDOUT_FILENO) == 1;
}

namespace detail {

/// Seconds as "m:ss", or "h:mm:ss" from an hour on.
inline std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

inline std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

inline std::string percent(double fraction) {
  return fixed(100 * fraction, 2) + "%";
}

}  // namespace detail

/// Reports training progress, one epoch after another:
///   examples::ProgressReporter progress(epochs, batches_per_epoch);
///   for (int e = 0; e < epochs; ++e) {
///     progress.begin_epoch();
///     for (...) progress.batch_done(batch_size, batch_loss, batch_correct);
///     progress.end_epoch(test_loss, test_acc);
///   }
///   progress.finish();
/// On a terminal a one-line bar is redrawn with '\r' (epoch, batch i/n, running loss and
/// accuracy, samples/s, time left); otherwise it prints one line per epoch, and one every
/// `line_percent` percent of an epoch if that is above 0, so logs stay readable.
class ProgressReporter {
 public:
  using Clock = std::chrono::steady_clock;

  ProgressReporter(int epochs, std::int64_t batches_per_epoch,
                   ProgressStyle style = ProgressStyle::automatic, std::ostream& out = std::cout,
                   int line_percent = 0)
      : epochs_(epochs),
        batches_(batches_per_epoch),
        bar_(style == ProgressStyle::bar ||
             (style == ProgressStyle::automatic && &out == &std::cout && stdout_is_terminal())),
        line_percent_(line_percent),
        out_(out),
        start_(Clock::now()) {
    if (epochs < 1 || batches_per_epoch < 1)
      throw std::invalid_argument("ProgressReporter: needs at least one epoch and one batch");
  }

  /// True when it redraws a bar, false when it prints lines.
  bool draws_bar() const { return bar_; }

  /// Starts the next epoch (the first call starts epoch 1).
  void begin_epoch() {
    ++epoch_;
    batch_ = samples_ = 0;
    loss_sum_ = 0;
    correct_ = 0;
    has_accuracy_ = false;
    epoch_start_ = last_draw_ = Clock::now();
    next_line_ = 1;
  }

  /// Records a finished batch of `samples` examples with mean loss `loss` and `correct`
  /// right answers (negative when accuracy means nothing, as for a regression).
  void batch_done(std::int64_t samples, double loss, std::int64_t correct = -1) {
    ++batch_;
    ++batches_done_;
    samples_ += samples;
    total_samples_ += samples;
    loss_sum_ += loss * static_cast<double>(samples);
    if (correct >= 0) {
      correct_ += correct;
      has_accuracy_ = true;
    }
    const auto now = Clock::now();
    if (bar_) {
      // Redrawing every batch would cost more than a small batch's training step.
      if (now - last_draw_ >= std::chrono::milliseconds(100) || batch_ == batches_) {
        last_draw_ = now;
        out_ << '\r' << status(now, true) << "\033[K" << std::flush;
      }
    } else if (line_percent_ > 0 && batch_ < batches_ &&
               batch_ * 100 >= next_line_ * line_percent_ * batches_) {
      while (batch_ * 100 >= next_line_ * line_percent_ * batches_) ++next_line_;
      out_ << status(now, false) << '\n' << std::flush;
    }
  }

  /// The mean loss of this epoch so far, weighted by batch size.
  double running_loss() const { return samples_ ? loss_sum_ / static_cast<double>(samples_) : 0; }
  /// The accuracy of this epoch so far; NaN when no batch reported correct answers.
  double running_accuracy() const {
    return has_accuracy_ && samples_ ? static_cast<double>(correct_) / static_cast<double>(samples_)
                                     : std::numeric_limits<double>::quiet_NaN();
  }

  /// Ends the epoch, prints its line and returns its row of the learning curve (train
  /// metrics from the batches, test metrics as given).
  const EpochStats& end_epoch(double test_loss = std::numeric_limits<double>::quiet_NaN(),
                              double test_acc = std::numeric_limits<double>::quiet_NaN()) {
    const std::chrono::duration<double> took = Clock::now() - epoch_start_;
    EpochStats s;
    s.epoch = epoch_;
    s.train_loss = running_loss();
    s.train_acc = running_accuracy();
    s.test_loss = test_loss;
    s.test_acc = test_acc;
    s.seconds = took.count();
    history_.push_back(s);
    std::ostringstream line;
    line << "epoch " << epoch_ << '/' << epochs_ << ": train loss "
         << detail::fixed(s.train_loss, 4);
    if (!std::isnan(s.train_acc)) line << ", acc " << detail::percent(s.train_acc);
    if (!std::isnan(test_loss) || !std::isnan(test_acc)) {
      line << " | test";
      if (!std::isnan(test_loss)) line << " loss " << detail::fixed(test_loss, 4);
      if (!std::isnan(test_loss) && !std::isnan(test_acc)) line << ',';
      if (!std::isnan(test_acc)) line << " acc " << detail::percent(test_acc);
    }
    line << " | " << detail::fixed(s.seconds, 1) << " s, "
         << detail::fixed(static_cast<double>(samples_) / std::max(s.seconds, 1e-9), 0)
         << " samples/s";
    out_ << (bar_ ? "\r" : "") << line.str() << (bar_ ? "\033[K\n" : "\n") << std::flush;
    return history_.back();
  }

  /// Prints the summary: epochs, time, final metrics and the best test accuracy.
  void finish() {
    const std::chrono::duration<double> took = Clock::now() - start_;
    out_ << "trained " << history_.size() << " epoch" << (history_.size() == 1 ? "" : "s") << " in "
         << detail::fixed(took.count(), 1) << " s ("
         << detail::fixed(static_cast<double>(total_samples_) / std::max(took.count(), 1e-9), 0)
         << " samples/s)";
    if (!history_.empty()) {
      const EpochStats& last = history_.back();
      out_ << "; final train loss " << detail::fixed(last.train_loss, 4);
      if (!std::isnan(last.train_acc)) out_ << ", acc " << detail::percent(last.train_acc);
      if (!std::isnan(last.test_loss)) out_ << "; test loss " << detail::fixed(last.test_loss, 4);
      if (!std::isnan(last.test_acc)) {
        out_ << ", acc " << detail::percent(last.test_acc);
        const auto best = std::max_element(
            history_.begin(), history_.end(), [](const EpochStats& a, const EpochStats& b) {
              return a.test_acc < b.test_acc;  // NaN compares false: never the best
            });
        out_ << "; best test acc " << detail::percent(best->test_acc) << " at epoch "
             << best->epoch;
      }
    }
    out_ << '\n' << std::flush;
  }

  /// The rows of the epochs ended so far.
  const std::vector<EpochStats>& history() const { return history_; }

 private:
  /// "epoch 2/5 [=====>    ] 120/469 loss 0.4321 acc 84.10% 5321 samples/s 1:02 left"
  std::string status(Clock::time_point now, bool with_bar) const {
    std::ostringstream s;
    s << "epoch " << epoch_ << '/' << epochs_;
    if (with_bar) {
      constexpr int width = 24;
      const auto filled = static_cast<int>(width * batch_ / batches_);
      s << " [" << std::string(static_cast<std::size_t>(filled), '=') << (filled < width ? ">" : "")
        << std::string(static_cast<std::size_t>(std::max(0, width - filled - 1)), ' ') << "] ";
    } else {
      s << " batch ";
    }
    s << batch_ << '/' << batches_ << (with_bar ? " " : ": ") << "loss "
      << detail::fixed(running_loss(), 4);
    if (has_accuracy_) s << (with_bar ? " acc " : ", acc ") << detail::percent(running_accuracy());
    const std::chrono::duration<double> epoch_time = now - epoch_start_;
    const std::chrono::duration<double> all_time = now - start_;
    s << (with_bar ? " " : ", ")
      << detail::fixed(static_cast<double>(samples_) / std::max(epoch_time.count(), 1e-9), 0)
      << " samples/s";
    // Time per batch so far, evaluation included, times the batches still to come.
    const std::int64_t remaining = static_cast<std::int64_t>(epochs_) * batches_ - batches_done_;
    s << (with_bar ? " " : ", ")
      << detail::clock_text(all_time.count() / static_cast<double>(batches_done_) *
                            static_cast<double>(remaining))
      << " left";
    return s.str();
  }

  int epochs_;
  std::int64_t batches_;
  bool bar_;
  int line_percent_;
  std::ostream& out_;
  Clock::time_point start_, epoch_start_, last_draw_;
  int epoch_ = 0;
  std::int64_t batch_ = 0, samples_ = 0, correct_ = 0, batches_done_ = 0, total_samples_ = 0;
  std::int64_t next_line_ = 1;
  double loss_sum_ = 0;
  bool has_accuracy_ = false;
  std::vector<EpochStats> history_;
};

/// The CSV header of a learning curve: epoch,train_loss,train_acc,test_loss,test_acc,seconds
inline void write_csv_header(std::ostream& out) {
  out << "epoch,train_loss,train_acc,test_loss,test_acc,seconds\n";
}

/// One CSV row; a value not measured (NaN) is an empty field.
inline void write_csv_row(std::ostream& out, const EpochStats& s) {
  auto field = [&](double v) {
    out << ',';
    if (std::isnan(v)) return;
    // The fewest digits that read back as the same double: runs compare bit for bit.
    char buf[32];
    for (int digits = 9; digits <= 17; ++digits) {
      std::snprintf(buf, sizeof buf, "%.*g", digits, v);
      if (std::strtod(buf, nullptr) == v) break;
    }
    out << buf;
  };
  out << s.epoch;
  field(s.train_loss);
  field(s.train_acc);
  field(s.test_loss);
  field(s.test_acc);
  out << ',' << detail::fixed(s.seconds, 3) << '\n';
}

/// Writes a learning curve (header and one row per epoch) to `path`, creating its parent
/// directory; throws std::runtime_error naming the file if it cannot.
///   examples::write_learning_curves_csv(out_dir + "/curves.csv", progress.history());
inline void write_learning_curves_csv(const std::string& path,
                                      const std::vector<EpochStats>& history) {
  const std::filesystem::path p(path);
  std::error_code ec;
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write " + path);
  write_csv_header(out);
  for (const EpochStats& s : history) write_csv_row(out, s);
  out.flush();
  if (!out) throw std::runtime_error("error while writing " + path);
}

/// The full path of `program` if an executable of that name is on PATH, else "".
inline std::string find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0 && !std::filesystem::is_directory(candidate))
      return candidate;
  }
  return "";
}

namespace detail {

/// A string literal for gnuplot: single quotes, each ' inside doubled.
inline std::string gnuplot_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

/// Which of a learning-curve CSV's six columns hold at least one value.
inline std::vector<bool> csv_columns_with_data(const std::string& csv) {
  std::vector<bool> has(6, false);
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string field;
    for (std::size_t i = 0; i < has.size() && std::getline(fields, field, ','); ++i)
      if (!field.empty()) has[i] = true;
  }
  return has;
}

}  // namespace detail

/// Feeds `script` to gnuplot, which is to write the plot `png`; says on `log` what became
/// of it and returns whether the plot exists.
///   examples::run_gnuplot("set terminal png\nset output 'a.png'\nplot x\n", "a.png");
inline bool run_gnuplot(const std::string& script, const std::string& png,
                        std::ostream& log = std::cout) {
  std::error_code ec;
  std::filesystem::remove(png, ec);  // so a stale plot is not mistaken for a new one
  std::FILE* gnuplot = ::popen("gnuplot", "w");
  if (!gnuplot) {
    log << "could not start gnuplot; skipped the plot " << png << '\n';
    return false;
  }
  std::fwrite(script.data(), 1, script.size(), gnuplot);
  const int status = ::pclose(gnuplot);
  if (status != 0 || !std::filesystem::exists(png, ec)) {
    log << "gnuplot failed (status " << status << "); skipped the plot " << png << '\n';
    return false;
  }
  log << "wrote " << png << '\n';
  return true;
}

/// Plots a learning-curve CSV (see write_learning_curves_csv) to a PNG: loss by epoch and,
/// when there are accuracies, accuracy by epoch beside it. Needs `gnuplot` on PATH; without
/// it, or if gnuplot fails, says so on `log` and returns false.
///   examples::plot_learning_curves(out_dir + "/curves.csv", out_dir + "/curves.png");
inline bool plot_learning_curves(const std::string& csv, const std::string& png,
                                 std::ostream& log = std::cout) {
  if (find_on_path("gnuplot").empty()) {
    log << "gnuplot is not on PATH; skipped the plot " << png << " (the data is in " << csv
        << ")\n";
    return false;
  }
  const std::vector<bool> has = detail::csv_columns_with_data(csv);
  if (!has[1] && !has[3]) {
    log << csv << " holds no losses; skipped the plot " << png << '\n';
    return false;
  }
  const bool accuracy = has[2] || has[4];
  const std::string data = detail::gnuplot_quote(csv);
  std::ostringstream script;
  script << "set datafile separator ','\n"
            "set key autotitle columnhead\n"  // the first row is the header
            "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
            "  set terminal pngcairo size "
         << (accuracy ? "1100,450" : "600,450")
         << " font ',10'\n"
            "} else {\n"
            "  set terminal png size "
         << (accuracy ? "1100,450" : "600,450")
         << "\n"
            "}\n"
            "set output "
         << detail::gnuplot_quote(png) << "\n"
         << "set grid\nset xlabel 'epoch'\n";
  // Losses fall and accuracies rise, so each key goes where its curves leave room.
  auto plot = [&](int train_col, int test_col, const char* ylabel, const char* key_place) {
    script << "set key " << key_place << "\nset ylabel '" << ylabel << "'\nplot ";
    const char* sep = "";
    if (has[static_cast<std::size_t>(train_col - 1)]) {
      script << data << " using 1:" << train_col << " with linespoints title 'train'";
      sep = ", ";
    }
    if (has[static_cast<std::size_t>(test_col - 1)])
      script << sep << data << " using 1:" << test_col << " with linespoints title 'test'";
    script << '\n';
  };
  if (accuracy) script << "set multiplot layout 1,2\n";
  plot(2, 4, "loss", "top right");
  if (accuracy) {
    plot(3, 5, "accuracy", "bottom right");
    script << "unset multiplot\n";
  }
  return run_gnuplot(script.str(), png, log);
}

}  // namespace examples
