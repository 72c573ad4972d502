/*
 * KVM memory transactions committed as one atomic memslot changeset
 *
 * Copyright (c) 2026 kvmfork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Upstream's kvm_region_commit() changes the guest's memory layout with
 * one KVM_SET_USER_MEMORY_REGION2 per deleted and per added slot.  Between
 * two of them a running vCPU can find a hole where memory was and will be
 * again, so when an added range overlaps a deleted one it first kicks
 * every vCPU out of KVM_RUN and holds it there (accel_ioctl_inhibit_begin).
 * The pause grows with the number of vCPUs.
 *
 * With KVM_CAP_MEMSLOT_CHANGESET (the kvmfork kernel branch), the same
 * slot updates are collected while the transaction is committed and go to
 * the kernel as one KVM_SET_MEMSLOT_CHANGESET: the kernel applies them all
 * or none, a vCPU never sees a layout in between, and nobody is kicked.
 *
 * What stays upstream's: kvm-all.c's KVMSlot bookkeeping (slot ids, the
 * split at kvm_max_slot_size, dirty bitmaps) runs unchanged; only the
 * ioctl is deferred.  This file keeps its own record of what the kernel
 * has for each slot id (updated on every successful ioctl, here or in
 * kvm-all.c), so that a queued update knows the slot it replaces: the
 * changeset can then name each slot id once (a delete and a re-use of the
 * same id become one "change"), and a changeset the kernel refuses can
 * still be applied on upstream's path, deletes first, holding the vCPUs.
 *
 * Dirty logging: the kernel carries the dirty bits of a deleted or
 * replaced slot that logs into a bitmap to the slots the same changeset
 * creates or replaces that map the same userspace page and log too,
 * including writes made while the changeset is applied; a slot that only
 * moves or changes flags keeps its bitmap.  So while collecting, the
 * harvest kvm_set_phys_mem() does before deleting a logging slot is left
 * to kvm_changeset_end(), which looks at the whole changeset: if every
 * page of every logging slot that goes away lands in a logging slot the
 * kernel carries it to, nothing needs harvesting and the changeset goes to
 * the kernel.  Otherwise (a page leaves the layout, or stops being logged)
 * the writes up to the change can only be read from the old slot while
 * the guest cannot write it any more: the transaction is applied on
 * upstream's path, holding the vCPUs when upstream would, and the old
 * slots are harvested inside the hold.  With the dirty ring, entries
 * already in the rings name the old slot ids and vCPUs keep pushing them
 * until the change: a transaction that deletes logging memory takes
 * upstream's path altogether.
 *
 * guest_memfd slots can only be deleted by a changeset, and a deleted id
 * reused for a new slot would be a change the kernel refuses: transactions
 * with guest_memfd memory take upstream's path.
 */

#include "qemu/osdep.h"
#include <linux/kvm.h>
#include "qemu/error-report.h"
#include "qemu/range.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qapi/qapi-visit-common.h"
#include "system/kvm_int.h"
#include "system/accel-blocker.h"
#include "system/stats.h"
#include "exec/memory.h"
#include "exec/ram_addr.h"
#include "kvm-memslot-changeset.h"
#include "kvm-qemu-stats.h"
#include "trace.h"

/* What the kernel has for one slot id (a key: as_id << 16 | id). */
typedef struct KVMKernelSlot {
    struct kvm_userspace_memory_region2 r;
    ram_addr_t ram_start_offset;
} KVMKernelSlot;

/* One slot id of the changeset being collected: what it was, what it becomes */
typedef struct KVMChangesetEntry {
    KVMKernelSlot old;              /* old.r.memory_size == 0: no slot */
    KVMKernelSlot new;              /* new.r.memory_size == 0: deleted */
} KVMChangesetEntry;

/* QEMU's counters, in query-stats (target vm, provider kvm) */
typedef struct KVMChangesetStats {
    uint64_t commits_atomic;        /* one KVM_SET_MEMSLOT_CHANGESET */
    uint64_t commits_upstream;      /* upstream's path by choice */
    /*
     * atomic-memslots wanted, upstream's path taken: refused, too large,
     * dirty bits to harvest, dirty ring, guest_memfd
     */
    uint64_t commits_fallback;
    uint64_t entries;               /* in changesets the kernel applied */
    uint64_t holds;                 /* commits that held every vCPU */
    uint64_t holds_avoided;         /* atomic commits upstream would hold */
    uint64_t kicks;                 /* vCPU kicks the holds sent */
    uint64_t ns_last, ns_max, ns_total;
} KVMChangesetStats;

