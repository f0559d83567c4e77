/*
 * control/main.c: the `ringtail-control` process, started and supervised by `ringtail`
 * (dataplane/control_link.c).  It serves the coordinator APIs forwarded over the links
 * (control/link.h), keeps its state in `__consumer_offsets` through its own client connection
 * to the broker (control/store.h), and keeps no files of its own.
 *
 *   ringtail-control --links N --bootstrap HOST:PORT [--config FILE] [--override KEY=VALUE ...]
 *                    [--log-level LEVEL] [--ready-fd FD]
 *
 * The links are file descriptors 3 .. 3+N-1.  Once the group coordinator's state is loaded one
 * byte is written to the ready fd (then closed): the supervisor counts from there whether this
 * incarnation was healthy (its restart back-off).  When any link closes the dataplane is gone (or
 * restarting this process) and the process exits; SIGTERM exits at once (every acknowledged
 * commit is already durable in the broker).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/bytes.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/props.h"
#include "control/config.h"
#include "control/coord.h"
#include "control/handlers.h"
#include "control/link.h"
#include "control/store.h"
#include "control/txn_service.h"

#define MAX_LINKS 1024

struct link {
	int fd;
	struct rt_buf in;
	struct rt_buf out;
	size_t out_off;
};

static struct link links[MAX_LINKS];
static int nlinks;
static struct ctl_store *store;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void reply(void *ctx, int origin, uint64_t link_id, const uint8_t *body, size_t len)
{
	(void)ctx;
	if (origin < 0 || origin >= nlinks || links[origin].fd < 0)
		return;
	struct rt_buf *o = &links[origin].out;
	rt_buf_put_i32(o, (int32_t)(CTL_LINK_ANSWER_HDR + len));
	rt_buf_put_i8(o, CTL_LINK_ANSWER);
	rt_buf_put_i64(o, (int64_t)link_id);
	rt_buf_put_i8(o, body ? 0 : 1);
	if (body)
		rt_buf_put(o, body, len);
}

static void on_append(void *ctx, struct ctl_append *a)
{
	(void)ctx;
	ctl_store_append(store, a);
}

static void on_random(void *ctx, uint8_t *p, size_t n)
{
	(void)ctx;
	while (n) {
		ssize_t k = getrandom(p, n, 0);
		if (k <= 0)
			continue;
		p += k;
		n -= (size_t)k;
	}
}

static void link_frame(struct ctl_handlers *hs, int i, const uint8_t *p, size_t n)
{
	struct rt_rd r;
	rt_rd_init(&r, p, n);
	int8_t kind = rt_rd_i8(&r);
	uint64_t id = (uint64_t)rt_rd_i64(&r);
	(void)rt_rd_i16(&r); /* shard: the answer goes back on the same link */
	int16_t hl = rt_rd_i16(&r);
	const uint8_t *host = hl >= 0 ? rt_rd_bytes(&r, (size_t)hl) : NULL;
	int32_t nu = rt_rd_i32(&r);
	const uint8_t *ub = nu >= 0 && (size_t)nu <= rt_rd_left(&r) / 4 ? rt_rd_bytes(&r, 4 * (size_t)nu) : NULL;
	if (r.err || kind != CTL_LINK_REQUEST || !host || !ub) {
		RT_WARN("link %d: malformed link frame dropped", i);
		return;
	}
	int32_t *unknown = nu ? malloc(4 * (size_t)nu) : NULL;
	if (nu && !unknown) {
		reply(NULL, i, id, NULL, 0);
		return;
	}
	for (int32_t k = 0; k < nu; k++)
		unknown[k] = (int32_t)rt_be32_get(ub + 4 * (size_t)k);
	struct ctl_link_req lr = { .host = (const char *)host, .host_len = (size_t)hl, .unknown = unknown,
	                           .n_unknown = nu };
	int rc = ctl_handle(hs, i, id, &lr, r.p, rt_rd_left(&r));
	free(unknown);
	if (rc) {
		RT_INFO("link %d: request %llu refused (%s); the client's connection is closed", i,
		        (unsigned long long)id, strerror(-rc));
		reply(NULL, i, id, NULL, 0);
	}
}

