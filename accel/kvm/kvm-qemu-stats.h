/*
 * QEMU's own KVM counters in query-stats (target vm, provider kvm)
 *
 * Copyright (c) 2026 kvmfork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef KVM_QEMU_STATS_H
#define KVM_QEMU_STATS_H

#include "qapi/qapi-types-stats.h"

typedef struct KVMQemuStatDesc {
    const char *name;
    StatsType type;
    bool ns;                        /* a time in nanoseconds */
} KVMQemuStatDesc;

/* Prepend the @n counters of @desc, with @values, that @names selects */
StatsList *kvm_qemu_stats_list(StatsList *list, strList *names,
                               const KVMQemuStatDesc *desc,
                               const uint64_t *values, int n);
/* Prepend the schemas of the @n counters of @desc */
StatsSchemaValueList *kvm_qemu_stats_schema(StatsSchemaValueList *list,
                                            const KVMQemuStatDesc *desc,
                                            int n);

#endif
