// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_readback_test: what a guest reads from CR0/CR3/CR4/CR8 is what KVM
 * holds as the vCPU's architectural state (KVM_GET_SREGS).
 *
 * Under the shadow MMU (kvm_amd.npt=0 / kvm_intel.ept=0) the hardware CR3
 * is KVM's shadow root, not the guest's CR3, so every CR3 read must be
 * intercepted and answered from vcpu->arch.cr3.  KVM drops the CR0
 * intercepts once the guest's CR0 equals the hardware CR0 (PG and WP set),
 * which is the steady state of any real kernel; the test reaches that state
 * before it reads CR3 again.  A nested-SVM implementation that checks a CR3
 * read against the CR0-read intercept (QEMU TCG before kvmfork's QEMU patch
 * 0003) hands the guest the shadow root there, and so does any KVM change
 * that stops intercepting CR3 reads under shadow paging.
 *
 * Stages, each checked by the host against KVM_GET_SREGS:
 *   1. the registers as the vCPU starts;
 *   2. after the guest sets CR0.WP (hardware CR0 == guest CR0 on shadow);
 *   3. after the guest toggles CR4.TSD (a CR4 write, then reads);
 *   4. after the guest writes CR8 (the TPR);
 *   5. after the guest reloads CR3 with its own value.
 */
#include <stdio.h>
#include <stdlib.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"

#define NR_STAGES 5

static inline uint64_t rd_cr8(void)
{
	uint64_t v;

	__asm__ __volatile__("mov %%cr8, %0" : "=r"(v));
	return v;
}

static inline void wr_cr8(uint64_t v)
{
	__asm__ __volatile__("mov %0, %%cr8" : : "r"(v) : "memory");
}

static inline void wr_cr0(uint64_t v)
{
	__asm__ __volatile__("mov %0, %%cr0" : : "r"(v) : "memory");
}

static inline void wr_cr3(uint64_t v)
{
	__asm__ __volatile__("mov %0, %%cr3" : : "r"(v) : "memory");
}

static void report(uint64_t stage)
{
	/* Read all three in a row, with no exit in between but the reads'. */
	uint64_t cr0 = get_cr0(), cr3 = get_cr3(), cr4 = get_cr4();

	GUEST_SYNC5(stage, cr0, cr3, cr4, rd_cr8());
}

static void guest_code(void)
{
	report(1);

	wr_cr0(get_cr0() | X86_CR0_WP);
	report(2);

	set_cr4(get_cr4() ^ X86_CR4_TSD);
	report(3);

	wr_cr8(5);
	report(4);

	wr_cr3(get_cr3());
	report(5);

	GUEST_DONE();
}

static const char *const stage_name[NR_STAGES + 1] = {
	[1] = "registers as the vCPU starts",
	[2] = "after setting CR0.WP",
	[3] = "after toggling CR4.TSD",
	[4] = "after writing CR8",
	[5] = "after reloading CR3",
};

/* Returns true when the guest's reads match KVM's state for this stage. */
static bool check_stage(struct kvm_vcpu *vcpu, struct ucall *uc,
			uint64_t start_cr4)
{
	uint64_t stage = uc->args[0], cr0 = uc->args[1], cr3 = uc->args[2];
	uint64_t cr4 = uc->args[3], cr8 = uc->args[4];
	struct kvm_sregs s;
	bool ok = true;

	vcpu_sregs_get(vcpu, &s);
#define CHECK(what, guest, kvm)						\
	do {								\
		if ((guest) != (kvm)) {					\
			ksft_print_msg("stage %lu: guest read %s = 0x%lx, KVM has 0x%lx\n", \
				       stage, what, (unsigned long)(guest),	\
				       (unsigned long)(kvm));		\
			ok = false;					\
		}							\
	} while (0)
	CHECK("CR0", cr0, s.cr0);
	CHECK("CR3", cr3, s.cr3);
	CHECK("CR4", cr4, s.cr4);
	CHECK("CR8", cr8, s.cr8);
	/* The writes must have taken effect, not merely read back as KVM's. */
	if (stage >= 2)
		CHECK("CR0.WP", cr0 & X86_CR0_WP, (uint64_t)X86_CR0_WP);
	if (stage >= 3)
		CHECK("CR4.TSD", cr4 & X86_CR4_TSD, (start_cr4 ^ X86_CR4_TSD) & X86_CR4_TSD);
	if (stage >= 4)
		CHECK("CR8 value", cr8, 5ul);
#undef CHECK
	return ok;
}

int main(int argc, char *argv[])
{
	struct kvm_vcpu *vcpu;
	struct kvm_sregs s;
	struct kvm_vm *vm;
	struct ucall uc;
	uint64_t next = 1, start_cr4;
	bool done = false;

	ksft_print_header();
	ksft_set_plan(NR_STAGES);

	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	vcpu_sregs_get(vcpu, &s);
	start_cr4 = s.cr4;
	ksft_print_msg("start: cr0=0x%llx cr3=0x%llx cr4=0x%llx\n", s.cr0, s.cr3, s.cr4);

	while (!done) {
		vcpu_run(vcpu);
		TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);

		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			TEST_ASSERT(uc.args[0] == next, "stage %lu reported, expected %lu",
				    uc.args[0], next);
			ksft_test_result(check_stage(vcpu, &uc, start_cr4),
					 "stage %lu: %s\n", next, stage_name[next]);
			next++;
			break;
		case UCALL_DONE:
			done = true;
			break;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
			break;
		default:
			TEST_FAIL("unexpected ucall %lu", uc.cmd);
		}
	}
	TEST_ASSERT(next == NR_STAGES + 1, "guest finished after %lu stages", next - 1);

	kvm_vm_free(vm);
	ksft_finished();
}
