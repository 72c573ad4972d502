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
#include "qapi/qapi-types-common.h"
#include "qom/object.h"

/*
 * An OnOffAuto property @name of the accelerator class @oc, kept in
 * *@var (a file's static setting, read at kvm_init()).
 */
void kvm_qemu_property_add_on_off_auto(ObjectClass *oc, const char *name,
                                       OnOffAuto *var, const char *desc);

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