static struct {
    OnOffAuto mode;
    int max_entries;                /* 0: no changesets, upstream's path */
    GHashTable *kernel;             /* key+1 -> KVMKernelSlot */

    /* the transaction being committed, under the slots lock */
    KVMMemoryListener *kml;
    bool atomic;                    /* collecting a changeset */
    bool wanted;                    /* atomic-memslots would have it */
    bool need_inhibit;
    bool held;                      /* this file held the vCPUs */
    int64_t start;
    uint64_t kicks;
    GArray *entries;                /* KVMChangesetEntry */
    GPtrArray *bitmaps;             /* freed after the kernel commit */

    KVMChangesetStats stats;
} cs = { .mode = ON_OFF_AUTO_AUTO };

void kvm_changeset_class_init(ObjectClass *oc)
{
    kvm_qemu_property_add_on_off_auto(oc, "atomic-memslots", &cs.mode,
        "Commit each memory transaction as one atomic memslot changeset "
        "(KVM_SET_MEMSLOT_CHANGESET), without holding the vCPUs: "
        "on, off, or auto (default: if the kernel can)");
}

int kvm_changeset_init(KVMState *s, Error **errp)
{
    int max = kvm_vm_check_extension(s, KVM_CAP_MEMSLOT_CHANGESET);

    cs.kernel = g_hash_table_new_full(g_direct_hash, g_direct_equal,
                                      NULL, g_free);
    cs.entries = g_array_new(false, false, sizeof(KVMChangesetEntry));
    cs.bitmaps = g_ptr_array_new_with_free_func(g_free);
    cs.max_entries = 0;

    if (cs.mode == ON_OFF_AUTO_OFF) {
        return 0;
    }
    if (max <= 0) {
        if (cs.mode == ON_OFF_AUTO_ON) {
            error_setg(errp, "atomic-memslots=on needs "
                       "KVM_SET_MEMSLOT_CHANGESET (KVM_CAP_MEMSLOT_CHANGESET), "
                       "which this kernel's KVM does not have; use "
                       "atomic-memslots=auto or off");
            return -ENOTSUP;
        }
        return 0;
    }
    cs.max_entries = max;
    return 0;
}

static gpointer kvm_changeset_key(uint32_t slot)
{
    return GUINT_TO_POINTER(slot + 1);
}

void kvm_changeset_applied(const struct kvm_userspace_memory_region2 *mem,
                           ram_addr_t ram_start_offset)
{
    KVMKernelSlot *k;

    if (!cs.kernel) {
        return;
    }
    if (!mem->memory_size) {
        g_hash_table_remove(cs.kernel, kvm_changeset_key(mem->slot));
        return;
    }
    k = g_new0(KVMKernelSlot, 1);
    k->r = *mem;
    k->ram_start_offset = ram_start_offset;
    g_hash_table_replace(cs.kernel, kvm_changeset_key(mem->slot), k);
}

/* Whether the transaction can go to the kernel as one changeset */
static bool kvm_changeset_fits(KVMMemoryListener *kml)
{
    bool ring = kvm_state->kvm_dirty_ring_size;
    KVMMemoryUpdate *u;
    int sections = 0;

    QSIMPLEQ_FOREACH(u, &kml->transaction_del, next) {
        MemoryRegion *mr = u->section.mr;

        if (memory_region_has_guest_memfd(mr) ||
            (ring && memory_region_get_dirty_log_mask(mr))) {
            return false;
        }
        sections++;
    }
    QSIMPLEQ_FOREACH(u, &kml->transaction_add, next) {
        if (memory_region_has_guest_memfd(u->section.mr)) {
            return false;
        }
        sections++;
    }
    /*
     * A section is one slot unless kvm_max_slot_size splits it (not on
     * x86); a changeset that grows past the limit anyway is applied on
     * upstream's path in kvm_changeset_end().
     */
    return sections <= cs.max_entries;
}

