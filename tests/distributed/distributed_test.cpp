// The distributed component under mpiexec (tests/CMakeLists.txt runs it on 1, 2 and 3 ranks):
// every rank runs every test case, and each collective must agree with a serial computation
// that every rank can do alone.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <tapegrad/distributed.hpp>
#include <tapegrad/tapegrad.hpp>
#include <tapegrad/train/optimizers.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>
#include <vector>

namespace tg = tapegrad;
namespace td = tapegrad::distributed;

namespace distributed_test {

td::Communicator* world = nullptr;

// A value that rank r gives element k of gradient i, and its mean over the ranks.
double value_of(int r, std::size_t i, std::int64_t k) {
  return std::sin(0.7 * r + 1.3 * static_cast<double>(i) + 0.11 * static_cast<double>(k)) + r;
}

template <class T>
void check_average(std::size_t bucket_bytes) {
  const td::Communicator& comm = *world;
  const std::vector<tg::Shape> shapes{{3}, {2, 5}, {}, {7}, {1, 1}, {1000}};
  std::vector<tg::Variable<T>> vars;
  std::vector<tg::Tensor<T>> grads;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    vars.emplace_back(tg::Tensor<T>(shapes[i], T(0)), "v" + std::to_string(i));
    tg::Tensor<T> g(tg::detail::uninitialized, shapes[i]);
    for (std::int64_t k = 0; k < g.size(); ++k)
      g.mutable_data()[k] = static_cast<T>(value_of(comm.rank(), i, k));
    grads.push_back(g);
  }
  td::allreduce_gradients(comm, grads, vars, bucket_bytes);
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    REQUIRE(grads[i].has_value());
    REQUIRE(grads[i].shape() == shapes[i]);
    for (std::int64_t k = 0; k < grads[i].size(); ++k) {
      double serial = 0;
      for (int r = 0; r < comm.size(); ++r) serial += static_cast<T>(value_of(r, i, k));
      serial /= comm.size();
      CHECK(grads[i].data()[k] == Approx(serial).epsilon(std::is_same_v<T, float> ? 1e-6 : 1e-14));
    }
  }
}

}  // namespace distributed_test

using distributed_test::world;

TEST_CASE("allreduce_gradients averages like a serial sum, in buckets of any size",
          "[distributed]") {
  for (std::size_t bucket : {std::size_t{8}, std::size_t{100}, std::size_t{1} << 20}) {
    INFO("bucket " << bucket << " bytes on " << world->size() << " ranks");
    distributed_test::check_average<float>(bucket);
    distributed_test::check_average<double>(bucket);
  }
}

TEST_CASE("a large gradient is averaged in its own elements, unless someone else holds it",
          "[distributed]") {
  const double r = world->rank(), n = world->size();
  const tg::Shape large{40, 500};  // 80,000 bytes of float: above in_place_bytes
  static_assert(40 * 500 * sizeof(float) >= td::in_place_bytes);
  std::vector<tg::Variable<float>> vars{tg::Variable<float>(tg::Tensor<float>(large, 0.f), "w"),
                                        tg::Variable<float>(tg::Tensor<float>({0.f}), "b")};
  auto make = [&] {
    return std::vector<tg::Tensor<float>>{tg::Tensor<float>(large, static_cast<float>(r)),
                                          tg::Tensor<float>({static_cast<float>(r)})};
  };
  const float mean = static_cast<float>((n - 1) / 2);
  for (std::size_t bucket : {std::size_t{4096}, std::size_t{1} << 20}) {
    INFO("bucket " << bucket << " bytes on " << n << " ranks");
    auto grads = make();
    const float* elements = grads[0].data();
    td::allreduce_gradients(*world, grads, vars, bucket);
    CHECK(grads[0].to_vector() == std::vector<float>(20000, mean));
    CHECK(grads[1].to_vector() == std::vector<float>{mean});
    if (n > 1) CHECK(grads[0].data() == elements);  // nothing copied

    auto held = make();
    const tg::Tensor<float> kept = held[0];  // the caller still holds it: copied, not written
    td::allreduce_gradients(*world, held, vars, bucket);
    CHECK(held[0].to_vector() == std::vector<float>(20000, mean));
    CHECK(kept.to_vector() == std::vector<float>(20000, static_cast<float>(r)));
  }
  // A large gradient that rank 0 lacks counts as zeros there.
  auto some = make();
  if (r == 0) some[0] = tg::Tensor<float>();
  td::allreduce_gradients(*world, some, vars);
  if (n > 1)
    CHECK(some[0].to_vector() ==
          std::vector<float>(20000, static_cast<float>(n * (n - 1) / 2 / n)));
  else
    CHECK_FALSE(some[0].has_value());
  // Nor is a tensor handed to mean_over_ranks, which the caller keeps.
  const tg::Tensor<float> x(large, static_cast<float>(r));
  CHECK(td::mean_over_ranks(*world, x).to_vector() == std::vector<float>(20000, mean));
  CHECK(x.to_vector() == std::vector<float>(20000, static_cast<float>(r)));
}

