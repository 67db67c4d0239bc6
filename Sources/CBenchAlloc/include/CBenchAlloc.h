// CBenchAlloc: counts heap allocations made by the whole process while counting is on.
//
// The bench executable defines malloc, calloc, realloc, free, posix_memalign, aligned_alloc and memalign
// itself. Because the executable is first in the dynamic linker's search order, every shared object (the
// Swift runtime, Foundation, libdispatch) calls these instead of libc's; they forward to glibc's
// __libc_* entry points, so no dlsym bootstrap is needed. Counting is off by default and costs one relaxed
// load per call then.
#ifndef CBENCHALLOC_H
#define CBENCHALLOC_H

#include <stdint.h>

/// Zeroes the counters and starts counting, on every thread.
void CBenchAlloc_start(void);
/// Stops counting; the counters keep their values.
void CBenchAlloc_stop(void);
/// Allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign) while counting was on.
uint64_t CBenchAlloc_allocations(void);
/// Bytes requested by those allocations.
uint64_t CBenchAlloc_bytes(void);
/// free() calls with a non-NULL pointer while counting was on.
uint64_t CBenchAlloc_frees(void);
/// 1 when this executable's malloc is the one the process uses (checked by allocating through libc).
int CBenchAlloc_isInterposed(void);
/// Prints a backtrace to stderr for each of the next `count` counted allocations (0 turns it off).
/// Symbols are mangled: pipe through `swift demangle`.
void CBenchAlloc_traceNext(int n);

#endif
