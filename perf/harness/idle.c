/*
 * perf/harness/idle.c: the idle connections beside a run (--idle-connections N), for the native
 * and the rdkafka driver alike.  Each is dialled to the first bootstrap address, says ApiVersions
 * once (so the broker has accepted it and served a real request, as a client that connected and
 * then went quiet) and is then left silent until the run ends.  Blocking; set-up only.
 *
 * A connection the broker never answers is usually one it could not accept (out of file
 * descriptors: the kernel completes the handshake anyway), so that is what the error says.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "perf/harness/driver.h"
#include "perf/harness/native.h"

int perf_idle_open(const struct perf_opts *o, struct perf_stats *st, int **fds, int *n)
{
	*fds = NULL;
	*n = 0;
	if (o->idle_connections <= 0)
		return 0;
	char host[256];
	snprintf(host, sizeof(host), "%s", o->bootstrap);
	char *comma = strchr(host, ',');
	if (comma)
		*comma = '\0';
	char *colon = strrchr(host, ':');
	if (!colon) {
		perf_stats_error(st, -1, "idle connections: --bootstrap '%s' has no port", o->bootstrap);
		return -EINVAL;
	}
	*colon = '\0';
	int port = atoi(colon + 1);
	if (!(*fds = calloc((size_t)o->idle_connections, sizeof(int))))
		return -ENOMEM;
	/* perf_nv_call's state: the correlation ids, the decode arena and where errors go. */
	struct native nv = {.o = o, .st = st, .ep = -1};
	rt_arena_init(&nv.arena, 64 << 10, (size_t)16 << 20);
	struct rt_buf frame;
	rt_buf_init(&frame, 0);
	char err[512] = "";
	int rc = 0;
	for (int i = 0; i < o->idle_connections && !rc; i++) {
		int fd = perf_nv_dial(host, port, err, sizeof(err));
		if (fd < 0) {
			rc = perf_nv_fail(&nv, fd, "idle connection", err);
			break;
		}
		(*fds)[(*n)++] = fd;
		rt_arena_reset(&nv.arena);
		struct kp_api_versions_resp av;
		if ((rc = perf_nv_api_versions(&nv, fd, &av, &frame))) {
			char what[96];
			snprintf(what, sizeof(what), "idle connection %d of %d: ApiVersions", i + 1, o->idle_connections);
			rc = perf_nv_fail(&nv, rc, what, rc == -ETIMEDOUT ?
			                  "no answer within 10 s (a broker out of file descriptors cannot accept; see its log)" :
			                  NULL);
		}
	}
	rt_buf_fini(&frame);
	rt_arena_fini(&nv.arena);
	return rc;
}

void perf_idle_close(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
}
