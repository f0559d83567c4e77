/* Unit tests for hw/pin.c: binding the calling thread to each online core of this machine. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>

#include "hw/pin.h"
#include "hw/topology.h"

Test(hw_pin, binds_to_each_online_core_of_this_machine)
{
	char err[256];
	struct hw_topology *t = hw_topology_load(NULL, NULL, err, sizeof err);
	cr_assert(t, "%s", err);
	for (int i = 0; i < t->ncpus; i++) {
		int c = t->cpus[i].id;
		int rc = hw_pin_self(c);
		if (rc == -EINVAL) continue;  /* outside this process's cgroup cpuset */
		cr_assert_eq(rc, 0, "cpu %d: %d", c, rc);
		cr_expect_eq(hw_pinned_cpu(), c);
		sched_yield();
		cr_expect_eq(sched_getcpu(), c, "running on the bound core after a yield");
	}
	hw_topology_destroy(t);
}

Test(hw_pin, refuses_ids_out_of_range)
{
	cr_expect_eq(hw_pin_self(-1), -EINVAL);
	cr_expect_eq(hw_pin_self(HW_MAX_CPUS), -EINVAL);
	/* An id in range but not a CPU of this machine: the kernel refuses it. */
	cr_expect_eq(hw_pin_self(HW_MAX_CPUS - 1), -EINVAL);
}