TEST_CASE("allreduce_gradients: an empty list, and gradients that some ranks lack",
          "[distributed]") {
  std::vector<tg::Tensor<double>> none;
  td::allreduce_gradients(*world, none, std::vector<tg::Variable<double>>{});
  CHECK(none.empty());

  std::vector<tg::Variable<double>> vars{tg::Variable<double>(tg::Tensor<double>({0.0, 0.0}), "a"),
                                         tg::Variable<double>(tg::Tensor<double>({0.0}), "b")};
  // Rank 0 has no gradient for "a"; no rank has one for "b".
  std::vector<tg::Tensor<double>> grads{
      world->rank() == 0 ? tg::Tensor<double>() : tg::Tensor<double>({1.0, 2.0}),
      tg::Tensor<double>()};
  td::allreduce_gradients(*world, grads, vars);
  const double n = world->size();
  if (n == 1) {
    CHECK_FALSE(grads[0].has_value());  // one process: the optimizer skips it, as without MPI
  } else {
    REQUIRE(grads[0].has_value());
    CHECK(grads[0].to_vector() == std::vector<double>{(n - 1) / n, 2 * (n - 1) / n});
  }
  CHECK_FALSE(grads[1].has_value());
}

TEST_CASE("ranks that hold different variables fail alike, naming the first difference",
          "[distributed]") {
  if (world->size() == 1) return;  // nobody to differ from
  const bool odd = world->rank() == world->size() - 1;
  std::vector<tg::Variable<float>> vars{
      tg::Variable<float>(tg::Tensor<float>::zeros({2}), "w"),
      tg::Variable<float>(tg::Tensor<float>::zeros({odd ? 4 : 3}), "b")};
  CHECK_THROWS_AS(td::check_same_variables(*world, vars), tg::value_error);
  CHECK_THROWS_WITH(td::check_same_variables(*world, vars),
                    Catch::Contains("variable 1 is 'b' float32 [3] on rank 0 but 'b' float32 [4]"));
  vars.pop_back();
  if (odd) vars.clear();  // fewer variables on one rank
  CHECK_THROWS_WITH(td::check_same_variables(*world, vars), Catch::Contains("nothing"));
  // And the job goes on: the next collective finds every rank in step.
  world->barrier();
}

TEST_CASE("broadcast_variables gives every rank the root's weights", "[distributed]") {
  const int root = world->size() - 1;
  std::vector<tg::Variable<double>> vars{
      tg::Variable<double>(tg::Tensor<double>({1.0 * world->rank(), 2.0}), "w"),
      tg::Variable<double>(tg::Tensor<double>(world->rank() + 0.5), "s")};
  td::broadcast_variables(*world, vars, root);
  CHECK(vars[0].snapshot().to_vector() == std::vector<double>{1.0 * root, 2.0});
  CHECK(vars[1].snapshot().item() == root + 0.5);
  CHECK_THROWS_AS(td::broadcast_variables(*world, vars, world->size()), tg::value_error);
}

