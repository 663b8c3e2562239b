/*
 * PID 1 of the Linux guest the runner boots (`cargo run --release -- bench --with-linux`):
 * prints the kernel release and the settings that shape the figures, runs the suite, the
 * scaling series or the multiprocessor series (the word after `--` on the kernel command
 * line: `suite`, `scale` or `smp`), prints `done` and powers the machine off.
 *
 * Build: gcc -static -pthread -O2 -Wall -o vmbench vmbench.c scale.c smp.c suite.c
 */
#define _GNU_SOURCE
#include "vmbench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void power_off(void)
{
    fflush(stdout);
    if (getpid() == 1) {
        sync();
        reboot(RB_POWER_OFF);
        for (;;)
            pause();
    }
}

void fail(const char *what)
{
    printf("error %s: %s\n", what, strerror(errno));
    power_off();
    exit(1);
}

char *map_anon(size_t len)
{
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        fail("mmap");
    madvise(p, len, MADV_NOHUGEPAGE);
    return p;
}

void unmap(void *p, size_t len)
{
    if (munmap(p, len))
        fail("munmap");
}

void touch(char *p, size_t len)
{
    for (size_t off = 0; off < len; off += PAGE)
        ((volatile char *)p)[off] = 1;
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t median(uint64_t *v, int n)
{
    qsort(v, n, sizeof *v, by_value);
    return v[n / 2];
}

void report(const char *name, uint64_t ns)
{
    printf("%s ns_per_op=%llu\n", name, (unsigned long long)ns);
}

/* The first line of a file, or "?" */
static const char *first_line(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    ssize_t k = fd < 0 ? -1 : read(fd, buf, size - 1);
    if (fd >= 0)
        close(fd);
    if (k <= 0)
        return "?";
    buf[k] = 0;
    buf[strcspn(buf, "\n")] = 0;
    return buf;
}

static void print_settings(void)
{
    struct utsname u;
    char maps[64], thp[128];
    uname(&u);
    if (getpid() == 1)
        mount("proc", "/proc", "proc", 0, NULL), mount("sysfs", "/sys", "sysfs", 0, NULL);
    printf("# linux release=%s\n", u.release);
    printf("# vm.max_map_count=%s transparent_hugepage=%s\n",
           first_line("/proc/sys/vm/max_map_count", maps, sizeof maps),
           first_line("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof thp));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("\n");
    print_settings();
    const char *mode = "";
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "suite") || !strcmp(argv[i], "scale") || !strcmp(argv[i], "smp"))
            mode = argv[i];
    if (!strcmp(mode, "suite"))
        run_suite();
    else if (!strcmp(mode, "scale"))
        run_scale();
    else if (!strcmp(mode, "smp"))
        run_smp();
    else
        printf("error: no mode (`suite`, `scale` or `smp`) among the arguments\n");
    if (*mode)
        printf("done\n");
    power_off();
    return *mode ? 0 : 2;
}
