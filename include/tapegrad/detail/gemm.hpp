#pragma once

#include <Eigen/Core>

#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <type_traits>

#if defined(TAPEGRAD_BLAS) && TAPEGRAD_BLAS
#if defined(TAPEGRAD_PRECOMPILED)
#error \
    "tapegrad::precompiled holds Eigen's products: link tapegrad::blas or tapegrad::precompiled, not both"
#endif
#include <cblas.h>

#include <string>

#include "tapegrad/warning.hpp"
#endif

// NOTE [ One GEMM for every product ]
// matmul, batch_matmul and conv2d (its forward and both backprops) compute their products, and
// through them their gradients, with gemm() below: Eigen's GEMM by default, or a BLAS library's
// cblas_sgemm / cblas_dgemm where the program links tapegrad::blas (CMake option TAPEGRAD_BLAS
// = OpenBLAS or BLIS), which defines TAPEGRAD_BLAS. The transposes are folded into the call, so
// no operand is copied. Products below blas_min_work multiply-adds stay on Eigen, where a BLAS
// call's fixed cost (argument checks, thread set-up) would dominate; the choice depends on the
// sizes alone, so a result never depends on anything else. Every translation unit of a program
// must make the same choice (link tapegrad::blas everywhere or nowhere), as the inline
// functions' bodies differ. Eigen 3.4's own EIGEN_USE_BLAS is not used: it turns off Eigen's
// OpenMP GEMM threading and never reaches Eigen::Tensor contractions.
namespace tapegrad::detail {

/// Products of at least this many multiply-adds go to the BLAS library when one is linked.
inline constexpr std::int64_t blas_min_work = 32 * 32 * 32;

/// Whether gemm() may call the BLAS library (when one is linked); tests turn it off to compare
/// the two paths in one program.
inline bool& blas_enabled() {
  static bool enabled = true;
  return enabled;
}
/// How many products gemm() has sent to the BLAS library, for tests to see that it ran.
inline std::atomic<std::uint64_t>& blas_calls() {
  static std::atomic<std::uint64_t> calls{0};
  return calls;
}

#if defined(TAPEGRAD_BLAS) && TAPEGRAD_BLAS && defined(TAPEGRAD_BLAS_OPENBLAS)
// NOTE [ OpenBLAS on an unknown CPU ]
// OpenBLAS picks its kernels from the CPU's family and model when it loads. Under a hypervisor
// that reports an unknown model it falls back to "Prescott", its generic SSE3 kernels: on the
// AVX-512 machine the benchmarks ran on, Debian's OpenBLAS 0.3.21 did so, and the MLP step ran
// 4.5x slower than on Eigen. OPENBLAS_CORETYPE (SkylakeX, Haswell, ...) chooses the kernels
// instead. The library cannot set it (OpenBLAS reads it before main), so the first product on
// the BLAS says so, once.
inline void check_openblas_kernels() {
  static const bool checked = [] {
    const std::string core = openblas_get_corename();
#if defined(__x86_64__) || defined(__i386__)
    if ((core == "Prescott" || core == "Core2" || core == "Katmai") &&
        __builtin_cpu_supports("avx2"))
      warn("OpenBLAS runs its generic '" + core +
           "' kernels on a CPU with AVX2 (it did not recognise the CPU model): its products are "
           "several times slower than they could be; set OPENBLAS_CORETYPE=Haswell (AVX2) or "
           "SkylakeX (AVX-512) in the environment");
#endif
    return true;
  }();
  (void)checked;
}
#endif

// NOTE [ Packing buffers of one thread ]
// Eigen's GEMM packs panels of its operands into buffers that it takes from the stack when
// they are small and from malloc otherwise (above 128 KiB, as in any product of a 784-wide
// layer), at every call. A replay calls malloc zero times (NOTE [ A replay's memory ]), so a
// product that Eigen would give to its GEMM runs the same GEMM (the same kernel, blocking and
// threading, so the same bits) through gemm_blocked() below, with buffers that each thread
// keeps and grows, 64-byte aligned. Small products and products with one row or column stay
// on Eigen's expressions, which allocate nothing. With OpenMP threads on one product, Eigen
// packs B per thread itself, and from malloc when the panel is large.

/// A thread's packing buffers: two blocks that only grow.
class PackingBuffers {
 public:
  ~PackingBuffers() {
    for (Block& b : blocks_) std::free(b.data);
  }
  /// Block `which` (0 or 1), at least `bytes` long.
  void* get(int which, std::size_t bytes) {
    Block& b = blocks_[which];
    if (b.bytes < bytes) {
      const std::size_t rounded = (bytes + 63) / 64 * 64;
      void* data = std::aligned_alloc(64, rounded);
      if (data == nullptr) throw std::bad_alloc();
      std::free(b.data);
      b = Block{data, rounded};
    }
    return b.data;
  }
  static PackingBuffers& of_this_thread() {
    thread_local PackingBuffers buffers;
    return buffers;
  }

