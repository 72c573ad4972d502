/*
 * vga-guest.c - PID 1 of the L2 guest of the VGA refresh benchmark
 *
 * Puts QEMU's standard VGA (-vga std, PCI 1234:1111) into a Bochs VBE
 * graphics mode with the linear framebuffer, 1024x768 at 32 bpp, and keeps
 * redrawing one square region of it with a pattern that changes every
 * frame, at a bounded rate, so that every display refresh QEMU runs finds
 * dirty framebuffer pages to harvest.  Meanwhile one writer thread per
 * online CPU, pinned, rewrites its own share of a kvmfork.mem MiB RAM buffer
 * (one store per cache line), so every vCPU is in the guest when a refresh
 * kicks it.
 *
 * The mode is set through the device's MMIO BAR (resource2): the dispi
 * registers at 0x500 + index * 2, and the VGA ports remapped at 0x400 +
 * (port - 0x3c0).  QEMU draws graphics only while the attribute
 * controller's palette address source bit (0x20 of the index written to
 * port 0x3c0) is set, so that is set explicitly, as the bochs DRM driver
 * does, instead of trusting what the text console left there.
 *
 * Once in graphics mode the guest prints on the serial line only: the text
 * console's writes to 0xb8000 would be dropped anyway (VBE maps the legacy
 * window at 0xa0000), but not the VGA register writes of its cursor.
 *
 * Serial commands (one byte each; replies on the serial line):
 *   p   print "KVMFORK-VGA stat ns=.. frames=.. draw_ns=.. pages=.."
 *       (monotonic time, frames drawn, time spent drawing them and RAM
 *       pages written since drawing began), for the driver's guest
 *       progress figures: a frame's drawing time grows with the
 *       write-protection faults each harvest re-arms
 *   q   power off
 * Kernel command line: kvmfork.mem=MB (writers' buffer, default 64),
 * kvmfork.fps=N (redraws per second, default 50, 0 = as fast as possible),
 * kvmfork.region=PX (side of the redrawn square, default 256).
 */
#define _GNU_SOURCE
#include "guest-lib.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>

#define MAX_CPUS        64
#define LINE_BYTES      64
#define PAGE_BYTES      4096
#define PCI_DEVICES     "/sys/bus/pci/devices"
#define STDVGA_VENDOR   0x1234
#define STDVGA_DEVICE   0x1111

#define XRES            1024
#define YRES            768
#define BPP             32

/* Offsets in the MMIO BAR (QEMU hw/display/vga-pci.c). */
#define MMIO_VGA_PORTS  0x400       /* VGA port 0x3c0 + n at 0x400 + n */
#define MMIO_DISPI      0x500       /* dispi register i at 0x500 + 2 * i */
#define MMIO_SIZE       0x1000

#define DISPI_ID        0
#define DISPI_XRES      1
#define DISPI_YRES      2
#define DISPI_BPP       3
#define DISPI_ENABLE    4
#define DISPI_VIRT_W    6
#define DISPI_VIRT_H    7
#define DISPI_X_OFF     8
#define DISPI_Y_OFF     9
#define DISPI_ENABLED   0x01
#define DISPI_LFB       0x40
#define DISPI_ID0       0xb0c0      /* IDs 0xb0c0..0xb0c5 */

#define VGA_ATT_W       0x3c0       /* attribute controller index/data */
#define VGA_IS1_RC      0x3da       /* input status 1: resets the AC flip-flop */
#define VGA_AR_PAS      0x20        /* palette address source: display on */

struct writer {
    pthread_t thread;
    int cpu;
    volatile uint64_t *buf;
    size_t bytes;
    _Atomic uint64_t pages;
} __attribute__((aligned(64)));

static struct writer writers[MAX_CPUS];
static int nr_writers;
static volatile uint8_t *mmio;
static volatile uint32_t *fb;

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    uint64_t v = 0;

    pin_to(w->cpu);
    for (;;) {
        size_t off, line;

        for (off = 0; off < w->bytes; off += PAGE_BYTES) {
            for (line = 0; line < PAGE_BYTES; line += LINE_BYTES) {
                w->buf[(off + line) / sizeof(uint64_t)] = v++;
            }
            atomic_fetch_add_explicit(&w->pages, 1, memory_order_relaxed);
        }
    }
    return NULL;
}

static uint64_t total_pages(void)
{
    uint64_t sum = 0;
    int i;

    for (i = 0; i < nr_writers; i++) {
        sum += atomic_load_explicit(&writers[i].pages, memory_order_relaxed);
    }
    return sum;
}

/* A sysfs file's first line as a number (PCI ids are "0x1234\n"). */
static unsigned long read_hex(const char *dir, const char *file)
{
    char path[320], buf[32] = "";
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        return 0;
    }
    if (read(fd, buf, sizeof(buf) - 1) <= 0) {
        buf[0] = '\0';
    }
    close(fd);
    return strtoul(buf, NULL, 16);
}

/* The stdvga's sysfs directory, e.g. /sys/bus/pci/devices/0000:00:02.0. */
static void find_stdvga(char *dir, size_t len)
{
    DIR *d = opendir(PCI_DEVICES);
    struct dirent *e;

    if (!d) {
        fatal("opendir " PCI_DEVICES, errno);
    }
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(dir, len, "%s/%s", PCI_DEVICES, e->d_name);
        if (read_hex(dir, "vendor") == STDVGA_VENDOR &&
            read_hex(dir, "device") == STDVGA_DEVICE) {
            closedir(d);
            return;
        }
    }
    closedir(d);
    fatal("no PCI device 1234:1111 (this guest needs QEMU's -vga std)", ENODEV);
}

