/*
 * qtest: memory transactions committed as atomic memslot changesets
 * (-accel kvm,atomic-memslots=auto|on|off)
 *
 * Copyright (c) 2026 kvmfork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A guest on KVM (migration-test's x86 boot sector: one vCPU incrementing
 * the first byte of every page from 1 MiB to 100 MiB, forever) keeps
 * writing RAM while the test changes the memory topology under it: it
 * toggles the i440fx PAM segment at 0xc0000 through the host bridge's PCI
 * config space.  With 0xc0000-0xfffff all RAM, that range and the RAM
 * above 1 MiB are one flat range, so each toggle deletes the memslot that
 * holds the guest's working set and adds pieces back (a split), or merges
 * them again: every toggle is one memory transaction whose added ranges
 * overlap its deleted ones, which upstream commits by holding every vCPU.
 *
 * Checked from QEMU's counters in query-stats (target vm, provider kvm):
 * on a kernel with KVM_CAP_MEMSLOT_CHANGESET, atomic-memslots=auto and on
 * commit every toggle as one changeset with no vCPU held or kicked, and
 * the kernel's memslot_changesets counts them; off, and auto on a kernel
 * without the capability, take upstream's path and hold the vCPUs.  Either
 * way the guest's memory stays consistent (the check migration-test makes
 * after a migration).  toggle/refused makes the kernel refuse one
 * changeset (its fault-injection hook): QEMU reports it and commits that
 * toggle the old way, holding the vCPUs once.  atomic-memslots=on on a
 * kernel without the capability, and a value that is not auto/on/off,
 * stop QEMU with a message naming the property.
 */

#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "migration/bootfile.h"
#include "kvmfork/kvmfork-qtest.h"

#define TOGGLES         40
#define I440FX_PAM0     0x59
#define I440FX_PAM1     0x5a
#define GUEST_WAIT_S    120

static char *tmpdir;

/* -1: no /dev/kvm; else what KVM_CHECK_EXTENSION says of the changeset cap */
static int changeset_cap(void)
{
    return kvmfork_kvm_cap(KVM_CAP_MEMSLOT_CHANGESET);
}

static bool kvm_usable(void)
{
    if (!qtest_has_accel("kvm")) {
        g_test_skip("this QEMU has no KVM accelerator");
        return false;
    }
    if (changeset_cap() < 0) {
        g_test_skip("/dev/kvm cannot be opened");
        return false;
    }
    return true;
}

static void test_bad_value(void)
{
    if (!kvm_usable()) {
        return;
    }
    kvmfork_assert_qemu_refuses("-accel kvm,atomic-memslots=maybe",
                                "atomic-memslots", GUEST_WAIT_S);
}

static void test_on_needs_capability(void)
{
    if (!kvm_usable()) {
        return;
    }
    if (changeset_cap() > 0) {
        g_test_skip("this kernel has KVM_CAP_MEMSLOT_CHANGESET, so 'on' "
                    "starts (the toggle/on case runs it)");
        return;
    }
    kvmfork_assert_qemu_refuses("-accel kvm,atomic-memslots=on",
                                "atomic-memslots=on needs "
                                "KVM_SET_MEMSLOT_CHANGESET", GUEST_WAIT_S);
}

/* One scalar of query-stats target vm, provider kvm; -1 if absent */
static int64_t vm_stat(QTestState *qts, const char *name)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-stats', 'arguments': "
                           "{ 'target': 'vm', 'providers': [ { 'provider': "
                           "'kvm', 'names': [ %s ] } ] } }", name);
    QList *results = qdict_get_qlist(rsp, "return");
    int64_t v = -1;
    QListEntry *e, *f;

    g_assert(results);
    QLIST_FOREACH_ENTRY(results, e) {
        QList *stats = qdict_get_qlist(qobject_to(QDict, e->value), "stats");

        QLIST_FOREACH_ENTRY(stats, f) {
            QDict *s = qobject_to(QDict, f->value);

            if (!strcmp(qdict_get_str(s, "name"), name)) {
                v = qdict_get_int(s, "value");
            }
        }
    }
    qobject_unref(rsp);
    return v;
}

static void pci_config_writeb(QTestState *qts, uint8_t reg, uint8_t v)
{
    qtest_outl(qts, 0xcf8, 0x80000000 | (reg & ~3));
    qtest_outb(qts, 0xcfc + (reg & 3), v);
}

/* QEMU's run state ("running", "internal-error", ...) */
static char *run_state(QTestState *qts)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-status' }");
    char *st = g_strdup(qdict_get_str(qdict_get_qdict(rsp, "return"),
                                      "status"));

    qobject_unref(rsp);
    return st;
}

/*
 * Until the boot sector prints its first 'B': true.  False if the guest
 * died first (a KVM internal error or a shutdown stops it) or did not get
 * there in GUEST_WAIT_S.
 */
