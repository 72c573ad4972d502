// SPDX-License-Identifier: GPL-2.0-only
/*
 * dirty_harvest_test: KVM_HARVEST_DIRTY_LOG fetches and clears the dirty
 * log of a slot or of a page range of it, and KVM_MEM_DIRTY_LOG_BITMAP
 * gives a slot a bitmap beside the VM's dirty ring.
 *
 *  basic        the guest writes pages at the edges of bitmap words and
 *               at the slot's end (the slot is not a multiple of 64
 *               pages): a ranged harvest returns exactly the range's
 *               pages, the whole-slot harvest exactly the rest, a third
 *               nothing; pages written again after a harvest are reported
 *               again (the harvest re-protected them); the VM stats count
 *               harvests, pages and TLB flushes exactly, and a clean
 *               harvest flushes nothing.
 *  refusals     flags, padding, address space, slot id, missing slot, a
 *               slot that does not log, alignment, zero and out-of-slot
 *               ranges, an unwritable bitmap and an unwritable argument:
 *               each its own errno, and the dirty pages are all still
 *               reported afterwards (an unwritable bitmap gives the pages
 *               back); KVM_MEM_DIRTY_LOG_BITMAP without logging, or
 *               switched on or off while a slot logs, is refused and
 *               changes nothing.
 *  concurrent   vCPUs keep writing unique values to random pages while
 *               the host harvests random page ranges and the whole slot;
 *               at the end of each epoch the vCPUs stop and the slot is
 *               harvested to the end (in random chunks or whole): the union
 *               of everything reported in the epoch is exactly the set of
 *               pages whose contents changed, so no page was lost (a bit
 *               cleared outside its range, a page left writable) and none
 *               invented.  With the dirty ring on for the VM and the slot
 *               logging into its bitmap, the guest also writes a second,
 *               ring-logged slot: the rings hold that slot's pages and
 *               never the bitmap slot's, and the bitmap check holds.
 *  summary      a 1 GiB slot (plus a tail that is not a multiple of 64
 *               pages) with pages written at the edges of bitmap words and
 *               of summary words: a whole-slot harvest reads exactly the
 *               dirty words (stat dirty_harvest_words), a clean one reads
 *               none, and a ranged harvest that shares summary words with
 *               dirty words outside it leaves those for the next harvest.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/bitops.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "ucall_common.h"

#ifndef KVM_CAP_DIRTY_LOG_HARVEST
#error "this test needs the kvmfork uAPI headers (KVM_CAP_DIRTY_LOG_HARVEST)"
#endif

#define TEST_SLOT	10
#define TEST_GPA	0x40000000ull
#define NPAGES		1000		/* not a multiple of 64, on purpose */
#define RING_SLOT	11
#define RING_GPA	0x50000000ull
#define RING_PAGES	64
#define RING_ENTRIES	1024
#define NR_VCPUS	2
#define WORDS		((NPAGES + 63) / 64)

#define BIG_SLOT	12
#define BIG_GPA		0x100000000ull
#define BIG_PAGES	(262144 + 37)	/* 1 GiB and a tail */

enum { G_LIST, G_SPIN, G_ABS };

/* Guest-visible controls; the host writes them through their HVAs. */
static volatile uint64_t guest_mode;
static volatile uint64_t guest_stop;
static volatile uint64_t guest_ring;	/* also write the ring slot */
static uint64_t write_list[64];
static volatile uint64_t write_n;
static volatile uint64_t writes[NR_VCPUS];	/* per vCPU, for the report */

