/*
 * hw/nofile.h: the open-files limit a broker raises for itself at start (named so that it does not
 * shadow <limits.h> for the files of hw/, which are built with -Ihw).
 *
 * A broker holds a descriptor per connection and several per partition, so Kafka operators run
 * it with a high open-files limit (Kafka's documentation recommends at least 100,000).  Raising
 * the soft RLIMIT_NOFILE up to the hard one needs no privilege; the hard one is the operator's
 * (ulimit -Hn, systemd LimitNOFILE=, limits.conf), so it is reported, never raised here.
 */
#ifndef HW_NOFILE_H
#define HW_NOFILE_H

#include <stdint.h>

/* What hw_nofile_raise found and did.  UINT64_MAX stands for "unlimited". */
struct hw_nofile {
	uint64_t soft_before, soft, hard;
	uint64_t nr_open;             /* fs.nr_open (the most any hard limit can be); 0 unknown */
};

/* Raises the calling process's soft RLIMIT_NOFILE to its hard limit (to fs.nr_open when the hard
 * limit is unlimited: the kernel refuses more).  procfs_root NULL means "/proc" (tests pass a
 * fake tree for fs.nr_open).  Fills *out even on failure.  0 or -errno from setrlimit. */
int hw_nofile_raise(const char *procfs_root, struct hw_nofile *out);

#endif
