/*
 * qtest: a display refresh harvests its framebuffer's dirty pages
 * (-accel kvm,dirty-harvest=auto|on|off)
 *
 * Copyright (c) 2026 kvmfork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A guest on KVM (kvmfork/vga-pattern-bootblock.S) draws a sequence of
 * checkerboards into the linear framebuffer of -vga std, in a 1280x480
 * mode of 8 bits per pixel that the test sets through the Bochs VBE
 * registers; each pattern inverts every tile of the one before.  After
 * each pattern the test takes a screendump and compares every pixel: a
 * page whose dirty bit the display's harvest lost shows as lines of the
 * previous pattern.  A palette mode is drawn into a shadow surface, and
 * only the lines the dirty log names are redrawn, so the picture is only
 * as right as the dirty log.  (At 15 bits per pixel and above the display
 * shares the guest's video memory with the screendump, which would then
 * be right whatever the dirty log said.)
 *
 * Run with the bitmap and with the dirty ring, our path (dirty-harvest=on)
 * and upstream's (off).  QEMU's counters (query-stats, target vm, provider
 * kvm) must say which path ran: on, every refresh harvested by range and
 * none fell back, so with the ring no refresh kicked a vCPU; off, no
 * harvest at all.  The migrate/ cases live-migrate the guest while it
 * draws and the display refreshes: the pages the display harvested must
 * reach migration, so the destination's framebuffer, in guest memory and
 * on screen, is the last pattern.  dirty-harvest=on on a kernel without
 * KVM_CAP_DIRTY_LOG_HARVEST, and a value that is not auto/on/off, stop
 * QEMU with a message naming the property.  migration-parameter checks the
 * migration harvester's switch, the migration parameter x-dirty-harvest.
 */

#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "kvmfork/vga-pattern-bootblock.h"
#include "kvmfork/kvmfork-qtest.h"

#define MAILBOX         0x9000
#define MB_SEQ          (MAILBOX + 0)
#define MB_ACK          (MAILBOX + 4)
#define MB_LFB          (MAILBOX + 8)
#define MB_WIDTH        (MAILBOX + 12)
#define MB_HEIGHT       (MAILBOX + 16)
#define MB_COLORS       (MAILBOX + 20)
#define WIDTH           1280            /* pixels of the mode */
#define HEIGHT          480
#define GUEST_WIDTH     (WIDTH / 2)     /* the guest writes 16-bit words */
#define PATTERNS        16
#define COLOR0          0x0101          /* two pixels of palette index 1 */
#define COLOR1          0x0202          /* two pixels of palette index 2 */
#define WAIT_S          120

static char *tmpdir;
static char *disk;

/* -1: no /dev/kvm; else whether KVM_CAP_DIRTY_LOG_HARVEST is there */
static int harvest_cap(void)
{
    int r = kvmfork_kvm_cap(KVM_CAP_DIRTY_LOG_HARVEST);

    return r < 0 ? r : r > 0;
}

static bool ring_cap(void)
{
    return kvmfork_kvm_cap(KVM_CAP_DIRTY_LOG_RING) > 0;
}

/* QEMU's value of one of its counters (target vm, provider kvm) */
static int64_t vm_stat(QTestState *qts, const char *name)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'query-stats', 'arguments': "
                           "{'target': 'vm', 'providers': [{'provider': "
                           "'kvm', 'names': [%s]}]}}", name);
    QList *res = qdict_get_qlist(rsp, "return");
    int64_t v = -1;

    if (res && !qlist_empty(res)) {
        QDict *e = qobject_to(QDict, qlist_peek(res));
        QList *stats = qdict_get_qlist(e, "stats");

        if (stats && !qlist_empty(stats)) {
            v = qdict_get_int(qobject_to(QDict, qlist_peek(stats)), "value");
        }
    }
    qobject_unref(rsp);
    return v;
}

