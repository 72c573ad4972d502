// SPDX-License-Identifier: GPL-2.0-only
/*
 * harvest-kbench - kernel-only dirty-log sync benchmark (runs in the box).
 *
 * What one migration dirty sync of one slot costs the kernel, against the
 * slot's size, at a fixed number of dirty pages.  A one-vCPU VM (32-bit
 * protected mode without paging, set up by ioctl) writes once to each page
 * of a list spread evenly over one data slot, then halts; the host then
 * syncs the slot's dirty log, alternately:
 *
 *   upstream  what QEMU 10 does with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2:
 *             KVM_GET_DIRTY_LOG of the whole slot, then KVM_CLEAR_DIRTY_LOG
 *             of the whole slot with the bitmap it got;
 *   harvest   the branch's KVM_HARVEST_DIRTY_LOG of the whole slot (with
 *             the per-slot dirty summary of kernel patch 0012).
 *
 * Each sync must report exactly the pages written (the run fails if not),
 * and each page is re-protected by it, so every round the guest's writes
 * fault again.  Recorded per sync: wall time of the ioctls, pages found,
 * and for the harvest the bitmap words it read (VM stat dirty_harvest_words
 * is not read here: binary stats need their own parser; the selftest checks
 * the count).
 *
 * Usage: harvest-kbench [-s MIB,...] [-d DIRTY,...] [-r ROUNDS]
 * Slot sizes in MiB (>= 4, the slot sits at 256 MiB and must end below
 * 4 GiB: at most 3584); DIRTY pages per round (1 .. 16384, at most one per
 * page of the slot).  CSV on stdout (header first), progress on stderr.
 * Exit 0 on success; 1 on a KVM error or a wrong result (message names the
 * ioctl or the page); 2 on bad arguments (message names the option).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define KBENCH_NAME "harvest-kbench"
#include "../kbench-lib.h"

#define CODE_GPA	0x0ULL
#define CODE_SIZE	(1ULL << 20)
#define CODE_START	0x1000
#define LIST_GPA	0x10000		/* u32 page addresses, up to 16384 */
#define MAX_DIRTY	16384
#define DATA_GPA	(256ULL << 20)
#define DATA_SLOT	1
#define PAGE		4096ULL
#define MAX_MIB		3584

static int kvm_fd, vm_fd, vcpu_fd;
static struct kvm_run *run;
static uint8_t *code_mem;

static void kbench_usage_line(FILE *f)
{
	fprintf(f, "usage: harvest-kbench [-s MIB,... (4..%d)] [-d DIRTY,... (1..%d)] [-r ROUNDS >= 1]\n",
		MAX_MIB, MAX_DIRTY);
}

/* A comma-separated list of integers in [lo, hi] for option @opt. */
static int parse_list(const char *arg, char opt, long lo, long hi, long *out, int max)
{
	char *copy = strdup(arg), *tok, *save = NULL, *end;
	int n = 0;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		long v;

		errno = 0;
		v = strtol(tok, &end, 10);
		if (errno || *end || end == tok || v < lo || v > hi)
			usage("-%c: '%s' is not an integer in %ld..%ld", opt, tok, lo, hi);
		if (n == max)
			usage("-%c: more than %d values", opt, max);
		out[n++] = v;
	}
	free(copy);
	if (!n)
		usage("-%c: empty list", opt);
	return n;
}

/*
 * Guest code, 32-bit: esi = list of page addresses, ecx = their number.
 *   0: 8b 3e     mov edi, [esi]
 *   2: ff 07     inc dword [edi]
 *   4: 83 c6 04  add esi, 4
 *   7: 49        dec ecx
 *   8: 75 f6     jnz 0
 *  10: f4        hlt
 */
static const uint8_t guest_code[] = {
	0x8b, 0x3e, 0xff, 0x07, 0x83, 0xc6, 0x04, 0x49, 0x75, 0xf6, 0xf4,
};

static void setup_vcpu(void)
{
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 8, .type = 11,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_segment data = code;
	struct kvm_sregs sregs;
	long mmap_size;

	data.selector = 16;
	data.type = 3;
	vcpu_fd = ioctl(vm_fd, KVM_CREATE_VCPU, 0);
	if (vcpu_fd < 0)
		die("KVM_CREATE_VCPU");
	mmap_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size <= 0)
		die("KVM_GET_VCPU_MMAP_SIZE");
	run = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
	if (run == MAP_FAILED)
		die("mmap of kvm_run");
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs))
		die("KVM_GET_SREGS");
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.ss = sregs.fs = sregs.gs = data;
	sregs.cr0 = 0x11;	/* PE | ET, no paging */
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs))
		die("KVM_SET_SREGS");
}

/* Run the guest over the first @n addresses of the list, to its HLT. */
static void guest_write(unsigned int n)
{
	struct kvm_regs regs = { .rflags = 2, .rip = CODE_START, .rsi = LIST_GPA, .rcx = n };

	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs))
		die("KVM_SET_REGS");
	for (;;) {
		if (ioctl(vcpu_fd, KVM_RUN, 0) && errno != EINTR)
			die("KVM_RUN");
		if (run->exit_reason == KVM_EXIT_HLT)
			return;
		if (run->exit_reason == KVM_EXIT_INTR)
			continue;
		errno = 0;
		die("guest exit %u (not HLT) while writing %u pages", run->exit_reason, n);
	}
}

static void set_region(uint32_t slot, uint64_t gpa, uint64_t size, void *hva, uint32_t flags)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = slot, .flags = flags, .guest_phys_addr = gpa,
		.memory_size = size, .userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION2, &r))
		die("KVM_SET_USER_MEMORY_REGION2 slot %u size 0x%llx", slot, (unsigned long long)size);
}

