// SPDX-License-Identifier: GPL-2.0-only
/*
 * memslot_changeset_test: KVM_SET_MEMSLOT_CHANGESET applies a set of
 * memslot changes as one step.
 *
 *  functional   each kind of entry alone and mixed (create, split, merge,
 *               move, swap of two slots, replace with another HVA, dirty
 *               logging on, READONLY on), with the zap-all quirk on and
 *               off; after each changeset the guest reads every page of a
 *               window: each page reads what its HVA holds, and exactly the
 *               ranges no slot covers exit as MMIO.
 *  refusals     one changeset per refusal (flags, sizes, alignment,
 *               overflow, address space, slot id, duplicate id, overlap in
 *               the result, delete of nothing, unmappable GPA, bad
 *               pointer, E2BIG), each led by a valid entry; after each the
 *               layout, the dirty bitmap and the guest-visible contents are
 *               what they were, and error_index names the entry.
 *  stats        the VM's binary stats count changesets, entries, swaps,
 *               zap passes and TLB flushes exactly (one zap and at most one
 *               flush per changeset, one swap when nothing goes away), and
 *               a refused changeset counts nothing.
 *  unwind       a failure forced after the first swap (the kvm module
 *               parameter memslot_changeset_fail_entry, present with
 *               CONFIG_FAULT_INJECTION) leaves everything as it was.
 *  no holes     vCPUs read and write a range that the host keeps
 *               splitting and merging with changesets: no MMIO exit, every
 *               value intact.  A control does the same transitions as
 *               single KVM_SET_USER_MEMORY_REGION calls and must see holes,
 *               or the check above proves nothing.  Twice more: with every
 *               access done by KVM's emulator (the forced emulation
 *               prefix; with its own control), and with the guest's page
 *               table for the range inside the range, so that the walk of
 *               the guest page tables (in software on the shadow MMU)
 *               meets the changing slots too.
 *  dirty carry  dirty logging on, the guest writes pages while the host
 *               splits and merges the logging slot (stopped and running):
 *               the union of the dirty bitmaps of the final slots is
 *               exactly the set of pages the guest wrote.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "ucall_common.h"

#define TEST_GPA	0x40000000ull	/* the window the tests change */
#define WIN		128		/* pages in the window */
#define HOST_PAGES	256		/* pages of host memory behind it */
#define TAG(hpn)	(0x5a17000000000000ull | (hpn))
#define MMIO_MARK	0xdeadbeefcafe0000ull
#define NR_CVCPUS	2

#ifndef KVM_CAP_MEMSLOT_CHANGESET
#error "this test needs the kvmfork uAPI headers (KVM_CAP_MEMSLOT_CHANGESET)"
#endif

static uint8_t *host_mem;		/* HOST_PAGES pages, page j tagged TAG(j) */
static uint32_t page_size;

/* The host's model of the window's layout. */
struct tslot {
	bool used;
	uint64_t gpn, npages, hpn;
	uint32_t flags;
};

#define MAX_ID 64
static struct tslot model[MAX_ID];

/* Guest side. */
enum { MODE_READ, MODE_WRITE, MODE_SPIN_RW, MODE_SPIN_DIRTY, MODE_SPIN_FEP, MODE_SPIN_PT };

/* Page 63 of the window holds its page table in MODE_SPIN_PT. */
#define PT_PAGE		63
static volatile uint64_t guest_mode;
static volatile uint64_t guest_stop;
static uint64_t seen[WIN];
static uint64_t write_list[WIN];	/* MODE_WRITE: pages to write */
static volatile uint64_t write_n;
static volatile uint64_t written[WIN];	/* MODE_SPIN_DIRTY: pages written */
static volatile uint64_t passes[NR_CVCPUS];

static void guest_code(uint64_t id)
{
	uint64_t i, round = 0;

	for (;;) {
		volatile uint64_t *pg;

		switch (guest_mode) {
		case MODE_READ:
			for (i = 0; i < WIN; i++)
				seen[i] = *(volatile uint64_t *)(TEST_GPA + i * 4096);
			break;
		case MODE_WRITE:
			for (i = 0; i < write_n; i++)
				*(volatile uint64_t *)(TEST_GPA + write_list[i] * 4096 + 8) = i + 1;
			break;
		case MODE_SPIN_FEP:
			/* As MODE_SPIN_RW, each access done by KVM's emulator. */
			for (i = 0; i < 64; i++) {
				uint64_t v;

				pg = (volatile uint64_t *)(TEST_GPA + i * 4096);
				asm volatile(KVM_FEP "mov (%1), %0" : "=r"(v) : "r"(pg) : "memory");
				GUEST_ASSERT_EQ(v, TAG(i));
				v = ++round;
				asm volatile(KVM_FEP "mov %0, (%1)" : : "r"(v), "r"(&pg[1 + id]) : "memory");
				GUEST_ASSERT_EQ(pg[1 + id], round);
			}
			passes[id]++;
			if (guest_stop)
				break;
			continue;
		case MODE_SPIN_RW:
		case MODE_SPIN_PT:
			/* Pages 0..63 are RAM in every layout of the run. */
			for (i = 0; i < 64; i++) {
				if (guest_mode == MODE_SPIN_PT && i == PT_PAGE)
					continue;
				pg = (volatile uint64_t *)(TEST_GPA + i * 4096);
				GUEST_ASSERT_EQ(pg[0], TAG(i));
				pg[1 + id] = ++round;
				GUEST_ASSERT_EQ(pg[1 + id], round);
			}
			passes[id]++;
			if (guest_stop)
				break;
			continue;
		case MODE_SPIN_DIRTY:
			/* A pseudo-random walk over pages 0..63, writing. */
			/* Pages that are multiples of 5 are never written. */
			i = (round * 37 + 11) % 64;
			round++;
			if (i % 5) {
				*(volatile uint64_t *)(TEST_GPA + i * 4096 + 16) = round;
				written[i] = 1;
			}
			if ((round & 63) == 0) {
				passes[id]++;
				if (guest_stop)
					break;
			}
			continue;
		}
		GUEST_SYNC(0);
	}
}