bool kvm_changeset_begin(KVMMemoryListener *kml, bool need_inhibit)
{
    cs.kml = kml;
    cs.need_inhibit = need_inhibit;
    cs.held = false;
    cs.start = get_clock();
    cs.kicks = accel_ioctl_inhibit_kicks();
    g_array_set_size(cs.entries, 0);
    cs.wanted = cs.max_entries > 0;
    cs.atomic = cs.wanted && kvm_changeset_fits(kml);
    return cs.atomic;
}

static KVMChangesetEntry *kvm_changeset_find(uint32_t slot)
{
    guint i;

    for (i = 0; i < cs.entries->len; i++) {
        KVMChangesetEntry *e = &g_array_index(cs.entries, KVMChangesetEntry, i);

        if (e->new.r.slot == slot) {
            return e;
        }
    }
    return NULL;
}

bool kvm_changeset_queue(KVMMemoryListener *kml, KVMSlot *slot,
                         const struct kvm_userspace_memory_region2 *mem)
{
    KVMChangesetEntry *e;

    if (!cs.atomic || kml != cs.kml) {
        return false;
    }
    e = kvm_changeset_find(mem->slot);
    if (!e) {
        KVMChangesetEntry fresh = { };
        KVMKernelSlot *k = g_hash_table_lookup(cs.kernel,
                                               kvm_changeset_key(mem->slot));

        if (k) {
            fresh.old = *k;
        } else {
            fresh.old.r.slot = mem->slot;
        }
        g_array_append_val(cs.entries, fresh);
        e = &g_array_index(cs.entries, KVMChangesetEntry, cs.entries->len - 1);
    }
    e->new.r = *mem;
    e->new.ram_start_offset = slot->ram_start_offset;
    trace_kvm_memslot_changeset_queue(mem->slot >> 16, (uint16_t)mem->slot,
                                      mem->flags, mem->guest_phys_addr,
                                      mem->memory_size, mem->userspace_addr);
    return true;
}

bool kvm_changeset_carries_dirty(KVMMemoryListener *kml, const KVMSlot *mem)
{
    /* kvm_changeset_end() carries or harvests (never with the dirty ring) */
    return cs.atomic && kml == cs.kml;
}

void kvm_changeset_free_bitmap(KVMMemoryListener *kml, unsigned long *bmap)
{
    if (cs.atomic && kml == cs.kml && bmap) {
        g_ptr_array_add(cs.bitmaps, bmap);
    } else {
        g_free(bmap);
    }
}

static bool kvm_region2_equal(const struct kvm_userspace_memory_region2 *a,
                              const struct kvm_userspace_memory_region2 *b)
{
    return a->slot == b->slot && a->flags == b->flags &&
           a->guest_phys_addr == b->guest_phys_addr &&
           a->memory_size == b->memory_size &&
           a->userspace_addr == b->userspace_addr &&
           a->guest_memfd_offset == b->guest_memfd_offset &&
           a->guest_memfd == b->guest_memfd;
}

/* What the kernel makes of an entry (kvm_cs_classify() in the kernel) */
typedef enum {
    KVM_CS_NOOP, KVM_CS_CREATE, KVM_CS_DELETE, KVM_CS_REPLACE, KVM_CS_MOVE,
    KVM_CS_FLAGS,
} KVMChangesetKind;

static KVMChangesetKind kvm_changeset_kind(const KVMChangesetEntry *e)
{
    const struct kvm_userspace_memory_region2 *o = &e->old.r, *n = &e->new.r;

    if (!o->memory_size) {
        return n->memory_size ? KVM_CS_CREATE : KVM_CS_NOOP;
    }
    if (!n->memory_size) {
        return KVM_CS_DELETE;
    }
    if (o->memory_size != n->memory_size ||
        o->userspace_addr != n->userspace_addr ||
        ((o->flags ^ n->flags) & KVM_MEM_READONLY)) {
        return KVM_CS_REPLACE;
    }
    if (o->guest_phys_addr != n->guest_phys_addr) {
        return KVM_CS_MOVE;
    }
    return o->flags == n->flags ? KVM_CS_NOOP : KVM_CS_FLAGS;
}

static bool kvm_logs(const struct kvm_userspace_memory_region2 *r)
{
    return r->memory_size && (r->flags & KVM_MEM_LOG_DIRTY_PAGES);
}