static bool wait_for_guest(QTestState *qts, const char *serial)
{
    g_test_timer_start();
    for (;;) {
        g_autofree char *s = NULL, *st = NULL;

        if (g_file_get_contents(serial, &s, NULL, NULL) && strchr(s, 'B')) {
            return true;
        }
        st = run_state(qts);
        if (strcmp(st, "running") || g_test_timer_elapsed() > GUEST_WAIT_S) {
            g_test_message("the guest did not start its loop: QEMU's state "
                           "is '%s' after %.0f s", st, g_test_timer_elapsed());
            return false;
        }
        g_usleep(100 * 1000);
    }
}

/*
 * migration-test's check: with the guest stopped, every page's first byte
 * equals the one before it, but for one step down by one where the guest's
 * loop was.  Returns the number of pages that break it.
 */
static int check_guest_ram(QTestState *qts)
{
    const unsigned chunk = 1024 * 1024;
    g_autofree uint8_t *buf = g_malloc(chunk);
    unsigned addr, off;
    bool hit_edge = false;
    uint8_t last = 0;
    int bad = 0;

    for (addr = X86_TEST_MEM_START; addr < X86_TEST_MEM_END; addr += chunk) {
        qtest_bufread(qts, addr, buf, chunk);
        for (off = 0; off < chunk; off += TEST_MEM_PAGE_SIZE) {
            uint8_t b = buf[off];

            if (addr == X86_TEST_MEM_START && !off) {
                last = b;
            } else if (b != last) {
                if ((uint8_t)(b + 1) == last && !hit_edge) {
                    hit_edge = true;
                } else if (++bad <= 10) {
                    g_test_message("guest RAM inconsistent at 0x%x: 0x%x "
                                   "after 0x%x", addr + off, b, last);
                }
                last = b;
            }
        }
    }
    return bad;
}

#define FAIL_ENTRY "/sys/module/kvm/parameters/memslot_changeset_fail_entry"

