# kvmfork -- top-level Makefile.  "make help" lists the targets;
# ./configure records settings in config.mak (optional).
-include config.mak
BUILD ?= $(CURDIR)/build
JOBS ?= $(shell nproc)
BOXARGS ?=
SUITE ?= smoke
# ccache: relative paths and no build-dir hashing, so that a fresh clone in
# another directory (CI) still hits the cache.
BOX_MEM ?= 3072
BOX_SMP ?= 2
export BUILD JOBS BOX_MEM BOX_SMP
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1
export CCACHE_MAXSIZE ?= 8G
S := $(CURDIR)/scripts
QEMU_TARGETS := qemu-system-x86_64 qemu-img tests/qtest/migration-test tests/qtest/display-vga-test tests/qtest/kvm-memslots-test tests/qtest/kvm-vga-harvest-test

.PHONY: all setup trees qemu kernel linux-headers export status check check-full \
        box bench demo clean distclean help
all: qemu kernel

help:
	@echo "make setup          apt sources + host packages (root, only if missing)"
	@echo "make trees          (re)create build/src/{qemu,linux}: upstream + series + overlay"
	@echo "make qemu | kernel  build our QEMU / the kernel branch + KVM selftests"
	@echo "make linux-headers  regenerate linux-headers/ KVM uAPI from the kernel branch"
	@echo "make export         write edits made in build/src/* back into the repo"
	@echo "make status         do the repo and the build trees agree?"
	@echo "make demo           boot the box, run an L2 Linux guest on our QEMU + KVM, screendump it"
	@echo "make demo DEMO=libvirt   the same guest as a libvirt domain, virsh screenshot"
	@echo "make check          all tests that fit CI (ends 'N passed, N failed, N skipped')"
	@echo "make check-full     plus the long ones"
	@echo "make box SUITE=name [BOXARGS='--npt 0']   one box suite; 'scripts/box/box --list'"
	@echo "          BOXARGS='--repeat 20 --load 2' runs it 20 times beside 2 CPU hogs"
	@echo "make bench [BENCH=name]  benchmarks: raw CSV + PNG + ratio table in build/bench/NAME/"

setup:
	@$(S)/setup-apt.sh

trees: setup
	@$(S)/tree.sh ensure qemu
	@$(S)/tree.sh ensure linux

qemu: trees
	@$(S)/build-qemu.sh $(BUILD)/src/qemu $(BUILD)/qemu $(QEMU_TARGETS)

kernel: trees
	@$(S)/build-kernel.sh $(BUILD)/src/linux $(BUILD)/linux

linux-headers: trees
	@$(S)/linux-headers.sh update

export:
	@$(S)/tree.sh export qemu
	@$(S)/tree.sh export linux

status:
	@rc=0; for t in qemu linux; do $(S)/tree.sh status $$t || rc=1; done; \
	 if [ -d $(BUILD)/src/linux ]; then $(S)/linux-headers.sh check || rc=1; fi; exit $$rc

check: all
	@$(S)/check.sh quick

check-full: all
	@$(S)/check.sh full

box: all
	@$(S)/box/box $(BOXARGS) $(SUITE)

bench: all
	@$(S)/bench/run.sh $(BENCH)

demo: all
	@$(S)/demo.sh $(DEMO)

clean:
	rm -rf $(BUILD)/qemu $(BUILD)/linux $(BUILD)/box $(BUILD)/check

distclean:
	rm -rf $(BUILD) config.mak
