/*
 * Migration's dirty pages, harvested in the background during precopy
 *
 * Copyright (c) 2026 kvmfork developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * With the dirty bitmap, each precopy iteration's sync fetches every
 * logging slot's whole dirty log, and the last sync runs with the guest
 * stopped, inside the downtime.  While precopy runs, a thread here
 * harvests the logging slots chunk by chunk with KVM_HARVEST_DIRTY_LOG
 * (which re-protects what it returns) and sets the pages dirty for every
 * dirty-memory client, as a sync would: the next sync finds them in QEMU's
 * bitmaps, and KVM's logs hold only what was written since the last pass.
 *
 * No page is lost: each chunk is harvested and merged into QEMU's bitmaps
 * under the KVM slots lock, which every sync of a slot also takes, so a
 * sync never sees a chunk taken from the kernel and not yet merged.  Bits
 * that a sync already fetched and the lazy KVM_CLEAR_DIRTY_LOG
 * (clear-bitmap-shift) has not yet cleared are re-protected but not marked
 * again (kvm_harvest_range()): those pages are still to be sent, after the
 * lazy clear, and marking them would send them twice.
 *
 * The syncs themselves, while the harvester is on, fetch each slot with
 * KVM_HARVEST_DIRTY_LOG instead of KVM_GET_DIRTY_LOG
 * (kvm_mig_harvest_sync_slot()): with the kernel's dirty summary their cost
 * follows what is dirty, not the guest's size -- above all the final sync,
 * with the guest stopped, which then finds only what was written since the
 * last background pass.
 *
 * With the dirty ring, slots log into the rings, whose reaper thread
 * already collects them in the background: only slots that log into a
 * bitmap beside the ring (KVM_MEM_DIRTY_LOG_BITMAP, the display's) are
 * harvested here.
 *
 * The migration parameter x-dirty-harvest (auto|on|off, default auto) is
 * read at each migration's setup (kvm_mh_setup()): a migration harvests
 * or syncs upstream's way as it says, whatever the one before did.
 *
 * Rate: one pass over all logging slots every KVM_MH_PERIOD_MS, at most
 * KVM_MH_CHUNK_PAGES per ioctl and per hold of the slots lock, so that a
 * memory transaction or a sync waits for one chunk at most.  No pass while
 * the guest is stopped: then nothing new is dirtied, and the final sync,
 * inside the downtime, must not wait for the slots lock.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"
#include "qemu/timer.h"
#include "exec/memory.h"
#include "migration/misc.h"
#include "migration/client-options.h"
#include "system/kvm.h"
#include "system/kvm_int.h"
#include "system/runstate.h"
#include "kvm-dirty-harvest.h"
#include "kvm-migration-harvest.h"
#include "kvm-qemu-stats.h"
#include "trace.h"

#define KVM_MH_PERIOD_MS    100
#define KVM_MH_CHUNK_PAGES  32768       /* 128 MiB of 4 KiB pages */

typedef struct KVMMigHarvestStats {
    uint64_t passes;                /* passes over all logging slots */
    uint64_t chunks;                /* harvests of one chunk */
    uint64_t pages;                 /* dirty pages they found */
    uint64_t ns_last, ns_max, ns_total;   /* per pass */
    uint64_t syncs;                 /* slot syncs by harvest */
    uint64_t sync_ns_last, sync_ns_max;   /* per slot sync */
    uint64_t final_sync_ns;         /* slot syncs with the guest stopped */
} KVMMigHarvestStats;

static struct {
    bool capable;                   /* KVM_CAP_DIRTY_LOG_HARVEST */
    bool enabled;                   /* this migration harvests */
    NotifierWithReturn notifier;
    QemuMutex lock;                 /* protects running, stop */
    QemuCond cond;
    QemuThread thread;
    bool running, stop;
    KVMMigHarvestStats stats;
} mh;

/*
 * One chunk of slot @i of @kml: under the slots lock, and only if the slot
 * is still the one (@start, @size) the pass began with.  Returns false when
 * the slot changed or cannot be harvested: the pass moves on.
 */
static bool kvm_mh_chunk(KVMMemoryListener *kml, int i, hwaddr start,
                         hwaddr size, hwaddr off, uint64_t *pages)
{
    uint64_t before;
    bool ok = false;
    KVMSlot *mem;

    kvm_memslots_lock();
    if (i < kml->nr_slots_allocated) {
        mem = &kml->slots[i];
        if (mem->memory_size == size && mem->start_addr == start &&
            mem->flags & KVM_MEM_LOG_DIRTY_PAGES) {
            before = kvm_harvest_pages_total();
            ok = kvm_harvest_range(mem, start + off,
                                   MIN(size - off, (hwaddr)KVM_MH_CHUNK_PAGES *
                                       qemu_real_host_page_size()));
            *pages += kvm_harvest_pages_total() - before;
        }
    }
    kvm_memslots_unlock();
    return ok;
}

