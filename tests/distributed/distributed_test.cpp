// The distributed component under mpiexec (tests/CMakeLists.txt runs it on 2 and 3 ranks):
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
  REQUIRE(grads[0].has_value());
  const double n = world->size();
  CHECK(grads[0].to_vector() == std::vector<double>{(n - 1) / n, 2 * (n - 1) / n});
  CHECK_FALSE(grads[1].has_value());
}

TEST_CASE("ranks that hold different variables fail alike, naming the first difference",
          "[distributed]") {
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
  // Linear regression, global batch 48 split evenly over the ranks, five Adam steps.
  const std::int64_t global = 48, features = 3;
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