static uint64_t popcount_bitmap(const uint64_t *b, uint64_t words)
{
	uint64_t i, n = 0;

	for (i = 0; i < words; i++)
		n += __builtin_popcountll(b[i]);
	return n;
}

/* Every page of the list, and nothing else, is set in @b. */
static void check_exact(const uint64_t *b, uint64_t words, const uint32_t *list,
			unsigned int n, const char *variant)
{
	uint64_t got = popcount_bitmap(b, words);
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint64_t p = (list[i] - DATA_GPA) / PAGE;

		if (!(b[p / 64] >> (p % 64) & 1)) {
			errno = 0;
			die("%s: page %llu written but not reported", variant, (unsigned long long)p);
		}
	}
	if (got != n) {
		errno = 0;
		die("%s: %llu pages reported, %u written", variant, (unsigned long long)got, n);
	}
}

int main(int argc, char **argv)
{
	long sizes[16] = { 256, 1024, 3072 }, dirty[16] = { 16, 1024 }, rounds = 20;
	int nsizes = 3, ndirty = 2, opt, si, di;
	struct kvm_enable_cap cap = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
				      .args = { KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE } };

	while ((opt = getopt(argc, argv, "s:d:r:")) != -1) {
		switch (opt) {
		case 's': nsizes = parse_list(optarg, 's', 4, MAX_MIB, sizes, 16); break;
		case 'd': ndirty = parse_list(optarg, 'd', 1, MAX_DIRTY, dirty, 16); break;
		case 'r': {
			long r[1];

			parse_list(optarg, 'r', 1, 100000, r, 1);
			rounds = r[0];
			break;
		}
		default: usage("unknown option");
		}
	}
	for (si = 0; si < nsizes; si++)
		for (di = 0; di < ndirty; di++)
			if ((uint64_t)dirty[di] > ((uint64_t)sizes[si] << 20) / PAGE)
				usage("-d: %ld dirty pages do not fit a %ld MiB slot (-s)",
				      dirty[di], sizes[si]);
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0)
		die("open /dev/kvm");
	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_HARVEST) <= 0) {
		errno = ENOTSUP;
		die("KVM_CAP_DIRTY_LOG_HARVEST: this kernel has no KVM_HARVEST_DIRTY_LOG");
	}
	printf("variant,slot_mib,dirty_pages,round,us,pages_found\n");
	for (si = 0; si < nsizes; si++) {
		uint64_t size = (uint64_t)sizes[si] << 20, pages = size / PAGE;
		uint64_t words = (pages + 63) / 64;
		uint64_t *bitmap = calloc(words, 8);
		uint8_t *data;

		vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
		if (vm_fd < 0)
			die("KVM_CREATE_VM");
		if (ioctl(vm_fd, KVM_ENABLE_CAP, &cap))
			die("KVM_ENABLE_CAP KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2");
		code_mem = mmap(NULL, CODE_SIZE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		data = mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (code_mem == MAP_FAILED || data == MAP_FAILED || !bitmap)
			die("allocating a %ld MiB slot", sizes[si]);
		memcpy(code_mem + CODE_START, guest_code, sizeof(guest_code));
		set_region(0, CODE_GPA, CODE_SIZE, code_mem, 0);
		set_region(DATA_SLOT, DATA_GPA, size, data, KVM_MEM_LOG_DIRTY_PAGES);
		setup_vcpu();
		for (di = 0; di < ndirty; di++) {
			uint32_t *list = (uint32_t *)(code_mem + LIST_GPA);
			unsigned int n = (unsigned int)dirty[di], i;
			uint64_t stride = pages / n;
			long r;

			for (i = 0; i < n; i++)
				list[i] = DATA_GPA + (i * stride + (i * 7) % stride) * PAGE;
			fprintf(stderr, "harvest-kbench: %ld MiB slot, %u dirty pages, %ld rounds per variant\n",
				sizes[si], n, rounds);
			/* One warm-up round of each, then alternate: same conditions. */
			for (r = -1; r < rounds; r++) {
				for (int v = 0; v < 2; v++) {
					const char *variant = v ? "harvest" : "upstream";
					double t0, t1;

					guest_write(n);
					memset(bitmap, 0, words * 8);
					t0 = now_us();
					if (v) {
						struct kvm_dirty_log_harvest h = {
							.slot = DATA_SLOT, .first_page = 0,
							.num_pages = pages, .dirty_bitmap = (uintptr_t)bitmap,
						};

						if (ioctl(vm_fd, KVM_HARVEST_DIRTY_LOG, &h))
							die("KVM_HARVEST_DIRTY_LOG");
					} else {
						struct kvm_dirty_log g = { .slot = DATA_SLOT, .dirty_bitmap = bitmap };
						struct kvm_clear_dirty_log c = {
							.slot = DATA_SLOT, .first_page = 0,
							.num_pages = pages, .dirty_bitmap = bitmap,
						};

						if (ioctl(vm_fd, KVM_GET_DIRTY_LOG, &g))
							die("KVM_GET_DIRTY_LOG");
						if (ioctl(vm_fd, KVM_CLEAR_DIRTY_LOG, &c))
							die("KVM_CLEAR_DIRTY_LOG");
					}
					t1 = now_us();
					check_exact(bitmap, words, list, n, variant);
					if (r >= 0)
						printf("%s,%ld,%u,%ld,%.1f,%u\n", variant, sizes[si], n, r,
						       t1 - t0, n);
				}
			}
		}
		close(vcpu_fd);
		close(vm_fd);
		munmap(run, ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0));
		munmap(data, size);
		munmap(code_mem, CODE_SIZE);
		free(bitmap);
		fflush(stdout);
	}
	return 0;
}
