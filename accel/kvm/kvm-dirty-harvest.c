/*
 * A display's dirty pages, harvested by range with KVM_HARVEST_DIRTY_LOG
 *
 * Copyright (c) 2026 kvmfork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A display refresh asks memory_region_snapshot_and_clear_dirty() for the
 * dirty pages of its framebuffer.  Upstream, that syncs every KVM slot of
 * the framebuffer's region whole (KVM_GET_DIRTY_LOG over a slot that may
 * be far larger than the framebuffer) or, with the dirty ring, syncs
 * globally: every vCPU is kicked out of KVM_RUN in turn and every ring is
 * reaped, tens of times a second.
 *
 * Here the KVM listener's log_sync_range harvests only the refresh's range
 * of each slot with one KVM_HARVEST_DIRTY_LOG (the kernel fetches and
 * clears those bitmap words and re-protects only their dirty pages), and
 * sets what it returns for every dirty-memory client, as a whole sync
 * would: migration and TCG lose nothing to the display.  With the dirty
 * ring, the display's slots are created with KVM_MEM_DIRTY_LOG_BITMAP, so
 * their writes stay in a bitmap beside the rings; the whole syncs
 * (migration, the slot's deletion) harvest that bitmap too.
 *
 * On a kernel without KVM_CAP_DIRTY_LOG_HARVEST, or with dirty-harvest=off,
 * nothing here runs and upstream's path is unchanged.
 */

#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include "qapi/error.h"
#include "qapi/qapi-visit-common.h"
#include "qapi/visitor.h"
#include "qemu/error-report.h"
#include "qemu/timer.h"
#include "qom/object.h"
#include "hw/core/cpu.h"
#include "system/kvm.h"
#include "system/kvm_int.h"
#include "system/stats.h"
#include "exec/memory.h"
#include "exec/ram_addr.h"
#include "kvm-dirty-harvest.h"
#include "kvm-migration-harvest.h"
#include "kvm-qemu-stats.h"
#include "trace.h"

/* KVM_HARVEST_DIRTY_LOG's alignment: 64 pages */
#define HARVEST_ALIGN_PAGES 64

typedef struct KVMHarvestStats {
    uint64_t harvests;              /* KVM_HARVEST_DIRTY_LOG calls */
    uint64_t pages;                 /* dirty pages they returned */
    uint64_t slot_harvests;         /* whole bitmap slots, ring mode */
    uint64_t fallbacks;             /* display syncs done upstream's way */
    uint64_t fallback_kicks;        /* vCPU kicks those cost (ring) */
    uint64_t refused;               /* the kernel refused a harvest */
    uint64_t pending;               /* returned bits a sync had fetched */
    uint64_t slot_syncs;            /* whole-slot syncs by harvest */
    uint64_t ns_last, ns_max, ns_total;
} KVMHarvestStats;

static struct {
    OnOffAuto mode;
    bool enabled;
    bool ring;
    unsigned long *buf;             /* bitmap buffer, reused */
    size_t buf_words;
    KVMHarvestStats stats;
} hv = { .mode = ON_OFF_AUTO_AUTO };

void kvm_harvest_class_init(ObjectClass *oc)
{
    kvm_qemu_property_add_on_off_auto(oc, "dirty-harvest", &hv.mode,
        "Harvest only a display refresh's range of the dirty log "
        "(KVM_HARVEST_DIRTY_LOG), also with the dirty ring, without "
        "kicking the vCPUs: on, off, or auto (default: if the kernel can)");
}

int kvm_harvest_init(KVMState *s, Error **errp)
{
    int cap = kvm_vm_check_extension(s, KVM_CAP_DIRTY_LOG_HARVEST);

    hv.enabled = false;
    hv.ring = s->kvm_dirty_ring_size != 0;
    kvm_mig_harvest_init(s);
    if (hv.mode == ON_OFF_AUTO_OFF) {
        return 0;
    }
    if (cap <= 0) {
        if (hv.mode == ON_OFF_AUTO_ON) {
            error_setg(errp, "dirty-harvest=on needs KVM_HARVEST_DIRTY_LOG "
                       "(KVM_CAP_DIRTY_LOG_HARVEST), which this kernel's KVM "
                       "does not have; use dirty-harvest=auto or off");
            return -ENOTSUP;
        }
        return 0;
    }
    hv.enabled = true;
    return 0;
}

bool kvm_harvest_enabled(void)
{
    return hv.enabled;
}

uint64_t kvm_harvest_pages_total(void)
{
    return hv.stats.pages - hv.stats.pending;
}

int kvm_harvest_mem_flags(MemoryRegion *mr, int flags)
{
    if (hv.enabled && hv.ring && flags & KVM_MEM_LOG_DIRTY_PAGES &&
        memory_region_get_dirty_log_mask(mr) & (1 << DIRTY_MEMORY_VGA)) {
        flags |= KVM_MEM_DIRTY_LOG_BITMAP;
    }
    return flags;
}

