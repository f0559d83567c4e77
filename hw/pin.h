/*
 * hw/pin.h: binds the calling thread (a shard, the control process) to the core the plan gave it.
 */
#ifndef HW_PIN_H
#define HW_PIN_H

/* Restricts the calling thread to CPU `cpu`.  Returns 0 or -errno (-EINVAL for an offline or
 * out-of-range CPU, -EPERM when a cgroup cpuset forbids it). */
int hw_pin_self(int cpu);

/* The single CPU the calling thread is bound to, -1 when it may run on several, or -errno. */
int hw_pinned_cpu(void);

#endif
