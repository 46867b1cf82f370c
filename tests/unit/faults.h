/* Faults for the unit tests: this binary's own fdatasync, fsync, ftruncate and pwrite take the
 * place of libc's (the binary is linked statically, or its own definitions come first), and fail
 * or wait when a test says so; otherwise they make the system call. Include it from exactly one .c
 * of a test binary: it defines those four functions. The helpers are static inline, so that a
 * test that uses only part of them still builds with -Werror. */
#ifndef PORRIO_FAULTS_H
#define PORRIO_FAULTS_H
#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define WAIT_S 10 /* what a thread that must not block gets before the test says it blocked */

static pthread_mutex_t fault_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fault_cv = PTHREAD_COND_INITIALIZER; /* any change under fault_mu */
static int hold_on, held;           /* under fault_mu: fdatasync waits while hold_on; held callers wait now */
static int fail_fdatasync;          /* > 0: that many more calls fail with EIO */
static int fail_ftruncate;          /* non-zero: every call fails with EIO */
static long fail_pwrite_after = -1; /* >= 0: pwrite writes that many bytes, then fails with EIO */
static int fail_fsync_after = -1;   /* >= 0: that many more fsyncs work, then one fails with EIO */

int fdatasync(int fd)
{
    pthread_mutex_lock(&fault_mu);
    if (hold_on) {
        held++;
        pthread_cond_broadcast(&fault_cv);
        while (hold_on)
            pthread_cond_wait(&fault_cv, &fault_mu);
        held--;
    }
    pthread_mutex_unlock(&fault_mu);
    int left = __atomic_load_n(&fail_fdatasync, __ATOMIC_SEQ_CST);
    while (left > 0 && !__atomic_compare_exchange_n(&fail_fdatasync, &left, left - 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        ;
    if (left > 0) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fdatasync, fd);
}

int fsync(int fd)
{
    int after = __atomic_load_n(&fail_fsync_after, __ATOMIC_SEQ_CST);
    while (after >= 0 && !__atomic_compare_exchange_n(&fail_fsync_after, &after, after - 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        ;
    if (after == 0) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fsync, fd);
}

int ftruncate(int fd, off_t len)
{
    if (__atomic_load_n(&fail_ftruncate, __ATOMIC_SEQ_CST)) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_ftruncate, fd, len);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    long after = __atomic_load_n(&fail_pwrite_after, __ATOMIC_SEQ_CST);
    if (after >= 0) {
        if (after == 0) {
            errno = EIO;
            return -1;
        }
        if ((size_t)after < n)
            n = (size_t)after;
        __atomic_store_n(&fail_pwrite_after, 0, __ATOMIC_SEQ_CST); /* the rest fails */
    }
    return (ssize_t)syscall(SYS_pwrite64, fd, buf, n, off);
}

/* The failures from now on: fdatasync_fails more fdatasyncs, every ftruncate when ftruncate_fails,
 * pwrite after pwrite_after more bytes (-1: none). */
static inline void set_faults(int fdatasync_fails, int ftruncate_fails, long pwrite_after)
{
    __atomic_store_n(&fail_fdatasync, fdatasync_fails, __ATOMIC_SEQ_CST);
    __atomic_store_n(&fail_ftruncate, ftruncate_fails, __ATOMIC_SEQ_CST);
    __atomic_store_n(&fail_pwrite_after, pwrite_after, __ATOMIC_SEQ_CST);
}

/* The fsync after the next n fails (-1: none). */
static inline void fail_fsync_once_after(int n)
{
    __atomic_store_n(&fail_fsync_after, n, __ATOMIC_SEQ_CST);
}

/* Waits (at most WAIT_S) until *v, guarded by fault_mu, is at least min; 1 when it got there. */
static inline int wait_for(const int *v, int min)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_S;
    pthread_mutex_lock(&fault_mu);
    int rc = 0;
    while (*v < min && rc == 0)
        rc = pthread_cond_timedwait(&fault_cv, &fault_mu, &until);
    int ok = *v >= min;
    pthread_mutex_unlock(&fault_mu);
    return ok;
}

/* From now on every fdatasync waits, until release_fsync. */
static inline void hold_fsync(void)
{
    pthread_mutex_lock(&fault_mu);
    hold_on = 1;
    pthread_mutex_unlock(&fault_mu);
}

/* 1 once a caller (the committer) waits inside fdatasync. */
static inline int fsync_held(void)
{
    return wait_for(&held, 1);
}

static inline void release_fsync(void)
{
    pthread_mutex_lock(&fault_mu);
    hold_on = 0;
    pthread_cond_broadcast(&fault_cv);
    pthread_mutex_unlock(&fault_mu);
}

#endif
