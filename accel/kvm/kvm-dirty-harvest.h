/*
 * A display's dirty pages, harvested by range with KVM_HARVEST_DIRTY_LOG
 *
 * Copyright (c) 2026 kvmfork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef KVM_DIRTY_HARVEST_H
#define KVM_DIRTY_HARVEST_H

#include "system/kvm_int.h"
#include "qapi/qapi-types-stats.h"

/* -accel kvm,dirty-harvest=auto|on|off */
void kvm_harvest_class_init(ObjectClass *oc);

/*
 * kvm_init(), before the memory listeners are registered: probes
 * KVM_CAP_DIRTY_LOG_HARVEST; fails for dirty-harvest=on without it.
 */
int kvm_harvest_init(KVMState *s, Error **errp);

/* Whether the listener gets log_sync_range */
bool kvm_harvest_enabled(void);

/*
 * Dirty pages all harvests returned so far, less those a sync had already
 * fetched (read with the slots lock held)
 */
uint64_t kvm_harvest_pages_total(void);

/*
 * kvm_mem_flags(): @flags for a slot of @mr, with KVM_MEM_DIRTY_LOG_BITMAP
 * added when the VM has a dirty ring and @mr is logged for the display,
 * so that the display's pages stay in a bitmap that can be harvested by
 * range, without flushing every vCPU's ring.
 */
int kvm_harvest_mem_flags(MemoryRegion *mr, int flags);

/*
 * kvm_slot_update_flags(): the kernel refuses to move a slot between ring
 * and bitmap while it logs; keep @old_flags' choice while logging stays on.
 */
int kvm_harvest_keep_flags(int old_flags, int flags);

/*
 * The listener's log_sync_range, with the slots lock held: harvest the
 * part of @mem between guest physical @start and @start + @size (widened
 * to the kernel's 64-page alignment) and set its dirty pages for every
 * dirty-memory client.  False when this slot cannot be harvested by range
 * (it logs into the ring, or the kernel refused): the caller syncs
 * upstream's way.
 */
bool kvm_harvest_range(KVMSlot *mem, hwaddr start, hwaddr size);

/*
 * A whole sync of @mem, with the slots lock held, by KVM_HARVEST_DIRTY_LOG
 * instead of KVM_GET_DIRTY_LOG: its cost follows the dirty pages (the
 * kernel's dirty summary), not the slot's size.  The returned pages are
 * set for every dirty-memory client and kept in @mem's bitmap for the
 * consumers' lazy clears, as after KVM_GET_DIRTY_LOG.  Only with manual
 * protection and the bitmap; false when it cannot (the caller syncs
 * upstream's way).
 */
bool kvm_harvest_sync_slot(KVMSlot *mem);

/*
 * With the dirty ring, where the rings are reaped for a whole sync or a
 * slot's deletion: OR the whole log of a KVM_MEM_DIRTY_LOG_BITMAP slot
 * into mem->dirty_bmap, which the caller then hands to QEMU's bitmaps.
 */
void kvm_harvest_slot_into_bmap(KVMSlot *mem);

/*
 * memory.c fell back to a whole sync for a display's range; with the ring
 * that kicks every vCPU: count the refresh and its kicks.
 */
void kvm_harvest_count_fallback(void);

/* query-stats, target vm, provider kvm: QEMU's harvest counters */
StatsList *kvm_harvest_stats(StatsList *list, strList *names);
StatsSchemaValueList *kvm_harvest_stats_schema(StatsSchemaValueList *list);

#endif