/* Reads what is there; returns false when the link is closed. */
static bool link_read(struct ctl_handlers *hs, int i)
{
	struct link *l = &links[i];
	for (;;) {
		if (rt_buf_reserve(&l->in, 65536))
			return false;
		ssize_t k = recv(l->fd, l->in.data + l->in.len, l->in.cap - l->in.len, MSG_DONTWAIT);
		if (k == 0)
			return false;
		if (k < 0)
			return errno == EAGAIN || errno == EINTR;
		l->in.len += (size_t)k;
		size_t off = 0;
		while (l->in.len - off >= 4) {
			uint32_t fl = rt_be32_get(l->in.data + off);
			if (fl > CTL_LINK_MAX_FRAME)
				return false;
			if (l->in.len - off - 4 < fl)
				break;
			link_frame(hs, i, l->in.data + off + 4, fl);
			off += 4 + fl;
		}
		if (off) {
			memmove(l->in.data, l->in.data + off, l->in.len - off);
			l->in.len -= off;
		}
	}
}

static bool link_write(int i)
{
	struct link *l = &links[i];
	while (l->out.len > l->out_off) {
		ssize_t k = send(l->fd, l->out.data + l->out_off, l->out.len - l->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k < 0)
			return errno == EAGAIN || errno == EINTR;
		l->out_off += (size_t)k;
	}
	rt_buf_reset(&l->out);
	l->out_off = 0;
	return true;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ringtail-control --links N --bootstrap HOST:PORT [--config FILE] [--override KEY=VALUE ...]\n"
	           "                        [--log-level LEVEL] [--ready-fd FD]\n"
	           "  Started by ringtail; serves consumer groups and committed offsets.\n");
}

