/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kbench-lib.h - what the kernel-only benchmarks (memslot-kbench,
 * harvest-kbench) share: their error exits and their clock.
 *
 * The including program defines KBENCH_NAME (its name, the prefix of every
 * message) and kbench_usage_line(), which prints its "usage: ..." line.
 * Exit codes, as both programs document them: 1 for a KVM or system error
 * (die(): the message names the call, strerror(errno) follows), 2 for a
 * bad argument (usage(): the message names the option).
 */
#ifndef KBENCH_LIB_H
#define KBENCH_LIB_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void kbench_usage_line(FILE *f);

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	fprintf(stderr, KBENCH_NAME ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(e));
	exit(1);
}

static void __attribute__((noreturn, format(printf, 1, 2))) usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, KBENCH_NAME ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	kbench_usage_line(stderr);
	exit(2);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

#endif /* KBENCH_LIB_H */