int kvm_harvest_keep_flags(int old_flags, int flags)
{
    if (old_flags & flags & KVM_MEM_LOG_DIRTY_PAGES) {
        flags &= ~KVM_MEM_DIRTY_LOG_BITMAP;
        flags |= old_flags & KVM_MEM_DIRTY_LOG_BITMAP;
    }
    return flags;
}

static bool kvm_harvest_can(const KVMSlot *mem)
{
    if (!(mem->flags & KVM_MEM_LOG_DIRTY_PAGES)) {
        return false;
    }
    return !hv.ring || mem->flags & KVM_MEM_DIRTY_LOG_BITMAP;
}

static unsigned long *kvm_harvest_buf(uint64_t npages)
{
    size_t words = DIV_ROUND_UP(npages, 64) * (64 / BITS_PER_LONG);

    if (words > hv.buf_words) {
        g_free(hv.buf);
        hv.buf = g_new(unsigned long, words);
        hv.buf_words = words;
    }
    return hv.buf;
}

/* One KVM_HARVEST_DIRTY_LOG of @npages pages of @mem from @first on */
static int kvm_harvest_ioctl(KVMSlot *mem, uint64_t first, uint64_t npages,
                             unsigned long *bmap, uint64_t *nr_dirty)
{
    struct kvm_dirty_log_harvest h = {
        .slot = mem->slot | (mem->as_id << 16),
        .first_page = first,
        .num_pages = npages,
        .dirty_bitmap = (uintptr_t)bmap,
    };
    int64_t t0 = get_clock();
    int64_t ns;
    int ret;

    ret = kvm_vm_ioctl(kvm_state, KVM_HARVEST_DIRTY_LOG, &h);
    ns = get_clock() - t0;
    trace_kvm_dirty_harvest(h.slot, first, npages, ret ? 0 : h.nr_dirty,
                            ns, ret);
    if (ret) {
        hv.stats.refused++;
        error_report_once("KVM_HARVEST_DIRTY_LOG of slot %u, pages %" PRIu64
                          "+%" PRIu64 " failed: %s; syncing upstream's way",
                          h.slot, first, npages, strerror(-ret));
        return ret;
    }
    hv.stats.harvests++;
    hv.stats.pages += h.nr_dirty;
    hv.stats.ns_last = ns;
    hv.stats.ns_max = MAX(hv.stats.ns_max, ns);
    hv.stats.ns_total += ns;
    *nr_dirty = h.nr_dirty;
    return 0;
}

/*
 * With manual protection (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) and the
 * bitmap, KVMSlot.dirty_bmap holds the bits that a sync fetched and that
 * no dirty-memory client has consumed yet.  The sync marked those pages for
 * every client when it fetched them, and every consumer clears the fetched
 * bits of what it consumes (memory_region_clear_dirty_bitmap(), migration's
 * lazy clear) before it reads the page.  A harvest that finds such a bit set
 * in the kernel has found a write that the pending clear would absorb:
 * marking the page again would only make migration send it twice -- and on
 * the first pass after KVM_DIRTY_LOG_INITIALLY_SET, all of guest RAM twice.
 */
static bool kvm_harvest_lazy_clear(const KVMSlot *mem)
{
    return kvm_state->manual_dirty_log_protect && !hv.ring && mem->dirty_bmap;
}

/* Drop from @bmap (pages @first.. of @mem) the bits a sync has fetched */
static uint64_t kvm_harvest_drop_pending(const KVMSlot *mem,
                                         unsigned long *bmap,
                                         uint64_t first, uint64_t npages)
{
    size_t w0 = first / BITS_PER_LONG;
    size_t words = DIV_ROUND_UP(npages, BITS_PER_LONG);
    uint64_t dropped = 0;
    size_t i;

    QEMU_BUILD_BUG_ON(HARVEST_ALIGN_PAGES % BITS_PER_LONG);
    for (i = 0; i < words; i++) {
        unsigned long both = bmap[i] & mem->dirty_bmap[w0 + i];

        if (both) {
            dropped += ctpopl(both);
            bmap[i] &= ~both;
        }
    }
    hv.stats.pending += dropped;
    return dropped;
}

bool kvm_harvest_range(KVMSlot *mem, hwaddr start, hwaddr size)
{
    uint64_t psize = qemu_real_host_page_size();
    uint64_t slot_pages = mem->memory_size / psize;
    uint64_t first, last, npages, nr_dirty;
    unsigned long *bmap;

    if (!kvm_harvest_can(mem)) {
        return false;
    }
    first = (start - mem->start_addr) / psize;
    last = DIV_ROUND_UP(start + size - mem->start_addr, psize);
    first = QEMU_ALIGN_DOWN(first, HARVEST_ALIGN_PAGES);
    last = MIN(QEMU_ALIGN_UP(last, HARVEST_ALIGN_PAGES), slot_pages);
    npages = last - first;

    bmap = kvm_harvest_buf(npages);
    if (kvm_harvest_ioctl(mem, first, npages, bmap, &nr_dirty)) {
        return false;
    }
    if (nr_dirty && kvm_harvest_lazy_clear(mem)) {
        nr_dirty -= kvm_harvest_drop_pending(mem, bmap, first, npages);
    }
    if (nr_dirty) {
        cpu_physical_memory_set_dirty_lebitmap(bmap,
            mem->ram_start_offset + first * psize, npages);
    }
    return true;
}

