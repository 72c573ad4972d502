/*
 * Migration's dirty pages, harvested in the background during precopy
 *
 * Copyright (c) 2026 kvmfork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef KVM_MIGRATION_HARVEST_H
#define KVM_MIGRATION_HARVEST_H

#include "system/kvm_int.h"
#include "qapi/qapi-types-stats.h"

/*
 * kvm_init(): probes KVM_CAP_DIRTY_LOG_HARVEST and registers the migration
 * notifier.  At precopy setup the migration parameter x-dirty-harvest
 * (auto|on|off) decides whether this migration harvests: the harvester
 * starts, and stops when precopy ends; on without the capability fails the
 * migration with an error that names the parameter.
 */
void kvm_mig_harvest_init(KVMState *s);

/*
 * kvm_physical_sync_dirty_bitmap(), slots lock held: while migration logs
 * and the harvester is on, sync @mem by harvest (kvm_harvest_sync_slot()).
 * False when it does not: the caller uses KVM_GET_DIRTY_LOG.
 */
bool kvm_mig_harvest_sync_slot(KVMSlot *mem);

/* The KVM listeners' slots lock (kvm-all.c), for the harvester thread. */
void kvm_memslots_lock(void);
void kvm_memslots_unlock(void);

/* query-stats, target vm, provider kvm: the harvester's counters */
StatsList *kvm_mig_harvest_stats(StatsList *list, strList *names);
StatsSchemaValueList *kvm_mig_harvest_stats_schema(StatsSchemaValueList *list);

#endif
