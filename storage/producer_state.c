/*
 * storage/producer_state.c: producer state of one partition (see producer_state.h for the
 * decisions and the snapshot format).
 *
 * Invariants: every producer entry lives in `map` (open addressing, linear probing, deletion by
 * backward shift, at most half full); an entry's batches are in log order, at most
 * STOR_PS_MAX_BATCHES, all of its current epoch; `txns` is ordered by first offset and holds one
 * element per producer with an open transaction (marker == -1) plus the completed ones whose
 * marker has not yet been passed by the high watermark.
 *
 * stor_pstate_check and stor_pstate_apply run the same walk over copies of the entries an append
 * touches (Kafka's ProducerAppendInfo: "updated entries"), so what check accepts apply records
 * identically; apply then writes the copies back.
 */
#include "storage/producer_state.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/bytes.h"
#include "base/crc32c.h"
#include "base/file_replace.h"
#include "storage/internal.h"

#define NO_EPOCH ((int16_t)-1)
#define SNAP_VERSION 1
#define SNAP_HEADER 10                  /* version, crc, count */
#define SNAP_ENTRY 46
#define SNAP_SUFFIX ".snapshot"

struct meta {
	int32_t last_seq;
	int32_t offset_delta;
	int64_t last_offset;
	int64_t timestamp;
};

struct entry {
	int64_t pid;
	int16_t epoch;
	int32_t coord_epoch;
	int64_t last_ts;
	int64_t txn_first;              /* -1: no open transaction */
	uint8_t n;
	struct meta b[STOR_PS_MAX_BATCHES];
};

struct txn {
	int64_t pid;
	int64_t first;
	int64_t marker;                 /* -1 while open */
};

/* What the state knows of the log: the producers and the transactions.  One value, so that a
 * rebuilt state takes the live one's place in one assignment (stor_pstate_take). */
struct ps_tables {
	struct entry **map;
	size_t cap;                     /* power of two */
	size_t count;
	struct txn *txns;
	size_t ntxns, txcap;
};

struct stor_pstate {
	int64_t expiration_ms;
	struct ps_tables tb;
	bool stale;                     /* the log was cut back under it: see stor_pstate_set_stale */
	int64_t stale_lso;              /* the LSO when it became stale */
};

int32_t stor_ps_last_seq(int32_t base_seq, int32_t last_offset_delta)
{
	if (base_seq > INT32_MAX - last_offset_delta)
		return last_offset_delta - (INT32_MAX - base_seq) - 1;
	return base_seq + last_offset_delta;
}

static int32_t first_seq_of(const struct meta *m)
{
	if (m->last_seq - m->offset_delta < 0)
		return INT32_MAX - (m->offset_delta - m->last_seq) + 1;
	return m->last_seq - m->offset_delta;
}

static bool in_sequence(int32_t last, int32_t next)
{
	return (int64_t)next == (int64_t)last + 1 || (next == 0 && last == INT32_MAX);
}

static int32_t entry_last_seq(const struct entry *e)
{
	return e->n ? e->b[e->n - 1].last_seq : -1;
}

/* --- the map ---------------------------------------------------------------------------------- */

static size_t slot_of(int64_t pid, size_t cap)
{
	uint64_t x = (uint64_t)pid + 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return (size_t)(x ^ (x >> 31)) & (cap - 1);
}

static struct entry *map_find(const struct stor_pstate *ps, int64_t pid)
{
	if (!ps->tb.cap)
		return NULL;
	for (size_t i = slot_of(pid, ps->tb.cap);; i = (i + 1) & (ps->tb.cap - 1)) {
		if (!ps->tb.map[i])
			return NULL;
		if (ps->tb.map[i]->pid == pid)
			return ps->tb.map[i];
	}
}

static void map_put_nogrow(struct stor_pstate *ps, struct entry *e)
{
	size_t i = slot_of(e->pid, ps->tb.cap);
	while (ps->tb.map[i])
		i = (i + 1) & (ps->tb.cap - 1);
	ps->tb.map[i] = e;
	ps->tb.count++;
}

