// REINFORCE with a learned baseline on CartPole: a small MLP policy pushes the cart left or
// right, a second MLP estimates the return from each state, and the policy follows the
// gradient of log pi(a|s) times the advantage (return minus baseline), every gradient from a
// GradientTape. The cart-pole dynamics are those of OpenAI Gym's CartPole-v1 (Barto, Sutton
// and Anderson 1983), written out below so the example needs nothing else. "Solved" means an
// average return of at least 475 over the last 100 episodes.
#include <tapegrad/tapegrad.hpp>
#include <tapegrad/train/layers.hpp>
#include <tapegrad/train/optimizers.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/progress.hpp"

namespace tg = tapegrad;

namespace {

/// CartPole-v1: state (x, x_dot, theta, theta_dot), action 0 pushes left, 1 right; reward 1
/// per step survived; the episode ends when the pole leans more than 12 degrees or the cart
/// leaves [-2.4, 2.4], or is cut off after 500 steps.
class CartPole {
 public:
  static constexpr int max_steps = 500;

  explicit CartPole(tg::Generator& gen) : gen_(gen) {}

  /// Starts an episode: every state variable uniform in [-0.05, 0.05], as Gym does.
  const std::array<double, 4>& reset() {
    for (double& v : state_) v = -0.05 + 0.1 * gen_.uniform();
    steps_ = 0;
    return state_;
  }

  /// Applies `action` for tau seconds (explicit Euler, Gym's default). Returns true when the
  /// episode is over, failed or cut off.
  bool step(int action) {
    constexpr double gravity = 9.8, masscart = 1.0, masspole = 0.1, length = 0.5;  // half-length
    constexpr double total_mass = masscart + masspole, polemass_length = masspole * length;
    constexpr double force_mag = 10.0, tau = 0.02;
    constexpr double theta_limit = 12 * 2 * 3.14159265358979323846 / 360, x_limit = 2.4;
    auto& [x, x_dot, theta, theta_dot] = state_;
    const double force = action == 1 ? force_mag : -force_mag;
    const double cos_t = std::cos(theta), sin_t = std::sin(theta);
    const double temp = (force + polemass_length * theta_dot * theta_dot * sin_t) / total_mass;
    const double theta_acc = (gravity * sin_t - cos_t * temp) /
                             (length * (4.0 / 3.0 - masspole * cos_t * cos_t / total_mass));
    const double x_acc = temp - polemass_length * theta_acc * cos_t / total_mass;
    x += tau * x_dot;
    x_dot += tau * x_acc;
    theta += tau * theta_dot;
    theta_dot += tau * theta_acc;
    ++steps_;
    const bool failed = x < -x_limit || x > x_limit || theta < -theta_limit || theta > theta_limit;
    return failed || steps_ >= max_steps;
  }

  const std::array<double, 4>& state() const { return state_; }