/* Does the kernel carry every dirty bit of @e's old slot somewhere? */
static bool kvm_changeset_carried(const KVMChangesetEntry *e)
{
    KVMChangesetKind kind = kvm_changeset_kind(e);
    uint64_t pos = e->old.r.userspace_addr;
    uint64_t end = pos + e->old.r.memory_size;
    bool progress = true;
    guint i;

    if (!kvm_logs(&e->old.r) || kind == KVM_CS_NOOP) {
        return true;
    }
    if (kind == KVM_CS_MOVE || kind == KVM_CS_FLAGS) {
        return kvm_logs(&e->new.r);     /* the slot keeps its bitmap */
    }
    /* DELETE, REPLACE: into logging slots the changeset creates or replaces */
    while (pos < end && progress) {
        progress = false;
        for (i = 0; i < cs.entries->len; i++) {
            const KVMChangesetEntry *t =
                &g_array_index(cs.entries, KVMChangesetEntry, i);
            KVMChangesetKind tk = kvm_changeset_kind(t);
            uint64_t ts = t->new.r.userspace_addr;
            uint64_t te = ts + t->new.r.memory_size;

            if ((tk == KVM_CS_CREATE || tk == KVM_CS_REPLACE) &&
                kvm_logs(&t->new.r) && ts <= pos && pos < te) {
                pos = te;
                progress = true;
            }
        }
    }
    return pos >= end;
}

/* Drop the entries that leave their slot id as the kernel has it. */
static void kvm_changeset_compact(void)
{
    guint i = 0;

    while (i < cs.entries->len) {
        KVMChangesetEntry *e = &g_array_index(cs.entries, KVMChangesetEntry, i);

        if ((!e->old.r.memory_size && !e->new.r.memory_size) ||
            (e->old.r.memory_size &&
             kvm_region2_equal(&e->old.r, &e->new.r))) {
            g_array_remove_index(cs.entries, i);
        } else {
            i++;
        }
    }
}

/* What a slot maps, for messages: the memory region of its host address */
static const char *kvm_changeset_region_name(
    const struct kvm_userspace_memory_region2 *r)
{
    ram_addr_t offset;
    MemoryRegion *mr;

    if (!r->memory_size) {
        return "(deleted)";
    }
    mr = memory_region_from_host((void *)(uintptr_t)r->userspace_addr,
                                 &offset);
    return mr ? memory_region_name(mr) : "(no RAM region)";
}

static void kvm_changeset_report(const char *what,
                                 const struct kvm_userspace_memory_region2 *r,
                                 int err)
{
    error_report("%s: AddrSpace#%u Slot#%u gpa=0x%" PRIx64 " size=0x%" PRIx64
                 " ua=0x%" PRIx64 " flags=0x%" PRIx32 " (%s): %s", what,
                 r->slot >> 16, (uint16_t)r->slot,
                 (uint64_t)r->guest_phys_addr, (uint64_t)r->memory_size,
                 (uint64_t)r->userspace_addr, r->flags,
                 kvm_changeset_region_name(r), strerror(-err));
}

/*
 * Before applying a changeset slot by slot: the dirty bits of the logging
 * slots it deletes or changes, whose harvest kvm_set_phys_mem() left to
 * this file (never with the dirty ring: see kvm_changeset_fits()).
 */
static void kvm_changeset_harvest_old(void)
{
    guint i;

    for (i = 0; i < cs.entries->len; i++) {
        KVMChangesetEntry *e = &g_array_index(cs.entries, KVMChangesetEntry, i);
        uint64_t pages = e->old.r.memory_size / qemu_real_host_page_size();
        g_autofree unsigned long *bmap = NULL;
        struct kvm_dirty_log d = { .slot = e->old.r.slot };
        int ret;

        if (!e->old.r.memory_size ||
            !(e->old.r.flags & KVM_MEM_LOG_DIRTY_PAGES)) {
            continue;
        }
        bmap = bitmap_new(ROUND_UP(pages, 64));
        d.dirty_bitmap = bmap;
        ret = kvm_vm_ioctl(kvm_state, KVM_GET_DIRTY_LOG, &d);
        if (ret && ret != -ENOENT) {
            kvm_changeset_report("KVM_GET_DIRTY_LOG before a slot-by-slot "
                                 "commit failed", &e->old.r, ret);
            continue;
        }
        if (!ret) {
            cpu_physical_memory_set_dirty_lebitmap(bmap,
                                                   e->old.ram_start_offset,
                                                   pages);
        }
    }
}

