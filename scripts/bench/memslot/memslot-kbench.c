// SPDX-License-Identifier: GPL-2.0-only
/*
 * memslot-kbench - kernel-only memslot update benchmark (runs in the box).
 *
 * A VM whose vCPUs keep writing to every page of one data slot, while the
 * main thread changes the memory topology the way QEMU does today: one
 * KVM_SET_USER_MEMORY_REGION2 call at a time.  Two transactions alternate:
 *
 *   split:  delete slot 1 (the whole data region), create slot 1 (first
 *           half) and slot 2 (second half) at the same GPA->HVA;
 *   merge:  delete slot 1 and slot 2, create slot 1 (the whole region).
 *
 * With -m changeset (the kvmfork path) each transaction is instead one
 * KVM_SET_MEMSLOT_CHANGESET call of two entries (split: slot 1 shrunk,
 * slot 2 created; merge: slot 2 deleted, slot 1 grown), which must leave
 * no hole at all.
 *
 * For each transaction it records the wall time from the first ioctl's
 * start to the last one's end, the slowest single ioctl, how many times a
 * running vCPU found no slot where there was RAM (an MMIO exit inside the
 * data region: the "hole" that makes upstream QEMU pause every vCPU), and
 * the VM's remote TLB flushes and vCPU exits (KVM's debugfs counters).
 * Between transactions it waits until every running vCPU has written the
 * whole region again, so each change zaps a fully populated mapping.
 *
 * The guest is 32-bit protected mode without paging, set up by ioctl; each
 * vCPU owns an interleaved set of the region's pages.
 *
 * Usage: memslot-kbench [-m single|changeset] [-v VCPUS] [-k TRANSACTIONS]
 *                       [-s MIB] [-w WARMUP] [-l LABEL] [-q]
 * -q turns the zap-all quirk off (KVM_X86_QUIRK_SLOT_ZAP_ALL): a deleted
 * slot zaps only its own range.
 * The label (the CSV's variant column) defaults to "legacy" for single
 * ioctls and "changeset" for the changeset.
 * Prints one CSV row per transaction on stdout (header first), progress on
 * stderr.  Exit 0 on success; 1 on a KVM error (message names the ioctl);
 * 2 on bad arguments (message names the option).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
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

#define KBENCH_NAME "memslot-kbench"
#include "../kbench-lib.h"

#define MAX_VCPUS	64
#define CODE_GPA	0x0ULL
#define CODE_SIZE	(1ULL << 20)
#define CODE_START	0x1000
#define COUNTER_BASE	0x8000		/* one u32 pass counter per vCPU */
#define DATA_GPA	(256ULL << 20)
#define PAGE		4096ULL
#define PROGRESS_TIMEOUT_S	600	/* a vCPU that makes no progress: hung */

static int kvm_fd, vm_fd;
static int nr_vcpus = 1;
static unsigned long long data_size = 64ULL << 20;
static int transactions = 20, warmup = 2;
static const char *label;
static bool use_changeset;
static bool no_zap_all;		/* -q: KVM_X86_QUIRK_SLOT_ZAP_ALL off */
static uint8_t *code_mem, *data_mem;
static volatile int stop_vcpus;
static volatile unsigned long holes;	/* MMIO exits inside the data region */

struct vcpu {
	int fd, id;
	struct kvm_run *run;
	pthread_t thread;
};
static struct vcpu vcpus[MAX_VCPUS];

static void kbench_usage_line(FILE *f)
{
	fprintf(f, "usage: memslot-kbench [-v VCPUS 0..%d] [-k TRANSACTIONS >= 1] "
		"[-s MIB >= 2, even] [-w WARMUP >= 0] [-l LABEL] [-q: zap-all quirk off]\n", MAX_VCPUS);
}

static struct kvm_userspace_memory_region2 region(uint32_t slot, uint64_t gpa,
						  uint64_t size, void *hva)
{
	return (struct kvm_userspace_memory_region2) {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};
}

#ifdef KVM_CAP_MEMSLOT_CHANGESET
static void changeset(struct kvm_userspace_memory_region2 *e, uint32_t n)
{
	struct kvm_memslot_changeset cs = { .nent = n, .entries = (uintptr_t)e };

	if (ioctl(vm_fd, KVM_SET_MEMSLOT_CHANGESET, &cs))
		die("KVM_SET_MEMSLOT_CHANGESET of %u entries (error_index %u)", n, cs.error_index);
}
#else
static void changeset(struct kvm_userspace_memory_region2 *e, uint32_t n)
{
	(void)e;
	errno = ENOTSUP;
	die("KVM_SET_MEMSLOT_CHANGESET of %u entries: built without the kvmfork uAPI", n);
}
#endif