static struct kvm_userspace_memory_region2 entry(uint32_t id, uint64_t gpn,
						 uint64_t npages, uint64_t hpn,
						 uint32_t flags)
{
	return (struct kvm_userspace_memory_region2) {
		.slot = id, .flags = flags,
		.guest_phys_addr = TEST_GPA + gpn * page_size,
		.memory_size = npages * page_size,
		.userspace_addr = (uint64_t)(host_mem + hpn * page_size),
	};
}

static int changeset(struct kvm_vm *vm, struct kvm_userspace_memory_region2 *e,
		     uint32_t n, uint32_t *err)
{
	struct kvm_memslot_changeset cs = {
		.nent = n, .entries = (uint64_t)e, .error_index = 0xffffffff,
	};
	int r = __vm_ioctl(vm, KVM_SET_MEMSLOT_CHANGESET, &cs);

	if (err)
		*err = cs.error_index;
	return r ? errno : 0;
}

/* Apply a changeset that must succeed, and update the model. */
static void apply(struct kvm_vm *vm, struct kvm_userspace_memory_region2 *e,
		  uint32_t n)
{
	uint32_t err, i;
	int r = changeset(vm, e, n, &err);

	TEST_ASSERT(!r, "changeset of %u entries refused: %s (error_index %u)",
		    n, strerror(r), err);
	for (i = 0; i < n; i++) {
		struct tslot *t = &model[e[i].slot];

		t->used = e[i].memory_size != 0;
		t->gpn = (e[i].guest_phys_addr - TEST_GPA) / page_size;
		t->npages = e[i].memory_size / page_size;
		t->hpn = ((uint8_t *)e[i].userspace_addr - host_mem) / page_size;
		t->flags = e[i].flags;
	}
}

/* The host page behind window page @gpn, or -1 if no slot covers it. */
static int64_t model_hpn(uint64_t gpn, uint32_t *id)
{
	uint32_t i;

	for (i = 0; i < MAX_ID; i++) {
		if (model[i].used && gpn >= model[i].gpn &&
		    gpn < model[i].gpn + model[i].npages) {
			if (id)
				*id = i;
			return model[i].hpn + gpn - model[i].gpn;
		}
	}
	return -1;
}

/*
 * Run @vcpu to its next GUEST_SYNC.  MMIO exits inside the window are
 * answered with MMIO_MARK and counted per page in @mmio (may be NULL).
 */
static void run_to_sync(struct kvm_vcpu *vcpu, uint32_t *mmio)
{
	struct ucall uc;

	for (;;) {
		vcpu_run(vcpu);
		if (vcpu->run->exit_reason == KVM_EXIT_MMIO) {
			uint64_t gpa = vcpu->run->mmio.phys_addr;

			TEST_ASSERT(gpa >= TEST_GPA && gpa < TEST_GPA + WIN * page_size,
				    "MMIO exit outside the window: 0x%lx", gpa);
			if (mmio)
				mmio[(gpa - TEST_GPA) / page_size]++;
			if (!vcpu->run->mmio.is_write) {
				uint64_t v = MMIO_MARK;

				memcpy(vcpu->run->mmio.data, &v, sizeof(v));
			}
			continue;
		}
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			return;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
		default:
			TEST_FAIL("unexpected exit %s", exit_reason_str(vcpu->run->exit_reason));
		}
	}
}

static void set_mode(struct kvm_vm *vm, uint64_t mode)
{
	guest_mode = mode;
	sync_global_to_guest(vm, guest_mode);
}

/* The guest reads every window page: each must match the model. */
static void check_layout(struct kvm_vm *vm, struct kvm_vcpu *vcpu, const char *what)
{
	uint32_t mmio[WIN] = {};
	uint64_t gpn;

	set_mode(vm, MODE_READ);
	run_to_sync(vcpu, mmio);
	sync_global_from_guest(vm, seen);
	for (gpn = 0; gpn < WIN; gpn++) {
		int64_t hpn = model_hpn(gpn, NULL);

		if (hpn < 0)
			TEST_ASSERT(mmio[gpn] == 1 && seen[gpn] == MMIO_MARK,
				    "%s: page %lu has no slot, but the guest read 0x%lx (%u MMIO exits)",
				    what, gpn, seen[gpn], mmio[gpn]);
		else
			TEST_ASSERT(!mmio[gpn] && seen[gpn] == TAG(hpn),
				    "%s: page %lu should read host page %ld (0x%llx), read 0x%lx (%u MMIO exits)",
				    what, gpn, hpn, TAG(hpn), seen[gpn], mmio[gpn]);
	}
}

static void tag_host_memory(void)
{
	uint64_t j;

	for (j = 0; j < HOST_PAGES; j++) {
		memset(host_mem + j * page_size, 0, page_size);
		*(uint64_t *)(host_mem + j * page_size) = TAG(j);
	}
}

static struct kvm_vm *setup_vm(struct kvm_vcpu **vcpu, bool zap_all)
{
	struct kvm_vm *vm = vm_create_with_one_vcpu(vcpu, guest_code);

	if (!zap_all)
		vm_enable_cap(vm, KVM_CAP_DISABLE_QUIRKS2, KVM_X86_QUIRK_SLOT_ZAP_ALL);
	virt_map(vm, TEST_GPA, TEST_GPA, WIN);
	vcpu_args_set(*vcpu, 1, 0);
	memset(model, 0, sizeof(model));
	tag_host_memory();
	return vm;
}

