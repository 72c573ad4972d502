// SPDX-License-Identifier: GPL-2.0-only
/*
 * KVM_HARVEST_DIRTY_LOG: fetch and clear the dirty log of one memslot, or
 * of a page range of it, in one call.
 *
 * KVM_GET_DIRTY_LOG walks and copies a whole slot's bitmap and, without
 * manual protect, holds mmu_lock across the whole slot.  A display refresh
 * wants a few MiB of framebuffer out of a slot that may map all of guest
 * RAM, tens of times a second; and on a VM with a dirty ring there is no
 * bitmap at all, so QEMU flushes every vCPU's ring (kicking each one out
 * of KVM_RUN) to learn what the framebuffer's pages did.
 *
 * The slot's dirty summary (one bit per bitmap word, see kvm_host.h) says
 * which words may hold a dirty bit; a clean stretch of 4096 pages costs
 * one load of it.  Per word of the range that the summary points at:
 *   1. take its summary bit (fetch-and-clear of the range's bits of that
 *      summary word: bits of words outside the range stay);
 *   2. fetch-and-clear the word with xchg: a bit a vCPU sets after this
 *      sets the summary bit again (kvm_dirty_summary_mark), so it is kept
 *      for the next harvest;
 *   3. write-protect (or clear the D bits of) exactly the pages of the
 *      word's mask, under mmu_lock, which is dropped every
 *      KVM_HARVEST_LOCK_WORDS dirty words so that a huge dirty range never
 *      holds it for long;
 * then one TLB flush over the span of the dirty pages, and only then the
 * copy to userspace: a write that reaches a page after its bit was taken
 * either happened before the flush, and is in the page when userspace
 * reads it, or faults and sets the bit again.  No SRCU synchronization;
 * kvm->slots_lock keeps the slot and its second bitmap (our buffer) while
 * we work, as for KVM_GET_DIRTY_LOG.
 *
 * If the copy to userspace fails, the bits are put back into the slot's
 * bitmap: the pages stay reported as dirty and nothing is lost.
 *
 * A slot created with KVM_MEM_DIRTY_LOG_BITMAP logs into its bitmap even
 * when the VM has a dirty ring; it is what this call harvests there.
 */
#include <linux/kvm_host.h>
#include <linux/bitmap.h>
#include <linux/sched.h>
#include <linux/uaccess.h>

#include "kvm_mm.h"

/* Dirty words protected per mmu_lock hold: 64 words, 4096 pages. */
#define KVM_HARVEST_LOCK_WORDS	64

/* The slot-relative gfn of the first page of bitmap word @w. */
static inline gfn_t word_gfn(unsigned long w)
{
	return (gfn_t)w * BITS_PER_LONG;
}

static int kvm_harvest_check(struct kvm *kvm,
			     const struct kvm_dirty_log_harvest *h,
			     struct kvm_memory_slot **slotp)
{
	struct kvm_memory_slot *slot;
	int as_id = h->slot >> 16;
	int id = (u16)h->slot;
	int i;

	if (h->flags)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(h->pad); i++)
		if (h->pad[i])
			return -EINVAL;
	if (as_id >= kvm_arch_nr_memslot_as_ids(kvm) || id >= KVM_USER_MEM_SLOTS)
		return -EINVAL;

	slot = id_to_memslot(__kvm_memslots(kvm, as_id), id);
	if (!slot)
		return -ENOENT;
	/* Not logging, or logging into the dirty ring only. */
	if (!(slot->flags & KVM_MEM_LOG_DIRTY_PAGES) || !slot->dirty_bitmap)
		return -ENXIO;

	if (!h->num_pages || h->first_page % 64)
		return -EINVAL;
	if (h->first_page >= slot->npages ||
	    h->num_pages > slot->npages - h->first_page)
		return -ERANGE;
	if (h->num_pages % 64 && h->first_page + h->num_pages != slot->npages)
		return -EINVAL;
	*slotp = slot;
	return 0;
}