static uint32_t pci_cfg_readl(QTestState *qts, int dev, int off)
{
    qtest_outl(qts, 0xcf8, 0x80000000u | (dev << 11) | off);
    return qtest_inl(qts, 0xcfc);
}

static void vbe_write(QTestState *qts, uint16_t index, uint16_t value)
{
    qtest_outw(qts, 0x1ce, index);
    qtest_outw(qts, 0x1cf, value);
}

/* DAC entries 1 (red) and 2 (cyan), 6 bits per component */
static const guchar dac[2][3] = { { 0x3f, 0, 0 }, { 0, 0x3f, 0x3f } };

static void set_palette(QTestState *qts)
{
    qtest_outb(qts, 0x3c8, 1);              /* DAC write index */
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 3; j++) {
            qtest_outb(qts, 0x3c9, dac[i][j]);
        }
    }
}

/*
 * Screendump to a PPM and count the pixels that are not pattern @seq;
 * the first is described in @first.
 */
static int check_screen(QTestState *qts, uint32_t seq, GString *first)
{
    g_autofree char *ppm = g_strdup_printf("%s/screen.ppm", tmpdir);
    g_autofree gchar *data = NULL;
    guchar want[2][3];
    gsize len;
    int w, h, maxval, off, x, y, bad = 0;
    QDict *rsp;

    rsp = qtest_qmp(qts, "{'execute': 'screendump', 'arguments': "
                    "{'filename': %s}}", ppm);
    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    g_assert(g_file_get_contents(ppm, &data, &len, NULL));
    g_assert(sscanf(data, "P6 %d %d %d%n", &w, &h, &maxval, &off) == 3);
    g_assert_cmpint(w, ==, WIDTH);
    g_assert_cmpint(h, ==, HEIGHT);
    g_assert_cmpint(maxval, ==, 255);
    off++;                          /* the one whitespace after maxval */
    g_assert_cmpuint(len, >=, off + WIDTH * HEIGHT * 3);

    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 3; j++) {
            want[i][j] = dac[i][j] ? 0xff : 0;  /* 0x3f shows as 0xff */
        }
    }
    for (y = 0; y < HEIGHT; y++) {
        for (x = 0; x < WIDTH; x++) {
            const guchar *p = (const guchar *)data + off + (y * WIDTH + x) * 3;
            const guchar *q = want[(((x / 2) >> 4) + (y >> 4) + seq) & 1];

            if (memcmp(p, q, 3)) {
                if (!bad++) {
                    g_string_printf(first, "(%d,%d) is %02x%02x%02x, "
                                    "pattern %u has %02x%02x%02x there",
                                    x, y, p[0], p[1], p[2], seq,
                                    q[0], q[1], q[2]);
                }
            }
        }
    }
    return bad;
}

typedef struct Case {
    const char *name;
    const char *harvest;            /* dirty-harvest= */
    bool ring;
} Case;

/* Whether @c can run here; if not, the case is skipped saying why. */
static bool can_run(const Case *c)
{
    int cap = harvest_cap();

    if (cap < 0) {
        g_test_skip("no /dev/kvm");
        return false;
    }
    if (c->ring && !ring_cap()) {
        g_test_skip("KVM has no dirty ring");
        return false;
    }
    if (!strcmp(c->harvest, "on") && !cap) {
        g_test_skip("this kernel's KVM has no KVM_CAP_DIRTY_LOG_HARVEST");
        return false;
    }
    return true;
}

static QTestState *start_qemu(const Case *c, const char *serial,
                              const char *extra)
{
    unlink(serial);
    return qtest_initf("-accel kvm,dirty-harvest=%s%s -machine pc -m 64 "
                       "-cpu qemu64 -vga std -display none "
                       "-drive file=%s,format=raw -serial file:%s %s",
                       c->harvest, c->ring ? ",dirty-ring-size=4096" : "",
                       disk, serial, extra);
}

/*
 * Start the guest of case @c, wait for its loop, set the display mode and
 * tell the guest where to draw.
 */