bool kvm_mig_harvest_sync_slot(KVMSlot *mem)
{
    int64_t t0, ns;

    if (!qatomic_read(&mh.enabled) ||
        !(qatomic_read(&global_dirty_tracking) & GLOBAL_DIRTY_MIGRATION)) {
        return false;
    }
    t0 = get_clock();
    if (!kvm_harvest_sync_slot(mem)) {
        return false;
    }
    ns = get_clock() - t0;
    mh.stats.syncs++;
    mh.stats.sync_ns_last = ns;
    mh.stats.sync_ns_max = MAX(mh.stats.sync_ns_max, ns);
    if (!runstate_is_running()) {
        /* the final sync (its slots' share), inside the downtime */
        mh.stats.final_sync_ns += ns;
    }
    trace_kvm_migration_harvest_sync(mem->slot | (mem->as_id << 16), ns);
    return true;
}

static void kvm_mh_pass(void)
{
    KVMState *s = kvm_state;
    hwaddr chunk = (hwaddr)KVM_MH_CHUNK_PAGES * qemu_real_host_page_size();
    int64_t t0 = get_clock(), ns;
    uint64_t pages = 0, chunks = 0;
    int as, i;

    for (as = 0; as < s->nr_as; as++) {
        KVMMemoryListener *kml = s->as[as].ml;

        if (!kml) {
            continue;
        }
        for (i = 0; ; i++) {
            hwaddr start, size, off;

            kvm_memslots_lock();
            if (i >= kml->nr_slots_allocated) {
                kvm_memslots_unlock();
                break;
            }
            start = kml->slots[i].start_addr;
            size = kml->slots[i].memory_size;
            if (!size || !(kml->slots[i].flags & KVM_MEM_LOG_DIRTY_PAGES)) {
                size = 0;
            }
            kvm_memslots_unlock();
            for (off = 0; off < size; off += chunk) {
                /*
                 * Stopped (the final sync is near or running): nothing new
                 * gets dirty, and a chunk would only delay that sync.
                 */
                if (qatomic_read(&mh.stop) || !runstate_is_running()) {
                    return;
                }
                if (!kvm_mh_chunk(kml, i, start, size, off, &pages)) {
                    break;
                }
                chunks++;
            }
        }
    }
    ns = get_clock() - t0;
    mh.stats.passes++;
    mh.stats.chunks += chunks;
    mh.stats.pages += pages;
    mh.stats.ns_last = ns;
    mh.stats.ns_max = MAX(mh.stats.ns_max, ns);
    mh.stats.ns_total += ns;
    trace_kvm_migration_harvest_pass(chunks, pages, ns);
}

static void *kvm_mh_thread(void *opaque)
{
    rcu_register_thread();
    qemu_mutex_lock(&mh.lock);
    while (!mh.stop) {
        qemu_cond_timedwait(&mh.cond, &mh.lock, KVM_MH_PERIOD_MS);
        if (mh.stop) {
            break;
        }
        qemu_mutex_unlock(&mh.lock);
        /* Only while migration logs dirty pages and the guest runs. */
        if (qatomic_read(&global_dirty_tracking) & GLOBAL_DIRTY_MIGRATION &&
            runstate_is_running()) {
            kvm_mh_pass();
        }
        qemu_mutex_lock(&mh.lock);
    }
    qemu_mutex_unlock(&mh.lock);
    rcu_unregister_thread();
    return NULL;
}

static void kvm_mh_start(void)
{
    qemu_mutex_lock(&mh.lock);
    if (!mh.running) {
        /* this migration's final sync, not the previous one's */
        kvm_memslots_lock();
        mh.stats.final_sync_ns = 0;
        kvm_memslots_unlock();
        mh.stop = false;
        mh.running = true;
        qemu_thread_create(&mh.thread, "kvm-mig-harvest", kvm_mh_thread,
                           NULL, QEMU_THREAD_JOINABLE);
        trace_kvm_migration_harvest_thread(1);
    }
    qemu_mutex_unlock(&mh.lock);
}

