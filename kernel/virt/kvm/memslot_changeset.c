// SPDX-License-Identifier: GPL-2.0-only
/*
 * KVM_SET_MEMSLOT_CHANGESET: change any number of memslots in one step.
 *
 * A changeset is an array of struct kvm_userspace_memory_region2, at most
 * one entry per (address space, slot id).  The whole changeset is checked
 * against the layout it would produce before anything changes; it is then
 * applied with at most two memslot-set swaps per address space:
 *
 *  1. every slot that goes away or changes its GPA->HVA translation is
 *     published as an INVALID copy of itself (a page fault on it retries,
 *     it never exits to userspace as MMIO; the emulator and other accesses
 *     through the slot's host address still use the old translation, see
 *     KVM_MEMSLOT_CHANGESET), and the MMU drops the mappings of all of
 *     those slots in one pass;
 *  2. the final layout is published.
 *
 * A vCPU therefore sees the old layout, then the old layout with some
 * ranges that make it wait, then the new layout; never a hole where both
 * layouts have memory.  A changeset that only creates slots or changes
 * their flags needs the second swap only.  Everything that can fail
 * without depending on the MMU's state is checked first; what can only
 * fail after the first swap (allocating a slot's metadata, which must see
 * the MMU as it is then) is unwound by one more swap back to the old
 * layout, and that unwinding can be forced from a test (see
 * memslot_changeset_fail_entry below).
 *
 * Dirty bits logged in a slot that a changeset deletes or replaces (a
 * split, a merge, a resize, a change of HVA) are carried over to the new
 * slots of the changeset that map the same host pages, once no vCPU can
 * still be writing to the old bitmap.  A slot that only moves keeps its
 * bitmap, as KVM_SET_USER_MEMORY_REGION does.
 */
#include <linux/kvm_host.h>
#include <linux/bitmap.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

#include "kvm_mm.h"

enum kvm_cs_kind {
	KVM_CS_NOOP,	/* identical to the slot that is there */
	KVM_CS_CREATE,	/* no slot with this id yet */
	KVM_CS_DELETE,	/* memory_size == 0 */
	KVM_CS_FLAGS,	/* same GPA, size and HVA: KVM_MEM_LOG_DIRTY_PAGES */
	KVM_CS_MOVE,	/* same size, HVA and READONLY; another GPA */
	KVM_CS_REPLACE,	/* anything else: the old slot deleted, a new created */
};

struct kvm_cs_op {
	const struct kvm_userspace_memory_region2 *mem;
	enum kvm_cs_kind kind;
	int as_id;
	struct kvm_memory_slot *old;	 /* the active slot with this id */
	struct kvm_memory_slot *new;	 /* the slot that replaces it */
	struct kvm_memory_slot *invalid; /* old's INVALID copy, for swap 1 */
	bool prepared;
	bool bound;			 /* new is bound to a guest_memfd */
};

/* The old slot goes away or changes translation: it needs swap 1. */
static bool kvm_cs_invalidates(const struct kvm_cs_op *op)
{
	return op->kind == KVM_CS_DELETE || op->kind == KVM_CS_MOVE ||
	       op->kind == KVM_CS_REPLACE;
}

static bool kvm_cs_inserts(const struct kvm_cs_op *op)
{
	return op->kind == KVM_CS_CREATE || op->kind == KVM_CS_MOVE ||
	       op->kind == KVM_CS_REPLACE;
}

#ifdef CONFIG_FAULT_INJECTION
/*
 * Test hook: when set to N >= 0, preparing entry N of the next changeset
 * fails with -ENOMEM after the first swap, which makes KVM unwind the
 * changeset the way a real allocation failure there would.  It fires
 * once and resets itself to -1.
 */
static int memslot_changeset_fail_entry = -1;
module_param(memslot_changeset_fail_entry, int, 0644);

static bool kvm_cs_inject_failure(int i)
{
	return cmpxchg(&memslot_changeset_fail_entry, i, -1) == i;
}
#else
static bool kvm_cs_inject_failure(int i)
{
	return false;
}
#endif

