#pragma once

#include <cstddef>
#include <new>

// NOTE [ The replay arena ]
// The values a replay keeps out of tensors (NOTE [ A replay's memory plan ]) live in one
// buffer of this thread's, borrowed for the replay and kept for the next one, so that the
// steady state allocates nothing. It grows to the largest plan the thread has replayed and
// is freed when the thread ends, or after a replay that needed more than `kept_bytes` (a
// plan that large pays one allocation per replay rather than pin the memory). A replay that
// starts while one is under way on the thread (a learning-rate schedule that calls a traced
// function) gets a buffer of its own. Buffers are 64-byte aligned, and every planned value
// in them is aligned as a tensor's elements are (NOTE [ Element alignment ]): Eigen's
// vectorised loops start at the first aligned element, so values in the same place relative to
// alignment are computed in the same order.
namespace tapegrad::detail {

/// A buffer of at least `bytes` bytes, 64-byte aligned, for one replay on this thread.
///   ArenaLease arena(program.arena_bytes);  char* base = arena.data();
class ArenaLease {
 public:
  static constexpr std::size_t alignment = 64;
  static constexpr std::size_t kept_bytes = std::size_t{64} << 20;

  explicit ArenaLease(std::size_t bytes) {
    if (bytes == 0) return;
    ThreadArena& arena = this_thread();
    if (arena.busy) {
      data_ = allocate(bytes);
      owned_ = true;
      return;
    }
    if (arena.bytes < bytes) {
      arena.release();
      arena.data = allocate(bytes);
      arena.bytes = bytes;
    }
    arena.busy = true;
    data_ = arena.data;
  }
  ~ArenaLease() {
    if (data_ == nullptr) return;
    if (owned_) {
      ::operator delete (data_, std::align_val_t{alignment});
      return;
    }
    ThreadArena& arena = this_thread();
    arena.busy = false;
    if (arena.bytes > kept_bytes) arena.release();
  }
  ArenaLease(const ArenaLease&) = delete;
  ArenaLease& operator=(const ArenaLease&) = delete;

  char* data() const { return data_; }

 private:
  struct ThreadArena {
    char* data = nullptr;
    std::size_t bytes = 0;
    bool busy = false;
    void release() {
      if (data != nullptr) ::operator delete (data, std::align_val_t{alignment});
      data = nullptr;
      bytes = 0;
    }
    ~ThreadArena() { release(); }
  };
  static ThreadArena& this_thread() {
    thread_local ThreadArena arena;
    return arena;
  }
  static char* allocate(std::size_t bytes) {
    return static_cast<char*>(::operator new (bytes, std::align_val_t{alignment}));
  }

  char* data_ = nullptr;
  bool owned_ = false;
};

}  // namespace tapegrad::detail
