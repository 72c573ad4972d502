/*
 * dirty-guest.c - PID 1 of the L2 guest of the migration benchmark
 *
 * A write-heavy guest with a fixed workload, so that migrations by
 * different VMMs (or dirty-log modes) move the same amount of dirty memory:
 * a working set of kvmfork.wss MiB, of which kvmfork.rate pages per second
 * are dirtied, one 64-bit store per page (one store is all it takes to dirty
 * a page; more would only burn the vCPU).  The pages are walked in order,
 * wrapping around the working set, so at a rate below wss/s every page
 * written since the last dirty sync is a distinct page.
 *
 * One writer thread per online CPU, pinned, each with its own share of the
 * working set and of the rate.  Writers are paced against now_ns(): they
 * write the pages due so far (at most BATCH_PAGES between two looks at the
 * clock) and sleep TICK_NS when none is due.  A writer that
 * falls behind (the vCPU was not running: a stop-and-copy, a stall of the
 * emulated machine) catches up at most MAX_BACKLOG_MS worth of pages and
 * drops the rest, so a stall is followed by a bounded burst and not by
 * seconds of writing at full speed; dropped pages are counted and printed.
 * The rate reached is what the serial reports say, not what was asked for.
 *
 * The buffer is populated and every page written once (non-zero) before
 * READY: a page that is still all zeroes would be sent as a cheap "zero
 * page" by migration, and the first iteration would not carry the working
 * set.
 *
 * Serial output:
 *   KVMFORK-DIRTY-READY wss=MiB rate=pages/s threads=N pages=N
 *   KVMFORK-DIRTY t_ms=.. pages=.. dropped=.. pages_per_s=..  every
 *           kvmfork.report_ms (default 1000): the guest's monotonic time
 *           since READY, pages written and dropped since READY (cumulative,
 *           so a reader can take the rate over any interval), and the rate
 *           over the last report interval.
 * Serial input (one byte): q powers off.
 * Kernel command line: kvmfork.wss=MiB (default 64), kvmfork.rate=pages/s
 * (default 4096), kvmfork.report_ms (default 1000).
 */
#define _GNU_SOURCE
#include "guest-lib.h"

#include <pthread.h>
#include <stdatomic.h>

#define MAX_CPUS        64
#define PAGE_BYTES      4096
#define BATCH_PAGES     256     /* writes between two looks at the clock */
#define MAX_BACKLOG_MS  100     /* catch up at most this much after a stall */
/*
 * When ahead of the pace, sleep this long, not until the next page is due:
 * every sleep is a timer interrupt and an HLT exit, which cost the nested,
 * emulated machine far more than the writes (at 8192 pages/s, sleeping per
 * page capped the guest at a quarter of its rate with no migration
 * running).  5 ms makes batches of about 41 pages at that rate.
 */
#define TICK_NS         5000000

struct writer {
    pthread_t thread;
    int cpu;
    char *buf;
    size_t pages;               /* pages in this writer's share */
    double rate;                /* pages per second */
    _Atomic uint64_t written;
    _Atomic uint64_t dropped;
} __attribute__((aligned(64)));

static struct writer writers[MAX_CPUS];
static int nr_writers;
static int64_t t_start;

static void sleep_ns(int64_t ns)
{
    struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    uint64_t done = 0, dropped = 0, seq = 1, backlog_max;
    size_t page = 0;
    int64_t t0;

    pin_to(w->cpu);
    backlog_max = (uint64_t)(w->rate * MAX_BACKLOG_MS / 1000) + 1;
    t0 = now_ns();
    for (;;) {
        uint64_t due = (uint64_t)((now_ns() - t0) * w->rate / 1e9);
        unsigned n;

        if (due <= done + dropped) {
            sleep_ns(TICK_NS);
            continue;
        }
        if (due - done - dropped > backlog_max) {
            uint64_t skip = due - done - dropped - backlog_max;

            dropped += skip;
            atomic_store_explicit(&w->dropped, dropped, memory_order_relaxed);
        }
        for (n = 0; n < BATCH_PAGES && done + dropped < due; n++) {
            /* Never zero: a zero page would migrate as a cheap zero page. */
            *(volatile uint64_t *)(w->buf + page * PAGE_BYTES) = seq++;
            if (++page == w->pages) {
                page = 0;
            }
            done++;
        }
        atomic_store_explicit(&w->written, done, memory_order_relaxed);
    }
    return NULL;
}

