// tapegrad: reverse-mode automatic differentiation of tensors, after tf.GradientTape.
#pragma once

// One line instead of pages of errors from the headers that follow (MSVC reports its
// standard in _MSVC_LANG unless /Zc:__cplusplus is given).
#if defined(_MSVC_LANG) && _MSVC_LANG > __cplusplus
#define TAPEGRAD_CPLUSPLUS _MSVC_LANG
#else
#define TAPEGRAD_CPLUSPLUS __cplusplus
#endif
#if TAPEGRAD_CPLUSPLUS < 201703L
#error \
    "tapegrad needs C++17 or later: compile with -std=c++17 (linking tapegrad::tapegrad in CMake adds it)"
#endif

#define TAPEGRAD_VERSION_MAJOR 0
#define TAPEGRAD_VERSION_MINOR 1
#define TAPEGRAD_VERSION_PATCH 0

#if defined(__GNUC__) || defined(__clang__)
#define TAPEGRAD_LIKELY(x) __builtin_expect(!!(x), 1)
#define TAPEGRAD_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TAPEGRAD_NOINLINE __attribute__((noinline))
#define TAPEGRAD_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define TAPEGRAD_LIKELY(x) (x)
#define TAPEGRAD_UNLIKELY(x) (x)
#define TAPEGRAD_NOINLINE
#define TAPEGRAD_ALWAYS_INLINE inline
#endif

// TAPEGRAD_ASSERT guards internal invariants (NOTE [ CHECK vs ASSERT ] in detail/check.hpp).
#ifdef NDEBUG
#define TAPEGRAD_ASSERT(cond) ((void)0)
#else
#include <cassert>
#define TAPEGRAD_ASSERT(cond) assert(cond)
#endif

// The precompiled part (NOTE [ The precompiled part ] in detail/instantiations.hpp) also holds
// the tape's large non-template functions that run once per gradient() or per report, never
// per op (the reverse sweep, explain(), the memory report, printing). A header defines such a
// function only when TAPEGRAD_HEADER_DEFINITIONS is 1 (always, unless the program links the
// precompiled part), with TAPEGRAD_PRECOMPILED_INLINE: `inline` in a header-only program, and
// nothing in the library, which then holds the one definition.
#if defined(TAPEGRAD_PRECOMPILED) && defined(TAPEGRAD_LIVE_COUNTERS)
#error \
    "tapegrad: TAPEGRAD_LIVE_COUNTERS counts allocations in the headers' code only; do not link tapegrad::precompiled with it"
#endif
#if defined(TAPEGRAD_PRECOMPILED) && !defined(TAPEGRAD_BUILDING_PRECOMPILED)
#define TAPEGRAD_HEADER_DEFINITIONS 0
#else
#define TAPEGRAD_HEADER_DEFINITIONS 1
#endif
#ifdef TAPEGRAD_BUILDING_PRECOMPILED
#define TAPEGRAD_PRECOMPILED_INLINE
#else
#define TAPEGRAD_PRECOMPILED_INLINE inline
#endif