static void guest_code(uint64_t id)
{
	uint64_t round = 0, x = id * 7919 + 1, i, pg;

	for (;;) {
		if (guest_mode == G_ABS) {	/* write_list holds GPAs */
			for (i = 0; i < write_n; i++)
				*(volatile uint64_t *)write_list[i] = (++round << 8) | id;
			GUEST_SYNC(0);
			continue;
		}
		if (guest_mode == G_LIST) {
			for (i = 0; i < write_n; i++)
				*(volatile uint64_t *)(TEST_GPA + write_list[i] * 4096 +
						       8 * id) = (++round << 8) | id;
			GUEST_SYNC(0);
			continue;
		}
		while (!guest_stop) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			pg = (x >> 33) % NPAGES;
			*(volatile uint64_t *)(TEST_GPA + pg * 4096 + 8 * id) =
				(++round << 8) | id;
			writes[id]++;
			if (guest_ring)
				*(volatile uint64_t *)(RING_GPA + (pg % RING_PAGES) * 4096 +
						       8 * id) = round;
		}
		GUEST_SYNC(1);
	}
}

static struct kvm_vm *vm;
static struct kvm_vcpu *vcpus[NR_VCPUS];
static int nr_vcpus;
static uint8_t *test_hva;
static volatile uint64_t *hva_mode, *hva_stop, *hva_ring, *hva_write_n;
static uint64_t *hva_write_list;

#define GUEST_VAR(v) ((void *)addr_gva2hva(vm, (vm_vaddr_t)&(v)))

static void create_vm(int n, bool ring, uint32_t test_flags)
{
	int i;

	nr_vcpus = n;
	vm = vm_create(n);
	if (ring)
		vm_enable_dirty_ring(vm, RING_ENTRIES * sizeof(struct kvm_dirty_gfn));
	for (i = 0; i < n; i++) {
		vcpus[i] = vm_vcpu_add(vm, i, guest_code);
		vcpu_args_set(vcpus[i], 1, i);
	}
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, TEST_GPA, TEST_SLOT,
				    NPAGES, test_flags);
	virt_map(vm, TEST_GPA, TEST_GPA, NPAGES);
	test_hva = addr_gpa2hva(vm, TEST_GPA);
	if (ring) {
		vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, RING_GPA, RING_SLOT,
					    RING_PAGES, KVM_MEM_LOG_DIRTY_PAGES);
		virt_map(vm, RING_GPA, RING_GPA, RING_PAGES);
		for (i = 0; i < n; i++)
			vcpu_map_dirty_ring(vcpus[i]);
	}
	hva_mode = GUEST_VAR(guest_mode);
	hva_stop = GUEST_VAR(guest_stop);
	hva_ring = GUEST_VAR(guest_ring);
	hva_write_n = GUEST_VAR(write_n);
	hva_write_list = GUEST_VAR(write_list);
	*hva_ring = ring;
}

static int harvest(uint32_t slot, uint64_t first, uint64_t num, uint64_t *bitmap,
		   uint64_t *nr_dirty)
{
	struct kvm_dirty_log_harvest h = {
		.slot = slot, .first_page = first, .num_pages = num,
		.dirty_bitmap = (uint64_t)bitmap,
	};
	int r = __vm_ioctl(vm, KVM_HARVEST_DIRTY_LOG, &h);

	if (r)
		return errno;
	if (nr_dirty)
		*nr_dirty = h.nr_dirty;
	return 0;
}

/* Harvest @num pages from @first and OR them into @all (slot-relative). */
/* Bit @i of a KVM dirty bitmap (unsigned longs, x86-64: 64 bits each) */
#define test_bit64(b, i) test_bit((i), (const unsigned long *)(b))

static int cur_harvest;			/* index in the epoch, for messages */
static int first_report[NPAGES];	/* harvest that first reported it */

static uint64_t harvest_into(uint64_t first, uint64_t num, uint64_t *all)
{
	uint64_t buf[WORDS], nr = 0, count = 0, i;
	int r;

	memset(buf, 0xa5, sizeof(buf));	/* every word must be written */
	r = harvest(TEST_SLOT, first, num, buf, &nr);
	TEST_ASSERT(!r, "harvest of pages %lu+%lu: %s", first, num, strerror(r));
	for (i = 0; i < (num + 63) / 64; i++) {
		uint64_t w = buf[i];

		if (i == (num - 1) / 64 && num % 64)
			TEST_ASSERT(!(w >> (num % 64)), "bits past the range: %lx", w);
		for (uint64_t b = 0; b < 64; b++)
			if (w >> b & 1 && !test_bit64(all, first + i * 64 + b))
				first_report[first + i * 64 + b] = cur_harvest;
		all[first / 64 + i] |= w;
		count += __builtin_popcountll(w);
	}
	TEST_ASSERT(nr == count, "nr_dirty %lu, bitmap has %lu", nr, count);
	return count;
}