static void set_region(uint32_t slot, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION2, &r))
		die("KVM_SET_USER_MEMORY_REGION2 slot %u gpa 0x%llx size 0x%llx",
		    slot, (unsigned long long)gpa, (unsigned long long)size);
}

/*
 * Guest code, 32-bit, ebx = &counter, esi = first page, ecx = pages,
 * ebp = stride between this vCPU's pages:
 *   0: ff 03              inc dword [ebx]
 *   2: 89 f7              mov edi, esi
 *   4: 89 ca              mov edx, ecx
 *   6: ff 07              inc dword [edi]
 *   8: 01 ef              add edi, ebp
 *  10: 4a                 dec edx
 *  11: 75 f9              jnz 6
 *  13: eb f1              jmp 0
 */
static const uint8_t guest_code[] = {
	0xff, 0x03, 0x89, 0xf7, 0x89, 0xca, 0xff, 0x07,
	0x01, 0xef, 0x4a, 0x75, 0xf9, 0xeb, 0xf1,
};

static void setup_vcpu(struct vcpu *v)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 8, .type = 11,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_segment data = code;
	long mmap_size;
	uint64_t pages = data_size / PAGE;

	data.selector = 16;
	data.type = 3;
	v->fd = ioctl(vm_fd, KVM_CREATE_VCPU, v->id);
	if (v->fd < 0)
		die("KVM_CREATE_VCPU %d", v->id);
	mmap_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size <= 0)
		die("KVM_GET_VCPU_MMAP_SIZE");
	v->run = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED)
		die("mmap of vCPU %d's kvm_run", v->id);
	if (ioctl(v->fd, KVM_GET_SREGS, &sregs))
		die("KVM_GET_SREGS");
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.ss = sregs.fs = sregs.gs = data;
	sregs.cr0 = 0x11;	/* PE | ET, no paging */
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs))
		die("KVM_SET_SREGS");
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;
	regs.rip = CODE_START;
	regs.rbx = COUNTER_BASE + 4 * v->id;
	regs.rsi = DATA_GPA + v->id * PAGE;
	regs.rbp = nr_vcpus * PAGE;
	regs.rcx = (pages - v->id + nr_vcpus - 1) / nr_vcpus;
	if (ioctl(v->fd, KVM_SET_REGS, &regs))
		die("KVM_SET_REGS");
}

/* Where a vCPU that died was: its registers and the code bytes at RIP. */
static void dump_vcpu(struct vcpu *v)
{
	struct kvm_regs r;
	unsigned int k;

	if (ioctl(v->fd, KVM_GET_REGS, &r)) {
		fprintf(stderr, "memslot-kbench: vCPU %d: KVM_GET_REGS: %s\n", v->id, strerror(errno));
		return;
	}
	fprintf(stderr, "memslot-kbench: vCPU %d: rip=0x%llx rax=0x%llx rbx=0x%llx rcx=0x%llx rdx=0x%llx "
		"rsi=0x%llx rdi=0x%llx rbp=0x%llx rsp=0x%llx rflags=0x%llx; code at 0x%x:",
		v->id, r.rip, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.rflags, CODE_START);
	for (k = 0; k < 16; k++)
		fprintf(stderr, " %02x", code_mem[CODE_START + k]);
	fprintf(stderr, "\n");
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct kvm_run *run = v->run;

	while (!stop_vcpus) {
		if (ioctl(v->fd, KVM_RUN, 0) && errno != EINTR && errno != EAGAIN)
			die("KVM_RUN vCPU %d", v->id);
		switch (run->exit_reason) {
		case KVM_EXIT_MMIO:
			/* No slot where the data region is: a hole.  Reads as 0,
			 * writes are dropped, as QEMU's unassigned memory would. */
			if (run->mmio.phys_addr >= DATA_GPA &&
			    run->mmio.phys_addr < DATA_GPA + data_size)
				__atomic_fetch_add(&holes, 1, __ATOMIC_RELAXED);
			else {
				fprintf(stderr, "memslot-kbench: vCPU %d: MMIO at 0x%llx outside the data region\n",
					v->id, (unsigned long long)run->mmio.phys_addr);
				exit(1);
			}
			if (!run->mmio.is_write)
				memset(run->mmio.data, 0, sizeof(run->mmio.data));
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			fprintf(stderr, "memslot-kbench: vCPU %d: KVM internal error, suberror %u, %u data:",
				v->id, run->internal.suberror, run->internal.ndata);
			for (unsigned int k = 0; k < run->internal.ndata && k < 16; k++)
				fprintf(stderr, " 0x%llx", (unsigned long long)run->internal.data[k]);
			fprintf(stderr, "\n");
			dump_vcpu(v);
			exit(1);
		default:
			fprintf(stderr, "memslot-kbench: vCPU %d: unexpected exit reason %u\n",
				v->id, run->exit_reason);
			dump_vcpu(v);
			exit(1);
		}
	}
	return NULL;
}

