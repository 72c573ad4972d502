/*
 * KVM memory transactions committed as one atomic memslot changeset
 *
 * Copyright (c) 2026 kvmfork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef KVM_MEMSLOT_CHANGESET_H
#define KVM_MEMSLOT_CHANGESET_H

#include "system/kvm_int.h"
#include "qapi/qapi-types-stats.h"

/* -accel kvm,atomic-memslots=auto|on|off */
void kvm_changeset_class_init(ObjectClass *oc);

/*
 * Called by kvm_init() before the memory listeners are registered: probes
 * KVM_CAP_MEMSLOT_CHANGESET; fails for atomic-memslots=on without it.
 */
int kvm_changeset_init(KVMState *s, Error **errp);

/*
 * kvm_region_commit(), with the slots lock held, around its delete and add
 * loops.  begin() returns true when the transaction goes to the kernel as
 * one changeset (nothing to hold the vCPUs for); otherwise upstream's path
 * runs unchanged, holding the vCPUs if @need_inhibit.  end() submits the
 * changeset (or, when the kernel refuses it or dirty bits must be read
 * from slots it drops, applies it on upstream's path) and ends the
 * transaction on either path; it returns whether it held the vCPUs.
 */
bool kvm_changeset_begin(KVMMemoryListener *kml, bool need_inhibit);
bool kvm_changeset_end(KVMMemoryListener *kml);

/*
 * kvm_set_user_memory_region(): while a changeset is being collected,
 * queue @mem (the slot id, with the address space in the top 16 bits, and
 * what it becomes; memory_size 0 deletes it) instead of calling the ioctl,
 * and return true.  Outside one, return false: the caller calls the ioctl,
 * then reports success with kvm_changeset_applied().
 */
bool kvm_changeset_queue(KVMMemoryListener *kml, KVMSlot *slot,
                         const struct kvm_userspace_memory_region2 *mem);
void kvm_changeset_applied(const struct kvm_userspace_memory_region2 *mem,
                           ram_addr_t ram_start_offset);

/*
 * kvm_set_phys_mem(), before it deletes a slot that logs dirty pages: true
 * while a changeset is collected, which takes care of the slot's dirty bits
 * (the kernel carries them, or kvm_changeset_end() harvests the slot on
 * upstream's path): the harvest there is not needed.
 */
bool kvm_changeset_carries_dirty(KVMMemoryListener *kml, const KVMSlot *mem);

/* kvm_set_phys_mem(): a deleted slot's bitmap, freed once the kernel agreed */
void kvm_changeset_free_bitmap(KVMMemoryListener *kml, unsigned long *bmap);

/* query-stats, target vm, provider kvm: QEMU's own commit counters */
StatsList *kvm_changeset_stats(StatsList *list, strList *names);
StatsSchemaValueList *kvm_changeset_stats_schema(StatsSchemaValueList *list);

#endif
