# lvlib.sh -- sourced by the libvirt tests inside the box (busybox sh).
# Runs Debian's libvirt 11 (bookworm-backports, installed on the host and
# seen through the box's /usr) against the box's KVM, with our QEMU as the
# domain's <emulator>.
#
# Debian's 11.3 packages ship only the monolithic libvirtd (no virtqemud);
# libvirtd loads the one connection driver installed, the QEMU driver.
# There is no systemd, dbus, polkit or cgroup hierarchy in the box, so the
# daemon is started by hand, and every setting below that exists only because
# of that says so.  Two daemons can run at once (a migration source and
# destination): each gets its own mount namespace in which its own
# directories are bound over libvirt's fixed privileged paths (/etc/libvirt,
# /run/libvirt, /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt), its
# own host UUID, and its client socket under /tmp/lv/NAME/sock, which every
# namespace sees.  The directories live on the box's tmpfs, so the QEMU
# capability cache survives from one test to the next within one boot.
. $BOX/tests/l2lib.sh
LV=/tmp/lv
LV_BOOT=${LV_BOOT:-240}

lv_uri() { echo "qemu:///system?socket=$LV/$1/sock/libvirt-sock"; }
# lv_virsh NAME ARGS... -- virsh on daemon NAME; every call is bounded, and
# keepalive is off (-k 0): on a loaded box the daemon can stall for longer
# than a keepalive period, and a dropped connection would be a false failure.
lv_virsh() { _n=$1; shift; timeout ${LV_VIRSH_TIMEOUT:-180} virsh -q -k 0 -c "$(lv_uri $_n)" "$@"; }

# The box's root is a fresh initramfs: give libvirt the few files it reads
# from /etc: users and groups (the QEMU driver resolves its compiled-in
# default, Debian's libvirt-qemu, before it reads qemu.conf's "+0"), and an
# address for the host name.
lv_box_etc() {
	grep -q '^root:' /etc/passwd 2>/dev/null || echo "root:x:0:0:root:/root:/bin/sh" >> /etc/passwd
	grep -q '^libvirt-qemu:' /etc/passwd || echo "libvirt-qemu:x:64055:64055::/var/lib/libvirt:/bin/false" >> /etc/passwd
	grep -q '^root:' /etc/group 2>/dev/null || echo "root:x:0:" >> /etc/group
	grep -q '^libvirt-qemu:' /etc/group || echo "libvirt-qemu:x:64055:" >> /etc/group
	grep -q '^kvm:' /etc/group || echo "kvm:x:64056:" >> /etc/group
	grep -q kvmfork-box /etc/hosts 2>/dev/null || echo "127.0.0.1 localhost $(hostname)" >> /etc/hosts
	mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt
}

