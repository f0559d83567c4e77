/* Unit tests for dataplane/xring.h: order, full and empty, and one producer thread against one
 * consumer thread with no loss or reordering. */
#include <criterion/criterion.h>
#include <pthread.h>

#include "dataplane/xring.h"

Test(dp_xring, keeps_order_and_reports_full)
{
	struct dp_xring *r = dp_xring_create(5); /* rounded up to 8 */
	cr_assert(r);
	struct dp_xmsg m;
	cr_assert(!dp_xring_pop(r, &m));
	cr_assert(!dp_xring_pending(r));
	for (uintptr_t i = 0; i < 8; i++)
		cr_assert(dp_xring_push(r, (struct dp_xmsg){ NULL, (void *)i }));
	cr_assert(!dp_xring_push(r, (struct dp_xmsg){ NULL, (void *)99 }), "a full ring refuses");
	for (uintptr_t i = 0; i < 8; i++) {
		cr_assert(dp_xring_pop(r, &m));
		cr_assert_eq((uintptr_t)m.arg, i);
	}
	cr_assert(!dp_xring_pop(r, &m));
	dp_xring_destroy(r);
}

Test(dp_xring, wraps_around)
{
	struct dp_xring *r = dp_xring_create(4);
	struct dp_xmsg m;
	for (uintptr_t i = 0; i < 1000; i++) {
		cr_assert(dp_xring_push(r, (struct dp_xmsg){ NULL, (void *)i }));
		cr_assert(dp_xring_pending(r));
		cr_assert(dp_xring_pop(r, &m));
		cr_assert_eq((uintptr_t)m.arg, i);
	}
	dp_xring_destroy(r);
}

#define N 200000

static void *producer(void *arg)
{
	struct dp_xring *r = arg;
	for (uintptr_t i = 1; i <= N;)
		if (dp_xring_push(r, (struct dp_xmsg){ NULL, (void *)i }))
			i++;
	return NULL;
}

Test(dp_xring, two_threads_lose_nothing)
{
	struct dp_xring *r = dp_xring_create(64);
	pthread_t t;
	pthread_create(&t, NULL, producer, r);
	uintptr_t next = 1;
	struct dp_xmsg m;
	while (next <= N) {
		if (!dp_xring_pop(r, &m))
			continue;
		cr_assert_eq((uintptr_t)m.arg, next, "got %lu, expected %lu", (unsigned long)(uintptr_t)m.arg,
		             (unsigned long)next);
		next++;
	}
	pthread_join(t, NULL);
	cr_assert(!dp_xring_pop(r, &m));
	dp_xring_destroy(r);
}