static void test_functional(bool zap_all)
{
	struct kvm_userspace_memory_region2 e[8];
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = setup_vm(&vcpu, zap_all);
	const char *q = zap_all ? "quirk on" : "quirk off";

	check_layout(vm, vcpu, "empty window");

	/* Two slots created at once. */
	e[0] = entry(10, 0, 32, 0, 0);
	e[1] = entry(11, 32, 32, 32, 0);
	apply(vm, e, 2);
	check_layout(vm, vcpu, "create");

	/* Split slot 10 around a hole: 10 shrinks, 12 takes the top. */
	e[0] = entry(10, 0, 8, 0, 0);
	e[1] = entry(12, 16, 16, 16, 0);
	apply(vm, e, 2);
	check_layout(vm, vcpu, "split");

	/* Merge them back, hole included. */
	e[0] = entry(10, 0, 32, 0, 0);
	e[1] = entry(12, 0, 0, 0, 0);
	apply(vm, e, 2);
	check_layout(vm, vcpu, "merge");

	/* Move slot 11 to the end of the window. */
	e[0] = entry(11, 96, 32, 32, 0);
	apply(vm, e, 1);
	check_layout(vm, vcpu, "move");

	/* Swap the GPAs of two slots: each lands where the other was. */
	e[0] = entry(10, 96, 32, 0, 0);
	e[1] = entry(11, 0, 32, 32, 0);
	apply(vm, e, 2);
	check_layout(vm, vcpu, "swap");

	/* Same id, same GPA, another HVA (delete + create in one entry). */
	e[0] = entry(11, 0, 32, 160, 0);
	apply(vm, e, 1);
	check_layout(vm, vcpu, "replace HVA");

	/* Dirty logging on, in place: the guest's writes show in the log. */
	{
		unsigned long log[WIN / 64] = {};

		e[0] = entry(11, 0, 32, 160, KVM_MEM_LOG_DIRTY_PAGES);
		apply(vm, e, 1);
		write_list[0] = 3;
		write_list[1] = 17;
		write_n = 2;
		sync_global_to_guest(vm, write_list);
		sync_global_to_guest(vm, write_n);
		set_mode(vm, MODE_WRITE);
		run_to_sync(vcpu, NULL);
		kvm_vm_get_dirty_log(vm, 11, log);
		TEST_ASSERT(log[0] == ((1ul << 3) | (1ul << 17)),
			    "dirty log after enabling logging by changeset: 0x%lx", log[0]);
		check_layout(vm, vcpu, "logging on");
	}

	/* READONLY on (a replace): reads still read memory, writes exit. */
	if (kvm_has_cap(KVM_CAP_READONLY_MEM)) {
		uint32_t mmio[WIN] = {};

		e[0] = entry(10, 96, 32, 0, KVM_MEM_READONLY);
		apply(vm, e, 1);
		check_layout(vm, vcpu, "readonly");
		write_list[0] = 100;
		write_n = 1;
		sync_global_to_guest(vm, write_list);
		sync_global_to_guest(vm, write_n);
		set_mode(vm, MODE_WRITE);
		run_to_sync(vcpu, mmio);
		TEST_ASSERT(mmio[100] == 1, "a write to a READONLY slot made %u MMIO exits", mmio[100]);
	}

	/* Mixed: delete one, create two, move one, flags off, in one call. */
	e[0] = entry(10, 0, 0, 0, 0);
	e[1] = entry(13, 40, 8, 200, 0);
	e[2] = entry(14, 64, 32, 64, 0);
	e[3] = entry(11, 8, 32, 160, 0);
	apply(vm, e, 4);
	check_layout(vm, vcpu, "mixed");

	/* Entries identical to the layout change nothing. */
	e[0] = entry(13, 40, 8, 200, 0);
	apply(vm, e, 1);
	check_layout(vm, vcpu, "no-op entry");

	kvm_vm_free(vm);
	ksft_test_result_pass("functional: create, split, merge, move, swap, replace, logging, readonly, mixed (%s)\n", q);
}

/* A changeset that must be refused with @want, naming entry @want_idx. */
static void refused(struct kvm_vm *vm, struct kvm_vcpu *vcpu,
		    struct kvm_userspace_memory_region2 *e, uint32_t n,
		    int want, uint32_t want_idx, const char *what)
{
	unsigned long log[WIN / 64] = {};
	uint32_t err;
	int r;

	/*
	 * Pages 5 and 9 of slot 20 dirty before the call (reads mark pages
	 * dirty too, so the log is cleared first)...
	 */
	kvm_vm_get_dirty_log(vm, 20, log);
	memset(log, 0, sizeof(log));
	write_list[0] = 5;
	write_list[1] = 9;
	write_n = 2;
	sync_global_to_guest(vm, write_list);
	sync_global_to_guest(vm, write_n);
	set_mode(vm, MODE_WRITE);
	run_to_sync(vcpu, NULL);

	r = changeset(vm, e, n, &err);
	TEST_ASSERT(r == want, "%s: got %s, want %s", what, r ? strerror(r) : "success",
		    strerror(want));
	TEST_ASSERT(want_idx == (uint32_t)-1 || err == want_idx,
		    "%s: error_index %u, want %u", what, err, want_idx);

	/* ...and exactly those after it; the layout as it was. */
	kvm_vm_get_dirty_log(vm, 20, log);
	TEST_ASSERT(log[0] == ((1ul << 5) | (1ul << 9)),
		    "%s: the refused changeset changed slot 20's dirty log: 0x%lx", what, log[0]);
	check_layout(vm, vcpu, what);
}

