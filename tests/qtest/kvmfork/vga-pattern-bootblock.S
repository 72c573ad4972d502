# vga-pattern-bootblock.S: boot sector for kvm-vga-harvest-test
#
# Enters 32-bit protected mode with flat 4 GiB segments, then waits for
# the test: whenever the word at SEQ differs from the one at ACK, it fills
# WIDTH x HEIGHT 16-bit words (two pixels of an 8-bit palette mode, which
# the display draws into a shadow surface, so what is shown depends on the
# dirty log) from the linear framebuffer address at LFB with a
# checkerboard of 16x16 tiles
# whose phase is SEQ's lowest bit, in the two colours at COLORS (the low
# 16 bits of two 32-bit words), and then writes SEQ to ACK.  Every pixel
# changes from one pattern to the next, so a tile the display did not
# redraw shows as the previous pattern's colour.  Writes 'A' on the
# serial port once it runs.
#
# Build: make -C tests/qtest/kvmfork (gcc -m32, objcopy, xxd).
#
# Copyright (c) 2026 kvmfork developers
# SPDX-License-Identifier: GPL-2.0-or-later

#define MAILBOX 0x9000
#define SEQ     (MAILBOX + 0)
#define ACK     (MAILBOX + 4)
#define LFB     (MAILBOX + 8)
#define WIDTH   (MAILBOX + 12)
#define HEIGHT  (MAILBOX + 16)
#define COLORS  (MAILBOX + 20)

.code16
.org 0x7c00
        .text
        .globl  start
start:
        cli
        lgdt    gdtdesc
        mov     $1, %eax
        mov     %eax, %cr0
        data32 ljmp $8, $pm

.code32
pm:
        mov     $16, %eax
        mov     %eax, %ds
        mov     %eax, %es
        mov     %eax, %ss
        mov     $0x7000, %esp
        inb     $0x92, %al              # A20
        or      $2, %al
        outb    %al, $0x92
        mov     $65, %al
        mov     $0x3f8, %dx
        outb    %al, %dx

wait:
        mov     (SEQ), %eax
        cmp     (ACK), %eax
        je      wait

        mov     (LFB), %edi
        xor     %edx, %edx              # y
yloop:
        xor     %ecx, %ecx              # x
xloop:
        mov     %ecx, %ebx
        shr     $4, %ebx
        mov     %edx, %esi
        shr     $4, %esi
        add     %esi, %ebx
        add     %eax, %ebx
        and     $1, %ebx
        mov     COLORS(,%ebx,4), %ebx
        mov     %bx, (%edi)
        add     $2, %edi
        inc     %ecx
        cmp     (WIDTH), %ecx
        jb      xloop
        inc     %edx
        cmp     (HEIGHT), %edx
        jb      yloop

        mov     %eax, (ACK)
        jmp     wait

        .p2align 2
gdt:
        .word   0, 0
        .byte   0, 0, 0, 0
        /* code segment: base 0, limit 4 GiB, 32-bit, read/exec */
        .word   0xffff, 0
        .byte   0, 0x9a, 0xcf, 0
        /* data segment: base 0, limit 4 GiB, 32-bit, read/write */
        .word   0xffff, 0
        .byte   0, 0x92, 0xcf, 0
gdtdesc:
        .word   0x17
        .long   gdt

.org 0x7dfe
        .byte   0x55, 0xaa
