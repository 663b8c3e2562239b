/*
 * The Linux side of `cargo run --release -- bench --with-linux`: the same operations as the
 * project's ring-3 programs (user/programs/src/bin/bench.rs and bench_scale.rs), made with
 * Linux calls, printed under the same names as `NAME ns_per_op=X`.
 */
#ifndef VMBENCH_H
#define VMBENCH_H

#include <stddef.h>
#include <stdint.h>

#define PAGE 4096UL
#define MIB (1024UL * 1024UL)
/* Timed repetitions of every measurement; the median is printed. */
#define REPS 5
/* Where the one-page regions start (as in the project's programs). */
#define BASE ((char *)0x10000000000UL)

/* Monotonic nanoseconds. */
uint64_t now_ns(void);
/* Prints "error WHAT: <errno text>" and powers the machine off (or exits). */
void fail(const char *what);
/* A private anonymous read-write region, its faults 4 KiB faults (MADV_NOHUGEPAGE). */
char *map_anon(size_t len);
void unmap(void *p, size_t len);
/* Writes the first byte of every page. */
void touch(char *p, size_t len);
/* Sorts v and returns its middle element. */
uint64_t median(uint64_t *v, int n);
void report(const char *name, uint64_t ns);

void run_suite(void);
void run_scale(void);
void run_smp(void);

#endif