/* Run @vcpu until its next GUEST_SYNC; anything else fails the test. */
static void run_to_sync(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	vcpu_run(vcpu);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
	default:
		TEST_FAIL("vCPU %u: unexpected exit %s", vcpu->id,
			  exit_reason_str(vcpu->run->exit_reason));
	}
}

static void run_list(struct kvm_vcpu *vcpu, const uint64_t *pages, int n)
{
	int i;

	*hva_mode = G_LIST;
	for (i = 0; i < n; i++)
		hva_write_list[i] = pages[i];
	*hva_write_n = n;
	run_to_sync(vcpu);
}

static const char *const h_stats[] = {
	"dirty_harvests", "dirty_harvest_pages", "dirty_harvest_tlb_flushes",
};

static void read_stats(uint64_t *v)
{
	int i;

	for (i = 0; i < 3; i++) {
		v[i] = UINT64_MAX;
		__vm_get_stat(vm, h_stats[i], &v[i], 1);
		TEST_ASSERT(v[i] != UINT64_MAX, "no VM stat %s", h_stats[i]);
	}
}

static void expect_stats(const uint64_t *before, uint64_t harvests, uint64_t pages,
			 uint64_t flushes, const char *what)
{
	uint64_t now[3], want[3] = { harvests, pages, flushes };
	int i;

	read_stats(now);
	for (i = 0; i < 3; i++)
		TEST_ASSERT(now[i] - before[i] == want[i], "%s: %s grew by %lu, want %lu",
			    what, h_stats[i], now[i] - before[i], want[i]);
}

static void expect_exactly(const uint64_t *got, const uint64_t *pages, int n,
			   uint64_t first, uint64_t num, const char *what)
{
	uint64_t p;
	int i;

	for (p = first; p < first + num; p++) {
		bool want = false;

		for (i = 0; i < n; i++)
			want |= pages[i] == p;
		TEST_ASSERT(test_bit64(got, p) == want, "%s: page %lu %s", what, p,
			    want ? "written but not reported" : "reported but not written");
	}
}

static void test_basic(void)
{
	static const uint64_t pages[] = { 0, 63, 64, 100, 127, 128, 191, 192, 500, 959, 960, 999 };
	const int n = ARRAY_SIZE(pages);
	uint64_t got[WORDS], before[3], c;

	create_vm(1, false, KVM_MEM_LOG_DIRTY_PAGES);
	run_list(vcpus[0], pages, n);

	read_stats(before);
	memset(got, 0, sizeof(got));
	c = harvest_into(64, 128, got);		/* pages 64..191 */
	TEST_ASSERT(c == 5, "range 64+128: %lu pages, want 5", c);
	expect_exactly(got, pages, n, 64, 128, "range 64+128");
	expect_stats(before, 1, 5, 1, "one ranged harvest");

	memset(got, 0, sizeof(got));
	c = harvest_into(0, NPAGES, got);
	TEST_ASSERT(c == n - 5, "whole slot after the range: %lu pages, want %d", c, n - 5);
	for (int i = 0; i < n; i++)
		TEST_ASSERT(test_bit64(got, pages[i]) == (pages[i] < 64 || pages[i] >= 192),
			    "whole slot after the range: page %lu", pages[i]);

	read_stats(before);
	memset(got, 0, sizeof(got));
	c = harvest_into(0, NPAGES, got);
	TEST_ASSERT(c == 0, "clean slot: %lu pages reported", c);
	expect_stats(before, 1, 0, 0, "a clean harvest");

	/* The tail range, not a multiple of 64 pages, ends at the slot's end. */
	run_list(vcpus[0], pages, n);
	memset(got, 0, sizeof(got));
	c = harvest_into(960, NPAGES - 960, got);
	TEST_ASSERT(c == 2, "tail range 960+40: %lu pages, want 2", c);
	expect_exactly(got, pages, n, 960, NPAGES - 960, "tail range");
	memset(got, 0, sizeof(got));
	c = harvest_into(0, 960, got);
	expect_exactly(got, pages, n, 0, 960, "pages written again after a harvest");

	kvm_vm_free(vm);
	ksft_test_result_pass("basic: ranged, whole-slot, tail and clean harvests exact; re-protected; stats exact\n");
}