static QTestState *boot(const Case *c, const char *serial)
{
    QTestState *qts = start_qemu(c, serial, "");
    QDict *rsp;
    uint32_t lfb;

    /* KVM must be what runs the guest */
    rsp = qtest_qmp(qts, "{'execute': 'query-kvm'}");
    g_assert(qdict_get_bool(qdict_get_qdict(rsp, "return"), "enabled"));
    qobject_unref(rsp);

    /* The guest runs its loop once it has printed 'A' */
    for (int i = 0; ; i++) {
        g_autofree gchar *out = NULL;

        if (g_file_get_contents(serial, &out, NULL, NULL) && strchr(out, 'A')) {
            break;
        }
        g_assert_cmpint(i, <, WAIT_S * 10);
        g_usleep(100 * 1000);
    }

    /* The linear framebuffer: BAR 0 of the VGA at 00:02.0 */
    lfb = pci_cfg_readl(qts, 2, 0x10) & ~0xfu;
    g_assert_cmphex(lfb, !=, 0);
    vbe_write(qts, 4, 0);                   /* VBE_DISPI_INDEX_ENABLE */
    vbe_write(qts, 1, WIDTH);               /* XRES */
    vbe_write(qts, 2, HEIGHT);              /* YRES */
    vbe_write(qts, 3, 8);                   /* BPP */
    vbe_write(qts, 4, 0x41);                /* ENABLED | LFB_ENABLED */
    set_palette(qts);
    qtest_writel(qts, MB_LFB, lfb);
    qtest_writel(qts, MB_WIDTH, GUEST_WIDTH);
    qtest_writel(qts, MB_HEIGHT, HEIGHT);
    qtest_writel(qts, MB_COLORS, COLOR0);
    qtest_writel(qts, MB_COLORS + 4, COLOR1);
    return qts;
}

/* Have the guest draw pattern @seq, and wait until it has */
static void draw(QTestState *qts, uint32_t seq)
{
    qtest_writel(qts, MB_SEQ, seq);
    for (int i = 0; qtest_readl(qts, MB_ACK) != seq; i++) {
        g_assert_cmpint(i, <, WAIT_S * 1000);
        g_usleep(1000);
    }
}

/* A screendump of @qts shows pattern @seq, every pixel */
static void assert_screen(QTestState *qts, const char *what, uint32_t seq)
{
    g_autoptr(GString) first = g_string_new("");
    int bad = check_screen(qts, seq, first);

    if (bad) {
        g_test_message("%s: pattern %u: %d of %d pixels wrong; first: %s",
                       what, seq, bad, WIDTH * HEIGHT, first->str);
    }
    g_assert_cmpint(bad, ==, 0);
}

static void test_patterns(const void *opaque)
{
    const Case *c = opaque;
    g_autofree char *serial = g_strdup_printf("%s/serial", tmpdir);
    bool ours;
    QTestState *qts;
    uint32_t seq;
    int64_t h0, f0;

    if (!can_run(c)) {
        return;
    }
    ours = strcmp(c->harvest, "off") && harvest_cap() > 0;
    qts = boot(c, serial);

    h0 = vm_stat(qts, "qemu_dirty_harvests");
    f0 = vm_stat(qts, "qemu_dirty_harvest_fallbacks");
    for (seq = 1; seq <= PATTERNS; seq++) {
        draw(qts, seq);
        assert_screen(qts, c->name, seq);
    }

    if (ours) {
        int64_t h = vm_stat(qts, "qemu_dirty_harvests") - h0;
        int64_t f = vm_stat(qts, "qemu_dirty_harvest_fallbacks") - f0;

        g_test_message("%s: %" PRId64 " range harvests, %" PRId64
                       " fallbacks over %d refreshes", c->name, h, f,
                       PATTERNS);
        g_assert_cmpint(h, >=, PATTERNS);
        g_assert_cmpint(f, ==, 0);
        g_assert_cmpint(vm_stat(qts, "qemu_dirty_harvest_fallback_kicks"),
                        ==, 0);
    } else {
        g_assert_cmpint(vm_stat(qts, "qemu_dirty_harvests"), ==, 0);
    }
    qtest_quit(qts);
}