/*
 * A vCPU whose page fault meets a changeset's INVALID copy of a slot
 * cannot make progress until the changeset's last swap.  Retrying at once
 * re-enters the guest only to fault again: on an overcommitted host those
 * vCPUs take the CPU from the thread applying the changeset, and their
 * SRCU read sections, entered and left for every retry, are what its
 * grace periods wait for.  So the vCPU sleeps instead, outside SRCU, until
 * the changeset ends.  0 brings back the immediate retry (for comparison;
 * kvm.memslot_changeset_wait on the command line, or at run time).
 */
static bool kvm_cs_wait_enabled = true;
module_param_named(memslot_changeset_wait, kvm_cs_wait_enabled, bool, 0644);

/* Longest a vCPU sleeps for one changeset; a changeset ends well before. */
#define KVM_CS_WAIT_MAX_MS	100

/*
 * Called by the vCPU run loop, with kvm->srcu held, after a fault noted a
 * changeset with kvm_vcpu_memslot_changeset_retry().  Drops SRCU (the
 * changeset's swaps wait for it) while it sleeps until the changeset's
 * sequence moves on, a signal arrives or KVM_CS_WAIT_MAX_MS pass; the
 * fault is then retried.
 */
void kvm_vcpu_memslot_changeset_wait(struct kvm_vcpu *vcpu)
{
	unsigned long seq = vcpu->memslot_changeset_wait;
	struct kvm *kvm = vcpu->kvm;

	vcpu->memslot_changeset_wait = 0;
	if (!READ_ONCE(kvm_cs_wait_enabled))
		return;
	kvm_vcpu_srcu_read_unlock(vcpu);
	wait_event_interruptible_timeout(kvm->memslot_changeset_wq,
					 READ_ONCE(kvm->memslot_changeset_seq) != seq,
					 msecs_to_jiffies(KVM_CS_WAIT_MAX_MS));
	kvm_vcpu_srcu_read_lock(vcpu);
}

/* The INVALID copies are about to be published, or are gone: see above. */
static void kvm_cs_seq_bump(struct kvm *kvm)
{
	WRITE_ONCE(kvm->memslot_changeset_seq, kvm->memslot_changeset_seq + 1);
	/*
	 * Odd: ordered before the swap that publishes the INVALID copies.
	 * Even: after the last swap, and before the waiters' condition is
	 * checked again by the wakeup (pairs with the barrier in
	 * prepare_to_wait_event()).
	 */
	smp_mb();
	if (!(kvm->memslot_changeset_seq & 1))
		wake_up_all(&kvm->memslot_changeset_wq);
}

/* Classify one entry against the active layout; nothing is changed. */
static int kvm_cs_classify(struct kvm *kvm, struct kvm_cs_op *op)
{
	const struct kvm_userspace_memory_region2 *mem = op->mem;
	struct kvm_memory_slot *old;
	gfn_t base_gfn = mem->guest_phys_addr >> PAGE_SHIFT;
	unsigned long npages = mem->memory_size >> PAGE_SHIFT;
	int r;

	if ((u16)mem->slot >= KVM_USER_MEM_SLOTS)
		return -EINVAL;
	if (mem->pad1 || memchr_inv(mem->pad2, 0, sizeof(mem->pad2)))
		return -EINVAL;
	r = kvm_check_memory_region(kvm, mem);
	if (r)
		return r;

	op->as_id = mem->slot >> 16;
	old = id_to_memslot(__kvm_memslots(kvm, op->as_id), (u16)mem->slot);
	if (old && !old->npages)
		old = NULL;
	op->old = old;

	if (!npages) {
		if (!old)
			return -EINVAL;
		op->kind = KVM_CS_DELETE;
		return 0;
	}
	if (!old) {
		op->kind = KVM_CS_CREATE;
		return 0;
	}
	/* guest_memfd slots can only be deleted; nor can a slot become one. */
	if ((old->flags | mem->flags) & KVM_MEM_GUEST_MEMFD)
		return -EINVAL;

	if (base_gfn == old->base_gfn && npages == old->npages &&
	    mem->userspace_addr == old->userspace_addr &&
	    mem->flags == old->flags)
		op->kind = KVM_CS_NOOP;
	else if (npages != old->npages ||
		 mem->userspace_addr != old->userspace_addr ||
		 ((mem->flags ^ old->flags) & KVM_MEM_READONLY))
		op->kind = KVM_CS_REPLACE;
	else if (base_gfn != old->base_gfn)
		op->kind = KVM_CS_MOVE;
	else
		op->kind = KVM_CS_FLAGS;
	return 0;
}

