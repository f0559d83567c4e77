/*
 * tests/interop/lockcount.c: an LD_PRELOAD library for tests/interop/test_shard_locks.py.  It
 * counts the lock calls (pthread mutexes, rwlocks, spinlocks, semaphores, condition waits) that
 * the broker's shard threads (named rt-shard-N) make, by call site, so that the test can check
 * that produce and fetch take no lock (issue 4).  Lock calls go through the dynamic linker to
 * libc, so they can be interposed, unlike the io_uring operations that LD_PRELOAD never sees.
 *
 * Control, by files (a thread of its own looks every 20 ms; signals would run the writing in
 * whatever thread they interrupt, maybe inside malloc): creating "$RT_LOCKCOUNT_OUT.start"
 * starts counting from zero, creating "$RT_LOCKCOUNT_OUT.stop" stops and writes the counts to
 * $RT_LOCKCOUNT_OUT, one line per call site, "<count> <function> <offset> <object path>" with
 * the offset relative to the object's load address (for addr2line), then "end".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define SITES 256

struct site {
	_Atomic(uintptr_t) pc;
	const char *fn;
	_Atomic unsigned long n;
};

static struct site sites[SITES];
static _Atomic int counting;
/* Looked up at every call while counting: a system call, but a shard takes locks rarely if at
 * all, and a thread's name may change. */
static int shard_thread(void)
{
	char name[17] = "";
	prctl(PR_GET_NAME, name, 0, 0, 0);
	return !strncmp(name, "rt-shard-", 9);
}

static void count(const char *fn, void *ret)
{
	if (!atomic_load_explicit(&counting, memory_order_relaxed) || !shard_thread())
		return;
	uintptr_t pc = (uintptr_t)ret;
	for (unsigned i = (unsigned)(pc >> 4) % SITES, k = 0; k < SITES; k++, i = (i + 1) % SITES) {
		uintptr_t cur = atomic_load(&sites[i].pc);
		if (cur == 0) {
			uintptr_t zero = 0;
			if (!atomic_compare_exchange_strong(&sites[i].pc, &zero, pc) && zero != pc)
				continue;
			sites[i].fn = fn;
			cur = pc;
		}
		if (cur == pc) {
			atomic_fetch_add(&sites[i].n, 1);
			return;
		}
	}
}

static void start(void)
{
	atomic_store(&counting, 0);
	for (int i = 0; i < SITES; i++) {
		atomic_store(&sites[i].n, 0);
		atomic_store(&sites[i].pc, 0);
	}
	atomic_store(&counting, 1);
}

static void dump(const char *path)
{
	atomic_store(&counting, 0);
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	for (int i = 0; i < SITES; i++) {
		uintptr_t pc = atomic_load(&sites[i].pc);
		unsigned long n = atomic_load(&sites[i].n);
		if (!pc || !n)
			continue;
		Dl_info di;
		struct link_map *lm = NULL;
		if (dladdr1((void *)pc, &di, (void **)&lm, RTLD_DL_LINKMAP) && lm)
			fprintf(f, "%lu %s 0x%lx %s\n", n, sites[i].fn, (unsigned long)(pc - lm->l_addr),
			        di.dli_fname ? di.dli_fname : "?");
		else
			fprintf(f, "%lu %s 0x%lx ?\n", n, sites[i].fn, (unsigned long)pc);
	}
	fprintf(f, "end\n");
	fclose(f);
}

static void *control(void *arg)
{
	const char *out = arg;
	char on[4096], off[4096];
	snprintf(on, sizeof on, "%s.start", out);
	snprintf(off, sizeof off, "%s.stop", out);
	for (;;) {
		if (!access(on, F_OK) && !unlink(on))
			start();
		if (!access(off, F_OK) && !unlink(off))
			dump(out);
		usleep(20000);
	}
	return NULL;
}

__attribute__((constructor)) static void init(void)
{
	const char *env = getenv("RT_LOCKCOUNT_OUT");
	if (!env)
		return;
	/* This process only: ringtail-control, which the broker starts with its environment, would
	 * run a control thread of its own on the same files and take the broker's start or stop. */
	char *out = strdup(env);
	unsetenv("RT_LOCKCOUNT_OUT");
	unsetenv("LD_PRELOAD");
	if (!out)
		return;
	/* No signal for this thread: the broker blocks SIGTERM in its threads and takes it in
	 * sigtimedwait; a thread that did not block it would end the process on it. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_t t;
	if (!pthread_create(&t, NULL, control, out)) {
		pthread_setname_np(t, "lockcount");
		pthread_detach(t);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

#define NEXT(ret, name, params, args)                                                   \
	ret name params                                                                 \
	{                                                                               \
		static ret (*next) params;                                              \
		if (!next)                                                              \
			next = (ret (*) params)dlsym(RTLD_NEXT, #name);                 \
		count(#name, __builtin_return_address(0));                              \
		return next args;                                                       \
	}

NEXT(int, pthread_mutex_lock, (pthread_mutex_t *m), (m))
NEXT(int, pthread_mutex_trylock, (pthread_mutex_t *m), (m))
NEXT(int, pthread_rwlock_rdlock, (pthread_rwlock_t *l), (l))
NEXT(int, pthread_rwlock_wrlock, (pthread_rwlock_t *l), (l))
NEXT(int, pthread_spin_lock, (pthread_spinlock_t *l), (l))
NEXT(int, sem_wait, (sem_t *s), (s))
NEXT(int, pthread_cond_wait, (pthread_cond_t *c, pthread_mutex_t *m), (c, m))