static uint64_t stat_words(void)
{
	uint64_t v = UINT64_MAX;

	__vm_get_stat(vm, "dirty_harvest_words", &v, 1);
	TEST_ASSERT(v != UINT64_MAX, "no VM stat dirty_harvest_words");
	return v;
}

/* Harvest @num pages of the big slot from @first; exactly @pages, @words read. */
static void big_harvest(uint64_t first, uint64_t num, const uint64_t *pages, int n,
			uint64_t want_words, const char *what)
{
	static uint64_t buf[(BIG_PAGES + 63) / 64];
	uint64_t w0 = stat_words(), nr = 0, p, count = 0;
	int r, i;

	memset(buf, 0xa5, sizeof(buf));		/* every word must be written */
	r = harvest(BIG_SLOT, first, num, buf, &nr);
	TEST_ASSERT(!r, "%s: harvest of pages %lu+%lu: %s", what, first, num, strerror(r));
	for (i = 0; i < n; i++) {
		bool in = pages[i] >= first && pages[i] < first + num;

		TEST_ASSERT(!in || test_bit64(buf, pages[i] - first),
			    "%s: page %lu written but not reported", what, pages[i]);
		count += in;
	}
	for (p = 0; p < num; p++) {
		bool want = false;

		if (!test_bit64(buf, p))
			continue;
		for (i = 0; i < n; i++)
			want |= pages[i] == first + p;
		TEST_ASSERT(want, "%s: page %lu reported but not written", what, first + p);
	}
	TEST_ASSERT(nr == count, "%s: nr_dirty %lu, want %lu", what, nr, count);
	TEST_ASSERT(stat_words() - w0 == want_words,
		    "%s: read %lu bitmap words, want %lu (the dirty words)", what,
		    stat_words() - w0, want_words);
}

static void test_summary(void)
{
	/* Words 0, 1, 63, 64 (summary word 0's last, summary word 1's first), 1562, the last. */
	const uint64_t pages[] = { 0, 63, 64, 4095, 4096, 4097, 100000, BIG_PAGES - 1 };
	const uint64_t in_range[] = { 64, 4095, 4096, 4097 };
	const uint64_t rest[] = { 0, 63, 100000, BIG_PAGES - 1 };
	const int n = ARRAY_SIZE(pages);
	int i;

	create_vm(1, false, KVM_MEM_LOG_DIRTY_PAGES);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, BIG_GPA, BIG_SLOT,
				    BIG_PAGES, KVM_MEM_LOG_DIRTY_PAGES);
	*hva_mode = G_ABS;
	for (i = 0; i < n; i++) {
		virt_pg_map(vm, BIG_GPA + pages[i] * 4096, BIG_GPA + pages[i] * 4096);
		hva_write_list[i] = BIG_GPA + pages[i] * 4096;
	}
	*hva_write_n = n;

	run_to_sync(vcpus[0]);
	big_harvest(0, BIG_PAGES, pages, n, 6, "whole slot");
	big_harvest(0, BIG_PAGES, pages, 0, 0, "clean slot");

	/*
	 * Pages 64..4159 share summary word 0 with words 0 (pages 0, 63) and
	 * summary word 1 with word 1562 (page 100000): the ranged harvest
	 * must take only its own words' summary bits.
	 */
	run_to_sync(vcpus[0]);
	big_harvest(64, 4096, in_range, ARRAY_SIZE(in_range), 3, "range 64+4096");
	big_harvest(0, BIG_PAGES, rest, ARRAY_SIZE(rest), 3, "whole slot after the range");

	/* The tail range; and pages written after a harvest come back. */
	run_to_sync(vcpus[0]);
	big_harvest(BIG_PAGES - 37, 37, pages, n, 1, "tail range");
	big_harvest(0, BIG_PAGES - 37, pages, n, 5, "re-protected pages, again");

	kvm_vm_free(vm);
	ksft_test_result_pass("summary: 1 GiB slot, a harvest reads exactly the dirty words; ranged harvests keep the others' summary bits\n");
}