TEST_CASE("shard_indices: every example once per epoch over the ranks, the same shards per seed",
          "[distributed]") {
  for (int size : {1, 2, 3}) {
    for (std::int64_t n : {0, 1, 10, 11}) {
      std::multiset<std::int64_t> seen;
      std::size_t length = 0;
      for (int r = 0; r < size; ++r) {
        const auto mine = td::shard_indices(n, 3, 42, r, size);
        if (r == 0) length = mine.size();
        CHECK(mine.size() == length);  // as many on every rank
        seen.insert(mine.begin(), mine.end());
        CHECK(mine == td::shard_indices(n, 3, 42, r, size));
      }
      for (std::int64_t i = 0; i < n; ++i) CHECK(seen.count(i) >= 1);
      CHECK(seen.size() == static_cast<std::size_t>((n + size - 1) / size * size) * (n > 0));
    }
  }
  CHECK(td::shard_indices(100, 0, 42, 0, 2) != td::shard_indices(100, 1, 42, 0, 2));
  CHECK(td::shard_indices(11, 0, 42, 0, 3, true, true).size() == 3);
  CHECK_THROWS_AS(td::shard_indices(10, 0, 42, 3, 3), tg::value_error);
}

TEST_CASE("data-parallel steps equal one process's steps on the whole batch", "[distributed]") {
  // Linear regression, five Adam steps: 32 examples per rank against one process on all of
  // them (on two ranks, batch 32 against batch 64).
  const std::int64_t global = 32 * world->size(), features = 3;
  tg::Generator gen(5);
  const auto x = tg::random_normal<float>({global, features}, 0.0, 1.0, gen);
  const auto y = tg::random_normal<float>({global, 1}, 0.0, 1.0, gen);
  auto train = [&](bool distributed) {
    tg::Variable<float> w(tg::Tensor<float>::zeros({features, 1}), "w");
    tg::Variable<float> b(tg::Tensor<float>::zeros({1}), "b");
    const std::vector<tg::Variable<float>> vars{w, b};
    tg::Adam adam(0.1);
    td::DistributedOptimizer<tg::Adam> wrapped(adam, *world);
    const std::int64_t per_rank = global / world->size();
    const std::int64_t first = distributed ? world->rank() * per_rank : 0;
    const std::int64_t count = distributed ? per_rank : global;
    const auto xs = tg::slice(x, {first, 0}, {count, features});
    const auto ys = tg::slice(y, {first, 0}, {count, 1});
    for (int step = 0; step < 5; ++step) {
      tg::GradientTape tape;
      auto loss = tg::mean(tg::square(tg::matmul(xs, w) + b - ys));
      auto grads = tape.gradient(loss, vars);
      if (distributed)
        wrapped.apply_gradients(grads, vars);
      else
        adam.apply_gradients(grads, vars);
    }
    return std::make_pair(w.snapshot().to_vector(), b.snapshot().to_vector());
  };
  REQUIRE(global % world->size() == 0);
  const auto alone = train(false);
  const auto together = train(true);
  for (std::size_t i = 0; i < alone.first.size(); ++i)
    CHECK(together.first[i] == Approx(alone.first[i]).epsilon(1e-5));
  CHECK(together.second[0] == Approx(alone.second[0]).epsilon(1e-5));
}

namespace distributed_test {

// A three-layer network in double on rank-dependent data, with a custom gradient and a
// recompute_grad block in it, so that the sweep runs ops of every kind. `extra` is read on
// rank 0 only (None elsewhere); `unused` is read by no rank.
struct Net {
  std::vector<tg::Variable<double>> vars;
  tg::Tensor<double> x, y;
  Net() {
    tg::Generator gen(11);  // the same weights on every rank
    const std::vector<tg::Shape> shapes{{4, 6}, {6}, {6, 5}, {5}, {5, 1}, {1}, {5}, {2}};
    const char* names[] = {"w1", "b1", "w2", "b2", "w3", "b3", "extra", "unused"};
    for (std::size_t i = 0; i < shapes.size(); ++i)
      vars.emplace_back(tg::random_normal<double>(shapes[i], 0.0, 0.5, gen), names[i]);
    tg::Generator data(100 + static_cast<std::uint64_t>(world->rank()));
    x = tg::random_normal<double>({7, 4}, 0.0, 1.0, data);
    y = tg::random_normal<double>({7, 1}, 0.0, 1.0, data);
  }
  tg::Tensor<double> loss() const {
    auto softplus = tg::custom_gradient([](const tg::Tensor<double>& t) {
      return std::make_pair(tg::log(1.0 + tg::exp(t)),
                            [t](const tg::Tensor<double>& g) { return g / (1.0 + tg::exp(-t)); });
    });
    auto layer2 = tg::recompute_grad(
        [&](const tg::Tensor<double>& h) { return tg::tanh(tg::matmul(h, vars[2]) + vars[3]); });
    auto h1 = softplus(tg::matmul(x, vars[0]) + vars[1]);
    auto h2 = layer2(h1);
    if (world->rank() == 0) h2 = h2 * vars[6];
    return tg::mean(tg::square(tg::matmul(h2, vars[4]) + vars[5] - y));
  }
};

// The same values; bit for bit on up to two ranks, where any allreduce algorithm adds the same
// two numbers, and to rounding on more, where the blocking and non-blocking allreduce may add
// in different orders (a margin for sums that nearly cancel).
void check_same_values(const std::vector<tg::Tensor<double>>& a,
                       const std::vector<tg::Tensor<double>>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("gradient " << i);
    REQUIRE(a[i].has_value() == b[i].has_value());
    if (!a[i].has_value()) continue;
    if (world->size() <= 2) {
      CHECK(a[i].to_vector() == b[i].to_vector());
    } else {
      for (std::int64_t k = 0; k < a[i].size(); ++k)
        CHECK(a[i].data()[k] == Approx(b[i].data()[k]).epsilon(1e-14).margin(1e-15));
    }
  }
}

}  // namespace distributed_test