static void kvm_changeset_ioctl_one(struct kvm_userspace_memory_region2 *r,
                                    ram_addr_t ram_start_offset)
{
    int ret = kvm_vm_ioctl(kvm_state, KVM_SET_USER_MEMORY_REGION2, r);

    trace_kvm_set_user_memory(r->slot >> 16, (uint16_t)r->slot, r->flags,
                              r->guest_phys_addr, r->memory_size,
                              r->userspace_addr, r->guest_memfd,
                              r->guest_memfd_offset, ret);
    if (ret < 0) {
        kvm_changeset_report("KVM_SET_USER_MEMORY_REGION2 failed while "
                             "applying a memory transaction slot by slot",
                             r, ret);
        abort();
    }
    kvm_changeset_applied(r, ram_start_offset);
}

/*
 * Upstream's order: every old slot deleted, then every new one created,
 * holding the vCPUs when upstream would; the dirty logs of the old slots
 * are read inside the hold, right before their deletion.
 */
static void kvm_changeset_apply_one_by_one(void)
{
    guint i;

    if (cs.need_inhibit) {
        accel_ioctl_inhibit_begin();
        cs.held = true;
    }
    kvm_changeset_harvest_old();
    for (i = 0; i < cs.entries->len; i++) {
        KVMChangesetEntry *e = &g_array_index(cs.entries, KVMChangesetEntry, i);
        struct kvm_userspace_memory_region2 del = e->old.r;

        if (del.memory_size) {
            del.memory_size = 0;
            kvm_changeset_ioctl_one(&del, 0);
        }
    }
    for (i = 0; i < cs.entries->len; i++) {
        KVMChangesetEntry *e = &g_array_index(cs.entries, KVMChangesetEntry, i);

        if (e->new.r.memory_size) {
            kvm_changeset_ioctl_one(&e->new.r, e->new.ram_start_offset);
        }
    }
    if (cs.need_inhibit) {
        accel_ioctl_inhibit_end();
    }
}

static int kvm_changeset_submit(const char **path)
{
    g_autofree struct kvm_userspace_memory_region2 *v = NULL;
    struct kvm_memslot_changeset c = { };
    guint i, n = cs.entries->len;
    int ret;

    for (i = 0; i < n; i++) {
        KVMChangesetEntry *e = &g_array_index(cs.entries, KVMChangesetEntry, i);

        if (!kvm_changeset_carried(e)) {
            trace_kvm_memslot_changeset_harvest(e->old.r.slot >> 16,
                                                (uint16_t)e->old.r.slot);
            *path = "fallback";
            kvm_changeset_apply_one_by_one();
            return -EAGAIN;
        }
    }
    if (n > cs.max_entries) {
        warn_report_once("a memory transaction of %u memslot changes is "
                         "larger than KVM_SET_MEMSLOT_CHANGESET takes (%d): "
                         "committing such transactions slot by slot, "
                         "holding the vCPUs", n, cs.max_entries);
        *path = "fallback";
        kvm_changeset_apply_one_by_one();
        return -E2BIG;
    }
    v = g_new(struct kvm_userspace_memory_region2, n);
    for (i = 0; i < n; i++) {
        v[i] = g_array_index(cs.entries, KVMChangesetEntry, i).new.r;
    }
    c.nent = n;
    c.entries = (uintptr_t)v;
    c.error_index = n;
    ret = kvm_vm_ioctl(kvm_state, KVM_SET_MEMSLOT_CHANGESET, &c);
    if (ret < 0) {
        /*
         * All or nothing: the kernel's slots are as they were, so the same
         * transaction can still be applied the old way; if that fails too,
         * it stops naming the slot.
         */
        if (c.error_index < n) {
            g_autofree char *what = g_strdup_printf(
                "KVM_SET_MEMSLOT_CHANGESET of %u entries refused entry %u", n,
                c.error_index);
            kvm_changeset_report(what, &v[c.error_index], ret);
        } else {
            error_report("KVM_SET_MEMSLOT_CHANGESET of %u entries refused "
                         "(no single entry to blame): %s", n, strerror(-ret));
        }
        error_printf("Applying this memory transaction slot by slot, "
                     "holding the vCPUs.\n");
        *path = "fallback";
        kvm_changeset_apply_one_by_one();
        return ret;
    }
    for (i = 0; i < n; i++) {
        KVMChangesetEntry *e = &g_array_index(cs.entries, KVMChangesetEntry, i);

        kvm_changeset_applied(&e->new.r, e->new.ram_start_offset);
    }
    *path = "changeset";
    cs.stats.entries += n;
    return 0;
}