/* Makes room for `more` entries.  0 or -ENOMEM. */
static int map_reserve(struct stor_pstate *ps, size_t more)
{
	size_t need = (ps->tb.count + more) * 2;
	if (need <= ps->tb.cap)
		return 0;
	size_t cap = ps->tb.cap ? ps->tb.cap : 16;
	while (cap < need)
		cap *= 2;
	struct entry **m = calloc(cap, sizeof(*m));
	if (!m)
		return -ENOMEM;
	struct entry **old = ps->tb.map;
	size_t ocap = ps->tb.cap;
	ps->tb.map = m;
	ps->tb.cap = cap;
	ps->tb.count = 0;
	for (size_t i = 0; i < ocap; i++)
		if (old[i])
			map_put_nogrow(ps, old[i]);
	free(old);
	return 0;
}

static void map_del_at(struct stor_pstate *ps, size_t i)
{
	free(ps->tb.map[i]);
	ps->tb.map[i] = NULL;
	ps->tb.count--;
	/* Backward shift: move later members of the probe run into the hole when their home slot
	 * does not lie cyclically in (hole, j]. */
	size_t hole = i;
	for (size_t j = (i + 1) & (ps->tb.cap - 1); ps->tb.map[j]; j = (j + 1) & (ps->tb.cap - 1)) {
		size_t home = slot_of(ps->tb.map[j]->pid, ps->tb.cap);
		bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
		if (!stays) {
			ps->tb.map[hole] = ps->tb.map[j];
			ps->tb.map[j] = NULL;
			hole = j;
		}
	}
}

/* --- transactions ------------------------------------------------------------------------------ */

static int txns_reserve(struct stor_pstate *ps, size_t more)
{
	if (ps->tb.ntxns + more <= ps->tb.txcap)
		return 0;
	size_t cap = ps->tb.txcap ? ps->tb.txcap : 8;
	while (cap < ps->tb.ntxns + more)
		cap *= 2;
	struct txn *t = realloc(ps->tb.txns, cap * sizeof(*t));
	if (!t)
		return -ENOMEM;
	ps->tb.txns = t;
	ps->tb.txcap = cap;
	return 0;
}

static void txns_insert(struct stor_pstate *ps, int64_t pid, int64_t first)
{
	assert(ps->tb.ntxns < ps->tb.txcap);
	size_t i = ps->tb.ntxns;
	while (i > 0 && ps->tb.txns[i - 1].first > first)
		i--;
	memmove(&ps->tb.txns[i + 1], &ps->tb.txns[i], (ps->tb.ntxns - i) * sizeof(*ps->tb.txns));
	ps->tb.txns[i] = (struct txn){ pid, first, -1 };
	ps->tb.ntxns++;
}

static struct txn *txns_open_of(struct stor_pstate *ps, int64_t pid)
{
	for (size_t i = 0; i < ps->tb.ntxns; i++)
		if (ps->tb.txns[i].pid == pid && ps->tb.txns[i].marker < 0)
			return &ps->tb.txns[i];
	return NULL;
}

/* --- lifetime ---------------------------------------------------------------------------------- */

struct stor_pstate *stor_pstate_create(int64_t expiration_ms)
{
	struct stor_pstate *ps = calloc(1, sizeof(*ps));
	if (ps)
		ps->expiration_ms = expiration_ms;
	return ps;
}

void stor_pstate_clear(struct stor_pstate *ps)
{
	for (size_t i = 0; i < ps->tb.cap; i++) {
		free(ps->tb.map[i]);
		ps->tb.map[i] = NULL;
	}
	ps->tb.count = 0;
	ps->tb.ntxns = 0;
}

void stor_pstate_destroy(struct stor_pstate *ps)
{
	if (!ps)
		return;
	stor_pstate_clear(ps);
	free(ps->tb.map);
	free(ps->tb.txns);
	free(ps);
}

