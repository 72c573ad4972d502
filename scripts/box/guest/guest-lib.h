/*
 * guest-lib.h - what every PID 1 of the box's L2 test guests needs
 *
 * Included by exactly one .c file per guest program (scripts/box/guest/),
 * so everything here is static.  It mounts /proc, /sys and /dev, opens the VGA
 * text console and the serial line (raw input, so the test driving the
 * serial line gets its command bytes at once), prints lines to both, reads
 * kvmfork.NAME=VALUE settings from the kernel command line, and ends the
 * guest on a fatal error with a line the test can match:
 * "KVMFORK-L2-ERROR <what>: <strerror>", then a reboot, which ends QEMU
 * because the tests run it with -no-reboot.  PID 1 must never exit (the
 * kernel would panic).
 */
#ifndef KVMFORK_GUEST_LIB_H
#define KVMFORK_GUEST_LIB_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define SERIAL_WAIT_MS  2000        /* give up on a stuck serial line */

static int fd_vga = -1;
static int fd_serial = -1;

/* Write all of buf to fd, waiting (bounded) while a non-blocking fd is full. */
static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n > 0) {
            buf += n;
            len -= n;
        } else if (n < 0 && errno == EAGAIN) {
            struct pollfd pfd = { .fd = fd, .events = POLLOUT };

            /* Nobody draining the line must not wedge the writer forever. */
            if (poll(&pfd, 1, SERIAL_WAIT_MS) <= 0) {
                return;
            }
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return;
        }
    }
}

/* Print one line to both consoles (or stderr before /dev is usable). */
static void say(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (len < 0) {
        return;
    }
    if ((size_t)len > sizeof(line) - 2) {
        len = sizeof(line) - 2;
    }
    line[len++] = '\n';

    if (fd_vga < 0 && fd_serial < 0) {
        /* Only useful if the kernel managed to open /dev/console for us. */
        write_all(STDERR_FILENO, line, len);
        return;
    }
    if (fd_vga >= 0) {
        write_all(fd_vga, line, len);
    }
    if (fd_serial >= 0) {
        write_all(fd_serial, line, len);
    }
}

static void power_off(void)
{
    sync();
    reboot(RB_AUTOBOOT);
    /* reboot() only returns on failure; PID 1 still must not exit. */
    for (;;) {
        pause();
    }
}

static void fatal(const char *what, int err)
{
    say("KVMFORK-L2-ERROR %s: %s", what, strerror(err));
    power_off();
}

static void mount_fs(const char *dir, const char *type)
{
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fatal(dir, errno);
    }
    /* EBUSY: already mounted (e.g. devtmpfs automount), which is fine. */
    if (mount(type, dir, type, 0, NULL) < 0 && errno != EBUSY) {
        fatal(type, errno);
    }
}

/*
 * The serial line starts in canonical mode with echo, which would hold our
 * command bytes until a newline and bounce them back into the output the
 * test parses.  Make input raw but keep output processing (ONLCR), so "\n"
 * still reaches the host as "\r\n".
 */
static void serial_raw(int fd)
{
    struct termios t;

    if (tcgetattr(fd, &t) < 0) {
        fatal("tcgetattr /dev/ttyS0", errno);
    }
    t.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR |
                   ICRNL | IXON | IXOFF);
    t.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(fd, TCSANOW, &t) < 0) {
        fatal("tcsetattr /dev/ttyS0", errno);
    }
}

static void open_consoles(void)
{
    int err;

    /* VGA first, so a serial failure is still reported on the screen. */
    fd_vga = open("/dev/tty0", O_WRONLY | O_NOCTTY);
    err = errno;
    fd_serial = open("/dev/ttyS0", O_RDWR | O_NONBLOCK | O_NOCTTY);
    if (fd_serial < 0) {
        /* Without the serial line the guest cannot be driven at all. */
        fatal("open /dev/ttyS0", errno);
    }
    serial_raw(fd_serial);
    if (fd_vga < 0) {
        /* Still usable for migration tests; the screen test will notice. */
        say("KVMFORK-L2-WARN open /dev/tty0: %s", strerror(err));
    }
}

static __attribute__((unused)) int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * The value of kvmfork.NAME= on the kernel command line, or NULL.  The
 * returned string lives until the next call.
 */
static __attribute__((unused)) const char *guest_arg(const char *name)
{
    static char buf[4096], *save;
    char key[64], *tok;
    ssize_t n;
    int fd, klen;

    klen = snprintf(key, sizeof(key), "kvmfork.%s=", name);
    if (klen < 0 || klen >= (int)sizeof(key)) {
        return NULL;
    }
    fd = open("/proc/cmdline", O_RDONLY);
    if (fd < 0) {
        fatal("open /proc/cmdline", errno);
    }
    n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0) {
        fatal("read /proc/cmdline", errno);
    }
    close(fd);
    buf[n] = '\0';
    for (tok = strtok_r(buf, " \t\n", &save); tok;
         tok = strtok_r(NULL, " \t\n", &save)) {
        if (strncmp(tok, key, klen) == 0) {
            return tok + klen;
        }
    }
    return NULL;
}

/*
 * kvmfork.NAME= as a whole number in [min, max], def when absent; anything
 * else is fatal, naming the setting.
 */
static __attribute__((unused)) unsigned long guest_arg_ulong(const char *name, unsigned long def,
                                     unsigned long min, unsigned long max)
{
    static char what[96];
    const char *val = guest_arg(name);
    unsigned long v;
    char *end;

    if (!val) {
        return def;
    }
    errno = 0;
    v = strtoul(val, &end, 10);
    if (errno || end == val || *end || v < min || v > max) {
        snprintf(what, sizeof(what), "kvmfork.%s=%.32s (want %lu..%lu)",
                 name, val, min, max);
        fatal(what, EINVAL);
    }
    return v;
}

/* Run the calling thread on that CPU only (per-vCPU writers). */
static __attribute__((unused)) void pin_to(int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0) {
        fatal("sched_setaffinity", errno);
    }
}

/* Mount /proc, /sys and /dev and open both consoles: every guest starts so. */
static void guest_init(void)
{
    mount_fs("/proc", "proc");
    mount_fs("/sys", "sysfs");
    mount_fs("/dev", "devtmpfs");
    open_consoles();
}

#endif /* KVMFORK_GUEST_LIB_H */
