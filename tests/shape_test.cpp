#include "test_util.hpp"

using tapegrad::Shape;

TEST_CASE("Shape holds dimensions, size and rank", "[shape]") {
  const Shape s{2, 3, 4};
  CHECK(s.rank() == 3);
  CHECK(s.size() == 24);
  CHECK(s[1] == 3);
  CHECK(s.str() == "[2,3,4]");
  CHECK(Shape{}.rank() == 0);
  CHECK(Shape{}.size() == 1);
  CHECK(Shape{}.str() == "[]");
  CHECK(Shape{3, 0}.size() == 0);
  CHECK(Shape{1, 2, 3, 4, 5, 6, 7, 8}.rank() == 8);
}

TEST_CASE("Shape rejects negative dimensions and ranks above the maximum", "[shape][errors]") {
  CHECK_THROWS_AS(Shape({2, -1}), tapegrad::shape_error);
  CHECK_THROWS_WITH(Shape({1, 2, 3, 4, 5, 6, 7, 8, 9}),
                    Catch::Contains("rank above the maximum of 8"));
}

TEST_CASE("broadcast_shapes follows NumPy", "[shape]") {
  using tapegrad::broadcast_shapes;
  CHECK(broadcast_shapes({2, 3}, {3}, "add") == Shape{2, 3});
  CHECK(broadcast_shapes({2, 1}, {1, 3}, "add") == Shape{2, 3});
  CHECK(broadcast_shapes({}, {4, 5}, "add") == Shape{4, 5});
  CHECK(broadcast_shapes({5, 1, 3}, {4, 1}, "add") == Shape{5, 4, 3});
  CHECK(broadcast_shapes({0}, {1}, "add") == Shape{0});
  CHECK_THROWS_WITH(broadcast_shapes({2, 3}, {4}, "mul"),
                    "mul: incompatible shapes for broadcasting: [2,3] vs. [4]");
  CHECK(tapegrad::broadcasts_to({3}, {2, 3}));
  CHECK_FALSE(tapegrad::broadcasts_to({2, 3}, {3}));
  CHECK_FALSE(tapegrad::broadcasts_to({2}, {2, 3}));
}

TEST_CASE("normalize_axis accepts negative axes and names the op otherwise", "[shape]") {
  CHECK(tapegrad::normalize_axis("sum", -1, 3) == 2);
  CHECK(tapegrad::normalize_axis("sum", 0, 3) == 0);
  CHECK_THROWS_WITH(tapegrad::normalize_axis("sum", 3, 3),
                    "sum: axis 3 is out of range for a tensor of rank 3 (expected -3 <= axis < 3)");
  CHECK_THROWS_AS(tapegrad::normalize_axis("sum", -4, 3), std::out_of_range);
}