static void test_refusals(void)
{
	struct kvm_userspace_memory_region2 e[4], *big;
	struct kvm_memslot_changeset cs = {};
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = setup_vm(&vcpu, true);
	uint32_t max = kvm_check_cap(KVM_CAP_MEMSLOT_CHANGESET), i;
	struct kvm_userspace_memory_region2 split = entry(20, 0, 16, 0, KVM_MEM_LOG_DIRTY_PAGES);

	e[0] = entry(20, 0, 32, 0, KVM_MEM_LOG_DIRTY_PAGES);
	e[1] = entry(21, 64, 16, 64, 0);
	apply(vm, e, 2);
	check_layout(vm, vcpu, "refusals: start");

	/* The changeset header. */
	cs.nent = 0;
	TEST_ASSERT(__vm_ioctl(vm, KVM_SET_MEMSLOT_CHANGESET, &cs) && errno == EINVAL,
		    "nent 0 not refused with EINVAL");
	cs.nent = 1;
	cs.flags = 1;
	cs.entries = (uint64_t)e;
	TEST_ASSERT(__vm_ioctl(vm, KVM_SET_MEMSLOT_CHANGESET, &cs) && errno == EINVAL,
		    "changeset flags not refused with EINVAL");
	cs.flags = 0;
	cs.pad2[1] = 1;
	TEST_ASSERT(__vm_ioctl(vm, KVM_SET_MEMSLOT_CHANGESET, &cs) && errno == EINVAL,
		    "changeset padding not refused with EINVAL");
	cs.pad2[1] = 0;
	cs.entries = 0x10;
	TEST_ASSERT(__vm_ioctl(vm, KVM_SET_MEMSLOT_CHANGESET, &cs) && errno == EFAULT,
		    "unreadable entries not refused with EFAULT");
	big = calloc(max + 1, sizeof(*big));
	for (i = 0; i <= max; i++)
		big[i] = entry(30 + i % 2, 0, 0, 0, 0);
	cs.nent = max + 1;
	cs.entries = (uint64_t)big;
	TEST_ASSERT(__vm_ioctl(vm, KVM_SET_MEMSLOT_CHANGESET, &cs) && errno == E2BIG,
		    "nent %u > %u not refused with E2BIG", max + 1, max);
	free(big);
	check_layout(vm, vcpu, "header refusals");

	/* Every entry refusal, each after a valid split of slot 20. */
#define REFUSE(want, idx, what, ...) do {					\
		struct kvm_userspace_memory_region2 r_[] = { split, __VA_ARGS__ }; \
		refused(vm, vcpu, r_, ARRAY_SIZE(r_), want, idx, what);		\
	} while (0)
	REFUSE(EINVAL, 1, "unknown entry flag", entry(22, 40, 4, 40, 1u << 7));
	REFUSE(EINVAL, 1, "size not page aligned",
	       ({ struct kvm_userspace_memory_region2 x = entry(22, 40, 4, 40, 0);
		  x.memory_size -= 1; x; }));
	REFUSE(EINVAL, 1, "GPA not page aligned",
	       ({ struct kvm_userspace_memory_region2 x = entry(22, 40, 4, 40, 0);
		  x.guest_phys_addr += 8; x; }));
	REFUSE(EINVAL, 1, "HVA not page aligned",
	       ({ struct kvm_userspace_memory_region2 x = entry(22, 40, 4, 40, 0);
		  x.userspace_addr += 8; x; }));
	REFUSE(EINVAL, 1, "GPA + size wraps",
	       ({ struct kvm_userspace_memory_region2 x = entry(22, 40, 4, 40, 0);
		  x.guest_phys_addr = -4096ull; x; }));
	REFUSE(EINVAL, 1, "address space out of range",
	       ({ struct kvm_userspace_memory_region2 x = entry(22, 40, 4, 40, 0);
		  x.slot |= 7u << 16; x; }));
	REFUSE(EINVAL, 1, "entries in two address spaces",
	       ({ struct kvm_userspace_memory_region2 x = entry(22, 40, 4, 40, 0);
		  x.slot |= 1u << 16; x; }));
	REFUSE(EINVAL, 1, "slot id beyond the user slots",
	       ({ struct kvm_userspace_memory_region2 x = entry(22, 40, 4, 40, 0);
		  x.slot = 0x7fff; x; }));
	REFUSE(EINVAL, 1, "padding not zero",
	       ({ struct kvm_userspace_memory_region2 x = entry(22, 40, 4, 40, 0);
		  x.pad2[3] = 1; x; }));
	REFUSE(EINVAL, 1, "same id twice", entry(20, 0, 32, 0, KVM_MEM_LOG_DIRTY_PAGES));
	REFUSE(EINVAL, 1, "delete of a slot that does not exist", entry(25, 0, 0, 0, 0));
	/*
	 * Overlaps: with a slot left alone, between two new slots, and one
	 * that only the final layout has (21 moved onto 20's old range).
	 */
	REFUSE(EEXIST, 1, "overlap with a slot left alone", entry(22, 60, 8, 60, 0));
	REFUSE(EEXIST, 2, "overlap between two new slots",
	       entry(22, 40, 8, 40, 0), entry(23, 44, 8, 44, 0));
	REFUSE(EEXIST, 1, "overlap in the final layout only", entry(21, 8, 16, 64, 0));
	REFUSE(EINVAL, 1, "GPA beyond what the MMU maps",
	       ({ struct kvm_userspace_memory_region2 x = entry(22, 40, 4, 40, 0);
		  x.guest_phys_addr = 1ull << 60; x; }));

	/*
	 * Where an overlap with the current layout is fine: 21 moved onto
	 * the range 20 frees in the same changeset (the control).
	 */
	e[0] = split;
	e[1] = entry(21, 20, 8, 64, 0);
	apply(vm, e, 2);
	check_layout(vm, vcpu, "move into a range freed by the same changeset");

	kvm_vm_free(vm);
	ksft_test_result_pass("refusals: 19 kinds, each changes nothing and names its entry\n");
}

static const char *const cs_stats[] = {
	"memslot_changesets", "memslot_changeset_entries", "memslot_changeset_swaps",
	"memslot_changeset_zaps", "memslot_changeset_tlb_flushes",
};

#define NR_CS_STATS ARRAY_SIZE(cs_stats)

static void read_cs_stats(struct kvm_vm *vm, uint64_t *v)
{
	unsigned int i;

	for (i = 0; i < NR_CS_STATS; i++) {
		v[i] = UINT64_MAX;
		__vm_get_stat(vm, cs_stats[i], &v[i], 1);
		TEST_ASSERT(v[i] != UINT64_MAX, "no VM stat %s", cs_stats[i]);
	}
}