/* --- the walk ---------------------------------------------------------------------------------- */

/* The copy of one producer's entry that an append updates. */
struct upd {
	struct entry e;
	const struct entry *cur;        /* the committed entry, NULL for a new producer */
	int added;                      /* batches this append added */
};

/* A transaction starting or ending in this append, in log order. */
struct txn_ev {
	int64_t pid;
	int64_t first;                  /* first offset of the transaction */
	int64_t marker;                 /* -1 for a start */
	bool aborted;
};

struct walk {
	struct upd *u;
	size_t nu;
	struct txn_ev *ev;              /* NULL when only checking */
	size_t nev;
};

static struct upd *upd_for(const struct stor_pstate *ps, struct walk *w, int64_t pid)
{
	for (size_t i = 0; i < w->nu; i++)
		if (w->u[i].e.pid == pid)
			return &w->u[i];
	struct upd *u = &w->u[w->nu++];
	memset(u, 0, sizeof(*u));
	u->cur = map_find(ps, pid);
	if (u->cur) {
		u->e = *u->cur;
	} else {
		u->e.pid = pid;
		u->e.epoch = NO_EPOCH;
		u->e.coord_epoch = -1;
		u->e.last_ts = -1;
		u->e.txn_first = -1;
	}
	return u;
}

static void set_epoch(struct entry *e, int16_t epoch)
{
	if (e->epoch != epoch) {
		e->epoch = epoch;
		e->n = 0;
	}
}

static void add_batch(struct upd *u, int16_t epoch, int32_t last_seq, int64_t last_offset,
                      int32_t delta, int64_t ts)
{
	set_epoch(&u->e, epoch);
	if (u->e.n == STOR_PS_MAX_BATCHES) {
		memmove(&u->e.b[0], &u->e.b[1], (STOR_PS_MAX_BATCHES - 1) * sizeof(u->e.b[0]));
		u->e.n--;
	}
	u->e.b[u->e.n++] = (struct meta){ last_seq, delta, last_offset, ts };
	u->e.last_ts = ts;
	u->added++;
}

static int16_t check_sequence(const struct upd *u, int16_t epoch, int32_t first_seq)
{
	if (epoch != u->e.epoch) {
		if (first_seq != 0 && u->e.epoch != NO_EPOCH)
			return STOR_PS_OUT_OF_ORDER_SEQUENCE_NUMBER;
		return STOR_PS_OK;
	}
	int32_t last;
	if (u->added)
		last = entry_last_seq(&u->e);
	else if (u->cur && epoch == u->cur->epoch)
		last = entry_last_seq(u->cur);
	else
		last = -1;
	int16_t cur_epoch = u->cur ? u->cur->epoch : NO_EPOCH;
	if (cur_epoch == NO_EPOCH || in_sequence(last, first_seq))
		return STOR_PS_OK;
	return STOR_PS_OUT_OF_ORDER_SEQUENCE_NUMBER;
}

static bool find_dup(const struct entry *e, const struct stor_ps_batch *b, struct stor_ps_dup *dup)
{
	if (!e || b->producer_epoch != e->epoch)
		return false;
	int32_t last = stor_ps_last_seq(b->base_sequence, b->last_offset_delta);
	for (int i = 0; i < e->n; i++) {
		const struct meta *m = &e->b[i];
		if (first_seq_of(m) == b->base_sequence && m->last_seq == last) {
			dup->found = true;
			dup->first_offset = m->last_offset - m->offset_delta;
			dup->last_offset = m->last_offset;
			dup->timestamp = m->timestamp;
			return true;
		}
	}
	return false;
}

/* The LSO a completed transaction of pid leaves behind: the first open transaction of another
 * producer, else the offset after the marker (Kafka's lastStableOffset(completedTxn)). */
static int64_t lso_after(const struct stor_pstate *ps, int64_t pid, int64_t marker)
{
	for (size_t i = 0; i < ps->tb.ntxns; i++)
		if (ps->tb.txns[i].marker < 0 && ps->tb.txns[i].pid != pid)
			return ps->tb.txns[i].first;
	return marker + 1;
}

