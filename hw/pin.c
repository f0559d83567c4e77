/*
 * hw/pin.c: thread-to-core binding with sched_setaffinity (a thread id of 0 is the caller).
 * Uses a dynamically sized CPU mask so that ids up to HW_MAX_CPUS work whatever glibc's
 * CPU_SETSIZE is.
 */
#include "hw/pin.h"

#include <errno.h>
#include <sched.h>

#include "hw/topology.h"

int hw_pin_self(int cpu)
{
	if (cpu < 0 || cpu >= HW_MAX_CPUS) return -EINVAL;
	cpu_set_t *set = CPU_ALLOC(HW_MAX_CPUS);
	if (!set) return -ENOMEM;
	size_t size = CPU_ALLOC_SIZE(HW_MAX_CPUS);
	CPU_ZERO_S(size, set);
	CPU_SET_S((size_t)cpu, size, set);
	int rc = sched_setaffinity(0, size, set) ? -errno : 0;
	CPU_FREE(set);
	return rc;
}

int hw_pinned_cpu(void)
{
	cpu_set_t *set = CPU_ALLOC(HW_MAX_CPUS);
	if (!set) return -ENOMEM;
	size_t size = CPU_ALLOC_SIZE(HW_MAX_CPUS);
	int rc = sched_getaffinity(0, size, set) ? -errno : -1;
	if (rc == -1 && CPU_COUNT_S(size, set) == 1)
		for (int c = 0; c < HW_MAX_CPUS; c++)
			if (CPU_ISSET_S((size_t)c, size, set)) { rc = c; break; }
	CPU_FREE(set);
	return rc;
}
