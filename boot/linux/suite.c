/*
 * The suite (`suite` on the command line): the operations of user/programs/src/bin/bench.rs,
 * same names, sizes and counts, each run REPS times and its median printed. The `worst_*`
 * series have no Linux counterpart and are not run.
 *
 *   alloc_free_1p        mmap + munmap of one page (per pair)
 *   alloc_touch_free_1p  mmap, one write, munmap (per triple)
 *   fault_zero           first write to each page of a fresh 64 MiB region (per page)
 *   fault_read_zero      first read of each page of a fresh 64 MiB region (per page)
 *   protect_toggle       mprotect READ, READ|WRITE of one touched page (per call)
 *   protect_large        the same of a touched 64 MiB region (per call)
 *   wire_unwire          mlock + munlock of a touched 1 MiB region (per pair)
 *   fork_cow             fork; the child writes every page of 64 MiB touched; exit; waitpid
 *                        (per page, and total_ns the whole)
 *   fork_exit            fork + _exit + waitpid with 64 MiB touched (per fork)
 *   many_regions         mprotect flipping a random one of 10 000 one-page regions
 *                        (per call; the generator of bench.rs)
 *   copy_64k, copy_1m    process_vm_readv of this process (a byte copy, per call)
 *   read_1m              process_vm_readv from a forked, paused child (per call)
 */
#define _GNU_SOURCE
#include "vmbench.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

struct sample {
    uint64_t ns_per_op;
    uint64_t total_ns; /* 0: none */
};

static struct sample per_op(uint64_t ns, uint64_t ops)
{
    return (struct sample){ns / (ops ? ops : 1), 0};
}

static void reap(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid)
        fail("waitpid");
}

static char *map_page(void)
{
    char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        fail("mmap");
    return p;
}

static struct sample alloc_free(bool write)
{
    const uint64_t n = 100000;
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        char *p = map_page();
        if (write)
            *(volatile char *)p = 1;
        unmap(p, PAGE);
    }
    return per_op(now_ns() - t0, n);
}
static struct sample alloc_free_1p(void) { return alloc_free(false); }
static struct sample alloc_touch_free_1p(void) { return alloc_free(true); }

static struct sample first_access(bool write)
{
    size_t len = 64 * MIB;
    char *p = map_anon(len);
    volatile char sink = 0;
    uint64_t t0 = now_ns();
    for (size_t off = 0; off < len; off += PAGE) {
        if (write)
            ((volatile char *)p)[off] = 1;
        else
            sink += ((volatile char *)p)[off];
    }
    uint64_t ns = now_ns() - t0;
    (void)sink;
    unmap(p, len);
    return per_op(ns, len / PAGE);
}
static struct sample fault_zero(void) { return first_access(true); }
static struct sample fault_read_zero(void) { return first_access(false); }

static struct sample toggle(size_t len, uint64_t n)
{
    char *p = map_anon(len);
    touch(p, len);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++)
        if (mprotect(p, len, PROT_READ) || mprotect(p, len, PROT_READ | PROT_WRITE))
            fail("mprotect");
    uint64_t ns = now_ns() - t0;
    unmap(p, len);
    return per_op(ns, 2 * n);
}
static struct sample protect_toggle(void) { return toggle(PAGE, 20000); }
static struct sample protect_large(void) { return toggle(64 * MIB, 10); }

static struct sample wire_unwire(void)
{
    const uint64_t n = 200;
    char *p = map_anon(MIB);
    touch(p, MIB);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++)
        if (mlock(p, MIB) || munlock(p, MIB))
            fail("mlock");
    uint64_t ns = now_ns() - t0;
    unmap(p, MIB);
    return per_op(ns, n);
}

static struct sample fork_cow(void)
{
    size_t len = 64 * MIB;
    char *p = map_anon(len);
    touch(p, len);
    uint64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0)
        fail("fork");
    if (pid == 0) {
        touch(p, len);
        _exit(0);
    }
    reap(pid);
    uint64_t total = now_ns() - t0;
    unmap(p, len);
    return (struct sample){total / (len / PAGE), total};
}