static int16_t walk(const struct stor_pstate *ps, struct walk *w, const struct stor_ps_batch *b,
                    size_t n, enum stor_ps_origin origin, struct stor_ps_dup *dup)
{
	bool checks = origin != STOR_PS_LOG;
	for (size_t i = 0; i < n; i++) {
		const struct stor_ps_batch *x = &b[i];
		if (x->producer_id < 0)
			continue;
		if (origin == STOR_PS_CLIENT) {
			if (x->control || x->base_sequence < 0)
				return STOR_PS_INVALID_RECORD;
			if (find_dup(map_find(ps, x->producer_id), x, dup))
				return STOR_PS_OK;
		}
		struct upd *u = upd_for(ps, w, x->producer_id);
		int64_t last_offset = x->base_offset + x->last_offset_delta;
		if (checks && x->producer_epoch < u->e.epoch)
			return STOR_PS_INVALID_PRODUCER_EPOCH;
		if (x->control) {
			if (checks && u->e.coord_epoch > x->coordinator_epoch)
				return STOR_PS_TRANSACTION_COORDINATOR_FENCED;
			if (u->e.txn_first >= 0 && w->ev)
				w->ev[w->nev++] = (struct txn_ev){ x->producer_id, u->e.txn_first,
				                                   last_offset, !x->commit };
			set_epoch(&u->e, x->producer_epoch);
			u->e.txn_first = -1;
			u->e.coord_epoch = x->coordinator_epoch;
			u->e.last_ts = x->max_timestamp;
			continue;
		}
		if (origin == STOR_PS_CLIENT) {
			int16_t err = check_sequence(u, x->producer_epoch, x->base_sequence);
			if (err)
				return err;
		}
		add_batch(u, x->producer_epoch,
		          stor_ps_last_seq(x->base_sequence, x->last_offset_delta), last_offset,
		          x->last_offset_delta, x->max_timestamp);
		if (u->e.txn_first >= 0 && !x->transactional) {
			if (checks)
				return STOR_PS_INVALID_TXN_STATE;
		} else if (u->e.txn_first < 0 && x->transactional) {
			u->e.txn_first = x->base_offset;
			if (w->ev)
				w->ev[w->nev++] = (struct txn_ev){ x->producer_id, x->base_offset, -1, false };
		}
	}
	return STOR_PS_OK;
}

int16_t stor_pstate_check(const struct stor_pstate *ps, const struct stor_ps_batch *b, size_t n,
                          enum stor_ps_origin origin, struct stor_ps_dup *dup)
{
	memset(dup, 0, sizeof(*dup));
	if (ps->stale && origin != STOR_PS_LOG)
		return STOR_PS_KAFKA_STORAGE_ERROR;  /* retriable: the rebuild comes first */
	struct upd small[8];
	struct walk w = { .u = n <= 8 ? small : malloc(n * sizeof(struct upd)) };
	if (!w.u)
		return -1;  /* UNKNOWN_SERVER_ERROR: out of memory */
	int16_t err = walk(ps, &w, b, n, origin, dup);
	if (w.u != small)
		free(w.u);
	return err;
}

