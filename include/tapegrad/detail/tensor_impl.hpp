#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
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
/// What find_mark() gives for a tensor that is no node of the tape.
constexpr std::uint32_t no_mark = 0xffffffffu;

struct TensorExtras;

// NOTE [ Tensor storage ]
// A tensor is one heap block: this header followed by the elements, so creating a small
// tensor costs one allocation. An alias (a variable read) is a header whose `data` points
// into another block, which it keeps alive through `base`. The header is never shared
// between threads while it is being written: tape marks are only written into a tensor an
// op has just created, before anyone else can see it (watch() keeps its own table, see
// NOTE [ Finding a tensor on a tape ]).
// The header is one 64-byte cache line, because a tape keeps a tensor or two per op alive and
// recording, the sweep and releasing them touch every header. It holds a compact shape inline
// (rank at most 4, the element count below 2^32) and one tape mark, the tape that made the
// tensor; a wide shape and further marks live out of line, in TensorExtras.
struct TensorImpl {
  static constexpr int compact_rank = 4;

  /// Throws std::bad_alloc (a wide shape's TensorExtras) before anything needs undoing.
  TensorImpl(DType element_type, const Shape& dims, void* elements_at, TensorImpl* owner);
  /// A header with the shape of `shaped_like`; throws as the other.
  TensorImpl(DType element_type, const TensorImpl& shaped_like, void* elements_at,
             TensorImpl* owner);
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;

  std::atomic<std::int32_t> refs{1};
  DType dtype;
  std::uint8_t rank;
  bool wide;              // the shape and element count are in `extras`
  bool has_mark = false;  // `mark_tape` and `mark_node` hold a mark
  void* data;
  TensorImpl* base;
  // A wide shape, marks beyond the first, and tangents (NOTE [ Tangents live on their
  // primal ]).
  TensorExtras* extras = nullptr;
  std::uint64_t mark_tape = 0;
  std::uint32_t mark_node = 0;
  std::uint32_t compact_size = 0;
  std::uint32_t compact_dims[compact_rank] = {};

  /// The number of elements.
  std::int64_t size() const { return TAPEGRAD_LIKELY(!wide) ? compact_size : wide_size(); }
  /// The dimensions, outermost first.
  Shape shape() const;
  /// Whether `other` has the same dimensions.
  bool same_shape(const TensorImpl& other) const;

  /// The node this tensor is on the tape `tape_id`, or no_mark.
  std::uint32_t find_mark(std::uint64_t tape_id) const {
    if (has_mark && mark_tape == tape_id) return mark_node;
    return extras ? find_more_marks(tape_id) : no_mark;
  }
  /// Whether any tape, live or gone, has marked this tensor.
  bool marked() const { return has_mark || (extras && any_more_marks()); }
  void add_mark(TapeMark mark) {
    if (!has_mark) {
      mark_tape = mark.tape_id;
      mark_node = mark.node;
      has_mark = true;
      return;
    }
    add_more_mark(mark);
  }
  void remove_mark(std::uint64_t tape_id) {
    if (extras && remove_more_mark(tape_id)) return;
    if (has_mark && mark_tape == tape_id) has_mark = false;
  }

 private:
  // Below TensorExtras.
  void set_wide_shape(const Shape& dims);
  bool same_wide_shape(const TensorImpl& other) const;
  std::int64_t wide_size() const;
  std::uint32_t find_more_marks(std::uint64_t tape_id) const;
  bool any_more_marks() const;
  void add_more_mark(TapeMark mark);
  bool remove_more_mark(std::uint64_t tape_id);
};
static_assert(sizeof(void*) != 8 || sizeof(TensorImpl) == 64, "a tensor header is one cache line");

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
// blocks in 16-byte classes (a header and a few elements take 80 bytes, not 128), capped at
// 2 MiB a class (64 MiB in all); blocks up to 256 MiB in classes of four per power of two (at most
// 25% rounding), capped at 64 MiB in all. A block freed on another thread joins that thread's
// lists. Under sanitizers the cache is off, so that every use after free is still caught.
// The cache is plain data, constant-initialised, so that reaching it is one TLS load with no
// initialisation guard; a separate thread-local with a destructor, touched once when the
// first block is cached, empties it when the thread exits.
struct BlockCache {
  static constexpr std::size_t class_bytes = 16;
  static constexpr std::size_t classes = 32;
  static constexpr std::size_t small_limit = class_bytes * classes;
  static constexpr std::size_t max_bytes_per_class = std::size_t{2} << 20;
  static constexpr int large_classes = 4 * (28 - 9 + 1);  // 512 B < size <= 256 MiB
  static constexpr std::size_t max_large_bytes = std::size_t{64} << 20;
  enum State : std::uint8_t { fresh, active, gone };

