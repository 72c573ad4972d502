/*
 * What the kvmfork qtests (kvm-memslots-test, kvm-vga-harvest-test) share:
 * asking this host's KVM for a capability, and starting a QEMU that must
 * refuse its command line.
 *
 * Copyright (c) 2026 kvmfork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef KVMFORK_QTEST_H
#define KVMFORK_QTEST_H

#include <sys/ioctl.h>
#include <linux/kvm.h>

/* -1: /dev/kvm cannot be opened; else KVM_CHECK_EXTENSION's answer, >= 0 */
static inline int kvmfork_kvm_cap(long cap)
{
    int fd = open("/dev/kvm", O_RDWR);
    int r;

    if (fd < 0) {
        return -1;
    }
    r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
    close(fd);
    return r > 0 ? r : 0;
}

/*
 * Start QEMU (-machine none, no display, no devices) with @args, which it
 * must refuse: exit non-zero with @what on stderr.  Bounded by timeout(1)
 * at @wait_s: a QEMU that runs on instead of refusing fails the test (exit
 * 124) instead of hanging it.
 */
static inline void kvmfork_assert_qemu_refuses(const char *args,
                                               const char *what, int wait_s)
{
    const char *qemu = getenv("QTEST_QEMU_BINARY");
    g_autofree char *cmd = NULL;
    g_autofree gchar *out = NULL, *err = NULL;
    gint status;

    g_assert_nonnull(qemu);
    cmd = g_strdup_printf("timeout %d %s -machine none -display none "
                          "-nodefaults %s", wait_s, qemu, args);
    g_assert(g_spawn_command_line_sync(cmd, &out, &err, &status, NULL));
    g_test_message("%s: exit %d; QEMU said: %s", cmd,
                   WIFEXITED(status) ? WEXITSTATUS(status) : -1, err);
    g_assert(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), !=, 0);
    g_assert_cmpint(WEXITSTATUS(status), !=, 124);    /* it did not run on */
    g_assert_nonnull(strstr(err, what));
}

#endif /* KVMFORK_QTEST_H */