static void sig_nop(int sig) { (void)sig; }

/* VM-wide debugfs counter (sum over vCPUs for vCPU stats); -1 if missing. */
static long long vm_stat(const char *name)
{
	char path[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/kvm/%d-%d/%s", getpid(), vm_fd, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static uint32_t counter(int i)
{
	return __atomic_load_n((uint32_t *)(code_mem + COUNTER_BASE + 4 * i), __ATOMIC_ACQUIRE);
}

/* Wait until every vCPU finished a full pass over its pages since now. */
static void wait_repopulated(void)
{
	uint32_t start[MAX_VCPUS];
	/*
	 * A hang guard, not a time limit: after a zap every page refaults
	 * through nested paging, and with more vCPUs than box CPUs on a loaded
	 * host two passes over a vCPU's share took longer than a minute.
	 */
	double deadline = now_us() + PROGRESS_TIMEOUT_S * 1e6;
	int i;

	for (i = 0; i < nr_vcpus; i++)
		start[i] = counter(i);
	for (i = 0; i < nr_vcpus; i++) {
		/* +2: the pass in progress may have started before the change. */
		while (counter(i) - start[i] < 2) {
			if (now_us() > deadline) {
				fprintf(stderr, "memslot-kbench: vCPU %d made no progress in %d s\n",
					i, PROGRESS_TIMEOUT_S);
				exit(1);
			}
			usleep(100);
		}
	}
}

int main(int argc, char **argv)
{
	uint64_t half;
	int c, i, t;
	char *end;

	while ((c = getopt(argc, argv, "m:v:k:s:w:l:qh")) != -1) {
		long v = 0;

		if (c != 'l' && c != 'h' && c != 'm' && c != 'q') {
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end)
				usage("-%c wants a whole number, not '%s'", c, optarg);
		}
		switch (c) {
		case 'm':
			if (!strcmp(optarg, "changeset"))
				use_changeset = true;
			else if (strcmp(optarg, "single"))
				usage("-m '%s': the mode is 'single' or 'changeset'", optarg);
			break;
		case 'v':
			if (v < 0 || v > MAX_VCPUS)
				usage("-v %ld: vCPUs must be 0..%d", v, MAX_VCPUS);
			nr_vcpus = v;
			break;
		case 'k':
			if (v < 1)
				usage("-k %ld: at least one transaction", v);
			transactions = v;
			break;
		case 's':
			if (v < 2 || v % 2 || v > 4096)
				usage("-s %ld: region size in MiB must be even, 2..4096", v);
			data_size = (unsigned long long)v << 20;
			break;
		case 'w':
			if (v < 0)
				usage("-w %ld: warm-up transactions must be >= 0", v);
			warmup = v;
			break;
		case 'q':
			no_zap_all = true;
			break;
		case 'l':
			if (!*optarg || strpbrk(optarg, ",\n\""))
				usage("-l '%s': label must be non-empty, without commas or quotes", optarg);
			label = optarg;
			break;
		default:
			usage("unknown option");
		}
	}
	if (optind != argc)
		usage("unexpected argument '%s'", argv[optind]);
	if (!label)
		label = use_changeset ? "changeset" : "legacy";

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0)
		die("open /dev/kvm");
	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm_fd < 0)
		die("KVM_CREATE_VM");
	if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY2) <= 0) {
		errno = ENOTSUP;
		die("KVM_CAP_USER_MEMORY2");
	}
#ifdef KVM_CAP_MEMSLOT_CHANGESET
	if (use_changeset && ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MEMSLOT_CHANGESET) < 2) {
		errno = ENOTSUP;
		die("-m changeset: KVM_CAP_MEMSLOT_CHANGESET (this kernel is not the kvmfork branch)");
	}