 private:
  tg::Generator& gen_;
  std::array<double, 4> state_{};
  int steps_ = 0;
};

/// One episode: the states seen, the actions taken and the length (= the return, since each
/// step earns 1).
struct Episode {
  std::vector<std::array<float, 4>> states;
  std::vector<std::int32_t> actions;
};

/// States [n, 4] as a tensor.
tg::Tensor<float> states_tensor(const std::vector<std::array<float, 4>>& states) {
  tg::Tensor<float> x(tg::Shape{static_cast<std::int64_t>(states.size()), 4}, 0.0f);
  float* p = x.mutable_data();
  for (const auto& s : states) p = std::copy(s.begin(), s.end(), p);
  return x;
}

/// Writes the learning curve (one row per episode) and, with gnuplot, a plot of it.
void write_curves(const std::string& out_dir, const std::vector<int>& returns,
                  const std::vector<double>& averages) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  const std::string csv = out_dir + "/curves.csv", png = out_dir + "/curves.png";
  std::ofstream out(csv);
  out << "episode,return,mean_return_last_100\n";
  for (std::size_t i = 0; i < returns.size(); ++i)
    out << i + 1 << ',' << returns[i] << ',' << examples::detail::fixed(averages[i], 2) << '\n';
  out.close();
  if (!out) {
    std::cerr << "cartpole_reinforce: cannot write " << csv << '\n';
    return;
  }
  std::cout << "wrote " << csv << '\n';
  if (examples::find_on_path("gnuplot").empty()) {
    std::cout << "gnuplot is not on PATH; skipped the plot " << png << '\n';
    return;
  }
  std::ostringstream script;
  const std::string data = examples::detail::gnuplot_quote(csv);
  script << "set datafile separator ','\nset key autotitle columnhead\n"
            "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 800,450 "
            "} else { set terminal png size 800,450 }\n"
         << "set output " << examples::detail::gnuplot_quote(png) << '\n'
         << "set grid\nset xlabel 'episode'\nset ylabel 'return'\nset yrange [0:520]\n"
         << "plot " << data << " using 1:2 with lines lc rgb '#b0b0b0' title 'return', " << data
         << " using 1:3 with lines lw 2 title 'mean of last 100', 475 with lines dt 2 "
            "title 'solved'\n";
  examples::run_gnuplot(script.str(), png);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::uint64_t seed = 42;
  int max_episodes = 3000;
  int batch_episodes = 4;
  int hidden = 32;
  double lr = 1e-2;
  double value_lr = 1e-2;
  double gamma = 0.99;
  int updates_per_line = 25;
  std::string out_dir = "out/cartpole_reinforce";
  examples::Cli cli("cartpole_reinforce",
                    "Balances CartPole-v1 with REINFORCE and a learned value baseline.");
  cli.flag("quick", quick, "a smoke test: 40 episodes (far from solving)")
      .option("seed", seed, "seed of the initial weights, start states and sampled actions")
      .option("episodes", max_episodes, "budget of episodes")
      .at_least(1)
      .option("batch", batch_episodes, "episodes per policy update")
      .at_least(1)
      .option("hidden", hidden, "hidden units of the policy and value networks")
      .at_least(1)
      .option("lr", lr, "Adam's learning rate for the policy")
      .positive()
      .option("value-lr", value_lr, "Adam's learning rate for the baseline")
      .positive()
      .option("gamma", gamma, "discount factor")
      .positive()
      .at_most(1)
      .option("log-every", updates_per_line, "updates per progress line")
      .at_least(1)
      .option("out", out_dir, "directory for curves.csv and curves.png", "DIR");
  cli.parse(argc, argv);
  if (quick && !cli.given("episodes")) max_episodes = 40;
  if (quick && !cli.given("log-every")) updates_per_line = 5;
  const auto start = std::chrono::steady_clock::now();

  tg::Generator gen(seed);
  auto tanh = [](const tg::Tensor<float>& t) { return tg::tanh(t); };
  tg::Sequential<float> policy(tg::Dense<float>(4, hidden, tanh, gen, "policy/hidden"),
                               tg::Dense<float>(hidden, 2, gen, "policy/logits"));
  tg::Sequential<float> value(tg::Dense<float>(4, hidden, tanh, gen, "value/hidden"),
                              tg::Dense<float>(hidden, 1, gen, "value/out"));
  const auto policy_vars = policy.trainable_variables();
  const auto value_vars = value.trainable_variables();
  tg::Adam policy_opt(lr), value_opt(value_lr);
  // The value net fits returns scaled by (1 - gamma), about [0, 1], where its outputs start.
  const float value_scale = static_cast<float>(1 - gamma);

  std::cout << "CartPole-v1, REINFORCE with a value baseline: policy and value MLPs 4-" << hidden
            << "-2/1 (tanh), Adam lr " << lr << " / " << value_lr << ", gamma " << gamma << ", "
            << batch_episodes << " episodes per update, budget " << max_episodes
            << " episodes, seed " << seed << '\n';