/*
 * One changeset; the stats must have grown by exactly @want.  Flushes: at
 * most @want, else false (the caller retries): the counter takes every
 * remote TLB flush requested while the changeset ran, and a zap that yields
 * the MMU lock because the scheduler wants the CPU (cond_resched_rwlock_write
 * on a loaded host) flushes before it lets go, on its own.
 */
static bool stats_step(struct kvm_vm *vm, struct kvm_vcpu *vcpu, const char *what,
		       struct kvm_userspace_memory_region2 *e, uint32_t n,
		       bool refuse, const uint64_t *want, uint64_t *flushes)
{
	uint64_t before[NR_CS_STATS], after[NR_CS_STATS];
	bool ok = true;
	unsigned int i;

	check_layout(vm, vcpu, what);	/* the window mapped: a zap has work */
	read_cs_stats(vm, before);
	if (refuse)
		TEST_ASSERT(changeset(vm, e, n, NULL), "%s: accepted", what);
	else
		apply(vm, e, n);
	read_cs_stats(vm, after);
	for (i = 0; i < NR_CS_STATS; i++) {
		uint64_t d = after[i] - before[i];

		if (i == NR_CS_STATS - 1) {
			if (d > want[i]) {
				ksft_print_msg("%s: %s grew by %lu, want at most %lu\n",
					       what, cs_stats[i], d, want[i]);
				ok = false;
			}
			*flushes += d;
		} else {
			TEST_ASSERT(d == want[i], "%s: %s grew by %lu, want %lu",
				    what, cs_stats[i], d, want[i]);
		}
	}
	return ok;
}

#define STATS_TRIES 5

/*
 * One VM per quirk setting runs these in order: a create (one swap, no
 * zap), a split, a merge and a move (two swaps, one zap), then a refusal
 * (nothing).  Wanted growth: changesets, entries, swaps, zaps, flushes
 * (the last: at most).
 */
static const struct {
	const char *what;
	uint32_t n;
	struct { uint32_t id, gpn, npages, hpn; } e[2];
	bool refuse;
	uint64_t want[NR_CS_STATS];
} stats_steps[] = {
	{ "stats: create", 1, { { 50, 0, 64, 0 } }, false, { 1, 1, 1, 0, 1 } },
	{ "stats: split", 2, { { 50, 0, 32, 0 }, { 51, 32, 32, 32 } }, false, { 1, 2, 2, 1, 1 } },
	{ "stats: merge", 2, { { 51, 0, 0, 0 }, { 50, 0, 64, 0 } }, false, { 1, 2, 2, 1, 1 } },
	{ "stats: move", 1, { { 50, 64, 64, 0 } }, false, { 1, 1, 2, 1, 1 } },
	/* The second entry overlaps the first. */
	{ "stats: refused", 2, { { 51, 0, 32, 0 }, { 52, 16, 32, 16 } }, true, { 0, 0, 0, 0, 0 } },
};

static void test_stats(void)
{
	struct kvm_userspace_memory_region2 e[2];
	char flushed[2][32] = { "n/a", "n/a" };
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	unsigned int k, j;
	int zap_all;

	int tries[2] = { 0, 0 };

	for (zap_all = 0; zap_all < 2; zap_all++) {
		uint64_t flushes = 0;
		bool ok = false;

		if (!zap_all && !(kvm_check_cap(KVM_CAP_DISABLE_QUIRKS2) &
				  KVM_X86_QUIRK_SLOT_ZAP_ALL))
			continue;
		/*
		 * A flush too many is retried in a fresh VM: one that a lock
		 * break caused comes and goes with the host's load, one that
		 * the changeset itself makes comes every time.
		 */
		while (!ok && tries[zap_all] < STATS_TRIES) {
			tries[zap_all]++;
			flushes = 0;
			ok = true;
			vm = setup_vm(&vcpu, zap_all);
			for (k = 0; k < ARRAY_SIZE(stats_steps); k++) {
				for (j = 0; j < stats_steps[k].n; j++)
					e[j] = entry(stats_steps[k].e[j].id, stats_steps[k].e[j].gpn,
						     stats_steps[k].e[j].npages,
						     stats_steps[k].e[j].hpn, 0);
				ok &= stats_step(vm, vcpu, stats_steps[k].what, e,
						 stats_steps[k].n, stats_steps[k].refuse,
						 stats_steps[k].want, &flushes);
			}
			kvm_vm_free(vm);
			if (!ok)
				ksft_print_msg("stats (quirk %s): try %d of %d had a TLB flush too many\n",
					       zap_all ? "on" : "off", tries[zap_all], STATS_TRIES);
		}
		TEST_ASSERT(ok, "stats (quirk %s): a TLB flush too many in each of %d tries",
			    zap_all ? "on" : "off", STATS_TRIES);
		snprintf(flushed[zap_all], sizeof(flushed[zap_all]), "%lu", flushes);
	}
	ksft_test_result_pass("stats: changesets, entries, swaps (1 or 2), zaps (0 or 1) exact; TLB flushes over 4 changesets: %s (quirk off), %s (quirk on), tries %d and %d; refused changeset counts nothing\n",
			      flushed[0], flushed[1], tries[0], tries[1]);
}

static void test_unwind(void)
{
	const char *param = "/sys/module/kvm/parameters/memslot_changeset_fail_entry";
	struct kvm_userspace_memory_region2 e[3];
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	FILE *f = fopen(param, "w");
	int k;

	if (!f) {
		ksft_test_result_skip("unwind: no %s (kernel without CONFIG_FAULT_INJECTION)\n", param);
		return;
	}
	fclose(f);
	vm = setup_vm(&vcpu, true);
	e[0] = entry(20, 0, 32, 0, KVM_MEM_LOG_DIRTY_PAGES);
	e[1] = entry(21, 64, 16, 64, 0);
	apply(vm, e, 2);
	/* A split, a move and a create; fail each of the three in turn. */
	for (k = 0; k < 3; k++) {
		e[0] = entry(20, 0, 16, 0, KVM_MEM_LOG_DIRTY_PAGES);
		e[1] = entry(21, 100, 16, 64, 0);
		e[2] = entry(22, 40, 8, 40, 0);
		f = fopen(param, "w");
		TEST_ASSERT(f, "cannot open %s", param);
		fprintf(f, "%d\n", k);
		fclose(f);
		refused(vm, vcpu, e, 3, ENOMEM, k, "forced failure after swap 1");
	}
	kvm_vm_free(vm);
	ksft_test_result_pass("unwind: a failure after the first swap, at each of 3 entries, changes nothing\n");
}