static void *map_resource(const char *dir, const char *file, size_t len)
{
    char path[320];
    void *p;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    fd = open(path, O_RDWR | O_SYNC);
    if (fd < 0) {
        fatal(path, errno);
    }
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        fatal(path, errno);
    }
    close(fd);
    return p;
}

static uint16_t dispi_read(int index)
{
    return *(volatile uint16_t *)(mmio + MMIO_DISPI + 2 * index);
}

static void dispi_write(int index, uint16_t val)
{
    *(volatile uint16_t *)(mmio + MMIO_DISPI + 2 * index) = val;
}

static uint8_t port_read(unsigned port)
{
    return mmio[MMIO_VGA_PORTS + port - 0x3c0];
}

static void port_write(unsigned port, uint8_t val)
{
    mmio[MMIO_VGA_PORTS + port - 0x3c0] = val;
}

/* 1024x768x32 with the linear framebuffer; returns the dispi ID. */
static uint16_t set_mode(void)
{
    uint16_t id = dispi_read(DISPI_ID);

    if (id < DISPI_ID0 || id > DISPI_ID0 + 5) {
        say("KVMFORK-VGA dispi ID 0x%04x is not a Bochs VBE ID (0xb0c0..0xb0c5)", id);
        fatal("no Bochs VBE registers in BAR 2", ENODEV);
    }
    dispi_write(DISPI_ENABLE, 0);
    dispi_write(DISPI_XRES, XRES);
    dispi_write(DISPI_YRES, YRES);
    dispi_write(DISPI_BPP, BPP);
    dispi_write(DISPI_ENABLE, DISPI_ENABLED | DISPI_LFB);
    if (dispi_read(DISPI_XRES) != XRES || dispi_read(DISPI_YRES) != YRES ||
        dispi_read(DISPI_BPP) != BPP ||
        !(dispi_read(DISPI_ENABLE) & DISPI_ENABLED)) {
        say("KVMFORK-VGA mode did not stick: %ux%ux%u enable=0x%x virt=%ux%u",
            dispi_read(DISPI_XRES), dispi_read(DISPI_YRES), dispi_read(DISPI_BPP),
            dispi_read(DISPI_ENABLE), dispi_read(DISPI_VIRT_W),
            dispi_read(DISPI_VIRT_H));
        fatal("set 1024x768x32", EIO);
    }
    /* Reading input status 1 puts port 0x3c0 in index state; then PAS on. */
    (void)port_read(VGA_IS1_RC);
    port_write(VGA_ATT_W, VGA_AR_PAS);
    return id;
}

/* Frame n: every pixel of the square gets a value that differs from frame n-1. */
static void draw(unsigned region, uint32_t n)
{
    unsigned x, y;

    for (y = 0; y < region; y++) {
        volatile uint32_t *row = fb + (size_t)y * XRES;

        for (x = 0; x < region; x++) {
            row[x] = n * 0x01010101u + (x ^ y);
        }
    }
}

static void sleep_until(int64_t t)
{
    struct timespec ts = { .tv_sec = t / 1000000000LL, .tv_nsec = t % 1000000000LL };

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

int main(void)
{
    unsigned long mem_mb, fps, region;
    char dir[300];
    volatile uint64_t *buf;
    uint64_t frames = 0;
    int64_t period, next, draw_ns = 0, t;
    size_t share;
    cpu_set_t set;
    uint16_t id;
    int cpu, i;

    guest_init();
    mem_mb = guest_arg_ulong("mem", 64, 1, 65536);
    fps = guest_arg_ulong("fps", 50, 0, 10000);
    region = guest_arg_ulong("region", 256, 1, YRES);

    find_stdvga(dir, sizeof(dir));
    mmio = map_resource(dir, "resource2", MMIO_SIZE);
    fb = map_resource(dir, "resource0", (size_t)XRES * YRES * BPP / 8);
    id = set_mode();
    /* From here on the VGA is ours: print on the serial line only. */
    close(fd_vga);
    fd_vga = -1;
    draw(region, 0);

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
    /*
     * The drawer shares CPU 0 with a writer.  As a real-time task it runs
     * whenever it is awake, so a frame's drawing time is its own (stores,
     * faults, exits), not the writer's time slice; the writer gets the
     * rest of CPU 0 while the drawer sleeps between frames.
     */
    pin_to(writers[0].cpu);
    {
        struct sched_param sp = { .sched_priority = 1 };

        if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0) {
            fatal("sched_setscheduler SCHED_FIFO", errno);
        }
    }
    say("KVMFORK-VGA-READY cpus=%d mem=%lu mode=%dx%dx%d id=0x%04x region=%lu fps=%lu",
        nr_writers, mem_mb, XRES, YRES, BPP, id, region, fps);

    period = fps ? 1000000000LL / fps : 0;
    next = now_ns();
    for (;;) {
        struct pollfd pfd = { .fd = fd_serial, .events = POLLIN };
        char in[16];
        ssize_t n, k;

        t = now_ns();
        draw(region, ++frames);
        draw_ns += now_ns() - t;
        next += period;
        if (period && next < now_ns()) {
            next = now_ns();        /* fell behind: do not burst to catch up */
        }
        if (period) {
            sleep_until(next);
        }
        if (poll(&pfd, 1, 0) <= 0) {
            continue;
        }
        n = read(fd_serial, in, sizeof(in));
        for (k = 0; k < n; k++) {
            if (in[k] == 'p') {
                say("KVMFORK-VGA stat ns=%lld frames=%llu draw_ns=%lld pages=%llu",
                    (long long)now_ns(), (unsigned long long)frames,
                    (long long)draw_ns, (unsigned long long)total_pages());
            } else if (in[k] == 'q') {
                say("KVMFORK-L2-BYE");
                power_off();
            }
        }
    }
}
