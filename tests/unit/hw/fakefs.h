/*
 * tests/unit/hw/fakefs.h: builds fake sysfs/procfs trees in a temporary directory, so that the
 * topology, the plan and ringtail-tune can be tested against machines this one is not.
 */
#ifndef HW_TEST_FAKEFS_H
#define HW_TEST_FAKEFS_H

#include <stddef.h>

/* Creates a fresh temporary directory; returns an owned path (free with fake_remove). */
char *fake_root(void);

/* Writes root/rel with the formatted content, creating parent directories. */
void fake_write(const char *root, const char *rel, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Creates directory root/rel and its parents. */
void fake_mkdir(const char *root, const char *rel);

/* Creates a symlink root/rel -> target (target as written). */
void fake_symlink(const char *root, const char *rel, const char *target);

/* Reads root/rel into buf (NUL-terminated, trailing newline kept); returns buf or "" if absent. */
char *fake_read(const char *root, const char *rel, char *buf, size_t len);

/* Removes the tree and frees root. */
void fake_remove(char *root);

/* The machines used across the tests (paths relative to root; sysfs under root/sys, procfs
 * under root/proc). */
void fake_two_socket_smt(const char *root);  /* 2 x 4 cores x 2 threads, NICs on both nodes */
void fake_vm_no_numa(const char *root);      /* 4 CPUs, no node/, a virtio NIC, missing files */
void fake_two_cpus(const char *root);        /* 2 CPUs, one node, one NIC with one queue */

#endif
