/*
 * storage/fault.c: the armed fault points (see fault.h).  Thread-local, so shards and tests
 * never see each other's faults.
 */
#include "storage/fault.h"

#include <sys/eventfd.h>
#include <unistd.h>

struct point {
	uint32_t skip;
	uint32_t count;
	int32_t res;
	uint32_t then_count;        /* stor_fault_arm_then: armed once `count` runs out */
	int32_t then_res;
	uint64_t seen;
	uint32_t hold_skip;         /* stor_fault_hold */
	uint32_t hold_count;
};

static __thread struct point points[STOR_FAULT_NPOINTS];
/* The gate of held operations: an eventfd that becomes readable (and stays so: nobody reads
 * it) at release.  A new hold after a release needs a new one. */
static __thread int gate_fd = -1;
static __thread bool gate_open;
static __thread stor_trace_fn trace_fn;
static __thread void *trace_arg;

void stor_fault_set_trace(stor_trace_fn fn, void *arg)
{
	trace_fn = fn;
	trace_arg = arg;
}

void stor_fault_trace(enum stor_trace_ev ev, int fd, uint64_t pos, uint64_t len)
{
	if (trace_fn) trace_fn(trace_arg, ev, fd, pos, len);
}

void stor_fault_arm(enum stor_fault_point p, uint32_t skip, int32_t res, uint32_t count)
{
	points[p].skip = skip;
	points[p].res = res;
	points[p].count = count;
	points[p].then_count = 0;
}

void stor_fault_arm_then(enum stor_fault_point p, int32_t res, uint32_t count)
{
	points[p].then_res = res;
	points[p].then_count = count;
}

bool stor_fault_armed(void)
{
	for (int i = 0; i < STOR_FAULT_NPOINTS; i++)
		if (points[i].count) return true;
	return false;
}

void stor_fault_clear(void)
{
	for (int i = 0; i < STOR_FAULT_NPOINTS; i++) points[i] = (struct point){0};
	/* Held operations go on (their polls hold the file, so the close ends nothing). */
	stor_fault_release();
	if (gate_fd >= 0) close(gate_fd);
	gate_fd = -1;
	gate_open = false;
}

void stor_fault_hold(enum stor_fault_point p, uint32_t skip, uint32_t count)
{
	if (gate_fd >= 0 && gate_open) {
		close(gate_fd);
		gate_fd = -1;
	}
	if (gate_fd < 0) {
		gate_fd = eventfd(0, EFD_CLOEXEC);
		gate_open = false;
	}
	points[p].hold_skip = skip;
	points[p].hold_count = gate_fd >= 0 ? count : 0;
}

void stor_fault_release(void)
{
	if (gate_fd < 0 || gate_open) return;
	uint64_t one = 1;
	gate_open = write(gate_fd, &one, sizeof one) == (ssize_t)sizeof one;
}

int stor_fault_gate(enum stor_fault_point p)
{
	struct point *pt = &points[p];
	pt->seen++;
	if (!pt->hold_count || gate_fd < 0) return -1;
	if (pt->hold_skip) {
		pt->hold_skip--;
		return -1;
	}
	pt->hold_count--;
	return gate_fd;
}

uint64_t stor_fault_seen(enum stor_fault_point p)
{
	return points[p].seen;
}

int32_t stor_fault_check(enum stor_fault_point p)
{
	struct point *pt = &points[p];
	pt->seen++;
	if (!pt->count) return 0;
	if (pt->skip) {
		pt->skip--;
		return 0;
	}
	int32_t res = pt->res;
	if (!--pt->count && pt->then_count) {
		pt->res = pt->then_res;
		pt->count = pt->then_count;
		pt->then_count = 0;
	}
	return res;
}