static const char *migration_status(QTestState *qts)
{
    static char status[32];
    QDict *rsp = qtest_qmp(qts, "{'execute': 'query-migrate'}");
    QDict *ret = qdict_get_qdict(rsp, "return");

    g_strlcpy(status, ret && qdict_haskey(ret, "status") ?
              qdict_get_str(ret, "status") : "none", sizeof(status));
    qobject_unref(rsp);
    return status;
}

/*
 * Live migration while the display refreshes: the guest keeps drawing
 * patterns and the test keeps taking screendumps, so the display harvests
 * (and clears) the framebuffer's dirty bits all through the migration.
 * Every page it took must still reach migration: on the destination the
 * framebuffer in guest memory, byte for byte, and its screendump, pixel
 * for pixel, are the last pattern drawn.
 */
static void test_migrate(const void *opaque)
{
    const Case *c = opaque;
    g_autofree char *serial = g_strdup_printf("%s/serial", tmpdir);
    g_autofree char *serial2 = g_strdup_printf("%s/serial-dst", tmpdir);
    g_autofree char *sock = g_strdup_printf("%s/migrate.sock", tmpdir);
    g_autofree char *uri = g_strdup_printf("unix:%s", sock);
    g_autofree char *incoming = g_strdup_printf("-incoming %s", uri);
    g_autofree guchar *fb = NULL;
    QTestState *src, *dst;
    uint32_t seq = 0, lfb;
    int during = 0, bad = 0;
    int64_t h0;
    const char *st;

    if (!can_run(c)) {
        return;
    }
    src = boot(c, serial);
    dst = start_qemu(c, serial2, incoming);
    lfb = qtest_readl(src, MB_LFB);
    draw(src, ++seq);
    assert_screen(src, "source", seq);
    h0 = vm_stat(src, "qemu_dirty_harvests");

    /*
     * Slow enough that patterns are drawn while it runs: most of the
     * guest's memory is zero pages, which cost next to nothing to send;
     * what is not (firmware, the framebuffer) takes seconds at 256 KiB/s.
     */
    qtest_qmp_assert_success(src, "{'execute': 'migrate-set-parameters',"
                             "'arguments': {'max-bandwidth': 262144}}");
    qtest_qmp_assert_success(src, "{'execute': 'migrate', 'arguments': "
                             "{'uri': %s}}", uri);
    for (int i = 0; ; i++) {
        st = migration_status(src);
        if (strcmp(st, "setup") && strcmp(st, "active") &&
            strcmp(st, "device")) {
            break;
        }
        g_assert_cmpint(i, <, WAIT_S * 10);
        if (!strcmp(st, "active") && during < PATTERNS) {
            draw(src, ++seq);
            assert_screen(src, "source, migrating", seq);
            during++;
            /* Then let it converge: from here on the guest only waits */
            if (during == PATTERNS) {
                qtest_qmp_assert_success(src,
                    "{'execute': 'migrate-set-parameters',"
                    "'arguments': {'max-bandwidth': 1073741824}}");
            }
        } else {
            g_usleep(100 * 1000);
        }
    }
    g_test_message("%s: migration %s; %d patterns drawn and refreshed while "
                   "it ran; %" PRId64 " harvests on the source", c->name, st,
                   during, vm_stat(src, "qemu_dirty_harvests") - h0);
    g_assert_cmpstr(st, ==, "completed");
    g_assert_cmpint(during, >=, 4);
    if (!strcmp(c->harvest, "on")) {
        g_assert_cmpint(vm_stat(src, "qemu_dirty_harvests") - h0, >, 0);
        g_assert_cmpint(vm_stat(src, "qemu_dirty_harvest_fallbacks"), ==, 0);
    }

    /* The destination runs the guest, which drew pattern seq last */
    for (int i = 0; ; i++) {
        QDict *rsp = qtest_qmp(dst, "{'execute': 'query-status'}");
        bool running = qdict_get_bool(qdict_get_qdict(rsp, "return"),
                                      "running");

        qobject_unref(rsp);
        if (running) {
            break;
        }
        g_assert_cmpint(i, <, WAIT_S * 10);
        g_usleep(100 * 1000);
    }
    g_assert_cmpuint(qtest_readl(dst, MB_ACK), ==, seq);
    fb = g_malloc(WIDTH * HEIGHT);
    qtest_memread(dst, lfb, fb, WIDTH * HEIGHT);
    for (int y = 0; y < HEIGHT; y++) {
        for (int x = 0; x < WIDTH; x++) {
            guchar want = (((x / 2) >> 4) + (y >> 4) + seq) & 1 ? 2 : 1;

            if (fb[y * WIDTH + x] != want && !bad++) {
                g_test_message("%s: destination framebuffer byte (%d,%d) "
                               "is %u, pattern %u has %u there", c->name,
                               x, y, fb[y * WIDTH + x], seq, want);
            }
        }
    }
    if (bad) {
        g_test_message("%s: %d of %d framebuffer bytes on the destination "
                       "are not the last pattern", c->name, bad,
                       WIDTH * HEIGHT);
    }
    g_assert_cmpint(bad, ==, 0);
    assert_screen(dst, "destination", seq);
    /* The destination goes on drawing and refreshing */
    draw(dst, ++seq);
    assert_screen(dst, "destination, after", seq);
    qtest_quit(dst);
    qtest_quit(src);
    unlink(sock);
    unlink(serial2);
}