int stor_pstate_apply(struct stor_pstate *ps, const struct stor_ps_batch *b, size_t n,
                      enum stor_ps_origin origin, struct stor_ps_txn_done *done, size_t *n_done)
{
	struct upd small[8];
	struct txn_ev esmall[8];
	struct entry *mem[8], **news = mem;
	struct walk w = { .u = n <= 8 ? small : malloc(n * sizeof(struct upd)),
	                  .ev = n <= 8 ? esmall : malloc(n * sizeof(struct txn_ev)) };
	int rc = -ENOMEM;
	size_t fresh = 0, k = 0;
	struct stor_ps_dup dup = { 0 };
	if (n_done)
		*n_done = 0;
	if (!w.u || !w.ev)
		goto out;
	int16_t err = walk(ps, &w, b, n, origin, &dup);
	/* apply follows a check that said append */
	assert(err == STOR_PS_OK && !dup.found);
	(void)err;
	for (size_t i = 0; i < w.nu; i++)
		fresh += !w.u[i].cur;
	if (map_reserve(ps, fresh) || txns_reserve(ps, w.nev))
		goto out;
	if (fresh > 8 && !(news = calloc(fresh, sizeof(*news))))
		goto out;
	for (; k < fresh; k++)
		if (!(news[k] = malloc(sizeof(struct entry))))
			break;
	if (k < fresh) {
		while (k)
			free(news[--k]);
		goto out;
	}
	/* From here nothing fails. */
	size_t nd = 0;
	for (size_t i = 0; i < w.nev; i++) {
		struct txn_ev *ev = &w.ev[i];
		if (ev->marker < 0) {
			txns_insert(ps, ev->pid, ev->first);
			continue;
		}
		struct txn *t = txns_open_of(ps, ev->pid);
		assert(t && t->first == ev->first);
		if (done)
			done[nd++] = (struct stor_ps_txn_done){
				.producer_id = ev->pid, .first_offset = ev->first,
				.last_offset = ev->marker, .aborted = ev->aborted,
				.last_stable_offset = lso_after(ps, ev->pid, ev->marker) };
		t->marker = ev->marker;
	}
	k = 0;
	for (size_t i = 0; i < w.nu; i++) {
		struct upd *u = &w.u[i];
		struct entry *e = u->cur ? map_find(ps, u->e.pid) : news[k++];
		*e = u->e;
		if (!u->cur)
			map_put_nogrow(ps, e);
	}
	if (n_done)
		*n_done = nd;
	rc = 0;
out:
	if (news != mem)
		free(news);
	if (w.u != small)
		free(w.u);
	if (w.ev != esmall)
		free(w.ev);
	return rc;
}

/* --- reads -------------------------------------------------------------------------------------- */

int64_t stor_pstate_lso(struct stor_pstate *ps, int64_t hw)
{
	if (ps->stale)
		return ps->stale_lso < hw ? ps->stale_lso : hw;
	size_t j = 0;
	for (size_t i = 0; i < ps->tb.ntxns; i++)
		if (ps->tb.txns[i].marker < 0 || ps->tb.txns[i].marker >= hw)
			ps->tb.txns[j++] = ps->tb.txns[i];
	ps->tb.ntxns = j;
	if (j && ps->tb.txns[0].first < hw)
		return ps->tb.txns[0].first;
	return hw;
}

void stor_pstate_set_stale(struct stor_pstate *ps, int64_t hw)
{
	if (ps->stale)
		return;
	ps->stale_lso = stor_pstate_lso(ps, hw);
	ps->stale = true;
}

bool stor_pstate_stale(const struct stor_pstate *ps)
{
	return ps->stale;
}

int64_t stor_pstate_expiration(const struct stor_pstate *ps)
{
	return ps->expiration_ms;
}

void stor_pstate_set_expiration(struct stor_pstate *ps, int64_t expiration_ms)
{
	ps->expiration_ms = expiration_ms;
}

void stor_pstate_take(struct stor_pstate *ps, struct stor_pstate *from)
{
	struct ps_tables old = ps->tb;
	ps->tb = from->tb;
	ps->stale = false;
	from->tb = old;
	stor_pstate_clear(from);
}

int64_t stor_pstate_first_open_txn(const struct stor_pstate *ps)
{
	for (size_t i = 0; i < ps->tb.ntxns; i++)
		if (ps->tb.txns[i].marker < 0)
			return ps->tb.txns[i].first;
	return -1;
}

static bool expired(const struct entry *e, int64_t now, int64_t expiration_ms)
{
	return e->txn_first < 0 && now - e->last_ts >= expiration_ms;
}