static void totals(uint64_t *written, uint64_t *dropped)
{
    int i;

    *written = *dropped = 0;
    for (i = 0; i < nr_writers; i++) {
        *written += atomic_load_explicit(&writers[i].written, memory_order_relaxed);
        *dropped += atomic_load_explicit(&writers[i].dropped, memory_order_relaxed);
    }
}

int main(void)
{
    unsigned long wss_mb, rate, report_ms;
    uint64_t last_pages = 0, wss_pages;
    int64_t last_t, next_report;
    cpu_set_t set;
    size_t share;
    char *buf;
    int cpu, i;

    guest_init();
    wss_mb = guest_arg_ulong("wss", 64, 1, 65536);
    rate = guest_arg_ulong("rate", 4096, 1, 100000000);
    report_ms = guest_arg_ulong("report_ms", 1000, 100, 60000);

    if (sched_getaffinity(0, sizeof(set), &set) < 0) {
        fatal("sched_getaffinity", errno);
    }
    nr_writers = CPU_COUNT(&set) < MAX_CPUS ? CPU_COUNT(&set) : MAX_CPUS;
    wss_pages = (uint64_t)wss_mb << 20 >> 12;
    share = wss_pages / nr_writers;
    if (!share) {
        fatal("kvmfork.wss too small for one page per CPU", EINVAL);
    }
    buf = mmap(NULL, wss_mb << 20, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (buf == MAP_FAILED) {
        fatal("mmap working set (kvmfork.wss larger than the guest's free RAM?)", errno);
    }
    /* See the top: every page non-zero before the first migration pass. */
    for (i = 0; (uint64_t)i < wss_pages; i++) {
        *(volatile uint64_t *)(buf + (size_t)i * PAGE_BYTES) = ~0ULL;
    }

    for (cpu = 0, i = 0; cpu < CPU_SETSIZE && i < nr_writers; cpu++) {
        if (!CPU_ISSET(cpu, &set)) {
            continue;
        }
        writers[i].cpu = cpu;
        writers[i].buf = buf + (size_t)i * share * PAGE_BYTES;
        writers[i].pages = share;
        writers[i].rate = (double)rate / nr_writers;
        i++;
    }
    t_start = last_t = now_ns();
    for (i = 0; i < nr_writers; i++) {
        errno = pthread_create(&writers[i].thread, NULL, writer_main, &writers[i]);
        if (errno) {
            fatal("pthread_create", errno);
        }
    }
    say("KVMFORK-DIRTY-READY wss=%lu rate=%lu threads=%d pages=%llu",
        wss_mb, rate, nr_writers, (unsigned long long)(share * nr_writers));

    next_report = t_start + (int64_t)report_ms * 1000000;
    for (;;) {
        char in[16];
        ssize_t n, k;
        int64_t t = now_ns();

        if (t >= next_report) {
            uint64_t written, dropped;

            totals(&written, &dropped);
            say("KVMFORK-DIRTY t_ms=%lld pages=%llu dropped=%llu pages_per_s=%.0f",
                (long long)((t - t_start) / 1000000), (unsigned long long)written,
                (unsigned long long)dropped,
                (written - last_pages) * 1e9 / (t - last_t));
            last_pages = written;
            last_t = t;
            /* After a long stall, report once, not once per missed period. */
            while (next_report <= t) {
                next_report += (int64_t)report_ms * 1000000;
            }
        }
        n = read(fd_serial, in, sizeof(in));
        for (k = 0; k < n; k++) {
            if (in[k] == 'q') {
                say("KVMFORK-L2-BYE");
                power_off();
            }
        }
        sleep_ns(20000000);
    }
}