static const char *wait_migration(QTestState *qts)
{
    const char *st;

    for (int i = 0; ; i++) {
        st = migration_status(qts);
        if (strcmp(st, "setup") && strcmp(st, "active") &&
            strcmp(st, "device") && strcmp(st, "cancelling")) {
            return st;
        }
        g_assert_cmpint(i, <, WAIT_S * 10);
        g_usleep(100 * 1000);
    }
}

/* The migration parameter x-dirty-harvest, as query-migrate-parameters says */
static char *dirty_harvest_param(QTestState *qts)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'query-migrate-parameters'}");
    QDict *ret = qdict_get_qdict(rsp, "return");
    char *v;

    g_assert_nonnull(ret);
    g_assert(qdict_haskey(ret, "x-dirty-harvest"));
    v = g_strdup(qdict_get_str(ret, "x-dirty-harvest"));
    qobject_unref(rsp);
    return v;
}

/*
 * migrate-set-parameters x-dirty-harvest=@value must be refused with an
 * error naming the parameter and containing @why, and leave the parameter
 * at @was.
 */
static void assert_param_refused(QTestState *qts, const char *value,
                                 const char *why, const char *was)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'migrate-set-parameters',"
                           "'arguments': {'x-dirty-harvest': %s}}", value);
    const char *desc;
    g_autofree char *v = NULL;

    g_assert(qdict_haskey(rsp, "error"));
    desc = qdict_get_str(qdict_get_qdict(rsp, "error"), "desc");
    g_test_message("x-dirty-harvest=%s refused: %s", value, desc);
    g_assert(strstr(desc, "x-dirty-harvest"));
    g_assert(strstr(desc, why));
    qobject_unref(rsp);
    v = dirty_harvest_param(qts);
    g_assert_cmpstr(v, ==, was);
}

/*
 * Migrate the source to a file with x-dirty-harvest=@mode; return the final
 * status, and in @err query-migrate's error-desc if there is one.
 */