TEST_CASE("DistributedGradientTape averages large gradients in place, equal to averaging after",
          "[distributed]") {
  tg::Generator gen(3);
  tg::Variable<double> w(tg::random_normal<double>({120, 100}, 0.0, 0.1, gen), "w");  // 96 KB
  tg::Variable<double> b(tg::random_normal<double>({100}, 0.0, 0.1, gen), "b");
  const std::vector<tg::Variable<double>> vars{w, b};
  tg::Generator data(40 + static_cast<std::uint64_t>(world->rank()));
  const auto x = tg::random_normal<double>({9, 120}, 0.0, 1.0, data);
  auto loss = [&] { return tg::mean(tg::square(tg::tanh(tg::matmul(x, w) + b))); };
  for (std::size_t bucket : {std::size_t{8192}, std::size_t{1} << 20}) {
    INFO("bucket " << bucket << " bytes on " << world->size() << " ranks");
    tg::GradientTape plain;
    auto expected = plain.gradient(loss(), vars);
    td::allreduce_gradients(*world, expected, vars, bucket);
    tg::GradientTape tape;
    td::DistributedGradientTape overlapped(tape, *world, bucket);
    const auto grads = overlapped.gradient(loss(), vars);
    distributed_test::check_same_values(grads, expected);
    CHECK(overlapped.last_overlap().in_place == (world->size() > 1 ? 1u : 0u));  // w, not b
    // Against a serial mean of every rank's own gradient, which each rank computes alone.
    tg::Tensor<double> serial = tg::Tensor<double>::zeros({120, 100});
    for (int rank = 0; rank < world->size(); ++rank) {
      tg::Generator other(40 + static_cast<std::uint64_t>(rank));
      const auto xr = tg::random_normal<double>({9, 120}, 0.0, 1.0, other);
      tg::GradientTape one;
      serial = serial + one.gradient(tg::mean(tg::square(tg::tanh(tg::matmul(xr, w) + b))), w);
    }
    serial = serial / static_cast<double>(world->size());
    for (std::int64_t k = 0; k < serial.size(); ++k)
      CHECK(grads[0].data()[k] == Approx(serial.data()[k]).epsilon(1e-13).margin(1e-17));
  }
}

TEST_CASE("DistributedGradientTape: a large variable listed twice is averaged right",
          "[distributed]") {
  // Both places get one gradient object from the sweep: averaging it in place for the first
  // would divide it again for the second.
  tg::Variable<double> w(tg::Tensor<double>::ones({100, 100}), "w");  // 80 KB
  const std::vector<tg::Variable<double>> vars{w, w};
  const double r = world->rank(), n = world->size();
  tg::GradientTape tape;
  const auto loss = tg::sum(w * (r + 1.0));
  td::DistributedGradientTape averaged(tape, *world, std::size_t{1} << 20);
  const auto grads = averaged.gradient(loss, vars);
  const double mean = (n + 1) / 2;
  REQUIRE(grads.size() == 2);
  for (const auto& g : grads)
    for (double e : g.to_vector()) REQUIRE(e == Approx(mean).epsilon(1e-15));
  CHECK(averaged.last_overlap().in_place == 0);
}