  CartPole env(gen);
  const int updates = (max_episodes + batch_episodes - 1) / batch_episodes;
  const int lines = (updates + updates_per_line - 1) / updates_per_line;
  // An "epoch" of the reporter is one progress line's worth of updates; its loss column is
  // the mean episode return, which is what a reader wants to watch.
  examples::ProgressReporter progress(lines, updates_per_line);
  std::vector<int> returns;
  std::vector<double> averages;
  std::deque<int> last_100;
  double window_sum = 0;
  int solved_at = 0;
  int update = 0;
  while (static_cast<int>(returns.size()) < max_episodes && !solved_at) {
    if (update % updates_per_line == 0) progress.begin_epoch();
    ++update;
    // Collect a batch of episodes with the current policy.
    std::vector<std::array<float, 4>> states;
    std::vector<std::int32_t> actions;
    std::vector<float> discounted;
    double batch_return = 0;
    int batch_count = 0;
    for (int e = 0; e < batch_episodes && static_cast<int>(returns.size()) < max_episodes; ++e) {
      env.reset();
      const std::size_t first = states.size();
      bool done = false;
      while (!done) {
        const auto& s = env.state();
        const std::array<float, 4> sf{static_cast<float>(s[0]), static_cast<float>(s[1]),
                                      static_cast<float>(s[2]), static_cast<float>(s[3])};
        // No tape is open while acting: these forward passes are not recorded.
        const auto p =
            tg::softmax(policy(tg::Tensor<float>(tg::Shape{1, 4}, {sf[0], sf[1], sf[2], sf[3]})));
        const int action = gen.uniform() < p.data()[1] ? 1 : 0;
        states.push_back(sf);
        actions.push_back(action);
        done = env.step(action);
      }
      const auto length = static_cast<int>(states.size() - first);
      // Discounted returns, from the last step back; a cut-off episode is treated as ended,
      // which gamma = 0.99 makes harmless (0.99^100 < 0.37).
      discounted.resize(states.size());
      float g = 0;
      for (std::size_t t = states.size(); t-- > first;)
        discounted[t] = g = 1 + static_cast<float>(gamma) * g;
      returns.push_back(length);
      last_100.push_back(length);
      window_sum += length;
      if (last_100.size() > 100) {
        window_sum -= last_100.front();
        last_100.pop_front();
      }
      averages.push_back(window_sum / static_cast<double>(last_100.size()));
      batch_return += length;
      ++batch_count;
      if (!solved_at && last_100.size() == 100 && averages.back() >= 475)
        solved_at = static_cast<int>(returns.size());
    }

    const auto n = static_cast<std::int64_t>(states.size());
    const auto x = states_tensor(states);
    const tg::Tensor<float> targets(tg::Shape{n, 1}, discounted);
    const tg::Tensor<std::int32_t> taken(tg::Shape{n}, actions);

    // Advantages: the return minus the baseline's estimate, normalised over the batch so the
    // step size does not depend on how long the episodes have become.
    const auto baseline = value(x);
    tg::Tensor<float> advantage(tg::Shape{n}, 0.0f);
    {
      float* a = advantage.mutable_data();
      double mean = 0, sq = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        a[i] = discounted[static_cast<std::size_t>(i)] - baseline.data()[i] / value_scale;
        mean += a[i];
      }
      mean /= static_cast<double>(n);
      for (std::int64_t i = 0; i < n; ++i) sq += (a[i] - mean) * (a[i] - mean);
      const double stddev = std::sqrt(sq / static_cast<double>(n)) + 1e-8;
      for (std::int64_t i = 0; i < n; ++i) a[i] = static_cast<float>((a[i] - mean) / stddev);
    }

    {
      // -log pi(a|s) is the cross-entropy of the taken action; the advantage is a constant.
      tg::GradientTape tape;
      const auto loss = tg::mean(tg::sparse_softmax_cross_entropy(taken, policy(x)) * advantage);
      policy_opt.apply_gradients(tape.gradient(loss, policy_vars), policy_vars);
    }
    {
      tg::GradientTape tape;
      const auto loss = tg::mse(value(x), targets * value_scale);
      value_opt.apply_gradients(tape.gradient(loss, value_vars), value_vars);
    }
    progress.batch_done(batch_count, batch_return / batch_count);
    if (update % updates_per_line == 0 || solved_at ||
        static_cast<int>(returns.size()) >= max_episodes) {
      progress.end_epoch();
      std::cout << "  episode " << returns.size() << ": mean return of the last " << last_100.size()
                << " episodes " << examples::detail::fixed(averages.back(), 1) << '\n';
    }
  }
  progress.finish();
  write_curves(out_dir, returns, averages);

  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  const std::string time = examples::detail::fixed(took.count(), 1) + " s";
  if (solved_at) {
    std::cout << "solved at episode " << solved_at
              << ": mean return of the last 100 episodes >= 475, in " << time << '\n';
    return 0;
  }
  std::cout << "not solved within " << returns.size() << " episodes (mean return of the last "
            << last_100.size() << " episodes " << examples::detail::fixed(averages.back(), 1)
            << "), " << time << '\n';
  if (quick) {
    std::cout << "ok: quick run finished " << returns.size() << " episodes\n";
    return 0;
  }
  return 1;
}
