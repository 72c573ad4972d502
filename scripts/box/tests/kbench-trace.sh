#!/bin/sh
# kbench-trace.sh KBENCH-ARGS... -- run memslot-kbench with the kvm
# tracepoints recording into ftrace's ring buffer; if it fails, print the
# exits around the first one whose RIP left the guest loop (0x1000-0x100f).
# A diagnostic for kbench-flake.suite.
T=/sys/kernel/tracing
mountpoint -q $T || mount -t tracefs nodev $T 2>/dev/null || mount -t debugfs nodev /sys/kernel/debug
[ -d $T/events ] || T=/sys/kernel/debug/tracing
echo 0 > $T/tracing_on
echo > $T/trace
echo 8192 > $T/buffer_size_kb
for e in kvm/kvm_exit kvm/kvm_entry kvm/kvm_page_fault kvm/kvm_inj_exception kvm/kvm_emulate_insn kvm/kvm_mmio kvmmmu/kvm_mmu_set_spte kvmmmu/kvm_tdp_mmu_spte_changed; do
	[ -e $T/events/$e/enable ] && echo 1 > $T/events/$e/enable
done
echo 1 > $T/tracing_on
"$@"
rc=$?
echo 0 > $T/tracing_on
if [ $rc != 0 ]; then
	cat $T/trace > /tmp/trace.txt
	echo "trace: $(wc -l < /tmp/trace.txt) lines"
	n=$(grep -n 'kvm_exit' /tmp/trace.txt | grep -v 'rip 0x100[0-9a-f] ' | head -1 | cut -d: -f1)
	echo "trace: first exit outside the loop at line $n"
	[ -n "$n" ] && sed -n "$((n > 150 ? n - 150 : 1)),$((n + 20))p" /tmp/trace.txt
	echo "trace: tail"; tail -40 /tmp/trace.txt
fi
exit $rc