static const char *migrate_to_file(QTestState *qts, const char *mode,
                                   char **err)
{
    g_autofree char *file = g_strdup_printf("%s/migration.bin", tmpdir);
    g_autofree char *uri = g_strdup_printf("file:%s", file);
    const char *st;
    QDict *rsp, *ret;

    qtest_qmp_assert_success(qts, "{'execute': 'migrate-set-parameters',"
                             "'arguments': {'x-dirty-harvest': %s}}", mode);
    qtest_qmp_assert_success(qts, "{'execute': 'migrate', 'arguments': "
                             "{'uri': %s}}", uri);
    st = wait_migration(qts);
    rsp = qtest_qmp(qts, "{'execute': 'query-migrate'}");
    ret = qdict_get_qdict(rsp, "return");
    *err = g_strdup(ret && qdict_haskey(ret, "error-desc") ?
                    qdict_get_str(ret, "error-desc") : "");
    qobject_unref(rsp);
    unlink(file);
    g_test_message("x-dirty-harvest=%s: migration to a file %s%s%s", mode,
                   st, **err ? ": " : "", *err);
    return st;
}

/*
 * The migration parameter x-dirty-harvest (auto by default) is chosen per
 * migration: a bad value is refused, naming it, and changes nothing; QMP
 * and HMP set and show it.  Where the kernel cannot harvest, on fails the
 * migration with an error that names it and auto migrates on upstream's
 * path; where it can, on harvests (the syncs go by harvest) and off, the
 * next migration of the same QEMU, does not.
 */
static void test_migration_parameter(const void *opaque)
{
    static const Case c = { "migration-parameter", "auto", false };
    g_autofree char *serial = g_strdup_printf("%s/serial", tmpdir);
    g_autofree char *v = NULL, *err = NULL, *hmp = NULL;
    int cap = harvest_cap();
    QTestState *qts;
    int64_t syncs;

    if (cap < 0) {
        g_test_skip("no /dev/kvm");
        return;
    }
    qts = boot(&c, serial);
    v = dirty_harvest_param(qts);
    g_assert_cmpstr(v, ==, "auto");
    g_free(v);

    assert_param_refused(qts, "sometimes", "does not accept value", "auto");

    hmp = qtest_hmp(qts, "migrate_set_parameter x-dirty-harvest off");
    g_assert_cmpstr(hmp, ==, "");
    g_free(hmp);
    v = dirty_harvest_param(qts);
    g_assert_cmpstr(v, ==, "off");
    hmp = qtest_hmp(qts, "info migrate_parameters");
    g_assert(strstr(hmp, "x-dirty-harvest: off"));

    if (!cap) {
        g_assert_cmpstr(migrate_to_file(qts, "on", &err), ==, "failed");
        g_assert(strstr(err, "x-dirty-harvest=on"));
        g_free(err);
        g_assert_cmpstr(migrate_to_file(qts, "auto", &err), ==, "completed");
        g_assert_cmpint(vm_stat(qts, "qemu_migration_harvest_enabled"), ==, 0);
        g_assert_cmpint(vm_stat(qts, "qemu_migration_harvest_syncs"), ==, 0);
    } else {
        g_assert_cmpstr(migrate_to_file(qts, "on", &err), ==, "completed");
        g_assert_cmpint(vm_stat(qts, "qemu_migration_harvest_enabled"), ==, 1);
        syncs = vm_stat(qts, "qemu_migration_harvest_syncs");
        g_assert_cmpint(syncs, >, 0);
        g_free(err);
        qtest_qmp_assert_success(qts, "{'execute': 'cont'}");
        g_assert_cmpstr(migrate_to_file(qts, "off", &err), ==, "completed");
        g_assert_cmpint(vm_stat(qts, "qemu_migration_harvest_enabled"), ==, 0);
        g_assert_cmpint(vm_stat(qts, "qemu_migration_harvest_syncs"), ==,
                        syncs);
    }
    qtest_quit(qts);
    unlink(serial);
}

static void assert_qemu_refuses(const char *args, const char *what)
{
    kvmfork_assert_qemu_refuses(args, what, WAIT_S);
}

