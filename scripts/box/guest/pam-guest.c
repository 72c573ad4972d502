/*
 * pam-guest.c - PID 1 of the L2 guest of the QEMU-level memslot benchmark
 *
 * Keeps every vCPU busy writing RAM while it changes the guest's memory
 * topology the way firmware does: through the i440fx PAM registers in the
 * host bridge's PCI config space.  Each write to a PAM register is one
 * QEMU memory transaction; with all of 0xc0000-0xfffff set to RAM first,
 * that range and all RAM above 1 MiB are one flat range (one KVM memslot),
 * so disabling the 16 KiB segment at 0xc0000 splits that slot (the segment
 * falls through to the option-ROM region) and enabling it merges the slot
 * back.  Upstream QEMU commits such a change by kicking every vCPU out of
 * KVM_RUN and holding it there while the slots are deleted and re-created.
 *
 * One writer thread per online CPU, pinned, each rewriting its own share of
 * a kvmfork.mem MiB buffer (one 64-bit store per cache line, so the work is
 * memory traffic, not arithmetic) and counting the pages it wrote.  The
 * toggler thread sleeps between toggles and is pinned to CPU 0 too.
 *
 * With kvmfork.verify=1 each writer first checks that a line still holds what
 * its previous pass wrote there, and counts the lines that do not
 * ("errors=" in the toggled line): RAM must stay RAM, and keep every write,
 * through every split and merge.
 *
 * Serial commands (one byte each; results on the serial line):
 *   b        measure for kvmfork.window_ms with no toggling and print
 *            "KVMFORK-PAM base ms=.. pages=.. pages_per_s=.."
 *   t        do kvmfork.toggles toggles (each a split or a merge), one every
 *            kvmfork.period_us, and print
 *            "KVMFORK-PAM toggled n=.. ms=.. pages=.. pages_per_s=.."
 *            plus the slowest single config write ("max_write_us=")
 *   q        power off
 * Kernel command line: kvmfork.mem=MB (default 64), kvmfork.verify=0|1
 * (default 0), kvmfork.toggles=N
 * (default 200), kvmfork.period_us=US (default 20000), kvmfork.window_ms=MS
 * (default 2000).
 */
#define _GNU_SOURCE
#include "guest-lib.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#define MAX_CPUS        64
#define LINE_BYTES      64
#define PAGE_BYTES      4096
#define HOST_BRIDGE     "/sys/bus/pci/devices/0000:00:00.0"
#define I440FX_PAM0     0x59    /* PAM0..PAM6: 0x59..0x5f */
#define I440FX_PAM1     0x5a    /* low nibble: 0xc0000-0xc3fff */
#define PAM_RW          0x3     /* reads and writes go to RAM */

struct writer {
    pthread_t thread;
    int cpu;
    volatile uint64_t *buf;
    size_t bytes;
    _Atomic uint64_t pages;
    _Atomic uint64_t errors;
} __attribute__((aligned(64)));

static struct writer writers[MAX_CPUS];
static int nr_writers;
static int verify;

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    uint64_t v = 0, lines = w->bytes / LINE_BYTES;

    pin_to(w->cpu);
    for (;;) {
        size_t off, line;

        for (off = 0; off < w->bytes; off += PAGE_BYTES) {
            for (line = 0; line < PAGE_BYTES; line += LINE_BYTES) {
                size_t i = (off + line) / sizeof(uint64_t);

                /* the line still holds what the last pass wrote there */
                if (verify && v >= lines && w->buf[i] != v - lines) {
                    atomic_fetch_add_explicit(&w->errors, 1,
                                              memory_order_relaxed);
                }
                w->buf[i] = v++;
            }
            atomic_fetch_add_explicit(&w->pages, 1, memory_order_relaxed);
        }
    }
    return NULL;
}

/* The sum over all writers of one of their counters (offsetof(struct writer, X)) */
static uint64_t writers_sum(size_t field)
{
    uint64_t sum = 0;
    int i;

    for (i = 0; i < nr_writers; i++) {
        sum += atomic_load_explicit((_Atomic uint64_t *)((char *)&writers[i] + field),
                                    memory_order_relaxed);
    }
    return sum;
}

static uint64_t total_pages(void) { return writers_sum(offsetof(struct writer, pages)); }
static uint64_t total_errors(void) { return writers_sum(offsetof(struct writer, errors)); }

static int config_fd = -1;

static uint8_t config_read(unsigned off)
{
    uint8_t v;

    if (pread(config_fd, &v, 1, off) != 1) {
        fatal("read host bridge config", errno ? errno : EIO);
    }
    return v;
}

static void config_write(unsigned off, uint8_t v)
{
    if (pwrite(config_fd, &v, 1, off) != 1) {
        fatal("write host bridge config", errno ? errno : EIO);
    }
}