/*
 * Harvest all of @mem and OR what the kernel returns into its bitmap.
 * Returns the kernel's dirty count, or -1 if it refused (the bits then
 * stay in the kernel for the next harvest).  The buffer keeps the bits.
 */
static int64_t kvm_harvest_slot_or(KVMSlot *mem, unsigned long **bmapp)
{
    uint64_t npages = mem->memory_size / qemu_real_host_page_size();
    size_t words = DIV_ROUND_UP(npages, BITS_PER_LONG);
    unsigned long *bmap = kvm_harvest_buf(npages);
    uint64_t nr_dirty;
    size_t i;

    if (kvm_harvest_ioctl(mem, 0, npages, bmap, &nr_dirty)) {
        return -1;
    }
    if (nr_dirty) {
        for (i = 0; i < words; i++) {
            mem->dirty_bmap[i] |= bmap[i];
        }
    }
    *bmapp = bmap;
    return nr_dirty;
}

bool kvm_harvest_sync_slot(KVMSlot *mem)
{
    unsigned long *bmap;
    int64_t nr_dirty;

    if (!kvm_harvest_can(mem) || !kvm_harvest_lazy_clear(mem)) {
        return false;
    }
    /*
     * Kept in the slot's bitmap: fetched, not yet consumed.  The consumers'
     * clears (migration's lazy one above all) re-protect these pages again
     * just before they read them, so that a write in between is not sent a
     * second time, as after KVM_GET_DIRTY_LOG.
     */
    nr_dirty = kvm_harvest_slot_or(mem, &bmap);
    if (nr_dirty < 0) {
        return false;
    }
    hv.stats.slot_syncs++;
    if (nr_dirty) {
        cpu_physical_memory_set_dirty_lebitmap(bmap, mem->ram_start_offset,
            mem->memory_size / qemu_real_host_page_size());
    }
    return true;
}

void kvm_harvest_slot_into_bmap(KVMSlot *mem)
{
    unsigned long *bmap;

    if (!hv.enabled || !(mem->flags & KVM_MEM_DIRTY_LOG_BITMAP) ||
        !mem->dirty_bmap) {
        return;
    }
    if (kvm_harvest_slot_or(mem, &bmap) >= 0) {
        hv.stats.slot_harvests++;
    }
}

void kvm_harvest_count_fallback(void)
{
    CPUState *cpu;

    hv.stats.fallbacks++;
    if (hv.ring) {
        /* the global sync kicks every vCPU out of KVM_RUN once */
        CPU_FOREACH(cpu) {
            hv.stats.fallback_kicks++;
        }
    }
    trace_kvm_dirty_harvest_fallback(hv.ring);
}

/* query-stats: QEMU's harvest counters beside the kernel's */
static const KVMQemuStatDesc kvm_harvest_stat_desc[] = {
    { "qemu_dirty_harvests", STATS_TYPE_CUMULATIVE },
    { "qemu_dirty_harvest_pages", STATS_TYPE_CUMULATIVE },
    { "qemu_dirty_harvest_slot_harvests", STATS_TYPE_CUMULATIVE },
    { "qemu_dirty_harvest_fallbacks", STATS_TYPE_CUMULATIVE },
    { "qemu_dirty_harvest_fallback_kicks", STATS_TYPE_CUMULATIVE },
    { "qemu_dirty_harvest_refused", STATS_TYPE_CUMULATIVE },
    { "qemu_dirty_harvest_ns_last", STATS_TYPE_INSTANT, true },
    { "qemu_dirty_harvest_ns_average", STATS_TYPE_INSTANT, true },
    { "qemu_dirty_harvest_ns_max", STATS_TYPE_PEAK, true },
    { "qemu_dirty_harvest_pages_pending", STATS_TYPE_CUMULATIVE },
    { "qemu_dirty_harvest_slot_syncs", STATS_TYPE_CUMULATIVE },
};

StatsList *kvm_harvest_stats(StatsList *list, strList *names)
{
    KVMHarvestStats *s = &hv.stats;
    uint64_t v[] = {
        s->harvests, s->pages, s->slot_harvests, s->fallbacks,
        s->fallback_kicks, s->refused,
        s->ns_last, s->harvests ? s->ns_total / s->harvests : 0, s->ns_max,
        s->pending, s->slot_syncs,
    };

    QEMU_BUILD_BUG_ON(ARRAY_SIZE(v) != ARRAY_SIZE(kvm_harvest_stat_desc));
    list = kvm_qemu_stats_list(list, names, kvm_harvest_stat_desc, v,
                               ARRAY_SIZE(v));
    return kvm_mig_harvest_stats(list, names);
}

StatsSchemaValueList *kvm_harvest_stats_schema(StatsSchemaValueList *list)
{
    list = kvm_qemu_stats_schema(list, kvm_harvest_stat_desc,
                                 ARRAY_SIZE(kvm_harvest_stat_desc));
    return kvm_mig_harvest_stats_schema(list);
}
