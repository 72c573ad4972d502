/*
 * qmp.c - minimal QMP client for the kvmfork test box
 *
 * Usage: qmp SOCKET [--timeout SEC] [CMD_JSON...]
 *
 * SOCKET is a unix socket path or tcp:HOST:PORT (HOST: numeric IPv4/IPv6
 * address, optionally in brackets, or "localhost"; no name lookup, so the
 * static binary needs no NSS libraries at run time).
 *
 * Connects (retrying while the socket is missing or refuses connections,
 * since QEMU may still be starting), negotiates capabilities, then sends each
 * CMD_JSON verbatim and prints its reply (the first "return" or "error" line;
 * events, which start with {"timestamp" or {"event", are skipped) on stdout,
 * one line per command.  Any other line is a protocol failure.
 *
 * The timeout (default 30 s) bounds the connection attempts and, separately,
 * the wait for the greeting and for each reply.
 *
 * Exit status: 0 all replies were "return", 1 some reply was "error",
 * 2 connection, timeout or protocol failure (one line on stderr).
 *
 * Build: gcc -static -O2 -Wall -Wextra -o qmp qmp.c
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RETRY_MS      100
#define MAX_LINE      (64 * 1024 * 1024)  /* refuse to buffer beyond this */

enum reply { REPLY_RETURN, REPLY_ERROR };

static const char *sock_name;
static double timeout_s = 30.0;

/* Protocol-level failure: one line naming the socket, exit status 2. */
static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "qmp: %s: ", sock_name ? sock_name : "?");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Fill *ss from SOCKET; returns its length. */
static socklen_t parse_address(const char *spec, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));

    if (strncmp(spec, "tcp:", 4) == 0) {
        char host[256];
        const char *colon = strrchr(spec + 4, ':');
        size_t hlen;
        char *end;
        long port;

        if (!colon) {
            fail("expected tcp:HOST:PORT");
        }
        hlen = colon - (spec + 4);
        if (hlen >= sizeof(host)) {
            fail("host name too long");
        }
        memcpy(host, spec + 4, hlen);
        host[hlen] = '\0';
        errno = 0;
        port = strtol(colon + 1, &end, 10);
        if (errno || end == colon + 1 || *end || port < 1 || port > 65535) {
            fail("bad port '%s'", colon + 1);
        }
        if (strcmp(host, "localhost") == 0) {
            strcpy(host, "127.0.0.1");
        }
        if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

            host[hlen - 1] = '\0';
            if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1) {
                fail("bad IPv6 address '%s'", host + 1);
            }
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons(port);
            return sizeof(*in6);
        } else {
            struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

            if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
                in4->sin_family = AF_INET;
                in4->sin_port = htons(port);
                return sizeof(*in4);
            }
            if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons(port);
                return sizeof(*in6);
            }
            fail("host '%s' is not a numeric address or localhost", host);
        }
    } else {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;

        if (strlen(spec) >= sizeof(un->sun_path)) {
            fail("unix socket path too long");
        }
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, spec);
        return sizeof(*un);
    }
}

/* Connect, retrying while QEMU has not created or opened the socket yet. */
static int connect_retry(void)
{
    struct sockaddr_storage ss;
    socklen_t len = parse_address(sock_name, &ss);
    double deadline = now_s() + timeout_s;

    for (;;) {
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int err;

        if (fd < 0) {
            fail("socket: %s", strerror(errno));
        }
        if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
            return fd;
        }
        err = errno;
        close(fd);
        if (err != ENOENT && err != ECONNREFUSED) {
            fail("connect: %s", strerror(err));
        }
        if (now_s() >= deadline) {
            fail("connect: %s (gave up after %g s)", strerror(err),
                 timeout_s);
        }
        nanosleep(&(struct timespec){ .tv_nsec = RETRY_MS * 1000000L }, NULL);
    }
}

/* Line reader: QMP sends one JSON object per line, possibly split on read. */
static char *rbuf;
static size_t rlen, rcap;

/*
 * Return the next line (without "\r\n"/"\n", NUL-terminated, valid until the
 * next call), waiting at most timeout_s for it to complete.
 */