static struct sample fork_exit(void)
{
    const uint64_t n = 10;
    size_t len = 64 * MIB;
    char *p = map_anon(len);
    touch(p, len);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            fail("fork");
        if (pid == 0)
            _exit(0);
        reap(pid);
    }
    uint64_t ns = now_ns() - t0;
    unmap(p, len);
    return per_op(ns, n);
}

#define REGIONS 10000
static struct sample many_regions(void)
{
    const uint64_t calls = 100000;
    static bool read_only[REGIONS];
    for (uint64_t i = 0; i < REGIONS; i++) {
        char *want = BASE + 2 * i * PAGE;
        if (mmap(want, PAGE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != want)
            fail("mmap many_regions");
        read_only[i] = false;
    }
    uint64_t state = 0x2545f4914f6cdd1dull;
    uint64_t t0 = now_ns();
    for (uint64_t k = 0; k < calls; k++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t i = (state >> 33) % REGIONS;
        read_only[i] = !read_only[i];
        if (mprotect(BASE + 2 * i * PAGE, PAGE, read_only[i] ? PROT_READ : PROT_READ | PROT_WRITE))
            fail("mprotect many_regions");
    }
    uint64_t ns = now_ns() - t0;
    unmap(BASE, 2 * REGIONS * PAGE);
    return per_op(ns, calls);
}

/* n process_vm_readv calls of len bytes from `from` (src) into a touched buffer of ours. */
static uint64_t read_from(pid_t from, char *src, size_t len, uint64_t n)
{
    char *dst = map_anon(len);
    touch(dst, len);
    struct iovec local = {dst, len}, remote = {src, len};
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++)
        if (process_vm_readv(from, &local, 1, &remote, 1, 0) != (ssize_t)len)
            fail("process_vm_readv");
    uint64_t ns = now_ns() - t0;
    unmap(dst, len);
    return ns;
}

static struct sample copy(size_t len, uint64_t n)
{
    char *src = map_anon(len);
    touch(src, len);
    uint64_t ns = read_from(getpid(), src, len, n);
    unmap(src, len);
    return per_op(ns, n);
}
static struct sample copy_64k(void) { return copy(64 * 1024, 2000); }
static struct sample copy_1m(void) { return copy(MIB, 200); }

static struct sample read_1m(void)
{
    char *src = map_anon(MIB);
    touch(src, MIB);
    pid_t child = fork();
    if (child < 0)
        fail("fork");
    if (child == 0)
        for (;;)
            pause();
    uint64_t ns = read_from(child, src, MIB, 200);
    kill(child, SIGKILL);
    reap(child);
    unmap(src, MIB);
    return per_op(ns, 200);
}

static const struct {
    const char *name;
    struct sample (*run)(void);
} benches[] = {
    {"alloc_free_1p", alloc_free_1p},
    {"alloc_touch_free_1p", alloc_touch_free_1p},
    {"fault_zero", fault_zero},
    {"fault_read_zero", fault_read_zero},
    {"protect_toggle", protect_toggle},
    {"protect_large", protect_large},
    {"wire_unwire", wire_unwire},
    {"fork_cow", fork_cow},
    {"fork_exit", fork_exit},
    {"many_regions", many_regions},
    {"copy_64k", copy_64k},
    {"copy_1m", copy_1m},
    {"read_1m", read_1m},
};

static int by_ns(const void *a, const void *b)
{
    uint64_t x = ((const struct sample *)a)->ns_per_op, y = ((const struct sample *)b)->ns_per_op;
    return x < y ? -1 : x > y;
}

void run_suite(void)
{
    for (size_t b = 0; b < sizeof benches / sizeof benches[0]; b++) {
        struct sample s[REPS];
        for (int r = 0; r < REPS; r++)
            s[r] = benches[b].run();
        qsort(s, REPS, sizeof s[0], by_ns);
        struct sample m = s[REPS / 2];
        if (m.total_ns)
            printf("%s ns_per_op=%llu total_ns=%llu\n", benches[b].name,
                   (unsigned long long)m.ns_per_op, (unsigned long long)m.total_ns);
        else
            report(benches[b].name, m.ns_per_op);
    }
}