/* No holes: vCPUs spin over pages 0..63 while the host changes layout. */
static struct kvm_vcpu *cvcpus[NR_CVCPUS];
static atomic_uint holes;
static atomic_bool cstop;

static void *cvcpu_worker(void *arg)
{
	struct kvm_vcpu *vcpu = arg;
	struct ucall uc;

	for (;;) {
		vcpu_run(vcpu);
		if (vcpu->run->exit_reason == KVM_EXIT_MMIO) {
			uint64_t off = vcpu->run->mmio.phys_addr - TEST_GPA;
			uint32_t len = vcpu->run->mmio.len;

			/*
			 * Count the hole, and do the access on the RAM that
			 * is there in every layout (GPA page g is host page
			 * g), so that the guest goes on as if it had none.
			 */
			atomic_fetch_add(&holes, 1);
			TEST_ASSERT(off + len <= 64 * page_size, "MMIO exit at 0x%llx",
				    vcpu->run->mmio.phys_addr);
			if (vcpu->run->mmio.is_write)
				memcpy(host_mem + off, vcpu->run->mmio.data, len);
			else
				memcpy(vcpu->run->mmio.data, host_mem + off, len);
			continue;
		}
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			return NULL;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
		default:
			TEST_FAIL("unexpected exit %s", exit_reason_str(vcpu->run->exit_reason));
		}
	}
}

/*
 * Layouts of pages 0..63 (GPA page g -> host page g in all of them): one
 * slot; split in two; three pieces, the middle one under another id.
 */
static const struct { uint32_t id, gpn, npages; } layouts[3][3] = {
	{ { 40, 0, 64 } },
	{ { 40, 0, 20 }, { 41, 20, 44 } },
	{ { 40, 0, 10 }, { 42, 10, 30 }, { 41, 40, 24 } },
};

/*
 * The most page-fault retries the changesets of the last spin_changes()
 * can cost when a vCPU sleeps out each changeset it meets: one per vCPU
 * and changeset, one more for each 100 ms a changeset took (the longest a
 * vCPU sleeps before it retries anyway), one more for rounding.
 */
static uint64_t retry_bound;

#define CS_WAIT_PARAM "/sys/module/kvm/parameters/memslot_changeset_wait"

/* Set kvm.memslot_changeset_wait; false if this kernel does not have it. */
static bool set_cs_wait(bool on)
{
	FILE *f = fopen(CS_WAIT_PARAM, "w");

	if (!f)
		return false;
	fprintf(f, "%c\n", on ? 'Y' : 'N');
	return !fclose(f);
}

static void layout(struct kvm_vm *vm, int which, bool single)
{
	struct kvm_userspace_memory_region2 e[3];
	uint32_t id, n = 0, k;

	for (id = 40; id <= 42; id++) {
		bool want = false;

		for (k = 0; k < 3; k++) {
			if (layouts[which][k].id != id)
				continue;
			e[n++] = entry(id, layouts[which][k].gpn, layouts[which][k].npages,
				       layouts[which][k].gpn, 0);
			want = true;
		}
		if (!want && model[id].used)
			e[n++] = entry(id, 0, 0, 0, 0);
	}
	if (!single) {
		struct timespec t0, t1;
		uint64_t ns;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		apply(vm, e, n);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ns = timespec_to_ns(timespec_sub(t1, t0));
		retry_bound += NR_CVCPUS * (2 + ns / 100000000ull);
		return;
	}
	/*
	 * The control: the same layout, one KVM_SET_USER_MEMORY_REGION at a
	 * time, the way QEMU does it upstream: every slot that changes is
	 * deleted first, then the new ones are created.
	 */
	for (id = 40; id <= 42; id++)
		if (model[id].used)
			vm_set_user_memory_region(vm, id, 0, 0, 0, NULL);
	for (k = 0; k < n; k++) {
		struct tslot *t = &model[e[k].slot];

		t->used = e[k].memory_size != 0;
		if (!t->used)
			continue;
		t->gpn = (e[k].guest_phys_addr - TEST_GPA) / page_size;
		t->npages = e[k].memory_size / page_size;
		t->hpn = t->gpn;
		t->flags = 0;
		vm_set_user_memory_region(vm, e[k].slot, 0, e[k].guest_phys_addr,
					  e[k].memory_size, (void *)e[k].userspace_addr);
	}
}

/*
 * Move the page table that maps the window into the window: host page
 * PT_PAGE, which is in a slot that every layout change replaces.
 */
static void window_page_table_in_window(struct kvm_vm *vm)
{
	int level = PG_LEVEL_2M;
	uint64_t *pde = __vm_get_page_table_entry(vm, TEST_GPA, &level);

	TEST_ASSERT(level == PG_LEVEL_2M && !(*pde & PTE_LARGE_MASK),
		    "the window is not mapped by a 4K page table");
	memcpy(host_mem + PT_PAGE * page_size, addr_gpa2hva(vm, PTE_GET_PA(*pde)), page_size);
	*pde = (*pde & ~PHYSICAL_PAGE_MASK) | (TEST_GPA + PT_PAGE * page_size);
}

