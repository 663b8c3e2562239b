/*
 * The scaling series (`scale` on the command line): the work of
 * user/programs/src/bin/bench_scale.rs with Linux calls, same names, sizes and counts (see
 * that file for what each series measures). Regions are mmap'd with MAP_FIXED_NOREPLACE at
 * BASE + 2 i PAGE; a refusal prints `# SERIES: map took K of N entries (why)` and skips that
 * size's lines, as the project's program does.
 */
#define _GNU_SOURCE
#include "vmbench.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define CALLS 10000
#define ROUNDS_UP_TO 10000

static char *region(uint64_t i) { return BASE + 2 * i * PAGE; }

static void remove_regions(uint64_t n)
{
    if (n > 0)
        unmap(BASE, 2 * n * PAGE);
}

/* Makes regions 0..n; on a refusal removes those made and returns how many the map took. */
static uint64_t make_regions(uint64_t n, int *error)
{
    for (uint64_t i = 0; i < n; i++) {
        char *p = mmap(region(i), PAGE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p != region(i)) {
            *error = p == MAP_FAILED ? errno : EEXIST;
            if (p != MAP_FAILED)
                munmap(p, PAGE);
            remove_regions(i);
            return i;
        }
    }
    return n;
}

static void refused(const char *series, uint64_t took, uint64_t wanted, int error)
{
    printf("# %s: map took %llu of %llu entries (%s)\n", series, (unsigned long long)took,
           (unsigned long long)wanted, strerror(error));
}

static void print(const char *series, uint64_t size, const char *unit, uint64_t *v, int n)
{
    char name[80];
    snprintf(name, sizeof name, "%s/%llu%s", series, (unsigned long long)size, unit);
    report(name, median(v, n));
}

static uint64_t rng;
static uint64_t xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void set_prot(uint64_t i, bool read_only)
{
    if (mprotect(region(i), PAGE, read_only ? PROT_READ : PROT_READ | PROT_WRITE))
        fail("mprotect");
}

/* protect/N and protect_fixed/N on the regions made; state[i]: region i is READ. */
static void protect_calls(uint64_t n, unsigned char *state)
{
    uint64_t random[REPS], fixed[REPS], mid = n / 2;
    rng = 0x9E3779B97F4A7C15ull;
    for (int r = 0; r < REPS; r++) {
        uint64_t t0 = now_ns();
        for (int c = 0; c < CALLS; c++) {
            uint64_t i = xorshift() % n;
            state[i] ^= 1;
            set_prot(i, state[i]);
        }
        random[r] = (now_ns() - t0) / CALLS;
    }
    if (state[mid])
        set_prot(mid, false);
    state[mid] = 0;
    for (int r = 0; r < REPS; r++) {
        uint64_t t0 = now_ns();
        for (int c = 0; c < CALLS / 2; c++)
            set_prot(mid, true), set_prot(mid, false);
        fixed[r] = (now_ns() - t0) / CALLS;
    }
    print("protect", n, "", random, REPS);
    print("protect_fixed", n, "", fixed, REPS);
}

static void protect_series(uint64_t n)
{
    int rounds = n <= ROUNDS_UP_TO ? REPS : 1, error = 0;
    uint64_t create[REPS], teardown[REPS];
    unsigned char *state = (unsigned char *)map_anon(n);
    memset(state, 0, n);
    for (int r = 0; r < rounds; r++) {
        uint64_t t0 = now_ns();
        uint64_t took = make_regions(n, &error);
        create[r] = (now_ns() - t0) / n;
        if (took < n) {
            refused("protect", took, n, error);
            unmap(state, n);
            return;
        }
        if (r + 1 == rounds)
            protect_calls(n, state);
        t0 = now_ns();
        remove_regions(n);
        teardown[r] = (now_ns() - t0) / n;
    }
    unmap(state, n);
    print("create", n, "", create, rounds);
    print("teardown", n, "", teardown, rounds);
}