struct kvm_cs_range {
	gfn_t start, end;
	int op;		/* index in the changeset, -1 for a slot left alone */
};

static int kvm_cs_range_cmp(const void *a, const void *b)
{
	const struct kvm_cs_range *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

/*
 * The layout address space @as_id would have after the changeset must not
 * overlap itself.  @touched has a bit set for every slot id of @as_id that
 * the changeset names.
 */
static int kvm_cs_check_layout(struct kvm *kvm, struct kvm_cs_op *ops, int n,
			       int as_id, unsigned long *touched, u32 *err)
{
	struct kvm_memslots *slots = __kvm_memslots(kvm, as_id);
	struct kvm_memory_slot *slot;
	struct kvm_cs_range *r;
	int bkt, i, nr = 0, max = n;
	int ret = 0;

	kvm_for_each_memslot(slot, bkt, slots)
		max++;
	r = kvmalloc_array(max, sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return -ENOMEM;

	kvm_for_each_memslot(slot, bkt, slots) {
		if (slot->id < KVM_USER_MEM_SLOTS && test_bit(slot->id, touched))
			continue;
		r[nr++] = (struct kvm_cs_range) { slot->base_gfn,
			slot->base_gfn + slot->npages, -1 };
	}
	for (i = 0; i < n; i++) {
		const struct kvm_userspace_memory_region2 *mem = ops[i].mem;

		if (ops[i].as_id != as_id || ops[i].kind == KVM_CS_DELETE)
			continue;
		r[nr++] = (struct kvm_cs_range) {
			mem->guest_phys_addr >> PAGE_SHIFT,
			(mem->guest_phys_addr + mem->memory_size) >> PAGE_SHIFT, i };
	}
	sort(r, nr, sizeof(*r), kvm_cs_range_cmp, NULL);
	for (i = 0; i + 1 < nr; i++) {
		if (r[i].end > r[i + 1].start) {
			/* The current layout has no overlap: one is ours. */
			*err = r[i + 1].op >= 0 ? r[i + 1].op : r[i].op;
			ret = -EEXIST;
			break;
		}
	}
	kvfree(r);
	return ret;
}

/* Check the whole changeset; on error, *err is the entry to blame. */
static int kvm_cs_validate(struct kvm *kvm, struct kvm_cs_op *ops, int n,
			   u32 *err)
{
	unsigned long *touched[KVM_MAX_NR_ADDRESS_SPACES] = {};
	unsigned long pages = kvm->nr_memslot_pages;
	int as_id, i, r = 0;

	for (i = 0; i < n; i++) {
		*err = i;
		r = kvm_cs_classify(kvm, &ops[i]);
		if (r)
			goto out;
		as_id = ops[i].as_id;
		/*
		 * One address space per changeset: each address space is
		 * published by its own swap, which drops slots_arch_lock, and a
		 * shadow root allocated in that window would miss the metadata
		 * of another address space's slots already prepared.
		 */
		if (as_id != ops[0].as_id) {
			r = -EINVAL;
			goto out;
		}
		if (!touched[as_id]) {
			touched[as_id] = bitmap_zalloc(KVM_MEM_SLOTS_NUM,
						       GFP_KERNEL_ACCOUNT);
			if (!touched[as_id]) {
				r = -ENOMEM;
				goto out;
			}
		}
		/* One entry per slot id and address space. */
		if (__test_and_set_bit((u16)ops[i].mem->slot, touched[as_id])) {
			r = -EINVAL;
			goto out;
		}
	}

	/* The total number of pages must fit in an unsigned long. */
	for (i = 0; i < n; i++) {
		if (ops[i].kind == KVM_CS_DELETE || ops[i].kind == KVM_CS_REPLACE) {
			if (WARN_ON_ONCE(pages < ops[i].old->npages)) {
				*err = i;
				r = -EIO;
				goto out;
			}
			pages -= ops[i].old->npages;
		}
	}
	for (i = 0; i < n; i++) {
		unsigned long npages = ops[i].mem->memory_size >> PAGE_SHIFT;

		if (ops[i].kind != KVM_CS_CREATE && ops[i].kind != KVM_CS_REPLACE)
			continue;
		if (pages + npages < pages) {
			*err = i;
			r = -EINVAL;
			goto out;
		}
		pages += npages;
	}

	*err = n;
	for (as_id = 0; as_id < KVM_MAX_NR_ADDRESS_SPACES; as_id++) {
		if (!touched[as_id])
			continue;
		r = kvm_cs_check_layout(kvm, ops, n, as_id, touched[as_id], err);
		if (r)
			break;
	}
out:
	for (as_id = 0; as_id < KVM_MAX_NR_ADDRESS_SPACES; as_id++)
		bitmap_free(touched[as_id]);
	return r;
}

/* Allocate the slots the changeset will install; nothing is visible yet. */
static int kvm_cs_alloc(struct kvm *kvm, struct kvm_cs_op *ops, int n,
			u32 *err)
{
	int i, r;

	for (i = 0; i < n; i++) {
		struct kvm_cs_op *op = &ops[i];
		const struct kvm_userspace_memory_region2 *mem = op->mem;

		*err = i;
		if (kvm_cs_invalidates(op)) {
			op->invalid = kzalloc(sizeof(*op->invalid), GFP_KERNEL_ACCOUNT);
			if (!op->invalid)
				return -ENOMEM;
		}
		if (op->kind == KVM_CS_NOOP || op->kind == KVM_CS_DELETE)
			continue;

		op->new = kzalloc(sizeof(*op->new), GFP_KERNEL_ACCOUNT);
		if (!op->new)
			return -ENOMEM;
		op->new->as_id = op->as_id;
		op->new->id = (u16)mem->slot;
		op->new->base_gfn = mem->guest_phys_addr >> PAGE_SHIFT;
		op->new->npages = mem->memory_size >> PAGE_SHIFT;
		op->new->flags = mem->flags;
		op->new->userspace_addr = mem->userspace_addr;
		if (mem->flags & KVM_MEM_GUEST_MEMFD) {
			r = kvm_gmem_bind(kvm, op->new, mem->guest_memfd,
					  mem->guest_memfd_offset);
			if (r)
				return r;
			op->bound = true;
		}
	}
	*err = n;
	return 0;
}

/* Free what kvm_cs_alloc() allocated (and unprepared slots' metadata). */
static void kvm_cs_free(struct kvm *kvm, struct kvm_cs_op *ops, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		struct kvm_cs_op *op = &ops[i];

		if (op->new && op->prepared) {
			/*
			 * Undo kvm_prepare_memory_region(): a bitmap of its own
			 * (FLAGS and MOVE share the old one when both log), and
			 * arch metadata unless copied from the old slot (FLAGS).
			 */
			if (!op->old || op->kind == KVM_CS_REPLACE ||
			    op->new->dirty_bitmap != op->old->dirty_bitmap)
				kvm_destroy_dirty_bitmap(op->new);
			if (op->kind != KVM_CS_FLAGS)
				kvm_arch_free_memslot(kvm, op->new);
		}
		if (op->bound)
			kvm_gmem_unbind(op->new);
		kfree(op->new);
		kfree(op->invalid);
		op->new = NULL;
		op->invalid = NULL;
	}
}

static int kvm_cs_prepare_one(struct kvm *kvm, struct kvm_cs_op *op, int i)
{
	int r;

	switch (op->kind) {
	case KVM_CS_DELETE:
		r = kvm_prepare_memory_region(kvm, op->old, NULL, KVM_MR_DELETE);
		break;
	case KVM_CS_CREATE:
	case KVM_CS_REPLACE:
		/* A new slot: its own metadata and dirty bitmap. */
		r = kvm_prepare_memory_region(kvm, NULL, op->new, KVM_MR_CREATE);
		break;
	case KVM_CS_MOVE:
		r = kvm_prepare_memory_region(kvm, op->old, op->new, KVM_MR_MOVE);
		break;
	case KVM_CS_FLAGS:
		r = kvm_prepare_memory_region(kvm, op->old, op->new,
					      KVM_MR_FLAGS_ONLY);
		break;
	default:
		return 0;
	}
	if (!r && kvm_cs_inject_failure(i)) {
		op->prepared = true;
		return -ENOMEM;
	}
	op->prepared = !r;
	return r;
}

/*
 * Drop the mappings of every slot that goes away or changes translation,
 * while they are reachable only as INVALID copies.  The default does it a
 * slot at a time; an architecture can batch it (one zap, one TLB flush).
 */
void __weak kvm_arch_flush_shadow_memslots(struct kvm *kvm,
					   struct kvm_memory_slot **slots, int n)
{
	int i;

	for (i = 0; i < n; i++)
		kvm_arch_flush_shadow_memslot(kvm, slots[i]);
}

/* @slots: room for @n pointers, allocated before anything changed. */
static void kvm_cs_flush(struct kvm *kvm, struct kvm_cs_op *ops, int n,
			 struct kvm_memory_slot **slots)
{
	int i, nr = 0;

	/*
	 * The INVALID copies, not the old slots: same range, but their arch
	 * data is the current one if rmaps were allocated for a first shadow
	 * root while slots_arch_lock was dropped.
	 */
	for (i = 0; i < n; i++)
		if (ops[i].invalid)
			slots[nr++] = ops[i].invalid;
	if (nr) {
		kvm_arch_flush_shadow_memslots(kvm, slots, nr);
		kvm->stat.generic.memslot_changeset_zaps++;
	}
	kvm_arch_guest_memory_reclaimed(kvm);
}

/*
 * OR the dirty bits of @from's pages into @to's bitmap, for the host pages
 * both slots map.  vCPUs may be setting bits in @to concurrently: atomic.
 */
static void kvm_cs_carry_dirty(const struct kvm_memory_slot *from,
			       struct kvm_memory_slot *to)
{
	unsigned long start = max(from->userspace_addr, to->userspace_addr);
	unsigned long end = min(from->userspace_addr + (from->npages << PAGE_SHIFT),
				to->userspace_addr + (to->npages << PAGE_SHIFT));
	unsigned long first, last, bit, delta;

	if (start >= end)
		return;
	first = (start - from->userspace_addr) >> PAGE_SHIFT;
	last = (end - from->userspace_addr) >> PAGE_SHIFT;
	delta = (start - to->userspace_addr) >> PAGE_SHIFT;
	for (bit = find_next_bit_le(from->dirty_bitmap, last, first); bit < last;
	     bit = find_next_bit_le(from->dirty_bitmap, last, bit + 1)) {
		set_bit_le(bit - first + delta, to->dirty_bitmap);
		kvm_dirty_summary_mark(to, bit - first + delta);
	}
}

static void kvm_cs_carry_all_dirty(struct kvm_cs_op *ops, int n)
{
	int i, j;

	for (i = 0; i < n; i++) {
		struct kvm_memory_slot *from = ops[i].old;

		if ((ops[i].kind != KVM_CS_DELETE && ops[i].kind != KVM_CS_REPLACE) ||
		    !from->dirty_bitmap)
			continue;
		for (j = 0; j < n; j++) {
			struct kvm_memory_slot *to = ops[j].new;

			if ((ops[j].kind != KVM_CS_CREATE &&
			     ops[j].kind != KVM_CS_REPLACE) ||
			    !to->dirty_bitmap || ops[j].as_id != ops[i].as_id)
				continue;
			kvm_cs_carry_dirty(from, to);
		}
	}
}

static void kvm_cs_commit(struct kvm *kvm, struct kvm_cs_op *ops, int n)
{
	int i;

	/*
	 * Creations first, deletions last: the page count (and with it the
	 * x86 shadow-page limit) and the count of logging slots never dip
	 * below both their old and new values on the way (the page total
	 * cannot overflow an unsigned long on the way up: slots are at most
	 * KVM_MEM_MAX_NR_PAGES each and their ids are bounded).
	 */
	for (i = 0; i < n; i++) {
		struct kvm_cs_op *op = &ops[i];

		switch (op->kind) {
		case KVM_CS_CREATE:
		case KVM_CS_REPLACE:
			kvm_commit_memory_region(kvm, NULL, op->new, KVM_MR_CREATE);
			break;
		case KVM_CS_MOVE:
			kvm_commit_memory_region(kvm, op->old, op->new, KVM_MR_MOVE);
			break;
		case KVM_CS_FLAGS:
			kvm_commit_memory_region(kvm, op->old, op->new,
						 KVM_MR_FLAGS_ONLY);
			break;
		default:
			break;
		}
	}
	for (i = 0; i < n; i++) {
		struct kvm_cs_op *op = &ops[i];

		if (op->kind == KVM_CS_DELETE || op->kind == KVM_CS_REPLACE)
			kvm_commit_memory_region(kvm, op->old, NULL, KVM_MR_DELETE);
		kfree(op->invalid);
		op->invalid = NULL;
	}
}

/*
 * Publish the inactive set of @as_id.  The swap needs slots_arch_lock and
 * drops it; *locked says whether the caller holds it, before and after.
 */
static void kvm_cs_swap(struct kvm *kvm, int as_id, bool *locked)
{
	if (!*locked)
		mutex_lock(&kvm->slots_arch_lock);
	kvm_swap_active_memslots(kvm, as_id);
	kvm->stat.generic.memslot_changeset_swaps++;
	*locked = false;
}

/*
 * Must be called with slots_lock held.  Returns 0 or a negative errno; on
 * error nothing has changed and *err is the index of the entry to blame
 * (n when no single entry is).
 */
static int kvm_set_memslot_changeset(struct kvm *kvm,
				     const struct kvm_userspace_memory_region2 *mems,
				     u32 n, u32 *err)
{
	bool inval[KVM_MAX_NR_ADDRESS_SPACES] = {};
	bool used[KVM_MAX_NR_ADDRESS_SPACES] = {};
	int nr_as = kvm_arch_nr_memslot_as_ids(kvm);
	struct kvm_memory_slot **flush = NULL;
	struct kvm_cs_op *ops;
	u64 flushes = kvm->stat.generic.remote_tlb_flush_requests;
	bool locked, swapped = false;
	int as_id, i, r;

	lockdep_assert_held(&kvm->slots_lock);

	ops = kvcalloc(n, sizeof(*ops), GFP_KERNEL_ACCOUNT);
	if (!ops)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		ops[i].mem = &mems[i];

	r = kvm_cs_validate(kvm, ops, n, err);
	if (r)
		goto out_free;
	r = kvm_cs_alloc(kvm, ops, n, err);
	if (r)
		goto out_free;
	flush = kvmalloc_array(n, sizeof(*flush), GFP_KERNEL_ACCOUNT);
	if (!flush) {
		*err = n;
		r = -ENOMEM;
		goto out_free;
	}

	for (i = 0; i < n; i++) {
		if (ops[i].kind != KVM_CS_NOOP)
			used[ops[i].as_id] = true;
		if (ops[i].invalid)
			inval[ops[i].as_id] = true;
	}

	/* See kvm_set_memslot() for the rules of slots_arch_lock. */
	mutex_lock(&kvm->slots_arch_lock);
	locked = true;

	/* Swap 1: every slot that goes away becomes INVALID where it is. */
	kvm_cs_seq_bump(kvm);
	for (i = 0; i < n; i++) {
		struct kvm_cs_op *op = &ops[i];

		if (!op->invalid)
			continue;
		kvm_copy_memslot(op->invalid, op->old);
		op->invalid->flags |= KVM_MEMSLOT_INVALID | KVM_MEMSLOT_CHANGESET;
		kvm_replace_memslot(kvm, op->old, op->invalid);
	}
	for (as_id = 0; as_id < nr_as; as_id++) {
		if (!inval[as_id])
			continue;
		kvm_cs_swap(kvm, as_id, &locked);
		swapped = true;
	}
	if (swapped)
		kvm_cs_flush(kvm, ops, n, flush);
	if (!locked)
		mutex_lock(&kvm->slots_arch_lock);
	locked = true;

	/*
	 * The arch data of the old slots may have changed while the lock was
	 * dropped (e.g. rmaps allocated for the first shadow root): what is
	 * in the active INVALID copies is current.
	 */
	for (i = 0; i < n; i++)
		if (ops[i].invalid)
			ops[i].old->arch = ops[i].invalid->arch;

	for (i = 0; i < n; i++) {
		r = kvm_cs_prepare_one(kvm, &ops[i], i);
		if (r) {
			*err = i;
			goto out_revert;
		}
	}

	/*
	 * The inactive set of each address space gets the final layout:
	 * removals first (an insert at a base another slot still has would
	 * collide in the gfn tree), then flag changes in place, then inserts.
	 */
	for (i = 0; i < n; i++)
		if (ops[i].invalid)
			kvm_replace_memslot(kvm, ops[i].old, NULL);
	for (i = 0; i < n; i++)
		if (ops[i].kind == KVM_CS_FLAGS)
			kvm_replace_memslot(kvm, ops[i].old, ops[i].new);
	for (i = 0; i < n; i++)
		if (kvm_cs_inserts(&ops[i]))
			kvm_replace_memslot(kvm, NULL, ops[i].new);

	/* Swap 2, then bring the now inactive set level with it. */
	for (as_id = 0; as_id < nr_as; as_id++) {
		if (!used[as_id])
			continue;
		kvm_cs_swap(kvm, as_id, &locked);
		for (i = 0; i < n; i++) {
			struct kvm_cs_op *op = &ops[i];

			if (op->as_id != as_id)
				continue;
			if (op->invalid)
				kvm_replace_memslot(kvm, op->invalid, NULL);
			else if (op->kind == KVM_CS_FLAGS)
				kvm_replace_memslot(kvm, op->old, op->new);
		}
		for (i = 0; i < n; i++)
			if (ops[i].as_id == as_id && kvm_cs_inserts(&ops[i]))
				kvm_replace_memslot(kvm, NULL, ops[i].new);
	}
	if (locked)
		mutex_unlock(&kvm->slots_arch_lock);
	kvm_cs_seq_bump(kvm);

	/*
	 * After swap 2's SRCU wait no vCPU holds an old slot, so no write can
	 * still land in an old bitmap: carry the bits, then free the old.
	 */
	kvm_cs_carry_all_dirty(ops, n);
	kvm_cs_commit(kvm, ops, n);
	kvm->stat.generic.memslot_changesets++;
	kvm->stat.generic.memslot_changeset_entries += n;
	*err = n;
	r = 0;
	goto out_tlb_stat;

out_revert:
	/* Swap back: the inactive sets still hold the old layout untouched. */
	for (as_id = 0; as_id < nr_as; as_id++) {
		if (!inval[as_id])
			continue;
		kvm_cs_swap(kvm, as_id, &locked);
		for (i = 0; i < n; i++)
			if (ops[i].as_id == as_id && ops[i].invalid)
				kvm_replace_memslot(kvm, ops[i].invalid, ops[i].old);
	}
	if (locked)
		mutex_unlock(&kvm->slots_arch_lock);
	kvm_cs_seq_bump(kvm);
out_free:
	kvm_cs_free(kvm, ops, n);
out_tlb_stat:
	/*
	 * Every remote TLB flush requested while the changeset was applied,
	 * its own (the batched zap, a dirty-logging change) and any a vCPU
	 * asked for meanwhile; a refused changeset requests none.
	 */
	kvm->stat.generic.memslot_changeset_tlb_flushes +=
		kvm->stat.generic.remote_tlb_flush_requests - flushes;
	kvfree(flush);
	kvfree(ops);
	return r;
}

int kvm_vm_ioctl_set_memslot_changeset(struct kvm *kvm,
				       struct kvm_memslot_changeset __user *argp)
{
	struct kvm_userspace_memory_region2 *mems;
	struct kvm_memslot_changeset cs;
	u32 err;
	int r;

	if (copy_from_user(&cs, argp, sizeof(cs)))
		return -EFAULT;
	if (cs.flags || cs.pad1 || memchr_inv(cs.pad2, 0, sizeof(cs.pad2)))
		return -EINVAL;
	if (!cs.nent)
		return -EINVAL;
	if (cs.nent > KVM_MEMSLOT_CHANGESET_MAX_ENTRIES)
		return -E2BIG;

	mems = vmemdup_array_user(u64_to_user_ptr(cs.entries), cs.nent,
				  sizeof(*mems));
	if (IS_ERR(mems))
		return PTR_ERR(mems);

	err = cs.nent;
	mutex_lock(&kvm->slots_lock);
	r = kvm_set_memslot_changeset(kvm, mems, cs.nent, &err);
	mutex_unlock(&kvm->slots_lock);
	kvfree(mems);

	if (r && put_user(err, &argp->error_index))
		r = -EFAULT;
	return r;
}