static uint64_t vcpu_stat(struct kvm_vcpu *vcpu, const char *name)
{
	int fd = vcpu_get_stats_fd(vcpu);
	struct kvm_stats_header h;
	struct kvm_stats_desc *descs, *d;
	uint64_t v = UINT64_MAX;
	uint32_t i;

	read_stats_header(fd, &h);
	descs = read_stats_descriptors(fd, &h);
	for (i = 0; i < h.num_desc; i++) {
		d = get_stats_descriptor(descs, i, &h);
		if (!strcmp(d->name, name)) {
			read_stat_data(fd, &h, d, &v, 1);
			break;
		}
	}
	free(descs);
	close(fd);
	TEST_ASSERT(v != UINT64_MAX, "no vCPU stat %s", name);
	return v;
}

static uint64_t retries;	/* memslot_changeset_retries of the last spin_changes() */

static unsigned int spin_changes(bool single, uint64_t mode, int iterations,
				 unsigned int *done, uint64_t *progress)
{
	struct kvm_vm *vm = vm_create_with_vcpus(NR_CVCPUS, guest_code, cvcpus);
	pthread_t th[NR_CVCPUS];
	uint64_t p[NR_CVCPUS];
	int i, k;

	virt_map(vm, TEST_GPA, TEST_GPA, WIN);
	memset(model, 0, sizeof(model));
	tag_host_memory();
	layout(vm, 0, false);
	if (mode == MODE_SPIN_PT)
		window_page_table_in_window(vm);
	set_mode(vm, mode);
	guest_stop = 0;
	sync_global_to_guest(vm, guest_stop);
	atomic_store(&holes, 0);
	retry_bound = 0;
	for (i = 0; i < NR_CVCPUS; i++) {
		vcpu_args_set(cvcpus[i], 1, i);
		pthread_create(&th[i], NULL, cvcpu_worker, cvcpus[i]);
	}
	/* Both vCPUs running their loop before the first change. */
	do {
		sync_global_from_guest(vm, passes);
	} while (!passes[0] || !passes[1]);
	for (k = 0; k < iterations; k++) {
		layout(vm, (k % 4 == 3) ? 2 : k % 2, single);
		/* The control stops at its first hole, once vCPUs ran a while. */
		if (single && atomic_load(&holes) && k >= 20)
			break;
	}
	*done = k;
	sync_global_from_guest(vm, passes);
	memcpy(p, (void *)passes, sizeof(p));
	guest_stop = 1;
	sync_global_to_guest(vm, guest_stop);
	for (i = 0; i < NR_CVCPUS; i++)
		pthread_join(th[i], NULL);
	*progress = p[0] + p[1];
	retries = 0;
	for (i = 0; i < NR_CVCPUS; i++)
		retries += vcpu_stat(cvcpus[i], "memslot_changeset_retries");
	kvm_vm_free(vm);
	return atomic_load(&holes);
}

static void no_holes(const char *what, uint64_t mode, int iterations, bool control)
{
	unsigned int h, done;
	uint64_t progress;

	h = spin_changes(false, mode, iterations, &done, &progress);
	TEST_ASSERT(!h, "%s: %u MMIO exits for RAM during %u changesets", what, h, done);
	TEST_ASSERT(progress > 0, "%s: the vCPUs made no progress during the changesets", what);
	/*
	 * A vCPU that met a changeset slept until it ended: its faults were
	 * retried about once per changeset, not over and over.
	 */
	TEST_ASSERT(retries <= retry_bound,
		    "%s: %lu page faults retried during %u changesets, more than the %lu that sleeping vCPUs can need",
		    what, retries, done, retry_bound);
	ksft_test_result_pass("no holes (%s): %u changesets (split, merge, 3-way) under %d spinning vCPUs, 0 MMIO exits, %lu vCPU passes, %lu page faults retried (at most %lu)\n",
			      what, done, NR_CVCPUS, progress, retries, retry_bound);
	if (!control)
		return;
	h = spin_changes(true, mode, iterations, &done, &progress);
	TEST_ASSERT(h > 0, "control (%s): %u layout changes as single ioctls and no hole seen: the check above cannot fail",
		    what, done);
	ksft_test_result_pass("control (%s): single KVM_SET_USER_MEMORY_REGION calls left holes (%u MMIO exits in %u changes)\n",
			      what, h, done);
}

#define FEP_PARAM "/sys/module/kvm/parameters/force_emulation_prefix"

/* Turn on KVM's forced emulation prefix; false if this kernel cannot. */
static bool enable_fep(void)
{
	FILE *f = fopen(FEP_PARAM, "r+");
	int v = 0;

	if (!f)
		return false;
	if (fscanf(f, "%d", &v) == 1 && !(v & 1)) {
		rewind(f);
		fprintf(f, "%d\n", v | 1);
	}
	fclose(f);
	f = fopen(FEP_PARAM, "r");
	if (!f || fscanf(f, "%d", &v) != 1)
		v = 0;
	if (f)
		fclose(f);
	return v & 1;
}

/*
 * kvm.memslot_changeset_wait=0: a fault that meets a changeset is retried
 * at once.  Still no hole; the retries are what the sleep saves (reported,
 * not checked: how many depends on how fast the vCPUs re-enter).
 */
static void spin_retries(int iterations)
{
	unsigned int h, done;
	uint64_t progress;

	if (!set_cs_wait(false)) {
		ksft_test_result_skip("no holes (page faults, retried at once): cannot write " CS_WAIT_PARAM "\n");
		return;
	}
	h = spin_changes(false, MODE_SPIN_RW, iterations, &done, &progress);
	TEST_ASSERT(set_cs_wait(true), "cannot set " CS_WAIT_PARAM " back to Y");
	TEST_ASSERT(!h, "retried at once: %u MMIO exits for RAM during %u changesets", h, done);
	ksft_test_result_pass("no holes (page faults, retried at once): %u changesets, 0 MMIO exits, %lu vCPU passes, %lu page faults retried (sleeping vCPUs: at most %lu)\n",
			      done, progress, retries, retry_bound);
}