/* fork + _exit; returns the fork's time in *forked and the waitpid's in *waited. */
static void fork_once(uint64_t *forked, uint64_t *waited)
{
    uint64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0)
        fail("fork");
    if (pid == 0)
        _exit(0);
    uint64_t t1 = now_ns();
    int status;
    if (waitpid(pid, &status, 0) != pid)
        fail("waitpid");
    *forked = t1 - t0;
    *waited = now_ns() - t1;
}

static void fork_series(uint64_t mib, uint64_t entries)
{
    const char *series = mib == 1 ? "fork_exit_1m" : "fork_exit_64m";
    char *p = map_anon(mib * MIB);
    touch(p, mib * MIB);
    int error = 0;
    uint64_t took = make_regions(entries - 1, &error);
    if (took < entries - 1) {
        refused(series, took + 1, entries, error);
    } else {
        uint64_t whole[REPS], forks[REPS], waits[REPS];
        for (int r = 0; r < REPS; r++) {
            fork_once(&forks[r], &waits[r]);
            whole[r] = forks[r] + waits[r];
        }
        print(series, entries, "", whole, REPS);
        if (mib == 1) {
            for (int r = 0; r < REPS; r++)
                fork_once(&forks[r], &waits[r]);
            print("fork_split", entries, "", forks, REPS);
            print("exit_wait", entries, "", waits, REPS);
        }
        remove_regions(entries - 1);
    }
    unmap(p, mib * MIB);
}

static void fault_zero(uint64_t mib)
{
    size_t len = mib * MIB;
    uint64_t v[REPS];
    for (int r = 0; r < REPS; r++) {
        char *p = map_anon(len);
        uint64_t t0 = now_ns();
        touch(p, len);
        v[r] = (now_ns() - t0) / (len / PAGE);
        unmap(p, len);
    }
    print("fault_zero", mib, "m", v, REPS);
}

static void dealloc(uint64_t mib, bool touched)
{
    size_t len = mib * MIB;
    uint64_t v[REPS];
    for (int r = 0; r < REPS; r++) {
        char *p = map_anon(len);
        if (touched)
            touch(p, len);
        uint64_t t0 = now_ns();
        unmap(p, len);
        v[r] = (now_ns() - t0) / (touched ? len / PAGE : 1);
    }
    print(touched ? "dealloc_touched" : "dealloc_untouched", mib, "m", v, REPS);
}

static void protect_write(void)
{
    size_t len = 64 * MIB;
    char *p = map_anon(len);
    touch(p, len);
    uint64_t cycle[REPS], down[REPS], up[REPS], writes[REPS];
    for (int r = 0; r < REPS; r++) {
        uint64_t t0 = now_ns();
        if (mprotect(p, len, PROT_READ))
            fail("mprotect down");
        uint64_t t1 = now_ns();
        if (mprotect(p, len, PROT_READ | PROT_WRITE))
            fail("mprotect up");
        uint64_t t2 = now_ns();
        touch(p, len);
        uint64_t t3 = now_ns();
        down[r] = t1 - t0, up[r] = t2 - t1, writes[r] = t3 - t2, cycle[r] = t3 - t0;
    }
    unmap(p, len);
    print("protect_write", 64, "m", cycle, REPS);
    print("protect_write_down", 64, "m", down, REPS);
    print("protect_write_up", 64, "m", up, REPS);
    print("protect_write_writes", 64, "m", writes, REPS);
}

void run_scale(void)
{
    static const uint64_t regions[] = {100, 1000, 10000, 100000, 1000000};
    static const uint64_t entries_1m[] = {1, 100, 10000, 100000}, entries_64m[] = {1, 100, 10000};
    for (size_t k = 0; k < sizeof regions / sizeof regions[0]; k++)
        protect_series(regions[k]);
    for (size_t k = 0; k < sizeof entries_1m / sizeof entries_1m[0]; k++)
        fork_series(1, entries_1m[k]);
    for (size_t k = 0; k < sizeof entries_64m / sizeof entries_64m[0]; k++)
        fork_series(64, entries_64m[k]);
    fault_zero(4), fault_zero(64), fault_zero(512);
    dealloc(4, true), dealloc(64, true), dealloc(256, true);
    dealloc(64, false), dealloc(1024, false);
    protect_write();
}