size_t stor_pstate_expire(struct stor_pstate *ps, int64_t now_ms)
{
	size_t removed = 0;
	for (size_t i = 0; i < ps->tb.cap;) {
		if (ps->tb.map[i] && expired(ps->tb.map[i], now_ms, ps->expiration_ms)) {
			map_del_at(ps, i);      /* may shift a later entry into i: look at i again */
			removed++;
		} else {
			i++;
		}
	}
	return removed;
}

void stor_pstate_forget(struct stor_pstate *ps, int64_t producer_id)
{
	if (!ps->tb.cap)
		return;
	for (size_t i = slot_of(producer_id, ps->tb.cap); ps->tb.map[i]; i = (i + 1) & (ps->tb.cap - 1)) {
		if (ps->tb.map[i]->pid == producer_id) {
			map_del_at(ps, i);
			break;
		}
	}
	/* an open transaction of its own goes too: nothing of the producer is trusted now */
	size_t j = 0;
	for (size_t i = 0; i < ps->tb.ntxns; i++)
		if (ps->tb.txns[i].pid != producer_id || ps->tb.txns[i].marker >= 0)
			ps->tb.txns[j++] = ps->tb.txns[i];
	ps->tb.ntxns = j;
}

void stor_pstate_backfill(struct stor_pstate *ps, const struct stor_pstate *older)
{
	for (size_t i = 0; i < ps->tb.cap; i++) {
		struct entry *e = ps->tb.map[i];
		if (!e || !e->n || e->n == STOR_PS_MAX_BATCHES)
			continue;
		const struct entry *h = map_find(older, e->pid);
		if (!h || h->epoch != e->epoch)
			continue;
		int k = h->n;
		while (k > 0 && h->b[k - 1].last_offset >= e->b[0].last_offset - e->b[0].offset_delta)
			k--;
		int take = k < STOR_PS_MAX_BATCHES - e->n ? k : STOR_PS_MAX_BATCHES - e->n;
		memmove(&e->b[take], &e->b[0], e->n * sizeof(e->b[0]));
		memcpy(&e->b[0], &h->b[k - take], (size_t)take * sizeof(e->b[0]));
		e->n = (uint8_t)(e->n + take);
	}
}

size_t stor_pstate_count(const struct stor_pstate *ps)
{
	return ps->tb.count;
}

static void info_of(const struct entry *e, struct stor_ps_info *out)
{
	out->producer_id = e->pid;
	out->producer_epoch = e->epoch;
	out->last_sequence = entry_last_seq(e);
	out->last_timestamp = e->last_ts;
	out->coordinator_epoch = e->coord_epoch;
	out->txn_first_offset = e->txn_first;
	out->last_data_offset = e->n ? e->b[e->n - 1].last_offset : -1;
}

bool stor_pstate_get(const struct stor_pstate *ps, int64_t producer_id, struct stor_ps_info *out)
{
	const struct entry *e = map_find(ps, producer_id);
	if (e)
		info_of(e, out);
	return e != NULL;
}

void stor_pstate_foreach(const struct stor_pstate *ps,
                         void (*fn)(void *arg, const struct stor_ps_info *p), void *arg)
{
	for (size_t i = 0; i < ps->tb.cap; i++) {
		if (ps->tb.map[i]) {
			struct stor_ps_info info;
			info_of(ps->tb.map[i], &info);
			fn(arg, &info);
		}
	}
}

int16_t stor_pstate_describe(const struct stor_pstate *ps,
                             void (*fn)(void *arg, const struct stor_ps_info *p), void *arg)
{
	if (ps->stale)
		return STOR_PS_KAFKA_STORAGE_ERROR;
	stor_pstate_foreach(ps, fn, arg);
	return STOR_PS_OK;
}

/* --- snapshots ---------------------------------------------------------------------------------- */