 private:
  struct Block {
    void* data = nullptr;
    std::size_t bytes = 0;
  };
  Block blocks_[2];
};

/// Eigen's blocking of a product into a row-major destination (gemm_blocking_space's sizes),
/// with its panels in this thread's packing buffers.
template <class T>
class ThreadBlocking : public Eigen::internal::level3_blocking<T, T> {
 public:
  ThreadBlocking(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth) {
    this->m_mc = cols;  // a row-major product is computed as its column-major transpose
    this->m_nc = rows;
    this->m_kc = depth;
    Eigen::internal::computeProductBlockingSizes<T, T, 1, Eigen::Index>(this->m_kc, this->m_mc,
                                                                        this->m_nc, 1);
    allocateAll();
  }
  void initParallel(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth,
                    Eigen::Index threads) {
    this->m_mc = cols;
    this->m_nc = rows;
    this->m_kc = depth;
    Eigen::Index m = this->m_mc;
    Eigen::internal::computeProductBlockingSizes<T, T, 1, Eigen::Index>(this->m_kc, m, this->m_nc,
                                                                        threads);
    // Eigen's parallel GEMM packs A here (allocateA, next) and B per thread on its own.
    this->m_blockA = nullptr;
    this->m_blockB = nullptr;
  }
  void allocateA() {
    if (this->m_blockA == nullptr)
      this->m_blockA = static_cast<T*>(PackingBuffers::of_this_thread().get(
          0, sizeof(T) * static_cast<std::size_t>(this->m_mc * this->m_kc)));
  }
  void allocateB() {
    if (this->m_blockB == nullptr)
      this->m_blockB = static_cast<T*>(PackingBuffers::of_this_thread().get(
          1, sizeof(T) * static_cast<std::size_t>(this->m_kc * this->m_nc)));
  }
  void allocateAll() {
    allocateA();
    allocateB();
  }
};

/// C (m x n, row-major) += op(A) op(B) with Eigen's GEMM in this thread's packing buffers;
/// `Lhs` and `Rhs` are maps whose storage orders carry the transposes.
template <class T, class Lhs, class Rhs, class Dest>
void gemm_blocked(const Lhs& lhs, const Rhs& rhs, Dest& dst) {
  using Gemm = Eigen::internal::general_matrix_matrix_product<
      Eigen::Index, T, (Lhs::Flags & Eigen::RowMajorBit) ? Eigen::RowMajor : Eigen::ColMajor, false,
      T, (Rhs::Flags & Eigen::RowMajorBit) ? Eigen::RowMajor : Eigen::ColMajor, false,
      Eigen::RowMajor, 1>;
  using Functor =
      Eigen::internal::gemm_functor<T, Eigen::Index, Gemm, Lhs, Rhs, Dest, ThreadBlocking<T>>;
  ThreadBlocking<T> blocking(dst.rows(), dst.cols(), lhs.cols());
  Eigen::internal::parallelize_gemm<true>(Functor(lhs, rhs, dst, T(1), blocking), lhs.rows(),
                                          rhs.cols(), lhs.cols(), /*transpose=*/true);
}

/// C = op(A) op(B), or C += op(A) op(B) when `accumulate`, all row-major and contiguous: C is
/// m x n; A is stored m x k, or k x m when `transpose_a` (then op(A) is its transpose); B is
/// stored k x n, or n x k when `transpose_b`.
///   gemm<float>(false, true, m, n, k, a, b, c, false);   // c = a * b^T
template <class T>
void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k,
          const T* a, const T* b, T* c, bool accumulate) {
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const auto em = static_cast<Eigen::Index>(m), en = static_cast<Eigen::Index>(n),
             ek = static_cast<Eigen::Index>(k);
  Eigen::Map<Matrix> C(c, em, en);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate) C.setZero();
    return;
  }
#if defined(TAPEGRAD_BLAS) && TAPEGRAD_BLAS
  // The work in double: m * n * k may not fit 64 bits.
  if (blas_enabled() && m <= INT_MAX && n <= INT_MAX && k <= INT_MAX &&
      static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) >=
          static_cast<double>(blas_min_work)) {
#if defined(TAPEGRAD_BLAS_OPENBLAS)
    check_openblas_kernels();
#endif
    blas_calls().fetch_add(1, std::memory_order_relaxed);
    const auto trans = [](bool t) { return t ? CblasTrans : CblasNoTrans; };
    const int lda = static_cast<int>(transpose_a ? m : k);
    const int ldb = static_cast<int>(transpose_b ? k : n);
    const T beta = accumulate ? T(1) : T(0);
    if constexpr (std::is_same_v<T, float>)
      cblas_sgemm(CblasRowMajor, trans(transpose_a), trans(transpose_b), static_cast<int>(m),
                  static_cast<int>(n), static_cast<int>(k), 1.0f, a, lda, b, ldb, beta, c,
                  static_cast<int>(n));
    else
      cblas_dgemm(CblasRowMajor, trans(transpose_a), trans(transpose_b), static_cast<int>(m),
                  static_cast<int>(n), static_cast<int>(k), 1.0, a, lda, b, ldb, beta, c,
                  static_cast<int>(n));
    return;
  }
#endif
  // op(A) as an m x k map: A itself, or, transposed, the column-major view of its storage.
  using ColMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
  auto product = [&](const auto& lhs, const auto& rhs) {
    // Eigen's own choice (GeneralMatrixMatrix.h): tiny products coefficient by coefficient, a
    // row or a column as GEMV, the rest on its GEMM, here with packing buffers of ours.
    if (k + m + n < EIGEN_GEMM_TO_COEFFBASED_THRESHOLD || m == 1 || n == 1) {
      if (accumulate)
        C.noalias() += lhs * rhs;
      else
        C.noalias() = lhs * rhs;
      return;
    }
    if (!accumulate) C.setZero();
    gemm_blocked<T>(lhs, rhs, C);
  };
  auto with_rhs = [&](const auto& lhs) {
    if (transpose_b)
      product(lhs, Eigen::Map<const ColMatrix>(b, ek, en));
    else
      product(lhs, Eigen::Map<const Matrix>(b, ek, en));
  };
  if (transpose_a)
    with_rhs(Eigen::Map<const ColMatrix>(a, em, ek));
  else
    with_rhs(Eigen::Map<const Matrix>(a, em, ek));
}

}  // namespace tapegrad::detail