TEST_CASE("DistributedGradientTape equals the tape's gradient averaged afterwards",
          "[distributed]") {
  const distributed_test::Net net;
  for (std::size_t bucket : {std::size_t{8}, std::size_t{100}, std::size_t{1} << 20}) {
    INFO("bucket " << bucket << " bytes on " << world->size() << " ranks");
    tg::GradientTape plain;
    auto expected = plain.gradient(net.loss(), net.vars);
    td::allreduce_gradients(*world, expected, net.vars, bucket);
    tg::GradientTape tape;
    td::DistributedGradientTape overlapped(tape, *world, bucket);
    const auto grads = overlapped.gradient(net.loss(), net.vars);
    distributed_test::check_same_values(grads, expected);
    CHECK(grads[6].has_value());        // rank 0's gradient, averaged with the others' zeros
    CHECK_FALSE(grads[7].has_value());  // no rank has one
    const td::OverlapReport& report = overlapped.last_overlap();
    if (world->size() == 1) {  // nothing to average: the tape's gradients as they are
      CHECK(report.buckets == 0);
      continue;
    }
    CHECK(report.buckets == (bucket == 8 ? 78u : bucket == 100 ? 7u : 1u));  // 78 elements
    // The last layer's gradients are final long before the first layer's: with small buckets
    // their allreduce starts while the sweep still runs; one bucket must wait for all.
    if (bucket == (std::size_t{1} << 20))
      CHECK(report.started_during_sweep == 0);
    else
      CHECK(report.started_during_sweep >= 2);
  }
}

TEST_CASE("a collective inside the sweep, and an outer sweep through gradients some ranks lack",
          "[distributed]") {
  // The loss is averaged over the ranks (mean_over_ranks, whose backward runs a collective
  // inside the sweep), `extra` is read on rank 0 only, and every element is a bucket, so the
  // buckets start at moments of the sweep that differ between ranks (they travel on a
  // communicator of their own; Open MPI would also keep them apart from the blocking
  // collective, the standard does not promise it). An outer tape then differentiates a penalty
  // on the averaged gradients: the averages run collectives in its sweep, on every rank alike,
  // and `extra`'s, which some ranks lack, is a constant everywhere (else rank 0 alone would
  // run one, and the job would fail or hang).
  const distributed_test::Net net;
  auto second_order = [&](bool overlapped) {
    tg::GradientTape outer;
    tg::GradientTape inner;
    const auto loss = td::mean_over_ranks(*world, net.loss());
    std::vector<tg::Tensor<double>> grads;
    if (overlapped) {
      grads = td::DistributedGradientTape(inner, *world, 8).gradient(loss, net.vars);
    } else {
      grads = inner.gradient(loss, net.vars);
      td::allreduce_gradients(*world, grads, net.vars, 8);
    }
    tg::Tensor<double> penalty(0.0);
    for (const auto& g : grads)
      if (g.has_value()) penalty = penalty + tg::sum(g * g);
    auto outer_grads = outer.gradient(penalty, net.vars);
    td::allreduce_gradients(*world, outer_grads, net.vars);
    return std::make_pair(grads, outer_grads);
  };
  const auto overlapped = second_order(true);
  const auto after = second_order(false);
  distributed_test::check_same_values(overlapped.first, after.first);
  distributed_test::check_same_values(overlapped.second, after.second);
  CHECK(overlapped.second[0].has_value());
  CHECK(overlapped.first[6].has_value() == (world->size() > 1 || world->rank() == 0));
}