uint8_t *stor_pstate_snapshot_encode(const struct stor_pstate *ps, size_t *len)
{
	size_t n = SNAP_HEADER + ps->tb.count * SNAP_ENTRY;
	uint8_t *p = malloc(n), *q = p + SNAP_HEADER;
	if (!p)
		return NULL;
	rt_be16_put(p, SNAP_VERSION);
	rt_be32_put(p + 6, (uint32_t)ps->tb.count);
	for (size_t i = 0; i < ps->tb.cap; i++) {
		const struct entry *e = ps->tb.map[i];
		if (!e)
			continue;
		const struct meta *m = e->n ? &e->b[e->n - 1] : NULL;
		rt_be64_put(q, (uint64_t)e->pid);
		rt_be16_put(q + 8, (uint16_t)e->epoch);
		rt_be32_put(q + 10, (uint32_t)(m ? m->last_seq : -1));
		rt_be64_put(q + 14, (uint64_t)(m ? m->last_offset : -1));
		rt_be32_put(q + 22, (uint32_t)(m ? m->offset_delta : 0));
		rt_be64_put(q + 26, (uint64_t)e->last_ts);
		rt_be32_put(q + 34, (uint32_t)e->coord_epoch);
		rt_be64_put(q + 38, (uint64_t)e->txn_first);
		q += SNAP_ENTRY;
	}
	rt_be32_put(p + 2, rt_crc32c(0, p + 6, n - 6));
	*len = n;
	return p;
}

int stor_pstate_snapshot_decode(struct stor_pstate *ps, const uint8_t *p, size_t n, int64_t now_ms)
{
	if (n < SNAP_HEADER || rt_be16_get(p) != SNAP_VERSION)
		return -EBADMSG;
	if (rt_be32_get(p + 2) != rt_crc32c(0, p + 6, n - 6))
		return -EBADMSG;
	int32_t count = (int32_t)rt_be32_get(p + 6);
	if (count < 0 || (size_t)count != (n - SNAP_HEADER) / SNAP_ENTRY ||
	    (n - SNAP_HEADER) % SNAP_ENTRY)
		return -EBADMSG;
	stor_pstate_clear(ps);
	if (map_reserve(ps, (size_t)count) || txns_reserve(ps, (size_t)count))
		return -ENOMEM;
	const uint8_t *q = p + SNAP_HEADER;
	for (int32_t i = 0; i < count; i++, q += SNAP_ENTRY) {
		struct entry e = {
			.pid = (int64_t)rt_be64_get(q),
			.epoch = (int16_t)rt_be16_get(q + 8),
			.last_ts = (int64_t)rt_be64_get(q + 26),
			.coord_epoch = (int32_t)rt_be32_get(q + 34),
			.txn_first = (int64_t)rt_be64_get(q + 38),
		};
		struct meta m = {
			.last_seq = (int32_t)rt_be32_get(q + 10),
			.last_offset = (int64_t)rt_be64_get(q + 14),
			.offset_delta = (int32_t)rt_be32_get(q + 22),
			.timestamp = e.last_ts,
		};
		if (e.pid < 0 || m.offset_delta < 0 || map_find(ps, e.pid)) {
			stor_pstate_clear(ps);
			return -EBADMSG;
		}
		if (e.txn_first < 0)
			e.txn_first = -1;
		if (expired(&e, now_ms, ps->expiration_ms))
			continue;
		if (m.last_offset >= 0)
			e.b[e.n++] = m;
		struct entry *x = malloc(sizeof(*x));
		if (!x) {
			stor_pstate_clear(ps);
			return -ENOMEM;
		}
		*x = e;
		map_put_nogrow(ps, x);
		if (e.txn_first >= 0)
			txns_insert(ps, e.pid, e.txn_first);
	}
	return 0;
}

