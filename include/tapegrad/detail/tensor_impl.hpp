#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "tapegrad/config.hpp"
#include "tapegrad/detail/live_counters.hpp"
#include "tapegrad/detail/trace_hooks.hpp"
#include "tapegrad/dtype.hpp"
#include "tapegrad/errors.hpp"
#include "tapegrad/shape.hpp"

namespace tapegrad::detail {

/// "This tensor is node `node` of the tape whose id is `tape_id`."
struct TapeMark {
  std::uint64_t tape_id;
  std::uint32_t node;
};

struct TensorExtras;

// NOTE [ Tensor storage ]
// A tensor is one heap block: this header followed by the elements, so creating a small
// tensor costs one allocation. An alias (a variable read) is a header whose `data` points
// into another block, which it keeps alive through `base`. The header is never shared
// between threads while it is being written: tape marks are only written into a tensor an
// op has just created, before anyone else can see it (watch() keeps its own table, see
// NOTE [ Finding a tensor on a tape ]).
struct TensorImpl {
  TensorImpl(DType element_type, const Shape& dims, std::int64_t elements, void* elements_at,
             TensorImpl* owner)
      : dtype(element_type), shape(dims), size(elements), data(elements_at), base(owner) {}

  std::atomic<std::int32_t> refs{1};
  DType dtype;
  std::uint8_t n_marks = 0;
  Shape shape;
  std::int64_t size;
  void* data;
  TensorImpl* base;
  TapeMark marks[2];
  // Marks beyond the first two, and tangents (NOTE [ Tangents live on their primal ]).
  TensorExtras* extras = nullptr;

  const TapeMark* find_mark(std::uint64_t tape_id) const {
    for (std::uint8_t i = 0; i < n_marks && i < 2; ++i)
      if (marks[i].tape_id == tape_id) return &marks[i];
    return extras ? find_more_marks(tape_id) : nullptr;
  }
  void add_mark(TapeMark mark) {
    if (n_marks < 2) {
      marks[n_marks++] = mark;
      return;
    }
    add_more_mark(mark);
  }
  void remove_mark(std::uint64_t tape_id) {
    if (extras && remove_more_mark(tape_id)) return;
    for (std::uint8_t i = 0; i < n_marks; ++i)
      if (marks[i].tape_id == tape_id) {
        marks[i] = marks[n_marks - 1];
        --n_marks;
        return;
      }
  }