static void test_toggle(gconstpointer data)
{
    const char *mode = data;
    bool refuse = !strcmp(mode, "refused");
    g_autofree char *serial = NULL;
    const char *boot;           /* bootfile.c's */
    int64_t atomic0, upstream0, holds0, avoided0, kicks0, kernel0, fallback0;
    int64_t atomic, upstream, holds, avoided, kicks, kernel, fallback;
    bool expect_atomic;
    QTestState *qts;
    uint8_t pam1;
    int cap, i, reg;

    if (!kvm_usable()) {
        return;
    }
    cap = changeset_cap();
    if (!strcmp(mode, "on") && !cap) {
        g_test_skip("this kernel has no KVM_CAP_MEMSLOT_CHANGESET "
                    "(on-needs-capability checks that 'on' refuses)");
        return;
    }
    if (refuse) {
        /*
         * The kernel's fault-injection hook refuses the next changeset
         * (entry 0 fails after the first swap, the kernel unwinds): QEMU
         * must report it and commit that toggle slot by slot.
         */
        if (!cap) {
            g_test_skip("this kernel has no KVM_CAP_MEMSLOT_CHANGESET");
            return;
        }
        if (access(FAIL_ENTRY, W_OK)) {
            g_test_skip("no writable " FAIL_ENTRY " (the kernel branch "
                        "built with CONFIG_FAULT_INJECTION, as root)");
            return;
        }
        mode = "on";
    }
    expect_atomic = cap > 0 && strcmp(mode, "off");

    serial = g_strdup_printf("%s/serial-%s", tmpdir, mode);
    boot = bootfile_create("x86_64", tmpdir, false);
    /* smm=off: only address space 0 commits, once per toggle */
    /*
     * A boot that dies before the guest's loop runs (in SeaBIOS, before the
     * test changes anything) is retried once, and says so: in the kvmfork
     * box's TDP mode a guest dies like that now and then on either path
     * (scripts/box/suites/kbench-flake.suite).  Toggling starts only after.
     */
    for (i = 0; ; i++) {
        qts = qtest_initf("-machine pc,smm=off -accel kvm,atomic-memslots=%s "
                          "-cpu qemu64 -smp 2 -m 150M -name memslots-%s "
                          "-serial file:%s -drive file=%s,format=raw",
                          mode, mode, serial, boot);
        if (wait_for_guest(qts, serial)) {
            break;
        }
        g_assert_cmpint(i, <, 1);
        g_test_message("RETRIED: the first boot died before the guest's "
                       "loop; booting once more");
        qtest_quit(qts);
        unlink(serial);
    }

    /* 0xc0000-0xfffff all RAM: one flat range with the RAM above 1 MiB */
    for (reg = I440FX_PAM0; reg <= I440FX_PAM0 + 6; reg++) {
        pci_config_writeb(qts, reg, reg == I440FX_PAM0 ? 0x30 : 0x33);
    }
    pam1 = 0x33;

    atomic0 = vm_stat(qts, "qemu_memslot_commits_atomic");
    upstream0 = vm_stat(qts, "qemu_memslot_commits_upstream");
    holds0 = vm_stat(qts, "qemu_memslot_vcpu_holds");
    avoided0 = vm_stat(qts, "qemu_memslot_vcpu_holds_avoided");
    kicks0 = vm_stat(qts, "qemu_memslot_vcpu_kicks");
    kernel0 = vm_stat(qts, "memslot_changesets");
    fallback0 = vm_stat(qts, "qemu_memslot_commits_fallback");
    if (atomic0 < 0) {
        /* KVM must be what runs the guest (a failed init falls back) */
        QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-kvm' }");

        g_assert_true(qdict_get_bool(qdict_get_qdict(rsp, "return"),
                                     "enabled"));
        qobject_unref(rsp);
        qtest_quit(qts);
        g_test_skip("no kvm provider in query-stats: this kernel has no "
                    "KVM_CAP_BINARY_STATS_FD, so the counters cannot be read");
        return;
    }

    if (refuse) {
        /* a sysfs file: written in place, not replaced by a rename */
        FILE *f = fopen(FAIL_ENTRY, "w");

        g_assert_nonnull(f);
        g_assert_cmpint(fputs("0", f), >=, 0);
        g_assert_cmpint(fclose(f), ==, 0);
    }
    for (i = 0; i < TOGGLES; i++) {
        /* even toggles: the segment at 0xc0000 leaves RAM (split) */
        pci_config_writeb(qts, I440FX_PAM1, (i & 1) ? pam1 : pam1 & 0xf0);
        g_usleep(2000);
    }

    atomic = vm_stat(qts, "qemu_memslot_commits_atomic") - atomic0;
    upstream = vm_stat(qts, "qemu_memslot_commits_upstream") - upstream0;
    holds = vm_stat(qts, "qemu_memslot_vcpu_holds") - holds0;
    avoided = vm_stat(qts, "qemu_memslot_vcpu_holds_avoided") - avoided0;
    kicks = vm_stat(qts, "qemu_memslot_vcpu_kicks") - kicks0;
    kernel = vm_stat(qts, "memslot_changesets");
    fallback = vm_stat(qts, "qemu_memslot_commits_fallback") - fallback0;
    g_test_message("atomic-memslots=%s, kernel capability %d, %d toggles: "
                   "commits atomic %" PRId64 " upstream %" PRId64
                   " fallback %" PRId64 ", vCPU holds %" PRId64
                   " (avoided %" PRId64 "), kicks %" PRId64
                   ", kernel changesets %" PRId64,
                   mode, cap, TOGGLES, atomic, upstream, fallback, holds,
                   avoided, kicks, kernel < 0 ? -1 : kernel - kernel0);

    if (refuse) {
        /* one refused (the hook fires once), reported, committed the old way */
        g_assert_cmpint(fallback, ==, 1);
        g_assert_cmpint(atomic, ==, TOGGLES - 1);
        g_assert_cmpint(kernel - kernel0, ==, TOGGLES - 1);
        g_assert_cmpint(holds, ==, 1);
        g_assert_cmpint(upstream, ==, 0);
    } else if (expect_atomic) {
        g_assert_cmpint(fallback, ==, 0);
        g_assert_cmpint(atomic, ==, TOGGLES);
        g_assert_cmpint(upstream, ==, 0);
        g_assert_cmpint(holds, ==, 0);
        g_assert_cmpint(kicks, ==, 0);
        g_assert_cmpint(avoided, ==, TOGGLES);
        g_assert_cmpint(kernel - kernel0, ==, TOGGLES);
    } else {
        g_assert_cmpint(fallback, ==, 0);
        g_assert_cmpint(atomic, ==, 0);
        g_assert_cmpint(upstream, ==, TOGGLES);
        g_assert_cmpint(holds, ==, TOGGLES);
        g_assert_cmpint(kicks, >=, 1);
        if (kernel >= 0) {
            g_assert_cmpint(kernel - kernel0, ==, 0);
        }
    }

    qtest_qmp_assert_success(qts, "{ 'execute': 'stop' }");
    g_assert_cmpint(check_guest_ram(qts), ==, 0);
    qtest_quit(qts);
    unlink(serial);
}

int main(int argc, char **argv)
{
    g_autoptr(GError) err = NULL;
    int ret;

    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("kvm-memslots-XXXXXX", &err);
    g_assert_no_error(err);

    qtest_add_func("/kvm-memslots/bad-value", test_bad_value);
    qtest_add_func("/kvm-memslots/on-needs-capability",
                   test_on_needs_capability);
    qtest_add_data_func("/kvm-memslots/toggle/auto", "auto", test_toggle);
    qtest_add_data_func("/kvm-memslots/toggle/on", "on", test_toggle);
    qtest_add_data_func("/kvm-memslots/toggle/off", "off", test_toggle);
    qtest_add_data_func("/kvm-memslots/toggle/refused", "refused",
                        test_toggle);
    ret = g_test_run();

    bootfile_delete();
    rmdir(tmpdir);
    g_free(tmpdir);
    return ret;
}
