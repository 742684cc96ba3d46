#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <vector>

#include "tapegrad/config.hpp"

namespace tapegrad::detail {

/// A vector whose elements never move: storage grows by whole chunks, so a reference to an
/// element stays valid while more elements are appended (a tape records into itself while
/// its own gradient() walks it) and growing never copies the elements already there.
template <class T, std::size_t ChunkSize = 512>
class ChunkedVector {
 public:
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](std::size_t i) { return chunks_[i / ChunkSize][i % ChunkSize]; }
  const T& operator[](std::size_t i) const { return chunks_[i / ChunkSize][i % ChunkSize]; }
  T& back() { return (*this)[size_ - 1]; }

  /// A default-constructed element at the end, for the caller to fill in.
  TAPEGRAD_ALWAYS_INLINE T& emplace_back() {
    if (TAPEGRAD_UNLIKELY(size_ == chunks_.size() * ChunkSize)) add_chunk();
    return (*this)[size_++];
  }
  /// Resets the last element to a default-constructed one and drops it.
  void pop_back() {
    T& last = (*this)[size_ - 1];
    last.~T();
    new (&last) T();
    --size_;
  }
  /// Drops elements from the end until `n` remain.
  void truncate(std::size_t n) {
    while (size_ > n) pop_back();
  }
  void clear() {
    chunks_.clear();
    size_ = 0;
  }

 private:
  // Out of line: once per ChunkSize appends, and it keeps the append small enough to inline
  // into record().
  TAPEGRAD_NOINLINE void add_chunk() { chunks_.push_back(std::make_unique<T[]>(ChunkSize)); }

  std::vector<std::unique_ptr<T[]>> chunks_;
  std::size_t size_ = 0;
};

}  // namespace tapegrad::detail