TEST_CASE("DistributedGradientTape: no gradient anywhere, and bad input before any collective",
          "[distributed]") {
  std::vector<tg::Variable<double>> vars{tg::Variable<double>(tg::Tensor<double>({1.0, 2.0}), "a")};
  tg::GradientTape tape;
  const auto unrelated = tg::sum(tg::Tensor<double>({3.0}) * 2.0);
  auto grads = td::DistributedGradientTape(tape, *world).gradient(unrelated, vars);
  REQUIRE(grads.size() == 1);
  CHECK_FALSE(grads[0].has_value());

  tg::GradientTape persistent(tg::persistent);
  const auto loss = tg::sum(vars[0].value() * vars[0].value());
  CHECK_THROWS_WITH(td::DistributedGradientTape(persistent, *world, 2).gradient(loss, vars),
                    Catch::Contains("bucket_bytes must hold one element, got 2"));
  // Nothing started, so the tape and the job go on.
  auto again = td::DistributedGradientTape(persistent, *world).gradient(loss, vars);
  CHECK(again[0].to_vector() == std::vector<double>{2.0, 4.0});

  // A spent tape is refused before any bucket starts, even one that only an unread variable
  // fills (its None is known before the sweep).
  vars.emplace_back(tg::Tensor<double>({0.0}), "unread");
  tg::GradientTape spent;
  const auto loss2 = tg::sum(vars[0].value());
  (void)spent.gradient(loss2, vars);
  CHECK_THROWS_AS(td::DistributedGradientTape(spent, *world, 8).gradient(loss2, vars),
                  tg::tape_error);
  world->barrier();
}

TEST_CASE("mean_over_ranks: the mean, and its gradient is the mean of the ranks' upstreams",
          "[distributed]") {
  const double r = world->rank(), n = world->size();
  const tg::Tensor<double> x({r, 2 * r + 1});
  tg::GradientTape tape;
  tape.watch(x);
  const auto mean = td::mean_over_ranks(*world, x);
  CHECK(mean.to_vector() == std::vector<double>{(n - 1) / 2, n});
  const auto weighted = tg::sum(mean * tg::Tensor<double>({r + 1, 1.0}));
  const auto dx = tape.gradient(weighted, x);
  CHECK(dx.to_vector() == std::vector<double>{(n + 1) / 2, 1.0});
}

TEST_CASE("mean_over_ranks: a tensor with no value is refused before any collective",
          "[distributed]") {
  // Every rank is refused alike, so no rank is left waiting in the allreduce; the barrier
  // after it would hang if one rank had gone on to the collective.
  CHECK_THROWS_WITH(td::mean_over_ranks(*world, tg::Tensor<double>()),
                    Catch::Contains("mean_over_ranks: the tensor has no value"));
  world->barrier();
}

TEST_CASE("mean_over_ranks inside a recompute_grad block: recomputed alike on every rank",
          "[distributed]") {
  const double r = world->rank(), n = world->size();
  const tg::Tensor<double> x({r + 1.0, 2.0});
  auto block = tg::recompute_grad(
      [](const tg::Tensor<double>& t) { return td::mean_over_ranks(*world, t) * t; });
  tg::GradientTape tape;
  tape.watch(x);
  const auto y = tg::sum(block(x));
  // d/dx_r of sum(mean(x) * x_r): mean(x) + mean over ranks of x_r's upstream (x_r itself).
  const auto dx = tape.gradient(y, x);
  const double mean0 = (n + 1) / 2;  // the mean of r + 1 over the ranks
  CHECK(dx.to_vector()[0] == Approx(mean0 + mean0).epsilon(1e-14));
  CHECK(dx.to_vector()[1] == Approx(2.0 + 2.0).epsilon(1e-14));
}

namespace distributed_test {

// Regression data: every rank's examples together (for a serial reference on one process)
// and this rank's share.
struct Shares {
  tg::Tensor<double> x_all, y_all, x, y;
};
Shares shares_of_data(std::int64_t per_rank) {
  std::vector<tg::Tensor<double>> xs, ys;
  for (int r = 0; r < world->size(); ++r) {
    tg::Generator data(200 + static_cast<std::uint64_t>(r));
    xs.push_back(tg::random_normal<double>({per_rank, 3}, 0.0, 1.0, data));
    ys.push_back(tg::random_normal<double>({per_rank, 1}, 0.0, 1.0, data));
  }
  const auto mine = static_cast<std::size_t>(world->rank());
  return {tg::concat(xs, 0), tg::concat(ys, 0), xs[mine], ys[mine]};
}

tg::Tensor<double> quartic_loss(const tg::Tensor<double>& x, const tg::Tensor<double>& y,
                                const tg::Variable<double>& w) {
  const auto r = tg::matmul(x, w) - y;
  return tg::mean(r * r * r * r);  // not quadratic, so the Hessian depends on w
}

}  // namespace distributed_test

