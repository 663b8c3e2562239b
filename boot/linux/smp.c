/*
 * The multiprocessor series (`smp` on the command line; the runner boots a 2-CPU guest for
 * it): the operations of user/programs/src/bin/bench_smp.rs, same names, sizes and counts,
 * each run once untimed, then REPS times and its median printed.
 *
 *   fault_zero_threads/1  first write to each page of a fresh 64 MiB region by one thread
 *   fault_zero_threads/2  the same by two threads of the process, each taking half
 *                         (both: wall-clock per page, from the start signal until the last
 *                         thread is done)
 *   fault_zero_tasks/2    the same by two processes, each writing its own fresh 32 MiB
 *   protect_lower/1       mprotect of one touched page to PROT_READ (per call; each call is
 *                         followed, untimed, by mprotect back to PROT_READ | PROT_WRITE)
 *   shootdown/2           the same while a second thread keeps reading the page, so that
 *                         the address space is active on the other CPU
 *
 * The lowering calls are timed one by one with the time-stamp counter (as the project's
 * program does), calibrated against CLOCK_MONOTONIC.
 */
#define _GNU_SOURCE
#include "vmbench.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

#define REGION (64 * MIB)
#define PROTECTS 5000

/* What the threads of one measurement share. */
static atomic_int ready, go, stop;
static atomic_ulong helper_end;
static char *region;

/* Waits (spinning, yielding now and then in case both threads share a CPU) for *flag. */
static void spin_until(atomic_int *flag)
{
    for (unsigned long spins = 1; !atomic_load(flag); spins++)
        if (spins % 4096 == 0)
            sched_yield();
}

static void *fault_second_half(void *unused)
{
    (void)unused;
    atomic_store(&ready, 1);
    spin_until(&go);
    touch(region + REGION / 2, REGION / 2);
    atomic_store(&helper_end, now_ns());
    return NULL;
}

static uint64_t fault_zero_threads(int threads)
{
    pthread_t helper;
    region = map_anon(REGION);
    atomic_store(&ready, 0);
    atomic_store(&go, 0);
    atomic_store(&helper_end, 0);
    if (threads == 2) {
        if (pthread_create(&helper, NULL, fault_second_half, NULL))
            fail("pthread_create");
        spin_until(&ready);
    }
    uint64_t t0 = now_ns();
    atomic_store(&go, 1);
    touch(region, threads == 2 ? REGION / 2 : REGION);
    uint64_t end = now_ns();
    if (threads == 2) {
        pthread_join(helper, NULL);
        if (atomic_load(&helper_end) > end)
            end = atomic_load(&helper_end);
    }
    unmap(region, REGION);
    return (end - t0) / (REGION / PAGE);
}

static uint64_t fault_zero_threads_1(void) { return fault_zero_threads(1); }
static uint64_t fault_zero_threads_2(void) { return fault_zero_threads(2); }

/* The page shared with the child: its ready flag, the start signal, its end time. */
struct shared {
    atomic_int ready, go;
    atomic_ulong end;
};

static uint64_t fault_zero_tasks_2(void)
{
    struct shared *s = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        fail("mmap shared");
    pid_t child = fork();
    if (child < 0)
        fail("fork");
    if (child == 0) {
        char *mine = map_anon(REGION / 2);
        atomic_store(&s->ready, 1);
        spin_until(&s->go);
        touch(mine, REGION / 2);
        atomic_store(&s->end, now_ns());
        _exit(0);
    }
    char *mine = map_anon(REGION / 2);
    spin_until(&s->ready);
    uint64_t t0 = now_ns();
    atomic_store(&s->go, 1);
    touch(mine, REGION / 2);
    uint64_t end = now_ns();
    int status;
    if (waitpid(child, &status, 0) != child)
        fail("waitpid");
    if (atomic_load(&s->end) > end)
        end = atomic_load(&s->end);
    unmap(mine, REGION / 2);
    unmap(s, PAGE);
    return (end - t0) / (REGION / PAGE);
}

/* Time-stamp counter ticks per microsecond, measured once against CLOCK_MONOTONIC. */
static uint64_t ticks_per_us(void)
{
    static uint64_t ticks;
    if (!ticks) {
        uint64_t t0 = now_ns(), c0 = __rdtsc();
        while (now_ns() - t0 < 50000000)
            ;
        ticks = (__rdtsc() - c0) * 1000 / (now_ns() - t0);
        if (!ticks)
            ticks = 1;
    }
    return ticks;
}

static void *keep_reading(void *page)
{
    atomic_store(&ready, 1);
    while (!atomic_load_explicit(&stop, memory_order_relaxed))
        (void)*(volatile char *)page;
    return NULL;
}

static uint64_t protect_lower(bool reader)
{
    pthread_t helper;
    char *page = map_anon(PAGE);
    touch(page, PAGE);
    atomic_store(&ready, 0);
    atomic_store(&stop, 0);
    if (reader) {
        if (pthread_create(&helper, NULL, keep_reading, page))
            fail("pthread_create");
        spin_until(&ready);
    }
    uint64_t lowering = 0;
    for (int i = 0; i < PROTECTS; i++) {
        uint64_t c0 = __rdtsc();
        if (mprotect(page, PAGE, PROT_READ))
            fail("mprotect");
        lowering += __rdtsc() - c0;
        if (mprotect(page, PAGE, PROT_READ | PROT_WRITE))
            fail("mprotect");
    }
    atomic_store(&stop, 1);
    if (reader)
        pthread_join(helper, NULL);
    unmap(page, PAGE);
    return lowering * 1000 / ticks_per_us() / PROTECTS;
}

static uint64_t protect_lower_1(void) { return protect_lower(false); }
static uint64_t shootdown_2(void) { return protect_lower(true); }

void run_smp(void)
{
    static const struct {
        const char *name;
        uint64_t (*run)(void);
    } benches[] = {
        {"fault_zero_threads/1", fault_zero_threads_1},
        {"fault_zero_threads/2", fault_zero_threads_2},
        {"fault_zero_tasks/2", fault_zero_tasks_2},
        {"protect_lower/1", protect_lower_1},
        {"shootdown/2", shootdown_2},
    };
    printf("smp_processors=%ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    ticks_per_us();
    for (size_t b = 0; b < sizeof benches / sizeof benches[0]; b++) {
        uint64_t samples[REPS];
        benches[b].run();
        for (int r = 0; r < REPS; r++)
            samples[r] = benches[b].run();
        report(benches[b].name, median(samples, REPS));
    }
}
