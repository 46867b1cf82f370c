/* A malloc that fails on demand, for out-of-memory tests; included by one .c per test binary.
 * The binary is linked statically with musl, whose malloc is a weak symbol: this one takes its
 * place and hands over to the allocator (__libc_malloc; musl's calloc comes here too). Under
 * AddressSanitizer (glibc builds) the runtime's allocator is __interceptor_malloc (calloc is not
 * seen then). ThreadSanitizer calls malloc while starting, before it can serve it: no stand-in
 * there, and FAULTS is 0 so that the out-of-memory tests skip. */
#ifndef PORRIO_TEST_OOM_H
#define PORRIO_TEST_OOM_H
#include <stddef.h>

static long malloc_budget = -1; /* >= 0: that many more calls succeed, then every call fails */

#ifdef __SANITIZE_THREAD__
#define FAULTS 0
#else
#define FAULTS 1
#ifdef __SANITIZE_ADDRESS__
void *__interceptor_malloc(size_t n);
#define REAL_MALLOC __interceptor_malloc
#else
void *__libc_malloc(size_t n);
#define REAL_MALLOC __libc_malloc
#endif

void *malloc(size_t n)
{
    long b = __atomic_load_n(&malloc_budget, __ATOMIC_RELAXED);
    if (b == 0)
        return NULL;
    if (b > 0) /* armed only while one thread runs */
        __atomic_store_n(&malloc_budget, b - 1, __ATOMIC_RELAXED);
    return REAL_MALLOC(n);
}
#endif

#endif