TEST_CASE("averaged gradients compose with an outer tape and a ForwardAccumulator",
          "[distributed]") {
  const std::int64_t per_rank = 5;
  const auto data = distributed_test::shares_of_data(per_rank);
  const tg::Tensor<double> x = data.x, y = data.y;  // this rank's share
  tg::Variable<double> w(tg::Tensor<double>({{0.3}, {-0.2}, {0.5}}), "w");
  const std::vector<tg::Variable<double>> vars{w};
  const tg::Tensor<double> v({{1.0}, {0.5}, {-2.0}});

  // The serial reference on the whole batch: H g (the gradient of |g|^2 / 2) and H v.
  tg::GradientTape outer_ref;
  tg::GradientTape inner_ref;
  const auto g_ref =
      inner_ref.gradient(distributed_test::quartic_loss(data.x_all, data.y_all, w), w);
  const auto hg_ref = outer_ref.gradient(0.5 * tg::sum(g_ref * g_ref), w);
  tg::GradientTape hv_tape;
  tg::GradientTape hv_inner;
  const auto g2 = hv_inner.gradient(distributed_test::quartic_loss(data.x_all, data.y_all, w), w);
  const auto hv_ref = hv_tape.gradient(tg::sum(g2 * v), w);

  SECTION("an outer tape, then the average of its gradient: H g") {
    tg::GradientTape outer;
    tg::GradientTape inner;
    const auto g = td::DistributedGradientTape(inner, *world)
                       .gradient(distributed_test::quartic_loss(x, y, w), vars)[0];
    CHECK(g.to_vector()[0] == Approx(g_ref.to_vector()[0]).epsilon(1e-12));
    auto hg = outer.gradient(0.5 * tg::sum(g * g), vars);
    td::allreduce_gradients(*world, hg, vars);
    for (std::size_t k = 0; k < 3; ++k)
      CHECK(hg[0].to_vector()[k] == Approx(hg_ref.to_vector()[k]).epsilon(1e-12));
  }
  SECTION("a ForwardAccumulator around it: H v, as forward-over-reverse") {
    tg::ForwardAccumulator acc(w, v);
    tg::GradientTape tape;
    const auto grads = td::DistributedGradientTape(tape, *world)
                           .gradient(distributed_test::quartic_loss(x, y, w), vars);
    const auto hv = acc.jvp(grads[0]);
    REQUIRE(hv.has_value());
    for (std::size_t k = 0; k < 3; ++k)
      CHECK(hv.to_vector()[k] == Approx(hv_ref.to_vector()[k]).epsilon(1e-12));
  }
}

TEST_CASE("data-parallel steps with DistributedGradientTape equal one process's steps",
          "[distributed]") {
  const std::int64_t per_rank = 4;
  const auto data = distributed_test::shares_of_data(per_rank);
  auto train = [&](bool distributed) {
    tg::Variable<double> w(tg::Tensor<double>({{0.1}, {0.2}, {0.3}}), "w");
    const std::vector<tg::Variable<double>> vars{w};
    tg::Adam adam(0.05);
    const auto x = distributed ? data.x : data.x_all;
    const auto y = distributed ? data.y : data.y_all;
    for (int step = 0; step < 4; ++step) {
      tg::GradientTape tape;
      const auto loss = distributed_test::quartic_loss(x, y, w);
      adam.apply_gradients(distributed
                               ? td::DistributedGradientTape(tape, *world).gradient(loss, vars)
                               : tape.gradient(loss, vars),
                           vars);
    }
    return w.snapshot().to_vector();
  };
  const auto alone = train(false);
  const auto together = train(true);
  for (std::size_t i = 0; i < alone.size(); ++i)
    CHECK(together[i] == Approx(alone[i]).epsilon(1e-12));
}

int main(int argc, char** argv) {
  td::Communicator comm(argc, argv);
  world = &comm;
  Catch::Session session;
  const int failed = session.run(argc, argv);
  // Every rank must end the same way: a failure on one is a failure of the job.
  int any = failed != 0;
  MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_MAX, comm.comm());
  return any;
}