 private:
  // Below TensorExtras: the marks beyond the first two.
  const TapeMark* find_more_marks(std::uint64_t tape_id) const;
  void add_more_mark(TapeMark mark);
  bool remove_more_mark(std::uint64_t tape_id);
};

// NOTE [ Element alignment ]
// Eigen's vectorised loops, even through unaligned maps, start their packets at the first
// element aligned to the packet's width (16 bytes with SSE, 32 with AVX, 64 with AVX-512)
// and compute the elements before it one at a time, and a function's scalar and packet forms
// (sin, exp, tanh ..., a sum's order) round differently. So that no value depends on where
// its buffer is (a replay equals the eager call, a recompute the first pass), a tensor's
// elements of 32 bytes or more start on a 64-byte boundary: their block (from malloc, 16-byte
// aligned on this platform) has room for the header and up to 48 bytes more, and the elements
// start at the first boundary after the header. Fewer than 32 bytes hold no aligned packet wider
// than SSE's, which 16 bytes serve, so small tensors follow their header directly.
constexpr std::size_t element_alignment = 64;
constexpr std::size_t small_elements_bytes = 32;
constexpr std::size_t impl_header_bytes = (sizeof(TensorImpl) + 15) / 16 * 16;
/// How far apart malloc's blocks may start from a 64-byte boundary, at most.
constexpr std::size_t malloc_alignment =
    alignof(std::max_align_t) < 16 ? alignof(std::max_align_t) : 16;
/// The bytes a tensor's block holds besides its `bytes` bytes of elements.
constexpr std::size_t bytes_before_elements(std::size_t bytes) {
  return bytes < small_elements_bytes ? impl_header_bytes
                                      : impl_header_bytes + element_alignment - malloc_alignment;
}
/// Where elements of `bytes` bytes start in `block`.
inline char* elements_in(void* block, std::size_t bytes) {
  char* after_header = static_cast<char*>(block) + impl_header_bytes;
  if (bytes < small_elements_bytes) return after_header;
  const auto at = reinterpret_cast<std::uintptr_t>(after_header);
  return after_header + ((element_alignment - at % element_alignment) % element_alignment);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TAPEGRAD_NO_BLOCK_CACHE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TAPEGRAD_NO_BLOCK_CACHE 1
#endif
#endif

// NOTE [ Block cache ]
// Recording a graph allocates one block per tensor and frees them all when the tape goes,
// and a training step allocates the same large blocks every time. glibc serves both badly:
// small blocks (up to 512 bytes) are larger than its fast bins, and large ones (weights'
// gradients) go back to the kernel on free and come back as fresh pages, page-faulting on
// every step (that alone doubled the MLP step). So each thread keeps free lists: small
// blocks in 64-byte classes, capped at 4 MiB a class; blocks up to 256 MiB in classes of
// four per power of two (at most 25% rounding), capped at 64 MiB in all. A block freed on
// another thread joins that thread's lists. Under sanitizers the cache is off, so that every
// use after free is still caught.
// The cache is plain data, constant-initialised, so that reaching it is one TLS load with no
// initialisation guard; a separate thread-local with a destructor, touched once when the
// first block is cached, empties it when the thread exits.
struct BlockCache {
  static constexpr std::size_t class_bytes = 64;
  static constexpr std::size_t classes = 8;
  static constexpr std::size_t small_limit = class_bytes * classes;
  static constexpr std::size_t max_bytes_per_class = std::size_t{4} << 20;
  static constexpr int large_classes = 4 * (28 - 9 + 1);  // 512 B < size <= 256 MiB
  static constexpr std::size_t max_large_bytes = std::size_t{64} << 20;
  enum State : std::uint8_t { fresh, active, gone };

  // How many blocks class c keeps, as a table: a free would otherwise divide (tens of
  // cycles, on every small tensor freed).
#define TAPEGRAD_BLOCK_LIMIT(c) \
  static_cast<std::uint32_t>(max_bytes_per_class / ((c + 1) * class_bytes))
  static constexpr std::uint32_t block_limits[classes] = {
      TAPEGRAD_BLOCK_LIMIT(0), TAPEGRAD_BLOCK_LIMIT(1), TAPEGRAD_BLOCK_LIMIT(2),
      TAPEGRAD_BLOCK_LIMIT(3), TAPEGRAD_BLOCK_LIMIT(4), TAPEGRAD_BLOCK_LIMIT(5),
      TAPEGRAD_BLOCK_LIMIT(6), TAPEGRAD_BLOCK_LIMIT(7)};
#undef TAPEGRAD_BLOCK_LIMIT
  /// The class of a large block and the size that class allocates; -1 when too large.
  static int large_class(std::size_t bytes, std::size_t& rounded) {
    const int power = 63 - __builtin_clzll(static_cast<unsigned long long>(bytes - 1));
    if (power > 27) return -1;
    const std::size_t base = std::size_t{1} << power, step = base / 4;
    const std::size_t k = (bytes - base + step - 1) / step;  // 1..4
    rounded = base + k * step;
    return (power - 9) * 4 + static_cast<int>(k) - 1;
  }

  void* heads[classes] = {};
  std::uint32_t counts[classes] = {};
  void* large_heads[large_classes] = {};
  std::size_t large_bytes = 0;
  // gone: this thread's cache has been emptied at exit; a tensor freed later (a global,
  // whose destructor runs after the main thread's thread-locals) goes straight to malloc.
  State state = fresh;
};
inline thread_local BlockCache block_cache;

struct BlockCacheDrain {
  BlockCacheDrain() = default;
  BlockCacheDrain(const BlockCacheDrain&) = delete;
  BlockCacheDrain& operator=(const BlockCacheDrain&) = delete;
  ~BlockCacheDrain() {
    BlockCache& cache = block_cache;
    cache.state = BlockCache::gone;
    auto drain = [](void*& head) {
      while (head) {
        void* next = *static_cast<void**>(head);
        std::free(head);
        head = next;
      }
    };
    for (void*& head : cache.heads) drain(head);
    for (void*& head : cache.large_heads) drain(head);
  }
};
inline thread_local BlockCacheDrain block_cache_drain;

/// Whether freed blocks may go to this thread's cache (arranging its draining at exit).
inline bool block_cache_usable(BlockCache& cache) {
  if (TAPEGRAD_LIKELY(cache.state == BlockCache::active)) return true;
  if (cache.state == BlockCache::gone) return false;
  static_cast<void>(&block_cache_drain);  // registers the drain for this thread's exit
  cache.state = BlockCache::active;
  return true;
}

inline void* allocate_block(std::size_t bytes) {
#ifndef TAPEGRAD_NO_BLOCK_CACHE
  BlockCache& cache = block_cache;
  if (cache.state != BlockCache::gone) {
    if (bytes <= BlockCache::small_limit) {
      const std::size_t c = (bytes - 1) / BlockCache::class_bytes;
      if (void* block = cache.heads[c]) {
        cache.heads[c] = *static_cast<void**>(block);
        --cache.counts[c];
        return block;
      }
      bytes = (c + 1) * BlockCache::class_bytes;
    } else {
      std::size_t rounded = bytes;
      const int c = BlockCache::large_class(bytes, rounded);
      if (c >= 0) {
        if (void* block = cache.large_heads[c]) {
          cache.large_heads[c] = *static_cast<void**>(block);
          cache.large_bytes -= rounded;
          return block;
        }
        bytes = rounded;
      }
    }
  }
#endif
  void* block = std::malloc(bytes);
  if (!block) throw std::bad_alloc();
  return block;
}

inline void free_block(void* block, std::size_t bytes) noexcept {
#ifndef TAPEGRAD_NO_BLOCK_CACHE
  BlockCache& cache = block_cache;
  if (block_cache_usable(cache)) {
    if (bytes <= BlockCache::small_limit) {
      const std::size_t c = (bytes - 1) / BlockCache::class_bytes;
      if (cache.counts[c] < BlockCache::block_limits[c]) {
        *static_cast<void**>(block) = cache.heads[c];
        cache.heads[c] = block;
        ++cache.counts[c];
        return;
      }
    } else {
      std::size_t rounded = bytes;
      const int c = BlockCache::large_class(bytes, rounded);
      if (c >= 0 && cache.large_bytes + rounded <= BlockCache::max_large_bytes) {
        *static_cast<void**>(block) = cache.large_heads[c];
        cache.large_heads[c] = block;
        cache.large_bytes += rounded;
        return;
      }
    }
  }
#else
  (void)bytes;
#endif
  std::free(block);
}

inline std::size_t block_bytes(const TensorImpl* impl) {
  return impl->base || impl->data == nullptr
             ? sizeof(TensorImpl)
             : bytes_before_elements(static_cast<std::size_t>(impl->size) *
                                     dtype_size(impl->dtype)) +
                   static_cast<std::size_t>(impl->size) * dtype_size(impl->dtype);
}

/// The bytes a tensor of `shape` needs; throws value_error when the count overflows.
[[noreturn]] TAPEGRAD_NOINLINE inline void throw_too_large(const Shape& shape) {
  detail::fail<value_error>("Tensor: shape ", shape, " needs more bytes than memory can hold");
}

/// The bytes of a block for `shape`'s elements and their count, or a value_error when they
/// would not fit in memory (the count or the byte size overflowing 64 bits, or above 2^62).
inline std::size_t checked_block_bytes(DType dtype, const Shape& shape, std::int64_t& elements) {
  std::uint64_t n = 1;
  bool overflow = false;
  for (std::int64_t d : shape)
    overflow |= __builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n);
  std::uint64_t bytes = 0;
  overflow |= __builtin_mul_overflow(n, std::uint64_t{dtype_size(dtype)}, &bytes);
  if (TAPEGRAD_UNLIKELY(overflow || bytes > (std::uint64_t{1} << 62))) throw_too_large(shape);
  elements = static_cast<std::int64_t>(n);
  return bytes_before_elements(static_cast<std::size_t>(bytes)) + static_cast<std::size_t>(bytes);
}

/// A new tensor of `shape` with uninitialised elements.
inline TensorImpl* allocate_impl(DType dtype, const Shape& shape) {
  std::int64_t size = 0;
  const std::size_t bytes = checked_block_bytes(dtype, shape, size);
  void* block = allocate_block(bytes);
  TAPEGRAD_COUNT(tensors, 1);
  TAPEGRAD_COUNT(bytes, bytes);
  TensorImpl* impl = new (block)
      TensorImpl(dtype, shape, size,
                 elements_in(block, static_cast<std::size_t>(size) * dtype_size(dtype)), nullptr);
  if (TAPEGRAD_UNLIKELY(trace_hooks != nullptr)) trace_hooks->on_allocated(impl);
  return impl;
}

/// A header that shows `base`'s elements under `shape` (same element count) without copying.
inline TensorImpl* allocate_alias(TensorImpl* base, const Shape& shape) {
  void* block = allocate_block(sizeof(TensorImpl));
  TAPEGRAD_COUNT(tensors, 1);
  TAPEGRAD_COUNT(bytes, sizeof(TensorImpl));
  base->refs.fetch_add(1, std::memory_order_relaxed);
  return new (block) TensorImpl(base->dtype, shape, base->size, base->data, base);
}

/// A header with `x`'s type and shape and no elements (`data` is null), which a tape entry
/// keeps when its rules read only the shape (NOTE [ Saving a shape ]).
inline TensorImpl* allocate_shape_only(const TensorImpl& x) {
  void* block = allocate_block(sizeof(TensorImpl));
  TAPEGRAD_COUNT(tensors, 1);
  TAPEGRAD_COUNT(bytes, sizeof(TensorImpl));
  TensorImpl* impl = new (block) TensorImpl(x.dtype, x.shape, x.size, nullptr, nullptr);
  note_host_values(impl);  // no elements: nothing a trace could miss (its block may be reused)
  return impl;
}

// Out of line: tensors without extras, nearly all, keep a lean release path. A template, so
// that TensorExtras (defined below) is complete where it is instantiated.
template <class Extras>
TAPEGRAD_NOINLINE void delete_extras(Extras* extras) noexcept {
  delete extras;
}

inline void release_impl(TensorImpl* impl) noexcept {
  // The last owner can skip the atomic decrement: holding the only reference, it races with
  // nobody (a new reference is only ever copied from an existing one).
  while (impl && (impl->refs.load(std::memory_order_acquire) == 1 ||
                  impl->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)) {
    TensorImpl* base = impl->base;
    const std::size_t bytes = block_bytes(impl);
    TAPEGRAD_COUNT(tensors, -1);
    TAPEGRAD_COUNT(bytes, -static_cast<std::int64_t>(bytes));
    if (impl->extras) delete_extras(impl->extras);
    impl->~TensorImpl();
    free_block(impl, bytes);
    impl = base;
  }
}

/// An owning, type-erased reference to a TensorImpl (an intrusive shared pointer).
class ImplRef {
 public:
  ImplRef() = default;
  /// Takes over one reference that the caller already owns.
  static ImplRef adopt(TensorImpl* impl) noexcept {
    ImplRef r;
    r.impl_ = impl;
    return r;
  }
  /// Adds a reference of its own.
  static ImplRef share(TensorImpl* impl) noexcept {
    if (impl) impl->refs.fetch_add(1, std::memory_order_relaxed);
    return adopt(impl);
  }
  ImplRef(const ImplRef& other) noexcept : impl_(other.impl_) {
    if (impl_) impl_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  ImplRef(ImplRef&& other) noexcept : impl_(std::exchange(other.impl_, nullptr)) {}
  ImplRef& operator=(const ImplRef& other) noexcept {
    ImplRef(other).swap(*this);
    return *this;
  }
  ImplRef& operator=(ImplRef&& other) noexcept {
    ImplRef(std::move(other)).swap(*this);
    return *this;
  }
  ~ImplRef() { release_impl(impl_); }

  void swap(ImplRef& other) noexcept { std::swap(impl_, other.impl_); }
  TensorImpl* get() const noexcept { return impl_; }
  TensorImpl* operator->() const noexcept { return impl_; }
  explicit operator bool() const noexcept { return impl_ != nullptr; }
  void reset() noexcept { ImplRef().swap(*this); }
  /// Gives up the reference without releasing it: the caller owns it now.
  [[nodiscard]] TensorImpl* release() noexcept { return std::exchange(impl_, nullptr); }

 private:
  TensorImpl* impl_ = nullptr;
};

// NOTE [ Tangents live on their primal ]
// A forward accumulator (forward_accumulator.hpp) gives each tensor computed from its primals
// a tangent. The tangent hangs on the tensor it belongs to, under the accumulator's id, so it
// lives exactly as long as its primal: forward mode keeps no tape, and its memory does not
// grow with the length of the computation. It is written only into a tensor an op has just
// created, before anyone else can see it (as tape marks are, NOTE [ Tensor storage ]), and an
// accumulator's id is never reused, so a tangent left by one that has ended matches nothing
// and goes with its tensor. Kept out of line with the marks beyond two, so that tensors
// without either pay one null pointer.
struct TensorExtras {
  struct Tangent {
    std::uint64_t accumulator_id;  // 0: none (ids start at 1)
    ImplRef tangent;
  };
  Tangent first{0, {}};  // one accumulator is the common case: no second allocation
  std::vector<Tangent> more_tangents;
  std::vector<TapeMark> marks;