int main(int argc, char **argv)
{
	rt_log_set_tag("control");
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	const char *bootstrap = NULL, *config = NULL;
	int ready_fd = -1;
	const char *overrides[256];
	size_t nov = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			fprintf(stderr, "ringtail-control: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (!strcmp(a, "--links")) {
			nlinks = atoi(v);
		} else if (!strcmp(a, "--ready-fd")) {
			ready_fd = atoi(v);
		} else if (!strcmp(a, "--bootstrap")) {
			bootstrap = v;
		} else if (!strcmp(a, "--config")) {
			config = v;
		} else if (!strcmp(a, "--override")) {
			if (nov < 256)
				overrides[nov++] = v;
		} else if (!strcmp(a, "--log-level")) {
			int lv = rt_log_level_parse(v);
			if (lv < 0) {
				fprintf(stderr, "ringtail-control: invalid value '%s' for '--log-level'\n", v);
				return 2;
			}
			rt_log_set_level((enum rt_log_level)lv);
		} else {
			fprintf(stderr, "ringtail-control: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (nlinks < 1 || nlinks > MAX_LINKS || !bootstrap || !strrchr(bootstrap, ':')) {
		usage(stderr);
		return 2;
	}
	char err[1024];
	struct rt_cfg *cfgv = rt_cfg_create(ctl_cfg_defs, ctl_cfg_ndefs, err, sizeof(err));
	/* The broker's own file and overrides: the keys this process does not know belong to
	 * the dataplane, so they are not warned about here (rt_cfg_load would). */
	struct rt_props props;
	rt_props_init(&props);
	if (!cfgv || (config && rt_props_load_file(&props, config, err, sizeof(err))) ||
	    rt_cfg_apply_props(cfgv, &props, err, sizeof(err)) || rt_cfg_apply_args(cfgv, overrides, nov, err, sizeof(err)) ||
	    rt_cfg_check(cfgv, err, sizeof(err))) {
		fprintf(stderr, "ringtail-control: %s\n", err);
		return 1;
	}
	rt_props_fini(&props);
	struct ctl_config cfg;
	ctl_config_default(&cfg);
	cfg.min_session_timeout_ms = (int32_t)rt_cfg_int(cfgv, "group.min.session.timeout.ms");
	cfg.max_session_timeout_ms = (int32_t)rt_cfg_int(cfgv, "group.max.session.timeout.ms");
	cfg.initial_rebalance_delay_ms = (int32_t)rt_cfg_int(cfgv, "group.initial.rebalance.delay.ms");
	cfg.max_size = (int32_t)rt_cfg_int(cfgv, "group.max.size");
	cfg.offset_metadata_max_bytes = (int32_t)rt_cfg_int(cfgv, "offset.metadata.max.bytes");
	cfg.offsets_retention_ms = rt_cfg_int(cfgv, "offsets.retention.minutes") * 60000;
	cfg.offsets_retention_check_ms = rt_cfg_int(cfgv, "offsets.retention.check.interval.ms");
	cfg.offsets_partitions = (int32_t)rt_cfg_int(cfgv, "offsets.topic.num.partitions");
	struct ctl_txn_config tcfg;
	ctl_txn_config_default(&tcfg);
	tcfg.max_timeout_ms = (int32_t)rt_cfg_int(cfgv, "transaction.max.timeout.ms");
	tcfg.log_partitions = (int32_t)rt_cfg_int(cfgv, "transaction.state.log.num.partitions");
	tcfg.id_expiration_ms = rt_cfg_int(cfgv, "transactional.id.expiration.ms");
	tcfg.abort_interval_ms = rt_cfg_int(cfgv, "transaction.abort.timed.out.transaction.cleanup.interval.ms");
	tcfg.expire_interval_ms = rt_cfg_int(cfgv, "transaction.remove.expired.transaction.cleanup.interval.ms");
	tcfg.offsets_partitions = cfg.offsets_partitions;
	rt_cfg_destroy(cfgv);

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	static struct ctl_handlers hs;
	struct ctl_coord_ops ops = {
		.ctx = &hs,
		.join_done = ctl_handlers_join_done,
		.sync_done = ctl_handlers_sync_done,
		.commit_done = ctl_handlers_commit_done,
		.append = on_append,
		.random = on_random,
	};
	struct ctl_coord *c = ctl_coord_create(&cfg, &ops, rt_clock_wall_ms());
	if (!c) {
		fprintf(stderr, "ringtail-control: out of memory\n");
		return 1;
	}
	hs.coord = c;
	hs.reply = reply;
	char host[256];
	const char *colon = strrchr(bootstrap, ':');
	snprintf(host, sizeof(host), "%.*s", (int)(colon - bootstrap), bootstrap);
	if (host[0] == '[') { /* [::1]:9092 */
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = 0;
	}
	store = ctl_store_create(host, atoi(colon + 1), "__consumer_offsets", cfg.offsets_partitions, c);
	if (!store) {
		fprintf(stderr, "ringtail-control: out of memory\n");
		return 1;
	}
	ctl_store_create_lazily(store);
	/* the transaction coordinator and producer ids, in __transaction_state (issue 7) */
	struct ctl_txn_ops tops = { .ctx = &hs, .init_pid_done = ctl_handlers_init_pid_done,
	                            .done = ctl_handlers_txn_done };
	struct ctl_txnsvc *txn = ctl_txnsvc_create(host, atoi(colon + 1), &tcfg, &tops);
	if (!txn) {
		fprintf(stderr, "ringtail-control: out of memory\n");
		return 1;
	}
	hs.txn = txn;
	ctl_txnsvc_set_groups(txn, c);
	if (ready_fd >= 0)
		fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
	for (int i = 0; i < nlinks; i++) {
		links[i].fd = CTL_LINK_FIRST_FD + i;
		if (fcntl(links[i].fd, F_GETFD) < 0) {
			fprintf(stderr, "ringtail-control: link %d (fd %d) is not open\n", i, links[i].fd);
			return 1;
		}
		fcntl(links[i].fd, F_SETFD, FD_CLOEXEC);
		rt_buf_init(&links[i].in, CTL_LINK_MAX_FRAME + 65536);
		rt_buf_init(&links[i].out, 0);
	}
	RT_INFO("ringtail-control %d: %d links, __consumer_offsets through %s, %d partitions", (int)getpid(),
	        nlinks, bootstrap, cfg.offsets_partitions);

	static struct pollfd pfd[MAX_LINKS + 3];
	int rc = 0;
	while (!stop) {
		int64_t now = rt_clock_wall_ms();
		ctl_coord_tick(c, now);
		ctl_txnsvc_tick(txn, now);
		if (ready_fd >= 0 && !ctl_coord_loading(c)) {
			if (write(ready_fd, "1", 1) != 1)
				RT_WARN("ready fd %d: %s", ready_fd, strerror(errno));
			close(ready_fd);
			ready_fd = -1;
		}
		struct ctl_store *tstore = ctl_txnsvc_store(txn);      /* NULL only if it could not be opened */
		if (tstore)
			ctl_store_tick(tstore, (int64_t)(rt_clock_ns() / 1000000));
		int64_t next = ctl_store_tick(store, (int64_t)(rt_clock_ns() / 1000000));
		(void)next;
		for (int i = 0; i < nlinks; i++) {
			pfd[i].fd = links[i].fd;
			pfd[i].events = (short)(POLLIN | (links[i].out.len > links[i].out_off ? POLLOUT : 0));
			pfd[i].revents = 0;
		}
		pfd[nlinks].fd = ctl_store_fd(store);
		pfd[nlinks].events = ctl_store_events(store);
		pfd[nlinks].revents = 0;
		pfd[nlinks + 1].fd = tstore ? ctl_store_fd(tstore) : -1;
		pfd[nlinks + 1].events = tstore ? ctl_store_events(tstore) : 0;
		pfd[nlinks + 1].revents = 0;
		pfd[nlinks + 2].fd = ctl_txnsvc_markers_fd(txn);
		pfd[nlinks + 2].events = ctl_txnsvc_markers_events(txn);
		pfd[nlinks + 2].revents = 0;
		int64_t wait = ctl_coord_next_deadline(c) - now;
		if (wait > 20 || wait < 0)
			wait = wait < 0 ? 0 : 20;
		int n = poll(pfd, (nfds_t)nlinks + 3, (int)wait);
		if (n < 0 && errno != EINTR) {
			rc = 1;
			break;
		}
		if (pfd[nlinks].fd >= 0 && pfd[nlinks].revents)
			ctl_store_io(store, pfd[nlinks].revents);
		if (pfd[nlinks + 1].fd >= 0 && pfd[nlinks + 1].revents)
			ctl_store_io(tstore, pfd[nlinks + 1].revents);
		if (pfd[nlinks + 2].fd >= 0 && pfd[nlinks + 2].revents)
			ctl_txnsvc_markers_io(txn, pfd[nlinks + 2].revents);
		bool gone = false;
		for (int i = 0; i < nlinks; i++)
			if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) && !link_read(&hs, i))
				gone = true;
		ctl_store_tick(store, (int64_t)(rt_clock_ns() / 1000000));
		if (tstore)
			ctl_store_tick(tstore, (int64_t)(rt_clock_ns() / 1000000));
		for (int i = 0; i < nlinks; i++)
			if (links[i].out.len > links[i].out_off && !link_write(i))
				gone = true;
		if (gone) {
			RT_INFO("a link to the dataplane closed; exiting");
			break;
		}
	}
	ctl_txnsvc_destroy(txn);
	ctl_store_destroy(store);
	ctl_coord_destroy(c);
	ctl_handlers_fini(&hs);
	return rc;
}