/* dirty-harvest=on without the capability, and a bad value, stop QEMU */
static void test_refused(const void *opaque)
{
    const char *value = opaque;
    int cap = harvest_cap();
    g_autofree char *args = NULL;

    if (cap < 0) {
        g_test_skip("no /dev/kvm");
        return;
    }
    if (!strcmp(value, "on") && cap) {
        g_test_skip("this kernel's KVM has KVM_CAP_DIRTY_LOG_HARVEST: "
                    "dirty-harvest=on is accepted here");
        return;
    }
    args = g_strdup_printf("-accel kvm,dirty-harvest=%s", value);
    assert_qemu_refuses(args, "dirty-harvest");
}

/*
 * Without KVM, x-dirty-harvest=on can never work: refused at start-up and
 * by migrate-set-parameters, naming the parameter, changing nothing.  The
 * controls: -global sets off, and QMP then sets auto.
 */
static void test_migration_parameter_tcg(void)
{
    const char *why = "without the KVM accelerator";
    g_autofree char *v = NULL;
    QTestState *qts;

    assert_qemu_refuses("-accel tcg -global migration.x-dirty-harvest=on",
                        why);

    qts = qtest_init("-accel tcg -machine none "
                     "-global migration.x-dirty-harvest=off");
    v = dirty_harvest_param(qts);
    g_assert_cmpstr(v, ==, "off");
    assert_param_refused(qts, "on", why, "off");
    qtest_qmp_assert_success(qts, "{'execute': 'migrate-set-parameters',"
                             "'arguments': {'x-dirty-harvest': 'auto'}}");
    g_free(v);
    v = dirty_harvest_param(qts);
    g_assert_cmpstr(v, ==, "auto");
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    static const Case cases[] = {
        { "bitmap/on", "on", false },
        { "bitmap/off", "off", false },
        { "ring/on", "on", true },
        { "ring/off", "off", true },
        { "bitmap/auto", "auto", false },
    };
    static const Case migrate_cases[] = {
        { "migrate/bitmap/on", "on", false },
        { "migrate/ring/on", "on", true },
        { "migrate/bitmap/off", "off", false },
    };
    int ret;
    GError *err = NULL;

    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("kvm-vga-harvest-XXXXXX", &err);
    g_assert_no_error(err);
    disk = g_strdup_printf("%s/boot.raw", tmpdir);
    g_assert(g_file_set_contents(disk, (const char *)vga_pattern_bootsect,
                                 sizeof(vga_pattern_bootsect), NULL));

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *path = g_strdup_printf("/kvm-vga-harvest/%s",
                                                cases[i].name);

        qtest_add_data_func(path, &cases[i], test_patterns);
    }
    for (int i = 0; i < ARRAY_SIZE(migrate_cases); i++) {
        g_autofree char *path = g_strdup_printf("/kvm-vga-harvest/%s",
                                                migrate_cases[i].name);

        qtest_add_data_func(path, &migrate_cases[i], test_migrate);
    }
    qtest_add_data_func("/kvm-vga-harvest/refused/on-without-kernel", "on",
                        test_refused);
    qtest_add_data_func("/kvm-vga-harvest/refused/bad-value", "sometimes",
                        test_refused);
    qtest_add_data_func("/kvm-vga-harvest/migration-parameter", NULL,
                        test_migration_parameter);
    qtest_add_func("/kvm-vga-harvest/refused/migration-parameter-tcg",
                   test_migration_parameter_tcg);
    ret = g_test_run();

    unlink(disk);
    g_free(disk);
    g_autofree char *ppm = g_strdup_printf("%s/screen.ppm", tmpdir);
    g_autofree char *serial = g_strdup_printf("%s/serial", tmpdir);
    unlink(ppm);
    unlink(serial);
    rmdir(tmpdir);
    g_free(tmpdir);
    return ret;
}