#endif
	if (no_zap_all) {
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_DISABLE_QUIRKS2, .args = { KVM_X86_QUIRK_SLOT_ZAP_ALL },
		};

		if (ioctl(vm_fd, KVM_ENABLE_CAP, &cap))
			die("-q: KVM_CAP_DISABLE_QUIRKS2 (KVM_X86_QUIRK_SLOT_ZAP_ALL)");
	}
	/* SVM wants a TSS region below 4 GiB set for real/protected mode. */
	if (ioctl(vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL))
		die("KVM_SET_TSS_ADDR");

	code_mem = mmap(NULL, CODE_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	data_mem = mmap(NULL, data_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (code_mem == MAP_FAILED || data_mem == MAP_FAILED)
		die("mmap guest memory");
	memcpy(code_mem + CODE_START, guest_code, sizeof(guest_code));
	set_region(0, CODE_GPA, CODE_SIZE, code_mem);
	set_region(1, DATA_GPA, data_size, data_mem);

	signal(SIGUSR1, sig_nop);
	for (i = 0; i < nr_vcpus; i++) {
		vcpus[i].id = i;
		setup_vcpu(&vcpus[i]);
	}
	for (i = 0; i < nr_vcpus; i++)
		if (pthread_create(&vcpus[i].thread, NULL, vcpu_thread, &vcpus[i]))
			die("pthread_create");
	wait_repopulated();

	printf("variant,vcpus,region_mib,op,iter,latency_us,max_ioctl_us,ioctls,holes,tlb_flushes,vcpu_exits\n");
	half = data_size / 2;
	for (t = 0; t < warmup + transactions; t++) {
		bool split = !(t % 2);
		long long f0 = vm_stat("remote_tlb_flush"), e0 = vm_stat("exits");
		unsigned long h0 = holes;
		double t0, t1, t2, t3, tend, maxio;

		if (use_changeset) {
			struct kvm_userspace_memory_region2 e[2];

			if (split) {
				e[0] = region(1, DATA_GPA, half, data_mem);
				e[1] = region(2, DATA_GPA + half, half, data_mem + half);
			} else {
				e[0] = region(2, DATA_GPA + half, 0, data_mem + half);
				e[1] = region(1, DATA_GPA, data_size, data_mem);
			}
			t0 = now_us();
			changeset(e, 2);
			t1 = t2 = t3 = tend = now_us();
		} else if (split) {
			t0 = now_us();
			set_region(1, DATA_GPA, 0, data_mem);
			t1 = now_us();
			set_region(1, DATA_GPA, half, data_mem);
			t2 = now_us();
			set_region(2, DATA_GPA + half, half, data_mem + half);
			t3 = tend = now_us();
		} else {
			t0 = now_us();
			set_region(1, DATA_GPA, 0, data_mem);
			t1 = now_us();
			set_region(2, DATA_GPA + half, 0, data_mem + half);
			t2 = now_us();
			set_region(1, DATA_GPA, data_size, data_mem);
			t3 = tend = now_us();
		}
		maxio = t1 - t0;
		if (t2 - t1 > maxio)
			maxio = t2 - t1;
		if (t3 - t2 > maxio)
			maxio = t3 - t2;
		/* Holes are only possible during the change, but a vCPU may
		 * report one a little later: count until the region is whole
		 * and repopulated again. */
		wait_repopulated();
		if (t >= warmup)
			printf("%s,%d,%llu,%s,%d,%.1f,%.1f,%d,%lu,%lld,%lld\n", label, nr_vcpus,
			       data_size >> 20, split ? "split" : "merge", t - warmup,
			       tend - t0, maxio, use_changeset ? 1 : 3, holes - h0,
			       f0 < 0 ? -1 : vm_stat("remote_tlb_flush") - f0,
			       e0 < 0 ? -1 : vm_stat("exits") - e0);
		fflush(stdout);
		if (isatty(2) || (t + 1) % 10 == 0 || t + 1 == warmup + transactions)
			fprintf(stderr, "memslot-kbench: %d vCPUs: %d/%d transactions\n",
				nr_vcpus, t + 1, warmup + transactions);
	}

	/* immediate_exit covers a vCPU between two KVM_RUNs, the signal one
	 * inside KVM_RUN. */
	stop_vcpus = 1;
	for (i = 0; i < nr_vcpus; i++) {
		__atomic_store_n(&vcpus[i].run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		pthread_kill(vcpus[i].thread, SIGUSR1);
	}
	for (i = 0; i < nr_vcpus; i++)
		pthread_join(vcpus[i].thread, NULL);
	return 0;
}