static char *read_line(int fd, const char *waiting_for)
{
    static size_t consumed;
    double deadline = now_s() + timeout_s;
    size_t scanned = 0;

    if (!rbuf) {
        rcap = 65536;
        rbuf = malloc(rcap);
        if (!rbuf) {
            fail("out of memory");
        }
    }
    /* Drop the line handed out by the previous call. */
    memmove(rbuf, rbuf + consumed, rlen - consumed);
    rlen -= consumed;
    consumed = 0;

    for (;;) {
        char *nl = memchr(rbuf + scanned, '\n', rlen - scanned);
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        double left;
        ssize_t n;
        int r;

        if (nl) {
            consumed = nl - rbuf + 1;
            *nl = '\0';
            if (nl > rbuf && nl[-1] == '\r') {
                nl[-1] = '\0';
            }
            return rbuf;
        }
        scanned = rlen;

        left = deadline - now_s();
        if (left <= 0) {
            fail("timed out after %g s waiting for %s", timeout_s,
                 waiting_for);
        }
        /* Wait in slices so a huge --timeout cannot overflow an int. */
        r = poll(&pfd, 1, left > 1 ? 1000 : (int)(left * 1000) + 1);
        if (r < 0 && errno != EINTR) {
            fail("poll: %s", strerror(errno));
        }
        if (r <= 0) {
            continue;
        }

        if (rcap - rlen < 4096) {
            if (rcap >= MAX_LINE) {
                fail("line longer than %d bytes", MAX_LINE);
            }
            rcap *= 2;
            rbuf = realloc(rbuf, rcap);
            if (!rbuf) {
                fail("out of memory");
            }
        }
        n = read(fd, rbuf + rlen, rcap - rlen);
        if (n < 0 && errno != EINTR) {
            fail("read: %s", strerror(errno));
        }
        if (n == 0) {
            fail("connection closed while waiting for %s", waiting_for);
        }
        if (n > 0) {
            rlen += n;
        }
    }
}

/* True if line, after leading whitespace, starts with {"key" */
static int starts_with_key(const char *line, const char *key)
{
    size_t klen = strlen(key);

    line += strspn(line, " \t");
    return line[0] == '{' && line[1] == '"' &&
           strncmp(line + 2, key, klen) == 0 && line[2 + klen] == '"';
}

static void send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        /* MSG_NOSIGNAL: a QEMU that went away is an error, not SIGPIPE. */
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail("send: %s", strerror(errno));
        }
        buf += n;
        len -= n;
    }
}

/* Send one command and return its reply line, skipping asynchronous events. */
static char *execute(int fd, const char *cmd, enum reply *kind)
{
    send_all(fd, cmd, strlen(cmd));
    send_all(fd, "\n", 1);

    for (;;) {
        char *line = read_line(fd, "the reply");

        if (starts_with_key(line, "return")) {
            *kind = REPLY_RETURN;
            return line;
        }
        if (starts_with_key(line, "error")) {
            *kind = REPLY_ERROR;
            return line;
        }
        /* QEMU puts "timestamp" before "event" in the events it emits. */
        if (!starts_with_key(line, "timestamp") &&
            !starts_with_key(line, "event")) {
            fail("unexpected line from QEMU: %.200s", line);
        }
    }
}

static void __attribute__((noreturn)) usage(void)
{
    fprintf(stderr, "usage: qmp SOCKET [--timeout SEC] [CMD_JSON...]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    enum reply kind;
    char *line;
    int status = 0;
    int fd, i;

    if (argc < 2 || argv[1][0] == '-') {
        usage();
    }
    sock_name = argv[1];
    i = 2;
    if (i < argc && strcmp(argv[i], "--timeout") == 0) {
        char *end;

        if (i + 1 >= argc) {
            usage();
        }
        errno = 0;
        timeout_s = strtod(argv[i + 1], &end);
        if (errno || end == argv[i + 1] || *end || !(timeout_s > 0)) {
            fprintf(stderr, "qmp: bad --timeout '%s'\n", argv[i + 1]);
            exit(2);
        }
        i += 2;
    }

    fd = connect_retry();

    line = read_line(fd, "the QMP greeting");
    if (!starts_with_key(line, "QMP")) {
        fail("not a QMP greeting: %.200s", line);
    }
    line = execute(fd, "{\"execute\":\"qmp_capabilities\"}", &kind);
    if (kind != REPLY_RETURN) {
        fail("qmp_capabilities failed: %.200s", line);
    }

    for (; i < argc; i++) {
        line = execute(fd, argv[i], &kind);
        /* Flush per reply so output is not lost if a later step fails. */
        printf("%s\n", line);
        fflush(stdout);
        if (kind == REPLY_ERROR) {
            status = 1;
        }
    }
    close(fd);
    return status;
}