  // From the block cache: forward mode makes one per op. Counted with the tensors' bytes.
  static void* operator new(std::size_t bytes) {
    void* block = allocate_block(bytes);
    TAPEGRAD_COUNT(bytes, bytes);
    return block;
  }
  static void operator delete(void* block, std::size_t bytes) noexcept {
    TAPEGRAD_COUNT(bytes, -static_cast<std::int64_t>(bytes));
    free_block(block, bytes);
  }
};

inline const TapeMark* TensorImpl::find_more_marks(std::uint64_t tape_id) const {
  for (const TapeMark& m : extras->marks)
    if (m.tape_id == tape_id) return &m;
  return nullptr;
}
inline void TensorImpl::add_more_mark(TapeMark mark) {
  if (!extras) extras = new TensorExtras();
  extras->marks.push_back(mark);
}
inline bool TensorImpl::remove_more_mark(std::uint64_t tape_id) {
  for (auto it = extras->marks.begin(); it != extras->marks.end(); ++it)
    if (it->tape_id == tape_id) {
      extras->marks.erase(it);
      return true;
    }
  return false;
}

/// The tangent `accumulator_id` gave `x`, or null.
inline const ImplRef* find_tangent(const TensorImpl& x, std::uint64_t accumulator_id) {
  const TensorExtras* extras = x.extras;
  if (TAPEGRAD_LIKELY(extras == nullptr)) return nullptr;
  if (extras->first.accumulator_id == accumulator_id) return &extras->first.tangent;
  for (const TensorExtras::Tangent& t : extras->more_tangents)
    if (t.accumulator_id == accumulator_id) return &t.tangent;
  return nullptr;
}

/// Gives `x`, which an op has just created, the tangent `tangent` from `accumulator_id`.
inline void attach_tangent(TensorImpl& x, std::uint64_t accumulator_id, ImplRef tangent) {
  if (!x.extras) x.extras = new TensorExtras();
  TensorExtras& extras = *x.extras;
  if (extras.first.accumulator_id == 0 || extras.first.accumulator_id == accumulator_id) {
    extras.first = {accumulator_id, std::move(tangent)};
    return;
  }
  for (TensorExtras::Tangent& t : extras.more_tangents)
    if (t.accumulator_id == accumulator_id) {
      t.tangent = std::move(tangent);
      return;
    }
  extras.more_tangents.push_back({accumulator_id, std::move(tangent)});
}

}  // namespace tapegrad::detail