static void test_no_holes(int iterations)
{
	TEST_ASSERT(set_cs_wait(true) || access(CS_WAIT_PARAM, F_OK),
		    "cannot set " CS_WAIT_PARAM " to Y");
	no_holes("page faults", MODE_SPIN_RW, iterations, true);
	spin_retries(iterations);
	/* No control: a guest page walk that finds a hole faults the guest. */
	no_holes("guest page table in the changing slots", MODE_SPIN_PT, iterations / 4 + 1, false);
	/* Each emulated access costs an exit: fewer changesets do. */
	if (enable_fep()) {
		no_holes("emulated accesses", MODE_SPIN_FEP, iterations / 4 + 1, true);
	} else {
		ksft_test_result_skip("no holes (emulated accesses): cannot enable " FEP_PARAM "\n");
		ksft_test_result_skip("control (emulated accesses): cannot enable " FEP_PARAM "\n");
	}
}

/* Harvest every test slot's log: the union, by window page. */
static void harvest(struct kvm_vm *vm, bool *dirty)
{
	uint32_t id;

	for (id = 0; id < MAX_ID; id++) {
		unsigned long log[WIN / 64] = {};
		uint64_t i;

		if (!model[id].used || !(model[id].flags & KVM_MEM_LOG_DIRTY_PAGES))
			continue;
		kvm_vm_get_dirty_log(vm, id, log);
		for (i = 0; i < model[id].npages; i++)
			if (log[i / 64] & (1ul << (i % 64)))
				dirty[model[id].gpn + i] = true;
	}
}

static void dirty_split(struct kvm_vm *vm, int k)
{
	struct kvm_userspace_memory_region2 e[3];
	uint32_t L = KVM_MEM_LOG_DIRTY_PAGES;

	switch (k % 3) {
	case 0:	/* split 50 into 50 + 51 */
		e[0] = entry(50, 0, 24, 0, L);
		e[1] = entry(51, 24, 40, 24, L);
		apply(vm, e, 2);
		break;
	case 1:	/* merge into 51, 50 deleted: bits move between ids */
		e[0] = entry(50, 0, 0, 0, 0);
		e[1] = entry(51, 0, 64, 0, L);
		apply(vm, e, 2);
		break;
	case 2:	/* back to 50 alone */
		e[0] = entry(51, 0, 0, 0, 0);
		e[1] = entry(50, 0, 64, 0, L);
		apply(vm, e, 2);
		break;
	}
}

static void test_dirty_carry(int iterations)
{
	struct kvm_userspace_memory_region2 e[1];
	bool dirty[WIN] = {}, want[WIN] = {};
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm = setup_vm(&vcpu, true);
	pthread_t th;
	uint64_t i;
	int k, n;

	/* Stopped vCPU: known writes between changesets. */
	e[0] = entry(50, 0, 64, 0, KVM_MEM_LOG_DIRTY_PAGES);
	apply(vm, e, 1);
	for (k = 0; k < 6; k++) {
		n = 0;
		for (i = 0; i < 64; i++)
			if ((i * 7 + k * 13) % 11 == 0)
				write_list[n++] = i, want[i] = true;
		write_n = n;
		sync_global_to_guest(vm, write_list);
		sync_global_to_guest(vm, write_n);
		set_mode(vm, MODE_WRITE);
		run_to_sync(vcpu, NULL);
		dirty_split(vm, k);
	}
	harvest(vm, dirty);
	for (i = 0; i < WIN; i++)
		TEST_ASSERT(dirty[i] == want[i], "stopped: page %lu: dirty %d, written %d",
			    i, dirty[i], want[i]);

	/* Running vCPU: it writes while the slots are split and merged. */
	atomic_store(&holes, 0);
	memset((void *)passes, 0, sizeof(passes));
	sync_global_to_guest(vm, passes);
	guest_stop = 0;
	sync_global_to_guest(vm, guest_stop);
	set_mode(vm, MODE_SPIN_DIRTY);
	pthread_create(&th, NULL, cvcpu_worker, vcpu);
	for (k = 0; k < iterations; k++)
		dirty_split(vm, k);
	guest_stop = 1;
	sync_global_to_guest(vm, guest_stop);
	pthread_join(th, NULL);
	TEST_ASSERT(!atomic_load(&holes), "running: %u MMIO exits", atomic_load(&holes));
	memset(dirty, 0, sizeof(dirty));
	harvest(vm, dirty);
	sync_global_from_guest(vm, written);
	n = 0;
	for (i = 0; i < WIN; i++) {
		TEST_ASSERT(dirty[i] == !!written[i], "running: page %lu: dirty %d, written %lu",
			    i, dirty[i], written[i]);
		n += dirty[i];
	}
	TEST_ASSERT(n > 0, "running: the guest wrote nothing");
	kvm_vm_free(vm);
	ksft_test_result_pass("dirty carry: split/merge/id change keep exactly the written pages dirty (stopped; running over %d changesets)\n",
			      iterations);
}

int main(int argc, char *argv[])
{
	int iterations = 2000, opt;

	while ((opt = getopt(argc, argv, "i:")) != -1) {
		if (opt == 'i') {
			iterations = atoi_positive("Iterations", optarg);
		} else {
			printf("usage: %s [-i changesets per concurrent test]\n", argv[0]);
			exit(KSFT_FAIL);
		}
	}
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_MEMSLOT_CHANGESET));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_DISABLE_QUIRKS2));
	page_size = getpagesize();
	host_mem = mmap(NULL, HOST_PAGES * page_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(host_mem != MAP_FAILED, "mmap");

	ksft_print_header();
	ksft_set_plan(12);
	test_functional(true);
	if (kvm_check_cap(KVM_CAP_DISABLE_QUIRKS2) & KVM_X86_QUIRK_SLOT_ZAP_ALL)
		test_functional(false);
	else
		ksft_test_result_skip("functional (quirk off): KVM_X86_QUIRK_SLOT_ZAP_ALL cannot be disabled\n");
	test_refusals();
	test_stats();
	test_unwind();
	test_no_holes(iterations);
	test_dirty_carry(iterations);
	ksft_finished();
}