/* Offset named by "<20 digits>.snapshot", or -1 for any other name. */
static int64_t snap_offset(const char *name)
{
	if (strlen(name) != 20 + strlen(SNAP_SUFFIX) || strcmp(name + 20, SNAP_SUFFIX))
		return -1;
	int64_t v = 0;
	for (int i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	return v;
}

int stor_pstate_snapshot_write_encoded(const char *dir, int64_t offset, const uint8_t *p, size_t len)
{
	char name[64];
	if (offset < 0)
		return -EINVAL;
	snprintf(name, sizeof(name), "%020" PRId64 SNAP_SUFFIX, offset);
	/* Durable before it gets its name, and the name durable before anyone relies on it. */
	return rt_file_replace(dir, name, p, len);
}

int stor_pstate_snapshot_write(const struct stor_pstate *ps, const char *dir, int64_t offset)
{
	size_t len;
	uint8_t *p = stor_pstate_snapshot_encode(ps, &len);
	if (!p)
		return -ENOMEM;
	int rc = stor_pstate_snapshot_write_encoded(dir, offset, p, len);
	free(p);
	return rc;
}

static int cmp_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Offsets of every snapshot in dir, newest first, in an owned array.  0 or -errno. */
static int list_snapshots(const char *dir, int64_t **out, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int64_t *v = NULL;
	size_t len = 0, cap = 0;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d))) {
		int64_t off = snap_offset(de->d_name);
		if (off < 0)
			continue;
		if (len == cap) {
			cap = cap ? cap * 2 : 8;
			int64_t *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
		}
		v[len++] = off;
	}
	closedir(d);
	if (rc) {
		free(v);
		return rc;
	}
	if (len)
		qsort(v, len, sizeof(*v), cmp_desc);
	*out = v;
	*n = len;
	return 0;
}

static int read_file(const char *path, uint8_t **out, size_t *n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = 0;
	uint8_t *p = NULL;
	if (fstat(fd, &st)) {
		rc = -errno;
		goto out;
	}
	/* A producer id per entry bounds any real file far below this. */
	if (st.st_size > (off_t)1 << 30) {
		rc = -EBADMSG;
		goto out;
	}
	p = malloc((size_t)st.st_size + 1);
	if (!p) {
		rc = -ENOMEM;
		goto out;
	}
	size_t off = 0;
	while (off < (size_t)st.st_size) {
		ssize_t r = read(fd, p + off, (size_t)st.st_size - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : -EBADMSG;
			break;
		}
		off += (size_t)r;
	}
	*n = off;
out:
	close(fd);
	if (rc)
		free(p);
	else
		*out = p;
	return rc;
}

int stor_pstate_snapshot_load(struct stor_pstate *ps, const char *dir, int64_t max_offset,
                              int64_t now_ms, int64_t *offset)
{
	int64_t *v;
	size_t n;
	int rc = list_snapshots(dir, &v, &n);
	if (rc)
		return rc;
	rc = -ENOENT;
	for (size_t i = 0; i < n; i++) {
		if (v[i] > max_offset)
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%020" PRId64 SNAP_SUFFIX, dir, v[i]);
		uint8_t *p = NULL;
		size_t len = 0;
		int r = read_file(path, &p, &len);
		if (!r) {
			r = stor_pstate_snapshot_decode(ps, p, len, now_ms);
			free(p);
		}
		if (!r) {
			*offset = v[i];
			rc = 0;
			break;
		}
		if (r != -EBADMSG) {
			rc = r;
			break;
		}
		unlink(path);           /* corrupt: Kafka deletes it and falls back to an older one */
	}
	free(v);
	if (rc)
		stor_pstate_clear(ps);
	return rc;
}

int stor_pstate_snapshot_prune(const char *dir, int64_t below, int64_t above)
{
	int64_t *v;
	size_t n;
	int rc = list_snapshots(dir, &v, &n);
	if (rc)
		return rc;
	int removed = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] >= below && v[i] <= above)
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%020" PRId64 SNAP_SUFFIX, dir, v[i]);
		if (unlink(path) && errno != ENOENT) {
			rc = -errno;
			break;
		}
		removed++;
	}
	free(v);
	if (!rc && removed)
		rc = stor_fsync_dir(dir);
	return rc ? rc : removed;
}