/* The host bridge must be the i440fx (QEMU's -machine pc). */
static void open_host_bridge(void)
{
    char buf[32] = "";
    int fd;

    fd = open(HOST_BRIDGE "/device", O_RDONLY);
    if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0) {
        fatal(HOST_BRIDGE "/device", errno ? errno : EIO);
    }
    close(fd);
    if (strncmp(buf, "0x1237", 6)) {
        say("KVMFORK-PAM host bridge device %.6s is not an i440fx (0x1237)", buf);
        fatal("this guest needs -machine pc (i440fx)", ENODEV);
    }
    config_fd = open(HOST_BRIDGE "/config", O_RDWR);
    if (config_fd < 0) {
        fatal(HOST_BRIDGE "/config", errno);
    }
}

static void sleep_us(uint64_t us)
{
    struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static void measure_base(unsigned long window_ms)
{
    int64_t t0 = now_ns();
    uint64_t p0 = total_pages(), p1;
    int64_t ns;

    sleep_us(window_ms * 1000);
    p1 = total_pages();
    ns = now_ns() - t0;
    say("KVMFORK-PAM base ms=%lld pages=%llu pages_per_s=%.0f",
        (long long)(ns / 1000000), (unsigned long long)(p1 - p0),
        (p1 - p0) * 1e9 / ns);
}

static void toggle(unsigned long n, unsigned long period_us)
{
    uint8_t on = config_read(I440FX_PAM1), off = on & 0xf0;
    int64_t t0 = now_ns(), worst = 0, ns;
    uint64_t p0 = total_pages(), p1;
    unsigned long i;

    for (i = 0; i < n; i++) {
        int64_t w0 = now_ns(), w;

        /* Odd toggles split the RAM slot, even ones merge it back. */
        config_write(I440FX_PAM1, (i & 1) ? on : off);
        w = now_ns() - w0;
        if (w > worst) {
            worst = w;
        }
        sleep_us(period_us);
    }
    if (n & 1) {
        config_write(I440FX_PAM1, on);   /* leave the slot merged */
    }
    p1 = total_pages();
    ns = now_ns() - t0;
    say("KVMFORK-PAM toggled n=%lu ms=%lld pages=%llu pages_per_s=%.0f max_write_us=%lld verify=%d errors=%llu",
        n + (n & 1), (long long)(ns / 1000000), (unsigned long long)(p1 - p0),
        (p1 - p0) * 1e9 / ns, (long long)(worst / 1000), verify,
        (unsigned long long)total_errors());
}

int main(void)
{
    unsigned long mem_mb, toggles, period_us, window_ms;
    volatile uint64_t *buf;
    size_t share;
    cpu_set_t set;
    int cpu, i;

    guest_init();
    mem_mb = guest_arg_ulong("mem", 64, 1, 65536);
    toggles = guest_arg_ulong("toggles", 200, 1, 1000000);
    period_us = guest_arg_ulong("period_us", 20000, 0, 10000000);
    window_ms = guest_arg_ulong("window_ms", 2000, 10, 600000);
    verify = guest_arg_ulong("verify", 0, 0, 1);
    open_host_bridge();

    /* Everything from 0xc0000 to 1 MiB becomes RAM: one slot with the rest. */
    for (i = I440FX_PAM0; i <= I440FX_PAM0 + 6; i++) {
        config_write(i, i == I440FX_PAM0 ? PAM_RW << 4 : PAM_RW << 4 | PAM_RW);
    }

    if (sched_getaffinity(0, sizeof(set), &set) < 0) {
        fatal("sched_getaffinity", errno);
    }
    buf = mmap(NULL, mem_mb << 20, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (buf == MAP_FAILED) {
        fatal("mmap buffer", errno);
    }
    nr_writers = CPU_COUNT(&set) < MAX_CPUS ? CPU_COUNT(&set) : MAX_CPUS;
    share = ((mem_mb << 20) / nr_writers) & ~(size_t)(PAGE_BYTES - 1);
    if (!share) {
        fatal("kvmfork.mem too small for one page per CPU", EINVAL);
    }
    for (cpu = 0, i = 0; cpu < CPU_SETSIZE && i < nr_writers; cpu++) {
        if (!CPU_ISSET(cpu, &set)) {
            continue;
        }
        writers[i].cpu = cpu;
        writers[i].buf = buf + i * share / sizeof(uint64_t);
        writers[i].bytes = share;
        errno = pthread_create(&writers[i].thread, NULL, writer_main, &writers[i]);
        if (errno) {
            fatal("pthread_create", errno);
        }
        i++;
    }
    pin_to(writers[0].cpu);
    say("KVMFORK-PAM-READY cpus=%d mem=%lu toggles=%lu period_us=%lu pam1=0x%02x",
        nr_writers, mem_mb, toggles, period_us, config_read(I440FX_PAM1));

    for (;;) {
        char in[16];
        ssize_t n, k;

        n = read(fd_serial, in, sizeof(in));
        if (n <= 0) {
            sleep_us(10000);
            continue;
        }
        for (k = 0; k < n; k++) {
            if (in[k] == 'b') {
                measure_base(window_ms);
            } else if (in[k] == 't') {
                toggle(toggles, period_us);
            } else if (in[k] == 'q') {
                say("KVMFORK-L2-BYE");
                power_off();
            }
        }
    }
}