static void kvm_mh_stop(void)
{
    qemu_mutex_lock(&mh.lock);
    if (!mh.running) {
        qemu_mutex_unlock(&mh.lock);
        return;
    }
    qatomic_set(&mh.stop, true);
    qemu_cond_signal(&mh.cond);
    qemu_mutex_unlock(&mh.lock);
    /*
     * The thread takes no BQL: joining with the BQL held cannot deadlock.
     * A pass in progress ends at its next chunk.
     */
    qemu_thread_join(&mh.thread);
    qemu_mutex_lock(&mh.lock);
    mh.running = false;
    qemu_mutex_unlock(&mh.lock);
    trace_kvm_migration_harvest_thread(0);
}

/*
 * Precopy setup: the migration parameter x-dirty-harvest decides, for this
 * migration, whether the harvester runs and the syncs go by harvest.  auto
 * (the default) harvests where the kernel can: since the syncs go through
 * the harvest too and the harvest no longer marks bits a sync fetched, the
 * box measured it no worse than upstream's path in pages sent, and shorter
 * in downtime and total time (README "Migration harvest").  on without the
 * capability fails the migration, naming the parameter.
 */
static int kvm_mh_setup(Error **errp)
{
    OnOffAuto mode = migrate_dirty_harvest();

    if (mode == ON_OFF_AUTO_ON && !mh.capable) {
        error_setg(errp, "migration parameter x-dirty-harvest=on needs "
                   "KVM_HARVEST_DIRTY_LOG (KVM_CAP_DIRTY_LOG_HARVEST), which "
                   "this kernel's KVM does not have; set it to auto or off");
        return -ENOTSUP;
    }
    if (mode == ON_OFF_AUTO_OFF || !mh.capable) {
        qatomic_set(&mh.enabled, false);
        return 0;
    }
    qatomic_set(&mh.enabled, true);
    kvm_mh_start();
    return 0;
}

static int kvm_mh_notify(NotifierWithReturn *n, MigrationEvent *e,
                         Error **errp)
{
    switch (e->type) {
    case MIG_EVENT_PRECOPY_SETUP:
        return kvm_mh_setup(errp);
    case MIG_EVENT_PRECOPY_DONE:
    case MIG_EVENT_PRECOPY_FAILED:
        kvm_mh_stop();
        break;
    default:
        break;
    }
    return 0;
}

void kvm_mig_harvest_init(KVMState *s)
{
    mh.capable = kvm_vm_check_extension(s, KVM_CAP_DIRTY_LOG_HARVEST) > 0;
    mh.enabled = false;
    qemu_mutex_init(&mh.lock);
    qemu_cond_init(&mh.cond);
    migration_add_notifier(&mh.notifier, kvm_mh_notify);
}

static const KVMQemuStatDesc kvm_mh_stat_desc[] = {
    { "qemu_migration_harvest_enabled", STATS_TYPE_INSTANT },
    { "qemu_migration_harvest_passes", STATS_TYPE_CUMULATIVE },
    { "qemu_migration_harvest_chunks", STATS_TYPE_CUMULATIVE },
    { "qemu_migration_harvest_pages", STATS_TYPE_CUMULATIVE },
    { "qemu_migration_harvest_pass_ns_last", STATS_TYPE_INSTANT, true },
    { "qemu_migration_harvest_pass_ns_average", STATS_TYPE_INSTANT, true },
    { "qemu_migration_harvest_pass_ns_max", STATS_TYPE_PEAK, true },
    { "qemu_migration_harvest_syncs", STATS_TYPE_CUMULATIVE },
    { "qemu_migration_harvest_sync_ns_last", STATS_TYPE_INSTANT, true },
    { "qemu_migration_harvest_sync_ns_max", STATS_TYPE_PEAK, true },
    { "qemu_migration_harvest_final_sync_ns", STATS_TYPE_INSTANT, true },
};

StatsList *kvm_mig_harvest_stats(StatsList *list, strList *names)
{
    KVMMigHarvestStats *st = &mh.stats;
    uint64_t v[] = {
        qatomic_read(&mh.enabled), st->passes, st->chunks, st->pages,
        st->ns_last, st->passes ? st->ns_total / st->passes : 0, st->ns_max,
        st->syncs, st->sync_ns_last, st->sync_ns_max, st->final_sync_ns,
    };

    QEMU_BUILD_BUG_ON(ARRAY_SIZE(v) != ARRAY_SIZE(kvm_mh_stat_desc));
    return kvm_qemu_stats_list(list, names, kvm_mh_stat_desc, v,
                               ARRAY_SIZE(v));
}

StatsSchemaValueList *kvm_mig_harvest_stats_schema(StatsSchemaValueList *list)
{
    return kvm_qemu_stats_schema(list, kvm_mh_stat_desc,
                                 ARRAY_SIZE(kvm_mh_stat_desc));
}