static int kvm_harvest_dirty_log(struct kvm *kvm,
				 struct kvm_dirty_log_harvest *h,
				 u64 __user *unr_dirty)
{
	struct kvm_memory_slot *slot;
	unsigned long *bitmap, *buf, *summary;
	unsigned long i, j, first, nwords, nbytes, nr_dirty = 0, nr_words = 0;
	unsigned long lo = ULONG_MAX, hi = 0;
	void __user *ubuf = u64_to_user_ptr(h->dirty_bitmap);
	int locked_words = 0;
	bool locked = false;
	int r;

	r = kvm_harvest_check(kvm, h, &slot);
	if (r)
		return r;

	first = h->first_page / BITS_PER_LONG;
	nwords = DIV_ROUND_UP(h->num_pages, BITS_PER_LONG);
	nbytes = nwords * sizeof(long);
	if (!access_ok(ubuf, nbytes))
		return -EFAULT;

	/* Intel PML: have running vCPUs flush their logs into the bitmap. */
	kvm_arch_sync_dirty_log(kvm, slot);

	bitmap = slot->dirty_bitmap;
	summary = kvm_dirty_summary(slot);
	buf = kvm_second_dirty_bitmap(slot) + first;
	memset(buf, 0, nbytes);
	for (j = first / BITS_PER_LONG; j * BITS_PER_LONG < first + nwords; j++) {
		/* The range's words among the 64 of summary word j. */
		unsigned long w0 = max(first, j * BITS_PER_LONG);
		unsigned long w1 = min(first + nwords, (j + 1) * BITS_PER_LONG);
		unsigned long rmask = GENMASK(w1 - 1 - j * BITS_PER_LONG,
					      w0 - j * BITS_PER_LONG);
		unsigned long taken, b;

		if (!(READ_ONCE(summary[j]) & rmask))
			continue;
		taken = atomic_long_fetch_andnot(rmask, (atomic_long_t *)&summary[j]) & rmask;
		for_each_set_bit(b, &taken, BITS_PER_LONG) {
			unsigned long w = j * BITS_PER_LONG + b;
			unsigned long mask = xchg(&bitmap[w], 0);

			nr_words++;
			if (!mask)
				continue;
			i = w - first;
			buf[i] = mask;
			nr_dirty += hweight_long(mask);
			lo = min(lo, i * BITS_PER_LONG + __ffs(mask));
			hi = max(hi, i * BITS_PER_LONG + __fls(mask));
			if (!locked) {
				KVM_MMU_LOCK(kvm);
				locked = true;
			}
			kvm_arch_mmu_enable_log_dirty_pt_masked(kvm, slot, word_gfn(w), mask);
			if (++locked_words == KVM_HARVEST_LOCK_WORDS) {
				KVM_MMU_UNLOCK(kvm);
				locked = false;
				locked_words = 0;
				cond_resched();
			}
		}
	}
	if (locked)
		KVM_MMU_UNLOCK(kvm);

	if (nr_dirty) {
		gfn_t base = slot->base_gfn + first * BITS_PER_LONG;

		kvm_flush_remote_tlbs_range(kvm, base + lo, hi - lo + 1);
	}

	/*
	 * The bitmap and the count go out together: if either cannot be
	 * written (the count's address was checked before anything was
	 * taken, but userspace may unmap it meanwhile), give the pages back.
	 */
	if (copy_to_user(ubuf, buf, nbytes) || put_user(nr_dirty, unr_dirty)) {
		/*
		 * Give the pages back: still dirty, reported next time.  The
		 * call is refused, so the harvest stats count nothing.
		 */
		for (i = 0; i < nwords; i++) {
			if (!buf[i])
				continue;
			atomic_long_or(buf[i], (atomic_long_t *)&bitmap[first + i]);
			kvm_dirty_summary_mark(slot, (first + i) * BITS_PER_LONG);
		}
		return -EFAULT;
	}
	kvm->stat.generic.dirty_harvests++;
	kvm->stat.generic.dirty_harvest_pages += nr_dirty;
	kvm->stat.generic.dirty_harvest_words += nr_words;
	if (nr_dirty)
		kvm->stat.generic.dirty_harvest_tlb_flushes++;
	return 0;
}

int kvm_vm_ioctl_harvest_dirty_log(struct kvm *kvm, void __user *argp)
{
	struct kvm_dirty_log_harvest __user *uh = argp;
	struct kvm_dirty_log_harvest h;
	int r;

	if (copy_from_user(&h, argp, sizeof(h)))
		return -EFAULT;
	/* Where the result goes must be writable before anything is taken. */
	if (put_user(0ULL, &uh->nr_dirty))
		return -EFAULT;

	mutex_lock(&kvm->slots_lock);
	r = kvm_harvest_dirty_log(kvm, &h, &uh->nr_dirty);
	mutex_unlock(&kvm->slots_lock);
	return r;
}