# lv_daemon NAME UUID [TCP_PORT] -- start libvirtd instance NAME and wait
# until it answers.  With TCP_PORT it also listens on 127.0.0.1:TCP_PORT,
# without authentication (loopback inside the box only), for peer-to-peer
# migration: libvirt refuses a p2p destination URI without a host name as
# "the same host", so the source daemon must reach this one by address.
lv_daemon() {
	_n=$1 _d=$LV/$1 _listen=""
	lv_box_etc
	mkdir -p $_d/etc $_d/run $_d/lib $_d/cache $_d/log $_d/sock
	rm -f $_d/sock/* $_d/run/libvirtd.pid
	cat > $_d/etc/libvirtd.conf <<EOF
# The client socket where every mount namespace sees it.
unix_sock_dir = "$_d/sock"
# No polkit in the box: root's unix socket needs no authentication.
auth_unix_ro = "none"
auth_unix_rw = "none"
# Distinct per instance: libvirt refuses to migrate to "the same host".
host_uuid = "$2"
# Seconds-long stalls happen on a loaded nested box; our waits are bounded.
keepalive_interval = -1
log_outputs = "3:file:$_d/libvirtd.log"
EOF
	if [ -n "${3:-}" ]; then
		_listen=--listen
		cat >> $_d/etc/libvirtd.conf <<EOF
listen_tls = 0
listen_tcp = 1
listen_addr = "127.0.0.1"
tcp_port = "$3"
auth_tcp = "none"
EOF
	fi
	cat > $_d/etc/qemu.conf <<EOF
# Root only exists in the box: QEMU runs as root, and files are not chowned
# (dynamic ownership would relabel the shared kernel and initramfs).
user = "+0"
group = "+0"
dynamic_ownership = 0
remember_owner = 0
# No SELinux or AppArmor in the box.
security_driver = "none"
# The box mounts no cgroup hierarchy.
cgroup_controllers = [ ]
# No per-domain mount namespace: it would hide the box's 9p mounts and
# FIFOs under /tmp from QEMU.
namespaces = [ ]
# No virtlogd: QEMU's stderr goes straight to /var/log/libvirt/qemu/DOM.log.
stdio_handler = "file"
# migration_address stays at its default (all addresses): libvirt refuses
# a loopback address there.  The box has no interface but lo, and every
# migration names tcp://127.0.0.1 itself.
EOF
	unshare -m --propagation private sh -c "
		mount -o bind $_d/etc /etc/libvirt && mount -o bind $_d/run /run/libvirt &&
		mount -o bind $_d/lib /var/lib/libvirt && mount -o bind $_d/cache /var/cache/libvirt &&
		mount -o bind $_d/log /var/log/libvirt || exit 97
		exec /usr/sbin/libvirtd $_listen --config /etc/libvirt/libvirtd.conf --pid-file /run/libvirt/libvirtd.pid" \
		> $OUT/lv-$_n.daemon.log 2>&1 &
	_p=$!; eval "LVPID_$_n=$_p"
	L2PIDS="$L2PIDS $!"
	# Until it answers: a socket file alone may be a dead daemon's (an
	# earlier test in this boot left it).
	_end=$(($(now_s) + 120))
	until LV_VIRSH_TIMEOUT=20 lv_virsh $_n version > $OUT/lv-$_n.version 2>&1; do
		kill -0 $_p 2>/dev/null || lv_fatal $_n "libvirtd $_n exited at start: $(tail -3 $OUT/lv-$_n.daemon.log | tr '\n' ' ')"
		[ $(now_s) -lt $_end ] || lv_fatal $_n "libvirtd $_n: no answer on $_d/sock/libvirt-sock within 120 s: $(cat $OUT/lv-$_n.version)"
		sleep 0.5
	done
	echo "libvirtd $_n up (pid $_p): $(tr '\n' ' ' < $OUT/lv-$_n.version)"
}

# lv_fatal NAME MSG -- fail, with libvirt's own last error lines first: when
# libvirt refuses something, its message is the diagnosis, not our timeout.
lv_fatal() {
	_d=$LV/$1; shift
	echo "FAIL: $*"
	if [ -f $_d/libvirtd.log ]; then
		echo "--- last libvirtd errors ($_d/libvirtd.log):"
		grep -E ' (error|warning) : ' $_d/libvirtd.log | tail -5
		cp $_d/libvirtd.log $OUT/ 2>/dev/null
	fi
	for _l in $_d/log/qemu/*.log; do
		[ -f "$_l" ] || continue
		echo "--- $(basename $_l) (QEMU as libvirt ran it, last lines):"; tail -5 $_l
		cp $_l $OUT/lv-$(basename $_l) 2>/dev/null
	done
	l2_stop_all; exit 1
}

# lv_xml NAME MODE MEM_MB [FEATURES_XML] -- a domain for the L2 guest, our
# QEMU as its emulator, serial on FIFOs $L2TMP/NAME.ser.{in,out} like l2lib's.
lv_xml() {
	cat <<EOF
<domain type='kvm'>
  <name>$1</name>
  <memory unit='MiB'>${L2_RAM:-256}</memory>
  <vcpu>${L2_SMP:-1}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$KERNEL</kernel>
    <initrd>$BOXBUILD/l2.cpio.gz</initrd>
    <cmdline>console=tty0 console=ttyS0 no-scroll panic=-1 loglevel=4 no_timer_check kvmfork.mode=$2 kvmfork.mem=$3</cmdline>
  </os>
  <features><acpi/>${4:-}</features>
  <cpu mode='host-passthrough' migratable='on'/>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>${L2_QEMU:-$QEMU}</emulator>
    <serial type='pipe'><source path='$L2TMP/$1.ser'/><target port='0'/></serial>
    <video><model type='vga'/></video>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

# lv_fifos NAME -- the serial FIFOs of NAME, logged to $OUT/NAME.serial.log.
lv_fifos() {
	rm -f $L2TMP/$1.ser.in $L2TMP/$1.ser.out
	mkfifo $L2TMP/$1.ser.in $L2TMP/$1.ser.out
	: > $OUT/$1.serial.log
	cat $L2TMP/$1.ser.out >> $OUT/$1.serial.log &
	L2PIDS="$L2PIDS $!"
}

# lv_qemu_pid DAEMON DOM -- record the pid of the QEMU libvirt runs for DOM,
# so that l2lib's waits notice when it dies.
lv_qemu_pid() {
	_p=$(cat $LV/$1/run/qemu/$2.pid 2>/dev/null)
	[ -n "$_p" ] || lv_fatal $1 "no pid file for domain $2"
	eval "L2PID_$2=$_p"
	L2PIDS="$L2PIDS $_p"
}

# lv_create DAEMON DOM MODE MEM_MB [FEATURES_XML] -- start a transient domain.
lv_create() {
	lv_fifos $2
	lv_xml $2 $3 $4 "${5:-}" > $OUT/lv-$2.xml
	lv_virsh $1 create $OUT/lv-$2.xml > $L2TMP/$2.create 2>&1 \
		|| lv_fatal $1 "virsh create $2 refused: $(cat $L2TMP/$2.create)"
	lv_qemu_pid $1 $2
	echo "$1: domain $2 started (QEMU pid $(eval echo \$L2PID_$2)): $(cat $L2TMP/$2.create)"
}

# l2lib's waits call fatal(): add libvirt's own errors of the daemon in use.
fatal() { lv_fatal ${LV_CUR:-a} "$@"; }

# lv_check_ours DAEMON DOM -- the QEMU libvirt started for DOM is our binary
# on KVM (not the host's stock QEMU, not TCG).
lv_check_ours() {
	eval "_p=\$L2PID_$2"
	_exe=$(readlink /proc/$_p/exe)
	[ "$_exe" = "$(readlink -f ${L2_QEMU:-$QEMU})" ] || lv_fatal $1 "domain $2 runs '$_exe', not ${L2_QEMU:-$QEMU}"
	tr '\0' ' ' < /proc/$_p/cmdline > $OUT/lv-$2.cmdline
	grep -q -- '-accel kvm' $OUT/lv-$2.cmdline || lv_fatal $1 "domain $2's QEMU is not on KVM: $(cat $OUT/lv-$2.cmdline)"
	echo "$2: $_exe on KVM ($(grep -o -- '-accel [^ ]*' $OUT/lv-$2.cmdline))"
}

# lv_kstat DAEMON DOM STAT -- one VM stat of DOM's query-stats (provider
# kvm), asked through libvirt's monitor pass-through; a whole number or fatal.
lv_kstat() {
	lv_virsh $1 qemu-monitor-command $2 \
		"{\"execute\":\"query-stats\",\"arguments\":{\"target\":\"vm\",\"providers\":[{\"provider\":\"kvm\",\"names\":[\"$3\"]}]}}" \
		> $L2TMP/$2.stat.json 2>&1 || lv_fatal $1 "query-stats $3 through virsh failed: $(cat $L2TMP/$2.stat.json)"
		kstat_sum $L2TMP/$2.stat.json $3 || lv_fatal $1 "no stat $3 in $2's query-stats: $(cut -c1-200 $L2TMP/$2.stat.json)"
}

# lv_memslot_paths DAEMON DOM -- prints DOM's memslot commits per path; fails
# unless libvirt's QEMU committed through the kernel's changeset (our path
# is the default, atomic-memslots=auto, on this kernel).
lv_memslot_paths() {
	_a=$(lv_kstat $1 $2 qemu_memslot_commits_atomic) || exit 1
	_u=$(lv_kstat $1 $2 qemu_memslot_commits_upstream) || exit 1
	_k=$(lv_kstat $1 $2 qemu_memslot_vcpu_kicks) || exit 1
	echo "$2: memslot commits atomic=$_a upstream=$_u, vCPU kicks=$_k"
	[ "$_a" -ge 1 ] || lv_fatal $1 "$2 made no atomic memslot commit under libvirt (upstream=$_u)"
}