  // How many blocks class c keeps, as a table: a free would otherwise divide (tens of
  // cycles, on every small tensor freed).
  static constexpr std::array<std::uint32_t, classes> block_limits = [] {
    std::array<std::uint32_t, classes> limits{};
    for (std::size_t c = 0; c < classes; ++c)
      limits[c] = static_cast<std::uint32_t>(max_bytes_per_class / ((c + 1) * class_bytes));
    return limits;
  }();
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

TAPEGRAD_ALWAYS_INLINE void* allocate_block(std::size_t bytes) {
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
  if (impl->base || impl->data == nullptr) return sizeof(TensorImpl);
  const std::size_t bytes = static_cast<std::size_t>(impl->size()) * dtype_size(impl->dtype);
  return bytes_before_elements(bytes) + bytes;
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

/// Builds a header in `block` (of `bytes` bytes), or frees the block if that throws.
inline TensorImpl* construct_impl(void* block, std::size_t bytes, DType dtype, const Shape& shape,
                                  void* data, TensorImpl* base) {
  try {
    return new (block) TensorImpl(dtype, shape, data, base);
  } catch (...) {
    free_block(block, bytes);
    throw;
  }
}

/// A new tensor of `shape` with uninitialised elements.
inline TensorImpl* allocate_impl(DType dtype, const Shape& shape) {
  std::int64_t size = 0;
  const std::size_t bytes = checked_block_bytes(dtype, shape, size);
  void* block = allocate_block(bytes);
  TensorImpl* impl = construct_impl(
      block, bytes, dtype, shape,
      elements_in(block, static_cast<std::size_t>(size) * dtype_size(dtype)), nullptr);
  TAPEGRAD_COUNT(tensors, 1);
  TAPEGRAD_COUNT(bytes, bytes);
  if (TAPEGRAD_UNLIKELY(trace_hooks != nullptr)) trace_hooks->on_allocated(impl);
  return impl;
}

/// A new tensor of `dtype` with the shape of `shaped_like` and uninitialised elements: what an
/// elementwise op makes, without building a Shape.
inline TensorImpl* allocate_like(DType dtype, const TensorImpl& shaped_like) {
  if (TAPEGRAD_UNLIKELY(shaped_like.wide)) return allocate_impl(dtype, shaped_like.shape());
  // Below 2^32 elements of at most 8 bytes: no overflow.
  const std::size_t elements = std::size_t{shaped_like.compact_size} * dtype_size(dtype);
  const std::size_t bytes = bytes_before_elements(elements) + elements;
  void* block = allocate_block(bytes);
  TensorImpl* impl =
      new (block) TensorImpl(dtype, shaped_like, elements_in(block, elements), nullptr);
  TAPEGRAD_COUNT(tensors, 1);
  TAPEGRAD_COUNT(bytes, bytes);
  if (TAPEGRAD_UNLIKELY(trace_hooks != nullptr)) trace_hooks->on_allocated(impl);
  return impl;
}

/// A header that shows `base`'s elements under `shape` (same element count) without copying.
inline TensorImpl* allocate_alias(TensorImpl* base, const Shape& shape) {
  void* block = allocate_block(sizeof(TensorImpl));
  TensorImpl* impl =
      construct_impl(block, sizeof(TensorImpl), base->dtype, shape, base->data, base);
  TAPEGRAD_COUNT(tensors, 1);
  TAPEGRAD_COUNT(bytes, sizeof(TensorImpl));
  base->refs.fetch_add(1, std::memory_order_relaxed);
  return impl;
}

/// A header with `x`'s type and shape and no elements (`data` is null), which a tape entry
/// keeps when its rules read only the shape (NOTE [ Saving a shape ]).
inline TensorImpl* allocate_shape_only(const TensorImpl& x) {
  void* block = allocate_block(sizeof(TensorImpl));
  TensorImpl* impl =
      construct_impl(block, sizeof(TensorImpl), x.dtype, x.shape(), nullptr, nullptr);
  TAPEGRAD_COUNT(tensors, 1);
  TAPEGRAD_COUNT(bytes, sizeof(TensorImpl));
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
// and goes with its tensor. Kept out of line with the marks beyond the first and a wide
// shape, so that tensors with none of these pay one null pointer.
struct TensorExtras {
  struct Tangent {
    std::uint64_t accumulator_id;  // 0: none (ids start at 1)
    ImplRef tangent;
  };
  Tangent first{0, {}};  // one accumulator is the common case: no second allocation
  std::vector<Tangent> more_tangents;
  // Marks beyond the header's one: a second (two tapes recording at once is the common case
  // of nesting: no vector), then the rest. A tape_id of 0 is none (ids start at 1).
  TapeMark second_mark{0, 0};
  std::vector<TapeMark> marks;
  std::unique_ptr<const Shape> wide_shape;  // when the header's `wide` is set

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

inline TensorImpl::TensorImpl(DType element_type, const Shape& dims, void* elements_at,
                              TensorImpl* owner)
    : dtype(element_type),
      rank(static_cast<std::uint8_t>(dims.rank())),
      data(elements_at),
      base(owner) {
  std::uint64_t size = 1;
  wide = dims.rank() > compact_rank;
  for (int i = 0; i < dims.rank() && !wide; ++i) {
    size *= static_cast<std::uint64_t>(dims[i]);  // cannot overflow (NOTE in shape.hpp)
    wide = size > 0xffffffffu || static_cast<std::uint64_t>(dims[i]) > 0xffffffffu;
  }
  if (TAPEGRAD_UNLIKELY(wide)) {
    set_wide_shape(dims);
    return;
  }
  compact_size = static_cast<std::uint32_t>(size);
  for (int i = 0; i < dims.rank(); ++i) compact_dims[i] = static_cast<std::uint32_t>(dims[i]);
}

inline TensorImpl::TensorImpl(DType element_type, const TensorImpl& shaped_like, void* elements_at,
                              TensorImpl* owner)
    : dtype(element_type),
      rank(shaped_like.rank),
      wide(shaped_like.wide),
      data(elements_at),
      base(owner),
      compact_size(shaped_like.compact_size) {
  if (TAPEGRAD_UNLIKELY(wide)) {
    set_wide_shape(shaped_like.shape());
    return;
  }
  for (int i = 0; i < compact_rank; ++i) compact_dims[i] = shaped_like.compact_dims[i];
}

TAPEGRAD_NOINLINE inline void TensorImpl::set_wide_shape(const Shape& dims) {
  wide = true;
  auto more = std::make_unique<TensorExtras>();
  more->wide_shape = std::make_unique<const Shape>(dims);
  extras = more.release();
}

inline Shape TensorImpl::shape() const {
  if (TAPEGRAD_UNLIKELY(wide)) return *extras->wide_shape;
  return Shape(compact_dims, rank);
}

TAPEGRAD_ALWAYS_INLINE bool TensorImpl::same_shape(const TensorImpl& other) const {
  if (TAPEGRAD_UNLIKELY(wide || other.wide)) return same_wide_shape(other);
  // The dimensions beyond the rank are 0 in every compact header.
  return rank == other.rank &&
         std::memcmp(compact_dims, other.compact_dims, sizeof(compact_dims)) == 0;
}
TAPEGRAD_NOINLINE inline bool TensorImpl::same_wide_shape(const TensorImpl& other) const {
  return shape() == other.shape();
}

TAPEGRAD_NOINLINE inline std::int64_t TensorImpl::wide_size() const {
  return extras->wide_shape->size();
}
inline std::uint32_t TensorImpl::find_more_marks(std::uint64_t tape_id) const {
  if (extras->second_mark.tape_id == tape_id) return extras->second_mark.node;
  for (const TapeMark& m : extras->marks)
    if (m.tape_id == tape_id) return m.node;
  return no_mark;
}
inline bool TensorImpl::any_more_marks() const {
  return extras->second_mark.tape_id != 0 || !extras->marks.empty();
}
inline void TensorImpl::add_more_mark(TapeMark mark) {
  if (!extras) extras = new TensorExtras();
  if (extras->second_mark.tape_id == 0)
    extras->second_mark = mark;
  else
    extras->marks.push_back(mark);
}
inline bool TensorImpl::remove_more_mark(std::uint64_t tape_id) {
  if (extras->second_mark.tape_id == tape_id) {
    extras->second_mark = TapeMark{0, 0};
    return true;
  }
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
