#!/bin/sh
# l2-boot.sh CPUS [VMM]: an L2 Linux guest with CPUS vCPUs, run by VMM (default
# our QEMU), boots to its marker and reports that many online CPUs; then it
# powers off on request.  The later benchmarks need both: many-vCPU guests
# (commit latency against vCPU count) and Debian's stock QEMU as the baseline.
. $BOX/tests/l2lib.sh
cpus=${1:?usage: l2-boot.sh CPUS [VMM]}
if [ -n "${2:-}" ]; then
	[ -x "$2" ] || { echo "KVMFORK-SKIP no VMM at $2 (Debian's qemu-system-x86; make setup installs it)"; exit 4; }
	L2_QEMU=$2
fi
vmm=${L2_QEMU:-$QEMU}
echo "VMM: $($vmm -version | head -1)"
L2_SMP=$cpus l2_start boot screen 8
l2_wait boot KVMFORK-L2-READY 240
line=$(grep -m1 KVMFORK-L2-READY $OUT/boot.serial.log)
echo "$line"
case "$line" in *" cpus=$cpus"*) ;; *) fatal "the L2 guest reports '${line##* }', expected cpus=$cpus" ;; esac
l2_send boot q
l2_wait_exit boot 60 || fatal "L2 did not power off after 'q'"
l2_stop_all