static void refused(struct kvm_dirty_log_harvest *h, int want, const char *what)
{
	int r = __vm_ioctl(vm, KVM_HARVEST_DIRTY_LOG, h);

	TEST_ASSERT(r && errno == want, "%s: got %s, want %s", what,
		    r ? strerror(errno) : "success", strerror(want));
}

static struct kvm_dirty_log_harvest base(void *bitmap)
{
	return (struct kvm_dirty_log_harvest){
		.slot = TEST_SLOT, .first_page = 0, .num_pages = NPAGES,
		.dirty_bitmap = (uint64_t)bitmap,
	};
}

static void test_refusals(void)
{
	static const uint64_t pages[] = { 3, 70, 999 };
	struct kvm_userspace_memory_region2 region;
	struct kvm_dirty_log_harvest h, *ro;
	uint64_t buf[WORDS], got[WORDS], before[3];
	void *none;
	int r;

	create_vm(1, false, KVM_MEM_LOG_DIRTY_PAGES);
	run_list(vcpus[0], pages, ARRAY_SIZE(pages));
	read_stats(before);

	h = base(buf); h.flags = 1;		refused(&h, EINVAL, "flags");
	h = base(buf); h.pad[2] = 1;		refused(&h, EINVAL, "padding");
	h = base(buf); h.slot = 2 << 16 | TEST_SLOT; refused(&h, EINVAL, "address space 2");
	h = base(buf); h.slot = 0x7fff;		refused(&h, EINVAL, "slot id past the last");
	h = base(buf); h.slot = 50;		refused(&h, ENOENT, "no slot 50");
	h = base(buf); h.slot = 0;		refused(&h, ENXIO, "slot 0 does not log");
	h = base(buf); h.first_page = 1; h.num_pages = 64;
	refused(&h, EINVAL, "first page not a multiple of 64");
	h = base(buf); h.num_pages = 0;		refused(&h, EINVAL, "no pages");
	h = base(buf); h.num_pages = 65;	refused(&h, EINVAL, "65 pages, not at the slot's end");
	h = base(buf); h.num_pages = NPAGES + 64; refused(&h, ERANGE, "past the slot's end");
	h = base(buf); h.first_page = 1024; h.num_pages = 64;
	refused(&h, ERANGE, "first page past the slot");
	h = base(buf); h.first_page = 64; h.num_pages = UINT64_MAX - 63;
	refused(&h, ERANGE, "range that wraps");

	/* An unwritable bitmap: the pages are taken, then given back. */
	none = mmap(NULL, getpagesize(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(none != MAP_FAILED, "mmap");
	h = base(none);				refused(&h, EFAULT, "unwritable bitmap");
	/* An unwritable argument: refused before anything is taken. */
	ro = mmap(NULL, getpagesize(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(ro != MAP_FAILED, "mmap");
	*ro = base(buf);
	mprotect(ro, getpagesize(), PROT_READ);
	refused(ro, EFAULT, "unwritable argument");
	refused((void *)none, EFAULT, "unreadable argument");

	/* The slot flag. */
	r = __vm_set_user_memory_region2(vm, 12, KVM_MEM_DIRTY_LOG_BITMAP, 0x60000000ull,
					 64 * 4096, test_hva, 0, 0);
	TEST_ASSERT(r && errno == EINVAL, "KVM_MEM_DIRTY_LOG_BITMAP without logging: %s",
		    r ? strerror(errno) : "accepted");
	region = memslot2region(vm, TEST_SLOT)->region;
	region.flags |= KVM_MEM_DIRTY_LOG_BITMAP;
	r = __vm_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &region);
	TEST_ASSERT(r && errno == EINVAL, "KVM_MEM_DIRTY_LOG_BITMAP switched on while logging: %s",
		    r ? strerror(errno) : "accepted");

	expect_stats(before, 0, 0, 0, "the refused calls");
	memset(got, 0, sizeof(got));
	harvest_into(0, NPAGES, got);
	expect_exactly(got, pages, ARRAY_SIZE(pages), 0, NPAGES, "after the refusals");

	munmap(none, getpagesize());
	munmap(ro, getpagesize());
	kvm_vm_free(vm);
	ksft_test_result_pass("refusals: 15 kinds of bad argument, each its errno, no stat counted, no page lost; slot flag refusals\n");
}

/* --- concurrent writers */

static sem_t sem_stopped, sem_go[NR_VCPUS];
static atomic_bool quit;

static void *vcpu_thread(void *arg)
{
	struct kvm_vcpu *vcpu = arg;

	for (;;) {
		sem_wait(&sem_go[vcpu->id]);
		if (atomic_load(&quit))
			return NULL;
		run_to_sync(vcpu);
		sem_post(&sem_stopped);
	}
}

/* Reap every vCPU's ring: entries of the bitmap slot are a failure. */
static uint64_t reap_rings(void)
{
	uint64_t count = 0;
	int i;

	for (i = 0; i < nr_vcpus; i++) {
		struct kvm_dirty_gfn *gfns = vcpu_map_dirty_ring(vcpus[i]);
		static uint32_t fetch[NR_VCPUS];

		for (;;) {
			struct kvm_dirty_gfn *e = &gfns[fetch[i] % RING_ENTRIES];

			if (__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) != KVM_DIRTY_GFN_F_DIRTY)
				break;
			TEST_ASSERT(e->slot == RING_SLOT,
				    "vCPU %d's ring has an entry of slot %u (offset %llu): only slot %d logs into the ring",
				    i, e->slot, e->offset, RING_SLOT);
			TEST_ASSERT(e->offset < RING_PAGES, "ring entry offset %llu", e->offset);
			__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
			fetch[i]++;
			count++;
		}
	}
	kvm_vm_reset_dirty_ring(vm);
	return count;
}

static void test_concurrent(bool ring, int epochs)
{
	static uint64_t snap[NPAGES][NR_VCPUS];
	uint64_t all[WORDS], harvests = 0, reported = 0, changed_total = 0, ring_total = 0;
	pthread_t threads[NR_VCPUS];
	unsigned int seed = 12345;
	int e, i, k;
	uint64_t p;

	create_vm(NR_VCPUS, ring,
		  KVM_MEM_LOG_DIRTY_PAGES | (ring ? KVM_MEM_DIRTY_LOG_BITMAP : 0));
	if (ring) {
		/* The ring VM has no bitmap for the ring slot, as upstream. */
		uint64_t b[1];
		int r = harvest(RING_SLOT, 0, RING_PAGES, b, NULL);

		TEST_ASSERT(r == ENXIO, "harvest of the ring-logged slot: %s, want ENXIO",
			    r ? strerror(r) : "success");
	}
	*hva_mode = G_SPIN;
	sem_init(&sem_stopped, 0, 0);
	for (i = 0; i < nr_vcpus; i++) {
		sem_init(&sem_go[i], 0, 0);
		pthread_create(&threads[i], NULL, vcpu_thread, vcpus[i]);
	}
	memset(snap, 0, sizeof(snap));

	for (e = 0; e < epochs; e++) {
		uint64_t changed = 0;

		memset(all, 0, sizeof(all));
		cur_harvest = 0;
		*hva_stop = 0;
		for (i = 0; i < nr_vcpus; i++)
			sem_post(&sem_go[i]);
		for (k = 0; k < 16; k++) {
			uint64_t first = (rand_r(&seed) % WORDS) * 64, num;

			if (k % 4 == 3) {
				first = 0;
				num = NPAGES;
			} else {
				num = (1 + rand_r(&seed) % 4) * 64;
				if (first + num > NPAGES)
					num = NPAGES - first;
			}
			reported += harvest_into(first, num, all);
			harvests++;
			cur_harvest++;
			usleep(rand_r(&seed) % 2000);
		}
		*hva_stop = 1;
		for (i = 0; i < nr_vcpus; i++)
			sem_wait(&sem_stopped);

		/* Everything left, whole or in random chunks: harvest 100+. */
		cur_harvest = 100;
		if (e % 2) {
			reported += harvest_into(0, NPAGES, all);
		} else {
			for (p = 0; p < NPAGES; ) {
				uint64_t num = (1 + rand_r(&seed) % 5) * 64;

				if (p + num > NPAGES)
					num = NPAGES - p;
				reported += harvest_into(p, num, all);
				p += num;
			}
		}

		for (p = 0; p < NPAGES; p++) {
			uint64_t *now = (uint64_t *)(test_hva + p * getpagesize());
			bool diff = memcmp(now, snap[p], sizeof(snap[p])) != 0;

			TEST_ASSERT(diff == test_bit64(all, p),
				    "epoch %d: page %lu %s (harvest %d of the epoch; now %lx %lx, at the epoch's start %lx %lx; %lu of %d pages changed so far)",
				    e, p, diff ?
				    "was written but never reported: lost" :
				    "was reported but not written: invented",
				    first_report[p], now[0], now[1], snap[p][0], snap[p][1], changed, NPAGES);
			memcpy(snap[p], now, sizeof(snap[p]));
			changed += diff;
		}
		TEST_ASSERT(changed, "epoch %d: the vCPUs wrote nothing", e);
		changed_total += changed;
		if (ring)
			ring_total += reap_rings();
	}
	if (ring)
		TEST_ASSERT(ring_total, "the ring-logged slot's writes never reached a ring");

	atomic_store(&quit, true);
	for (i = 0; i < nr_vcpus; i++) {
		sem_post(&sem_go[i]);
		pthread_join(threads[i], NULL);
	}
	atomic_store(&quit, false);
	{
		volatile uint64_t *w = GUEST_VAR(writes);

		for (i = 0; i < nr_vcpus; i++)
			TEST_ASSERT(w[i], "vCPU %d wrote nothing: no concurrency", i);
		ksft_print_msg("guest writes per vCPU: %lu %lu\n", w[0], w[1]);
	}
	kvm_vm_free(vm);
	ksft_test_result_pass("concurrent%s: %d epochs, %lu harvests, %lu pages changed = reported exactly%s\n",
			      ring ? " with the dirty ring" : "", epochs, harvests, changed_total,
			      ring ? ", ring entries only of the ring slot" : "");
	if (ring)
		ksft_print_msg("ring entries reaped: %lu\n", ring_total);
	(void)reported;
}

int main(int argc, char *argv[])
{
	int epochs = 40, opt;

	while ((opt = getopt(argc, argv, "e:")) != -1) {
		if (opt == 'e') {
			epochs = atoi_positive("Epochs", optarg);
		} else {
			printf("usage: %s [-e epochs of the concurrent tests]\n", argv[0]);
			exit(KSFT_FAIL);
		}
	}
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_DIRTY_LOG_HARVEST));

	ksft_print_header();
	ksft_set_plan(5);
	test_basic();
	test_summary();
	test_refusals();
	test_concurrent(false, epochs);
	if (kvm_has_cap(KVM_CAP_DIRTY_LOG_RING_ACQ_REL) || kvm_has_cap(KVM_CAP_DIRTY_LOG_RING))
		test_concurrent(true, epochs);
	else
		ksft_test_result_skip("concurrent with the dirty ring: KVM has no dirty ring\n");
	ksft_finished();
}
