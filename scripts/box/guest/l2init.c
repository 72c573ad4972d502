/*
 * l2init.c - PID 1 of the kvmfork L2 test guest
 *
 * Runs as /init of an initramfs that holds nothing else, inside an L2 guest
 * started by our QEMU with -accel kvm.  It announces itself on the VGA text
 * console and the serial port, then keeps rewriting a memory buffer while
 * tracking a hash of every page, so that a test driving the serial line can
 * ask at any moment (for example after a migration or a fork of the VM)
 * whether the guest memory is still consistent.
 *
 * Kernel command line (read from /proc/cmdline):
 *   kvmfork.mem=MB              buffer size in MiB (default 64)
 *   kvmfork.mode=screen|migrate (default screen)
 *
 * Serial input: 'v' verifies every page and prints one KVMFORK-VERDICT line,
 * 'q' prints KVMFORK-L2-BYE and powers off; 'x' is the negative control:
 * it flips one word of one page behind the hash table's back (and stops the
 * writer touching that page), so that the next 'v' must say "corrupt" --
 * proof that a test reading "intact" could have read otherwise.  Other
 * bytes are ignored.
 *
 * Build: gcc -static -O2 -Wall -Wextra -o l2init l2init.c (with guest-lib.h)
 *
 * PID 1 must never exit (the kernel would panic), so every fatal error is
 * reported as "KVMFORK-L2-ERROR <what>: <strerror>" followed by a reboot,
 * which ends the guest because QEMU runs with -no-reboot.
 */

#define _GNU_SOURCE
#include "guest-lib.h"

#define PAGE_BYTES      4096
#define PAGE_WORDS      (PAGE_BYTES / sizeof(uint64_t))
#define DEFAULT_MEM_MB  64
#define MAX_MEM_MB      65536
#define POLL_EVERY      256         /* writes between input/clock checks */
#define PROGRESS_NS     2000000000LL

/* kvmfork.mem= and kvmfork.mode= from the kernel command line. */
static void parse_cmdline(unsigned long *mem_mb, const char **mode)
{
    const char *m;

    *mem_mb = guest_arg_ulong("mem", DEFAULT_MEM_MB, 1, MAX_MEM_MB);
    m = guest_arg("mode");
    if (m) {
        static char buf[16];

        if (strcmp(m, "screen") && strcmp(m, "migrate")) {
            fatal("kvmfork.mode must be screen or migrate", EINVAL);
        }
        snprintf(buf, sizeof(buf), "%s", m);
        *mode = buf;
    }
}

static uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* splitmix64 finaliser: turns small seeds (0, 1, 2...) into usable states. */
static uint64_t mix_seed(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x ? x : 1;   /* xorshift64 is stuck at zero */
}

static void fill_page(uint64_t *page, uint64_t seed)
{
    uint64_t s = mix_seed(seed);
    size_t i;

    for (i = 0; i < PAGE_WORDS; i++) {
        page[i] = xorshift64(&s);
    }
}

/*
 * FNV-1a over 64-bit words rather than bytes: eight times fewer multiplies,
 * which matters in a nested guest.  Each step is a bijection of the state,
 * so any single changed word changes the result.
 */
static uint64_t hash_page(const uint64_t *page)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;

    for (i = 0; i < PAGE_WORDS; i++) {
        h ^= page[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void verify(const uint64_t *mem, const uint64_t *hashes,
                   size_t npages, uint64_t writes)
{
    size_t i, bad = 0, first = 0;

    for (i = 0; i < npages; i++) {
        if (hash_page(mem + i * PAGE_WORDS) != hashes[i]) {
            if (!bad) {
                first = i;
            }
            bad++;
        }
    }
    if (bad) {
        say("KVMFORK-VERDICT corrupt pages=%zu bad=%zu first=%zu",
            npages, bad, first);
    } else {
        say("KVMFORK-VERDICT intact pages=%zu writes=%llu",
            npages, (unsigned long long)writes);
    }
}

/* CPUs this init may run on: the vCPUs the L2 kernel brought up. */
static int online_cpus(void)
{
    cpu_set_t set;

    if (sched_getaffinity(0, sizeof(set), &set) < 0) {
        return -1;
    }
    return CPU_COUNT(&set);
}

int main(void)
{
    unsigned long mem_mb = DEFAULT_MEM_MB;
    const char *mode = "screen";
    struct utsname uts;
    uint64_t *mem, *hashes;
    uint64_t writes = 0, pick = 0x2545f4914f6cdd1dULL;
    size_t spoiled = (size_t)-1;
    int64_t next_progress;
    size_t npages, i;

    guest_init();
    parse_cmdline(&mem_mb, &mode);
    if (uname(&uts) < 0) {
        fatal("uname", errno);
    }

    say("KVMFORK-L2-READY release=%s mode=%s mem=%lu cpus=%d",
        uts.release, mode, mem_mb, online_cpus());
    if (strcmp(mode, "screen") == 0) {
        say("KVMFORK-L2 hello from the L2 guest on kvmfork");
        say("ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789");
    }

    npages = mem_mb * (1024 * 1024 / PAGE_BYTES);
    mem = mmap(NULL, npages * PAGE_BYTES, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (mem == MAP_FAILED) {
        fatal("mmap buffer", errno);
    }
    hashes = malloc(npages * sizeof(*hashes));
    if (!hashes) {
        fatal("malloc hash table", ENOMEM);
    }
    for (i = 0; i < npages; i++) {
        /* Offset the page seeds so they never collide with write seeds. */
        fill_page(mem + i * PAGE_WORDS, ~(uint64_t)i);
        hashes[i] = hash_page(mem + i * PAGE_WORDS);
    }

    next_progress = now_ns() + PROGRESS_NS;
    for (;;) {
        uint64_t *page;
        char in[64];
        ssize_t n, k;

        i = xorshift64(&pick) % npages;
        if (i == spoiled) {
            continue;
        }
        page = mem + i * PAGE_WORDS;
        fill_page(page, writes);
        hashes[i] = hash_page(page);
        writes++;

        if (writes % POLL_EVERY) {
            continue;
        }
        if (now_ns() >= next_progress) {
            say("KVMFORK-L2 progress writes=%llu pages=%zu",
                (unsigned long long)writes, npages);
            next_progress = now_ns() + PROGRESS_NS;
        }
        n = read(fd_serial, in, sizeof(in));
        for (k = 0; k < n; k++) {
            if (in[k] == 'v') {
                verify(mem, hashes, npages, writes);
            } else if (in[k] == 'x') {
                spoiled = npages / 2;
                mem[spoiled * PAGE_WORDS + 7] ^= 1;
                say("KVMFORK-L2 spoiled page %zu (negative control)", spoiled);
            } else if (in[k] == 'q') {
                say("KVMFORK-L2-BYE");
                power_off();
            }
        }
    }
}