bool kvm_changeset_end(KVMMemoryListener *kml)
{
    const char *path = cs.wanted ? "fallback" : "upstream";
    int nent = 0, ret = 0;
    uint64_t ns;

    if (kml != cs.kml) {
        return false;
    }
    if (cs.atomic) {
        kvm_changeset_compact();
        nent = cs.entries->len;
        path = "changeset";         /* if nothing reaches the kernel */
        if (nent) {
            ret = kvm_changeset_submit(&path);
        }
    }
    if (!strcmp(path, "changeset")) {
        if (cs.need_inhibit) {
            cs.stats.holds_avoided++;
        }
    } else if (cs.need_inhibit) {
        cs.stats.holds++;           /* here or in kvm_region_commit() */
    }

    if (!strcmp(path, "changeset")) {
        cs.stats.commits_atomic++;
    } else if (!strcmp(path, "fallback")) {
        cs.stats.commits_fallback++;
    } else {
        cs.stats.commits_upstream++;
    }
    cs.stats.kicks += accel_ioctl_inhibit_kicks() - cs.kicks;
    ns = get_clock() - cs.start;
    cs.stats.ns_last = ns;
    cs.stats.ns_max = MAX(cs.stats.ns_max, ns);
    cs.stats.ns_total += ns;
    trace_kvm_memslot_changeset(kml->as_id, nent, path, ret, ns);

    g_ptr_array_set_size(cs.bitmaps, 0);
    g_array_set_size(cs.entries, 0);
    cs.atomic = false;
    cs.kml = NULL;
    return cs.held;
}

/* query-stats: QEMU's own counters beside the kernel's */
static const KVMQemuStatDesc kvm_changeset_stat_desc[] = {
    { "qemu_memslot_commits_atomic", STATS_TYPE_CUMULATIVE },
    { "qemu_memslot_commits_upstream", STATS_TYPE_CUMULATIVE },
    { "qemu_memslot_commits_fallback", STATS_TYPE_CUMULATIVE },
    { "qemu_memslot_changeset_entries", STATS_TYPE_CUMULATIVE },
    { "qemu_memslot_vcpu_holds", STATS_TYPE_CUMULATIVE },
    { "qemu_memslot_vcpu_holds_avoided", STATS_TYPE_CUMULATIVE },
    { "qemu_memslot_vcpu_kicks", STATS_TYPE_CUMULATIVE },
    { "qemu_memslot_commit_ns_last", STATS_TYPE_INSTANT, true },
    { "qemu_memslot_commit_ns_average", STATS_TYPE_INSTANT, true },
    { "qemu_memslot_commit_ns_max", STATS_TYPE_PEAK, true },
};

StatsList *kvm_changeset_stats(StatsList *list, strList *names)
{
    KVMChangesetStats *s = &cs.stats;
    uint64_t commits = s->commits_atomic + s->commits_upstream +
                       s->commits_fallback;
    uint64_t v[] = {
        s->commits_atomic, s->commits_upstream, s->commits_fallback,
        s->entries, s->holds, s->holds_avoided, s->kicks,
        s->ns_last, commits ? s->ns_total / commits : 0, s->ns_max,
    };

    QEMU_BUILD_BUG_ON(ARRAY_SIZE(v) != ARRAY_SIZE(kvm_changeset_stat_desc));
    return kvm_qemu_stats_list(list, names, kvm_changeset_stat_desc, v,
                               ARRAY_SIZE(v));
}

StatsSchemaValueList *kvm_changeset_stats_schema(StatsSchemaValueList *list)
{
    return kvm_qemu_stats_schema(list, kvm_changeset_stat_desc,
                                 ARRAY_SIZE(kvm_changeset_stat_desc));
}
