// Allocation counting for vigil-bench: see include/CBenchAlloc.h.
#define _GNU_SOURCE
#include "CBenchAlloc.h"

#include <errno.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

// glibc's own allocator entry points (exported by libc.so.6 on every glibc since 2.2.5).
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void __libc_free(void *pointer);
extern void *__libc_memalign(size_t alignment, size_t size);

static atomic_int counting;
static atomic_uint_fast64_t allocations;
static atomic_uint_fast64_t bytes;
static atomic_uint_fast64_t frees;
static atomic_int traceRemaining;
// Set while this thread prints a trace: backtrace() may allocate, and those must not recurse or count.
static _Thread_local int tracing;

static void trace(const char *what, size_t size) {
    if (tracing) return;
    if (atomic_fetch_sub_explicit(&traceRemaining, 1, memory_order_relaxed) <= 0) {
        atomic_store_explicit(&traceRemaining, 0, memory_order_relaxed);
        return;
    }
    tracing = 1;
    char line[96];
    int length = 0;
    const char *prefix = "== allocation: ";
    for (const char *p = prefix; *p; p++) line[length++] = *p;
    for (const char *p = what; *p; p++) line[length++] = *p;
    line[length++] = ' ';
    char digits[24];
    int n = 0;
    do { digits[n++] = (char)('0' + size % 10); size /= 10; } while (size > 0);
    while (n > 0) line[length++] = digits[--n];
    line[length++] = '\n';
    (void)!write(2, line, (size_t)length);
    void *frames[32];
    int depth = backtrace(frames, 32);
    backtrace_symbols_fd(frames, depth, 2);
    tracing = 0;
}

static inline void count(const char *what, size_t size) {
    if (atomic_load_explicit(&counting, memory_order_relaxed) && !tracing) {
        atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&bytes, size, memory_order_relaxed);
        if (atomic_load_explicit(&traceRemaining, memory_order_relaxed) > 0) trace(what, size);
    }
}

void *malloc(size_t size) {
    count("malloc", size);
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
    count("calloc", n * size);
    return __libc_calloc(n, size);
}

void *realloc(void *pointer, size_t size) {
    count("realloc", size);
    return __libc_realloc(pointer, size);
}

void free(void *pointer) {
    if (pointer && atomic_load_explicit(&counting, memory_order_relaxed) && !tracing) {
        atomic_fetch_add_explicit(&frees, 1, memory_order_relaxed);
    }
    __libc_free(pointer);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    count("posix_memalign", size);
    void *pointer = __libc_memalign(alignment, size);
    if (!pointer) return ENOMEM;
    *result = pointer;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) {
    count("aligned_alloc", size);
    return __libc_memalign(alignment, size);
}

void *memalign(size_t alignment, size_t size) {
    count("memalign", size);
    return __libc_memalign(alignment, size);
}

void CBenchAlloc_start(void) {
    // backtrace() loads libgcc_s on first use, which allocates: do that now, outside any measurement.
    static int warmed;
    if (!warmed) {
        void *frames[2];
        backtrace(frames, 2);
        warmed = 1;
    }
    atomic_store_explicit(&allocations, 0, memory_order_relaxed);
    atomic_store_explicit(&bytes, 0, memory_order_relaxed);
    atomic_store_explicit(&frees, 0, memory_order_relaxed);
    atomic_store_explicit(&counting, 1, memory_order_seq_cst);
}

void CBenchAlloc_stop(void) { atomic_store_explicit(&counting, 0, memory_order_seq_cst); }

uint64_t CBenchAlloc_allocations(void) { return atomic_load_explicit(&allocations, memory_order_relaxed); }
uint64_t CBenchAlloc_bytes(void) { return atomic_load_explicit(&bytes, memory_order_relaxed); }
uint64_t CBenchAlloc_frees(void) { return atomic_load_explicit(&frees, memory_order_relaxed); }

void CBenchAlloc_traceNext(int n) { atomic_store_explicit(&traceRemaining, n, memory_order_relaxed); }

int CBenchAlloc_isInterposed(void) {
    // strdup lives in libc and calls malloc through the PLT: it is counted only if ours is the one bound.
    CBenchAlloc_start();
    char *copy = strdup("x");
    CBenchAlloc_stop();
    int interposed = CBenchAlloc_allocations() >= 1;
    free(copy);
    return interposed;
}
